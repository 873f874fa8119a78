// SPDX-License-Identifier: Apache-2.0
// The AlarmEngine that wires the limit tables and alarm rules to windows and daily means
// (docs/analytics.md "In the daemon"): formal vs indicative alarms, GB 18918's NH3-N limit
// following the daily mean water temperature, the quality checks' verdicts, the GB 3838
// class, and alarm state surviving a restart without a second "raised".
#include "app/alarm_engine.hpp"

#include <catch2/catch.hpp>

using namespace gw;
using analytics::Averaging;

namespace {

constexpr std::int64_t kMinuteMs = 60'000;
constexpr std::int64_t kDayMs = 86'400'000;
constexpr std::int64_t kT0 = 1'795'824'000'000;  // 2026-11-28T00:00:00Z

SensorConfig sensor(const std::string& id, const std::string& metric, const std::string& unit) {
    SensorConfig s;
    s.id = id;
    s.metric = metric;
    s.unit = unit;
    s.quality.params = analytics::default_quality_params(metric);
    return s;
}

/// A WWTP effluent site under GB 18918 class 1A with NH3-N and its water temperature.
Config effluent_config() {
    Config c;
    c.gateway.town_id = "town";
    c.gateway.gateway_id = "gw";
    c.sensors = {sensor("eff.nh3_n", "nh3_n", "mg/L"),
                 sensor("eff.temperature", "water_temperature", "degC")};
    SiteConfig site;
    site.id = "wwtp";
    site.standard.standard = analytics::StandardId::Gb18918;
    site.standard.class_name = "1A";
    site.sensors = {0};
    site.temperature_sensor = 1;
    site.raise_after = std::chrono::seconds(600);
    c.analytics.sites.push_back(site);
    return c;
}

WindowSummary mean_of(double value, std::int64_t start_ms, std::int64_t length_ms) {
    WindowSummary w;
    w.start_ms = start_ms;
    w.end_ms = start_ms + length_ms;
    w.count = 1;
    w.expected = 1;
    w.mean = value;
    w.quality = WindowQuality::Good;
    return w;
}

std::vector<nlohmann::ordered_json> alarms(const std::vector<AnalyticsMessage>& out) {
    std::vector<nlohmann::ordered_json> events;
    for (const auto& m : out)
        if (m.route == AnalyticsMessage::Route::Stored) events.push_back(m.body);
    return events;
}

nlohmann::ordered_json base() {
    return {{"v", 1}, {"town_id", "town"}, {"gateway_id", "gw"}};
}

}  // namespace

TEST_CASE("alarm engine: GB 18918 NH3-N follows the daily mean water temperature",
          "[unit][analytics]") {
    const Config config = effluent_config();
    AlarmEngine engine(config, base);
    std::vector<AnalyticsMessage> out;
    // A cold day (10 degC): the 1A limit is 8 mg/L, a daily mean of 6 complies.
    engine.on_aggregate(1, Averaging::Daily, mean_of(10.0, kT0, kDayMs), out);
    engine.on_aggregate(0, Averaging::Daily, mean_of(6.0, kT0, kDayMs), out);
    CHECK(alarms(out).empty());
    // A warm day (15 degC): the limit is 5 mg/L, the same 6 is a formal exceedance at once.
    engine.on_aggregate(1, Averaging::Daily, mean_of(15.0, kT0 + kDayMs, kDayMs), out);
    engine.on_aggregate(0, Averaging::Daily, mean_of(6.0, kT0 + kDayMs, kDayMs), out);
    const auto events = alarms(out);
    REQUIRE(events.size() == 1);
    CHECK(events[0]["state"] == "raised");
    CHECK(events[0]["limit"] == 5.0);
    CHECK(events[0]["indicative"] == false);
    CHECK(events[0]["basis"] == "daily");
    CHECK(events[0]["detail"]["limit_basis"] == "daily");
    CHECK(events[0]["subject"] == "eff.nh3_n");
    CHECK(engine.active_alarms() == 1);
    // The retained state lists it.
    const auto state = std::find_if(out.begin(), out.end(), [](const AnalyticsMessage& m) {
        return m.route == AnalyticsMessage::Route::Retained;
    });
    REQUIRE(state != out.end());
    CHECK(state->topic == "townbrain/v1/town/gw/alarm/eff.nh3_n/state");
    CHECK(state->body["active"].size() == 1);
}

TEST_CASE("alarm engine: window means against a daily limit are indicative, after raise_after",
          "[unit][analytics]") {
    const Config config = effluent_config();
    AlarmEngine engine(config, base);
    std::vector<AnalyticsMessage> out;
    // Minute means of 9 mg/L (above 5 at the default > 12 degC) for 9 minutes: not yet.
    for (int i = 0; i < 10; ++i)
        engine.on_aggregate(0, Averaging::Instantaneous,
                            mean_of(9.0, kT0 + i * kMinuteMs, kMinuteMs), out);
    CHECK(alarms(out).empty());  // ends at t0+1..10 min: 9 min after the first
    engine.on_aggregate(0, Averaging::Instantaneous, mean_of(9.0, kT0 + 10 * kMinuteMs, kMinuteMs),
                        out);
    const auto events = alarms(out);
    REQUIRE(events.size() == 1);
    CHECK(events[0]["indicative"] == true);
    CHECK(events[0]["basis"] == "window");
    CHECK(events[0]["detail"]["limit_basis"] == "daily");
    // A calibration window or one without a good sample neither clears nor raises.
    WindowSummary calibrating = mean_of(0.1, kT0 + 11 * kMinuteMs, kMinuteMs);
    calibrating.quality = WindowQuality::Calibrating;
    out.clear();
    engine.on_aggregate(0, Averaging::Instantaneous, calibrating, out);
    WindowSummary empty = mean_of(0.1, kT0 + 12 * kMinuteMs, kMinuteMs);
    empty.mean.reset();
    engine.on_aggregate(0, Averaging::Instantaneous, empty, out);
    CHECK(out.empty());
    CHECK(engine.active_alarms() == 1);
}

TEST_CASE("alarm engine: a raised alarm restored after a restart is not raised again",
          "[unit][analytics]") {
    const Config config = effluent_config();
    std::vector<AnalyticsStateRow> stored;
    {
        AlarmEngine engine(config, base);
        std::vector<AnalyticsMessage> out;
        engine.on_aggregate(0, Averaging::Daily, mean_of(9.0, kT0, kDayMs), out);
        REQUIRE(alarms(out).size() == 1);
        stored = engine.take_changed_state();
        CHECK(engine.take_changed_state().empty());  // nothing changed since
    }
    REQUIRE_FALSE(stored.empty());
    AlarmEngine restarted(config, base);
    restarted.restore(stored);
    CHECK(restarted.active_alarms() == 1);
    std::vector<AnalyticsMessage> out;
    restarted.on_aggregate(0, Averaging::Daily, mean_of(9.5, kT0 + kDayMs, kDayMs), out);
    CHECK(alarms(out).empty());
    restarted.on_aggregate(0, Averaging::Daily, mean_of(2.0, kT0 + 2 * kDayMs, kDayMs), out);
    const auto events = alarms(out);
    REQUIRE(events.size() == 1);
    CHECK(events[0]["state"] == "cleared");
    // Garbage rows are ignored, not fatal.
    AlarmEngine tolerant(config, base);
    tolerant.restore({{stored[0].key, "{not json"}, {"alarm/unknown/key", "{}"}, {"bin/x", "1"}});
    CHECK(tolerant.active_alarms() == 0);
}

TEST_CASE("alarm engine: quality checks turn an implausible sample into a failed one",
          "[unit][analytics]") {
    Config config = effluent_config();
    config.sensors.push_back(sensor("river.ph", "ph", "pH"));
    AlarmEngine engine(config, base);
    std::optional<SampleQuality> verdict;
    for (int i = 0; i < 30; ++i)
        verdict = engine.check_sample(2, 7.20 + 0.01 * (i % 3), kT0 + i * 1000);
    CHECK_FALSE(verdict);
    CHECK(engine.check_sample(2, 12.5, kT0 + 31'000) == SampleQuality::Spike);
    CHECK(engine.check_sample(2, std::nan(""), kT0 + 32'000) == SampleQuality::DecodeError);
    config.sensors[2].quality.enabled = false;
    AlarmEngine off(config, base);
    CHECK_FALSE(off.check_sample(2, 12.5, kT0));
}

TEST_CASE("alarm engine: a GB 3838 site's class from the latest window means",
          "[unit][analytics]") {
    Config config;
    config.gateway.town_id = "town";
    config.gateway.gateway_id = "gw";
    config.sensors = {sensor("r.nh3_n", "nh3_n", "mg/L"),
                      sensor("r.do", "dissolved_oxygen", "mg/L")};
    SiteConfig site;
    site.id = "river-up";
    site.standard.standard = analytics::StandardId::Gb3838;
    site.standard.class_name = "III";
    site.sensors = {0, 1};
    config.analytics.sites.push_back(site);
    AlarmEngine engine(config, base);
    std::vector<AnalyticsMessage> out;
    // NH3-N 0.4 is class II (<= 0.5), DO 5.5 is class III (>= 5): worst factor DO, class III.
    engine.on_aggregate(0, Averaging::Instantaneous, mean_of(0.4, kT0, kMinuteMs), out);
    engine.on_aggregate(1, Averaging::Instantaneous, mean_of(5.5, kT0, kMinuteMs), out);
    const auto last_class = [&]() -> nlohmann::ordered_json {
        for (auto m = out.rbegin(); m != out.rend(); ++m)
            if (m->topic == "townbrain/v1/town/gw/class/river-up") return m->body;
        return nullptr;
    };
    REQUIRE(last_class() != nullptr);
    CHECK(last_class()["water_class"] == 3);
    CHECK(last_class()["label"] == "III");
    CHECK(last_class()["meets_target"] == true);
    CHECK(last_class()["worst_factors"] == nlohmann::ordered_json::array({"dissolved_oxygen"}));
    // NH3-N 1.8 is class V (<= 2.0): the class drops to V, the target is missed.
    engine.on_aggregate(0, Averaging::Instantaneous, mean_of(1.8, kT0 + kMinuteMs, kMinuteMs), out);
    CHECK(last_class()["water_class"] == 5);
    CHECK(last_class()["meets_target"] == false);
    // Unchanged class: no new message.
    const auto before = out.size();
    engine.on_aggregate(0, Averaging::Instantaneous, mean_of(1.7, kT0 + 2 * kMinuteMs, kMinuteMs),
                        out);
    CHECK(std::none_of(
        out.begin() + static_cast<std::ptrdiff_t>(before), out.end(),
        [](const AnalyticsMessage& m) { return m.topic.find("/class/") != std::string::npos; }));
}
