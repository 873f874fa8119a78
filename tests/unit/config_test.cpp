// SPDX-License-Identifier: Apache-2.0
// One test per kind of configuration mistake, each checking the file and JSON Pointer named.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/config_loader.hpp"

using namespace gw;

namespace {

const std::string kDemoPath = std::string(TOWNGW_SOURCE_DIR) + "/config/demo.json";

std::string demo_text() {
    std::ifstream in(kDemoPath);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

std::vector<ConfigError> errors_with(std::vector<ConfigOverride> overrides,
                                     const std::string& text = demo_text()) {
    auto result = load_config_text(text, kDemoPath, overrides);
    if (auto* errors = std::get_if<std::vector<ConfigError>>(&result)) return *errors;
    return {};
}

/// Exactly one error, at `pointer`, in `file`, containing `words`.
void require_single_error(const std::vector<ConfigError>& errors, const std::string& pointer,
                          const std::string& words, const std::string& file = kDemoPath) {
    INFO([&] {
        std::string all;
        for (const auto& e : errors) all += e.to_string() + "\n";
        return all;
    }());
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].file == file);
    CHECK(errors[0].pointer == pointer);
    CHECK_THAT(errors[0].message, Catch::Contains(words));
}

}  // namespace

TEST_CASE("the shipped demo configuration is valid", "[unit][config]") {
    auto result = load_config(kDemoPath);
    REQUIRE(std::holds_alternative<Config>(result));
    const auto& config = std::get<Config>(result);
    CHECK(config.devices.size() == 3);
    CHECK(config.sensors.size() == 7);
    CHECK(config.topic_root() == "townbrain/v1/demo-town/gw-demo-01");
    CHECK(config.mqtt.client_id == "towngw-gw-demo-01");
    const auto& flow = config.devices[1];
    CHECK(flow.profile.registers.at(1).type == modbus::ValueType::Int32);
    CHECK(flow.profile.registers.at(1).word_order == modbus::WordOrder::CDAB);
    const auto& fill = config.sensors[6];
    REQUIRE(fill.fill_level);
    CHECK(fill.metric == "fill_level");
    CHECK(fill.unit == "%");
    CHECK(fill.device_index == 2);
}

TEST_CASE("config error: invalid enum value names the pointer", "[unit][config]") {
    std::string text = demo_text();
    const std::string from = R"("profile": "devices/flow_meter_tuf.json",)";
    text.replace(text.find(from), from.size(),
                 R"("registers": [{"name":"flow","address":0,"type":"float32","word_order":"XYZW"},
                                  {"name":"totaliser","address":8,"type":"int32"}],)");
    auto errors = errors_with({}, text);
    require_single_error(errors, "/devices/1/registers/0/word_order",
                         R"(must be one of "ABCD","CDAB","BADC","DCBA")");
    CHECK(errors[0].to_string() ==
          "error: " + kDemoPath +
              R"(: /devices/1/registers/0/word_order: must be one of "ABCD","CDAB","BADC","DCBA")");
}

TEST_CASE("config error: unknown key (typo) is rejected", "[unit][config]") {
    require_single_error(errors_with({{"/mqtt/keepalive", "10"}}), "/mqtt/keepalive",
                         "unknown key");
}

TEST_CASE("config error: wrong type", "[unit][config]") {
    require_single_error(errors_with({{"/devices/0/poll_ms", "\"fast\""}}), "/devices/0/poll_ms",
                         "must be an integer between 100 and 86400000");
}

TEST_CASE("config error: number out of range", "[unit][config]") {
    require_single_error(errors_with({{"/devices/0/unit_id", "300"}}), "/devices/0/unit_id",
                         "between 1 and 247, got 300");
}

TEST_CASE("config error: required key missing", "[unit][config]") {
    std::string text = demo_text();
    const std::string from = R"("gateway_id": "gw-demo-01")";
    text.replace(text.find(from), from.size(), R"("log_level": "info")");
    require_single_error(errors_with({}, text), "/gateway/gateway_id", "is required");
}

TEST_CASE("config error: sensor names a device that does not exist", "[unit][config]") {
    require_single_error(errors_with({{"/sensors/2/device", "water9"}}), "/sensors/2/device",
                         R"(no device has id "water9" (devices: water1, flow1, bin1))");
}

TEST_CASE("config error: sensor names a register the profile lacks", "[unit][config]") {
    require_single_error(errors_with({{"/sensors/3/register", "flw"}}), "/sensors/3/register",
                         R"(device "flow1" has no register "flw" (registers: flow, totaliser))");
}

TEST_CASE("config error: duplicate ids", "[unit][config]") {
    require_single_error(errors_with({{"/sensors/1/id", "water1.ph"}}), "/sensors/1/id",
                         R"(duplicate sensor id "water1.ph" (also at /sensors/0))");
}

TEST_CASE("config error: ids must be topic-safe", "[unit][config]") {
    require_single_error(errors_with({{"/gateway/town_id", "lishui/#"}}), "/gateway/town_id",
                         "used in MQTT topics");
}

TEST_CASE("config error: invalid JSON names line and column", "[unit][config]") {
    auto errors = errors_with({}, "{\n  \"gateway\": {,\n}");
    require_single_error(errors, "/", "line 2");
}

TEST_CASE("config error: a missing profile file is named", "[unit][config]") {
    require_single_error(errors_with({{"/devices/2/profile", "devices/nope.json"}}),
                         "/devices/2/profile", "nope.json");
}

TEST_CASE("config error: a mistake inside a profile file names that file", "[unit][config]") {
    // A profile with a bad type, written next to a config that uses it.
    std::string tmpl = (std::filesystem::temp_directory_path() / "towngw-config-XXXXXX").string();
    const std::string dir = ::mkdtemp(tmpl.data());
    std::filesystem::create_directories(dir + "/devices");
    {
        std::ofstream(dir + "/devices/broken.json")
            << R"({ "registers": [ { "name": "ph", "address": 0, "type": "float" } ] })";
    }
    auto result = load_config_text(demo_text(), dir + "/towngw.json",
                                   {{"/devices/0/profile", "devices/broken.json"},
                                    {"/sensors/1/register", "ph"},
                                    {"/sensors/2/register", "ph"}});
    std::filesystem::remove_all(dir);
    REQUIRE(std::holds_alternative<std::vector<ConfigError>>(result));
    const auto& errors = std::get<std::vector<ConfigError>>(result);
    // The water1 profile is broken; the flow and bin profiles resolve relative to dir and are
    // missing there, so look for the one error about the broken profile.
    auto it = std::find_if(errors.begin(), errors.end(), [&](const ConfigError& e) {
        return e.file == dir + "/devices/broken.json";
    });
    REQUIRE(it != errors.end());
    CHECK(it->pointer == "/registers/0/type");
    CHECK_THAT(it->message, Catch::Contains("must be one of \"int16\""));
}

TEST_CASE("config error: fill level with full below empty is impossible", "[unit][config]") {
    require_single_error(errors_with({{"/sensors/6/fill_level/full_mm", "1500"}}),
                         "/sensors/6/fill_level/full_mm", "must be less than empty_mm");
}

TEST_CASE("config error: window must divide a day", "[unit][config]") {
    require_single_error(errors_with({{"/sensors/0/window_s", "7"}}), "/sensors/0/window_s",
                         "must divide a day");
}

TEST_CASE("config error: window shorter than the poll period", "[unit][config]") {
    // water1 polls every 10 s, but its three sensors have 5 s windows.
    auto errors = errors_with({{"/devices/0/poll_ms", "10000"}});
    REQUIRE(errors.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(errors[i].pointer == "/sensors/" + std::to_string(i) + "/window_s");
        CHECK_THAT(errors[i].message,
                   Catch::Contains("shorter than device \"water1\"'s poll period (10000 ms)"));
    }
}

TEST_CASE("config error: one RS-485 line, two baud rates", "[unit][config]") {
    auto errors = errors_with(
        {{"/devices/1/transport", R"({"type":"modbus-rtu","port":"/dev/ttyUSB0","baud":19200})"},
         {"/devices/1/unit_id", "2"}});
    require_single_error(errors, "/devices/1/transport", "other line settings");
}

TEST_CASE("config error: two devices with one unit id on one bus", "[unit][config]") {
    require_single_error(errors_with({{"/devices/2/unit_id", "1"}}), "/devices/2/unit_id",
                         R"(unit id 1 is already used on tcp:127.0.0.1:1502 by device "flow1")");
}

TEST_CASE("config error: broker URI", "[unit][config]") {
    require_single_error(errors_with({{"/mqtt/broker", "localhost"}}), "/mqtt/broker",
                         "tcp://HOST:PORT");
}

TEST_CASE("config error: every mistake is reported, not just the first", "[unit][config]") {
    auto errors = errors_with({{"/mqtt/keepalive_s", "0"},
                               {"/devices/0/transport/parity", "X"},
                               {"/sensors/0/window_s", "0"}});
    CHECK(errors.size() == 3);
}

TEST_CASE("config overrides (--set): values, strings and bad pointers", "[unit][config]") {
    auto result = load_config_text(demo_text(), kDemoPath,
                                   {{"/mqtt/broker", "tcp://127.0.0.1:4242"},
                                    {"/devices/1/transport/port", "1502"},
                                    {"/sensors/0/window_s", "10"}});
    REQUIRE(std::holds_alternative<Config>(result));
    CHECK(std::get<Config>(result).mqtt.broker == "tcp://127.0.0.1:4242");
    CHECK(std::get<Config>(result).sensors[0].window == std::chrono::seconds(10));

    auto errors = errors_with({{"/devices/7/id", "x"}});
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].file == "--set");
    CHECK(errors[0].pointer == "/devices/7/id");

    ConfigOverride o;
    CHECK(parse_override("/a/b=c=d", o));
    CHECK(o.pointer == "/a/b");
    CHECK(o.value == "c=d");
    CHECK_FALSE(parse_override("a/b=1", o));
    CHECK_FALSE(parse_override("/a/b", o));
}
