// SPDX-License-Identifier: Apache-2.0
#include "analytics/alarm_rule.hpp"

#include <cmath>
#include <cstdio>
#include <utility>

namespace gw::analytics {

namespace {

std::string number_text(double value) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%g", value);
    return buffer;
}

bool finite_or_empty(const std::optional<double>& value) {
    return !value || std::isfinite(*value);
}

}  // namespace

bool is_indicative(Averaging input, Averaging limit_basis) {
    return static_cast<int>(input) < static_cast<int>(limit_basis);
}

AlarmRuleConfig rule_for(const Limit& limit, Averaging input_basis, double hysteresis,
                         std::int64_t raise_after_ms) {
    AlarmRuleConfig config;
    config.min = limit.min;
    config.max = limit.max;
    config.hysteresis = hysteresis;
    config.raise_after_ms = raise_after_ms;
    config.limit_basis = limit.basis;
    config.input_basis = input_basis;
    return config;
}

std::string validate_rule(const AlarmRuleConfig& config) {
    if (!config.min && !config.max) return "alarm rule needs a min, a max or both";
    if (!finite_or_empty(config.min) || !finite_or_empty(config.max))
        return "alarm rule bounds must be finite numbers";
    if (config.min && config.max && *config.min > *config.max)
        return "alarm rule min " + number_text(*config.min) + " is above max " +
               number_text(*config.max);
    if (!std::isfinite(config.hysteresis) || config.hysteresis < 0.0)
        return "hysteresis must be a finite number >= 0, got " + number_text(config.hysteresis);
    // An AboveMax alarm clears at max − h; below min that would be the other violation.
    if (config.min && config.max && config.hysteresis > *config.max - *config.min)
        return "hysteresis " + number_text(config.hysteresis) + " is wider than max - min (" +
               number_text(*config.max - *config.min) + ")";
    if (config.raise_after_ms < 0) return "raise_after_ms must be >= 0";
    if (config.clear_after_ms && *config.clear_after_ms < 0) return "clear_after_ms must be >= 0";
    if (config.max_gap_ms < 0) return "max_gap_ms must be >= 0";
    return {};
}

const char* to_string(AlarmPhase phase) {
    switch (phase) {
        case AlarmPhase::Normal:
            return "normal";
        case AlarmPhase::Pending:
            return "pending";
        case AlarmPhase::Raised:
            return "raised";
        case AlarmPhase::Clearing:
            return "clearing";
    }
    return "?";
}

const char* to_string(AlarmEvent event) {
    return event == AlarmEvent::Raised ? "raised" : "cleared";
}

AlarmRule::AlarmRule(AlarmRuleConfig config)
    : config_(std::move(config)), valid_(validate_rule(config_).empty()) {}

bool AlarmRule::active() const {
    return state_.phase == AlarmPhase::Raised || state_.phase == AlarmPhase::Clearing;
}

bool AlarmRule::indicative() const {
    return is_indicative(config_.input_basis, config_.limit_basis);
}

std::optional<BoundSide> AlarmRule::violation(double value) const {
    if (config_.max && value > *config_.max) return BoundSide::AboveMax;
    if (config_.min && value < *config_.min) return BoundSide::BelowMin;
    return std::nullopt;
}

bool AlarmRule::clear_condition(double value) const {
    if (state_.side == BoundSide::AboveMax) return value <= *config_.max - config_.hysteresis;
    return value >= *config_.min + config_.hysteresis;
}

double AlarmRule::bound(BoundSide side) const {
    return side == BoundSide::AboveMax ? *config_.max : *config_.min;
}

std::int64_t AlarmRule::clear_after_ms() const {
    return config_.clear_after_ms.value_or(config_.raise_after_ms);
}

void AlarmRule::start_pending(BoundSide side, double value, std::int64_t time_ms) {
    state_.phase = AlarmPhase::Pending;
    state_.side = side;
    state_.excursion_since_ms = time_ms;
    state_.extreme = value;
}

AlarmTransition AlarmRule::transition(AlarmEvent event, double value, std::int64_t since_ms,
                                      std::int64_t at_ms) const {
    AlarmTransition t;
    t.event = event;
    t.value = value;
    t.limit = bound(state_.side);
    t.side = state_.side;
    t.since_ms = since_ms;
    t.at_ms = at_ms;
    t.extreme = state_.extreme;
    t.indicative = indicative();
    return t;
}

std::optional<AlarmTransition> AlarmRule::update(double value, std::int64_t time_ms, bool good) {
    if (!valid_ || !good || !std::isfinite(value)) return std::nullopt;
    if (state_.has_last_good && time_ms < state_.last_good_ms) return std::nullopt;

    // A long hole in the data breaks "held continuously": restart the wait, keep a raised alarm.
    if (config_.max_gap_ms > 0 && state_.has_last_good &&
        time_ms - state_.last_good_ms > config_.max_gap_ms) {
        if (state_.phase == AlarmPhase::Pending) state_.phase = AlarmPhase::Normal;
        if (state_.phase == AlarmPhase::Clearing) state_.phase = AlarmPhase::Raised;
    }
    state_.has_last_good = true;
    state_.last_good_ms = time_ms;

    const std::optional<BoundSide> violated = violation(value);
    auto track_extreme = [&] {
        if (violated != state_.side) return;
        if (state_.side == BoundSide::AboveMax ? value > state_.extreme : value < state_.extreme)
            state_.extreme = value;
    };

    switch (state_.phase) {
        case AlarmPhase::Normal:
            if (!violated) return std::nullopt;
            start_pending(*violated, value, time_ms);
            [[fallthrough]];  // with raise_after_ms == 0 the first violating sample raises
        case AlarmPhase::Pending:
            if (!violated) {
                state_.phase = AlarmPhase::Normal;
                return std::nullopt;
            }
            if (*violated != state_.side) {
                start_pending(*violated, value, time_ms);
            } else {
                track_extreme();
            }
            if (time_ms - state_.excursion_since_ms < config_.raise_after_ms) return std::nullopt;
            state_.phase = AlarmPhase::Raised;
            return transition(AlarmEvent::Raised, value, state_.excursion_since_ms, time_ms);
        case AlarmPhase::Raised:
            if (!clear_condition(value)) {
                track_extreme();
                return std::nullopt;
            }
            state_.phase = AlarmPhase::Clearing;
            state_.clearing_since_ms = time_ms;
            [[fallthrough]];  // with a clear duration of 0 the first recovered sample clears
        case AlarmPhase::Clearing: {
            if (!clear_condition(value)) {
                state_.phase = AlarmPhase::Raised;
                track_extreme();
                return std::nullopt;
            }
            if (time_ms - state_.clearing_since_ms < clear_after_ms()) return std::nullopt;
            const AlarmTransition cleared =
                transition(AlarmEvent::Cleared, value, state_.clearing_since_ms, time_ms);
            state_.phase = AlarmPhase::Normal;
            // Cleared into the opposite violation (pH 9.5 -> 5.5): that excursion starts here.
            if (violated && *violated != cleared.side) start_pending(*violated, value, time_ms);
            return cleared;
        }
    }
    return std::nullopt;
}

bool AlarmRule::restore(const AlarmState& state) {
    state_ = AlarmState{};
    if (!valid_) return false;
    const auto phase = static_cast<int>(state.phase);
    const auto side = static_cast<int>(state.side);
    if (phase < 0 || phase > static_cast<int>(AlarmPhase::Clearing)) return false;
    if (side < 0 || side > static_cast<int>(BoundSide::BelowMin)) return false;
    if (state.phase != AlarmPhase::Normal) {
        // The rule may have changed since the state was saved: the bound must still exist.
        if (state.side == BoundSide::AboveMax && !config_.max) return false;
        if (state.side == BoundSide::BelowMin && !config_.min) return false;
        if (!std::isfinite(state.extreme)) return false;
    }
    if (state.phase == AlarmPhase::Clearing && state.clearing_since_ms < state.excursion_since_ms)
        return false;
    state_ = state;
    return true;
}

}  // namespace gw::analytics
