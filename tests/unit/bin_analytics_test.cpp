// SPDX-License-Identifier: Apache-2.0
// Waste-bin analytics (analytics/bin_analytics.hpp). Expected numbers are computed here from the
// synthetic inputs, never copied from the implementation's output.
#include "analytics/bin_analytics.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

using namespace gw::analytics;

namespace {

// 2026-11-28T00:00:00Z = 08:00 in China (+08:00).
constexpr std::int64_t kT0 = 1'795'824'000'000;
constexpr std::int64_t kMin = kMsPerMinute;
constexpr std::int64_t kHour = kMsPerHour;

double hours_of(std::int64_t ms) {
    return static_cast<double>(ms) / static_cast<double>(kHour);
}

std::int64_t ms_of_hours(double h) {
    return std::llround(h * static_cast<double>(kHour));
}

/// A bin filling linearly: `rate_pct_h` from `start_pct` at `from`, one sample every `step`.
FillHistory linear_fill(const FillRateConfig& config, std::int64_t from, std::int64_t to,
                        std::int64_t step, double start_pct, double rate_pct_h) {
    FillHistory h;
    for (std::int64_t t = from; t <= to; t += step) {
        fill_add(config, h, t, start_pct + rate_pct_h * hours_of(t - from));
    }
    return h;
}

}  // namespace

// --- fill rate
// ---------------------------------------------------------------------------------------

TEST_CASE("fill rate and time to full on a linear fill", "[unit][analytics]") {
    FillRateConfig rc;
    CollectConfig cc;
    const double start_pct = 10.0;
    const double rate_pct_h = 4.0;
    const std::int64_t end = kT0 + 6 * kHour;
    const FillHistory h = linear_fill(rc, kT0, end, 30 * kMin, start_pct, rate_pct_h);
    const auto rate = fill_rate_pct_h(rc, h, end);
    REQUIRE(rate);
    CHECK(*rate == Approx(rate_pct_h));

    const FillAssessment a = assess_fill(rc, cc, h, end);
    const double now_pct = start_pct + rate_pct_h * hours_of(end - kT0);
    REQUIRE(a.fill_pct);
    CHECK(*a.fill_pct == Approx(now_pct));
    REQUIRE(a.time_to_full_ms);
    CHECK(std::llabs(*a.time_to_full_ms - ms_of_hours((cc.full_pct - now_pct) / rate_pct_h)) <= 1);
    REQUIRE(a.time_to_threshold_ms);
    CHECK(std::llabs(*a.time_to_threshold_ms -
                     ms_of_hours((cc.collect_threshold_pct - now_pct) / rate_pct_h)) <= 1);

    // Assessed later than the last sample: the prediction runs from the sample's time.
    const FillAssessment later = assess_fill(rc, cc, h, end + kHour);
    REQUIRE(later.time_to_full_ms);
    CHECK(std::llabs(*later.time_to_full_ms -
                     (ms_of_hours((cc.full_pct - now_pct) / rate_pct_h) - kHour)) <= 1);
}

TEST_CASE("fill rate needs enough samples over enough time", "[unit][analytics]") {
    FillRateConfig rc;  // 3 samples over at least 1 h
    FillHistory h;
    fill_add(rc, h, kT0, 10.0);
    fill_add(rc, h, kT0 + 30 * kMin, 12.0);
    CHECK_FALSE(fill_rate_pct_h(rc, h, kT0 + 30 * kMin));  // 2 samples
    fill_add(rc, h, kT0 + 50 * kMin, 14.0);
    CHECK_FALSE(fill_rate_pct_h(rc, h, kT0 + 50 * kMin));  // spans 50 min
    fill_add(rc, h, kT0 + 60 * kMin, 15.0);
    CHECK(fill_rate_pct_h(rc, h, kT0 + 60 * kMin));
    // Out of range, NaN and out-of-order samples are ignored.
    const auto n = h.samples.size();
    fill_add(rc, h, kT0 + 70 * kMin, std::nan(""));
    fill_add(rc, h, kT0 + 70 * kMin, 140.0);
    fill_add(rc, h, kT0 + 10 * kMin, 16.0);
    CHECK(h.samples.size() == n);
}

TEST_CASE("fill rate after an emptying uses only the samples since", "[unit][analytics]") {
    FillRateConfig rc;
    FillHistory h = linear_fill(rc, kT0, kT0 + 15 * kHour, 30 * kMin, 10.0, 4.0);
    REQUIRE(h.samples.back().fill_pct == Approx(70.0));
    // Collected: 70 % -> 5 %, a fall far above emptying_drop_pct.
    const std::int64_t emptied_at = kT0 + 15 * kHour + 30 * kMin;
    const double after_pct = 5.0;
    const double new_rate = 6.0;
    CHECK(fill_add(rc, h, emptied_at, after_pct));
    CHECK(h.emptyings == 1);
    CHECK(h.last_emptied_ms == emptied_at);
    CHECK(h.samples.size() == 1);
    fill_add(rc, h, emptied_at + 30 * kMin, after_pct + new_rate * 0.5);
    CHECK_FALSE(fill_rate_pct_h(rc, h, emptied_at + 30 * kMin));  // too few since the emptying
    fill_add(rc, h, emptied_at + kHour, after_pct + new_rate * 1.0);
    const auto rate = fill_rate_pct_h(rc, h, emptied_at + kHour);
    REQUIRE(rate);
    CHECK(*rate == Approx(new_rate));
    // Waste settling by a few points is not an emptying.
    CHECK_FALSE(fill_add(rc, h, emptied_at + 90 * kMin, after_pct + new_rate * 1.0 - 3.0));
    CHECK(h.emptyings == 1);
}

TEST_CASE("fill rate is a least-squares slope that tolerates noisy readings", "[unit][analytics]") {
    FillRateConfig rc;
    FillHistory h;
    std::vector<double> xs;
    std::vector<double> ys;
    for (int k = 0; k <= 12; ++k) {
        const double x = 0.5 * k;                                       // hours
        const double y = 20.0 + 3.0 * x + ((k % 2 == 0) ? 1.5 : -1.5);  // +-1.5 % ultrasonic noise
        fill_add(rc, h, kT0 + ms_of_hours(x), y);
        xs.push_back(x);
        ys.push_back(y);
    }
    // Independent closed form: slope = (n Sxy - Sx Sy) / (n Sxx - Sx^2).
    double sx = 0.0, sy = 0.0, sxx = 0.0, sxy = 0.0;
    for (std::size_t i = 0; i < xs.size(); ++i) {
        sx += xs[i];
        sy += ys[i];
        sxx += xs[i] * xs[i];
        sxy += xs[i] * ys[i];
    }
    const double n = static_cast<double>(xs.size());
    const double expected = (n * sxy - sx * sy) / (n * sxx - sx * sx);
    const auto rate = fill_rate_pct_h(rc, h, kT0 + 6 * kHour);
    REQUIRE(rate);
    CHECK(*rate == Approx(expected));
    CHECK(h.emptyings == 0);
}

TEST_CASE("a bin that is not filling gets no time to full", "[unit][analytics]") {
    FillRateConfig rc;
    CollectConfig cc;
    const FillHistory h = linear_fill(rc, kT0, kT0 + 4 * kHour, 30 * kMin, 40.0, 0.0);
    const FillAssessment a = assess_fill(rc, cc, h, kT0 + 4 * kHour);
    REQUIRE(a.rate_pct_h);
    CHECK(*a.rate_pct_h == Approx(0.0).margin(1e-12));
    CHECK_FALSE(a.time_to_full_ms);
    CHECK_FALSE(a.time_to_threshold_ms);
    CHECK_FALSE(a.collect);
    CHECK(a.reason == CollectReason::None);
}

// --- collect today
// -----------------------------------------------------------------------------------

TEST_CASE("collect today at the cut-off boundary", "[unit][analytics]") {
    FillRateConfig rc;
    CollectConfig cc;  // 80 %, cut-off 17:00 at +08:00
    // 17:00 +08:00 on the local day containing kT0.
    const std::int64_t local_midnight = kT0 - cc.tz_offset_min * kMin;
    const std::int64_t cutoff = local_midnight + cc.cutoff_minute_of_day * kMin;
    const double rate_pct_h = 10.0;
    const double last_pct = 50.0;
    // The bin reaches the threshold exactly at the cut-off ...
    const std::int64_t reach_h_ms = ms_of_hours((cc.collect_threshold_pct - last_pct) / rate_pct_h);
    for (const std::int64_t shift : {std::int64_t{0}, std::int64_t{1}}) {
        CAPTURE(shift);
        const std::int64_t last = cutoff - reach_h_ms + shift;
        const FillHistory h =
            linear_fill(rc, last - 3 * kHour, last, kHour, last_pct - 3 * rate_pct_h, rate_pct_h);
        REQUIRE(h.samples.back().t_ms == last);
        const FillAssessment a = assess_fill(rc, cc, h, last);
        CHECK(a.cutoff_ms == cutoff);
        REQUIRE(a.time_to_threshold_ms);
        CHECK(*a.time_to_threshold_ms == reach_h_ms);
        if (shift == 0) {
            CHECK(a.collect);  // ... which still counts as today
            CHECK(a.reason == CollectReason::Predicted);
        } else {
            CHECK_FALSE(a.collect);  // ... 1 ms after it does not
            CHECK(a.reason == CollectReason::None);
        }
    }
    CHECK(next_cutoff_ms(cc, cutoff) == cutoff);
    CHECK(next_cutoff_ms(cc, cutoff + 1) == cutoff + kMsPerDay);  // after it: tomorrow's
}

TEST_CASE("a bin above the threshold is collected now", "[unit][analytics]") {
    FillRateConfig rc;
    CollectConfig cc;
    FillHistory h;
    fill_add(rc, h, kT0, cc.collect_threshold_pct + 5.0);
    const FillAssessment a = assess_fill(rc, cc, h, kT0 + kMin);
    CHECK(a.collect);
    CHECK(a.reason == CollectReason::FullNow);
    REQUIRE(a.time_to_threshold_ms);
    CHECK(*a.time_to_threshold_ms == 0);
    CHECK_FALSE(a.time_to_full_ms);  // one sample: no rate, and not at 100 %
    // No samples at all: nothing is known, nothing is decided.
    const FillAssessment none = assess_fill(rc, cc, FillHistory{}, kT0);
    CHECK_FALSE(none.fill_pct);
    CHECK_FALSE(none.collect);
}

TEST_CASE("the collection list is sorted by time to full", "[unit][analytics]") {
    FillRateConfig rc;
    CollectConfig cc;
    const std::int64_t now = kT0 + kHour;  // 09:00 local, well before the 17:00 cut-off
    std::vector<BinStatus> bins;
    auto add = [&](const std::string& id, double start_pct, double rate_pct_h) {
        const FillHistory h =
            linear_fill(rc, now - 3 * kHour, now, 30 * kMin, start_pct, rate_pct_h);
        bins.push_back({id, assess_fill(rc, cc, h, now)});
    };
    add("d-slow", 20.0, 1.0);    // 23 % now, 80 % in 57 h: not today
    add("c-static", 90.0, 0.0);  // above the threshold but not filling: time to full unknown
    add("a-fast", 40.0, 10.0);   // 70 % now, full in 3 h
    add("e-full", 100.0, 0.0);   // full: time to full 0
    add("b-full", 100.0, 0.0);   // full too: ties broken by id
    add("f-medium", 50.0, 5.0);  // 65 % now, full in 7 h
    const std::vector<BinStatus> list = build_collection_list(bins);
    std::vector<std::string> ids;
    for (const auto& b : list) ids.push_back(b.bin_id);
    CHECK(ids == std::vector<std::string>{"b-full", "e-full", "a-fast", "f-medium", "c-static"});
    // The predicted ones are there because they cross 80 % before the cut-off (8 h away).
    const std::int64_t to_cutoff = next_cutoff_ms(cc, now) - now;
    for (const auto& b : list) {
        if (b.assessment.reason == CollectReason::Predicted) {
            CHECK(*b.assessment.time_to_threshold_ms <= to_cutoff);
        }
    }
}

// --- fire
// -----------------------------------------------------------------------------------------

TEST_CASE("fire alarm by the absolute temperature limit and its clearing", "[unit][analytics]") {
    FireConfig config;  // 60 degC, clear below 50 for 30 min
    FireState state;
    // A slow rise (0.2 degC/min): no rate alarm, the limit raises it.
    const double temps[] = {55.0, 57.0, 59.0, config.limit_degC};
    std::optional<BinAlarmTransition> tr;
    std::int64_t t = kT0;
    for (const double c : temps) {
        tr = fire_step(config, state, t, c);
        if (c < config.limit_degC) CHECK_FALSE(tr);
        t += 10 * kMin;
    }
    REQUIRE(tr);
    CHECK(tr->raised);
    CHECK(tr->reason == BinAlarmReason::TemperatureLimit);
    CHECK(tr->value == config.limit_degC);
    // Between the clear level and the limit: stays raised.
    for (int k = 0; k < 6; ++k, t += 10 * kMin) CHECK_FALSE(fire_step(config, state, t, 52.0));
    const std::int64_t calm_from = t;
    std::optional<BinAlarmTransition> cleared;
    for (; t <= calm_from + 2 * kHour && !cleared; t += 10 * kMin) {
        cleared = fire_step(config, state, t, 45.0);
        if (cleared) CHECK(t == calm_from + config.clear_after_ms);
    }
    REQUIRE(cleared);
    CHECK_FALSE(cleared->raised);
    CHECK(cleared->since_ms == calm_from);
}

TEST_CASE("fire alarm by the rate of temperature rise", "[unit][analytics]") {
    FireConfig config;  // >= 1 degC/min and >= 5 degC within 15 min
    FireState state;
    const double base = 25.0;
    const double rise = 6.0;
    const std::int64_t dt = 5 * kMin;
    CHECK_FALSE(fire_step(config, state, kT0, base));
    const auto tr = fire_step(config, state, kT0 + dt, base + rise);
    REQUIRE(tr);
    CHECK(tr->raised);
    CHECK(tr->reason == BinAlarmReason::TemperatureRise);
    CHECK(tr->value == Approx(rise / (static_cast<double>(dt) / kMin)));
    CHECK(tr->since_ms == kT0);
}

TEST_CASE("a small fast step or slow sun heating raises no fire alarm", "[unit][analytics]") {
    FireConfig config;
    FireState state;
    // +4 degC in one minute: fast, but below the minimum rise.
    CHECK_FALSE(fire_step(config, state, kT0, 25.0));
    CHECK_FALSE(fire_step(config, state, kT0 + kMin, 25.0 + config.min_rise_degC - 1.0));
    // Sun on the lid: 0.25 degC/min for an hour, sampled every minute.
    FireState sun;
    for (int k = 0; k <= 60; ++k) {
        CHECK_FALSE(fire_step(config, sun, kT0 + k * kMin, 25.0 + 0.25 * k));
    }
    CHECK_FALSE(fire_step(config, sun, kT0 + 61 * kMin, std::nan("")));
}

TEST_CASE("fire rate alarm with one-second samples", "[unit][analytics]") {
    FireConfig config;
    FireState state;
    const std::int64_t onset = kT0 + 10 * kMin;
    const double per_s = 0.1;  // 6 degC/min once it burns
    std::optional<BinAlarmTransition> tr;
    std::int64_t t = kT0;
    for (; t <= onset + 5 * kMin && !tr; t += 1000) {
        const double c = 25.0 + (t > onset ? per_s * static_cast<double>(t - onset) / 1000.0 : 0.0);
        tr = fire_step(config, state, t, c);
    }
    REQUIRE(tr);
    const std::int64_t at = t - 1000;
    CHECK(tr->reason == BinAlarmReason::TemperatureRise);
    // It cannot have risen by min_rise before min_rise / rate seconds; the thinned history is
    // never older than one window / 16 plus a sample, so it raises within a minute.
    CHECK(at >= onset + std::llround(config.min_rise_degC / per_s) * 1000);
    CHECK(at <= onset + kMin);
    CHECK(state.recent.size() <= 32);
}

// --- tilt
// -----------------------------------------------------------------------------------------

TEST_CASE("tilt flag raises after the minimum duration and clears when upright",
          "[unit][analytics]") {
    TiltConfig config;  // 10 min
    TiltState state;
    CHECK_FALSE(tilt_step(config, state, kT0, true, std::nullopt));
    CHECK_FALSE(tilt_step(config, state, kT0 + config.raise_after_ms - kMin, true, std::nullopt));
    const auto raised = tilt_step(config, state, kT0 + config.raise_after_ms, true, std::nullopt);
    REQUIRE(raised);
    CHECK(raised->raised);
    CHECK(raised->reason == BinAlarmReason::TiltFlag);
    CHECK(raised->since_ms == kT0);
    CHECK_FALSE(tilt_step(config, state, kT0 + config.raise_after_ms + kMin, true, std::nullopt));
    const auto cleared =
        tilt_step(config, state, kT0 + config.raise_after_ms + 2 * kMin, false, std::nullopt);
    REQUIRE(cleared);
    CHECK_FALSE(cleared->raised);
}

TEST_CASE("a lid opened briefly for emptying raises no tilt alarm", "[unit][analytics]") {
    TiltConfig config;
    TiltState state;
    CHECK_FALSE(tilt_step(config, state, kT0, true, std::nullopt));
    CHECK_FALSE(tilt_step(config, state, kT0 + 3 * kMin, false, std::nullopt));
    CHECK_FALSE(tilt_step(config, state, kT0 + config.raise_after_ms + kMin, true, std::nullopt));
    CHECK_FALSE(tilt_step(config, state, kT0 + 20 * kMin, false, std::nullopt));
    CHECK_FALSE(state.alarm);
    // Neither flag nor angle: ignored.
    CHECK_FALSE(tilt_step(config, state, kT0 + 30 * kMin, std::nullopt, std::nan("")));
}

TEST_CASE("tilt angle above the limit raises and clears with hysteresis", "[unit][analytics]") {
    TiltConfig config;
    config.raise_after_ms = 0;  // at once
    TiltState state;
    CHECK_FALSE(tilt_step(config, state, kT0, std::nullopt, config.angle_limit_deg));  // not above
    const double tilted = config.angle_limit_deg + 5.0;
    const auto raised = tilt_step(config, state, kT0 + kMin, std::nullopt, tilted);
    REQUIRE(raised);
    CHECK(raised->reason == BinAlarmReason::TiltAngle);
    CHECK(raised->value == tilted);
    // Between the clear and the raise angle: still tilted.
    const double between = (config.angle_clear_deg + config.angle_limit_deg) / 2.0;
    CHECK_FALSE(tilt_step(config, state, kT0 + 2 * kMin, std::nullopt, between));
    CHECK(state.alarm);
    const auto cleared =
        tilt_step(config, state, kT0 + 3 * kMin, std::nullopt, config.angle_clear_deg - 1.0);
    REQUIRE(cleared);
    CHECK_FALSE(cleared->raised);
}
