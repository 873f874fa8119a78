// SPDX-License-Identifier: Apache-2.0
// Waste-bin analytics (issue #8, DOMAIN.md §3.3; rules and defaults: docs/analytics.md, "Waste
// bins"):
//
//  * fill rate (%/h) as a least-squares slope over recent fill levels since the last emptying,
//    predicted time to full, a "collect today" decision and a per-gateway collection list;
//  * fire alarm from the bin temperature (absolute limit or rate of rise);
//  * tilt/lid alarm from the sensor's tilt flag (EM310/EM400 "position") or a tilt angle.
//
// Pure like analytics/flow_volume.hpp: Unix ms in, no clock, no I/O, persistable state structs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "analytics/flow_volume.hpp"  // kMsPer*, local_day, local_midnight_ms

namespace gw::analytics {

// --- fill rate and collection -------------------------------------------------------------------

struct FillSample {
    std::int64_t t_ms{0};
    double fill_pct{0.0};
};

struct FillRateConfig {
    std::int64_t lookback_ms{24 * kMsPerHour};  ///< the slope uses samples this recent
    /// A fall of more than this between consecutive samples is an emptying: older samples
    /// are dropped so the slope describes the current filling.
    double emptying_drop_pct{20.0};
    std::uint32_t min_samples{3};          ///< fewer: no rate
    std::int64_t min_span_ms{kMsPerHour};  ///< samples spanning less: no rate
    double min_rate_pct_h{0.05};           ///< slower (or falling): not filling, no prediction
    std::uint32_t max_samples{288};        ///< history cap (24 h of 5-minute uplinks)
};

/// Persistable fill history of one bin: the samples since its last emptying, time order.
struct FillHistory {
    std::vector<FillSample> samples;
    std::uint32_t emptyings{0};
    bool has_emptied{false};
    std::int64_t last_emptied_ms{0};  ///< time of the first sample after the last emptying
};

/// Adds one fill sample (feed only good, untilted samples: a tilted sensor reads garbage,
/// DOMAIN.md §3.3). Returns true when the sample reveals an emptying. NaN, out-of-range
/// (outside 0..100 by more than 5 points) and out-of-order samples are ignored.
bool fill_add(const FillRateConfig& config, FillHistory& history, std::int64_t t_ms,
              double fill_pct);

/// Least-squares slope of fill over time, %/h, over the samples within lookback_ms before
/// `now_ms` (empty: fewer than min_samples, or spanning less than min_span_ms).
std::optional<double> fill_rate_pct_h(const FillRateConfig& config, const FillHistory& history,
                                      std::int64_t now_ms);

struct CollectConfig {
    double collect_threshold_pct{80.0};  ///< full enough to collect
    double full_pct{100.0};              ///< "full" for time_to_full_ms
    std::int32_t tz_offset_min{480};     ///< local time = UTC + this (China: +480)
    /// Local time by which today's collection round ends; a bin predicted to reach the
    /// threshold before it is collected today. After it, the next day's cut-off applies.
    std::int32_t cutoff_minute_of_day{17 * 60};
};

enum class CollectReason : std::uint8_t {
    None,       ///< not needed before the cut-off (or nothing known)
    FullNow,    ///< at or above the threshold already
    Predicted,  ///< predicted to reach the threshold by the cut-off
};

const char* to_string(CollectReason reason);

struct FillAssessment {
    std::optional<double> fill_pct;    ///< latest sample at or before now
    std::int64_t fill_ms{0};           ///< its time
    std::optional<double> rate_pct_h;  ///< least-squares slope
    /// Time from now until full_pct / the threshold: 0 when already there, empty when the
    /// rate is unknown or below min_rate_pct_h.
    std::optional<std::int64_t> time_to_full_ms;
    std::optional<std::int64_t> time_to_threshold_ms;
    std::int64_t cutoff_ms{0};  ///< the cut-off the decision was made against
    bool collect{false};
    CollectReason reason{CollectReason::None};
};

/// Everything about one bin at `now_ms`. Predictions run from the latest sample's time, so a
/// bin that reported an hour ago is extrapolated by that hour.
FillAssessment assess_fill(const FillRateConfig& rate_config, const CollectConfig& collect_config,
                           const FillHistory& history, std::int64_t now_ms);

/// Unix ms of the first local cut-off at or after `now_ms`.
std::int64_t next_cutoff_ms(const CollectConfig& config, std::int64_t now_ms);

struct BinStatus {
    std::string bin_id;
    FillAssessment assessment;
};

/// The bins to collect, most urgent first: shortest time to full (full now = 0; unknown
/// last), then fuller first, then by id so the order is stable.
std::vector<BinStatus> build_collection_list(const std::vector<BinStatus>& bins);

// --- alarms -------------------------------------------------------------------------------------

enum class BinAlarmReason : std::uint8_t {
    TemperatureLimit,  ///< fire: temperature at or above the absolute limit
    TemperatureRise,   ///< fire: rising faster than the rate limit
    TiltFlag,          ///< the sensor reports "tilt" (EM310/EM400 position = 1)
    TiltAngle,         ///< the tilt angle exceeds the limit
    Cleared,
};

const char* to_string(BinAlarmReason reason);

struct BinAlarmTransition {
    bool raised{false};  ///< false: cleared
    BinAlarmReason reason{BinAlarmReason::Cleared};
    std::int64_t at_ms{0};
    std::int64_t since_ms{0};  ///< when the condition (or calm, for a clear) began
    double value{0.0};         ///< degC, degC/min or degrees, per reason (tilt flag: 1)
};

struct FireConfig {
    double limit_degC{60.0};                         ///< at or above: fire
    double clear_below_degC{50.0};                   ///< hysteresis: calm only below this
    double rise_degC_per_min{1.0};                   ///< rising at least this fast ...
    double min_rise_degC{5.0};                       ///< ... by at least this much ...
    std::int64_t rise_window_ms{15 * kMsPerMinute};  ///< ... within this window: fire
    std::int64_t clear_after_ms{30 * kMsPerMinute};  ///< calm this long clears the alarm
};

struct TemperatureSample {
    std::int64_t t_ms{0};
    double degC{0.0};
};

/// Persistable fire-check state: samples inside the rise window (thinned to about one per
/// window/16, so a 1 s Modbus poll and a 10 min LoRaWAN uplink both stay small) plus the alarm.
struct FireState {
    std::vector<TemperatureSample> recent;
    bool has_last{false};
    std::int64_t last_ms{0};
    bool alarm{false};
    bool calm{false};  ///< raised, and calm since calm_since_ms
    std::int64_t calm_since_ms{0};
};

/// Feeds one bin temperature; returns a raise or clear transition.
std::optional<BinAlarmTransition> fire_step(const FireConfig& config, FireState& state,
                                            std::int64_t t_ms, double degC);

struct TiltConfig {
    double angle_limit_deg{30.0};  ///< tilted above this ...
    double angle_clear_deg{25.0};  ///< ... and upright again below this (hysteresis)
    /// Tilted this long before it is an alarm: the sensor sits under the lid, and a lid opened
    /// for emptying or a deposit is closed again within minutes.
    std::int64_t raise_after_ms{10 * kMsPerMinute};
};

struct TiltState {
    bool alarm{false};
    bool has_last{false};
    std::int64_t last_ms{0};
    bool tilted{false};  ///< the last sample was tilted, since tilted_since_ms
    std::int64_t tilted_since_ms{0};
    BinAlarmReason reason{BinAlarmReason::TiltFlag};
    double value{0.0};
};

/// Feeds one report: the tilt flag (0/1 point "tilt") and/or a tilt angle in degrees; either may
/// be empty, and a report with neither is ignored. Clears at the first upright report.
std::optional<BinAlarmTransition> tilt_step(const TiltConfig& config, TiltState& state,
                                            std::int64_t t_ms, std::optional<bool> tilt_flag,
                                            std::optional<double> angle_deg);

}  // namespace gw::analytics
