// SPDX-License-Identifier: Apache-2.0
// "analytics.flow_meters", "analytics.outfalls" and "analytics.bins": a valid example, the
// defaults, and one test per kind of mistake, each checking the JSON Pointer and the words of
// its single error (the approach of config_test.cpp: config/demo.json plus --set overrides).
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "config/config_loader.hpp"
#include "config_test_support.hpp"

using namespace gw;

namespace {

using test::kDemoPath;

/// config/demo.json with three more sensors the analytics need: a bin temperature, a rain
/// gauge (any register, with unit mm) and a tilt flag. Indices 7, 8, 9.
std::string demo_text() {
    return test::demo_config_with_sensors(R"(
    { "id": "bin1.temperature", "device": "bin1", "register": "temperature", "window_s": 5 },
    { "id": "rain1", "device": "water1", "register": "turbidity", "window_s": 5,
      "metric": "rain", "unit": "mm" },
    { "id": "bin1.tilt", "device": "bin1", "register": "distance", "window_s": 5,
      "metric": "tilt" })");
}

/// Every key set, none of them to its default.
const std::string kAnalytics = R"({
  "utc_offset_min": 420,
  "flow_meters": [
    { "id": "main", "flow_sensor": "flow1.flow", "totaliser_sensor": "flow1.total",
      "window_s": 900, "max_gap_s": 120, "rollover_at_m3": 100000000, "max_flow_m3_h": 50,
      "night_minimum": { "start_hour": 1, "end_hour": 5 } }
  ],
  "outfalls": [
    { "id": "outfall1", "flow_sensor": "flow1.flow", "rain_sensor": "rain1",
      "raise_flow_m3_h": 1.0, "clear_flow_m3_h": 0.4, "raise_after_s": 300,
      "clear_after_s": 900, "rain_lookback_h": 12, "dry_rain_mm": 2.0 }
  ],
  "bins": [
    { "id": "bin1", "fill_sensor": "bin1.fill", "temperature_sensor": "bin1.temperature",
      "tilt_sensor": "bin1.tilt", "collect_at_pct": 75, "cutoff": "16:30",
      "emptying_drop_pct": 30, "fire_limit_degC": 70, "fire_rise_degC_per_min": 2,
      "tilt_after_s": 120 }
  ]
})";

ConfigResult load_with(std::vector<ConfigOverride> overrides) {
    overrides.insert(overrides.begin(), {"/analytics", kAnalytics});
    return load_config_text(demo_text(), kDemoPath, overrides);
}

std::vector<ConfigError> errors_with(std::vector<ConfigOverride> overrides) {
    auto result = load_with(std::move(overrides));
    if (auto* errors = std::get_if<std::vector<ConfigError>>(&result)) return *errors;
    return {};
}

/// Exactly one error, at `pointer` in the config file, containing `words`.
void require_single_error(const std::vector<ConfigError>& errors, const std::string& pointer,
                          const std::string& words) {
    INFO([&] {
        std::string all;
        for (const auto& e : errors) all += e.to_string() + "\n";
        return all;
    }());
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].file == kDemoPath);
    CHECK(errors[0].pointer == pointer);
    CHECK_THAT(errors[0].message, Catch::Contains(words));
}

Config require_config(std::vector<ConfigOverride> overrides) {
    auto result = load_with(std::move(overrides));
    INFO([&] {
        std::string all;
        if (auto* errors = std::get_if<std::vector<ConfigError>>(&result))
            for (const auto& e : *errors) all += e.to_string() + "\n";
        return all;
    }());
    REQUIRE(std::holds_alternative<Config>(result));
    return std::get<Config>(result);
}

}  // namespace

TEST_CASE("analytics config: flow meters, outfalls and bins with every key", "[unit][analytics]") {
    const Config config = require_config({});
    const auto& a = config.analytics;
    CHECK(a.utc_offset_min == 420);

    REQUIRE(a.flow_meters.size() == 1);
    const auto& meter = a.flow_meters[0];
    CHECK(meter.id == "main");
    CHECK(meter.flow_sensor == std::optional<std::size_t>(3));
    CHECK(meter.totaliser_sensor == std::optional<std::size_t>(4));
    CHECK(meter.volume.window_ms == 900'000);
    CHECK(meter.volume.max_gap_ms == 120'000);
    CHECK(meter.volume.totaliser.rollover_at_m3 == 100000000.0);
    CHECK(meter.volume.totaliser.max_flow_m3_h == 50.0);
    REQUIRE(meter.night_minimum);
    CHECK(meter.night_minimum->start_hour == 1);
    CHECK(meter.night_minimum->end_hour == 5);
    CHECK(meter.night_minimum->tz_offset_min == 420);

    REQUIRE(a.outfalls.size() == 1);
    const auto& outfall = a.outfalls[0];
    CHECK(outfall.id == "outfall1");
    CHECK(outfall.flow_sensor == 3);
    CHECK(outfall.rain_sensor == std::optional<std::size_t>(8));
    CHECK(outfall.discharge.raise_flow_m3_h == 1.0);
    CHECK(outfall.discharge.clear_flow_m3_h == 0.4);
    CHECK(outfall.discharge.raise_after_ms == 300'000);
    CHECK(outfall.discharge.clear_after_ms == 900'000);
    CHECK(outfall.discharge.rain_lookback_hours == 12);
    CHECK(outfall.discharge.dry_rain_mm == 2.0);

    REQUIRE(a.bins.size() == 1);
    const auto& bin = a.bins[0];
    CHECK(bin.id == "bin1");
    CHECK(bin.fill_sensor == 6);
    CHECK(bin.temperature_sensor == std::optional<std::size_t>(7));
    CHECK(bin.tilt_sensor == std::optional<std::size_t>(9));
    CHECK(bin.collect.collect_threshold_pct == 75.0);
    CHECK(bin.collect.cutoff_minute_of_day == 16 * 60 + 30);
    CHECK(bin.collect.tz_offset_min == 420);
    CHECK(bin.fill.emptying_drop_pct == 30.0);
    CHECK(bin.fire.limit_degC == 70.0);
    CHECK(bin.fire.clear_below_degC == 60.0);  // 10 degC of hysteresis below the limit
    CHECK(bin.fire.rise_degC_per_min == 2.0);
    CHECK(bin.tilt.raise_after_ms == 120'000);
}

TEST_CASE("analytics config: defaults of minimal flow meters, outfalls and bins",
          "[unit][analytics]") {
    const Config config = require_config(
        {{"/analytics/flow_meters", R"([{"id": "m", "totaliser_sensor": "flow1.total"},
                                        {"id": "n", "flow_sensor": "flow1.flow",
                                         "window_s": 60, "night_minimum": {}}])"},
         {"/analytics/outfalls", R"([{"id": "o", "flow_sensor": "flow1.flow",
                                     "raise_flow_m3_h": 2.0}])"},
         {"/analytics/bins", R"([{"id": "b", "fill_sensor": "bin1.fill"}])"}});
    const auto& a = config.analytics;
    REQUIRE(a.flow_meters.size() == 2);
    CHECK_FALSE(a.flow_meters[0].flow_sensor);
    CHECK(a.flow_meters[0].volume.window_ms == 3'600'000);
    CHECK(a.flow_meters[0].volume.max_gap_ms == 300'000);
    CHECK(a.flow_meters[0].volume.totaliser.rollover_at_m3 == 2147483648.0);
    CHECK(a.flow_meters[0].volume.totaliser.max_flow_m3_h == 0.0);
    CHECK_FALSE(a.flow_meters[0].night_minimum);
    // A window shorter than the default gap caps the gap.
    CHECK(a.flow_meters[1].volume.max_gap_ms == 60'000);
    REQUIRE(a.flow_meters[1].night_minimum);
    CHECK(a.flow_meters[1].night_minimum->start_hour == 2);
    CHECK(a.flow_meters[1].night_minimum->end_hour == 4);

    const auto& d = a.outfalls.at(0).discharge;
    CHECK_FALSE(a.outfalls[0].rain_sensor);
    CHECK(d.clear_flow_m3_h == 1.0);  // half the raise level
    CHECK(d.raise_after_ms == 600'000);
    CHECK(d.rain_lookback_hours == 24);

    const auto& bin = a.bins.at(0);
    CHECK_FALSE(bin.temperature_sensor);
    CHECK_FALSE(bin.tilt_sensor);
    CHECK(bin.collect.collect_threshold_pct == 80.0);
    CHECK(bin.collect.cutoff_minute_of_day == 17 * 60);
    CHECK(bin.fire.limit_degC == 60.0);
    CHECK(bin.fire.clear_below_degC == 50.0);
}

TEST_CASE("analytics config error: unknown keys are rejected with the allowed ones",
          "[unit][analytics]") {
    require_single_error(errors_with({{"/analytics/flow_meters/0/windows_s", "60"}}),
                         "/analytics/flow_meters/0/windows_s",
                         "unknown key (allowed here: id, flow_sensor, totaliser_sensor");
    require_single_error(errors_with({{"/analytics/outfalls/0/raise_m3_h", "1"}}),
                         "/analytics/outfalls/0/raise_m3_h", "unknown key");
    require_single_error(errors_with({{"/analytics/bins/0/cutoff_time", "\"17:00\""}}),
                         "/analytics/bins/0/cutoff_time", "unknown key");
    require_single_error(errors_with({{"/analytics/flow_meters/0/night_minimum/start", "1"}}),
                         "/analytics/flow_meters/0/night_minimum/start",
                         "allowed here: start_hour, end_hour");
}

TEST_CASE("analytics config error: a flow meter needs a flow or totaliser sensor",
          "[unit][analytics]") {
    require_single_error(errors_with({{"/analytics/flow_meters/0", R"({"id": "m"})"}}),
                         "/analytics/flow_meters/0",
                         R"(needs "flow_sensor" (a volume flow, e.g. m3/h) and/or )"
                         R"("totaliser_sensor" (m3))");
}

TEST_CASE("analytics config error: sensors of the wrong unit or metric are named",
          "[unit][analytics]") {
    require_single_error(
        errors_with({{"/analytics/flow_meters/0/flow_sensor", "flow1.total"}}),
        "/analytics/flow_meters/0/flow_sensor",
        R"(sensor "flow1.total" (metric "flow_total", unit "m3") is not a volume-flow (unit )"
        R"(m3/h, L/s, L/min, m3/min, m3/s, m3/d) sensor (volume-flow (unit m3/h, L/s, L/min, )"
        R"(m3/min, m3/s, m3/d) sensors: flow1.flow))");
    require_single_error(errors_with({{"/analytics/flow_meters/0/totaliser_sensor", "flow1.flow"}}),
                         "/analytics/flow_meters/0/totaliser_sensor",
                         "is not a totaliser (unit m3) sensor (totaliser (unit m3) sensors: "
                         "flow1.total)");
    require_single_error(errors_with({{"/analytics/outfalls/0/rain_sensor", "flow1.flow"}}),
                         "/analytics/outfalls/0/rain_sensor",
                         "is not a rain (metric rain, rainfall or precipitation; unit mm per "
                         "sample) sensor (rain (metric rain, rainfall or precipitation; unit mm "
                         "per sample) sensors: rain1)");
    require_single_error(errors_with({{"/analytics/bins/0/fill_sensor", "bin1.distance"}}),
                         "/analytics/bins/0/fill_sensor",
                         R"(sensor "bin1.distance" (metric "distance", unit "mm") is not a )"
                         R"(fill_level (metric fill_level, %) sensor)");
    require_single_error(errors_with({{"/analytics/bins/0/temperature_sensor", "bin1.fill"}}),
                         "/analytics/bins/0/temperature_sensor",
                         "(temperature (unit degC) sensors: water1.temperature, bin1.temperature)");
    require_single_error(errors_with({{"/analytics/bins/0/tilt_sensor", "bin1.fill"}}),
                         "/analytics/bins/0/tilt_sensor", "sensors: bin1.tilt)");
}

TEST_CASE("analytics config error: an unknown sensor id lists the sensors that fit",
          "[unit][analytics]") {
    require_single_error(errors_with({{"/analytics/flow_meters/0/flow_sensor", "flow9"}}),
                         "/analytics/flow_meters/0/flow_sensor",
                         R"(no sensor has id "flow9" (volume-flow)");
    require_single_error(errors_with({{"/analytics/bins/0/fill_sensor", "bin9.fill"}}),
                         "/analytics/bins/0/fill_sensor",
                         R"(no sensor has id "bin9.fill" (fill_level (metric fill_level, %) )"
                         R"(sensors: bin1.fill))");
    require_single_error(errors_with({{"/analytics/outfalls/0/flow_sensor", "42"}}),
                         "/analytics/outfalls/0/flow_sensor", "must be a string");
}

TEST_CASE("analytics config error: flow meter window, gap, numbers and night period",
          "[unit][analytics]") {
    require_single_error(errors_with({{"/analytics/flow_meters/0/window_s", "7"}}),
                         "/analytics/flow_meters/0/window_s", "must divide a day");
    require_single_error(errors_with({{"/analytics/flow_meters/0/window_s", "60"}}),
                         "/analytics/flow_meters/0/max_gap_s",
                         "must be between 1 and window_s (60), got 120");
    require_single_error(errors_with({{"/analytics/flow_meters/0/rollover_at_m3", "-1"}}),
                         "/analytics/flow_meters/0/rollover_at_m3",
                         "must be a number >= 0 and <= 1e+15, got -1");
    require_single_error(errors_with({{"/analytics/flow_meters/0/max_flow_m3_h", "\"fast\""}}),
                         "/analytics/flow_meters/0/max_flow_m3_h", "must be a number >= 0");
    require_single_error(
        errors_with(
            {{"/analytics/flow_meters/0/night_minimum", R"({"start_hour": 5, "end_hour": 3})"}}),
        "/analytics/flow_meters/0/night_minimum/end_hour",
        "must be after start_hour (5): the night period [start_hour, end_hour) lies within one "
        "local day, got 3");
    require_single_error(errors_with({{"/analytics/flow_meters/0/night_minimum/start_hour", "24"}}),
                         "/analytics/flow_meters/0/night_minimum/start_hour",
                         "must be an integer between 0 and 23, got 24");
    require_single_error(errors_with({{"/analytics/flow_meters/0",
                                       R"({"id": "m", "totaliser_sensor": "flow1.total",
                                           "night_minimum": {}})"}}),
                         "/analytics/flow_meters/0/night_minimum", "needs a \"flow_sensor\"");
    require_single_error(errors_with({{"/analytics/flow_meters", "{}"}}), "/analytics/flow_meters",
                         "must be an array of flow meters");
}

TEST_CASE("analytics config error: flow meter ids are topic-safe and unique", "[unit][analytics]") {
    require_single_error(errors_with({{"/analytics/flow_meters/0/id", "main/1"}}),
                         "/analytics/flow_meters/0/id", "used in MQTT topics");
    require_single_error(errors_with({{"/analytics/flow_meters/1",
                                       R"({"id": "main", "flow_sensor": "flow1.flow"})"}}),
                         "/analytics/flow_meters/1/id",
                         R"(duplicate flow meter id "main" (also at /analytics/flow_meters/0))");
}

TEST_CASE("analytics config error: outfall levels, durations and rain", "[unit][analytics]") {
    require_single_error(errors_with({{"/analytics/outfalls/0/clear_flow_m3_h", "2"}}),
                         "/analytics/outfalls/0/clear_flow_m3_h",
                         "must be a number >= 0 and <= raise_flow_m3_h (1), got 2");
    require_single_error(errors_with({{"/analytics/outfalls/0/raise_flow_m3_h", "0"}}),
                         "/analytics/outfalls/0/raise_flow_m3_h",
                         "must be a number > 0 and <= 1e+09, got 0");
    require_single_error(errors_with({{"/analytics/outfalls/0/raise_after_s", "-5"}}),
                         "/analytics/outfalls/0/raise_after_s",
                         "must be an integer between 0 and 86400, got -5");
    require_single_error(errors_with({{"/analytics/outfalls/0/rain_lookback_h", "100"}}),
                         "/analytics/outfalls/0/rain_lookback_h",
                         "must be an integer between 1 and 72, got 100");
    require_single_error(errors_with({{"/analytics/outfalls/0", R"({"id": "o"})"}}),
                         "/analytics/outfalls/0/flow_sensor", "is required");
}

TEST_CASE("analytics config error: outfall and bin ids are unique alarm subjects",
          "[unit][analytics]") {
    require_single_error(errors_with({{"/analytics/outfalls/0/id", "flow1.flow"}}),
                         "/analytics/outfalls/0/id",
                         R"(id "flow1.flow" is already used at /sensors/3 (sensors, outfalls )"
                         R"(and bins share the alarm topic …/alarm/{id})");
    require_single_error(errors_with({{"/analytics/bins/0/id", "outfall1"}}),
                         "/analytics/bins/0/id",
                         R"(id "outfall1" is already used at /analytics/outfalls/0)");
    require_single_error(errors_with({{"/analytics/bins/0/id", "collect"}}), "/analytics/bins/0/id",
                         "\"collect\" is reserved");
}

TEST_CASE("analytics config error: bin cut-off, percentages and fire settings",
          "[unit][analytics]") {
    require_single_error(errors_with({{"/analytics/bins/0/cutoff", "25:00"}}),
                         "/analytics/bins/0/cutoff",
                         R"(must be a local time "HH:MM" from "00:00" to "23:59", got "25:00")");
    require_single_error(errors_with({{"/analytics/bins/0/cutoff", "5pm"}}),
                         "/analytics/bins/0/cutoff", R"(got "5pm")");
    require_single_error(errors_with({{"/analytics/bins/0/collect_at_pct", "120"}}),
                         "/analytics/bins/0/collect_at_pct",
                         "must be a number > 0 and <= 100, got 120");
    require_single_error(errors_with({{"/analytics/bins/0/emptying_drop_pct", "0"}}),
                         "/analytics/bins/0/emptying_drop_pct",
                         "must be a number > 0 and <= 100, got 0");
    require_single_error(errors_with({{"/analytics/bins/0/fire_limit_degC", "500"}}),
                         "/analytics/bins/0/fire_limit_degC",
                         "must be a number > 0 and <= 200, got 500");
    require_single_error(errors_with({{"/analytics/bins/0/fire_rise_degC_per_min", "0"}}),
                         "/analytics/bins/0/fire_rise_degC_per_min", "must be a number > 0");
    require_single_error(errors_with({{"/analytics/bins/0/tilt_after_s", "\"soon\""}}),
                         "/analytics/bins/0/tilt_after_s",
                         "must be an integer between 0 and 86400");
}
