// SPDX-License-Identifier: Apache-2.0
#include "analytics/flow_volume.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace gw::analytics {

namespace {

constexpr double kMsPerHourF = 3'600'000.0;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
    const std::int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

std::int64_t floor_mod(std::int64_t a, std::int64_t b) {
    return a - floor_div(a, b) * b;
}

double hours(std::int64_t ms) {
    return static_cast<double>(ms) / kMsPerHourF;
}

// Bad configuration values switch a check off instead of throwing (no exceptions on input).
struct Totaliser {
    double modulus_m3;
    double max_flow_m3_h;
    double margin;
    double resolution_m3;
    double band_fraction;
};

Totaliser sanitise(const TotaliserConfig& c) {
    auto ok = [](double v) { return std::isfinite(v) && v > 0.0; };
    return {ok(c.rollover_at_m3) ? c.rollover_at_m3 : 0.0,
            ok(c.max_flow_m3_h) ? c.max_flow_m3_h : 0.0,
            std::isfinite(c.jump_margin) ? std::max(c.jump_margin, 1.0) : 1.0,
            ok(c.resolution_m3) ? c.resolution_m3 : 0.0,
            ok(c.rollover_band_fraction) ? std::min(c.rollover_band_fraction, 1.0) : 0.0};
}

/// The largest increase the pipe can deliver in `elapsed_ms`; infinite without a max flow.
double plausible_limit_m3(const Totaliser& c, std::int64_t elapsed_ms) {
    if (c.max_flow_m3_h <= 0.0) return std::numeric_limits<double>::infinity();
    return c.max_flow_m3_h * hours(elapsed_ms) * c.margin + c.resolution_m3;
}

struct Delta {
    TotaliserStepKind kind;
    double volume_m3;
};

Delta classify(const Totaliser& c, double from_m3, std::int64_t from_ms, double to_m3,
               std::int64_t to_ms) {
    const double limit = plausible_limit_m3(c, to_ms - from_ms);
    const double delta = to_m3 - from_m3;
    if (delta >= 0.0) {
        if (delta <= limit) return {TotaliserStepKind::Normal, delta};
        return {TotaliserStepKind::Jump, 0.0};
    }
    if (c.modulus_m3 > 0.0) {
        // A wrap is only believed when the old value was close enough to the modulus and the
        // new one close enough to 0 that the wrapped delta is itself plausible.
        const double wrapped = (c.modulus_m3 - from_m3) + to_m3;
        const double band = c.max_flow_m3_h > 0.0 ? limit : c.modulus_m3 * c.band_fraction;
        if (wrapped <= band) return {TotaliserStepKind::Rollover, wrapped};
    }
    return {TotaliserStepKind::Reset, 0.0};
}

std::uint32_t flag_of(TotaliserStepKind kind) {
    switch (kind) {
        case TotaliserStepKind::Rollover:
            return kFlowTotaliserRollover;
        case TotaliserStepKind::Reset:
            return kFlowTotaliserReset;
        case TotaliserStepKind::Jump:
            return kFlowTotaliserJump;
        case TotaliserStepKind::Spike:
            return kFlowTotaliserSpike;
        case TotaliserStepKind::Invalid:
            return kFlowInvalidInput;
        case TotaliserStepKind::Baseline:
        case TotaliserStepKind::Normal:
            return 0;
    }
    return 0;
}

bool counts(TotaliserStepKind kind) {
    return kind == TotaliserStepKind::Normal || kind == TotaliserStepKind::Rollover ||
           kind == TotaliserStepKind::Spike;
}

}  // namespace

std::int64_t local_day(std::int64_t t_ms, std::int32_t tz_offset_min) {
    return floor_div(t_ms + static_cast<std::int64_t>(tz_offset_min) * kMsPerMinute, kMsPerDay);
}

std::int64_t local_midnight_ms(std::int64_t day, std::int32_t tz_offset_min) {
    return day * kMsPerDay - static_cast<std::int64_t>(tz_offset_min) * kMsPerMinute;
}

std::vector<std::string> flow_flag_names(std::uint32_t flags) {
    static const char* const kNames[] = {
        "totaliser_rollover", "totaliser_reset",   "totaliser_jump", "totaliser_spike",
        "totaliser_gap",      "totaliser_no_data", "integrated_gap", "integrated_no_data",
        "reverse_flow",       "invalid_input",
    };
    std::vector<std::string> names;
    for (std::uint32_t bit = 0; bit < sizeof(kNames) / sizeof(kNames[0]); ++bit) {
        if ((flags & (1u << bit)) != 0) names.emplace_back(kNames[bit]);
    }
    return names;
}

const char* to_string(TotaliserStepKind kind) {
    switch (kind) {
        case TotaliserStepKind::Baseline:
            return "baseline";
        case TotaliserStepKind::Normal:
            return "normal";
        case TotaliserStepKind::Rollover:
            return "rollover";
        case TotaliserStepKind::Reset:
            return "reset";
        case TotaliserStepKind::Jump:
            return "jump";
        case TotaliserStepKind::Spike:
            return "spike";
        case TotaliserStepKind::Invalid:
            return "invalid";
    }
    return "?";
}

TotaliserStep totaliser_step(const TotaliserConfig& config, TotaliserState& state,
                             std::int64_t t_ms, double total_m3) {
    const Totaliser c = sanitise(config);
    TotaliserStep step;
    step.from_ms = state.last_ms;
    const bool out_of_range = !std::isfinite(total_m3) || total_m3 < 0.0 ||
                              (c.modulus_m3 > 0.0 && total_m3 >= c.modulus_m3);
    if (out_of_range || (state.has_last && t_ms <= state.last_ms)) {
        ++state.invalid;
        step.kind = TotaliserStepKind::Invalid;
        step.flags = kFlowInvalidInput;
        return step;
    }
    if (!state.has_last) {
        state.has_last = true;
        state.last_m3 = total_m3;
        state.last_ms = t_ms;
        step.kind = TotaliserStepKind::Baseline;
        step.from_ms = t_ms;
        return step;
    }

    Delta d = classify(c, state.last_m3, state.last_ms, total_m3, t_ms);
    // The reading before an uncounted jump is the trustworthy one if nothing plausible has
    // followed the jump yet.
    const bool had_before = state.has_before_jump;
    const double prior_m3 = had_before ? state.before_jump_m3 : state.last_m3;
    const std::int64_t prior_ms = had_before ? state.before_jump_ms : state.last_ms;
    state.has_before_jump = false;
    if (had_before && !counts(d.kind)) {
        const Delta back = classify(c, prior_m3, prior_ms, total_m3, t_ms);
        if (counts(back.kind)) {
            // The jumped value was a one-off: count the whole interval from before it.
            ++state.spikes;
            step.kind = TotaliserStepKind::Spike;
            step.volume_m3 = back.volume_m3;
            step.from_ms = prior_ms;
            step.flags = kFlowTotaliserSpike | flag_of(back.kind);
            state.last_m3 = total_m3;
            state.last_ms = t_ms;
            return step;
        }
    }

    step.kind = d.kind;
    step.flags = flag_of(d.kind);
    step.from_ms = state.last_ms;
    switch (d.kind) {
        case TotaliserStepKind::Normal:
            step.volume_m3 = d.volume_m3;
            break;
        case TotaliserStepKind::Rollover:
            step.volume_m3 = d.volume_m3;
            ++state.rollovers;
            break;
        case TotaliserStepKind::Reset:
            ++state.resets;
            break;
        case TotaliserStepKind::Jump:
            ++state.jumps;
            state.has_before_jump = true;
            state.before_jump_m3 = prior_m3;
            state.before_jump_ms = prior_ms;
            break;
        case TotaliserStepKind::Baseline:
        case TotaliserStepKind::Spike:
        case TotaliserStepKind::Invalid:
            break;
    }
    state.last_m3 = total_m3;
    state.last_ms = t_ms;
    return step;
}

double trapezoid_m3(std::int64_t t1_ms, double flow1_m3_h, std::int64_t t2_ms, double flow2_m3_h) {
    return 0.5 * (flow1_m3_h + flow2_m3_h) * hours(t2_ms - t1_ms);
}

// --- FlowVolumeTracker
// ----------------------------------------------------------------------------

FlowVolumeTracker::FlowVolumeTracker(const FlowVolumeConfig& config) : config_(config) {
    if (config_.window_ms <= 0) config_.window_ms = kMsPerHour;
    config_.max_gap_ms = std::clamp<std::int64_t>(config_.max_gap_ms, 0, config_.window_ms);
}

std::int64_t FlowVolumeTracker::align(std::int64_t t_ms) const {
    return t_ms - floor_mod(t_ms, config_.window_ms);
}

std::int64_t FlowVolumeTracker::gap_ms() const {
    return config_.max_gap_ms;
}

FlowWindowAccumulator* FlowVolumeTracker::window_for(std::int64_t start_ms) {
    if (start_ms < state_.emitted_until_ms) return nullptr;  // already published
    FlowWindowAccumulator& open = state_.open;
    if (!open.active) {
        open = FlowWindowAccumulator{};
        open.active = true;
        open.start_ms = start_ms;
        return &open;
    }
    if (start_ms == open.start_ms) return &open;
    if (start_ms == open.start_ms + config_.window_ms) {
        if (!state_.next.active) {
            state_.next = FlowWindowAccumulator{};
            state_.next.active = true;
            state_.next.start_ms = start_ms;
        }
        return &state_.next;
    }
    return nullptr;
}

bool FlowVolumeTracker::settled(std::int64_t end_ms, std::int64_t now_ms) const {
    // The flow integral of a window is complete once a sample at or past its end arrived, or
    // once the last sample is too old for the next one to bridge the boundary.
    return !state_.has_flow || state_.flow_ms >= end_ms || now_ms - state_.flow_ms > gap_ms();
}

void FlowVolumeTracker::emit_open(std::vector<FlowWindowVolume>& out) {
    const FlowWindowAccumulator& acc = state_.open;
    FlowWindowVolume v;
    v.start_ms = acc.start_ms;
    v.end_ms = acc.start_ms + config_.window_ms;
    v.totaliser_m3 = acc.totaliser_m3;
    v.totaliser_unattributed_m3 = acc.totaliser_unattributed_m3;
    v.totaliser_readings = acc.totaliser_readings;
    v.integrated_m3 = acc.integrated_m3;
    const std::int64_t covered = std::clamp<std::int64_t>(acc.covered_ms, 0, config_.window_ms);
    v.integrated_coverage = static_cast<double>(covered) / static_cast<double>(config_.window_ms);
    v.integrated_missing_ms = config_.window_ms - covered;
    v.flow_samples = acc.flow_samples;
    v.flags = acc.flags;
    if (acc.totaliser_deltas == 0) v.flags |= kFlowTotaliserNoData;
    if (covered == 0) v.flags |= kFlowIntegratedNoData;
    out.push_back(v);
    state_.emitted_until_ms = v.end_ms;
    state_.open = state_.next;
    state_.next = FlowWindowAccumulator{};
}

void FlowVolumeTracker::close_settled(std::int64_t now_ms, std::vector<FlowWindowVolume>& out) {
    while (state_.open.active) {
        const std::int64_t end = state_.open.start_ms + config_.window_ms;
        if (now_ms < end || !settled(end, now_ms)) break;
        emit_open(out);
    }
}

void FlowVolumeTracker::advance_to(std::int64_t t_ms, std::vector<FlowWindowVolume>& out) {
    close_settled(t_ms, out);
    // Only reachable after a restore with inconsistent state: never keep more than two windows.
    while (state_.open.active && align(t_ms) > state_.open.start_ms + config_.window_ms) {
        emit_open(out);
    }
}

void FlowVolumeTracker::flag_span(std::int64_t from_ms, std::int64_t to_ms, std::uint32_t flags) {
    for (FlowWindowAccumulator* acc : {&state_.open, &state_.next}) {
        if (!acc->active) continue;
        const std::int64_t end = acc->start_ms + config_.window_ms;
        if (from_ms < end && to_ms > acc->start_ms) acc->flags |= flags;
    }
}

void FlowVolumeTracker::integrate(std::int64_t t1_ms, double q1_m3_h, std::int64_t t2_ms,
                                  double q2_m3_h) {
    // Split the trapezoid exactly at window edges; the flow at an edge is interpolated
    // linearly, which keeps the integral of a linear ramp exact in every window.
    const double slope = (q2_m3_h - q1_m3_h) / static_cast<double>(t2_ms - t1_ms);
    auto flow_at = [&](std::int64_t t) {
        return t == t2_ms ? q2_m3_h : q1_m3_h + slope * static_cast<double>(t - t1_ms);
    };
    std::int64_t a = t1_ms;
    while (a < t2_ms) {
        const std::int64_t start = align(a);
        const std::int64_t b = std::min(start + config_.window_ms, t2_ms);
        if (FlowWindowAccumulator* acc = window_for(start)) {
            acc->integrated_m3 += trapezoid_m3(a, flow_at(a), b, flow_at(b));
            acc->covered_ms += b - a;
        }
        a = b;
    }
}

std::vector<FlowWindowVolume> FlowVolumeTracker::add_totaliser(std::int64_t t_ms, double total_m3) {
    std::vector<FlowWindowVolume> out;
    const TotaliserStep step = totaliser_step(config_.totaliser, state_.totaliser, t_ms, total_m3);
    advance_to(t_ms, out);
    // A late reading (its window already published) lands in the oldest open window.
    FlowWindowAccumulator* acc = window_for(std::max(align(t_ms), state_.emitted_until_ms));
    if (acc == nullptr) acc = &state_.open;  // unreachable after advance_to; keeps it total
    acc->flags |= step.flags;
    if (step.kind == TotaliserStepKind::Invalid) return out;
    ++acc->totaliser_readings;
    if (!counts(step.kind)) return out;
    if (t_ms - step.from_ms > gap_ms() && step.from_ms < acc->start_ms) {
        acc->totaliser_unattributed_m3 += step.volume_m3;
        acc->flags |= kFlowTotaliserGap;
    } else {
        acc->totaliser_m3 += step.volume_m3;
        ++acc->totaliser_deltas;
    }
    return out;
}

std::vector<FlowWindowVolume> FlowVolumeTracker::add_flow(std::int64_t t_ms, double flow_m3_h) {
    std::vector<FlowWindowVolume> out;
    if (!std::isfinite(flow_m3_h) || (state_.has_flow && t_ms <= state_.flow_ms)) {
        advance_to(t_ms, out);
        if (FlowWindowAccumulator* acc =
                window_for(std::max(align(t_ms), state_.emitted_until_ms))) {
            acc->flags |= kFlowInvalidInput;
        }
        return out;
    }
    // Reverse flow is not subtracted, so the integral stays comparable with the positive
    // totaliser.
    std::uint32_t extra = 0;
    if (flow_m3_h < 0.0) {
        flow_m3_h = 0.0;
        extra = kFlowReverseFlow;
    }
    if (state_.has_flow) {
        if (t_ms - state_.flow_ms > gap_ms()) {
            flag_span(state_.flow_ms, t_ms, kFlowIntegratedGap);
        } else {
            integrate(state_.flow_ms, state_.flow_m3_h, t_ms, flow_m3_h);
        }
    }
    state_.has_flow = true;
    state_.flow_ms = t_ms;
    state_.flow_m3_h = flow_m3_h;
    advance_to(t_ms, out);
    if (FlowWindowAccumulator* acc = window_for(std::max(align(t_ms), state_.emitted_until_ms))) {
        ++acc->flow_samples;
        acc->flags |= extra;
    }
    return out;
}

std::vector<FlowWindowVolume> FlowVolumeTracker::close_due(std::int64_t now_ms) {
    std::vector<FlowWindowVolume> out;
    close_settled(now_ms, out);
    return out;
}

bool FlowVolumeTracker::restore(const FlowVolumeState& state) {
    if (state.open.active && floor_mod(state.open.start_ms, config_.window_ms) != 0) return false;
    if (state.next.active &&
        (!state.open.active || state.next.start_ms != state.open.start_ms + config_.window_ms)) {
        return false;
    }
    state_ = state;
    return true;
}

// --- night minimum
// --------------------------------------------------------------------------------

bool valid(const NightMinimumConfig& c) {
    return c.start_hour >= 0 && c.end_hour <= 24 && c.start_hour < c.end_hour && c.bucket_ms > 0 &&
           c.tz_offset_min >= -14 * 60 && c.tz_offset_min <= 14 * 60;
}

namespace {

std::int64_t period_start_ms(const NightMinimumConfig& c, std::int64_t day) {
    return local_midnight_ms(day, c.tz_offset_min) + c.start_hour * kMsPerHour;
}

std::int64_t period_end_ms(const NightMinimumConfig& c, std::int64_t day) {
    return local_midnight_ms(day, c.tz_offset_min) + c.end_hour * kMsPerHour;
}

void finish_bucket(const NightMinimumConfig& c, NightMinimumState& s) {
    if (!s.has_bucket) return;
    if (s.bucket_samples >= std::max<std::uint32_t>(c.min_samples_per_bucket, 1)) {
        const double mean = s.bucket_sum_m3_h / static_cast<double>(s.bucket_samples);
        ++s.buckets_used;
        if (!s.has_min || mean < s.min_m3_h) {
            s.has_min = true;
            s.min_m3_h = mean;
            s.min_bucket_start_ms = s.bucket_start_ms;
        }
    }
    s.has_bucket = false;
    s.bucket_sum_m3_h = 0.0;
    s.bucket_samples = 0;
}

NightMinimum result_of(const NightMinimumConfig& c, const NightMinimumState& s) {
    NightMinimum r;
    r.day = s.day;
    r.period_start_ms = period_start_ms(c, s.day);
    r.period_end_ms = period_end_ms(c, s.day);
    if (s.has_min) r.min_m3_h = s.min_m3_h;
    r.min_bucket_start_ms = s.min_bucket_start_ms;
    r.buckets_used = s.buckets_used;
    const std::int64_t period = r.period_end_ms - r.period_start_ms;
    r.buckets_expected = static_cast<std::uint32_t>((period + c.bucket_ms - 1) / c.bucket_ms);
    return r;
}

}  // namespace

std::optional<NightMinimum> night_minimum_tick(const NightMinimumConfig& config,
                                               NightMinimumState& state, std::int64_t now_ms) {
    if (!valid(config)) return std::nullopt;
    std::optional<NightMinimum> out;
    if (state.has_day && !state.emitted && now_ms >= period_end_ms(config, state.day)) {
        finish_bucket(config, state);
        state.emitted = true;
        out = result_of(config, state);
    }
    // Start tracking a night only while it is under way: a night the gateway did not see at
    // all yields no result rather than an empty one.
    const std::int64_t today = local_day(now_ms, config.tz_offset_min);
    if ((!state.has_day || state.day < today) && now_ms >= period_start_ms(config, today) &&
        now_ms < period_end_ms(config, today)) {
        state = NightMinimumState{};
        state.has_day = true;
        state.day = today;
    }
    return out;
}

std::optional<NightMinimum> night_minimum_step(const NightMinimumConfig& config,
                                               NightMinimumState& state, std::int64_t t_ms,
                                               double flow_m3_h) {
    std::optional<NightMinimum> out = night_minimum_tick(config, state, t_ms);
    if (!valid(config) || !std::isfinite(flow_m3_h)) return out;
    if (!state.has_day || state.emitted || local_day(t_ms, config.tz_offset_min) != state.day) {
        return out;
    }
    const std::int64_t start = period_start_ms(config, state.day);
    if (t_ms < start || t_ms >= period_end_ms(config, state.day)) return out;
    const std::int64_t bucket = start + (t_ms - start) / config.bucket_ms * config.bucket_ms;
    if (state.has_bucket && bucket < state.bucket_start_ms) return out;  // out of order
    if (state.has_bucket && bucket != state.bucket_start_ms) finish_bucket(config, state);
    if (!state.has_bucket) {
        state.has_bucket = true;
        state.bucket_start_ms = bucket;
    }
    // Reverse flow is no infiltration signal: count it as no flow, like the integral does.
    state.bucket_sum_m3_h += std::max(flow_m3_h, 0.0);
    ++state.bucket_samples;
    return out;
}

// --- rain history
// ---------------------------------------------------------------------------------

void rain_add(RainHistory& history, std::int64_t t_ms, double rain_mm) {
    if (!std::isfinite(rain_mm) || rain_mm <= 0.0) return;
    const auto size = static_cast<std::int64_t>(kRainHistoryHours);
    const std::int64_t hour = floor_div(t_ms, kMsPerHour);
    if (!history.has_data) {
        history = RainHistory{};
        history.has_data = true;
        history.newest_hour = hour;
    } else if (hour > history.newest_hour) {
        // Zero the buckets the ring moves over.
        const std::int64_t steps = std::min(hour - history.newest_hour, size);
        for (std::int64_t h = hour - steps + 1; h <= hour; ++h) {
            history.bucket_mm[static_cast<std::size_t>(floor_mod(h, size))] = 0.0;
        }
        history.newest_hour = hour;
    } else if (hour <= history.newest_hour - size) {
        return;  // older than the ring
    }
    history.bucket_mm[static_cast<std::size_t>(floor_mod(hour, size))] += rain_mm;
}

double rain_total_mm(const RainHistory& history, std::int64_t now_ms, std::int32_t hours_back) {
    if (!history.has_data || hours_back <= 0) return 0.0;
    const auto size = static_cast<std::int64_t>(kRainHistoryHours);
    const std::int64_t now_hour = floor_div(now_ms, kMsPerHour);
    const std::int64_t n = std::min<std::int64_t>(hours_back, size);
    double total = 0.0;
    for (std::int64_t h = now_hour - n + 1; h <= now_hour; ++h) {
        if (h > history.newest_hour || h <= history.newest_hour - size) continue;
        total += history.bucket_mm[static_cast<std::size_t>(floor_mod(h, size))];
    }
    return total;
}

// --- dry-weather discharge
// ------------------------------------------------------------------------

const char* to_string(DischargeAlarm alarm) {
    switch (alarm) {
        case DischargeAlarm::Raised:
            return "raised";
        case DischargeAlarm::Cleared:
            return "cleared";
    }
    return "?";
}

AlarmRuleConfig dry_discharge_rule(const DryDischargeConfig& config) {
    AlarmRuleConfig rule;
    rule.max = config.raise_flow_m3_h;
    rule.hysteresis = std::max(config.raise_flow_m3_h - config.clear_flow_m3_h, 0.0);
    rule.raise_after_ms = config.raise_after_ms;
    rule.clear_after_ms = config.clear_after_ms;
    rule.max_gap_ms = config.max_gap_ms;
    return rule;
}

std::optional<DischargeTransition> dry_discharge_step(const DryDischargeConfig& config,
                                                      DryDischargeState& state, std::int64_t t_ms,
                                                      double flow_m3_h,
                                                      std::optional<double> rain_mm) {
    if (!std::isfinite(flow_m3_h)) return std::nullopt;
    // No gauge: always dry weather. A gauge that reports NaN: unknown, so not dry (no alarm).
    const bool dry = !rain_mm || (std::isfinite(*rain_mm) && *rain_mm < config.dry_rain_mm);
    AlarmRule rule(dry_discharge_rule(config));
    rule.restore(state.alarm);
    // A wet-weather overflow is not a dry-weather discharge: while it rains the rule sees the
    // flow capped at the clear level, which stops a pending raise and clears a raised alarm
    // after clear_after_ms.
    const double clear_level = *rule.config().max - rule.config().hysteresis;
    const double value = dry ? flow_m3_h : std::min(flow_m3_h, clear_level);
    const std::optional<AlarmTransition> t = rule.update(value, t_ms);
    state.alarm = rule.state();
    if (!t) return std::nullopt;
    DischargeTransition out;
    out.alarm = t->event == AlarmEvent::Raised ? DischargeAlarm::Raised : DischargeAlarm::Cleared;
    out.at_ms = t->at_ms;
    out.since_ms = t->since_ms;
    out.peak_flow_m3_h = t->extreme;
    out.wet_weather = t->event == AlarmEvent::Cleared && !dry;
    return out;
}

}  // namespace gw::analytics
