// SPDX-License-Identifier: Apache-2.0
// FlowBinAnalytics (app/flow_bin_analytics.hpp) driven with synthetic readings through a
// configuration loaded from inline JSON: flow windows, night minimum, dry-weather discharge,
// collection list, bin status, fire and tilt alarms, state round trip, garbage state, and the
// produced bodies against docs/schemas (tests/tools/validate_mqtt.py). Expected numbers are
// computed here from the inputs.
#include "app/flow_bin_analytics.hpp"

#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>

#include "config/config_loader.hpp"
#include "core/time_format.hpp"

using namespace gw;
using nlohmann::ordered_json;

namespace {

// 2026-11-28T00:00:00Z = 08:00 China Standard Time (the configuration's utc_offset_min 480).
constexpr std::int64_t kT0 = 1'795'824'000'000;
constexpr std::int64_t kMin = 60'000;
constexpr std::int64_t kHour = 3'600'000;

// Sensor indices of kConfig.
constexpr std::size_t kFlow = 0;
constexpr std::size_t kTotal = 1;
constexpr std::size_t kOutfallFlow = 2;  // L/s
constexpr std::size_t kRain = 3;
constexpr std::size_t kFillA = 4;
constexpr std::size_t kFillB = 5;
constexpr std::size_t kFillC = 6;
constexpr std::size_t kTempA = 7;
constexpr std::size_t kTiltA = 8;

const std::string kConfig = R"({
  "gateway": {"town_id": "t1", "gateway_id": "g1"},
  "mqtt": {"broker": "tcp://127.0.0.1:1883"},
  "devices": [{
    "id": "dev1", "transport": {"type": "modbus-tcp", "host": "127.0.0.1"},
    "registers": [
      {"name": "flow", "address": 0, "type": "float32", "unit": "m3/h", "metric": "flow_rate"},
      {"name": "total", "address": 2, "type": "int32", "unit": "m3", "metric": "flow_total"},
      {"name": "oflow", "address": 4, "type": "float32", "unit": "L/s", "metric": "flow_rate"},
      {"name": "rain", "address": 6, "type": "float32", "unit": "mm", "metric": "rain"},
      {"name": "dist_a", "address": 8, "type": "int16", "unit": "mm", "metric": "distance"},
      {"name": "dist_b", "address": 9, "type": "int16", "unit": "mm", "metric": "distance"},
      {"name": "dist_c", "address": 10, "type": "int16", "unit": "mm", "metric": "distance"},
      {"name": "temp", "address": 11, "type": "int16", "unit": "degC", "metric": "bin_temperature"},
      {"name": "tilt", "address": 12, "type": "int16", "metric": "tilt"}
    ]}],
  "sensors": [
    {"id": "flow1.flow", "device": "dev1", "register": "flow", "window_s": 60},
    {"id": "flow1.total", "device": "dev1", "register": "total", "window_s": 60},
    {"id": "outfall1.flow", "device": "dev1", "register": "oflow", "window_s": 60},
    {"id": "rain1", "device": "dev1", "register": "rain", "window_s": 60},
    {"id": "bin-a.fill", "device": "dev1", "register": "dist_a", "window_s": 60,
     "fill_level": {"empty_mm": 1000, "full_mm": 100}},
    {"id": "bin-b.fill", "device": "dev1", "register": "dist_b", "window_s": 60,
     "fill_level": {"empty_mm": 1000, "full_mm": 100}},
    {"id": "bin-c.fill", "device": "dev1", "register": "dist_c", "window_s": 60,
     "fill_level": {"empty_mm": 1000, "full_mm": 100}},
    {"id": "bin-a.temperature", "device": "dev1", "register": "temp", "window_s": 60},
    {"id": "bin-a.tilt", "device": "dev1", "register": "tilt", "window_s": 60}
  ],
  "analytics": {
    "utc_offset_min": 480,
    "flow_meters": [
      {"id": "main", "flow_sensor": "flow1.flow", "totaliser_sensor": "flow1.total",
       "night_minimum": {}},
      {"id": "flowonly", "flow_sensor": "flow1.flow"}
    ],
    "outfalls": [
      {"id": "outfall1", "flow_sensor": "outfall1.flow", "rain_sensor": "rain1",
       "raise_flow_m3_h": 1.0, "clear_flow_m3_h": 0.5}
    ],
    "bins": [
      {"id": "bin-a", "fill_sensor": "bin-a.fill", "temperature_sensor": "bin-a.temperature",
       "tilt_sensor": "bin-a.tilt"},
      {"id": "bin-b", "fill_sensor": "bin-b.fill"},
      {"id": "bin-c", "fill_sensor": "bin-c.fill"}
    ]
  }
})";

const Config& config() {
    static const Config loaded = [] {
        auto result = load_config_text(kConfig, "/tmp/flow-bin-test.json");
        if (auto* errors = std::get_if<std::vector<ConfigError>>(&result)) {
            for (const auto& e : *errors) FAIL(e.to_string());
        }
        return std::get<Config>(result);
    }();
    return loaded;
}

ordered_json base() {
    return {{"v", 1}, {"town_id", "t1"}, {"gateway_id", "g1"}};
}

const std::string kRoot = "townbrain/v1/t1/g1";

Reading reading(std::size_t sensor, std::int64_t t_ms, double value,
                SampleQuality quality = SampleQuality::Good) {
    Reading r;
    r.sensor_index = sensor;
    r.raw = value;
    r.value = value;
    r.quality = quality;
    r.sampled_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(t_ms));
    return r;
}

using Messages = std::vector<AnalyticsMessage>;

Messages with_topic(const Messages& all, const std::string& topic) {
    Messages out;
    for (const auto& m : all)
        if (m.topic == topic) out.push_back(m);
    return out;
}

/// Everything an engine put out, as comparable text.
std::vector<std::string> texts(const Messages& all) {
    std::vector<std::string> out;
    for (const auto& m : all)
        out.push_back(m.topic + (m.route == AnalyticsMessage::Route::Stored ? " S " : " R ") +
                      m.body.dump());
    return out;
}

/// One hour of 1-minute flow and totaliser polls at 6 m3/h, the totaliser +0.1 m3 per poll.
void feed_flow(FlowBinAnalytics& engine, std::int64_t from_ms, int minutes, double total_m3,
               Messages& out) {
    for (int k = 0; k < minutes; ++k) {
        const std::int64_t t = from_ms + k * kMin;
        engine.on_reading(reading(kFlow, t, 6.0), out);
        engine.on_reading(reading(kTotal, t, total_m3 + 0.1 * k), out);
    }
}

/// Four hourly fill readings per bin ending at kT0: bin-a 85 % and not filling, bin-b from
/// 45 % rising 5 %/h, bin-c from 92 % rising 1 %/h.
void feed_bins(FlowBinAnalytics& engine, Messages& out) {
    for (int k = 0; k < 4; ++k) {
        const std::int64_t t = kT0 - (3 - k) * kHour;
        engine.on_reading(reading(kFillA, t, 85.0), out);
        engine.on_reading(reading(kFillB, t, 45.0 + 5.0 * k), out);
        engine.on_reading(reading(kFillC, t, 92.0 + 1.0 * k), out);
    }
}

}  // namespace

TEST_CASE("flow bin analytics: window messages carry both volumes", "[unit][analytics]") {
    FlowBinAnalytics engine(config(), base);
    Messages out;
    // A bad-quality poll and one taken while calibrating are no data, never values.
    engine.on_reading(reading(kFlow, kT0 + 30 * kMin + 1, 1e6, SampleQuality::CommError), out);
    Reading calibrating = reading(kTotal, kT0 + 30 * kMin + 2, 5e6);
    calibrating.calibrating = true;
    engine.on_reading(calibrating, out);
    feed_flow(engine, kT0, 121, 1000.0, out);
    // The two windows that closed with the sample at kT0 + 2 h, one message per meter each.
    const auto main = with_topic(out, kRoot + "/flow/main");
    REQUIRE(main.size() == 2);
    const auto& w1 = main[0].body;
    CHECK(main[0].route == AnalyticsMessage::Route::Stored);
    CHECK(w1["v"] == 1);
    CHECK(w1["meter"] == "main");
    CHECK(w1["window_start"] == "2026-11-28T00:00:00Z");
    CHECK(w1["window_end"] == "2026-11-28T01:00:00Z");
    CHECK(w1["window_s"] == 3600);
    // 59 deltas of 0.1 m3 (the first reading is the baseline); 6 m3/h over a full hour.
    CHECK(w1["totaliser_m3"].get<double>() == Approx(5.9));
    CHECK(w1["totaliser_unattributed_m3"].get<double>() == 0.0);
    CHECK(w1["totaliser_readings"] == 60);
    CHECK(w1["integrated_m3"].get<double>() == Approx(6.0));
    CHECK(w1["integrated_coverage"].get<double>() == Approx(1.0));
    CHECK(w1["flow_samples"] == 60);
    CHECK(w1["flags"] == ordered_json::array());
    CHECK_FALSE(w1.contains("seq"));  // the store adds it
    const auto& w2 = main[1].body;
    CHECK(w2["window_start"] == "2026-11-28T01:00:00Z");
    CHECK(w2["totaliser_m3"].get<double>() == Approx(6.0));
    CHECK(w2["integrated_m3"].get<double>() == Approx(6.0));

    // A meter without a totaliser: its totaliser fields are null and not flagged.
    const auto only = with_topic(out, kRoot + "/flow/flowonly");
    REQUIRE(only.size() == 2);
    CHECK(only[0].body["totaliser_m3"].is_null());
    CHECK(only[0].body["totaliser_unattributed_m3"].is_null());
    CHECK(only[0].body["integrated_m3"].get<double>() == Approx(6.0));
    CHECK(only[0].body["flags"] == ordered_json::array());

    // The third window closes on the wall clock once no sample can bridge its end any more.
    Messages tick;
    engine.on_tick(kT0 + 3 * kHour + 10 * kMin, tick);
    const auto third = with_topic(tick, kRoot + "/flow/main");
    REQUIRE(third.size() == 1);
    CHECK(third[0].body["window_start"] == "2026-11-28T02:00:00Z");
    // The readings at kT0 + 2 h: one totaliser delta, one flow sample and nothing after it.
    CHECK(third[0].body["totaliser_m3"].get<double>() == Approx(0.1));
    CHECK(third[0].body["integrated_m3"].is_null());
    CHECK(third[0].body["integrated_coverage"].get<double>() == 0.0);
    CHECK(third[0].body["flags"] == ordered_json::array({"integrated_no_data"}));

    const auto stats = engine.stats_json();
    CHECK(stats["flow_meters"]["main"]["windows"] == 3);
    CHECK(stats["flow_meters"]["main"]["no_data"] == 2);
    CHECK(stats["flow_meters"]["main"]["flags"]["integrated_no_data"] == 1);
}

TEST_CASE("flow bin analytics: night minimum once per local night", "[unit][analytics]") {
    FlowBinAnalytics engine(config(), base);
    Messages out;
    // 02:00-04:00 local on 2026-11-28 is 18:00-20:00 UTC the day before. 3 m3/h, except the
    // quarter hour from 02:30 local at 1 m3/h.
    const std::int64_t night = kT0 - 6 * kHour;
    for (std::int64_t t = night - 10 * kMin; t <= night + 2 * kHour + 10 * kMin; t += kMin) {
        const bool low = t >= night + 30 * kMin && t < night + 45 * kMin;
        engine.on_reading(reading(kFlow, t, low ? 1.0 : 3.0), out);
    }
    const auto nights = with_topic(out, kRoot + "/flow/main/night_minimum");
    REQUIRE(nights.size() == 1);
    const auto& n = nights[0].body;
    CHECK(n["meter"] == "main");
    CHECK(n["day"] == "2026-11-28");
    CHECK(n["min_flow_m3_h"].get<double>() == Approx(1.0));
    CHECK(n["bucket_start"] == "2026-11-27T18:30:00Z");
    CHECK(n["start_hour"] == 2);
    CHECK(n["end_hour"] == 4);
    CHECK(n["buckets_used"] == 8);
    CHECK(n["buckets_expected"] == 8);
    CHECK(with_topic(out, kRoot + "/flow/flowonly/night_minimum").empty());
}

TEST_CASE("flow bin analytics: dry-weather discharge raises after the minimum duration and clears",
          "[unit][analytics]") {
    FlowBinAnalytics engine(config(), base);
    Messages out;
    const std::string event_topic = kRoot + "/alarm/outfall1";
    const std::string state_topic = kRoot + "/alarm/outfall1/state";
    // Dry: the gauge reports 0 mm. The outfall meter reads L/s: 0.5 L/s = 1.8 m3/h > 1.0.
    std::int64_t t = kT0;
    for (; t < kT0 + 5 * kMin; t += kMin) {
        engine.on_reading(reading(kRain, t, 0.0), out);
        engine.on_reading(reading(kOutfallFlow, t, 0.0), out);
    }
    const std::int64_t start = t;
    for (; t < start + 10 * kMin; t += kMin) {
        engine.on_reading(reading(kRain, t, 0.0), out);
        engine.on_reading(reading(kOutfallFlow, t, 0.5), out);
    }
    CHECK(with_topic(out, event_topic).empty());  // 9 minutes: not yet
    engine.on_reading(reading(kOutfallFlow, t, 0.5), out);
    auto events = with_topic(out, event_topic);
    REQUIRE(events.size() == 1);
    const auto& raised = events[0].body;
    CHECK(events[0].route == AnalyticsMessage::Route::Stored);
    CHECK(raised["subject"] == "outfall1");
    CHECK(raised["alarm"] == "dry_weather_discharge");
    CHECK(raised["state"] == "raised");
    CHECK(raised["value"].get<double>() == Approx(1.8));
    CHECK(raised["limit"].get<double>() == 1.0);
    CHECK(raised["bound"] == "max");
    CHECK(raised["time"] == format_rfc3339_utc(start + 10 * kMin));
    CHECK(raised["since"] == format_rfc3339_utc(start));
    CHECK(raised["indicative"] == false);
    CHECK(raised["basis"] == "sample");
    CHECK(raised["detail"]["sensor"] == "outfall1.flow");
    CHECK(raised["detail"]["rain_mm"].get<double>() == 0.0);
    CHECK(raised["detail"]["wet_weather"] == false);
    auto states = with_topic(out, state_topic);
    REQUIRE(states.size() == 1);
    CHECK(states[0].route == AnalyticsMessage::Route::Retained);
    REQUIRE(states[0].body["active"].size() == 1);
    CHECK(states[0].body["active"][0]["alarm"] == "dry_weather_discharge");
    CHECK(states[0].body["active"][0]["since"] == format_rfc3339_utc(start));
    // The retained set after a connect has the active alarm too.
    const auto retained = engine.retained();
    const auto retained_state = with_topic(retained, state_topic);
    REQUIRE(retained_state.size() == 1);
    CHECK(retained_state[0].body == states[0].body);

    // The flow stops: cleared after clear_after_s (default 600 s) at or below 0.5 m3/h.
    out.clear();
    const std::int64_t stop = t + kMin;
    for (t = stop; t <= stop + 10 * kMin; t += kMin)
        engine.on_reading(reading(kOutfallFlow, t, 0.1), out);
    events = with_topic(out, event_topic);
    REQUIRE(events.size() == 1);
    CHECK(events[0].body["state"] == "cleared");
    CHECK(events[0].body["since"] == format_rfc3339_utc(stop));
    states = with_topic(out, state_topic);
    REQUIRE(states.size() == 1);
    CHECK(states[0].body["active"] == ordered_json::array());
    CHECK(engine.stats_json()["outfalls"]["outfall1"]["raised"] == 1);
}

TEST_CASE("flow bin analytics: no dry-weather alarm while the rain gauge says wet or fails",
          "[unit][analytics]") {
    FlowBinAnalytics engine(config(), base);
    Messages out;
    engine.on_reading(reading(kRain, kT0, 4.0), out);  // 4 mm in the last 24 h: wet
    for (std::int64_t t = kT0; t < kT0 + 30 * kMin; t += kMin)
        engine.on_reading(reading(kOutfallFlow, t, 0.5), out);
    // Dry again (the rain is older than the lookback), but the gauge fails: unknown is not dry.
    const std::int64_t later = kT0 + 30 * kHour;
    engine.on_reading(reading(kRain, later, 0.0, SampleQuality::CommError), out);
    for (std::int64_t t = later; t < later + 30 * kMin; t += kMin)
        engine.on_reading(reading(kOutfallFlow, t, 0.5), out);
    CHECK(with_topic(out, kRoot + "/alarm/outfall1").empty());
}

TEST_CASE("flow bin analytics: the collection list is retained and ordered by urgency",
          "[unit][analytics]") {
    FlowBinAnalytics engine(config(), base);
    Messages out;
    feed_bins(engine, out);
    const auto lists = with_topic(out, kRoot + "/bins/collect");
    REQUIRE_FALSE(lists.empty());
    // Published at once when a bin joins the list or its reason changes; the figures of the
    // bins already on it are brought up to date at the next hourly tick.
    CHECK(lists.back().route == AnalyticsMessage::Route::Retained);
    out.clear();
    engine.on_tick(kT0, out);
    const auto refreshed = with_topic(out, kRoot + "/bins/collect");
    REQUIRE(refreshed.size() == 1);
    const auto& body = refreshed[0].body;
    // Cut-off 17:00 local = 09:00 UTC on the same day.
    CHECK(body["day"] == "2026-11-28");
    CHECK(body["cutoff"] == "2026-11-28T09:00:00Z");
    const auto& bins = body["bins"];
    REQUIRE(bins.size() == 3);
    // bin-c: 95 % + 1 %/h, full in 5 h; bin-b: 60 % + 5 %/h, full in 8 h (80 % in 4 h, before
    // the cut-off); bin-a: 85 % but not filling, time to full unknown: last.
    CHECK(bins[0]["bin"] == "bin-c");
    CHECK(bins[0]["reason"] == "full_now");
    CHECK(bins[0]["time_to_full_s"] == 5 * 3600);
    CHECK(bins[1]["bin"] == "bin-b");
    CHECK(bins[1]["reason"] == "predicted");
    CHECK(bins[1]["fill_pct"].get<double>() == 60.0);
    CHECK(bins[1]["time_to_full_s"] == 8 * 3600);
    CHECK(bins[2]["bin"] == "bin-a");
    CHECK(bins[2]["time_to_full_s"].is_null());
    const auto retained = with_topic(engine.retained(), kRoot + "/bins/collect");
    REQUIRE(retained.size() == 1);
    CHECK(retained[0].body == body);

    // Within the hour an unchanged list is not republished; after the cut-off it is, for the
    // next day's round.
    out.clear();
    engine.on_tick(kT0 + kMin, out);
    CHECK(with_topic(out, kRoot + "/bins/collect").empty());
    engine.on_tick(kT0 + 9 * kHour + 1000, out);
    const auto next = with_topic(out, kRoot + "/bins/collect");
    REQUIRE(next.size() == 1);
    CHECK(next[0].body["day"] == "2026-11-29");
}

TEST_CASE("flow bin analytics: bin status once per closed hour", "[unit][analytics]") {
    FlowBinAnalytics engine(config(), base);
    Messages out;
    feed_bins(engine, out);
    out.clear();
    engine.on_tick(kT0 + 30 * kMin, out);  // a fresh start waits for the next boundary
    CHECK(with_topic(out, kRoot + "/bins/bin-b").empty());
    engine.on_tick(kT0 + kHour + 1000, out);
    engine.on_tick(kT0 + kHour + 2000, out);
    const auto status = with_topic(out, kRoot + "/bins/bin-b");
    REQUIRE(status.size() == 1);
    const auto& b = status[0].body;
    CHECK(status[0].route == AnalyticsMessage::Route::Stored);
    CHECK(b["time"] == "2026-11-28T01:00:00Z");
    CHECK(b["bin"] == "bin-b");
    CHECK(b["fill_pct"].get<double>() == 60.0);
    CHECK(b["fill_time"] == "2026-11-28T00:00:00Z");
    CHECK(b["rate_pct_h"].get<double>() == Approx(5.0));
    CHECK(b["time_to_full_s"] == 7 * 3600);  // 8 h from the sample, an hour ago
    CHECK(b["collect_today"] == true);
    CHECK(b["reason"] == "predicted");
    CHECK(b["cutoff"] == "2026-11-28T09:00:00Z");
    CHECK(with_topic(out, kRoot + "/bins/bin-a").size() == 1);
    CHECK(with_topic(out, kRoot + "/bins/bin-c").size() == 1);
}

TEST_CASE("flow bin analytics: a 1 s fill poll is thinned and still gives an hourly rate",
          "[unit][analytics]") {
    FlowBinAnalytics engine(config(), base);
    Messages out;
    engine.on_tick(kT0, out);
    // 20 % rising 10 %/h, polled every second for two hours (7200 samples for a history of
    // 288): thinned to one per 5 min, the slope still spans the two hours.
    for (std::int64_t t = kT0; t < kT0 + 2 * kHour; t += 1000)
        engine.on_reading(reading(kFillB, t, 20.0 + 10.0 * static_cast<double>(t - kT0) / kHour),
                          out);
    // A held reading (the clock not trusted yet) is ignored: it comes again, re-timed.
    Reading held = reading(kFillB, kT0 + 2 * kHour - 500, 99.0);
    held.clock = ClockState::Held;
    engine.on_reading(held, out);
    out.clear();
    engine.on_tick(kT0 + 2 * kHour, out);
    const auto status = with_topic(out, kRoot + "/bins/bin-b");
    REQUIRE(status.size() == 1);
    CHECK(status[0].body["rate_pct_h"].get<double>() == Approx(10.0));
    CHECK(status[0].body["fill_pct"].get<double>() == Approx(39.1667).epsilon(0.001));
    CHECK(engine.stats_json()["held"] == 1);
}

TEST_CASE("flow bin analytics: bin fire alarm raises and clears", "[unit][analytics]") {
    FlowBinAnalytics engine(config(), base);
    Messages out;
    for (int k = 0; k < 6; ++k) engine.on_reading(reading(kTempA, kT0 + k * 5 * kMin, 25.0), out);
    CHECK(with_topic(out, kRoot + "/alarm/bin-a").empty());
    const std::int64_t hot = kT0 + 30 * kMin;
    engine.on_reading(reading(kTempA, hot, 75.0), out);
    auto events = with_topic(out, kRoot + "/alarm/bin-a");
    REQUIRE(events.size() == 1);
    const auto& e = events[0].body;
    CHECK(e["alarm"] == "bin_fire");
    CHECK(e["state"] == "raised");
    CHECK(e["value"].get<double>() == 75.0);
    CHECK(e["limit"].get<double>() == 60.0);
    CHECK(e["detail"]["reason"] == "temperature_limit");
    CHECK(e["detail"]["unit"] == "degC");
    auto states = with_topic(out, kRoot + "/alarm/bin-a/state");
    REQUIRE(states.size() == 1);
    REQUIRE(states[0].body["active"].size() == 1);
    CHECK(states[0].body["active"][0]["alarm"] == "bin_fire");

    // Calm below 50 degC for 30 min clears it.
    out.clear();
    for (int k = 1; k <= 7; ++k) engine.on_reading(reading(kTempA, hot + k * 5 * kMin, 30.0), out);
    events = with_topic(out, kRoot + "/alarm/bin-a");
    REQUIRE(events.size() == 1);
    CHECK(events[0].body["state"] == "cleared");
    CHECK(events[0].body["limit"].get<double>() == 50.0);
    CHECK(events[0].body["detail"]["reason"] == "temperature_limit");
    states = with_topic(out, kRoot + "/alarm/bin-a/state");
    REQUIRE(states.size() == 1);
    CHECK(states[0].body["active"] == ordered_json::array());
}

TEST_CASE("flow bin analytics: tilt alarm, and fill readings while tilted are dropped",
          "[unit][analytics]") {
    FlowBinAnalytics engine(config(), base);
    Messages out;
    engine.on_reading(reading(kFillA, kT0, 40.0), out);
    for (int k = 0; k <= 10; ++k) engine.on_reading(reading(kTiltA, kT0 + k * kMin, 1.0), out);
    const auto events = with_topic(out, kRoot + "/alarm/bin-a");
    REQUIRE(events.size() == 1);
    CHECK(events[0].body["alarm"] == "bin_tilt");
    CHECK(events[0].body["value"].get<double>() == 1.0);
    CHECK(events[0].body["limit"].is_null());
    CHECK(events[0].body["bound"].is_null());
    CHECK(events[0].body["detail"]["reason"] == "tilt_flag");
    engine.on_reading(reading(kFillA, kT0 + 11 * kMin, 5.0), out);  // measures to a wall
    CHECK(engine.stats_json()["bins"]["bin-a"]["skipped_tilted"] == 1);
    CHECK(engine.stats_json()["bins"]["bin-a"]["emptyings"] == 0);
}

namespace {

/// A morning: flow polls, a discharge that has started but not yet raised, bins filling, a hot
/// bin; ticks along the way.
void first_half(FlowBinAnalytics& engine, Messages& out) {
    engine.on_tick(kT0 - 4 * kHour, out);
    feed_bins(engine, out);
    feed_flow(engine, kT0, 90, 500.0, out);
    for (int k = 0; k < 5; ++k) {
        const std::int64_t t = kT0 + 80 * kMin + k * kMin;
        engine.on_reading(reading(kRain, t, 0.0), out);
        engine.on_reading(reading(kOutfallFlow, t, 0.5), out);
    }
    engine.on_reading(reading(kTempA, kT0 + 80 * kMin, 20.0), out);
    engine.on_reading(reading(kTempA, kT0 + 85 * kMin, 70.0), out);
    engine.on_tick(kT0 + 89 * kMin, out);
}

/// The rest of the day: more of everything, across the hour, the discharge raise and a cut-off.
void second_half(FlowBinAnalytics& engine, Messages& out) {
    feed_flow(engine, kT0 + 90 * kMin, 60, 509.0, out);
    for (int k = 5; k < 20; ++k) {
        const std::int64_t t = kT0 + 80 * kMin + k * kMin;
        engine.on_reading(reading(kRain, t, 0.0), out);
        engine.on_reading(reading(kOutfallFlow, t, 0.5), out);
    }
    engine.on_reading(reading(kFillB, kT0 + 2 * kHour, 70.0), out);
    engine.on_reading(reading(kTempA, kT0 + 2 * kHour, 72.0), out);
    engine.on_reading(reading(kTiltA, kT0 + 2 * kHour, 0.0), out);
    engine.on_tick(kT0 + 2 * kHour + 1000, out);
    engine.on_tick(kT0 + 9 * kHour + 1000, out);
}

std::vector<AnalyticsStateRow> sorted(std::vector<AnalyticsStateRow> rows) {
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
    return rows;
}

Messages stored_only(const Messages& all) {
    Messages out;
    for (const auto& m : all)
        if (m.route == AnalyticsMessage::Route::Stored) out.push_back(m);
    return out;
}

}  // namespace

TEST_CASE("flow bin analytics: state round trip gives the same outputs", "[unit][analytics]") {
    FlowBinAnalytics original(config(), base);
    Messages ignored;
    first_half(original, ignored);
    const auto rows = original.take_changed_state();
    std::vector<std::string> keys;
    for (const auto& r : rows) keys.push_back(r.key);
    std::sort(keys.begin(), keys.end());
    CHECK(keys == std::vector<std::string>{"bin/bin-a", "bin/bin-b", "bin/bin-c", "flow/flowonly",
                                           "flow/main", "outfall/outfall1"});
    CHECK(original.take_changed_state().empty());  // nothing changed since

    FlowBinAnalytics restored(config(), base);
    restored.restore(rows);
    CHECK(texts(restored.retained()).size() == 4);  // the alarm states; no list until built
    const auto a_states = with_topic(original.retained(), kRoot + "/alarm/bin-a/state");
    const auto b_states = with_topic(restored.retained(), kRoot + "/alarm/bin-a/state");
    REQUIRE(a_states.size() == 1);
    REQUIRE(b_states.size() == 1);
    CHECK(b_states[0].body == a_states[0].body);
    CHECK(b_states[0].body["active"].size() == 1);  // the fire is still burning

    Messages from_original;
    Messages from_restored;
    second_half(original, from_original);
    second_half(restored, from_restored);
    // The restored engine publishes its list at its first tick: retained messages may differ
    // in number, everything stored must not.
    CHECK(texts(stored_only(from_restored)) == texts(stored_only(from_original)));
    CHECK_FALSE(with_topic(from_original, kRoot + "/flow/main").empty());
    CHECK_FALSE(with_topic(from_original, kRoot + "/alarm/outfall1").empty());
    CHECK_FALSE(with_topic(from_original, kRoot + "/bins/bin-b").empty());
    const auto a_list = with_topic(original.retained(), kRoot + "/bins/collect");
    const auto b_list = with_topic(restored.retained(), kRoot + "/bins/collect");
    REQUIRE(a_list.size() == 1);
    REQUIRE(b_list.size() == 1);
    CHECK(b_list[0].body == a_list[0].body);
    const auto a_rows = sorted(original.take_changed_state());
    const auto b_rows = sorted(restored.take_changed_state());
    REQUIRE(a_rows.size() == b_rows.size());
    for (std::size_t i = 0; i < a_rows.size(); ++i) {
        CHECK(b_rows[i].key == a_rows[i].key);
        CHECK(b_rows[i].state == a_rows[i].state);
    }
}

TEST_CASE("flow bin analytics: garbage state is ignored, foreign rows left alone",
          "[unit][analytics]") {
    const std::vector<AnalyticsStateRow> garbage = {
        {"flow/main", "not json {"},
        {"flow/flowonly", R"({"v": 1, "volume": {"totaliser": 3}, "night": {}})"},
        {"outfall/outfall1", R"({"v": 1, "discharge": {"phase": 9}})"},
        {"bin/bin-a", R"([1, 2, 3])"},
        {"bin/bin-b", R"({"v": 2})"},
        {"bin/bin-c", ""},
        {"bin/ghost", R"({"v": 1})"},
        {"alarm/water1.ph/gb3838-III/ph/0/window", R"({"phase": 2})"},
        {"noslash", "x"},
    };
    FlowBinAnalytics fresh(config(), base);
    FlowBinAnalytics recovered(config(), base);
    recovered.restore(garbage);
    // Only the row of a bin that is no longer configured is deleted.
    const auto rows = recovered.take_changed_state();
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].key == "bin/ghost");
    CHECK(rows[0].state.empty());
    Messages a;
    Messages b;
    first_half(fresh, a);
    second_half(fresh, a);
    first_half(recovered, b);
    second_half(recovered, b);
    CHECK(texts(b) == texts(a));
}

TEST_CASE("flow bin state: every struct survives encode and decode, bad shapes are refused",
          "[unit][analytics]") {
    using namespace gw::analytics;
    FlowVolumeTracker tracker(FlowVolumeConfig{});
    tracker.add_totaliser(kT0, 10.0);
    tracker.add_flow(kT0, 2.5);
    tracker.add_totaliser(kT0 + kMin, 11.0);
    tracker.add_flow(kT0 + kMin, 3.25);
    FlowVolumeState volume;
    REQUIRE(flow_bin_state::decode(flow_bin_state::encode(tracker.state()), volume));
    CHECK(flow_bin_state::encode(volume) == flow_bin_state::encode(tracker.state()));
    CHECK(volume.emitted_until_ms == std::numeric_limits<std::int64_t>::min());

    RainHistory rain;
    rain_add(rain, kT0, 0.4);
    RainHistory rain_back;
    REQUIRE(flow_bin_state::decode(flow_bin_state::encode(rain), rain_back));
    CHECK(rain_total_mm(rain_back, kT0, 1) == 0.4);

    FillHistory fill;
    fill_add(FillRateConfig{}, fill, kT0, 10.0);
    fill_add(FillRateConfig{}, fill, kT0 + kHour, 20.0);
    FillHistory fill_back;
    REQUIRE(flow_bin_state::decode(flow_bin_state::encode(fill), fill_back));
    REQUIRE(fill_back.samples.size() == 2);
    CHECK(fill_back.samples[1].fill_pct == 20.0);

    FireState fire;
    fire_step(FireConfig{}, fire, kT0, 65.0);
    FireState fire_back;
    REQUIRE(flow_bin_state::decode(flow_bin_state::encode(fire), fire_back));
    CHECK(fire_back.alarm);

    TiltState tilt;
    tilt_step(TiltConfig{}, tilt, kT0, true, std::nullopt);
    TiltState tilt_back;
    REQUIRE(flow_bin_state::decode(flow_bin_state::encode(tilt), tilt_back));
    CHECK(tilt_back.tilted);

    NightMinimumState night;
    night.has_day = true;
    night.day = 20'000;
    NightMinimumState night_back;
    REQUIRE(flow_bin_state::decode(flow_bin_state::encode(night), night_back));
    CHECK(night_back.day == 20'000);

    AlarmState alarm;
    alarm.phase = AlarmPhase::Clearing;
    AlarmState alarm_back;
    REQUIRE(flow_bin_state::decode(flow_bin_state::encode(alarm), alarm_back));
    CHECK(alarm_back.phase == AlarmPhase::Clearing);

    // Wrong shapes leave the target untouched.
    auto bad_alarm = flow_bin_state::encode(alarm);
    bad_alarm["phase"] = 7;
    AlarmState untouched;
    untouched.extreme = 42.0;
    CHECK_FALSE(flow_bin_state::decode(bad_alarm, untouched));
    CHECK(untouched.extreme == 42.0);
    auto unordered = flow_bin_state::encode(fill);
    unordered["samples"] = nlohmann::json::array({{kT0 + kHour, 1.0}, {kT0, 2.0}});
    CHECK_FALSE(flow_bin_state::decode(unordered, fill_back));
    auto short_rain = flow_bin_state::encode(rain);
    short_rain["bucket_mm"] = nlohmann::json::array({1.0});
    CHECK_FALSE(flow_bin_state::decode(short_rain, rain_back));
    auto negative = flow_bin_state::encode(tracker.state());
    negative["open"]["flow_samples"] = -1;
    CHECK_FALSE(flow_bin_state::decode(negative, volume));
    CHECK_FALSE(flow_bin_state::decode(nlohmann::json("text"), tilt_back));
    CHECK_FALSE(flow_bin_state::decode(nlohmann::json::object(), night_back));
}

TEST_CASE("local dates of local day numbers", "[unit][analytics]") {
    CHECK(local_date_text(0) == "1970-01-01");
    CHECK(local_date_text(analytics::local_day(kT0, 480)) == "2026-11-28");
    CHECK(local_date_text(analytics::local_day(kT0 - 9 * kHour, 480)) == "2026-11-27");
    CHECK(local_date_text(-1) == "1969-12-31");
    CHECK(local_date_text(11'016) == "2000-02-29");
}

TEST_CASE("flow bin analytics: produced messages pass the MQTT schemas", "[unit][analytics]") {
    if (std::system("/usr/bin/python3 -c 'import jsonschema' >/dev/null 2>&1") != 0) {
        WARN("skipped: /usr/bin/python3 with python3-jsonschema is not installed");
        return;
    }
    FlowBinAnalytics engine(config(), base);
    Messages out;
    first_half(engine, out);
    second_half(engine, out);
    // A night minimum, a tilt raise and clear, a fire clear and the outfall's clear as well.
    for (std::int64_t t = kT0 + 18 * kHour; t <= kT0 + 20 * kHour + 10 * kMin; t += kMin)
        engine.on_reading(reading(kFlow, t, 3.0), out);
    for (int k = 0; k <= 10; ++k)
        engine.on_reading(reading(kTiltA, kT0 + 3 * kHour + k * kMin, 1.0), out);
    engine.on_reading(reading(kTiltA, kT0 + 3 * kHour + 11 * kMin, 0.0), out);
    for (int k = 0; k <= 7; ++k)
        engine.on_reading(reading(kTempA, kT0 + 3 * kHour + k * 5 * kMin, 30.0), out);
    for (int k = 0; k <= 11; ++k)
        engine.on_reading(reading(kOutfallFlow, kT0 + 3 * kHour + k * kMin, 0.0), out);
    const auto retained = engine.retained();
    out.insert(out.end(), retained.begin(), retained.end());

    std::map<std::string, int> kinds;
    for (const auto& m : out) {
        const auto at = m.topic.find("/", kRoot.size() + 1);
        kinds[m.topic.substr(kRoot.size() + 1, at - kRoot.size() - 1)]++;
    }
    CHECK(kinds["flow"] > 0);
    CHECK(kinds["alarm"] > 0);
    CHECK(kinds["bins"] > 0);
    CHECK_FALSE(with_topic(out, kRoot + "/flow/main/night_minimum").empty());

    const auto path = std::filesystem::temp_directory_path() /
                      ("towngw-flow-bin-" + std::to_string(::getpid()) + ".jsonl");
    {
        std::ofstream file(path);
        std::int64_t seq = 1;
        for (const auto& m : out) {
            ordered_json body = m.body;
            if (m.route == AnalyticsMessage::Route::Stored) body["seq"] = seq++;  // as the store
            file << ordered_json{{"topic", m.topic}, {"payload", body.dump()}}.dump() << "\n";
        }
    }
    const std::string source = TOWNGW_SOURCE_DIR;
    const std::string command = "/usr/bin/python3 " + source + "/tests/tools/validate_mqtt.py " +
                                source + "/docs/schemas " + path.string() + " 2>&1";
    std::string output;
    FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    char buffer[512];
    while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
    const int status = ::pclose(pipe);
    INFO(output);
    CHECK(status == 0);
    CHECK_THAT(output, Catch::Contains("; 0 failure(s)"));
    std::filesystem::remove(path);
}
