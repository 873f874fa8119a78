// SPDX-License-Identifier: Apache-2.0
// One RS-485 line, three slaves, one of them dead: the bus worker backs the dead slave off so
// the live ones keep their poll rate, and the dead one is still reported (comm_error windows),
// never silent. The same line without back-off is the control: there the dead slave's
// timeouts starve the others.
#include <catch2/catch.hpp>
#include <chrono>

#include "support.hpp"

using namespace std::chrono_literals;
using namespace gw::test;
using nlohmann::json;

namespace {

const std::filesystem::path kSourceDir = TOWNGW_SOURCE_DIR;
const std::filesystem::path kBusConfig = kSourceDir / "tests/integration/configs/rtu_bus.json";
const std::filesystem::path kBusScenario = kSourceDir / "simulators/scenarios/rtu_bus.json";
constexpr double kConfiguredPollsPerS = 1000.0 / 200.0;  // poll_ms 200 in rtu_bus.json

std::optional<json> status_of(const GatewayProcess& gw, const TempDir& dir) {
    const auto r = run_command(
        {TOWNGW_CLI_BIN, "status", "--socket", gw.control_socket().string(), "--json"}, dir.path());
    if (!r.status || !r.status->exited_with(0)) return std::nullopt;
    auto j = json::parse(r.out, nullptr, false);
    if (j.is_discarded()) return std::nullopt;
    return j;
}

std::uint64_t polls_of(const json& status, const std::string& device) {
    for (const auto& d : status["devices"])
        if (d.value("id", "") == device) return d.value("polls", 0ULL);
    return 0;
}

struct Rates {
    double water1{0};
    double level1{0};
};

/// Poll rates of the live slaves over a measurement interval of `interval` after the status
/// predicate `ready` first holds.
Rates measure(const GatewayProcess& gw, const TempDir& dir, std::chrono::milliseconds interval,
              const std::function<bool(const json&)>& ready) {
    std::optional<json> first;
    REQUIRE(wait_until(
        [&] {
            first = status_of(gw, dir);
            return first && ready(*first);
        },
        20s, 100ms));
    const auto t0 = std::chrono::steady_clock::now();
    std::optional<json> second;
    // A measurement interval, not a guess: wait until it has passed, then read the counters.
    REQUIRE(wait_until([&] { return std::chrono::steady_clock::now() - t0 >= interval; },
                       interval + 5s, 50ms));
    second = status_of(gw, dir);
    const auto t1 = std::chrono::steady_clock::now();
    REQUIRE(second);
    const double seconds = std::chrono::duration<double>(t1 - t0).count();
    return {
        static_cast<double>(polls_of(*second, "water1") - polls_of(*first, "water1")) / seconds,
        static_cast<double>(polls_of(*second, "level1") - polls_of(*first, "level1")) / seconds};
}

}  // namespace

TEST_CASE("a dead slave on a shared RS-485 line is backed off and the others keep their poll rate",
          "[integration][bus]") {
    TempDir dir;
    MosquittoBroker broker(dir.path());
    SimProcess sim(TOWNGW_SIM_BIN, kBusScenario, dir.path());
    MqttCollector collector(broker.uri(), "townbrain/v1/test-town/+/data/#");

    const bool with_backoff = GENERATE(true, false);
    INFO((with_backoff ? "with back-off" : "control: back-off disabled"));
    GatewayOptions opts;
    opts.towngwd_bin = TOWNGWD_BIN;
    opts.config = kBusConfig;
    opts.log_level = "info";
    const std::string gateway_id = with_backoff ? "bus-backoff" : "bus-no-backoff";
    opts.overrides = {{"/mqtt/broker", broker.uri()},
                      {"/gateway/gateway_id", gateway_id},
                      {"/devices/0/transport/port", sim.rtu_pty()},
                      {"/devices/1/transport/port", sim.rtu_pty()},
                      {"/devices/2/transport/port", sim.rtu_pty()}};
    if (!with_backoff) opts.overrides.push_back({"/devices/2/backoff_after_failures", "1000"});
    GatewayProcess gw(opts, dir.path());

    const auto rates = measure(gw, dir, 6s, [&](const json& s) {
        // Measure once the dead slave has failed enough to be backed off (or, in the control
        // run, once it has failed a few times).
        for (const auto& d : s["devices"])
            if (d.value("id", "") == "ghost")
                return with_backoff ? d.value("backed_off", false) : d.value("failures", 0) >= 3;
        return false;
    });
    std::cout << (with_backoff ? "with back-off" : "without back-off") << ": live slaves polled at "
              << rates.water1 << " and " << rates.level1 << " polls/s of " << kConfiguredPollsPerS
              << " configured\n"
              << std::flush;
    INFO("water1 " << rates.water1 << "/s, level1 " << rates.level1 << "/s, configured "
                   << kConfiguredPollsPerS << "/s\n"
                   << "towngwd log:\n"
                   << gw.log_text().substr(gw.log_text().size() > 4000 ? gw.log_text().size() - 4000
                                                                       : 0));
    const auto status = status_of(gw, dir);
    REQUIRE(status);
    for (const auto& d : (*status)["devices"]) {
        INFO(d.dump());
        if (d.value("id", "") == "ghost") {
            CHECK(d.value("timeouts", 0) >= 2);  // a dead slave shows up as timeouts
        } else {
            CHECK(d.value("last_round_trip_ms", 0.0) > 0.0);
            CHECK(d.value("timeouts", -1) == 0);
        }
    }
    if (with_backoff) {
        CHECK(rates.water1 >= 0.9 * kConfiguredPollsPerS);
        CHECK(rates.level1 >= 0.9 * kConfiguredPollsPerS);

        // The dead slave is not silent: its sensor publishes comm_error windows.
        REQUIRE(collector.wait_for(
            [&](const MessageList& all) {
                return std::any_of(all.begin(), all.end(), [](const ReceivedMessage& m) {
                    return m.topic.find("/data/ghost.level") != std::string::npos && m.json &&
                           m.json->value("quality", "") == "comm_error" &&
                           m.json->value("count", -1) == 0;
                });
            },
            10s));
        // And the live ones publish good data from the same line.
        REQUIRE(collector.wait_for(
            [&](const MessageList& all) {
                return std::any_of(all.begin(), all.end(), [](const ReceivedMessage& m) {
                    return m.topic.find("/data/level1.level") != std::string::npos && m.json &&
                           m.json->value("quality", "") == "good";
                });
            },
            10s));
    } else {
        // Without back-off every cycle waits out the dead slave's 300 ms timeout.
        CHECK(rates.water1 < 0.9 * kConfiguredPollsPerS);
        CHECK(rates.level1 < 0.9 * kConfiguredPollsPerS);
    }
}

TEST_CASE("a Modbus exception from the device is counted by its code and published as comm_error",
          "[integration][bus]") {
    TempDir dir;
    MosquittoBroker broker(dir.path());
    SimProcess sim(TOWNGW_SIM_BIN, kSourceDir / "simulators/scenarios/demo.json", dir.path());
    MqttCollector collector(broker.uri(), "townbrain/v1/demo-town/+/data/ghost9.distance");
    GatewayOptions opts;
    opts.towngwd_bin = TOWNGWD_BIN;
    opts.config = kSourceDir / "config/demo.json";
    opts.log_level = "info";
    // The simulator answers unit ids it does not serve with exception 0x0B (gateway target
    // device failed to respond), as an RS-485-to-Ethernet gateway does.
    opts.overrides = {
        {"/mqtt/broker", broker.uri()},
        {"/gateway/gateway_id", "bus-exception"},
        {"/devices/0/transport/port", sim.rtu_pty()},
        {"/devices/1/transport/port", std::to_string(sim.tcp_port())},
        {"/devices/2/transport/port", std::to_string(sim.tcp_port())},
        {"/devices/3", R"({"id": "ghost9", "profile": "devices/bin_level_ultrasonic.json",
                          "transport": {"type": "modbus-tcp", "host": "127.0.0.1", "port": )" +
                           std::to_string(sim.tcp_port()) + R"(}, "unit_id": 9, "retries": 0})"},
        {"/sensors/7", R"({"id": "ghost9.distance", "device": "ghost9", "register": "distance",
                          "window_s": 1})"}};
    GatewayProcess gw(opts, dir.path());

    std::optional<json> status;
    REQUIRE(wait_until(
        [&] {
            status = status_of(gw, dir);
            if (!status) return false;
            for (const auto& d : (*status)["devices"])
                if (d.value("id", "") == "ghost9") return d["exceptions"].value("11", 0) >= 2;
            return false;
        },
        20s, 200ms));
    REQUIRE(collector.wait_for(
        [](const MessageList& all) {
            return std::any_of(all.begin(), all.end(), [](const ReceivedMessage& m) {
                return m.json && m.json->value("quality", "") == "comm_error" &&
                       m.json->value("count", -1) == 0;
            });
        },
        15s));
    for (const auto& d : (*status)["devices"]) {
        INFO(d.dump());
        if (d.value("id", "") == "ghost9") {
            CHECK(d.value("timeouts", -1) == 0);  // it answered, with an exception
            CHECK_THAT(d.value("last_error", ""),
                       Catch::Contains("Target device failed to respond"));
        }
    }
}
