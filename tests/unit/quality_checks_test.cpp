// SPDX-License-Identifier: Apache-2.0
// Data-quality checks on synthetic series. Parameters are set in each test (or read from the
// defaults and used as given); expected flags are computed from them here.
#include "analytics/quality_checks.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <vector>

#include "analytics/metric_names.hpp"

using namespace gw::analytics;

namespace {

constexpr std::int64_t kSecondMs = 1000;
constexpr std::int64_t kMinuteMs = 60 * kSecondMs;
constexpr std::int64_t kHourMs = 60 * kMinuteMs;
constexpr std::int64_t kT0 = 1'700'000'000'000;

/// A noisy pH baseline around 7.2: ±0.02 in a fixed pattern.
std::vector<double> ph_baseline(std::size_t n) {
    const double pattern[] = {7.20, 7.22, 7.19, 7.21, 7.18, 7.20, 7.22, 7.21};
    std::vector<double> out;
    for (std::size_t i = 0; i < n; ++i) out.push_back(pattern[i % 8]);
    return out;
}

QualityParams spike_params() {
    QualityParams p;
    p.spike_window = 7;
    p.spike_k = 3.5;
    p.spike_floor = 0.5;  // pH
    return p;
}

}  // namespace

TEST_CASE("range: values outside the sensor's range are flagged and counted", "[unit][analytics]") {
    QualityParams p;
    p.range_min = 0.0;  // the pH scale, as in config/devices/water_probe_float.json
    p.range_max = 14.0;
    QualityChecker checker(p);
    CHECK(checker.check(7.0, kT0).ok());
    CHECK(checker.check(14.0, kT0 + kMinuteMs).ok());  // on the bound
    CHECK(checker.check(14.5, kT0 + 2 * kMinuteMs).has(QualityFlag::OutOfRange));
    CHECK(checker.check(-0.1, kT0 + 3 * kMinuteMs).has(QualityFlag::OutOfRange));
    CHECK(checker.counters().count(QualityFlag::OutOfRange) == 2);
    CHECK(checker.counters().samples == 4);
}

TEST_CASE("NaN is flagged invalid and is no reference for anything", "[unit][analytics]") {
    QualityChecker checker(spike_params());
    const auto flags = checker.check(std::numeric_limits<double>::quiet_NaN(), kT0);
    CHECK(flags.has(QualityFlag::Invalid));
    CHECK(flags.bits == static_cast<std::uint32_t>(QualityFlag::Invalid));
    CHECK(checker.counters().count(QualityFlag::Invalid) == 1);
}

TEST_CASE("spike: an isolated outlier is flagged, its neighbours are not", "[unit][analytics]") {
    QualityChecker checker(spike_params());
    std::int64_t t = kT0;
    for (const double v : ph_baseline(20)) {
        CHECK(checker.check(v, t).ok());
        t += kMinuteMs;
    }
    CHECK(checker.check(9.0, t).has(QualityFlag::Spike));  // 1.8 pH off the median
    t += kMinuteMs;
    for (const double v : ph_baseline(10)) {
        CHECK(checker.check(v, t).ok());
        t += kMinuteMs;
    }
    CHECK(checker.counters().count(QualityFlag::Spike) == 1);
}

TEST_CASE("spike: a step that persists is flagged on its first sample only", "[unit][analytics]") {
    // Documented behaviour: without look-ahead the first sample of a step cannot be told from an
    // outlier; the second agrees with it, so the level has shifted and the window restarts.
    QualityChecker checker(spike_params());
    std::int64_t t = kT0;
    for (const double v : ph_baseline(20)) {
        checker.check(v, t);
        t += kMinuteMs;
    }
    std::vector<bool> spiked;
    for (const double v : ph_baseline(20)) {
        spiked.push_back(checker.check(v + 1.5, t).has(QualityFlag::Spike));  // new level
        t += kMinuteMs;
    }
    CHECK(spiked.front());
    for (std::size_t i = 1; i < spiked.size(); ++i) CHECK_FALSE(spiked[i]);
    CHECK(checker.counters().count(QualityFlag::Spike) == 1);
}

TEST_CASE("spike: the floor keeps a perfectly flat series from flagging noise",
          "[unit][analytics]") {
    QualityChecker checker(spike_params());
    std::int64_t t = kT0;
    for (int i = 0; i < 10; ++i, t += kMinuteMs) CHECK(checker.check(7.20, t).ok());
    // MAD is 0, so any change exceeds k·MAD; 0.01 pH is below the 0.5 floor.
    CHECK(checker.check(7.21, t).ok());
    // Above the floor: flagged.
    CHECK(checker.check(7.20 + 0.6, t + kMinuteMs).has(QualityFlag::Spike));
}

TEST_CASE("rate of change: faster than max_rate_per_s is flagged", "[unit][analytics]") {
    QualityParams p;
    p.max_rate_per_s = 0.01;  // pH per second
    QualityChecker checker(p);
    const std::int64_t step_ms = kMinuteMs;
    const double step_s = static_cast<double>(step_ms) / 1000.0;
    CHECK(checker.check(7.0, kT0).ok());
    // Just under: 0.5 × rate × step; just over: 1.5 × rate × step.
    const double slow = 0.5 * *p.max_rate_per_s * step_s;
    const double fast = 1.5 * *p.max_rate_per_s * step_s;
    CHECK(checker.check(7.0 + slow, kT0 + step_ms).ok());
    CHECK(checker.check(7.0 + slow + fast, kT0 + 2 * step_ms).has(QualityFlag::RateOfChange));
    CHECK(checker.counters().count(QualityFlag::RateOfChange) == 1);
}

TEST_CASE("flat line: flagged after the metric's duration, not before", "[unit][analytics]") {
    const QualityParams p = default_quality_params(metric::kPh);
    REQUIRE(p.flat_after_ms > 0);
    QualityChecker checker(p);
    const std::int64_t step_ms = kMinuteMs;
    REQUIRE(p.flat_after_ms % step_ms == 0);
    std::int64_t t = kT0;
    // Identical value from kT0 to kT0 + flat_after_ms inclusive: not yet "longer than".
    for (; t <= kT0 + p.flat_after_ms; t += step_ms)
        CHECK_FALSE(checker.check(7.20, t).has(QualityFlag::FlatLine));
    CHECK(checker.check(7.20, t).has(QualityFlag::FlatLine));
    // A change ends the run; the new value starts a new one.
    CHECK_FALSE(checker.check(7.21, t + step_ms).has(QualityFlag::FlatLine));
    CHECK_FALSE(checker.check(7.21, t + 2 * step_ms).has(QualityFlag::FlatLine));
    CHECK(checker.counters().count(QualityFlag::FlatLine) == 1);
}

TEST_CASE("flat line: epsilon absorbs sub-epsilon jitter", "[unit][analytics]") {
    QualityParams p;
    p.flat_after_ms = kHourMs;
    p.flat_epsilon = 0.005;
    QualityChecker checker(p);
    std::int64_t t = kT0;
    bool up = false;
    for (; t <= kT0 + kHourMs; t += kMinuteMs, up = !up) checker.check(up ? 7.204 : 7.20, t);
    CHECK(checker.check(7.204, t).has(QualityFlag::FlatLine));
}

TEST_CASE("flat-line defaults fit the metric", "[unit][analytics]") {
    // Totalisers stay flat whenever nothing flows: never checked.
    CHECK(default_quality_params(metric::kFlowTotal).flat_after_ms == 0);
    CHECK(default_quality_params("pump_total").flat_after_ms == 0);
    // A bin can stay untouched for hours; a pH probe in a river moves within minutes.
    const auto ph = default_quality_params(metric::kPh).flat_after_ms;
    const auto bin = default_quality_params(metric::kFillLevel).flat_after_ms;
    CHECK(bin > 12 * kHourMs);
    CHECK(ph > 0);
    CHECK(ph < bin);
    // The fire signature (a fast rise) must never be set aside as a spike.
    CHECK(default_quality_params(metric::kBinTemperature).spike_window == 0);
    // Unknown metrics: everything off.
    const auto unknown = default_quality_params("wind_speed");
    CHECK(unknown.spike_window == 0);
    CHECK(unknown.flat_after_ms == 0);
    CHECK_FALSE(unknown.range_min);
    for (const auto m : {metric::kPh, metric::kFillLevel, metric::kNh3N, metric::kFlowRate})
        CHECK(validate_quality_params(default_quality_params(m)).empty());
}

TEST_CASE("staleness: no sample for longer than N expected periods", "[unit][analytics]") {
    QualityParams p;
    p.expected_period_ms = kMinuteMs;
    p.stale_factor = 3.0;
    const auto limit_ms = static_cast<std::int64_t>(p.stale_factor) * p.expected_period_ms;
    QualityChecker checker(p);
    CHECK(checker.check_stale(kT0).ok());  // nothing seen and not started: unknown, not stale
    checker.check(7.0, kT0);
    CHECK(checker.check_stale(kT0 + limit_ms).ok());  // exactly N periods: not yet
    CHECK(checker.check_stale(kT0 + limit_ms + 1).has(QualityFlag::Stale));
    CHECK(checker.check_stale(kT0 + 2 * limit_ms).has(QualityFlag::Stale));
    CHECK(checker.counters().count(QualityFlag::Stale) == 1);  // one episode
    CHECK(checker.stale());
    CHECK(checker.check(7.0, kT0 + 2 * limit_ms + 1).ok());  // a sample ends it
    CHECK_FALSE(checker.stale());
    CHECK(checker.check_stale(kT0 + 2 * limit_ms + 2).ok());

    // A gap seen only by a late sample (no timer call) still counts as an episode.
    checker.check(7.0, kT0 + 4 * limit_ms);
    CHECK(checker.counters().count(QualityFlag::Stale) == 2);

    SECTION("start() arms staleness before the first sample") {
        QualityChecker fresh(p);
        fresh.start(kT0);
        CHECK(fresh.check_stale(kT0 + limit_ms + 1).has(QualityFlag::Stale));
    }
}

TEST_CASE("invalid parameters are reported and switched off", "[unit][analytics]") {
    QualityParams p;
    p.spike_window = 2;
    CHECK(validate_quality_params(p) ==
          "spike_window must be 0 (off) or at least 3 samples, got 2");
    p = QualityParams{};
    p.range_min = 14.0;
    p.range_max = 0.0;
    CHECK(validate_quality_params(p) == "range min 14 is above range max 0");
    QualityChecker checker(p);  // the upside-down range is switched off
    CHECK(checker.check(7.0, kT0).ok());
    p = QualityParams{};
    p.stale_factor = 0.5;
    CHECK(validate_quality_params(p) == "stale_factor must be a number >= 1, got 0.5");
    CHECK(validate_quality_params(QualityParams{}).empty());
}
