// SPDX-License-Identifier: Apache-2.0
// One test per kind of configuration mistake, each checking the file and JSON Pointer named.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/config_loader.hpp"
#include "config_test_support.hpp"

using namespace gw;

namespace {

using test::kDemoPath;

std::string demo_text() {
    return test::demo_config_text();
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

TEST_CASE("window rules shared by the loader and the set-window command", "[unit][config]") {
    CHECK(window_length_error(60).empty());
    CHECK(window_length_error(86400).empty());
    CHECK_THAT(window_length_error(7), Catch::Contains("must divide a day"));
    CHECK_THAT(window_length_error(0), Catch::Contains("between 1 and 86400"));
    CHECK_THAT(window_length_error(172800), Catch::Contains("between 1 and 86400"));
    DeviceConfig device;
    device.id = "flow1";
    device.poll_period = std::chrono::milliseconds(10'000);
    CHECK(window_vs_device_error(10, device).empty());
    CHECK_THAT(window_vs_device_error(5, device),
               Catch::Contains("shorter than device \"flow1\"'s poll period (10000 ms)"));
    device.kind = SourceKind::Chirpstack;
    device.poll_period = std::chrono::milliseconds(600'000);
    CHECK_THAT(window_vs_device_error(300, device), Catch::Contains("uplink interval"));
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

TEST_CASE("config: mqtt.protocol_version is \"3.1.1\" by default or \"5\"", "[unit][config]") {
    auto v311 = load_config_text(demo_text(), kDemoPath);
    REQUIRE(std::holds_alternative<Config>(v311));
    CHECK(std::get<Config>(v311).mqtt.protocol_version == MqttVersion::V311);
    auto v5 = load_config_text(demo_text(), kDemoPath, {{"/mqtt/protocol_version", R"("5")"}});
    REQUIRE(std::holds_alternative<Config>(v5));
    CHECK(std::get<Config>(v5).mqtt.protocol_version == MqttVersion::V5);
    auto explicit_311 =
        load_config_text(demo_text(), kDemoPath, {{"/mqtt/protocol_version", "3.1.1"}});
    REQUIRE(std::holds_alternative<Config>(explicit_311));
    CHECK(std::get<Config>(explicit_311).mqtt.protocol_version == MqttVersion::V311);

    require_single_error(errors_with({{"/mqtt/protocol_version", R"("4")"}}),
                         "/mqtt/protocol_version", R"(must be "3.1.1" or "5")");
    // A bare 5 (--set /mqtt/protocol_version=5) is a JSON number: refused, with the fix.
    require_single_error(errors_with({{"/mqtt/protocol_version", "5"}}), "/mqtt/protocol_version",
                         R"(got 5 (with --set, quote it)");
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

// ---------------------------------------------------------------- device profile features

namespace {

/// A scratch directory holding `devices/probe.json` and a minimal config using it as device
/// "probe1" (no sensors), removed on destruction.
class ProfileFixture {
public:
    explicit ProfileFixture(const std::string& profile_text) {
        std::string tmpl =
            (std::filesystem::temp_directory_path() / "towngw-profile-XXXXXX").string();
        dir_ = ::mkdtemp(tmpl.data());
        std::filesystem::create_directories(dir_ + "/devices");
        std::ofstream(profile_path()) << profile_text;
    }
    ~ProfileFixture() { std::filesystem::remove_all(dir_); }
    ProfileFixture(const ProfileFixture&) = delete;
    ProfileFixture& operator=(const ProfileFixture&) = delete;

    std::string profile_path() const { return dir_ + "/devices/probe.json"; }

    ConfigResult load() const {
        const std::string config = R"({
          "gateway": {"town_id": "t", "gateway_id": "g"},
          "mqtt": {"broker": "tcp://127.0.0.1:1883"},
          "devices": [{"id": "probe1", "profile": "devices/probe.json",
                       "transport": {"type": "modbus-tcp", "host": "127.0.0.1"}}],
          "sensors": []
        })";
        return load_config_text(config, dir_ + "/towngw.json");
    }

    std::vector<ConfigError> errors() const {
        auto result = load();
        if (auto* errors = std::get_if<std::vector<ConfigError>>(&result)) return *errors;
        return {};
    }

    modbus::DeviceProfile profile() const {
        auto result = load();
        INFO([&] {
            std::string all;
            if (auto* errors = std::get_if<std::vector<ConfigError>>(&result))
                for (const auto& e : *errors) all += e.to_string() + "\n";
            return all;
        }());
        REQUIRE(std::holds_alternative<Config>(result));
        return std::get<Config>(result).devices.at(0).profile;
    }

private:
    std::string dir_;
};

/// One register line in a profile with the given extra keys.
std::string profile_with(const std::string& top_level, const std::string& register_keys) {
    return R"({ )" + top_level + R"( "registers": [ { "name": "v", )" + register_keys + R"( } ] })";
}

}  // namespace

TEST_CASE("profile: 1-based addressing stores 0-based wire addresses", "[unit][config]") {
    ProfileFixture fixture(R"({
      "addressing": "1-based",
      "trigger": {"address": 2, "value": 15, "wait_register": 165},
      "registers": [
        {"name": "level", "address": 5, "type": "int16", "decimals_register": 4},
        {"name": "temperature", "table": "input", "address": 1, "type": "int16"}
      ] })");
    const auto profile = fixture.profile();
    CHECK(profile.registers.at(0).address == 4);
    CHECK(profile.registers.at(0).decimals_register == std::optional<std::uint16_t>(3));
    CHECK(profile.registers.at(1).address == 0);
    REQUIRE(profile.trigger);
    CHECK(profile.trigger->address == 1);
    CHECK(profile.trigger->wait_register == std::optional<std::uint16_t>(164));

    ProfileFixture zero_based(
        profile_with(R"("addressing": "0-based",)", R"("address": 5, "type": "int16")"));
    CHECK(zero_based.profile().registers.at(0).address == 5);
}

TEST_CASE("profile error: 1-based register 0 names the pointer", "[unit][config]") {
    ProfileFixture address(
        profile_with(R"("addressing": "1-based",)", R"("address": 0, "type": "int16")"));
    require_single_error(address.errors(), "/registers/0/address", "counts registers from 1",
                         address.profile_path());

    ProfileFixture decimals(profile_with(
        R"("addressing": "1-based",)", R"("address": 5, "type": "int16", "decimals_register": 0)"));
    require_single_error(decimals.errors(), "/registers/0/decimals_register",
                         "the first register is 1", decimals.profile_path());

    ProfileFixture trigger(profile_with(
        R"("addressing": "1-based", "trigger": {"address": 1, "value": 1, "wait_register": 0},)",
        R"("address": 5, "type": "int16")"));
    require_single_error(trigger.errors(), "/trigger/wait_register", "counts registers from 1",
                         trigger.profile_path());

    ProfileFixture top(profile_with(R"("addressing": "one",)", R"("address": 5, "type": "int16")"));
    require_single_error(top.errors(), "/addressing", R"(must be one of "0-based","1-based")",
                         top.profile_path());

    ProfileFixture past_end(
        profile_with(R"("addressing": "1-based",)", R"("address": 65536, "type": "float32")"));
    require_single_error(past_end.errors(), "/registers/0/address",
                         "a float32 at 65536 runs past register 65536", past_end.profile_path());
}

TEST_CASE("profile: bit fields parse with defaults", "[unit][config]") {
    ProfileFixture fixture(R"({ "registers": [
        {"name": "alarm", "address": 0, "type": "uint16", "bit_offset": 3},
        {"name": "mode", "address": 0, "type": "int32", "bit_offset": 4, "bit_count": 28},
        {"name": "low", "address": 0, "type": "uint16", "bit_count": 4},
        {"name": "whole", "address": 0, "type": "uint16"} ] })");
    const auto profile = fixture.profile();
    REQUIRE(profile.registers.at(0).bit_field);
    CHECK(profile.registers[0].bit_field->offset == 3);
    CHECK(profile.registers[0].bit_field->count == 1);
    CHECK(profile.registers[1].bit_field->offset == 4);
    CHECK(profile.registers[1].bit_field->count == 28);
    CHECK(profile.registers[2].bit_field->offset == 0);
    CHECK(profile.registers[2].bit_field->count == 4);
    CHECK_FALSE(profile.registers[3].bit_field);
}

TEST_CASE("profile error: bit fields on floats or past the type's width", "[unit][config]") {
    ProfileFixture on_float(
        profile_with("", R"("address": 0, "type": "float32", "bit_offset": 1)"));
    require_single_error(on_float.errors(), "/registers/0/bit_offset",
                         "bit fields need an integer type", on_float.profile_path());

    ProfileFixture count_on_float(
        profile_with("", R"("address": 0, "type": "float64", "bit_count": 2)"));
    require_single_error(count_on_float.errors(), "/registers/0/bit_count", "not float64",
                         count_on_float.profile_path());

    ProfileFixture offset_range(
        profile_with("", R"("address": 0, "type": "int16", "bit_offset": 16)"));
    require_single_error(offset_range.errors(), "/registers/0/bit_offset",
                         "between 0 and 15, got 16", offset_range.profile_path());

    ProfileFixture count_range(
        profile_with("", R"("address": 0, "type": "uint32", "bit_count": 0)"));
    require_single_error(count_range.errors(), "/registers/0/bit_count", "between 1 and 32, got 0",
                         count_range.profile_path());

    ProfileFixture too_wide(
        profile_with("", R"("address": 0, "type": "uint16", "bit_offset": 12, "bit_count": 5)"));
    require_single_error(too_wide.errors(), "/registers/0/bit_count",
                         "bits 12..16 do not fit in a 16-bit uint16", too_wide.profile_path());
}

TEST_CASE("profile: measuring range, and its errors", "[unit][config]") {
    ProfileFixture fixture(
        profile_with("", R"("address": 0, "type": "float32", "range": [0, 14])"));
    const auto profile = fixture.profile();
    REQUIRE(profile.registers.at(0).range);
    CHECK(profile.registers[0].range->min == 0.0);
    CHECK(profile.registers[0].range->max == 14.0);

    ProfileFixture reversed(profile_with("", R"("address": 0, "type": "int16", "range": [5, 0])"));
    require_single_error(reversed.errors(), "/registers/0/range",
                         "must be [min, max] with min < max, got [5, 0]", reversed.profile_path());

    ProfileFixture shape(profile_with("", R"("address": 0, "type": "int16", "range": [5])"));
    require_single_error(shape.errors(), "/registers/0/range", "two numbers", shape.profile_path());

    ProfileFixture text(profile_with("", R"("address": 0, "type": "int16", "range": "0..5")"));
    require_single_error(text.errors(), "/registers/0/range", "two numbers", text.profile_path());
}

TEST_CASE("profile: merge_gap default, value and limits", "[unit][config]") {
    ProfileFixture fallback(profile_with("", R"("address": 0, "type": "int16")"));
    CHECK(fallback.profile().merge_gap == modbus::kDefaultMergeGap);

    ProfileFixture strict(profile_with(R"("merge_gap": 0,)", R"("address": 0, "type": "int16")"));
    CHECK(strict.profile().merge_gap == 0);

    ProfileFixture too_big(
        profile_with(R"("merge_gap": 125,)", R"("address": 0, "type": "int16")"));
    require_single_error(too_big.errors(), "/merge_gap", "between 0 and 124, got 125",
                         too_big.profile_path());
}

TEST_CASE("profile: measurement trigger parses with defaults", "[unit][config]") {
    ProfileFixture fixture(profile_with(R"("trigger": {"address": 1, "value": 15},)",
                                        R"("address": 83, "type": "float32")"));
    const auto profile = fixture.profile();
    REQUIRE(profile.trigger);
    CHECK(profile.trigger->address == 1);
    CHECK(profile.trigger->value == 15);
    CHECK(profile.trigger->function == modbus::TriggerSpec::Function::WriteSingle);
    CHECK_FALSE(profile.trigger->wait_register);
    CHECK(profile.trigger->wait_ms == 500);

    ProfileFixture full(profile_with(
        R"("trigger": {"address": 1, "value": 15, "function": "write_multiple",
                       "wait_register": 164, "wait_ms": 2000},)",
        R"("address": 83, "type": "float32")"));
    const auto full_profile = full.profile();
    REQUIRE(full_profile.trigger);
    CHECK(full_profile.trigger->function == modbus::TriggerSpec::Function::WriteMultiple);
    CHECK(full_profile.trigger->wait_register == std::optional<std::uint16_t>(164));
    CHECK(full_profile.trigger->wait_ms == 2000);

    ProfileFixture none(profile_with("", R"("address": 0, "type": "int16")"));
    CHECK_FALSE(none.profile().trigger);
}

TEST_CASE("profile error: measurement trigger mistakes name their pointer", "[unit][config]") {
    const std::string reg = R"("address": 83, "type": "float32")";
    struct Case {
        std::string trigger;
        std::string pointer;
        std::string words;
    };
    const Case cases[] = {
        {R"({"value": 15})", "/trigger/address", "is required"},
        {R"({"address": 1})", "/trigger/value", "is required"},
        {R"({"address": 1, "value": 70000})", "/trigger/value", "between 0 and 65535"},
        {R"({"address": 1, "value": 15, "function": "fc06"})", "/trigger/function",
         R"(must be one of "write_single","write_multiple")"},
        {R"({"address": 1, "value": 15, "wait_ms": 60001})", "/trigger/wait_ms",
         "between 0 and 60000, got 60001"},
        {R"({"address": 1, "value": 15, "wait_register": -1})", "/trigger/wait_register",
         "between 0 and 65535"},
        {R"({"address": 1, "value": 15, "wait": 5})", "/trigger/wait", "unknown key"},
        {R"([1, 15])", "/trigger", "must be an object"},
    };
    for (const auto& c : cases) {
        INFO(c.trigger);
        ProfileFixture fixture(profile_with(R"("trigger": )" + c.trigger + ",", reg));
        require_single_error(fixture.errors(), c.pointer, c.words, fixture.profile_path());
    }
}

TEST_CASE("config: a device with inline registers takes the profile keys too", "[unit][config]") {
    std::string text = demo_text();
    const std::string from = R"("profile": "devices/flow_meter_tuf.json",)";
    text.replace(text.find(from), from.size(),
                 R"("addressing": "1-based", "merge_gap": 0,
                    "trigger": {"address": 2, "value": 1},
                    "registers": [{"name":"flow","address":1,"type":"float32"},
                                  {"name":"totaliser","address":9,"type":"int32"}],)");
    // Without units these points cannot feed the demo's flow meter analytics: not the subject.
    auto result = load_config_text(text, kDemoPath, {{"/analytics", "{}"}});
    REQUIRE(std::holds_alternative<Config>(result));
    const auto& profile = std::get<Config>(result).devices.at(1).profile;
    CHECK(profile.registers.at(0).address == 0);
    CHECK(profile.registers.at(1).address == 8);
    CHECK(profile.merge_gap == 0);
    REQUIRE(profile.trigger);
    CHECK(profile.trigger->address == 1);

    std::string without_profile = demo_text();
    without_profile.replace(without_profile.find(from), from.size(), "");
    const auto errors = errors_with({{"/devices/1/registers",
                                      R"([{"name":"flow","address":0,"type":"float32"},
              {"name":"totaliser","address":9,"type":"int32"}])"},
                                     {"/devices/1/addressing", R"("1-based")"}},
                                    without_profile);
    require_single_error(errors, "/devices/1/registers/0/address", "counts registers from 1");
}

TEST_CASE("the shipped device profiles are valid", "[unit][config]") {
    for (const auto& entry :
         std::filesystem::directory_iterator(std::string(TOWNGW_SOURCE_DIR) + "/config/devices")) {
        INFO(entry.path().string());
        std::ifstream in(entry.path());
        std::ostringstream text;
        text << in.rdbuf();
        ProfileFixture fixture(text.str());
        const auto profile = fixture.profile();
        CHECK_FALSE(profile.registers.empty());
        for (const auto& reg : profile.registers) {
            // Totalisers are exact integers (float32 loses whole m3 above 1.7e7).
            if (reg.metric == "flow_total") CHECK(modbus::is_integer(reg.type));
        }
    }
}

// ---------------------------------------------------------------- IIO analog inputs

namespace {

const std::string kIioDevice = R"({
  "id": "adc1",
  "transport": {"type": "iio", "device": "/sys/bus/iio/devices/iio:device99"},
  "poll_ms": 500,
  "channels": [
    {"name": "level", "channel": 0, "mode": "current", "shunt_ohm": 250, "milliamps": [4, 20],
     "range": [0, 5], "unit": "m", "metric": "water_level"},
    {"name": "pressure", "channel": 3, "mode": "voltage", "volts": [0, 10], "range": [0, 1.6],
     "unit": "MPa"}
  ]})";

/// The demo configuration plus the IIO device above (as /devices/3), with `overrides` on top.
std::vector<ConfigOverride> with_iio_device(std::vector<ConfigOverride> overrides = {}) {
    overrides.insert(overrides.begin(), {"/devices/3", kIioDevice});
    return overrides;
}

}  // namespace

TEST_CASE("config: an iio device with a 4-20 mA and a 0-10 V channel", "[unit][config][iio]") {
    // The device directory does not exist here: not a config error (the ADC driver may load
    // later), so this loads.
    auto result =
        load_config_text(demo_text(), kDemoPath,
                         with_iio_device({{"/sensors/7", R"({"id": "adc1.level", "device": "adc1",
                                            "register": "level", "window_s": 5})"}}));
    REQUIRE(std::holds_alternative<Config>(result));
    const auto& config = std::get<Config>(result);
    const auto& device = config.devices.at(3);
    CHECK(device.kind == SourceKind::Iio);
    CHECK(device.iio_directory == "/sys/bus/iio/devices/iio:device99");
    CHECK(device.poll_period == std::chrono::milliseconds(500));
    REQUIRE(device.iio_channels.size() == 2);
    const auto& level = device.iio_channels[0];
    CHECK(level.index == 0);
    CHECK(level.mapping.mode == iio::SignalMode::Current);
    CHECK(level.mapping.shunt_ohm == 250.0);
    CHECK(level.mapping.milliamps.min == 4.0);
    CHECK(level.mapping.range.max == 5.0);
    const auto& pressure = device.iio_channels[1];
    CHECK(pressure.index == 3);
    CHECK(pressure.mapping.mode == iio::SignalMode::Voltage);
    CHECK(pressure.mapping.volts.max == 10.0);
    CHECK(pressure.unit == "MPa");
    // The channels are the device's points, so sensors resolve them like registers.
    REQUIRE(device.profile.registers.size() == 2);
    CHECK(device.profile.registers[1].name == "pressure");
    CHECK(device.profile.registers[1].metric == "pressure");
    REQUIRE(device.profile.registers[0].range);
    CHECK(device.profile.registers[0].range->max == 5.0);
    const auto& sensor = config.sensors.at(7);
    CHECK(sensor.device_index == 3);
    CHECK(sensor.register_index == 0);
    CHECK(sensor.metric == "water_level");
    CHECK(sensor.unit == "m");

    // milliamps defaults to 4-20, volts to 0-10.
    std::string without_spans = kIioDevice;
    for (const std::string span : {R"("milliamps": [4, 20],)", R"("volts": [0, 10],)"})
        without_spans.replace(without_spans.find(span), span.size(), "");
    auto defaults = load_config_text(demo_text(), kDemoPath, {{"/devices/3", without_spans}});
    REQUIRE(std::holds_alternative<Config>(defaults));
    const auto& default_channels = std::get<Config>(defaults).devices.at(3).iio_channels;
    CHECK(default_channels.at(0).mapping.milliamps.min == 4.0);
    CHECK(default_channels.at(0).mapping.milliamps.max == 20.0);
    CHECK(default_channels.at(1).mapping.volts.min == 0.0);
    CHECK(default_channels.at(1).mapping.volts.max == 10.0);
}

TEST_CASE("config error: iio device and channel mistakes name their pointer",
          "[unit][config][iio]") {
    const std::string c0 = "/devices/3/channels/0";
    const std::string c1 = "/devices/3/channels/1";
    struct Case {
        std::vector<ConfigOverride> overrides;
        std::string pointer;
        std::string words;
    };
    const std::vector<Case> cases = {
        {{{c0 + "/shunt_ohm", "0"}}, c0 + "/shunt_ohm", "must be more than 0"},
        {{{c0 + "/shunt_ohm", "-250"}}, c0 + "/shunt_ohm", "must be more than 0"},
        {{{c0 + "/range", "[5, 0]"}}, c0 + "/range", "min < max, got [5, 0]"},
        {{{c0 + "/range", "[1, 1]"}}, c0 + "/range", "min < max"},
        {{{c0 + "/milliamps", "[20, 4]"}}, c0 + "/milliamps", "min < max"},
        {{{c1 + "/volts", "[10]"}}, c1 + "/volts", "two numbers"},
        {{{c0 + "/mode", R"("amps")"}}, c0 + "/mode", R"(must be one of "voltage","current")"},
        {{{c1 + "/shunt_ohm", "250"}}, c1 + "/shunt_ohm", R"(does not apply to "mode": "voltage")"},
        {{{c0 + "/volts", "[0, 10]"}}, c0 + "/volts", R"(does not apply to "mode": "current")"},
        {{{c0 + "/channel", "-1"}}, c0 + "/channel", "between 0 and 1023"},
        {{{c0 + "/gain", "2"}}, c0 + "/gain", "unknown key"},
        {{{c1 + "/name", R"("level")"}}, c1 + "/name", R"(duplicate channel name "level")"},
        {{{"/devices/3/transport/device", R"("iio:device0")"}},
         "/devices/3/transport/device",
         "must be an absolute path"},
        {{{"/devices/3/transport/port", "1"}}, "/devices/3/transport/port", "unknown key"},
        {{{"/devices/3/profile", R"("devices/x.json")"}},
         "/devices/3/profile",
         R"(an iio device takes no "profile")"},
        {{{"/devices/3/unit_id", "1"}}, "/devices/3/unit_id", "unknown key"},
        {{{"/devices/3/channels", "[]"}}, "/devices/3/channels", "non-empty array"},
        {{{"/devices/3/poll_ms", "50"}}, "/devices/3/poll_ms", "between 100 and"},
    };
    for (const auto& c : cases) {
        INFO(c.overrides.front().pointer << " = " << c.overrides.front().value);
        require_single_error(errors_with(with_iio_device(c.overrides)), c.pointer, c.words);
    }

    // Required keys.
    std::string without_shunt = kIioDevice;
    const std::string shunt = R"("shunt_ohm": 250,)";
    without_shunt.replace(without_shunt.find(shunt), shunt.size(), "");
    require_single_error(errors_with({{"/devices/3", without_shunt}}), c0 + "/shunt_ohm",
                         "is required");
    std::string without_range = kIioDevice;
    const std::string range = R"("range": [0, 1.6],)";
    without_range.replace(without_range.find(range), range.size(), "");
    require_single_error(errors_with({{"/devices/3", without_range}}), c1 + "/range",
                         "is required");
}

TEST_CASE("calibration models default from the metric and can be configured", "[unit][config]") {
    auto result = load_config_text(
        demo_text(), kDemoPath,
        {{"/sensors/2/calibration", R"({"valid_days": 14, "probe_serial": "NTU-7"})"},
         {"/sensors/0/calibration", R"({"ph_buffers": "technical", "raw_unit": "mV"})"}});
    REQUIRE(std::holds_alternative<Config>(result));
    const auto& sensors = std::get<Config>(result).sensors;
    CHECK(sensors[0].calibration.model == "ph");
    CHECK(sensors[0].calibration.valid_days == 30);
    CHECK(sensors[0].calibration.ph_buffers == "technical");
    CHECK(sensors[0].calibration.raw_is_mv);
    CHECK(sensors[1].calibration.model == "offset");  // water temperature
    CHECK(sensors[2].calibration.model == "turbidity");
    CHECK(sensors[2].calibration.valid_days == 14);
    CHECK(sensors[2].calibration.probe_serial == "NTU-7");
    CHECK(sensors[3].calibration.model == "zero");  // flow rate
    CHECK(sensors[6].calibration.model == "bin");   // fill level
    CHECK(sensors[6].calibration.valid_days == 365);
}

TEST_CASE("config error: calibration model, buffers and unit are checked", "[unit][config]") {
    require_single_error(errors_with({{"/sensors/0/calibration", R"({"model": "magic"})"}}),
                         "/sensors/0/calibration/model", "unknown model \"magic\"");
    require_single_error(errors_with({{"/sensors/0/calibration", R"({"ph_buffers": "din"})"}}),
                         "/sensors/0/calibration/ph_buffers", "gb");
    require_single_error(errors_with({{"/sensors/0/calibration", R"({"raw_unit": "V"})"}}),
                         "/sensors/0/calibration/raw_unit", "mV");
    require_single_error(errors_with({{"/sensors/5/calibration", R"({"model": "bin"})"}}),
                         "/sensors/5/calibration/model", "no fill_level");
    require_single_error(errors_with({{"/sensors/0/calibration", R"({"valid_days": 0})"}}),
                         "/sensors/0/calibration/valid_days", "");
}

TEST_CASE("config error: TLS settings and password files are checked", "[unit][config]") {
    require_single_error(errors_with({{"/mqtt/broker", "ssl://broker.example:8883"}}), "/mqtt/tls",
                         "is required for an ssl:// broker");
    require_single_error(errors_with({{"/mqtt/tls", R"({"ca_file": ")" + kDemoPath + R"("})"}}),
                         "/mqtt/tls", "TLS needs an ssl://HOST:PORT broker");
    require_single_error(errors_with({{"/mqtt/broker", "ssl://broker.example:8883"},
                                      {"/mqtt/tls", R"({"ca_file": "/nonexistent/ca.pem"})"}}),
                         "/mqtt/tls/ca_file", "cannot read \"/nonexistent/ca.pem\"");
    require_single_error(
        errors_with({{"/mqtt/broker", "ssl://broker.example:8883"},
                     {"/mqtt/tls", R"({"ca_file": ")" + kDemoPath + R"(", "cert_file": ")" +
                                       kDemoPath + R"("})"}}),
        "/mqtt/tls/key_file", "go together");
    require_single_error(errors_with({{"/mqtt/password", "x"}, {"/mqtt/password_file", kDemoPath}}),
                         "/mqtt/password_file", "not both");
    require_single_error(errors_with({{"/mqtt/password_file", "/nonexistent/pass"}}),
                         "/mqtt/password_file", "cannot read");
    // mqtts:// is accepted and handed to Paho as ssl://.
    auto ok = load_config_text(demo_text(), kDemoPath,
                               {{"/mqtt/broker", "mqtts://broker.example:8883"},
                                {"/mqtt/tls", R"({"ca_file": ")" + kDemoPath + R"("})"}});
    REQUIRE(std::holds_alternative<Config>(ok));
    const auto& mqtt = std::get<Config>(ok).mqtt;
    CHECK(mqtt.broker == "ssl://broker.example:8883");
    REQUIRE(mqtt.tls);
    CHECK(mqtt.tls->verify_hostname);
}

TEST_CASE("config: a sensor's coverage threshold is a share of the expected samples",
          "[unit][config]") {
    auto result =
        load_config_text(demo_text(), kDemoPath, {{"/sensors/2/coverage_threshold", "0.9"}});
    REQUIRE(std::holds_alternative<Config>(result));
    CHECK(std::get<Config>(result).sensors[2].coverage_threshold == 0.9);
    CHECK(std::get<Config>(result).sensors[0].coverage_threshold == 0.75);
    require_single_error(errors_with({{"/sensors/2/coverage_threshold", "0"}}),
                         "/sensors/2/coverage_threshold", "more than 0 and at most 1");
    require_single_error(errors_with({{"/sensors/2/coverage_threshold", "1.5"}}),
                         "/sensors/2/coverage_threshold", "more than 0 and at most 1");
}
