// SPDX-License-Identifier: Apache-2.0
// Faults are data: the simulator's faults (switched on and off through its control socket) must
// show up as counted, flagged samples and windows, never as silence or a zero, and polling must
// resume when the device comes back. One timing-faithful RS-485 line at 9600 baud carries three
// slaves, one of them a measurement-triggered probe; a flow meter sits on Modbus TCP.
#include <catch2/catch.hpp>
#include <chrono>
#include <iostream>

#include "support.hpp"

using namespace std::chrono_literals;
using namespace gw::test;
using nlohmann::json;

namespace {

const std::filesystem::path kSourceDir = TOWNGW_SOURCE_DIR;
const std::filesystem::path kConfigs = kSourceDir / "tests/integration/configs";
constexpr double kFastPollsPerS = 1000.0 / 200.0;  // water1, level1: poll_ms 200

/// An RFC 3339 field of a message, in Unix ms (0 if absent or malformed).
std::int64_t time_ms(const json& message, const std::string& key) {
    return parse_utc(message.value(key, "")).value_or(0) * 1000;
}

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// Broker, simulator (faults_scenario.json) and towngwd (faults.json) in one scratch directory.
struct FaultRig {
    TempDir dir;
    MosquittoBroker broker{dir.path()};
    SimProcess sim;
    MqttCollector collector{broker.uri(), "townbrain/v1/test-town/faults/data/#"};
    std::unique_ptr<GatewayProcess> gw;

    using Overrides = std::function<std::vector<Override>(const SimProcess&)>;

    explicit FaultRig(std::vector<Override> extra = {})
        : FaultRig([extra](const SimProcess&) { return extra; }, {}) {}

    /// `extra` may depend on the simulator's ports; `sim_args` go to towngw-sim.
    FaultRig(const Overrides& extra, const std::vector<std::string>& sim_args)
        : sim(TOWNGW_SIM_BIN, kConfigs / "faults_scenario.json", dir.path(), sim_args) {
        GatewayOptions opts;
        opts.towngwd_bin = TOWNGWD_BIN;
        opts.config = kConfigs / "faults.json";
        opts.log_level = "info";
        opts.overrides = {{"/mqtt/broker", broker.uri()},
                          {"/devices/0/transport/port", sim.rtu_pty()},
                          {"/devices/1/transport/port", sim.rtu_pty()},
                          {"/devices/2/transport/port", sim.rtu_pty()},
                          {"/devices/3/transport/port", std::to_string(sim.tcp_port())}};
        const auto more = extra(sim);
        opts.overrides.insert(opts.overrides.end(), more.begin(), more.end());
        gw = std::make_unique<GatewayProcess>(opts, dir.path());
    }

    std::optional<json> status() const {
        const auto r = run_command(
            {TOWNGW_CLI_BIN, "status", "--socket", gw->control_socket().string(), "--json"},
            dir.path());
        if (!r.status || !r.status->exited_with(0)) return std::nullopt;
        auto j = json::parse(r.out, nullptr, false);
        if (j.is_discarded()) return std::nullopt;
        return j;
    }

    json device(const std::string& id) const {
        if (auto s = status())
            for (const auto& d : (*s)["devices"])
                if (d.value("id", "") == id) return d;
        return json::object();
    }

    /// Waits until the device's status entry satisfies `pred`; returns the entry.
    json wait_device(const std::string& id, const std::function<bool(const json&)>& pred,
                     std::chrono::milliseconds timeout = 20s) const {
        json entry;
        const bool ok = wait_until(
            [&] {
                entry = device(id);
                return !entry.empty() && pred(entry);
            },
            timeout, 100ms);
        INFO("device " << id << ": " << entry.dump() << "\ntowngwd log:\n" << tail_of_log());
        REQUIRE(ok);
        return entry;
    }

    void fault(const json& spec) const {
        const json reply = sim.control({{"fault", spec}});
        INFO(reply.dump());
        REQUIRE(reply.value("ok", false));
    }

    void clear(const std::string& device) const {
        const json reply = sim.control({{"clear", device}});
        INFO(reply.dump());
        REQUIRE(reply.value("ok", false));
    }

    /// Waits for a window of `sensor` that starts at or after `since_ms` and satisfies `pred`.
    json wait_window(const std::string& sensor, std::int64_t since_ms,
                     const std::function<bool(const json&)>& pred,
                     std::chrono::milliseconds timeout = 20s) {
        json found;
        const bool ok = collector.wait_for(
            [&](const MessageList& all) {
                for (const auto& m : all) {
                    if (!m.json || m.json->value("sensor", "") != sensor) continue;
                    if (time_ms(*m.json, "window_start") < since_ms) continue;
                    if (pred(*m.json)) {
                        found = *m.json;
                        return true;
                    }
                }
                return false;
            },
            timeout);
        INFO("no matching window of " << sensor << "\ntowngwd log:\n" << tail_of_log());
        REQUIRE(ok);
        return found;
    }

    std::string tail_of_log() const {
        const std::string text = gw->log_text();
        return text.substr(text.size() > 3000 ? text.size() - 3000 : 0);
    }
};

bool is_good(const json& w) {
    return w.value("quality", "") == "good";
}

/// Polls per second of `id` over `interval` (counted by towngwd).
double poll_rate(const FaultRig& rig, const std::string& id, std::chrono::milliseconds interval) {
    const auto polls = [&] { return rig.device(id).value("polls", 0ULL); };
    const auto p0 = polls();
    const auto t0 = std::chrono::steady_clock::now();
    wait_until([&] { return std::chrono::steady_clock::now() - t0 >= interval; }, interval + 5s,
               50ms);
    const auto p1 = polls();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return static_cast<double>(p1 - p0) / seconds;
}

}  // namespace

TEST_CASE("a slave that dies is flagged B and backed off, and polling resumes when it comes back",
          "[integration][faults]") {
    FaultRig rig;
    rig.wait_window("water1.ph", 0, is_good);

    rig.fault({{"device", "water1"}, {"kind", "timeout"}});
    const auto died_ms = now_ms();
    // Never silence, never a zero: windows keep coming, empty and flagged.
    const json dead = rig.wait_window("water1.ph", died_ms + 1000, [](const json& w) {
        return w.value("quality", "") == "comm_error";
    });
    CHECK(dead.value("count", -1) == 0);
    CHECK(dead.value("flag", "") == "B");
    CHECK(dead["mean"].is_null());
    CHECK(dead["faults"].value("comm_error", 0) >= 1);
    const json backed = rig.wait_device("water1", [](const json& d) {
        return d.value("backed_off", false) && d.value("timeouts", 0) >= 3;
    });
    CHECK_THAT(backed.value("last_error", ""), Catch::Contains("timed out"));

    // The line's other slave keeps its poll rate while water1 is dead.
    const double level_rate = poll_rate(rig, "level1", 3s);
    std::cout << "dead slave on the line: level1 polled at " << level_rate << "/s of "
              << kFastPollsPerS << "\n";
    CHECK(level_rate >= 0.9 * kFastPollsPerS);

    rig.clear("water1");
    const auto back_ms = now_ms();
    const json good = rig.wait_window(
        "water1.ph", back_ms, [](const json& w) { return w.value("count", 0) > 0; }, 15s);
    const auto first_good_ms = time_ms(good, "window_end");
    std::cout << "water1 back: first window with data ends " << (first_good_ms - back_ms)
              << " ms after the fault cleared (backoff_s 2)\n";
    rig.wait_device("water1", [](const json& d) {
        return d.value("online", false) && !d.value("backed_off", true);
    });
    rig.wait_window("water1.ph", first_good_ms, is_good);
}

TEST_CASE("bad CRCs, exception codes and slow answers are counted per kind and flagged B",
          "[integration][faults]") {
    FaultRig rig;
    rig.wait_window("level1.level", 0, is_good);

    rig.fault({{"device", "level1"}, {"kind", "bad_crc"}});
    auto since = now_ms();
    rig.wait_device("level1", [](const json& d) { return d.value("crc_errors", 0) >= 2; });
    json w = rig.wait_window("level1.level", since + 1000,
                             [](const json& x) { return x.value("count", -1) == 0; });
    CHECK(w.value("flag", "") == "B");
    CHECK(w.value("quality", "") == "comm_error");
    rig.clear("level1");
    const auto back_online = [](const json& d) { return d.value("online", false); };
    rig.wait_device("level1", back_online);

    rig.fault({{"device", "level1"}, {"kind", "exception"}, {"code", 2}});
    rig.wait_device("level1", [](const json& d) { return d["exceptions"].value("2", 0) >= 2; });
    rig.clear("level1");
    rig.wait_device("level1", back_online);

    // 400 ms late against a 150 ms timeout: a timeout. The late answer still occupies the
    // half-duplex line afterwards and may garble the neighbour's next transaction; that damage
    // must be counted (not silent) and must end when the slave is back to normal.
    rig.fault({{"device", "level1"}, {"kind", "slow"}, {"delay_ms", 400}});
    const auto timeouts_before = rig.device("level1").value("timeouts", 0);
    rig.wait_device("level1",
                    [&](const json& d) { return d.value("timeouts", 0) >= timeouts_before + 2; });
    rig.clear("level1");
    rig.wait_device("level1", back_online);
    since = now_ms();
    rig.wait_window("level1.level", since + 1000, is_good);
    rig.wait_window("water1.ph", since + 1000, is_good);
    const json water = rig.device("water1");
    INFO("water1: " << water.dump());
    CHECK(water.value("crc_errors", -1) == 0);  // the bad CRCs were level1's alone
    CHECK(water.value("online", false));
}

TEST_CASE("a TCP device that drops its connection is reconnected", "[integration][faults]") {
    FaultRig rig;
    rig.wait_window("flow1.flow", 0, is_good);
    rig.fault({{"device", "flow1"}, {"kind", "disconnect"}});
    const auto since = now_ms();
    rig.wait_window("flow1.flow", since + 1000, [](const json& w) {
        return w.value("count", -1) == 0 && w.value("flag", "") == "B";
    });
    rig.clear("flow1");
    rig.wait_window("flow1.flow", now_ms() + 1000, is_good);
    const auto status = rig.status();
    REQUIRE(status);
    for (const auto& bus : (*status)["buses"])
        if (bus.value("endpoint", "").rfind("tcp:", 0) == 0) CHECK(bus.value("reconnects", 0) >= 2);
}

TEST_CASE("a stuck value is flagged D once it repeats too often", "[integration][faults]") {
    FaultRig rig(std::vector<Override>{{"/sensors/0/stuck_after_samples", "3"}});
    rig.wait_window("water1.ph", 0, is_good);
    rig.fault({{"device", "water1"}, {"kind", "stuck"}});
    const auto since = now_ms();
    const json stuck = rig.wait_window(
        "water1.ph", since + 1000, [](const json& w) { return w.value("quality", "") == "fault"; });
    CHECK(stuck.value("flag", "") == "D");
    CHECK(stuck["faults"].value("stuck", 0) >= 3);
    CHECK(stuck["mean"].is_null());
    rig.clear("water1");
    rig.wait_window("water1.ph", now_ms() + 1000, is_good);
}

TEST_CASE("a trigger-then-read probe is read after its measuring time and frees the bus meanwhile",
          "[integration][faults][trigger]") {
    FaultRig rig;
    // Three good 2 s windows of the probe's temperature.
    int good_windows = 0;
    rig.wait_window(
        "aqua.temperature", 0, [&](const json& w) { return is_good(w) && ++good_windows >= 3; },
        30s);

    // The simulator saw reads only after each measurement had completed.
    const json stats = rig.sim.control({{"stats", true}}).at("stats");
    INFO(stats.dump());
    const json& aqua = stats["devices"]["aqua"];
    CHECK(aqua.value("requests", 0) >= 6);
    CHECK(aqua.value("early_reads", -1) == 0);

    // While the probe measured (500 ms of every second) the other slaves were polled.
    const double water_rate = poll_rate(rig, "water1", 3s);
    const double level_rate = poll_rate(rig, "level1", 3s);
    std::cout << "trigger probe on the line: water1 " << water_rate << "/s, level1 " << level_rate
              << "/s of " << kFastPollsPerS << "\n";
    CHECK(water_rate >= 0.9 * kFastPollsPerS);
    CHECK(level_rate >= 0.9 * kFastPollsPerS);

    // The published temperature is one the probe measured (served after completion).
    const json w = rig.wait_window("aqua.temperature", 0, is_good);
    bool served = false;
    for (const auto& v : rig.sim.served())
        if (v.device == "aqua" && v.point == "temperature" &&
            std::abs(v.value - w["last"].get<double>()) < 1e-4)
            served = true;
    CHECK(served);

    // pH 15 is outside the electrode's 0..14 range: over range, flag T, no value published.
    const json ph = rig.wait_window(
        "aqua.ph", 0, [](const json& x) { return x.value("quality", "") == "fault"; });
    CHECK(ph.value("flag", "") == "T");
    CHECK(ph["faults"].value("over_range", 0) >= 1);
    CHECK(ph["mean"].is_null());
    CHECK(ph["last"].is_null());
}

TEST_CASE("RTU frames over TCP reach a transparent serial server", "[integration][faults]") {
    // water1 moves from the pty to the simulator's RTU-over-TCP port; the rest stay.
    FaultRig over(
        [](const SimProcess& sim) {
            return std::vector<Override>{
                {"/devices/0/transport",
                 R"({"type": "modbus-rtu-over-tcp", "host": "127.0.0.1", "port": )" +
                     std::to_string(sim.rtu_tcp_port()) + "}"}};
        },
        {"--rtu-tcp-port", "0"});
    REQUIRE(over.sim.rtu_tcp_port() != 0);
    over.wait_window("water1.ph", 0, is_good);
    const json d = over.device("water1");
    CHECK_THAT(d.value("endpoint", ""), Catch::StartsWith("rtu-over-tcp:127.0.0.1:"));
    CHECK(d.value("crc_errors", -1) == 0);
}

TEST_CASE("kernel RS-485 mode on a port that cannot do it is reported, not fatal",
          "[integration][faults]") {
    // A pty has no TIOCSRS485: the line fails to open with a message naming the port.
    FaultRig rig(std::vector<Override>{{"/devices/0/transport/rs485", "\"kernel\""},
                                       {"/devices/1/transport/rs485", "\"kernel\""},
                                       {"/devices/2/transport/rs485", "\"kernel\""}});
    const json d =
        rig.wait_device("water1", [](const json& x) { return x.value("failures", 0) >= 2; });
    CHECK_THAT(d.value("last_error", ""), Catch::Contains("TIOCSRS485"));
    CHECK_THAT(d.value("last_error", ""), Catch::Contains(rig.sim.rtu_pty()));
    rig.wait_window("water1.ph", 0, [](const json& w) {
        return w.value("quality", "") == "comm_error" && w.value("flag", "") == "B";
    });
    // The TCP device on its own bus is unaffected.
    rig.wait_window("flow1.flow", 0, is_good);
    CHECK(rig.gw->process().running());
}
