// SPDX-License-Identifier: Apache-2.0
// Sewage flow analytics (analytics/flow_volume.hpp). Every expected number is computed here from
// the synthetic inputs, never copied from the implementation's output.
#include "analytics/flow_volume.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <vector>

using namespace gw::analytics;

namespace {

// 2026-11-28T00:00:00Z: a UTC midnight, so also an hour and a day boundary.
constexpr std::int64_t kT0 = 1'795'824'000'000;
constexpr std::int64_t kMin = kMsPerMinute;
constexpr std::int64_t kHour = kMsPerHour;
constexpr double kPi = 3.14159265358979323846;

double hours_of(std::int64_t ms) {
    return static_cast<double>(ms) / static_cast<double>(kHour);
}

std::vector<FlowWindowVolume> append(std::vector<FlowWindowVolume> all,
                                     const std::vector<FlowWindowVolume>& more) {
    all.insert(all.end(), more.begin(), more.end());
    return all;
}

const FlowWindowVolume* find_window(const std::vector<FlowWindowVolume>& windows,
                                    std::int64_t start_ms) {
    for (const auto& w : windows) {
        if (w.start_ms == start_ms) return &w;
    }
    return nullptr;
}

}  // namespace

// --- totaliser
// --------------------------------------------------------------------------------------

TEST_CASE("totaliser steady increase counts every delta", "[unit][analytics]") {
    TotaliserConfig config;
    config.max_flow_m3_h = 20.0;
    TotaliserState state;
    // 6 m3/h read every 10 min: +1 m3 per reading on an integer counter.
    const double first_m3 = 123456.0;
    auto step = totaliser_step(config, state, kT0, first_m3);
    CHECK(step.kind == TotaliserStepKind::Baseline);
    CHECK(step.volume_m3 == 0.0);
    double sum_m3 = 0.0;
    const int readings = 30;
    for (int k = 1; k <= readings; ++k) {
        step = totaliser_step(config, state, kT0 + k * 10 * kMin, first_m3 + k);
        CHECK(step.kind == TotaliserStepKind::Normal);
        CHECK(step.flags == 0u);
        sum_m3 += step.volume_m3;
    }
    CHECK(sum_m3 == Approx(static_cast<double>(readings)));
    CHECK(state.rollovers == 0);
    CHECK(state.resets == 0);
    CHECK(state.jumps == 0);
}

TEST_CASE("totaliser rollover at a configured modulus counts the wrapped delta",
          "[unit][analytics]") {
    TotaliserConfig config;
    config.rollover_at_m3 = 100000.0;  // an 8-digit display meter wrapping at 1e5 m3
    config.max_flow_m3_h = 60.0;
    TotaliserState state;
    const double before_m3 = 99990.0;
    const double after_m3 = 5.0;
    totaliser_step(config, state, kT0, before_m3);
    const auto step = totaliser_step(config, state, kT0 + 30 * kMin, after_m3);
    CHECK(step.kind == TotaliserStepKind::Rollover);
    CHECK(step.volume_m3 == Approx((config.rollover_at_m3 - before_m3) + after_m3));
    CHECK((step.flags & kFlowTotaliserRollover) != 0u);
    CHECK(state.rollovers == 1);
    CHECK(state.resets == 0);
    // Counting goes on from the wrapped value.
    const auto next = totaliser_step(config, state, kT0 + 40 * kMin, after_m3 + 3.0);
    CHECK(next.kind == TotaliserStepKind::Normal);
    CHECK(next.volume_m3 == Approx(3.0));
}

TEST_CASE("totaliser rollover at the int32 default without a max flow uses the band",
          "[unit][analytics]") {
    TotaliserConfig config;  // modulus 2^31, no max flow
    TotaliserState state;
    const double modulus_m3 = 2147483648.0;
    const double before_m3 = modulus_m3 - 8.0;
    totaliser_step(config, state, kT0, before_m3);
    const auto step = totaliser_step(config, state, kT0 + kHour, 3.0);
    CHECK(step.kind == TotaliserStepKind::Rollover);
    CHECK(step.volume_m3 == Approx(modulus_m3 - before_m3 + 3.0));
}

TEST_CASE("totaliser reset to zero is flagged and not counted then counting restarts",
          "[unit][analytics]") {
    for (const double max_flow_m3_h : {0.0, 50.0}) {
        CAPTURE(max_flow_m3_h);
        TotaliserConfig config;
        config.max_flow_m3_h = max_flow_m3_h;
        TotaliserState state;
        totaliser_step(config, state, kT0, 1000.0);
        auto step = totaliser_step(config, state, kT0 + 10 * kMin, 1010.0);
        CHECK(step.volume_m3 == Approx(10.0));
        step = totaliser_step(config, state, kT0 + 20 * kMin, 0.0);  // meter replaced
        CHECK(step.kind == TotaliserStepKind::Reset);
        CHECK(step.volume_m3 == 0.0);
        CHECK((step.flags & kFlowTotaliserReset) != 0u);
        CHECK(state.resets == 1);
        step = totaliser_step(config, state, kT0 + 30 * kMin, 5.0);
        CHECK(step.kind == TotaliserStepKind::Normal);
        CHECK(step.volume_m3 == Approx(5.0 - 0.0));
    }
}

TEST_CASE("totaliser drop far from the modulus is a reset and never a negative volume",
          "[unit][analytics]") {
    TotaliserConfig config;
    config.rollover_at_m3 = 100000.0;
    config.max_flow_m3_h = 60.0;
    TotaliserState state;
    totaliser_step(config, state, kT0, 50000.0);
    const auto step = totaliser_step(config, state, kT0 + 10 * kMin, 49000.0);
    CHECK(step.kind == TotaliserStepKind::Reset);
    CHECK(step.volume_m3 == 0.0);
}

TEST_CASE("totaliser implausible jump is flagged and not counted", "[unit][analytics]") {
    TotaliserConfig config;
    config.max_flow_m3_h = 10.0;
    TotaliserState state;
    const std::int64_t dt = 10 * kMin;
    // Largest credible increase over 10 min: max flow x elapsed x margin + one count.
    const double limit_m3 =
        config.max_flow_m3_h * hours_of(dt) * config.jump_margin + config.resolution_m3;
    totaliser_step(config, state, kT0, 1000.0);
    auto step = totaliser_step(config, state, kT0 + dt, 1001.0);
    CHECK(step.volume_m3 == Approx(1.0));
    // Just inside the limit still counts.
    step = totaliser_step(config, state, kT0 + 2 * dt, 1001.0 + std::floor(limit_m3));
    CHECK(step.kind == TotaliserStepKind::Normal);
    const double base_m3 = 1001.0 + std::floor(limit_m3);
    step = totaliser_step(config, state, kT0 + 3 * dt, base_m3 + 4000.0);
    CHECK(step.kind == TotaliserStepKind::Jump);
    CHECK(step.volume_m3 == 0.0);
    CHECK((step.flags & kFlowTotaliserJump) != 0u);
    CHECK(state.jumps == 1);
    // The next reading continues from the jumped value: the jump was real (e.g. the counter was
    // preset); counting continues from there.
    step = totaliser_step(config, state, kT0 + 4 * dt, base_m3 + 4001.0);
    CHECK(step.kind == TotaliserStepKind::Normal);
    CHECK(step.volume_m3 == Approx(1.0));
    CHECK(state.resets == 0);
}

TEST_CASE("totaliser spike that comes straight back is counted from before it",
          "[unit][analytics]") {
    TotaliserConfig config;
    config.max_flow_m3_h = 10.0;
    TotaliserState state;
    totaliser_step(config, state, kT0, 1000.0);
    totaliser_step(config, state, kT0 + 10 * kMin, 1001.0);
    auto step = totaliser_step(config, state, kT0 + 20 * kMin, 999999.0);
    CHECK(step.kind == TotaliserStepKind::Jump);
    step = totaliser_step(config, state, kT0 + 30 * kMin, 1003.0);
    CHECK(step.kind == TotaliserStepKind::Spike);
    CHECK(step.volume_m3 == Approx(1003.0 - 1001.0));
    CHECK(step.from_ms == kT0 + 10 * kMin);
    CHECK(state.spikes == 1);
    CHECK(state.resets == 0);
}

TEST_CASE("totaliser ignores NaN negative and out-of-order readings", "[unit][analytics]") {
    TotaliserConfig config;
    TotaliserState state;
    totaliser_step(config, state, kT0, 10.0);
    CHECK(totaliser_step(config, state, kT0 + kMin, std::nan("")).kind ==
          TotaliserStepKind::Invalid);
    CHECK(totaliser_step(config, state, kT0 + kMin, -1.0).kind == TotaliserStepKind::Invalid);
    CHECK(totaliser_step(config, state, kT0 + kMin, std::numeric_limits<double>::infinity()).kind ==
          TotaliserStepKind::Invalid);
    CHECK(totaliser_step(config, state, kT0, 11.0).kind == TotaliserStepKind::Invalid);
    CHECK(totaliser_step(config, state, kT0 + kMin, 2147483648.0).kind ==
          TotaliserStepKind::Invalid);  // not below the modulus
    CHECK(state.invalid == 5);
    const auto step = totaliser_step(config, state, kT0 + 2 * kMin, 12.0);
    CHECK(step.kind == TotaliserStepKind::Normal);
    CHECK(step.volume_m3 == Approx(2.0));
}

// --- integration and windows
// ------------------------------------------------------------------------

TEST_CASE("integrating a constant flow is exact", "[unit][analytics]") {
    FlowVolumeConfig config;  // 1 h windows, 5 min max gap
    FlowVolumeTracker tracker(config);
    const double flow_m3_h = 12.0;
    std::vector<FlowWindowVolume> windows;
    for (std::int64_t t = kT0; t <= kT0 + kHour; t += kMin) {
        windows = append(windows, tracker.add_flow(t, flow_m3_h));
    }
    REQUIRE(windows.size() == 1);
    const FlowWindowVolume& w = windows[0];
    CHECK(w.start_ms == kT0);
    CHECK(w.end_ms == kT0 + kHour);
    CHECK(w.integrated_m3 == Approx(flow_m3_h * hours_of(kHour)));
    CHECK(w.integrated_coverage == 1.0);
    CHECK(w.integrated_missing_ms == 0);
    CHECK(w.flow_samples == 60);
    CHECK((w.flags & kFlowIntegratedGap) == 0u);
    CHECK((w.flags & kFlowTotaliserNoData) != 0u);  // no totaliser was fed
}

TEST_CASE("integrating a linear ramp over irregular samples is exact per window",
          "[unit][analytics]") {
    FlowVolumeConfig config;
    FlowVolumeTracker tracker(config);
    // q(t) = a + b * (hours since kT0); samples irregular, never more than 5 min apart, and
    // none exactly on the window edge, so the edge value is interpolated.
    const double a = 10.0;
    const double b = 6.0;
    auto q = [&](std::int64_t t) { return a + b * hours_of(t - kT0); };
    auto ramp_integral = [&](std::int64_t t1, std::int64_t t2) {
        const double h1 = hours_of(t1 - kT0);
        const double h2 = hours_of(t2 - kT0);
        return a * (h2 - h1) + b * (h2 * h2 - h1 * h1) / 2.0;
    };
    const std::int64_t offsets_s[] = {-240, -97,  13,   200,  471,  700,  950,  1200, 1499, 1777,
                                      2000, 2299, 2500, 2790, 3000, 3290, 3500, 3599, 3700};
    std::vector<FlowWindowVolume> windows;
    for (const std::int64_t s : offsets_s) {
        windows = append(windows, tracker.add_flow(kT0 + s * 1000, q(kT0 + s * 1000)));
    }
    REQUIRE(windows.size() == 2);
    // The window before kT0 saw only its last 4 minutes.
    const FlowWindowVolume* before = find_window(windows, kT0 - kHour);
    REQUIRE(before != nullptr);
    CHECK(before->integrated_m3 == Approx(ramp_integral(kT0 - 240'000, kT0)));
    CHECK(before->integrated_coverage == Approx(240.0 / 3600.0));
    CHECK(before->integrated_missing_ms == kHour - 240'000);
    const FlowWindowVolume* full = find_window(windows, kT0);
    REQUIRE(full != nullptr);
    CHECK(full->integrated_m3 == Approx(ramp_integral(kT0, kT0 + kHour)).epsilon(1e-12));
    CHECK(full->integrated_coverage == 1.0);
}

TEST_CASE("a flow gap longer than max gap is not bridged and lowers coverage",
          "[unit][analytics]") {
    FlowVolumeConfig config;
    config.max_gap_ms = 5 * kMin;
    FlowVolumeTracker tracker(config);
    const double flow_m3_h = 6.0;
    const std::int64_t gap_from = kT0 + 20 * kMin;
    const std::int64_t gap_to = kT0 + 40 * kMin;
    std::vector<FlowWindowVolume> windows;
    for (std::int64_t t = kT0; t <= kT0 + kHour; t += kMin) {
        if (t > gap_from && t < gap_to) continue;  // the meter was silent
        windows = append(windows, tracker.add_flow(t, flow_m3_h));
    }
    REQUIRE(windows.size() == 1);
    const FlowWindowVolume& w = windows[0];
    const std::int64_t missing = gap_to - gap_from;
    CHECK(w.integrated_missing_ms == missing);
    CHECK(w.integrated_coverage == Approx(static_cast<double>(kHour - missing) / kHour));
    CHECK(w.integrated_m3 == Approx(flow_m3_h * hours_of(kHour - missing)));
    CHECK((w.flags & kFlowIntegratedGap) != 0u);
}

TEST_CASE("negative flow is integrated as zero and flagged as reverse flow", "[unit][analytics]") {
    FlowVolumeTracker tracker(FlowVolumeConfig{});
    std::vector<FlowWindowVolume> windows;
    for (std::int64_t t = kT0; t <= kT0 + kHour; t += kMin) {
        windows = append(windows, tracker.add_flow(t, t < kT0 + 30 * kMin ? -3.0 : 4.0));
    }
    REQUIRE(windows.size() == 1);
    // [0, 29] min at 0, one ramp minute 0 -> 4, [30, 60] min at 4.
    const double expected_m3 = 0.5 * 4.0 * hours_of(kMin) + 4.0 * hours_of(30 * kMin);
    CHECK(windows[0].integrated_m3 == Approx(expected_m3));
    CHECK((windows[0].flags & kFlowReverseFlow) != 0u);
}

TEST_CASE("totaliser and integrated volumes are published side by side", "[unit][analytics]") {
    FlowVolumeConfig config;
    config.totaliser.max_flow_m3_h = 20.0;
    FlowVolumeTracker tracker(config);
    const double flow_m3_h = 6.0;
    const double per_minute_m3 = flow_m3_h * hours_of(kMin);
    const double total0_m3 = 5000.0;
    std::vector<FlowWindowVolume> windows;
    // One poll a minute reads both registers (same timestamp). The order of the two calls
    // alternates, as it may in the daemon.
    for (std::int64_t t = kT0 - kMin; t <= kT0 + kHour; t += kMin) {
        const double total_m3 =
            total0_m3 + per_minute_m3 * static_cast<double>((t - (kT0 - kMin)) / kMin);
        if ((t / kMin) % 2 == 0) {
            windows = append(windows, tracker.add_totaliser(t, total_m3));
            windows = append(windows, tracker.add_flow(t, flow_m3_h));
        } else {
            windows = append(windows, tracker.add_flow(t, flow_m3_h));
            windows = append(windows, tracker.add_totaliser(t, total_m3));
        }
    }
    const FlowWindowVolume* w = find_window(windows, kT0);
    REQUIRE(w != nullptr);
    // Readings at kT0 .. kT0+59 min each count the minute before them.
    CHECK(w->totaliser_m3 == Approx(60 * per_minute_m3));
    CHECK(w->totaliser_readings == 60);
    CHECK(w->integrated_m3 == Approx(flow_m3_h * hours_of(kHour)));
    CHECK(w->integrated_coverage == 1.0);
    CHECK(w->totaliser_unattributed_m3 == 0.0);
    CHECK((w->flags & (kFlowTotaliserNoData | kFlowIntegratedNoData)) == 0u);
}

TEST_CASE("a totaliser reset inside a window flags the window and is not counted",
          "[unit][analytics]") {
    FlowVolumeConfig config;
    config.totaliser.max_flow_m3_h = 50.0;
    FlowVolumeTracker tracker(config);
    tracker.add_totaliser(kT0, 700.0);
    tracker.add_totaliser(kT0 + 10 * kMin, 704.0);
    tracker.add_totaliser(kT0 + 20 * kMin, 0.0);  // reset
    tracker.add_totaliser(kT0 + 30 * kMin, 3.0);
    const auto windows = tracker.close_due(kT0 + kHour);
    REQUIRE(windows.size() == 1);
    CHECK(windows[0].totaliser_m3 == Approx((704.0 - 700.0) + (3.0 - 0.0)));
    CHECK((windows[0].flags & kFlowTotaliserReset) != 0u);
    CHECK(tracker.state().totaliser.resets == 1);
    const auto names = flow_flag_names(windows[0].flags);
    CHECK(std::find(names.begin(), names.end(), "totaliser_reset") != names.end());
}

TEST_CASE("a totaliser delta over a long gap across the window start is unattributed",
          "[unit][analytics]") {
    FlowVolumeConfig config;  // max gap 5 min
    FlowVolumeTracker tracker(config);
    tracker.add_totaliser(kT0 - 10 * kMin, 1000.0);
    tracker.add_totaliser(kT0 + 10 * kMin, 1002.0);  // 20 min later, across kT0
    tracker.add_totaliser(kT0 + 11 * kMin, 1003.0);
    const auto windows = tracker.close_due(kT0 + kHour);
    const FlowWindowVolume* w = find_window(windows, kT0);
    REQUIRE(w != nullptr);
    CHECK(w->totaliser_unattributed_m3 == Approx(1002.0 - 1000.0));
    CHECK(w->totaliser_m3 == Approx(1003.0 - 1002.0));
    CHECK((w->flags & kFlowTotaliserGap) != 0u);
}

TEST_CASE("close_due waits for the flow sample that bridges the window end", "[unit][analytics]") {
    FlowVolumeConfig config;  // max gap 5 min
    FlowVolumeTracker tracker(config);
    const double flow_m3_h = 3.0;
    for (std::int64_t t = kT0; t <= kT0 + kHour - kMin; t += kMin) tracker.add_flow(t, flow_m3_h);
    const std::int64_t last = kT0 + kHour - kMin;
    CHECK(tracker.close_due(kT0 + kHour).empty());  // the next sample may still bridge
    CHECK(tracker.close_due(last + config.max_gap_ms).empty());
    const auto windows = tracker.close_due(last + config.max_gap_ms + 1);
    REQUIRE(windows.size() == 1);
    CHECK(windows[0].integrated_missing_ms == kHour - (last - kT0));
    CHECK(windows[0].integrated_m3 == Approx(flow_m3_h * hours_of(last - kT0)));
}

TEST_CASE("flow volume state restored after a restart gives the same windows",
          "[unit][analytics]") {
    FlowVolumeConfig config;
    config.totaliser.max_flow_m3_h = 30.0;
    auto total_at = [](std::int64_t t) { return 200.0 + 0.25 * static_cast<double>(t / kMin); };
    auto flow_at = [](std::int64_t t) { return 10.0 + 5.0 * std::sin(hours_of(t - kT0)); };

    FlowVolumeTracker uninterrupted(config);
    std::vector<FlowWindowVolume> expected;
    for (std::int64_t t = kT0; t <= kT0 + 2 * kHour; t += 2 * kMin) {
        expected = append(expected, uninterrupted.add_totaliser(t, total_at(t)));
        expected = append(expected, uninterrupted.add_flow(t, flow_at(t)));
    }

    FlowVolumeTracker before(config);
    std::vector<FlowWindowVolume> got;
    FlowVolumeState saved;
    for (std::int64_t t = kT0; t <= kT0 + 2 * kHour; t += 2 * kMin) {
        if (t == kT0 + 70 * kMin) {
            saved = before.state();
            break;
        }
        got = append(got, before.add_totaliser(t, total_at(t)));
        got = append(got, before.add_flow(t, flow_at(t)));
    }
    FlowVolumeTracker after(config);
    REQUIRE(after.restore(saved));
    for (std::int64_t t = kT0 + 70 * kMin; t <= kT0 + 2 * kHour; t += 2 * kMin) {
        got = append(got, after.add_totaliser(t, total_at(t)));
        got = append(got, after.add_flow(t, flow_at(t)));
    }
    REQUIRE(got.size() == expected.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        CHECK(got[i].start_ms == expected[i].start_ms);
        CHECK(got[i].totaliser_m3 == expected[i].totaliser_m3);
        CHECK(got[i].integrated_m3 == expected[i].integrated_m3);
        CHECK(got[i].flags == expected[i].flags);
    }
    // A window length change refuses the old state.
    FlowVolumeConfig other = config;
    other.window_ms = 7 * kMin;
    FlowVolumeTracker changed(other);
    FlowVolumeState odd = saved;
    odd.open.start_ms = kT0 + kHour + 30 * kMin;
    CHECK_FALSE(changed.restore(odd));
}

// --- night minimum
// ------------------------------------------------------------------------------------

namespace {

// A diurnal sewage flow (local time): low at night, high in the day. Minimum at 03:00 local.
double diurnal_m3_h(std::int64_t t, std::int32_t tz_offset_min) {
    const double local_h = hours_of(t + tz_offset_min * kMin);
    return 20.0 + 10.0 * std::cos(2.0 * kPi * (local_h - 15.0) / 24.0);
}

// Expected night minimum for one-minute samples: the lowest 15-minute bucket mean between
// start_h and end_h local on the local day starting at `local_midnight`.
double expected_night_min(std::int64_t local_midnight, std::int32_t series_tz_offset_min,
                          int start_h, int end_h, std::int64_t* bucket_start) {
    double best = std::numeric_limits<double>::infinity();
    for (std::int64_t b = local_midnight + start_h * kHour; b < local_midnight + end_h * kHour;
         b += 15 * kMin) {
        double sum = 0.0;
        for (std::int64_t t = b; t < b + 15 * kMin; t += kMin) {
            sum += diurnal_m3_h(t, series_tz_offset_min);
        }
        const double mean = sum / 15.0;
        if (mean < best) {
            best = mean;
            *bucket_start = b;
        }
    }
    return best;
}

}  // namespace

TEST_CASE("night minimum on a synthetic diurnal day in China time", "[unit][analytics]") {
    NightMinimumConfig config;  // 02:00-04:00, +480, 15 min buckets
    REQUIRE(valid(config));
    NightMinimumState state;
    // Local day D starts at kT0 - 8 h (00:00 +08:00 on 2026-11-28).
    const std::int64_t local_midnight = kT0 - 8 * kHour;
    const std::int64_t day = local_day(local_midnight, config.tz_offset_min);
    CHECK(local_midnight_ms(day, config.tz_offset_min) == local_midnight);
    std::vector<std::pair<std::int64_t, NightMinimum>> results;
    for (std::int64_t t = local_midnight; t < local_midnight + 30 * kHour; t += kMin) {
        if (auto r = night_minimum_step(config, state, t, diurnal_m3_h(t, 480))) {
            results.emplace_back(t, *r);
        }
    }
    REQUIRE(results.size() == 2);  // day D and day D + 1 (its night ended at 28:00 local)
    const auto& [emitted_at, r] = results[0];
    CHECK(emitted_at == local_midnight + 4 * kHour);  // first sample after the night
    CHECK(r.day == day);
    CHECK(r.period_start_ms == local_midnight + 2 * kHour);
    CHECK(r.period_end_ms == local_midnight + 4 * kHour);
    std::int64_t bucket = 0;
    const double expected = expected_night_min(local_midnight, 480, 2, 4, &bucket);
    REQUIRE(r.min_m3_h);
    CHECK(*r.min_m3_h == Approx(expected).epsilon(1e-12));
    CHECK(r.min_bucket_start_ms == bucket);
    CHECK(r.buckets_used == 8);
    CHECK(r.buckets_expected == 8);
    CHECK(results[1].second.day == day + 1);
}

TEST_CASE("night minimum follows the configured timezone", "[unit][analytics]") {
    // The same UTC series, read by a gateway configured for UTC: its 02:00-04:00 is another part
    // of the curve, so another minimum.
    NightMinimumConfig config;
    config.tz_offset_min = 0;
    NightMinimumState state;
    std::optional<NightMinimum> r;
    for (std::int64_t t = kT0; t <= kT0 + 5 * kHour && !r; t += kMin) {
        r = night_minimum_step(config, state, t, diurnal_m3_h(t, 480));
    }
    REQUIRE(r);
    std::int64_t bucket = 0;
    const double expected = expected_night_min(kT0, 480, 2, 4, &bucket);
    REQUIRE(r->min_m3_h);
    CHECK(*r->min_m3_h == Approx(expected).epsilon(1e-12));
    CHECK(r->min_bucket_start_ms == bucket);
    CHECK(r->period_start_ms == kT0 + 2 * kHour);
}

TEST_CASE("night minimum is emitted by the tick when samples stop and thin buckets are skipped",
          "[unit][analytics]") {
    NightMinimumConfig config;
    config.tz_offset_min = 0;
    NightMinimumState state;
    // Every minute from 01:50 to 03:29, then silence. The 03:15 bucket has samples until 03:29
    // (15), the flows are constant per bucket: 5 + bucket index.
    for (std::int64_t t = kT0 + 110 * kMin; t < kT0 + 210 * kMin; t += kMin) {
        const double flow = t < kT0 + 2 * kHour
                                ? 0.0  // before the night: must not count
                                : 5.0 + static_cast<double>((t - (kT0 + 2 * kHour)) / (15 * kMin));
        // A bucket with a single sample is not trusted: 02:15 gets only one.
        if (t > kT0 + 135 * kMin && t < kT0 + 150 * kMin) continue;
        CHECK_FALSE(night_minimum_step(config, state, t, flow));
    }
    CHECK_FALSE(night_minimum_tick(config, state, kT0 + 4 * kHour - 1));
    const auto r = night_minimum_tick(config, state, kT0 + 4 * kHour);
    REQUIRE(r);
    REQUIRE(r->min_m3_h);
    CHECK(*r->min_m3_h == Approx(5.0));  // 02:00 bucket
    // 02:00, 02:30, 02:45, 03:00, 03:15 used; 02:15 had one sample (< 3).
    CHECK(r->buckets_used == 5);
    CHECK_FALSE(night_minimum_tick(config, state, kT0 + 5 * kHour));  // once per day
}

TEST_CASE("night minimum with an invalid config emits nothing", "[unit][analytics]") {
    NightMinimumConfig config;
    config.start_hour = 4;
    config.end_hour = 2;
    CHECK_FALSE(valid(config));
    NightMinimumState state;
    for (std::int64_t t = kT0; t < kT0 + 30 * kHour; t += 10 * kMin) {
        CHECK_FALSE(night_minimum_step(config, state, t, 1.0));
    }
}

// --- rain and dry-weather discharge
// ---------------------------------------------------------------------

TEST_CASE("rain history totals the last N hours", "[unit][analytics]") {
    RainHistory rain;
    rain_add(rain, kT0 + 10 * kMin, 0.2);
    rain_add(rain, kT0 + 50 * kMin, 0.2);
    rain_add(rain, kT0 + 3 * kHour, 1.0);
    rain_add(rain, kT0 + 3 * kHour, std::nan(""));  // ignored
    rain_add(rain, kT0 + 3 * kHour, -4.0);          // ignored
    CHECK(rain_total_mm(rain, kT0 + 3 * kHour + 5 * kMin, 1) == Approx(1.0));
    CHECK(rain_total_mm(rain, kT0 + 3 * kHour + 5 * kMin, 3) == Approx(1.0));
    CHECK(rain_total_mm(rain, kT0 + 3 * kHour + 5 * kMin, 4) == Approx(1.4));
    CHECK(rain_total_mm(rain, kT0 + 26 * kHour, 24) == Approx(1.0));
    CHECK(rain_total_mm(rain, kT0 + 40 * kHour, 24) == 0.0);
    // Far later rain wraps the ring over old buckets.
    rain_add(rain, kT0 + 100 * kHour, 2.0);
    CHECK(rain_total_mm(rain, kT0 + 100 * kHour, 72) == Approx(2.0));
    CHECK(rain_total_mm(RainHistory{}, kT0, 24) == 0.0);
}

TEST_CASE("dry-weather discharge is raised after the minimum duration", "[unit][analytics]") {
    DryDischargeConfig config;  // > 0.5 m3/h for 10 min
    DryDischargeState state;
    std::optional<DischargeTransition> raised;
    std::int64_t raised_at = 0;
    double peak = 0.0;
    const std::int64_t onset = kT0 + 5 * kMin;
    for (std::int64_t t = kT0; t <= kT0 + kHour && !raised; t += kMin) {
        const double flow = t < onset ? 0.1 : 2.0 + static_cast<double>((t - onset) / kMin) * 0.1;
        if (t >= onset) peak = std::max(peak, flow);
        raised = dry_discharge_step(config, state, t, flow, std::nullopt);  // no rain gauge
        raised_at = t;
    }
    REQUIRE(raised);
    CHECK(raised->alarm == DischargeAlarm::Raised);
    CHECK(raised_at == onset + config.raise_after_ms);
    CHECK(raised->since_ms == onset);
    CHECK(raised->peak_flow_m3_h == Approx(peak));
}

TEST_CASE("dry-weather discharge is not raised when it rained", "[unit][analytics]") {
    DryDischargeConfig config;  // rain over the last 24 h below 1 mm is dry weather
    DryDischargeState state;
    RainHistory rain;
    const std::int64_t rain_at = kT0 - 2 * kHour;
    rain_add(rain, rain_at, 5.0);
    for (std::int64_t t = kT0; t <= kT0 + 2 * kHour; t += kMin) {
        const double rain_mm = rain_total_mm(rain, t, config.rain_lookback_hours);
        REQUIRE(rain_mm >= config.dry_rain_mm);
        CHECK_FALSE(dry_discharge_step(config, state, t, 3.0, rain_mm));
    }
    // The lookback sums whole hour buckets (h - N, h]: the rain's bucket leaves it N hours
    // after the bucket's start. From then on the same flow is a dry-weather discharge.
    const std::int64_t dry_from = (rain_at / kHour + config.rain_lookback_hours) * kHour;
    std::optional<DischargeTransition> raised;
    for (std::int64_t t = dry_from - kHour; t <= dry_from + kHour && !raised; t += kMin) {
        raised = dry_discharge_step(config, state, t, 3.0,
                                    rain_total_mm(rain, t, config.rain_lookback_hours));
    }
    REQUIRE(raised);
    CHECK(raised->since_ms == dry_from);
    CHECK(raised->at_ms == dry_from + config.raise_after_ms);
}

TEST_CASE("dry-weather discharge clears after the flow stops and hysteresis holds it",
          "[unit][analytics]") {
    DryDischargeConfig config;  // raise > 0.5, clear <= 0.25, 10 min each
    DryDischargeState state;
    std::int64_t t = kT0;
    std::optional<DischargeTransition> tr;
    for (; t <= kT0 + 10 * kMin; t += kMin) tr = dry_discharge_step(config, state, t, 2.0, 0.0);
    REQUIRE(tr);
    CHECK(tr->alarm == DischargeAlarm::Raised);
    // Between the clear and the raise level: still raised, for as long as it lasts.
    for (; t <= kT0 + 40 * kMin; t += kMin) {
        CHECK_FALSE(dry_discharge_step(config, state, t, 0.4, 0.0));
    }
    const std::int64_t stop = t;
    std::optional<DischargeTransition> cleared;
    for (; t <= kT0 + 2 * kHour && !cleared; t += kMin) {
        cleared = dry_discharge_step(config, state, t, 0.1, 0.0);
        if (cleared) {
            CHECK(t == stop + config.clear_after_ms);
        }
    }
    REQUIRE(cleared);
    CHECK(cleared->alarm == DischargeAlarm::Cleared);
    CHECK(cleared->since_ms == stop);
    CHECK(cleared->peak_flow_m3_h == Approx(2.0));
    CHECK_FALSE(cleared->wet_weather);
}

TEST_CASE("dry-weather discharge clears when it starts raining", "[unit][analytics]") {
    DryDischargeConfig config;
    DryDischargeState state;
    std::int64_t t = kT0;
    for (; t <= kT0 + 10 * kMin; t += kMin) dry_discharge_step(config, state, t, 2.0, 0.0);
    const std::int64_t rain_from = t;
    std::optional<DischargeTransition> cleared;
    for (; t <= kT0 + kHour && !cleared; t += kMin) {
        cleared = dry_discharge_step(config, state, t, 5.0, config.dry_rain_mm + 2.0);
        if (cleared) {
            CHECK(t == rain_from + config.clear_after_ms);
        }
    }
    REQUIRE(cleared);
    CHECK(cleared->wet_weather);
}

TEST_CASE("a short dry-weather flow does not raise and a data gap restarts the timing",
          "[unit][analytics]") {
    DryDischargeConfig config;  // 10 min, max gap 15 min
    DryDischargeState state;
    // 9 minutes above, then back to 0: no alarm.
    for (std::int64_t t = kT0; t < kT0 + 9 * kMin; t += kMin) {
        CHECK_FALSE(dry_discharge_step(config, state, t, 1.0, std::nullopt));
    }
    CHECK_FALSE(dry_discharge_step(config, state, kT0 + 9 * kMin, 0.0, std::nullopt));
    // Above again, but a 20-minute silence in the middle: the wait restarts after it.
    const std::int64_t restart = kT0 + 35 * kMin;
    CHECK_FALSE(dry_discharge_step(config, state, kT0 + 10 * kMin, 1.0, std::nullopt));
    CHECK_FALSE(dry_discharge_step(config, state, kT0 + 15 * kMin, 1.0, std::nullopt));
    CHECK_FALSE(dry_discharge_step(config, state, restart, 1.0, std::nullopt));
    CHECK_FALSE(dry_discharge_step(config, state, restart + config.raise_after_ms - kMin, 1.0,
                                   std::nullopt));
    const auto raised =
        dry_discharge_step(config, state, restart + config.raise_after_ms, 1.0, std::nullopt);
    REQUIRE(raised);
    CHECK(raised->since_ms == restart);
    CHECK_FALSE(dry_discharge_step(config, state, restart + config.raise_after_ms + kMin,
                                   std::nan(""), std::nullopt));
}
