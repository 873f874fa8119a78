// SPDX-License-Identifier: Apache-2.0
// Every value type (int16 … float64) in every byte/word order, read from towngw-sim over Modbus
// TCP and over RTU on a pty, must arrive on MQTT as exactly the value the simulator served. The
// simulator's encoder and the gateway's decoder are independent implementations.
#include <catch2/catch.hpp>
#include <chrono>
#include <map>

#include "support.hpp"

using namespace std::chrono_literals;
using namespace gw::test;
using nlohmann::json;

namespace {
const std::filesystem::path kSourceDir = TOWNGW_SOURCE_DIR;
const std::filesystem::path kConfigs = kSourceDir / "tests/integration/configs";
}  // namespace

TEST_CASE("every value type and word order decodes to the served value over TCP and RTU",
          "[integration][bus][types]") {
    const std::string transport = GENERATE(std::string("tcp"), std::string("rtu"));
    INFO("transport " << transport);
    TempDir dir;
    MosquittoBroker broker(dir.path());
    SimProcess sim(TOWNGW_SIM_BIN, kConfigs / "all_types_scenario.json", dir.path());
    MqttCollector collector(broker.uri(), "townbrain/v1/test-town/types/data/#");

    GatewayOptions opts;
    opts.towngwd_bin = TOWNGWD_BIN;
    opts.config = kConfigs / "all_types.json";
    opts.log_level = "info";
    opts.overrides = {{"/mqtt/broker", broker.uri()}};
    if (transport == "tcp") {
        opts.overrides.push_back({"/devices/0/transport/port", std::to_string(sim.tcp_port())});
    } else {
        opts.overrides.push_back(
            {"/devices/0/transport",
             R"({"type": "modbus-rtu", "port": ")" + sim.rtu_pty() + R"(", "baud": 9600})"});
    }
    GatewayProcess gw(opts, dir.path());

    // What the simulator says it served for this transport's device, per point.
    std::map<std::string, double> served;
    REQUIRE(wait_until(
        [&] {
            for (const auto& v : sim.served())
                if (v.device == "types_" + transport) served[v.point] = v.value;
            return served.size() == 24;
        },
        20s, 100ms));

    std::map<std::string, json> good_windows;  // point -> last good window
    const bool all_arrived = collector.wait_for(
        [&](const MessageList& all) {
            for (const auto& m : all) {
                if (!m.json || m.json->value("quality", "") != "good") continue;
                const std::string sensor = m.json->value("sensor", "");
                good_windows[sensor.substr(sensor.find('.') + 1)] = *m.json;
            }
            return good_windows.size() == 24;
        },
        30s);
    INFO("towngwd log:\n" << gw.log_text());
    REQUIRE(all_arrived);
    for (const auto& [point, value] : served) {
        INFO(point << " served " << value << ", window " << good_windows[point].dump());
        REQUIRE(good_windows.count(point) == 1);
        const json& w = good_windows[point];
        // min == max == last == served: a constant was decoded identically on every poll.
        CHECK(w["last"].get<double>() == Approx(value).epsilon(1e-12));
        CHECK(w["min"].get<double>() == Approx(value).epsilon(1e-12));
        CHECK(w["max"].get<double>() == Approx(value).epsilon(1e-12));
        CHECK(w.value("flag", "") == "N");
    }
}
