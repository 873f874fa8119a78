// SPDX-License-Identifier: Apache-2.0
// /proc parsing for the health message's CPU and memory figures, and the CPU average.
#include "core/process_stats.hpp"

#include <catch2/catch.hpp>

using namespace gw;

namespace {
// A real /proc/<pid>/stat line of towngwd, with a command name holding a space and a ')'.
const std::string kStat =
    "4242 (towngwd x) y) S 1 4242 4242 0 -1 4194560 1320 0 0 0 1234 567 0 0 20 0 7 0 "
    "123456 45678592 2790 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0";
const std::string kStatus =
    "Name:\ttowngwd\nUmask:\t0022\nState:\tS (sleeping)\nVmPeak:\t  120000 kB\n"
    "VmHWM:\t   11400 kB\nVmRSS:\t   11160 kB\nRssAnon:\t    2400 kB\nThreads:\t7\n";
}  // namespace

TEST_CASE("process usage: CPU seconds from utime/stime, memory from VmRSS/VmHWM",
          "[unit][process]") {
    const auto usage = parse_process_usage(kStat, kStatus, 100);
    REQUIRE(usage);
    CHECK(usage->cpu_user_s == Approx(12.34));
    CHECK(usage->cpu_system_s == Approx(5.67));
    CHECK(usage->rss_kib == 11160);
    CHECK(usage->rss_peak_kib == 11400);
    CHECK(usage->threads == 7);
}

TEST_CASE("process usage: unreadable /proc text gives nothing, not garbage", "[unit][process]") {
    CHECK_FALSE(parse_process_usage("", kStatus, 100));
    CHECK_FALSE(parse_process_usage("4242 (towngwd) S 1 2", kStatus, 100));
    CHECK_FALSE(parse_process_usage(kStat, "Name:\ttowngwd\n", 100));  // no VmRSS
    CHECK_FALSE(parse_process_usage(kStat, kStatus, 0));
}

TEST_CASE("process usage: the live process can be read", "[unit][process]") {
    const auto usage = read_process_usage();
    REQUIRE(usage);
    CHECK(usage->rss_kib > 0);
    CHECK(usage->rss_peak_kib >= usage->rss_kib);
    CHECK(usage->threads >= 1);
    const auto disk = read_disk_usage(".");
    REQUIRE(disk);
    CHECK(disk->total_bytes > 0);
    CHECK(disk->available_bytes <= disk->total_bytes);
    CHECK_FALSE(read_disk_usage("/nonexistent/towngw"));
}

TEST_CASE("process usage: CPU percent of one core over an interval", "[unit][process]") {
    CHECK(cpu_percent(10.0, 10.5, 50.0) == Approx(1.0));
    CHECK(cpu_percent(10.0, 12.0, 1.0) == Approx(200.0));  // two cores busy
    CHECK(cpu_percent(10.0, 11.0, 0.0) == 0.0);
    CHECK(cpu_percent(11.0, 10.0, 5.0) == 0.0);  // counters never go back; no negative figure
}
