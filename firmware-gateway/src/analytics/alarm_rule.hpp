// SPDX-License-Identifier: Apache-2.0
// Alarm state machine for one (sensor, limit) pair. Pure: values come in with their Unix-ms
// time, transitions come out; no clock, no I/O, no exceptions. The daemon persists state() and
// hands it back to restore() after a restart (docs/analytics.md, "Alarm state machine").
//
//            violation            violation held >= raise_after_ms
//   Normal ───────────────▶ Pending ─────────────────────────────────▶ Raised (emits Raised)
//     ▲   ◀───────────────                                              │    ▲
//     │    compliant sample                               clear condition    │ clear condition
//     │                                                                 ▼    │ lost
//     └──────────────────────────────────────────────────────────── Clearing
//          clear condition held >= clear_after_ms (emits Cleared)
//
// - A violation is value > max (AboveMax) or value < min (BelowMin); equal to a bound complies.
// - The clear condition of an AboveMax alarm is value <= max − hysteresis; of a BelowMin alarm,
//   value >= min + hysteresis. Hysteresis is absolute, in the metric's unit.
// - Durations are measured from the first sample of a run to the current one, so with
//   raise_after_ms = 10 min and minute samples the alarm raises on the sample 10 min after the
//   first violating one. A compliant sample during Pending returns to Normal; a violation of the
//   other bound restarts Pending on that side. A sample that no longer meets the clear condition
//   during Clearing returns to Raised. With a duration of 0 the transition happens on the first
//   sample (Pending or Clearing is skipped).
// - A sample that clears an alarm while violating the other bound (pH 9.5 -> 5.5) also starts
//   Pending on that side; the opposite alarm can raise at the earliest on the next sample.
// - Missing data: NaN/inf values and samples flagged bad are ignored entirely. They neither
//   raise nor clear nor restart a wait: continuity is judged on the good samples. Set
//   max_gap_ms to restart a wait when good samples are further apart than that.
// - A sample older than the last good one is ignored (a clock step backwards must not clear).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "analytics/limits.hpp"

namespace gw::analytics {

struct AlarmRuleConfig {
    std::optional<double> min;
    std::optional<double> max;
    double hysteresis{0.0};          ///< absolute, in the metric's unit; >= 0
    std::int64_t raise_after_ms{0};  ///< violation must hold this long before Raised; 0: at once
    /// Clear condition must hold this long before Cleared; empty: the same as raise_after_ms.
    std::optional<std::int64_t> clear_after_ms;
    /// Good samples further apart than this restart a Pending or Clearing wait; 0: never.
    std::int64_t max_gap_ms{0};
    Averaging limit_basis{Averaging::Instantaneous};  ///< what the limit is defined on
    Averaging input_basis{Averaging::Instantaneous};  ///< what update() is fed
};

/// True when data averaged over `input` is shorter than the limit's basis, e.g. minute windows
/// against a GB 18918 daily-mean limit: such an alarm is a trend warning, not an exceedance.
bool is_indicative(Averaging input, Averaging limit_basis);

/// A rule for `limit` fed with data of period `input_basis`.
AlarmRuleConfig rule_for(const Limit& limit, Averaging input_basis, double hysteresis = 0.0,
                         std::int64_t raise_after_ms = 0);

/// Empty when `config` is usable; else what is wrong (no bound, negative hysteresis or duration,
/// hysteresis wider than max − min so an alarm could only clear into the other violation).
std::string validate_rule(const AlarmRuleConfig& config);

enum class AlarmPhase : std::uint8_t { Normal = 0, Pending = 1, Raised = 2, Clearing = 3 };
const char* to_string(AlarmPhase phase);

/// Everything an AlarmRule remembers: plain data, so the daemon can persist it as it likes.
struct AlarmState {
    AlarmPhase phase{AlarmPhase::Normal};
    BoundSide side{BoundSide::AboveMax};  ///< Pending/Raised/Clearing: the bound violated
    std::int64_t excursion_since_ms{0};   ///< Pending/Raised/Clearing: first violating sample
    std::int64_t clearing_since_ms{0};    ///< Clearing: first sample meeting the clear condition
    double extreme{0.0};  ///< Pending/Raised/Clearing: highest (AboveMax) or lowest value so far
    bool has_last_good{false};
    std::int64_t last_good_ms{0};  ///< time of the last good sample
};

enum class AlarmEvent : std::uint8_t { Raised = 0, Cleared = 1 };
const char* to_string(AlarmEvent event);

struct AlarmTransition {
    AlarmEvent event{AlarmEvent::Raised};
    double value{0.0};  ///< the sample that caused the transition
    double limit{0.0};  ///< the bound: max for AboveMax, min for BelowMin
    BoundSide side{BoundSide::AboveMax};
    /// Raised: first sample of the excursion. Cleared: first sample of the recovery.
    std::int64_t since_ms{0};
    std::int64_t at_ms{0};   ///< time of the sample that caused the transition
    double extreme{0.0};     ///< most extreme value of the excursion up to this sample
    bool indicative{false};  ///< see is_indicative()
};

class AlarmRule {
public:
    /// `config` should have passed validate_rule(); an invalid rule never emits anything.
    explicit AlarmRule(AlarmRuleConfig config);

    /// Feeds one value (a window mean, a daily mean...) taken at `time_ms` (Unix ms). `good`
    /// false (the sample's quality is not Good) or a non-finite value: ignored.
    std::optional<AlarmTransition> update(double value, std::int64_t time_ms, bool good = true);

    /// Raised or Clearing: the alarm is active.
    bool active() const;
    bool valid() const { return valid_; }
    bool indicative() const;
    const AlarmRuleConfig& config() const { return config_; }
    const AlarmState& state() const { return state_; }

    /// Resumes from a persisted state. False (and back to Normal) when the state does not fit
    /// this rule, e.g. an AboveMax alarm restored into a rule that no longer has a max.
    bool restore(const AlarmState& state);
    void reset() { state_ = AlarmState{}; }

private:
    std::optional<BoundSide> violation(double value) const;
    bool clear_condition(double value) const;
    double bound(BoundSide side) const;
    std::int64_t clear_after_ms() const;
    void start_pending(BoundSide side, double value, std::int64_t time_ms);
    AlarmTransition transition(AlarmEvent event, double value, std::int64_t since_ms,
                               std::int64_t at_ms) const;

    AlarmRuleConfig config_;
    bool valid_;
    AlarmState state_;
};

}  // namespace gw::analytics
