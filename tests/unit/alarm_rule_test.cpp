// SPDX-License-Identifier: Apache-2.0
// Alarm state machine on synthetic series. Limits are DOMAIN.md §2 table values; every time and
// threshold below is computed here from them.
#include "analytics/alarm_rule.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include "analytics/limits.hpp"

using namespace gw::analytics;

namespace {

constexpr std::int64_t kMinuteMs = 60 * 1000;
constexpr std::int64_t kT0 = 1'700'000'000'000;  // an arbitrary Unix-ms origin
const double kNaN = std::numeric_limits<double>::quiet_NaN();

// GB 18918-2002 class 1A COD ≤ 50 mg/L (daily mean).
constexpr double kCod1aMgL = 50.0;
// GB 3838-2002 class III DO ≥ 5 mg/L.
constexpr double kDoIiiMgL = 5.0;

AlarmRuleConfig max_rule(double max, double hysteresis, std::int64_t raise_after_ms = 0) {
    AlarmRuleConfig c;
    c.max = max;
    c.hysteresis = hysteresis;
    c.raise_after_ms = raise_after_ms;
    return c;
}

struct Fed {
    std::vector<AlarmTransition> transitions;
    std::vector<std::int64_t> at;
};

/// Feeds one value per minute from `start_ms`; collects the transitions.
Fed feed(AlarmRule& rule, const std::vector<double>& values, std::int64_t start_ms = kT0) {
    Fed fed;
    for (std::size_t i = 0; i < values.size(); ++i) {
        const std::int64_t t = start_ms + static_cast<std::int64_t>(i) * kMinuteMs;
        if (auto tr = rule.update(values[i], t)) fed.transitions.push_back(*tr);
    }
    return fed;
}

}  // namespace

TEST_CASE("a violation raises, recovery below max minus hysteresis clears", "[unit][analytics]") {
    const double h = 5.0;
    AlarmRule rule(max_rule(kCod1aMgL, h));
    REQUIRE(rule.valid());
    CHECK_FALSE(rule.update(kCod1aMgL, kT0));  // on the limit: complies ("≤")
    const auto raised = rule.update(kCod1aMgL + 1.0, kT0 + kMinuteMs);
    REQUIRE(raised);
    CHECK(raised->event == AlarmEvent::Raised);
    CHECK(raised->side == BoundSide::AboveMax);
    CHECK(raised->limit == kCod1aMgL);
    CHECK(raised->value == kCod1aMgL + 1.0);
    CHECK(raised->since_ms == kT0 + kMinuteMs);
    CHECK(raised->at_ms == kT0 + kMinuteMs);
    CHECK(rule.active());
    CHECK_FALSE(rule.update(kCod1aMgL + 8.0, kT0 + 2 * kMinuteMs));
    CHECK_FALSE(rule.update(kCod1aMgL - h + 0.1, kT0 + 3 * kMinuteMs));    // inside the band
    const auto cleared = rule.update(kCod1aMgL - h, kT0 + 4 * kMinuteMs);  // exactly max − h
    REQUIRE(cleared);
    CHECK(cleared->event == AlarmEvent::Cleared);
    CHECK(cleared->since_ms == kT0 + 4 * kMinuteMs);
    CHECK(cleared->extreme == kCod1aMgL + 8.0);  // the peak of the excursion
    CHECK_FALSE(rule.active());
}

TEST_CASE("hysteresis: a value oscillating around the limit does not flap", "[unit][analytics]") {
    // ±1 mg/L around the limit, with a 5 mg/L band.
    std::vector<double> series;
    for (int i = 0; i < 20; ++i) series.push_back(i % 2 == 0 ? kCod1aMgL + 1.0 : kCod1aMgL - 1.0);
    AlarmRule with_band(max_rule(kCod1aMgL, 5.0));
    const Fed banded = feed(with_band, series);
    REQUIRE(banded.transitions.size() == 1);
    CHECK(banded.transitions[0].event == AlarmEvent::Raised);
    // Without a band the same series raises and clears on every sample.
    AlarmRule no_band(max_rule(kCod1aMgL, 0.0));
    CHECK(feed(no_band, series).transitions.size() == series.size());
}

TEST_CASE("minimum duration: a short excursion does not raise, a long one raises on time",
          "[unit][analytics]") {
    const std::int64_t hold_ms = 10 * kMinuteMs;
    AlarmRule rule(max_rule(kCod1aMgL, 0.0, hold_ms));
    // 9 minutes above (samples at 0..8 min), then back: never raised.
    std::vector<double> short_excursion(9, kCod1aMgL + 5.0);
    short_excursion.push_back(kCod1aMgL - 5.0);
    CHECK(feed(rule, short_excursion).transitions.empty());
    CHECK(rule.state().phase == AlarmPhase::Normal);

    // From start: above for 15 minutes; raises on the sample hold_ms after the first one.
    const std::int64_t start = kT0 + kMinuteMs * 60;
    const Fed fed = feed(rule, std::vector<double>(15, kCod1aMgL + 5.0), start);
    REQUIRE(fed.transitions.size() == 1);
    CHECK(fed.transitions[0].at_ms == start + hold_ms);
    CHECK(fed.transitions[0].since_ms == start);
}

TEST_CASE("clearing waits for the clear duration; an interrupted recovery stays raised",
          "[unit][analytics]") {
    const std::int64_t hold_ms = 10 * kMinuteMs;
    const double h = 2.0;
    AlarmRule rule(max_rule(kCod1aMgL, h, hold_ms));  // clear_after_ms: same as raise_after_ms
    feed(rule, std::vector<double>(11, kCod1aMgL + 5.0));
    REQUIRE(rule.active());
    const std::int64_t recovery = kT0 + 20 * kMinuteMs;
    // 5 minutes recovered, one sample back in the band, then recovered for good.
    std::vector<double> series(5, kCod1aMgL - h - 1.0);
    series.push_back(kCod1aMgL - h + 1.0);  // above max − h: the recovery is not confirmed
    const Fed interrupted = feed(rule, series, recovery);
    CHECK(interrupted.transitions.empty());
    CHECK(rule.state().phase == AlarmPhase::Raised);
    const std::int64_t second = recovery + 6 * kMinuteMs;
    const Fed fed = feed(rule, std::vector<double>(12, kCod1aMgL - h - 1.0), second);
    REQUIRE(fed.transitions.size() == 1);
    CHECK(fed.transitions[0].event == AlarmEvent::Cleared);
    CHECK(fed.transitions[0].since_ms == second);
    CHECK(fed.transitions[0].at_ms == second + hold_ms);

    SECTION("a separate clear duration of 0 clears on the first recovered sample") {
        AlarmRuleConfig c = max_rule(kCod1aMgL, h, hold_ms);
        c.clear_after_ms = 0;
        AlarmRule quick(c);
        feed(quick, std::vector<double>(11, kCod1aMgL + 5.0));
        REQUIRE(quick.active());
        const auto cleared = quick.update(kCod1aMgL - h, kT0 + 30 * kMinuteMs);
        REQUIRE(cleared);
        CHECK(cleared->event == AlarmEvent::Cleared);
    }
}

TEST_CASE("a lower bound (DO) raises below min and clears at min plus hysteresis",
          "[unit][analytics]") {
    AlarmRuleConfig c;
    c.min = kDoIiiMgL;
    c.hysteresis = 0.5;
    AlarmRule rule(c);
    CHECK_FALSE(rule.update(kDoIiiMgL, kT0));
    const auto raised = rule.update(kDoIiiMgL - 1.0, kT0 + kMinuteMs);
    REQUIRE(raised);
    CHECK(raised->side == BoundSide::BelowMin);
    CHECK(raised->limit == kDoIiiMgL);
    CHECK_FALSE(rule.update(kDoIiiMgL - 2.0, kT0 + 2 * kMinuteMs));
    CHECK_FALSE(rule.update(kDoIiiMgL + 0.25, kT0 + 3 * kMinuteMs));  // within the band
    const auto cleared = rule.update(kDoIiiMgL + 0.5, kT0 + 4 * kMinuteMs);
    REQUIRE(cleared);
    CHECK(cleared->extreme == kDoIiiMgL - 2.0);  // the lowest value
}

TEST_CASE("NaN and bad samples neither raise, clear nor restart a wait", "[unit][analytics]") {
    const std::int64_t hold_ms = 10 * kMinuteMs;
    AlarmRule rule(max_rule(kCod1aMgL, 0.0, hold_ms));
    CHECK_FALSE(rule.update(kNaN, kT0));
    CHECK_FALSE(rule.update(kCod1aMgL + 100.0, kT0, /*good=*/false));
    CHECK(rule.state().phase == AlarmPhase::Normal);
    // Above at 0 and 1 min, NaN and a bad compliant value in between, above again at 10 min.
    CHECK_FALSE(rule.update(kCod1aMgL + 5.0, kT0 + kMinuteMs));
    CHECK_FALSE(rule.update(kNaN, kT0 + 3 * kMinuteMs));
    CHECK_FALSE(rule.update(kCod1aMgL - 30.0, kT0 + 5 * kMinuteMs, /*good=*/false));
    const auto raised = rule.update(kCod1aMgL + 5.0, kT0 + kMinuteMs + hold_ms);
    REQUIRE(raised);
    CHECK(raised->since_ms == kT0 + kMinuteMs);
    // Raised: NaN does not clear.
    CHECK_FALSE(rule.update(std::numeric_limits<double>::infinity(), kT0 + 30 * kMinuteMs));
    CHECK(rule.active());

    SECTION("max_gap_ms restarts the wait after a hole in the data") {
        AlarmRuleConfig c = max_rule(kCod1aMgL, 0.0, hold_ms);
        c.max_gap_ms = 5 * kMinuteMs;
        AlarmRule gapped(c);
        CHECK_FALSE(gapped.update(kCod1aMgL + 5.0, kT0));
        // 10 minutes later (> max gap): the excursion restarts here instead of raising.
        CHECK_FALSE(gapped.update(kCod1aMgL + 5.0, kT0 + hold_ms));
        CHECK(gapped.state().excursion_since_ms == kT0 + hold_ms);
    }
}

TEST_CASE("a sample older than the last good one is ignored", "[unit][analytics]") {
    AlarmRule rule(max_rule(kCod1aMgL, 0.0));
    REQUIRE(rule.update(kCod1aMgL + 1.0, kT0 + 10 * kMinuteMs));
    CHECK_FALSE(rule.update(kCod1aMgL - 10.0, kT0));  // clock stepped back: no clear
    CHECK(rule.active());
}

TEST_CASE("restoring a persisted state resumes the alarm", "[unit][analytics]") {
    const std::int64_t hold_ms = 10 * kMinuteMs;
    const AlarmRuleConfig c = max_rule(kCod1aMgL, 2.0, hold_ms);

    SECTION("a raised alarm stays raised and clears later with its own since") {
        AlarmRule before(c);
        feed(before, std::vector<double>(11, kCod1aMgL + 5.0));
        REQUIRE(before.active());
        const AlarmState saved = before.state();  // plain data: what the daemon persists

        AlarmRule after(c);
        REQUIRE(after.restore(saved));
        CHECK(after.active());
        CHECK_FALSE(after.update(kCod1aMgL + 6.0, kT0 + 12 * kMinuteMs));  // no second Raised
        const Fed fed =
            feed(after, std::vector<double>(11, kCod1aMgL - 10.0), kT0 + 20 * kMinuteMs);
        REQUIRE(fed.transitions.size() == 1);
        CHECK(fed.transitions[0].event == AlarmEvent::Cleared);
        CHECK(fed.transitions[0].extreme == kCod1aMgL + 6.0);
    }
    SECTION("a pending excursion keeps its start time") {
        AlarmRule before(c);
        feed(before, std::vector<double>(5, kCod1aMgL + 5.0));  // 0..4 min
        REQUIRE(before.state().phase == AlarmPhase::Pending);
        AlarmRule after(c);
        REQUIRE(after.restore(before.state()));
        CHECK_FALSE(after.update(kCod1aMgL + 5.0, kT0 + hold_ms - kMinuteMs));
        const auto raised = after.update(kCod1aMgL + 5.0, kT0 + hold_ms);
        REQUIRE(raised);
        CHECK(raised->since_ms == kT0);
    }
    SECTION("a state that does not fit the rule is refused") {
        AlarmRule before(c);
        feed(before, std::vector<double>(11, kCod1aMgL + 5.0));
        AlarmRuleConfig min_only;
        min_only.min = kDoIiiMgL;
        AlarmRule other(min_only);
        CHECK_FALSE(other.restore(before.state()));  // an AboveMax alarm, but no max any more
        CHECK(other.state().phase == AlarmPhase::Normal);
    }
}

TEST_CASE("alarms on data shorter than the limit's basis are indicative", "[unit][analytics]") {
    SiteStandard plant;
    plant.standard = StandardId::Gb18918;
    plant.class_name = "1A";
    Limit cod;
    for (const auto& l : limits_for(plant))
        if (l.metric == "cod") cod = l;
    REQUIRE(cod.max == kCod1aMgL);
    REQUIRE(cod.basis == Averaging::Daily);

    AlarmRule hourly(rule_for(cod, Averaging::Hourly));
    CHECK(hourly.indicative());
    const auto warning = hourly.update(kCod1aMgL + 1.0, kT0);
    REQUIRE(warning);
    CHECK(warning->indicative);

    AlarmRule daily(rule_for(cod, Averaging::Daily));
    const auto exceedance = daily.update(kCod1aMgL + 1.0, kT0);
    REQUIRE(exceedance);
    CHECK_FALSE(exceedance->indicative);

    CHECK(is_indicative(Averaging::Instantaneous, Averaging::Hourly));
    CHECK_FALSE(is_indicative(Averaging::Daily, Averaging::Instantaneous));
    CHECK_FALSE(is_indicative(Averaging::Instantaneous, Averaging::Instantaneous));
}

TEST_CASE("pH jumping from above 9 to below 6 clears one alarm and raises the other",
          "[unit][analytics]") {
    // GB 3838 / GB 18918 pH 6–9.
    AlarmRuleConfig c;
    c.min = 6.0;
    c.max = 9.0;
    c.hysteresis = 0.5;
    AlarmRule rule(c);
    REQUIRE(rule.update(9.5, kT0));
    const auto cleared = rule.update(5.5, kT0 + kMinuteMs);
    REQUIRE(cleared);
    CHECK(cleared->event == AlarmEvent::Cleared);
    CHECK(cleared->side == BoundSide::AboveMax);
    CHECK(rule.state().phase == AlarmPhase::Pending);
    const auto raised = rule.update(5.5, kT0 + 2 * kMinuteMs);
    REQUIRE(raised);
    CHECK(raised->side == BoundSide::BelowMin);
    CHECK(raised->since_ms == kT0 + kMinuteMs);
}

TEST_CASE("invalid rules are reported and never fire", "[unit][analytics]") {
    CHECK(validate_rule(AlarmRuleConfig{}) == "alarm rule needs a min, a max or both");
    CHECK(validate_rule(max_rule(kCod1aMgL, -1.0)) ==
          "hysteresis must be a finite number >= 0, got -1");
    AlarmRuleConfig wide;
    wide.min = 6.0;
    wide.max = 9.0;
    wide.hysteresis = 4.0;
    CHECK(validate_rule(wide) == "hysteresis 4 is wider than max - min (3)");
    AlarmRuleConfig upside;
    upside.min = 9.0;
    upside.max = 6.0;
    CHECK(validate_rule(upside) == "alarm rule min 9 is above max 6");
    CHECK(validate_rule(max_rule(kCod1aMgL, 0.0, -1)) == "raise_after_ms must be >= 0");
    AlarmRule invalid(max_rule(kCod1aMgL, -1.0));
    CHECK_FALSE(invalid.valid());
    CHECK_FALSE(invalid.update(kCod1aMgL * 10.0, kT0));
}
