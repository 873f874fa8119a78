// SPDX-License-Identifier: Apache-2.0
// towngw-bench: what towngwd costs while it does its job, measured from outside the process
// (scripts/bench.sh runs it; it measures and never asserts).
//
//   towngw-bench steady  --sensors N [--warmup-s 15] [--measure-s 60] [--repeats 3] --out FILE
//   towngw-bench startup --sensors N [--repeats 5] --out FILE
//
// Both start, on 127.0.0.1 only, a private mosquitto and ceil(N/200) towngw-sim processes, each
// serving up to 200 Modbus TCP units (ids 1..200) of a generated one-register int16 profile, and
// a towngwd whose configuration has N devices (one sensor each, poll_ms 1000, window_s 60) spread
// over those TCP endpoints (one bus thread each). Every process is stopped by PID.
//
// steady: one daemon per N. Once every device has answered and `--warmup-s` more have passed,
// it measures `--repeats` consecutive intervals of `--measure-s` (the repeats: steady state is
// what follows start-up, so a restart per repeat would only add start-up noise, and consecutive
// intervals show whether memory stays flat). Per interval it takes the difference of towngwd's
// /proc/PID/stat (utime+stime), /proc/PID/task/*/schedstat (time on CPU in ns, per thread),
// /proc/PID/io (write_bytes: bytes this process caused to be written to the block device) and
// `towngw status --json` (device polls, MQTT messages acknowledged); VmRSS every second, VmHWM.
//
// startup: per repeat a fresh database and gateway id; an MQTT subscriber on the status topic is
// connected first; the clock starts just before fork/exec of towngwd and stops when the `online`
// birth message arrives. Also recorded: control socket up, every device polled once, stop time.
#include <sys/statfs.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using namespace gw::test;
using nlohmann::json;
namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr int kUnitsPerSim = 200;  // Modbus TCP unit ids 248-254 are reserved
constexpr const char* kUsage =
    "usage: towngw-bench steady  --sensors N [--warmup-s S (15)] [--measure-s S (60)]\n"
    "                            [--repeats R (3)] --out FILE\n"
    "       towngw-bench startup --sensors N [--repeats R (5)] --out FILE\n"
    "  both: [--set /json/pointer=VALUE]... passed on to towngwd (e.g. "
    "/storage/flush_interval_ms)\n";

// --- /proc sampling ---------------------------------------------------------------------------

struct ProcSample {
    SteadyClock::time_point at;
    std::uint64_t cpu_ticks{0};  ///< utime + stime, clock ticks
    std::uint64_t utime_ticks{0};
    std::uint64_t stime_ticks{0};
    std::map<pid_t, std::uint64_t> task_run_ns;  ///< per thread
    std::uint64_t run_ns{0};                     ///< sum of /proc/PID/task/*/schedstat field 1
    std::uint64_t write_bytes{0};                ///< /proc/PID/io
    std::uint64_t cancelled_write_bytes{0};
    std::uint64_t wchar{0};  ///< every write(2), sockets included
    std::uint64_t syscw{0};
    std::uint64_t rss_kib{0};
    std::uint64_t hwm_kib{0};
    std::uint64_t threads{0};
};

/// utime and stime of /proc/PID/stat, in clock ticks.
std::pair<std::uint64_t, std::uint64_t> user_system_ticks(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto close = text.rfind(')');
    if (close == std::string::npos) return {0, 0};
    std::istringstream fields(text.substr(close + 2));
    // After "pid (comm) ": state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
    // cmajflt utime(14) stime(15).
    std::string skip;
    for (int i = 3; i <= 13; ++i) fields >> skip;
    std::uint64_t utime = 0;
    std::uint64_t stime = 0;
    fields >> utime >> stime;
    return {utime, stime};
}

std::uint64_t cpu_ticks_of(pid_t pid) {
    const auto [user, system] = user_system_ticks(pid);
    return user + system;
}

/// First field of /proc/PID/task/TID/schedstat (time on the CPU, ns) per thread.
std::map<pid_t, std::uint64_t> task_run_ns(pid_t pid) {
    std::map<pid_t, std::uint64_t> out;
    std::error_code ec;
    for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
        std::ifstream in(task.path() / "schedstat");
        std::uint64_t ns = 0;
        if (in >> ns) out[static_cast<pid_t>(std::stol(task.path().filename().string()))] = ns;
    }
    return out;
}

std::uint64_t field_of(const std::string& path, const std::string& key) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(key + ":", 0) == 0) {
            std::istringstream value(line.substr(key.size() + 1));
            std::uint64_t v = 0;
            value >> v;
            return v;
        }
    }
    return 0;
}

/// Where the resident pages are (/proc/PID/smaps): in shared libraries (file-backed, shared
/// with every other process that maps them), in towngwd's own code, or anonymous (heap, thread
/// stacks, relocated data). Also PSS and the private part (USS) from smaps_rollup.
json memory_breakdown(pid_t pid) {
    const std::string base = "/proc/" + std::to_string(pid);
    std::error_code ec;
    const std::string exe = fs::read_symlink(base + "/exe", ec).string();
    std::map<std::string, std::uint64_t> by_file;
    std::uint64_t libraries = 0, binary = 0, anonymous = 0;
    std::ifstream in(base + "/smaps");
    std::string line, mapping;
    while (std::getline(in, line)) {
        // A mapping header starts with "start-end perms offset dev inode [path]".
        const auto dash = line.find('-');
        if (dash != std::string::npos && dash > 0 && line.find(':') > dash &&
            std::isxdigit(static_cast<unsigned char>(line[0])) != 0 && line.rfind("Rss:", 0) != 0) {
            std::istringstream fields(line);
            std::string range, perms, offset, dev, inode;
            fields >> range >> perms >> offset >> dev >> inode;
            std::getline(fields >> std::ws, mapping);
            continue;
        }
        if (line.rfind("Rss:", 0) != 0) continue;
        std::uint64_t kib = 0;
        std::istringstream(line.substr(4)) >> kib;
        if (mapping.empty() || mapping[0] == '[') {
            anonymous += kib;
        } else if (mapping == exe) {
            binary += kib;
        } else {
            libraries += kib;
            by_file[fs::path(mapping).filename().string()] += kib;
        }
    }
    std::vector<std::pair<std::string, std::uint64_t>> files(by_file.begin(), by_file.end());
    std::sort(files.begin(), files.end(),
              [](const auto& a, const auto& b) { return a.second > b.second; });
    json top = json::object();
    for (std::size_t i = 0; i < files.size() && i < 8; ++i) top[files[i].first] = files[i].second;
    const std::string rollup = base + "/smaps_rollup";
    return {{"rss_kib", field_of(rollup, "Rss")},
            {"pss_kib", field_of(rollup, "Pss")},
            {"private_kib", field_of(rollup, "Private_Clean") + field_of(rollup, "Private_Dirty")},
            {"shared_libraries_kib", libraries},
            {"own_code_kib", binary},
            {"anonymous_kib", anonymous},
            {"largest_libraries_kib", top}};
}

ProcSample sample_proc(pid_t pid) {
    const std::string base = "/proc/" + std::to_string(pid);
    ProcSample s;
    s.at = SteadyClock::now();
    std::tie(s.utime_ticks, s.stime_ticks) = user_system_ticks(pid);
    s.cpu_ticks = s.utime_ticks + s.stime_ticks;
    s.task_run_ns = task_run_ns(pid);
    for (const auto& [tid, ns] : s.task_run_ns) s.run_ns += ns;
    s.write_bytes = field_of(base + "/io", "write_bytes");
    s.cancelled_write_bytes = field_of(base + "/io", "cancelled_write_bytes");
    s.wchar = field_of(base + "/io", "wchar");
    s.syscw = field_of(base + "/io", "syscw");
    s.rss_kib = field_of(base + "/status", "VmRSS");
    s.hwm_kib = field_of(base + "/status", "VmHWM");
    s.threads = field_of(base + "/status", "Threads");
    return s;
}

double ticks_to_ms(std::uint64_t ticks) {
    return static_cast<double>(ticks) * 1000.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::string fs_type(const fs::path& path) {
    struct statfs st {};
    if (::statfs(path.c_str(), &st) != 0) return "unknown";
    switch (static_cast<unsigned long>(st.f_type)) {
        case 0x01021994UL:
            return "tmpfs";
        case 0xEF53UL:
            return "ext2/3/4";
        case 0x58465342UL:
            return "xfs";
        case 0x9123683EUL:
            return "btrfs";
        case 0x794c7630UL:
            return "overlayfs";
        case 0xF2F52010UL:
            return "f2fs";
        default: {
            char hex[32];
            std::snprintf(hex, sizeof hex, "0x%lx", static_cast<unsigned long>(st.f_type));
            return hex;
        }
    }
}

// --- the fleet: broker, simulators, configuration -----------------------------------------------

struct Fleet {
    std::unique_ptr<MosquittoBroker> broker;
    std::vector<std::unique_ptr<SimProcess>> sims;
    fs::path profile;
    int sensors{0};
};

/// A one-register int16 profile (a bin level sensor's distance in mm), generated for the bench.
fs::path write_profile(const fs::path& dir) {
    const json profile = {
        {"model", "bench-int16"},
        {"description", "one int16 holding register (distance in mm), FC03, for towngw-bench"},
        {"registers",
         {{{"name", "distance"},
           {"table", "holding"},
           {"address", 0},
           {"type", "int16"},
           {"unit", "mm"},
           {"metric", "distance"}}}}};
    const fs::path path = dir / "bench_int16.json";
    write_json_file(path, profile);
    return path;
}

std::string device_id(int i) {
    char id[16];
    std::snprintf(id, sizeof id, "bin%04d", i + 1);
    return id;
}

Fleet start_fleet(const fs::path& dir, int sensors) {
    Fleet fleet;
    fleet.sensors = sensors;
    fleet.profile = write_profile(dir);
    fs::create_directories(dir / "broker");
    fleet.broker = std::make_unique<MosquittoBroker>(dir / "broker");
    const int sims = (sensors + kUnitsPerSim - 1) / kUnitsPerSim;
    for (int k = 0; k < sims; ++k) {
        const fs::path sim_dir = dir / ("sim" + std::to_string(k));
        fs::create_directories(sim_dir);
        json scenario = {{"devices", json::array()}};
        for (int i = k * kUnitsPerSim; i < std::min(sensors, (k + 1) * kUnitsPerSim); ++i) {
            scenario["devices"].push_back({{"id", device_id(i)},
                                           {"profile", fleet.profile.string()},
                                           {"transport", "tcp"},
                                           {"unit_id", i % kUnitsPerSim + 1},
                                           {"signals",
                                            {{"distance",
                                              {{"kind", "noise"},
                                               {"mean", 800 + (i % 7) * 50},
                                               {"stddev", 20},
                                               {"min", 100},
                                               {"max", 2000}}}}}});
        }
        write_json_file(sim_dir / "scenario.json", scenario);
        // The served log is for tests; here it would only cost the simulator disk writes.
        fleet.sims.push_back(std::make_unique<SimProcess>(
            TOWNGW_SIM_BIN, sim_dir / "scenario.json", sim_dir,
            std::vector<std::string>{"--served-log", "/dev/null", "--seed",
                                     std::to_string(k + 1)}));
    }
    return fleet;
}

fs::path write_config(const Fleet& fleet, const fs::path& dir, const std::string& gateway_id) {
    json config = {{"gateway", {{"town_id", "bench"}, {"gateway_id", gateway_id}}},
                   {"mqtt", {{"broker", fleet.broker->uri()}}},
                   {"clock", {{"trust", "system"}}},
                   {"devices", json::array()},
                   {"sensors", json::array()}};
    for (int i = 0; i < fleet.sensors; ++i) {
        const std::string id = device_id(i);
        const auto& sim = *fleet.sims[static_cast<std::size_t>(i / kUnitsPerSim)];
        config["devices"].push_back(
            {{"id", id},
             {"profile", fleet.profile.string()},
             {"transport",
              {{"type", "modbus-tcp"}, {"host", "127.0.0.1"}, {"port", sim.tcp_port()}}},
             {"unit_id", i % kUnitsPerSim + 1},
             {"poll_ms", 1000},
             {"timeout_ms", 500}});
        config["sensors"].push_back(
            {{"id", id + ".distance"}, {"device", id}, {"register", "distance"}, {"window_s", 60}});
    }
    const fs::path path = dir / "towngw.json";
    write_json_file(path, config);
    return path;
}

std::optional<json> gateway_status(const GatewayProcess& gw, const fs::path& dir) {
    const auto r = run_command(
        {TOWNGW_CLI_BIN, "status", "--socket", gw.control_socket().string(), "--json"}, dir, 30s);
    if (!r.status || !r.status->exited_with(0)) return std::nullopt;
    auto j = json::parse(r.out, nullptr, false);
    if (j.is_discarded()) return std::nullopt;
    return j;
}

struct StatusCounts {
    std::uint64_t polls{0};
    std::uint64_t failures{0};
    std::uint64_t devices_polled{0};  ///< devices with at least one successful poll
    std::uint64_t published{0};
    std::uint64_t depth{0};
};

StatusCounts counts_of(const json& status) {
    StatusCounts c;
    for (const auto& d : status.at("devices")) {
        const auto polls = d.value("polls", std::uint64_t{0});
        const auto failures = d.value("failures", std::uint64_t{0});
        c.polls += polls;
        c.failures += failures;
        if (polls > failures) ++c.devices_polled;
    }
    c.published = status.at("mqtt").value("published", std::uint64_t{0});
    c.depth = status.at("outbox").value("depth", std::uint64_t{0});
    return c;
}

std::uint64_t sims_cpu_ticks(Fleet& fleet) {
    std::uint64_t sum = 0;
    for (auto& sim : fleet.sims) sum += cpu_ticks_of(sim->process().pid());
    return sum;
}

std::uintmax_t file_size_or_0(const fs::path& p) {
    std::error_code ec;
    const auto size = fs::file_size(p, ec);
    return ec ? 0 : size;
}

void log_line(const std::string& text) {
    std::cerr << "towngw-bench: " << text << std::endl;
}

/// `--set POINTER=VALUE` given to towngw-bench, passed on to every towngwd it starts.
std::vector<Override> g_overrides;

GatewayOptions gateway_options(const fs::path& config) {
    GatewayOptions opts;
    opts.overrides = g_overrides;
    // TOWNGW_BENCH_TOWNGWD: run another binary or a wrapper script instead (profiling, e.g.
    // `heaptrack -o FILE towngwd "$@"`; the numbers are then the wrapper's, not the daemon's).
    const char* other = std::getenv("TOWNGW_BENCH_TOWNGWD");
    opts.towngwd_bin = other != nullptr && *other != '\0' ? other : TOWNGWD_BIN;
    opts.config = config;
    opts.log_level = "info";  // the daemon's default; nothing is logged per poll at info
    return opts;
}

// --- steady state -----------------------------------------------------------------------------

/// What one measured interval cost: the difference of two samples of the daemon.
json interval_json(pid_t pid, const ProcSample& a, const ProcSample& b, const StatusCounts& ca,
                   const StatusCounts& cb, const json& rss_series, std::uint64_t sims_ticks,
                   std::uintmax_t log_bytes, int sensors, int index) {
    const double seconds = std::chrono::duration<double>(b.at - a.at).count();
    const auto polls = cb.polls - ca.polls;
    const double dpolls = std::max(1.0, static_cast<double>(polls));
    const double cpu_ms = ticks_to_ms(b.cpu_ticks - a.cpu_ticks);
    const double run_ms = static_cast<double>(b.run_ns - a.run_ns) / 1e6;
    std::uint64_t rss_min = a.rss_kib;
    std::uint64_t rss_max = a.rss_kib;
    for (const auto& v : rss_series) {
        rss_min = std::min(rss_min, v.get<std::uint64_t>());
        rss_max = std::max(rss_max, v.get<std::uint64_t>());
    }
    // Per thread (the threads have no names: the main loop is the one whose TID is the PID).
    json threads_cpu = json::array();
    for (const auto& [tid, ns] : b.task_run_ns) {
        const auto before = a.task_run_ns.count(tid) ? a.task_run_ns.at(tid) : 0;
        threads_cpu.push_back({{"tid", tid},
                               {"main", tid == pid},
                               {"cpu_ms", static_cast<double>(ns - before) / 1e6}});
    }
    std::sort(threads_cpu.begin(), threads_cpu.end(), [](const json& x, const json& y) {
        return x["cpu_ms"].get<double>() > y["cpu_ms"].get<double>();
    });
    const auto kib = [](std::uint64_t x) { return static_cast<std::int64_t>(x); };
    return {
        {"interval", index},
        {"sensors", sensors},
        {"measured_s", seconds},
        {"polls", polls},
        {"failed_polls", cb.failures - ca.failures},
        {"polls_per_s", static_cast<double>(polls) / seconds},
        {"poll_rate_pct_of_demand", 100.0 * static_cast<double>(polls) / seconds / sensors},
        {"cpu_ms", cpu_ms},
        {"cpu_ms_per_poll", cpu_ms / dpolls},
        {"cpu_pct_of_one_core", 100.0 * cpu_ms / 1000.0 / seconds},
        {"user_ms", ticks_to_ms(b.utime_ticks - a.utime_ticks)},
        {"system_ms", ticks_to_ms(b.stime_ticks - a.stime_ticks)},
        {"schedstat_cpu_ms", run_ms},
        {"schedstat_cpu_ms_per_poll", run_ms / dpolls},
        {"threads_cpu_ms", threads_cpu},
        {"vmhwm_kib", b.hwm_kib},
        {"vmrss_start_kib", a.rss_kib},
        {"vmrss_final_kib", b.rss_kib},
        {"vmrss_min_kib", rss_min},
        {"vmrss_max_kib", rss_max},
        {"vmrss_growth_kib", kib(b.rss_kib) - kib(a.rss_kib)},
        {"vmrss_series_kib", rss_series},
        {"threads", b.threads},
        {"write_bytes", b.write_bytes - a.write_bytes},
        {"write_bytes_per_poll", static_cast<double>(b.write_bytes - a.write_bytes) / dpolls},
        {"cancelled_write_bytes", b.cancelled_write_bytes - a.cancelled_write_bytes},
        {"wchar_per_poll", static_cast<double>(b.wchar - a.wchar) / dpolls},
        {"write_syscalls_per_poll", static_cast<double>(b.syscw - a.syscw) / dpolls},
        {"log_bytes", log_bytes},
        {"published", cb.published - ca.published},
        {"published_per_min", 60.0 * static_cast<double>(cb.published - ca.published) / seconds},
        {"outbox_depth_end", cb.depth},
        {"simulators_cpu_ms_per_poll", ticks_to_ms(sims_ticks) / dpolls}};
}

/// One daemon, warmed up, then `intervals` consecutive measured intervals (the repeats).
json steady_run(int sensors, std::chrono::seconds warmup, std::chrono::seconds measure,
                int intervals) {
    TempDir dir("towngw-bench-steady-");
    Fleet fleet = start_fleet(dir.path(), sensors);
    const fs::path gw_dir = dir.path() / "gw";
    fs::create_directories(gw_dir);
    const auto config = write_config(fleet, dir.path(), "steady-" + std::to_string(sensors));
    const auto t_exec = SteadyClock::now();
    GatewayProcess gw(gateway_options(config), gw_dir);
    const pid_t pid = gw.pid();
    const auto status_counts = [&]() {
        const auto s = gateway_status(gw, gw_dir);
        if (!s || !gw.process().running())
            throw std::runtime_error("towngwd did not answer status:\n" + gw.log_text());
        return counts_of(*s);
    };

    // Every device has answered once.
    std::optional<StatusCounts> counts;
    const bool all_up = wait_until(
        [&] {
            auto s = gateway_status(gw, gw_dir);
            if (!s) return !gw.process().running();
            counts = counts_of(*s);
            return counts->devices_polled >= static_cast<std::uint64_t>(sensors);
        },
        120s, 250ms);
    if (!gw.process().running()) throw std::runtime_error("towngwd exited:\n" + gw.log_text());
    const double all_up_s = std::chrono::duration<double>(SteadyClock::now() - t_exec).count();
    if (!all_up)
        log_line("warning: only " + std::to_string(counts ? counts->devices_polled : 0) + " of " +
                 std::to_string(sensors) + " devices answered within 120 s");
    std::this_thread::sleep_for(warmup);  // a fixed duration, not a condition

    // At each boundary: /proc (end of the previous interval), status, /proc (start of the next),
    // so the status request's own CPU falls outside every interval.
    StatusCounts c_start = status_counts();
    ProcSample a = sample_proc(pid);
    const ProcSample first = a;
    auto sims_a = sims_cpu_ticks(fleet);
    auto log_a = file_size_or_0(gw_dir / "towngwd.log");
    json results = json::array();
    // RSS once the first interval is over: by then the first windows have closed, been stored
    // and published, and SQLite's page cache holds the hot pages ("after warm-up").
    std::uint64_t after_first_kib = 0;
    for (int k = 1; k <= intervals; ++k) {
        json rss_series = json::array();
        const auto end = a.at + measure;
        while (SteadyClock::now() < end) {
            std::this_thread::sleep_for(
                std::min<SteadyClock::duration>(1s, end - SteadyClock::now()));
            const auto rss = field_of("/proc/" + std::to_string(pid) + "/status", "VmRSS");
            if (rss == 0) throw std::runtime_error("towngwd exited:\n" + gw.log_text());
            rss_series.push_back(rss);
        }
        const ProcSample b = sample_proc(pid);
        const auto sims_b = sims_cpu_ticks(fleet);
        const auto log_b = file_size_or_0(gw_dir / "towngwd.log");
        const StatusCounts c_end = status_counts();
        json r = interval_json(pid, a, b, c_start, c_end, rss_series, sims_b - sims_a,
                               log_b - log_a, sensors, k);
        char line[256];
        std::snprintf(
            line, sizeof line,
            "  interval %d: %.4f ms CPU/poll (schedstat %.4f), HWM %llu KiB, RSS %llu KiB, "
            "%.1f B written/poll, %llu polls, %llu published",
            k, r["cpu_ms_per_poll"].get<double>(), r["schedstat_cpu_ms_per_poll"].get<double>(),
            static_cast<unsigned long long>(b.hwm_kib), static_cast<unsigned long long>(b.rss_kib),
            r["write_bytes_per_poll"].get<double>(),
            static_cast<unsigned long long>(r["polls"].get<std::uint64_t>()),
            static_cast<unsigned long long>(r["published"].get<std::uint64_t>()));
        log_line(line);
        results.push_back(std::move(r));
        if (k == 1) after_first_kib = b.rss_kib;
        if (k == intervals) {
            a = b;  // the last sample closes the run
            break;
        }
        c_start = c_end;
        a = sample_proc(pid);
        sims_a = sims_cpu_ticks(fleet);
        log_a = log_b;
    }
    const json memory = memory_breakdown(pid);
    log_line("  memory: " + memory.dump());
    const auto db_bytes = file_size_or_0(gw.storage_path());
    const auto wal_bytes = file_size_or_0(gw.storage_path().string() + "-wal");
    const auto stop_started = SteadyClock::now();
    const ExitStatus exit = gw.process().stop(10s);
    const double stop_s = std::chrono::duration<double>(SteadyClock::now() - stop_started).count();
    return {{"sensors", sensors},
            {"simulators", fleet.sims.size()},
            {"storage_fs", fs_type(gw_dir)},
            {"all_devices_answered_s", all_up_s},
            {"warmup_s", warmup.count()},
            {"vmhwm_kib", a.hwm_kib},
            {"vmrss_first_kib", first.rss_kib},
            {"vmrss_last_kib", a.rss_kib},
            {"vmrss_growth_total_kib",
             static_cast<std::int64_t>(a.rss_kib) - static_cast<std::int64_t>(first.rss_kib)},
            {"vmrss_after_first_interval_kib", after_first_kib},
            {"vmrss_growth_after_first_interval_kib",
             static_cast<std::int64_t>(a.rss_kib) - static_cast<std::int64_t>(after_first_kib)},
            {"memory_at_end", memory},
            {"measured_total_s", std::chrono::duration<double>(a.at - first.at).count()},
            {"db_bytes_end", db_bytes},
            {"wal_bytes_end", wal_bytes},
            {"stop_s", stop_s},
            {"exit", exit.describe()},
            {"runs", results}};
}

// --- start-up ---------------------------------------------------------------------------------

json startup_runs(int sensors, int repeats) {
    TempDir dir("towngw-bench-startup-");
    Fleet fleet = start_fleet(dir.path(), sensors);
    json runs = json::array();
    for (int rep = 1; rep <= repeats; ++rep) {
        const std::string gateway_id = "startup-" + std::to_string(rep);
        const fs::path gw_dir = dir.path() / gateway_id;
        fs::create_directories(gw_dir);
        const auto config = write_config(fleet, gw_dir, gateway_id);
        const std::string status_topic = "townbrain/v1/bench/" + gateway_id + "/status";
        MqttCollector sub(fleet.broker->uri(), status_topic);

        const auto t_exec = SteadyClock::now();
        GatewayProcess gw(gateway_options(config), gw_dir);  // returns once the socket accepts
        const auto t_socket = SteadyClock::now();
        std::optional<SteadyClock::time_point> t_birth;
        sub.wait_for(
            [&](const MessageList& list) {
                for (const auto& m : list) {
                    if (m.topic == status_topic && m.json &&
                        m.json->value("state", "") == "online" && m.received_at >= t_exec) {
                        t_birth = m.received_at;
                        return true;
                    }
                }
                return false;
            },
            60s);
        const auto hwm_birth = field_of("/proc/" + std::to_string(gw.pid()) + "/status", "VmHWM");
        std::optional<SteadyClock::time_point> t_all;
        wait_until(
            [&] {
                auto s = gateway_status(gw, gw_dir);
                if (!s) return false;
                if (counts_of(*s).devices_polled < static_cast<std::uint64_t>(sensors))
                    return false;
                t_all = SteadyClock::now();
                return true;
            },
            60s, 50ms);
        const auto stop_started = SteadyClock::now();
        const ExitStatus exit = gw.process().stop(10s);
        const auto t_stopped = SteadyClock::now();
        auto secs = [&](const std::optional<SteadyClock::time_point>& t) {
            return t ? json(std::chrono::duration<double>(*t - t_exec).count()) : json(nullptr);
        };
        json r = {{"repeat", rep},
                  {"sensors", sensors},
                  {"exec_to_birth_s", secs(t_birth)},
                  {"exec_to_control_socket_s", secs(t_socket)},
                  {"exec_to_all_devices_polled_s", secs(t_all)},
                  {"vmhwm_at_birth_kib", hwm_birth},
                  {"stop_s", std::chrono::duration<double>(t_stopped - stop_started).count()},
                  {"exit", exit.describe()}};
        log_line("startup " + std::to_string(rep) + "/" + std::to_string(repeats) + ": " +
                 r.dump());
        runs.push_back(r);
    }
    return runs;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << kUsage;
        return 64;
    }
    const std::string mode = argv[1];
    int sensors = 0;
    int warmup_s = 15;
    int measure_s = 60;
    int repeats = mode == "startup" ? 5 : 3;
    std::string out;
    try {
        for (int i = 2; i < argc; ++i) {
            const std::string arg = argv[i];
            const bool has_value = i + 1 < argc;
            if (arg == "--sensors" && has_value) {
                sensors = std::stoi(argv[++i]);
            } else if (arg == "--warmup-s" && has_value) {
                warmup_s = std::stoi(argv[++i]);
            } else if (arg == "--measure-s" && has_value) {
                measure_s = std::stoi(argv[++i]);
            } else if (arg == "--repeats" && has_value) {
                repeats = std::stoi(argv[++i]);
            } else if (arg == "--out" && has_value) {
                out = argv[++i];
            } else if (arg == "--set" && has_value) {
                const std::string assignment = argv[++i];
                const auto eq = assignment.find('=');
                if (eq == std::string::npos || assignment.empty() || assignment[0] != '/') {
                    std::cerr << "towngw-bench: --set wants /json/pointer=VALUE, got \""
                              << assignment << "\"\n";
                    return 64;
                }
                g_overrides.emplace_back(assignment.substr(0, eq), assignment.substr(eq + 1));
            } else {
                std::cerr << "towngw-bench: bad argument \"" << arg << "\"\n" << kUsage;
                return 64;
            }
        }
        if ((mode != "steady" && mode != "startup") || sensors < 1 || repeats < 1 ||
            measure_s < 1 || warmup_s < 0 || out.empty()) {
            std::cerr << kUsage;
            return 64;
        }
        json doc = {{"benchmark", mode}, {"sensors", sensors}, {"repeats", repeats}};
        if (mode == "steady") {
            log_line("steady N=" + std::to_string(sensors) + ": warm-up " +
                     std::to_string(warmup_s) + " s, then " + std::to_string(repeats) + " x " +
                     std::to_string(measure_s) + " s measured");
            json run = steady_run(sensors, std::chrono::seconds(warmup_s),
                                  std::chrono::seconds(measure_s), repeats);
            run["benchmark"] = mode;
            run["repeats"] = repeats;
            run["measure_s"] = measure_s;
            doc = std::move(run);
        } else {
            doc["runs"] = startup_runs(sensors, repeats);
        }
        doc["overrides"] = json::object();
        for (const auto& [pointer, value] : g_overrides) doc["overrides"][pointer] = value;
        std::ofstream(out) << doc.dump(2) << "\n";
    } catch (const std::exception& e) {
        std::cerr << "towngw-bench: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
