// SPDX-License-Identifier: Apache-2.0
// "hj212.platforms": a valid platform, the defaults and derived values, and one test per kind
// of mistake, each checking the JSON Pointer and the words of its error (the approach of
// config_test.cpp: config/demo.json plus --set overrides).
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "config/config_loader.hpp"
#include "config_test_support.hpp"

using namespace gw;

namespace {

using test::kDemoPath;

/// config/demo.json with three more water sensors in mg/L or mS/cm (any register, the unit
/// given): COD, NH3-N and conductivity, indices 7, 8, 9.
std::string demo_text() {
    return test::demo_config_with_sensors(R"(
    { "id": "water1.cod", "device": "water1", "register": "turbidity", "window_s": 5,
      "metric": "cod", "unit": "mg/L" },
    { "id": "water1.nh3n", "device": "water1", "register": "turbidity", "window_s": 5,
      "metric": "ammonia_nitrogen", "unit": "mg/l" },
    { "id": "water1.conductivity", "device": "water1", "register": "turbidity", "window_s": 5,
      "metric": "conductivity", "unit": "mS/cm" })");
}

/// The documented example: pH, COD, NH3-N and the flow (m3/h, sent in L/s), defaults elsewhere.
const std::string kPlatform = R"({
  "name": "county-epb", "host": "hj212.example.gov.cn", "port": 8001,
  "mn": "010000A8900016F000169DC0",
  "pollutants": [
    { "code": "w01001", "sensor": "water1.ph" },
    { "code": "w01018", "sensor": "water1.cod" },
    { "code": "w21003", "sensor": "water1.nh3n" },
    { "code": "w00000", "sensor": "flow1.flow" }
  ]
})";

const std::string kHj212 = R"({ "platforms": [ )" + kPlatform + R"( ] })";

ConfigResult load_with(std::vector<ConfigOverride> overrides) {
    overrides.insert(overrides.begin(), {"/hj212", kHj212});
    return load_config_text(demo_text(), kDemoPath, overrides);
}

std::vector<ConfigError> errors_with(std::vector<ConfigOverride> overrides) {
    auto result = load_with(std::move(overrides));
    if (auto* errors = std::get_if<std::vector<ConfigError>>(&result)) return *errors;
    return {};
}

std::string all_errors(const std::vector<ConfigError>& errors) {
    std::string all;
    for (const auto& e : errors) all += e.to_string() + "\n";
    return all;
}

/// Exactly one error, at `pointer` in the config file, containing `words`.
void require_single_error(const std::vector<ConfigError>& errors, const std::string& pointer,
                          const std::string& words) {
    INFO(all_errors(errors));
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].file == kDemoPath);
    CHECK(errors[0].pointer == pointer);
    CHECK_THAT(errors[0].message, Catch::Contains(words));
}

Config loaded(std::vector<ConfigOverride> overrides) {
    auto result = load_with(std::move(overrides));
    if (auto* errors = std::get_if<std::vector<ConfigError>>(&result)) {
        FAIL(all_errors(*errors));
    }
    return std::get<Config>(result);
}

const std::string P = "/hj212/platforms/0";

}  // namespace

TEST_CASE("hj212 config: absent section means no platforms", "[unit][config][hj212]") {
    auto result = load_config_text(demo_text(), kDemoPath);
    REQUIRE(std::holds_alternative<Config>(result));
    CHECK(std::get<Config>(result).hj212.empty());

    auto empty = load_config_text(demo_text(), kDemoPath, {{"/hj212", R"({"platforms": []})"}});
    REQUIRE(std::holds_alternative<Config>(empty));
    CHECK(std::get<Config>(empty).hj212.empty());
}

TEST_CASE("hj212 config: a valid platform gets the defaults and derived values",
          "[unit][config][hj212]") {
    const Config config = loaded({});
    REQUIRE(config.hj212.size() == 1);
    const Hj212PlatformConfig& p = config.hj212[0];
    CHECK(p.name == "county-epb");
    CHECK(p.host == "hj212.example.gov.cn");
    CHECK(p.port == 8001);
    CHECK(p.mn == "010000A8900016F000169DC0");
    CHECK(p.pw == "123456");
    CHECK(p.st == "32");
    CHECK(p.edition == Hj212Edition::V2017);
    CHECK(p.reply_requested);
    CHECK(p.reply_timeout_s == 10);
    CHECK(p.retries == 3);
    CHECK(p.realtime_interval_s == 30);
    CHECK(p.minute_interval_min == 10);
    CHECK(p.send_realtime);
    CHECK(p.send_minute);
    CHECK(p.send_hourly);
    CHECK(p.send_daily);
    CHECK(p.history_days == 30);
    CHECK(p.reconnect_min_s == 1);
    CHECK(p.reconnect_max_s == 60);
    CHECK(p.heartbeat_s == 0);  // 2017 has no heartbeat

    REQUIRE(p.pollutants.size() == 4);
    const auto& ph = p.pollutants[0];
    CHECK(ph.code == "w01001");
    CHECK(config.sensors[ph.sensor_index].id == "water1.ph");
    CHECK(ph.scale == 1.0);
    CHECK(ph.decimals == 2);
    CHECK_FALSE(ph.is_flow);
    CHECK_FALSE(ph.has_load);  // pH has no -Cou

    const auto& cod = p.pollutants[1];
    CHECK(config.sensors[cod.sensor_index].id == "water1.cod");
    CHECK(cod.scale == 1.0);
    CHECK(cod.decimals == 1);
    CHECK_FALSE(cod.is_flow);
    CHECK(cod.has_load);  // kg of COD, since the platform reports a flow

    const auto& nh3n = p.pollutants[2];
    CHECK(nh3n.scale == 1.0);  // "mg/l" is mg/L
    CHECK(nh3n.decimals == 2);
    CHECK(nh3n.has_load);

    const auto& flow = p.pollutants[3];
    CHECK(config.sensors[flow.sensor_index].id == "flow1.flow");
    CHECK(flow.scale == Approx(1.0 / 3.6));  // m3/h -> L/s
    CHECK(flow.decimals == 2);
    CHECK(flow.is_flow);
    CHECK_FALSE(flow.has_load);
}

TEST_CASE("hj212 config: every key set", "[unit][config][hj212]") {
    const Config config = loaded({{P + "/pw", "\"ab cd!\""},
                                  {P + "/st", "21"},
                                  {P + "/edition", "\"2025\""},
                                  {P + "/reply_requested", "false"},
                                  {P + "/reply_timeout_s", "5"},
                                  {P + "/retries", "0"},
                                  {P + "/realtime_interval_s", "60"},
                                  {P + "/minute_interval_min", "5"},
                                  {P + "/send", R"(["minute", "hourly"])"},
                                  {P + "/history_days", "400"},
                                  {P + "/reconnect_min_s", "5"},
                                  {P + "/reconnect_max_s", "300"},
                                  {P + "/heartbeat_s", "120"},
                                  {P + "/mn", "DXCBZ000000005"},
                                  {P + "/pollutants/1/decimals", "3"},
                                  {P + "/pollutants/4", R"({"code": "w01014",
                                      "sensor": "water1.conductivity"})"},
                                  {P + "/pollutants/5", R"({"code": "e10201",
                                      "sensor": "water1.turbidity"})"}});
    REQUIRE(config.hj212.size() == 1);
    const Hj212PlatformConfig& p = config.hj212[0];
    CHECK(p.pw == "ab cd!");
    CHECK(p.st == "21");  // --set gives the JSON number 21, taken as its digits
    CHECK(p.edition == Hj212Edition::V2025);
    CHECK_FALSE(p.reply_requested);
    CHECK(p.reply_timeout_s == 5);
    CHECK(p.retries == 0);
    CHECK(p.realtime_interval_s == 60);
    CHECK(p.minute_interval_min == 5);
    CHECK_FALSE(p.send_realtime);
    CHECK(p.send_minute);
    CHECK(p.send_hourly);
    CHECK_FALSE(p.send_daily);
    CHECK(p.history_days == 400);
    CHECK(p.reconnect_min_s == 5);
    CHECK(p.reconnect_max_s == 300);
    CHECK(p.heartbeat_s == 120);
    CHECK(p.mn == "DXCBZ000000005");
    REQUIRE(p.pollutants.size() == 6);
    CHECK(p.pollutants[1].decimals == 3);
    CHECK(p.pollutants[4].scale == 1000.0);  // mS/cm -> uS/cm
    CHECK(p.pollutants[4].decimals == 1);
    // An unknown code is sent in the sensor's own unit with 3 decimals.
    CHECK(p.pollutants[5].code == "e10201");
    CHECK(p.pollutants[5].scale == 1.0);
    CHECK(p.pollutants[5].decimals == 3);
    CHECK_FALSE(p.pollutants[5].is_flow);
    CHECK_FALSE(p.pollutants[5].has_load);
}

TEST_CASE("hj212 config: --set reaches into the platforms", "[unit][config][hj212]") {
    const Config config = loaded({{P + "/port", "12345"},
                                  {P + "/edition", "2025"},  // a JSON number
                                  {P + "/pw", "654321"}});
    CHECK(config.hj212[0].port == 12345);
    CHECK(config.hj212[0].edition == Hj212Edition::V2025);
    CHECK(config.hj212[0].heartbeat_s == 60);  // the 2025 default
    CHECK(config.hj212[0].pw == "654321");
}

TEST_CASE("hj212 config error: required keys", "[unit][config][hj212]") {
    for (const char* key : {"name", "host", "port", "mn", "pollutants"}) {
        INFO(key);
        const std::string platform = [&] {
            auto doc = nlohmann::json::parse(kPlatform);
            doc.erase(key);
            return doc.dump();
        }();
        require_single_error(errors_with({{"/hj212/platforms/0", platform}}), P + "/" + key,
                             "is required");
    }
    require_single_error(errors_with({{"/hj212", "{}"}}), "/hj212/platforms", "is required");
    require_single_error(errors_with({{P + "/pollutants/0", R"({"code": "w01001"})"}}),
                         P + "/pollutants/0/sensor", "is required");
    require_single_error(errors_with({{P + "/pollutants", "[]"}}), P + "/pollutants",
                         "non-empty array");
    require_single_error(errors_with({{P + "/host", "\"\""}}), P + "/host", "must not be empty");
}

TEST_CASE("hj212 config error: numbers out of range", "[unit][config][hj212]") {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"port", "0"},
        {"port", "65536"},
        {"reply_timeout_s", "0"},
        {"reply_timeout_s", "100"},
        {"retries", "100"},
        {"realtime_interval_s", "29"},
        {"realtime_interval_s", "3601"},
        {"history_days", "0"},
        {"history_days", "401"},
        {"reconnect_min_s", "0"},
        {"reconnect_max_s", "3601"},
    };
    for (const auto& [key, value] : cases) {
        INFO(key + "=" + value);
        require_single_error(errors_with({{P + "/" + key, value}}), P + "/" + key,
                             "must be an integer between");
    }
    require_single_error(errors_with({{P + "/minute_interval_min", "7"}}),
                         P + "/minute_interval_min", "must be one of 1,2,3,4,5,6,10,12,15,20,30");
    require_single_error(
        errors_with({{P + "/reconnect_min_s", "30"}, {P + "/reconnect_max_s", "10"}}),
        P + "/reconnect_max_s", "must be at least reconnect_min_s (30)");
    require_single_error(errors_with({{P + "/reconnect_min_s", "90"}}), P + "/reconnect_min_s",
                         "reconnect_max_s (60) must be at least reconnect_min_s (90)");
    require_single_error(errors_with({{P + "/pollutants/0/decimals", "7"}}),
                         P + "/pollutants/0/decimals", "between 0 and 6");
}

TEST_CASE("hj212 config error: heartbeat only with the 2025 edition", "[unit][config][hj212]") {
    require_single_error(errors_with({{P + "/heartbeat_s", "60"}}), P + "/heartbeat_s",
                         "only the 2025 edition has a heartbeat (9015)");
    require_single_error(errors_with({{P + "/edition", "\"2025\""}, {P + "/heartbeat_s", "5"}}),
                         P + "/heartbeat_s", "must be 0 (off) or between 10 and 3600, got 5");
    const Config off = loaded({{P + "/edition", "\"2025\""}, {P + "/heartbeat_s", "0"}});
    CHECK(off.hj212[0].heartbeat_s == 0);
    require_single_error(errors_with({{P + "/edition", "\"2020\""}}), P + "/edition",
                         R"(must be one of "2017","2025")");
}

TEST_CASE("hj212 config error: MN, PW and ST", "[unit][config][hj212]") {
    require_single_error(errors_with({{P + "/mn", "\"0123456789012345678901234\""}}), P + "/mn",
                         "must be 1 to 24 printable ASCII characters");
    require_single_error(errors_with({{P + "/mn", "\"A;B\""}}), P + "/mn", "without spaces");
    require_single_error(errors_with({{P + "/mn", "\"A B\""}}), P + "/mn", "without spaces");
    auto errors = errors_with({{P + "/pw", "\"secret=1\""}});
    require_single_error(errors, P + "/pw", "1 to 16 printable ASCII characters");
    CHECK_THAT(errors[0].message, !Catch::Contains("secret"));  // never echoed
    require_single_error(errors_with({{P + "/pw", "\"12345678901234567\""}}), P + "/pw", "1 to 16");
    require_single_error(errors_with({{P + "/st", "\"3\""}}), P + "/st", "2 characters 0-9 A-Z");
    require_single_error(errors_with({{P + "/st", "\"3a\""}}), P + "/st", "got \"3a\"");
    CHECK(loaded({{P + "/st", "\"A1\""}}).hj212[0].st == "A1");
}

TEST_CASE("hj212 config error: unknown keys and send", "[unit][config][hj212]") {
    require_single_error(errors_with({{P + "/reply_timeout", "10"}}), P + "/reply_timeout",
                         "unknown key");
    require_single_error(errors_with({{P + "/pollutants/0/unit", "\"pH\""}}),
                         P + "/pollutants/0/unit", "unknown key");
    require_single_error(errors_with({{"/hj212/enabled", "true"}}), "/hj212/enabled",
                         "unknown key");
    require_single_error(errors_with({{P + "/send", R"(["minute", "weekly"])"}}), P + "/send/1",
                         R"(must be one of "realtime","minute","hourly","daily")");
    require_single_error(errors_with({{P + "/send", R"(["minute", "minute"])"}}), P + "/send/1",
                         "listed twice");
    require_single_error(errors_with({{P + "/send", "[]"}}), P + "/send", "non-empty array");
    require_single_error(errors_with({{P + "/reply_requested", "1"}}), P + "/reply_requested",
                         "must be true or false");
}

TEST_CASE("hj212 config error: duplicates", "[unit][config][hj212]") {
    require_single_error(errors_with({{"/hj212/platforms/1", kPlatform}}),
                         "/hj212/platforms/1/name",
                         R"(duplicate platform name "county-epb" (also at /hj212/platforms/0))");
    require_single_error(
        errors_with({{P + "/pollutants/4", R"({"code": "w01018", "sensor": "water1.nh3n"})"}}),
        P + "/pollutants/4/code", "duplicate code w01018 (also at " + P + "/pollutants/1)");
    require_single_error(
        errors_with({{P + "/pollutants/4", R"({"code": "w00000", "sensor": "flow1.flow"})"}}),
        P + "/pollutants/4/code", "duplicate code w00000");
    require_single_error(errors_with({{"/hj212/platforms/1", "\"bad\""}}), "/hj212/platforms/1",
                         "must be an object");
    require_single_error(errors_with({{P + "/name", "\"county epb\""}}), P + "/name",
                         "must be 1-64 characters");
}

TEST_CASE("hj212 config error: sensors and codes", "[unit][config][hj212]") {
    require_single_error(errors_with({{P + "/pollutants/1/sensor", "\"water1.cdo\""}}),
                         P + "/pollutants/1/sensor", R"(no sensor has id "water1.cdo")");
    require_single_error(errors_with({{"/sensors/7/unit", "g/L"}}), P + "/pollutants/1/sensor",
                         R"(sensor "water1.cod" has unit "g/L", code w01018 reports mg/L)");
    require_single_error(errors_with({{P + "/pollutants/3/sensor", "\"flow1.total\""}}),
                         P + "/pollutants/3/sensor",
                         R"(sensor "flow1.total" has unit "m3", code w00000 reports L/s)");
    for (const char* bad : {"w01", "01018", "w01018-Rtd", "w0101800000", "w01 18"}) {
        INFO(bad);
        require_single_error(
            errors_with({{P + "/pollutants/1/code", std::string("\"") + bad + "\""}}),
            P + "/pollutants/1/code", "must be a factor code");
    }
}

TEST_CASE("hj212 config: one flow per platform, loads only with a flow", "[unit][config][hj212]") {
    // Without a flow there is no load (-Cou in kg needs the volume).
    const Config no_flow = loaded({{P + "/pollutants/3", R"({"code": "w01010",
                                       "sensor": "water1.temperature"})"}});
    const auto& pollutants = no_flow.hj212[0].pollutants;
    REQUIRE(pollutants.size() == 4);
    for (const auto& pollutant : pollutants) {
        CHECK_FALSE(pollutant.is_flow);
        CHECK_FALSE(pollutant.has_load);
    }
    // Two platforms, each with its own flow: no conflict.
    const Config two =
        loaded({{"/hj212/platforms/1", kPlatform}, {"/hj212/platforms/1/name", "\"city\""}});
    CHECK(two.hj212.size() == 2);
    CHECK(two.hj212[1].pollutants[3].is_flow);
}

TEST_CASE("hj212 config error: several errors are reported together", "[unit][config][hj212]") {
    const auto errors = errors_with({{P + "/port", "0"},
                                     {P + "/heartbeat_s", "60"},
                                     {P + "/pollutants/0/sensor", "\"nope\""},
                                     {P + "/pollutants/1/code", "\"1\""},
                                     {"/sensors/8/unit", "g/L"},
                                     {"/hj212/platforms/1", kPlatform}});
    INFO(all_errors(errors));
    std::vector<std::string> pointers;
    for (const auto& e : errors) pointers.push_back(e.pointer);
    CHECK(pointers == std::vector<std::string>{
                          P + "/port", P + "/heartbeat_s", P + "/pollutants/0/sensor",
                          P + "/pollutants/1/code", P + "/pollutants/2/sensor",
                          "/hj212/platforms/1/pollutants/2/sensor", "/hj212/platforms/1/name"});
}
