// SPDX-License-Identifier: Apache-2.0
// towngwd as a systemd service (docs/deployment.md), checked without systemd: a fake
// NOTIFY_SOCKET (a datagram socket of the test's) receives what the daemon tells the service
// manager, and the signals systemd would send are sent by the test.
//   - READY=1 once the store is open, the drivers are started and the control socket listens;
//     WATCHDOG=1 at half of WATCHDOG_USEC from the main loop; STOPPING=1 and a clean exit 0 on
//     SIGTERM.
//   - Lines go to the journal with priorities when JOURNAL_STREAM names stderr; a bad
//     configuration at start is logged at priority err and exits 78.
//   - SIGHUP (ExecReload): a broken configuration is refused with every culprit named and the
//     daemon carries on; a valid edited one is applied by restarting the gateway in-process,
//     with RELOADING=1 … READY=1, the offline reason "reload", a new birth, and a seq that
//     continues without a gap (nothing buffered is lost).
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <cstring>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "demo_rig.hpp"

using namespace std::chrono_literals;
using namespace gw::test;
using namespace gw::test::demo;
using nlohmann::json;

namespace {

/// The service manager's end of NOTIFY_SOCKET: collects every datagram.
class FakeServiceManager {
public:
    explicit FakeServiceManager(const std::filesystem::path& socket_path) : path_(socket_path) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        const std::string p = path_.string();
        if (fd_ < 0 || p.size() >= sizeof address.sun_path)
            throw std::runtime_error("notify socket: cannot create " + p);
        std::memcpy(address.sun_path, p.c_str(), p.size() + 1);
        if (::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
            throw std::runtime_error("bind " + p + ": " + std::strerror(errno));
    }
    ~FakeServiceManager() { ::close(fd_); }
    FakeServiceManager(const FakeServiceManager&) = delete;
    FakeServiceManager& operator=(const FakeServiceManager&) = delete;

    std::string environment() const { return "NOTIFY_SOCKET=" + path_.string(); }

    /// Receives until pred(all messages so far) holds or the deadline passes.
    bool wait_for(const std::function<bool(const std::vector<std::string>&)>& pred,
                  std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            if (pred(messages_)) return true;
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return false;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 100))) > 0) {
                char buffer[4096];
                const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
                if (n > 0) messages_.emplace_back(buffer, static_cast<std::size_t>(n));
            }
        }
    }

    /// Waits until at least `n` messages contain `field` ("READY=1" …).
    bool wait_count(const std::string& field, std::size_t n, std::chrono::milliseconds timeout) {
        return wait_for([&](const auto&) { return count(field) >= n; }, timeout);
    }

    std::size_t count(const std::string& field) const {
        return static_cast<std::size_t>(
            std::count_if(messages_.begin(), messages_.end(),
                          [&](const std::string& m) { return has_field(m, field); }));
    }

    const std::vector<std::string>& messages() const { return messages_; }

    std::string describe() const {
        std::string out = "--- notify messages (" + std::to_string(messages_.size()) + "):\n";
        for (const auto& m : messages_)
            out += "  [" + std::regex_replace(m, std::regex("\n"), " | ") + "]\n";
        return out;
    }

    /// True when one line of `message` is `field` or starts with it ("STATUS=reload refused").
    static bool has_field(const std::string& message, const std::string& field) {
        std::size_t start = 0;
        while (start <= message.size()) {
            const std::size_t end = std::min(message.find('\n', start), message.size());
            if (message.compare(start, field.size(), field) == 0) return true;
            start = end + 1;
        }
        return false;
    }

private:
    std::filesystem::path path_;
    int fd_{-1};
    std::vector<std::string> messages_;
};

/// config/demo.json copied into `dir` with absolute profile paths and `window_s` 2 everywhere,
/// so a test can edit it and send SIGHUP.
std::filesystem::path editable_demo_config(const std::filesystem::path& dir) {
    std::string text = read_file(kDemoConfig);
    text = std::regex_replace(text, std::regex("\"devices/"),
                              "\"" + (kSourceDir / "config" / "devices").string() + "/");
    text = std::regex_replace(text, std::regex("\"window_s\": 5"), "\"window_s\": 2");
    const auto path = dir / "towngw.json";
    std::ofstream(path) << text;
    return path;
}

/// Rewrites water1.ph's window_s in the config file (`value` is written as is: "4", "-3").
void set_ph_window_in_file(const std::filesystem::path& path, const std::string& value) {
    const std::string before = read_file(path);
    std::smatch m;
    REQUIRE(std::regex_search(before, m,
                              std::regex(R"((\{ "id": "water1\.ph",[^\n]*"window_s": )-?[0-9]+)")));
    const std::string text = m.prefix().str() + m[1].str() + value + m.suffix().str();
    const auto tmp = path.string() + ".new";
    std::ofstream(tmp) << text;
    std::filesystem::rename(tmp, path);  // as an editor saving the file would
}

/// Seqs of stored messages that are missing between the smallest and the largest seen.
std::vector<std::int64_t> seq_gaps(const MessageList& all) {
    std::set<std::int64_t> seqs;
    for (const auto& m : all)
        if (!m.retained && seq_of(m) > 0) seqs.insert(seq_of(m));
    std::vector<std::int64_t> missing;
    if (seqs.empty()) return missing;
    for (std::int64_t s = *seqs.begin(); s <= *seqs.rbegin(); ++s)
        if (seqs.count(s) == 0) missing.push_back(s);
    return missing;
}

std::size_t count_matching(const MessageList& all,
                           const std::function<bool(const ReceivedMessage&)>& pred) {
    return static_cast<std::size_t>(std::count_if(all.begin(), all.end(), pred));
}

}  // namespace

TEST_CASE(
    "under a service manager: READY once listening, watchdog from the main loop, "
    "STOPPING and exit 0 on SIGTERM",
    "[integration][service]") {
    TempDir notify_dir("towngw-notify-");
    FakeServiceManager manager(notify_dir / "notify.sock");
    RigOptions options;
    // 0.4 s: the daemon must ping every 0.2 s (systemd's WatchdogSec=30s gives 15 s).
    options.env = {manager.environment(), "WATCHDOG_USEC=400000"};
    DemoRig rig("notify", options);
    rig.add_diagnostics([&] { return manager.describe(); });
    rig.start_gateway();  // returns once the control socket accepts connections

    REQUIRE(manager.wait_count("READY=1", 1, 10s));
    const auto& first = manager.messages().front();
    INFO("the first notification must be READY: " << first);
    CHECK(FakeServiceManager::has_field(first, "READY=1"));
    CHECK(FakeServiceManager::has_field(first, "STATUS=running: 3 devices, 7 sensors"));
    CHECK(unix_socket_accepts(rig.gateway().control_socket()));

    // Fed while the gateway works: at least 10 pings in 4 s of a 0.2 s rhythm.
    const auto pings_before = manager.count("WATCHDOG=1");
    REQUIRE(rig.wait_for_windows(1, 30s));
    CHECK(manager.wait_count("WATCHDOG=1", pings_before + 10, 4s));

    rig.gateway().process().signal(SIGTERM);
    CHECK(manager.wait_count("STOPPING=1", 1, 10s));
    const auto exit = rig.gateway().process().wait_exit(15s);
    REQUIRE(exit);
    CHECK(exit->exited_with(0));
    CHECK(rig.collector().wait_for(
        [&](const MessageList& all) {
            return count_matching(all, status_is(rig.status_topic(), "offline", "shutdown")) > 0;
        },
        10s));
    CHECK(manager.count("READY=1") == 1);
    CHECK(manager.count("RELOADING=1") == 0);
}

TEST_CASE(
    "a watchdog meant for another process (WATCHDOG_PID) is not fed, journal lines carry "
    "priorities, and SIGINT stops cleanly",
    "[integration][service]") {
    TempDir notify_dir("towngw-notify-");
    FakeServiceManager manager(notify_dir / "notify.sock");
    RigOptions options;
    options.env = {manager.environment(), "WATCHDOG_USEC=100000", "WATCHDOG_PID=1"};
    DemoRig rig("watchdog-pid", options);
    rig.add_diagnostics([&] { return manager.describe(); });
    // As under systemd with StandardError=journal: JOURNAL_STREAM names the file stderr is.
    const auto log_path = rig.dir() / "towngwd.log";
    std::ofstream(log_path).flush();
    struct stat log_stat {};
    REQUIRE(::stat(log_path.c_str(), &log_stat) == 0);
    rig.add_gateway_env("JOURNAL_STREAM=" + std::to_string(log_stat.st_dev) + ":" +
                        std::to_string(log_stat.st_ino));
    rig.start_gateway();
    REQUIRE(manager.wait_count("READY=1", 1, 10s));
    REQUIRE(rig.wait_for_windows(1, 30s));  // seconds in which a 0.05 s rhythm would ping often
    rig.gateway().process().signal(SIGINT);
    CHECK(manager.wait_count("STOPPING=1", 1, 10s));
    const auto exit = rig.gateway().process().wait_exit(15s);
    REQUIRE(exit);
    CHECK(exit->exited_with(0));
    CHECK(manager.count("WATCHDOG=1") == 0);

    // Journal lines: a syslog priority prefix, no timestamp (journald adds its own).
    std::istringstream lines(rig.gateway().log_text());
    std::size_t info_lines = 0;
    std::size_t other_lines = 0;
    for (std::string line; std::getline(lines, line);) {
        if (std::regex_match(line, std::regex(R"(<[3467]>[a-z0-9_]+: .*)"))) {
            info_lines += line.rfind("<6>", 0) == 0 ? 1 : 0;
        } else {
            ++other_lines;
            UNSCOPED_INFO("not a journal line: " << line);
        }
    }
    CHECK(info_lines > 0);
    CHECK(other_lines == 0);
}

TEST_CASE(
    "SIGHUP: a broken configuration is refused with its culprit named, an edited valid "
    "one is applied in-process without losing a seq",
    "[integration][service]") {
    TempDir work("towngw-reload-");
    FakeServiceManager manager(work / "notify.sock");
    RigOptions options;
    options.window_s = 0;  // the file's window_s, so that editing it has an effect
    options.config = editable_demo_config(work.path());
    options.env = {manager.environment()};
    DemoRig rig("reload", options);
    rig.add_diagnostics([&] { return manager.describe(); });
    rig.start_gateway();
    const pid_t pid = rig.gateway().pid();
    REQUIRE(manager.wait_count("READY=1", 1, 10s));
    REQUIRE(rig.wait_for_windows(2, 30s));

    // 1. A broken file: refused, named, nothing restarted, data keeps flowing.
    set_ph_window_in_file(options.config, "-3");
    rig.gateway().process().signal(SIGHUP);
    REQUIRE(manager.wait_count("READY=1", 2, 10s));
    CHECK(manager.count("RELOADING=1") == 1);
    CHECK(FakeServiceManager::has_field(manager.messages().back(), "STATUS=reload refused"));
    REQUIRE(wait_until(
        [&] { return rig.gateway().log_text().find("reload refused") != std::string::npos; }, 5s));
    const std::string log = rig.gateway().log_text();
    CHECK(log.find(options.config.string() + ": /sensors/0/window_s") != std::string::npos);
    const std::size_t windows_at_refusal = data_messages(rig.collector().messages()).size();
    CHECK(rig.collector().wait_for(
        [&](const MessageList& all) {
            return data_messages(all).size() >= windows_at_refusal + kSensorCount;
        },
        15s));
    CHECK(count_matching(rig.collector().messages(),
                         status_is(rig.status_topic(), "offline", "reload")) == 0);

    // 2. A valid edit: the gateway restarts in-process with it.
    set_ph_window_in_file(options.config, "4");
    rig.gateway().process().signal(SIGHUP);
    REQUIRE(manager.wait_count("READY=1", 3, 20s));
    CHECK(manager.count("RELOADING=1") == 2);
    CHECK(FakeServiceManager::has_field(manager.messages().back(), "STATUS=running"));
    CHECK(rig.gateway().pid() == pid);
    CHECK(rig.gateway().process().running());
    const auto reloaded_birth = [&](const ReceivedMessage& m) {
        if (!status_is(rig.status_topic(), "online")(m)) return false;
        for (const auto& s : (*m.json)["sensors"])
            if (s["id"] == "water1.ph") return s["window_s"] == 4;
        return false;
    };
    REQUIRE(rig.collector().wait_for(
        [&](const MessageList& all) {
            return count_matching(all, status_is(rig.status_topic(), "offline", "reload")) == 1 &&
                   count_matching(all, reloaded_birth) >= 1;
        },
        20s));
    // Two 4 s pH windows after the reload.
    REQUIRE(rig.collector().wait_for(
        [&](const MessageList& all) {
            return count_matching(all, [](const ReceivedMessage& m) {
                       return is_data(m) && sensor_of(m) == "water1.ph" && m.json &&
                              (*m.json)["window_s"] == 4;
                   }) >= 2;
        },
        30s));

    rig.gateway().process().signal(SIGTERM);
    const auto exit = rig.gateway().process().wait_exit(15s);
    REQUIRE(exit);
    CHECK(exit->exited_with(0));
    REQUIRE(rig.collector().wait_for(
        [&](const MessageList& all) {
            return count_matching(all, status_is(rig.status_topic(), "offline", "shutdown")) > 0;
        },
        10s));
    const auto all = rig.collector().messages();
    const auto gaps = seq_gaps(all);
    INFO("missing seqs: " << gaps.size()
                          << (gaps.empty() ? "" : ", first " + std::to_string(gaps.front())));
    CHECK(gaps.empty());
    CHECK(rig.gateway().log_text().find("reloaded") != std::string::npos);
}

TEST_CASE(
    "a configuration error at start is logged at priority err and exits 78 (no restart "
    "loop under RestartPreventExitStatus=78)",
    "[integration][service]") {
    TempDir dir("towngw-badstart-");
    const auto log_path = dir / "stderr.log";
    std::ofstream(log_path).flush();
    struct stat log_stat {};
    REQUIRE(::stat(log_path.c_str(), &log_stat) == 0);
    ChildProcess daemon(
        {TOWNGWD_BIN, "--config", kDemoConfig.string(), "--set", "/sensors/2/window_s=0"},
        dir / "stdout.log", log_path,
        {"JOURNAL_STREAM=" + std::to_string(log_stat.st_dev) + ":" +
         std::to_string(log_stat.st_ino)});
    const auto exit = daemon.wait_exit(10s);
    REQUIRE(exit);
    CHECK(exit->exited_with(78));
    const std::string err = read_file(log_path);
    INFO(err);
    CHECK(err.find("<3>config: error: " + kDemoConfig.string() + ": /sensors/2/window_s: ") !=
          std::string::npos);
    CHECK(err.find("<3>towngwd: 1 error(s) in the configuration; not starting") !=
          std::string::npos);
}
