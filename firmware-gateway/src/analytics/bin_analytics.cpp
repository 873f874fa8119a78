// SPDX-License-Identifier: Apache-2.0
#include "analytics/bin_analytics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

namespace gw::analytics {

namespace {

constexpr double kMsPerHourF = 3'600'000.0;
constexpr double kMsPerMinuteF = 60'000.0;
// Fill levels are clamped to 0..100 upstream (core/fill_level.hpp); beyond this slack a value
// is not a fill level at all.
constexpr double kFillSlackPct = 5.0;
constexpr std::size_t kMaxFireSamples = 32;

std::int64_t hours_to_ms(double h) {
    return static_cast<std::int64_t>(std::llround(h * kMsPerHourF));
}

/// Samples inside [now - lookback, now].
std::vector<FillSample> recent_samples(const FillRateConfig& config, const FillHistory& history,
                                       std::int64_t now_ms) {
    std::vector<FillSample> out;
    for (const FillSample& s : history.samples) {
        if (s.t_ms <= now_ms && s.t_ms >= now_ms - config.lookback_ms) out.push_back(s);
    }
    return out;
}

}  // namespace

bool fill_add(const FillRateConfig& config, FillHistory& history, std::int64_t t_ms,
              double fill_pct) {
    if (!std::isfinite(fill_pct) || fill_pct < -kFillSlackPct || fill_pct > 100.0 + kFillSlackPct) {
        return false;
    }
    auto& samples = history.samples;
    if (!samples.empty() && t_ms <= samples.back().t_ms) return false;
    const bool emptied =
        !samples.empty() && samples.back().fill_pct - fill_pct > config.emptying_drop_pct;
    if (emptied) {
        // The slope must describe the current filling only.
        samples.clear();
        ++history.emptyings;
        history.has_emptied = true;
        history.last_emptied_ms = t_ms;
    }
    samples.push_back({t_ms, fill_pct});
    const std::int64_t oldest = t_ms - config.lookback_ms;
    auto first_kept = std::find_if(samples.begin(), samples.end(),
                                   [&](const FillSample& s) { return s.t_ms >= oldest; });
    samples.erase(samples.begin(), first_kept);
    const std::size_t cap = std::max<std::size_t>(config.max_samples, 2);
    if (samples.size() > cap) {
        samples.erase(samples.begin(),
                      samples.begin() + static_cast<std::ptrdiff_t>(samples.size() - cap));
    }
    return emptied;
}

std::optional<double> fill_rate_pct_h(const FillRateConfig& config, const FillHistory& history,
                                      std::int64_t now_ms) {
    const std::vector<FillSample> s = recent_samples(config, history, now_ms);
    if (s.size() < std::max<std::uint32_t>(config.min_samples, 2)) return std::nullopt;
    if (s.back().t_ms - s.front().t_ms < config.min_span_ms) return std::nullopt;
    // Least squares on hours since the first sample: robust to single noisy readings, and
    // small offsets keep the sums precise.
    const double n = static_cast<double>(s.size());
    double mean_x = 0.0;
    double mean_y = 0.0;
    for (const FillSample& p : s) {
        mean_x += static_cast<double>(p.t_ms - s.front().t_ms) / kMsPerHourF;
        mean_y += p.fill_pct;
    }
    mean_x /= n;
    mean_y /= n;
    double sxy = 0.0;
    double sxx = 0.0;
    for (const FillSample& p : s) {
        const double dx = static_cast<double>(p.t_ms - s.front().t_ms) / kMsPerHourF - mean_x;
        sxy += dx * (p.fill_pct - mean_y);
        sxx += dx * dx;
    }
    if (!(sxx > 0.0)) return std::nullopt;
    return sxy / sxx;
}

std::int64_t next_cutoff_ms(const CollectConfig& config, std::int64_t now_ms) {
    const std::int64_t minute = std::clamp<std::int32_t>(config.cutoff_minute_of_day, 0, 24 * 60);
    const std::int64_t day = local_day(now_ms, config.tz_offset_min);
    std::int64_t cutoff = local_midnight_ms(day, config.tz_offset_min) + minute * kMsPerMinute;
    if (cutoff < now_ms) {
        cutoff = local_midnight_ms(day + 1, config.tz_offset_min) + minute * kMsPerMinute;
    }
    return cutoff;
}

const char* to_string(CollectReason reason) {
    switch (reason) {
        case CollectReason::None:
            return "none";
        case CollectReason::FullNow:
            return "full_now";
        case CollectReason::Predicted:
            return "predicted";
    }
    return "?";
}

FillAssessment assess_fill(const FillRateConfig& rate_config, const CollectConfig& collect_config,
                           const FillHistory& history, std::int64_t now_ms) {
    FillAssessment a;
    a.cutoff_ms = next_cutoff_ms(collect_config, now_ms);
    const FillSample* latest = nullptr;
    for (const FillSample& s : history.samples) {
        if (s.t_ms <= now_ms) latest = &s;
    }
    if (latest == nullptr) return a;
    a.fill_pct = latest->fill_pct;
    a.fill_ms = latest->t_ms;
    a.rate_pct_h = fill_rate_pct_h(rate_config, history, now_ms);

    const bool filling = a.rate_pct_h && *a.rate_pct_h >= rate_config.min_rate_pct_h &&
                         rate_config.min_rate_pct_h > 0.0;
    // Time from now until `level`, extrapolated from the latest sample.
    auto time_to = [&](double level) -> std::optional<std::int64_t> {
        if (latest->fill_pct >= level) return 0;
        if (!filling) return std::nullopt;
        const std::int64_t at =
            latest->t_ms + hours_to_ms((level - latest->fill_pct) / *a.rate_pct_h);
        return std::max<std::int64_t>(at - now_ms, 0);
    };
    a.time_to_full_ms = time_to(collect_config.full_pct);
    a.time_to_threshold_ms = time_to(collect_config.collect_threshold_pct);

    if (latest->fill_pct >= collect_config.collect_threshold_pct) {
        a.collect = true;
        a.reason = CollectReason::FullNow;
    } else if (a.time_to_threshold_ms && now_ms + *a.time_to_threshold_ms <= a.cutoff_ms) {
        a.collect = true;
        a.reason = CollectReason::Predicted;
    }
    return a;
}

std::vector<BinStatus> build_collection_list(const std::vector<BinStatus>& bins) {
    std::vector<BinStatus> list;
    for (const BinStatus& b : bins) {
        if (b.assessment.collect) list.push_back(b);
    }
    auto key = [](const BinStatus& b) {
        return std::tuple<std::int64_t, double, const std::string&>(
            b.assessment.time_to_full_ms.value_or(std::numeric_limits<std::int64_t>::max()),
            -b.assessment.fill_pct.value_or(0.0), b.bin_id);
    };
    std::sort(list.begin(), list.end(),
              [&](const BinStatus& x, const BinStatus& y) { return key(x) < key(y); });
    return list;
}

// --- alarms -------------------------------------------------------------------------------------

const char* to_string(BinAlarmReason reason) {
    switch (reason) {
        case BinAlarmReason::TemperatureLimit:
            return "temperature_limit";
        case BinAlarmReason::TemperatureRise:
            return "temperature_rise";
        case BinAlarmReason::TiltFlag:
            return "tilt_flag";
        case BinAlarmReason::TiltAngle:
            return "tilt_angle";
        case BinAlarmReason::Cleared:
            return "cleared";
    }
    return "?";
}

std::optional<BinAlarmTransition> fire_step(const FireConfig& config, FireState& state,
                                            std::int64_t t_ms, double degC) {
    if (!std::isfinite(degC) || (state.has_last && t_ms <= state.last_ms)) return std::nullopt;
    state.has_last = true;
    state.last_ms = t_ms;

    auto& recent = state.recent;
    const std::int64_t window = std::max<std::int64_t>(config.rise_window_ms, 0);
    recent.erase(std::remove_if(recent.begin(), recent.end(),
                                [&](const TemperatureSample& s) { return s.t_ms < t_ms - window; }),
                 recent.end());
    // Rising: risen by at least min_rise_degC since some sample in the window, at a rate of at
    // least rise_degC_per_min. The minimum rise keeps 0.1 degC steps between close samples from
    // looking like a steep slope.
    bool rising = false;
    double best_rate = 0.0;
    std::int64_t rise_since_ms = t_ms;
    for (const TemperatureSample& s : recent) {
        const double rise = degC - s.degC;
        const double minutes = static_cast<double>(t_ms - s.t_ms) / kMsPerMinuteF;
        if (minutes <= 0.0 || rise < config.min_rise_degC) continue;
        const double rate = rise / minutes;
        if (rate >= config.rise_degC_per_min && rate > best_rate) {
            rising = true;
            best_rate = rate;
            rise_since_ms = s.t_ms;
        }
    }
    if (recent.empty() || t_ms - recent.back().t_ms >= std::max<std::int64_t>(window / 16, 1)) {
        recent.push_back({t_ms, degC});
        if (recent.size() > kMaxFireSamples) recent.erase(recent.begin());
    }

    const bool over = degC >= config.limit_degC;
    if (!state.alarm) {
        if (!over && !rising) return std::nullopt;
        state.alarm = true;
        state.calm = false;
        if (over)
            return BinAlarmTransition{true, BinAlarmReason::TemperatureLimit, t_ms, t_ms, degC};
        return BinAlarmTransition{true, BinAlarmReason::TemperatureRise, t_ms, rise_since_ms,
                                  best_rate};
    }
    // Clear only after a sustained calm, so a smouldering fire does not flap the alarm.
    if (degC < config.clear_below_degC && !rising) {
        if (!state.calm) {
            state.calm = true;
            state.calm_since_ms = t_ms;
        }
        if (t_ms - state.calm_since_ms >= config.clear_after_ms) {
            state.alarm = false;
            state.calm = false;
            return BinAlarmTransition{false, BinAlarmReason::Cleared, t_ms, state.calm_since_ms,
                                      degC};
        }
    } else {
        state.calm = false;
    }
    return std::nullopt;
}

std::optional<BinAlarmTransition> tilt_step(const TiltConfig& config, TiltState& state,
                                            std::int64_t t_ms, std::optional<bool> tilt_flag,
                                            std::optional<double> angle_deg) {
    const bool has_angle = angle_deg && std::isfinite(*angle_deg);
    if ((!tilt_flag && !has_angle) || (state.has_last && t_ms <= state.last_ms)) {
        return std::nullopt;
    }
    state.has_last = true;
    state.last_ms = t_ms;
    // Hysteresis on the angle: once tilted, upright again only below the clear angle.
    const double limit =
        (state.tilted || state.alarm) ? config.angle_clear_deg : config.angle_limit_deg;
    const bool flag_tilted = tilt_flag && *tilt_flag;
    const bool angle_tilted = has_angle && std::fabs(*angle_deg) > limit;
    if (!flag_tilted && !angle_tilted) {
        state.tilted = false;
        if (!state.alarm) return std::nullopt;
        state.alarm = false;
        return BinAlarmTransition{false, BinAlarmReason::Cleared, t_ms, t_ms,
                                  has_angle ? *angle_deg : 0.0};
    }
    if (!state.tilted) {
        state.tilted = true;
        state.tilted_since_ms = t_ms;
    }
    state.reason = flag_tilted ? BinAlarmReason::TiltFlag : BinAlarmReason::TiltAngle;
    state.value = flag_tilted ? 1.0 : *angle_deg;
    if (!state.alarm && t_ms - state.tilted_since_ms >= config.raise_after_ms) {
        state.alarm = true;
        return BinAlarmTransition{true, state.reason, t_ms, state.tilted_since_ms, state.value};
    }
    return std::nullopt;
}

}  // namespace gw::analytics
