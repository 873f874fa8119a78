// SPDX-License-Identifier: Apache-2.0
// The service manager interfaces' pure parts: NOTIFY_SOCKET addresses, the watchdog
// environment, and whether stderr is the journal.
#include "core/sd_notify.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstddef>
#include <cstring>
#include <string>

#include "core/log.hpp"

using gw::sd::parse_notify_socket;
using gw::sd::watchdog_interval;

TEST_CASE("NOTIFY_SOCKET: absolute paths and abstract names, nothing else", "[unit][sd_notify]") {
    const auto path = parse_notify_socket("/run/systemd/notify");
    REQUIRE(path);
    CHECK(std::string(path->address.sun_path) == "/run/systemd/notify");
    CHECK(path->length == offsetof(sockaddr_un, sun_path) + std::strlen("/run/systemd/notify") + 1);

    const auto abstract = parse_notify_socket("@/org/freedesktop/systemd1/notify/42");
    REQUIRE(abstract);
    CHECK(abstract->address.sun_path[0] == '\0');
    CHECK(std::string(abstract->address.sun_path + 1) == "/org/freedesktop/systemd1/notify/42");
    // The abstract name has no terminating NUL in the address length.
    CHECK(abstract->length ==
          offsetof(sockaddr_un, sun_path) + std::strlen("@/org/freedesktop/systemd1/notify/42"));

    CHECK_FALSE(parse_notify_socket(""));
    CHECK_FALSE(parse_notify_socket("/"));
    CHECK_FALSE(parse_notify_socket("@"));
    CHECK_FALSE(parse_notify_socket("relative/notify"));
    CHECK_FALSE(parse_notify_socket("vsock:2:1234"));  // systemd ≥ 254 transports: not ours
    const std::string longest_path = "/" + std::string(sizeof(sockaddr_un{}.sun_path) - 2, 'a');
    CHECK(parse_notify_socket(longest_path));
    CHECK_FALSE(parse_notify_socket(longest_path + "a"));
    const std::string longest_abstract = "@" + std::string(sizeof(sockaddr_un{}.sun_path) - 1, 'a');
    CHECK(parse_notify_socket(longest_abstract));
    CHECK_FALSE(parse_notify_socket(longest_abstract + "a"));
}

TEST_CASE(
    "watchdog: WATCHDOG_USEC when it is a positive integer and WATCHDOG_PID is ours or "
    "absent",
    "[unit][sd_notify]") {
    const pid_t self = 4242;
    CHECK(watchdog_interval("30000000", nullptr, self) == std::chrono::seconds(30));
    CHECK(watchdog_interval("30000000", "", self) == std::chrono::seconds(30));
    CHECK(watchdog_interval("500000", "4242", self) == std::chrono::milliseconds(500));
    CHECK_FALSE(watchdog_interval("500000", "1", self));  // meant for another process
    CHECK_FALSE(watchdog_interval(nullptr, "4242", self));
    CHECK_FALSE(watchdog_interval("", nullptr, self));
    CHECK_FALSE(watchdog_interval("0", nullptr, self));
    CHECK_FALSE(watchdog_interval("-5", nullptr, self));
    CHECK_FALSE(watchdog_interval("30s", nullptr, self));
    CHECK_FALSE(watchdog_interval("99999999999999999999999", nullptr, self));
    CHECK_FALSE(watchdog_interval("500000", "pid", self));
}

TEST_CASE("a disabled notifier sends nothing and says so", "[unit][sd_notify]") {
    gw::sd::Notifier disabled;
    CHECK_FALSE(disabled.enabled());
    CHECK_FALSE(disabled.notify("READY=1"));
    CHECK_FALSE(disabled.watchdog());
}

TEST_CASE("MONOTONIC_USEC is CLOCK_MONOTONIC in microseconds", "[unit][sd_notify]") {
    timespec before{};
    ::clock_gettime(CLOCK_MONOTONIC, &before);
    const std::string field = gw::sd::monotonic_usec_field();
    REQUIRE(field.rfind("MONOTONIC_USEC=", 0) == 0);
    const long long usec = std::stoll(field.substr(std::strlen("MONOTONIC_USEC=")));
    const long long before_usec =
        static_cast<long long>(before.tv_sec) * 1000000LL + before.tv_nsec / 1000;
    CHECK(usec >= before_usec);
    CHECK(usec < before_usec + 10'000'000);
}

TEST_CASE("journal priority prefixes only when stderr is the stream JOURNAL_STREAM names",
          "[unit][sd_notify][log]") {
    using gw::log::journal_stream_matches;
    CHECK(journal_stream_matches("8:12345", 8, 12345));
    CHECK_FALSE(journal_stream_matches("8:12345", 8, 12346));  // inherited, stderr elsewhere
    CHECK_FALSE(journal_stream_matches("8:12345", 9, 12345));
    CHECK_FALSE(journal_stream_matches(nullptr, 8, 12345));
    CHECK_FALSE(journal_stream_matches("", 8, 12345));
    CHECK_FALSE(journal_stream_matches("8", 8, 12345));
    CHECK_FALSE(journal_stream_matches("8:12345x", 8, 12345));
    CHECK_FALSE(journal_stream_matches("journal", 8, 12345));
}
