// SPDX-License-Identifier: Apache-2.0
// Sewage flow analytics (issue #8, DOMAIN.md §3.2; rules and defaults: docs/analytics.md,
// "Sewage flow").
//
//  * Window volume two ways, published side by side: from the meter's totaliser (counter deltas,
//    with rollover, reset and implausible-jump rules) and from integrating the instantaneous flow
//    (trapezoids over irregular samples, gaps not bridged, coverage reported). They disagree when
//    something is wrong, which is the point of having both.
//  * Night minimum flow per local day (an infiltration indicator).
//  * Dry-weather discharge: an outfall that should be dry reports flow while it is not raining.
//
// Everything is pure: times come in as Unix ms, there is no clock and no I/O, and all state sits
// in plain structs the daemon can persist and restore.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "analytics/alarm_rule.hpp"

namespace gw::analytics {

inline constexpr std::int64_t kMsPerMinute = 60'000;
inline constexpr std::int64_t kMsPerHour = 3'600'000;
inline constexpr std::int64_t kMsPerDay = 86'400'000;

/// Local calendar day (days since 1970-01-01 in local time) of a Unix ms instant.
std::int64_t local_day(std::int64_t t_ms, std::int32_t tz_offset_min);
/// Unix ms of local midnight starting local day `day`.
std::int64_t local_midnight_ms(std::int64_t day, std::int32_t tz_offset_min);

// --- window flags
// ---------------------------------------------------------------------------------

/// Bit flags of a FlowWindowVolume (and of TotaliserStep). Published by name (flow_flag_names).
enum FlowFlag : std::uint32_t {
    kFlowTotaliserRollover = 1u << 0,  ///< the counter wrapped at its modulus; the volume counts
    kFlowTotaliserReset = 1u << 1,     ///< the counter was reset or the meter replaced; the
                                       ///< interval across it is not counted
    kFlowTotaliserJump = 1u << 2,      ///< an increase larger than max flow allows; not counted
    kFlowTotaliserSpike = 1u << 3,     ///< a jump that came straight back: counted from before it
    kFlowTotaliserGap = 1u << 4,       ///< a delta over a long gap across the window start:
                                       ///< reported as totaliser_unattributed_m3, not counted
    kFlowTotaliserNoData = 1u << 5,    ///< no usable totaliser delta in the window
    kFlowIntegratedGap = 1u << 6,      ///< flow samples further apart than max_gap_ms
    kFlowIntegratedNoData = 1u << 7,   ///< no flow sample covered any of the window
    kFlowReverseFlow = 1u << 8,        ///< negative flow samples were integrated as 0
    kFlowInvalidInput = 1u << 9,       ///< NaN, infinite, negative or out-of-order input ignored
};

/// Names of the set flags, lowest bit first ("totaliser_rollover", ...), for publishing.
std::vector<std::string> flow_flag_names(std::uint32_t flags);

// --- totaliser
// ------------------------------------------------------------------------------------

struct TotaliserConfig {
    /// The counter wraps to 0 on reaching this value (the modulus); 0: it never wraps. Default
    /// 2^31: this project's TUF-2000M profile reads the positive accumulator as int32 in m3.
    double rollover_at_m3{2147483648.0};
    /// Largest credible flow through this pipe, m3/h; 0: unknown, and the jump check is off.
    double max_flow_m3_h{0.0};
    /// Slack on max_flow_m3_h, for meter overshoot and poll-time jitter.
    double jump_margin{1.5};
    /// One count of the counter: an integer totaliser moves in whole m3, so a single tick over a
    /// short poll interval must not look like a jump.
    double resolution_m3{1.0};
    /// Without max_flow_m3_h, a decrease counts as a rollover only if the wrapped delta is at
    /// most this fraction of the modulus (the old value was near the top, the new near 0).
    double rollover_band_fraction{0.01};
};

/// Persistable totaliser state: the last accepted reading and lifetime counters.
struct TotaliserState {
    bool has_last{false};
    double last_m3{0.0};
    std::int64_t last_ms{0};
    /// After an uncounted jump: the reading before it, kept for one step so that a value that
    /// comes straight back is recognised as a spike, not as a reset.
    bool has_before_jump{false};
    double before_jump_m3{0.0};
    std::int64_t before_jump_ms{0};
    std::uint64_t rollovers{0};
    std::uint64_t resets{0};
    std::uint64_t jumps{0};
    std::uint64_t spikes{0};
    std::uint64_t invalid{0};
};

enum class TotaliserStepKind : std::uint8_t {
    Baseline,  ///< first reading: nothing to count yet
    Normal,    ///< plausible increase (or no change)
    Rollover,  ///< wrapped at the modulus; volume = (modulus - previous) + current
    Reset,     ///< dropped without a plausible wrap; not counted, restart from the new value
    Jump,      ///< implausibly large increase; not counted, restart from the new value
    Spike,     ///< back near the value before a jump; counted from that value
    Invalid,   ///< NaN, infinite, negative, >= modulus or not later than the last reading
};

const char* to_string(TotaliserStepKind kind);

struct TotaliserStep {
    TotaliserStepKind kind{TotaliserStepKind::Invalid};
    double volume_m3{0.0};    ///< counted volume of this step (>= 0)
    std::int64_t from_ms{0};  ///< time of the reading the volume is counted from
    std::uint32_t flags{0};   ///< FlowFlag bits describing the step
};

/// Applies one totaliser reading (m3; a meter that splits the total into an integer LONG and a
/// REAL fraction is passed as their sum). Never returns a negative or implausible volume.
TotaliserStep totaliser_step(const TotaliserConfig& config, TotaliserState& state,
                             std::int64_t t_ms, double total_m3);

// --- integration
// ----------------------------------------------------------------------------------

/// Volume of one trapezoid between two flow samples, m3 (flows in m3/h, times in Unix ms).
double trapezoid_m3(std::int64_t t1_ms, double flow1_m3_h, std::int64_t t2_ms, double flow2_m3_h);

// --- window volumes
// -------------------------------------------------------------------------------

struct FlowVolumeConfig {
    /// Window length; windows are aligned to multiples of it since the Unix epoch.
    std::int64_t window_ms{kMsPerHour};
    /// Flow samples further apart than this are not bridged: the time between them is missing.
    /// Also the longest totaliser interval credited to a window it started before. Capped at
    /// window_ms.
    std::int64_t max_gap_ms{5 * kMsPerMinute};
    TotaliserConfig totaliser;
};

/// One closed window: the two volume estimates side by side.
struct FlowWindowVolume {
    std::int64_t start_ms{0};  ///< Unix ms, inclusive
    std::int64_t end_ms{0};    ///< Unix ms, exclusive
    /// Sum of the counted totaliser deltas whose later reading lies in the window.
    double totaliser_m3{0.0};
    /// Counted deltas over a gap longer than max_gap_ms that started before the window: they
    /// belong partly to earlier windows, so they are reported apart.
    double totaliser_unattributed_m3{0.0};
    std::uint32_t totaliser_readings{0};  ///< valid totaliser readings in the window
    /// Trapezoidal integral of the flow over the covered part of the window.
    double integrated_m3{0.0};
    /// Covered time / window length, 0..1 (time between samples no further apart than
    /// max_gap_ms, split exactly at the window edges).
    double integrated_coverage{0.0};
    std::int64_t integrated_missing_ms{0};  ///< window length minus covered time
    std::uint32_t flow_samples{0};          ///< valid flow samples in the window
    std::uint32_t flags{0};                 ///< FlowFlag bits
};

/// Accumulator of one window that is still open (persisted with FlowVolumeState).
struct FlowWindowAccumulator {
    bool active{false};
    std::int64_t start_ms{0};
    double totaliser_m3{0.0};
    double totaliser_unattributed_m3{0.0};
    std::uint32_t totaliser_readings{0};
    std::uint32_t totaliser_deltas{0};  ///< counted deltas (incl. zero ones)
    double integrated_m3{0.0};
    std::int64_t covered_ms{0};
    std::uint32_t flow_samples{0};
    std::uint32_t flags{0};
};

/// Everything FlowVolumeTracker needs to resume after a restart.
struct FlowVolumeState {
    TotaliserState totaliser;
    bool has_flow{false};  ///< the last valid flow sample, the left end of the next trapezoid
    std::int64_t flow_ms{0};
    double flow_m3_h{0.0};
    /// The oldest open window and the one after it. A window stays open past its end only
    /// while the flow integral still waits for the sample that bridges the boundary (at most
    /// max_gap_ms), and totaliser readings meanwhile go to the next window.
    FlowWindowAccumulator open;
    FlowWindowAccumulator next;
    /// End of the last window returned: later input for earlier time is not counted again.
    std::int64_t emitted_until_ms{std::numeric_limits<std::int64_t>::min()};
};

/// Volume per window from the totaliser and from the integrated flow. Feed samples in time order
/// per stream; the two streams may interleave (same poll, same timestamp). Returns the windows
/// that closed, oldest first; windows with no data at all are not returned.
class FlowVolumeTracker {
public:
    explicit FlowVolumeTracker(const FlowVolumeConfig& config);

    std::vector<FlowWindowVolume> add_totaliser(std::int64_t t_ms, double total_m3);
    std::vector<FlowWindowVolume> add_flow(std::int64_t t_ms, double flow_m3_h);
    /// Timer hook: closes windows that ended before `now_ms` and can no longer be bridged.
    std::vector<FlowWindowVolume> close_due(std::int64_t now_ms);

    const FlowVolumeState& state() const { return state_; }
    /// Resumes persisted state. Refused (false) if an open window does not start on one of this
    /// tracker's window boundaries (the window length changed).
    bool restore(const FlowVolumeState& state);
    const FlowVolumeConfig& config() const { return config_; }

private:
    std::int64_t align(std::int64_t t_ms) const;
    std::int64_t gap_ms() const;
    FlowWindowAccumulator* window_for(std::int64_t start_ms);
    bool settled(std::int64_t end_ms, std::int64_t now_ms) const;
    void close_settled(std::int64_t now_ms, std::vector<FlowWindowVolume>& out);
    void advance_to(std::int64_t t_ms, std::vector<FlowWindowVolume>& out);
    void emit_open(std::vector<FlowWindowVolume>& out);
    void integrate(std::int64_t t1_ms, double q1_m3_h, std::int64_t t2_ms, double q2_m3_h);
    void flag_span(std::int64_t from_ms, std::int64_t to_ms, std::uint32_t flags);

    FlowVolumeConfig config_;
    FlowVolumeState state_;
};

// --- night minimum flow
// ---------------------------------------------------------------------------

struct NightMinimumConfig {
    std::int32_t tz_offset_min{480};  ///< local time = UTC + this; China Standard Time: +480
    std::int32_t start_hour{2};       ///< night period [start_hour, end_hour) local, 0..24
    std::int32_t end_hour{4};         ///< must be > start_hour (no period across midnight)
    std::int64_t bucket_ms{15 * kMsPerMinute};  ///< the minimum is taken over bucket means
    std::uint32_t min_samples_per_bucket{3};    ///< fewer: the bucket mean is not trusted
};

/// Persistable state: the night being tracked and its running minimum.
struct NightMinimumState {
    bool has_day{false};
    std::int64_t day{0};  ///< local day of the tracked night
    bool has_bucket{false};
    std::int64_t bucket_start_ms{0};
    double bucket_sum_m3_h{0.0};
    std::uint32_t bucket_samples{0};
    bool has_min{false};
    double min_m3_h{0.0};
    std::int64_t min_bucket_start_ms{0};
    std::uint32_t buckets_used{0};
    bool emitted{false};  ///< the tracked day's result is out
};

/// Emitted once per local day, after its night period ends.
struct NightMinimum {
    std::int64_t day{0};              ///< local day (days since 1970-01-01, local)
    std::int64_t period_start_ms{0};  ///< Unix ms of start_hour on that day
    std::int64_t period_end_ms{0};    ///< Unix ms of end_hour on that day
    std::optional<double> min_m3_h;   ///< minimum bucket mean; empty: no trusted bucket
    std::int64_t min_bucket_start_ms{0};
    std::uint32_t buckets_used{0};      ///< buckets with enough samples
    std::uint32_t buckets_expected{0};  ///< period length / bucket length
};

bool valid(const NightMinimumConfig& config);

/// Feeds one flow sample (time order). Returns the previous night's result when this sample is
/// the first one seen after that night ended.
std::optional<NightMinimum> night_minimum_step(const NightMinimumConfig& config,
                                               NightMinimumState& state, std::int64_t t_ms,
                                               double flow_m3_h);
/// Timer hook: emits the tracked night's result once `now_ms` is past its end.
std::optional<NightMinimum> night_minimum_tick(const NightMinimumConfig& config,
                                               NightMinimumState& state, std::int64_t now_ms);

// --- rain history (for dry weather) -------------------------------------------------------------

inline constexpr std::size_t kRainHistoryHours = 72;

/// Rain per hour (Unix hours, UTC) over the last kRainHistoryHours: enough for a dry-weather
/// lookback of up to three days, in a fixed-size persistable struct.
struct RainHistory {
    bool has_data{false};
    std::int64_t newest_hour{0};                        ///< Unix hour of the newest bucket
    std::array<double, kRainHistoryHours> bucket_mm{};  ///< ring indexed by hour % size
};

/// Adds rain (mm, e.g. one tipping-bucket interval) measured at `t_ms`. NaN and negative are
/// ignored; rain older than the ring is dropped.
void rain_add(RainHistory& history, std::int64_t t_ms, double rain_mm);
/// Rain in the last `hours` hour buckets up to and including the (partial) one containing
/// `now_ms`, so between hours - 1 and hours of history (hours capped at kRainHistoryHours).
double rain_total_mm(const RainHistory& history, std::int64_t now_ms, std::int32_t hours);

// --- dry-weather discharge ----------------------------------------------------------------------

struct DryDischargeConfig {
    double raise_flow_m3_h{0.5};   ///< flow above this is a discharge
    double clear_flow_m3_h{0.25};  ///< hysteresis: at or below this the discharge has stopped
    std::int64_t raise_after_ms{10 * kMsPerMinute};  ///< discharge held this long raises
    std::int64_t clear_after_ms{10 * kMsPerMinute};  ///< dry (or wet weather) this long clears
    std::int32_t rain_lookback_hours{24};            ///< dry weather: rain over these hours ...
    double dry_rain_mm{1.0};                         ///< ... below this
    std::int64_t max_gap_ms{15 * kMsPerMinute};      ///< a longer silence restarts the timing
};

enum class DischargeAlarm : std::uint8_t { Raised, Cleared };

const char* to_string(DischargeAlarm alarm);

struct DischargeTransition {
    DischargeAlarm alarm{DischargeAlarm::Raised};
    std::int64_t at_ms{0};       ///< sample that completed the transition
    std::int64_t since_ms{0};    ///< when the condition (or its end) began
    double peak_flow_m3_h{0.0};  ///< highest flow while the discharge lasted
    bool wet_weather{false};     ///< cleared because it started raining
};

/// Persistable state of one outfall's check: the generic alarm state machine
/// (analytics/alarm_rule.hpp) run on "flow while dry".
struct DryDischargeState {
    AlarmState alarm;
};

/// The alarm rule the check runs: max = raise_flow_m3_h, hysteresis = raise - clear flow.
AlarmRuleConfig dry_discharge_rule(const DryDischargeConfig& config);

/// Feeds one flow sample of the outfall. `rain_mm`: rain over the configured lookback
/// (rain_total_mm), or empty when no rain gauge is configured (then it is always dry weather).
std::optional<DischargeTransition> dry_discharge_step(const DryDischargeConfig& config,
                                                      DryDischargeState& state, std::int64_t t_ms,
                                                      double flow_m3_h,
                                                      std::optional<double> rain_mm);

}  // namespace gw::analytics
