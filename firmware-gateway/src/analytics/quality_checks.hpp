// SPDX-License-Identifier: Apache-2.0
// Per-sensor data-quality checks on successive samples: invalid value, range, spike (median/MAD),
// rate of change, flat line and staleness. Each check is configurable and can be switched off;
// each flags the sample and counts. Pure: time comes in with the samples (Unix ms); no clock,
// no I/O, no exceptions. The flags describe the data, they never change the value (DOMAIN.md
// §2.5: only the HJ 212 -Flag reflects the instrument state; the wiring decides what a flag
// does). Defaults per metric and why: default_quality_params() and docs/analytics.md.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

namespace gw::analytics {

/// One bit per check. The bit positions double as counter indices.
enum class QualityFlag : std::uint32_t {
    Invalid = 1u << 0,       ///< NaN or infinite value; no other check runs on it
    OutOfRange = 1u << 1,    ///< outside [range_min, range_max] (sensor spec)
    Spike = 1u << 2,         ///< far from the median of the last samples (see QualityParams)
    RateOfChange = 1u << 3,  ///< changed faster than max_rate_per_s since the previous sample
    FlatLine = 1u << 4,      ///< unchanged within flat_epsilon for longer than flat_after_ms
    Stale = 1u << 5,         ///< no sample for longer than stale_factor × expected_period_ms
};
inline constexpr std::size_t kQualityFlagCount = 6;

/// Index 0..5 of a flag (its bit position), e.g. for counters.
std::size_t flag_index(QualityFlag flag);
/// "invalid", "out_of_range", "spike", "rate_of_change", "flat_line", "stale"
const char* to_string(QualityFlag flag);

/// A set of QualityFlag bits; empty means every enabled check passed.
struct QualityFlags {
    std::uint32_t bits{0};
    bool has(QualityFlag flag) const { return (bits & static_cast<std::uint32_t>(flag)) != 0; }
    bool ok() const { return bits == 0; }
    void set(QualityFlag flag) { bits |= static_cast<std::uint32_t>(flag); }
};

struct QualityParams {
    /// Range check (the sensor's measuring range from its spec / device profile); empty: none.
    std::optional<double> range_min;
    std::optional<double> range_max;

    /// Spike: a value whose distance from the median of the last `spike_window` accepted samples
    /// exceeds spike_k × 1.4826 × MAD *and* spike_floor (metric's unit). 0 switches it off. The
    /// floor keeps a perfectly flat series (MAD 0) from flagging noise in the last digit.
    std::size_t spike_window{0};
    double spike_k{3.5};  ///< Iglewicz & Hoaglin's modified z-score threshold
    double spike_floor{0.0};

    /// Rate of change against the previous in-range sample, metric unit per second; empty: off.
    std::optional<double> max_rate_per_s;

    /// Flat line: no change beyond flat_epsilon (metric's unit) for longer than flat_after_ms;
    /// 0 switches it off.
    std::int64_t flat_after_ms{0};
    double flat_epsilon{0.0};

    /// Staleness: stale after stale_factor × expected_period_ms without a sample; a period of 0
    /// switches it off. The period is the sensor's poll or uplink period (per sensor, not per
    /// metric, so it has no default here).
    std::int64_t expected_period_ms{0};
    double stale_factor{3.0};
};

/// Defaults for a metric (names as in metric_names.hpp); unknown metrics get every check off.
/// Totaliser counters ("flow_total", "total", "*_total") never get a flat-line or spike check.
QualityParams default_quality_params(std::string_view metric);

/// Empty when `params` is usable; else what is wrong.
std::string validate_quality_params(const QualityParams& params);

struct QualityCounters {
    std::uint64_t samples{0};  ///< samples passed to check()
    /// Per flag (index = flag_index()): samples flagged; for Stale, stale episodes.
    std::array<std::uint64_t, kQualityFlagCount> flagged{};
    std::uint64_t count(QualityFlag flag) const { return flagged[flag_index(flag)]; }
};

class QualityChecker {
public:
    /// `params` should have passed validate_quality_params(); invalid parts are switched off.
    explicit QualityChecker(QualityParams params);

    /// Checks one sample taken at `time_ms` (Unix ms). A sample older than the previous one is
    /// checked for validity and range only (time-based state is not rewound).
    QualityFlags check(double value, std::int64_t time_ms);

    /// Staleness at `now_ms`, for a timer when no sample arrives: {Stale} while the sensor has
    /// been silent too long, counted once per episode. A sample ends the episode (and counts it
    /// if this was never called during it).
    QualityFlags check_stale(std::int64_t now_ms);

    /// Arms staleness before the first sample: silence is measured from `now_ms`.
    void start(std::int64_t now_ms);

    bool stale() const { return in_stale_episode_; }
    const QualityCounters& counters() const { return counters_; }
    const QualityParams& params() const { return params_; }

private:
    bool is_stale_at(std::int64_t now_ms) const;
    bool check_spike(double value);

    QualityParams params_;
    QualityCounters counters_;

    std::optional<std::int64_t> stale_reference_ms_;  // last sample (valid or not) or start()
    std::optional<std::int64_t> last_sample_ms_;      // newest sample time, for ordering
    bool in_stale_episode_{false};

    std::deque<double> history_;             // accepted in-range values for the spike median
    std::optional<double> spike_candidate_;  // the previous sample, if it was flagged as a spike

    std::optional<double> previous_value_;  // previous finite in-range sample, for the rate
    std::int64_t previous_ms_{0};

    std::optional<double> flat_reference_;  // first value of the current flat run
    std::int64_t flat_since_ms_{0};
};

}  // namespace gw::analytics
