// SPDX-License-Identifier: Apache-2.0
#include "modbus_sim/waveform.hpp"

#include <algorithm>
#include <cmath>

namespace gw::sim {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kSecondsPerHour = 3600.0;
constexpr double kHoursPerDay = 24.0;
/// Totaliser integration step in simulated seconds (trapezoid rule on a fixed grid, so the
/// total at a given instant does not depend on when it was asked for).
constexpr double kIntegrationStep_s = 10.0;

std::int64_t whole_steps(double elapsed_s) {
    return elapsed_s <= 0.0 ? 0
                            : static_cast<std::int64_t>(std::floor(elapsed_s / kIntegrationStep_s));
}

template <class... Ts>
struct Overloaded : Ts... {
    using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

double gaussian(std::mt19937_64& rng, double stddev) {
    if (!(stddev > 0.0)) {
        return 0.0;
    }
    return std::normal_distribution<double>(0.0, stddev)(rng);
}

double diurnal_shape(const DiurnalSignal& s, double hour_of_day) {
    return s.mean + s.amplitude * std::cos(2.0 * kPi * (hour_of_day - s.peak_hour) / kHoursPerDay);
}

double bin_fill_shape(const BinFillSignal& s, double elapsed_s, double phase) {
    const double period_s = s.fill_hours * kSecondsPerHour;
    double cycle = elapsed_s / period_s + phase;
    cycle -= std::floor(cycle);  // position in the current fill cycle, [0, 1)
    return s.empty_mm - (s.empty_mm - s.full_mm) * cycle;
}

std::uint64_t splitmix64(std::uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

}  // namespace

double Limits::apply(double value) const {
    if (min && value < *min) value = *min;
    if (max && value > *max) value = *max;
    return value;
}

std::string_view kind_name(const SignalSpec& spec) {
    return std::visit(Overloaded{
                          [](const ConstantSignal&) { return std::string_view{"constant"}; },
                          [](const NoiseSignal&) { return std::string_view{"noise"}; },
                          [](const DiurnalSignal&) { return std::string_view{"diurnal"}; },
                          [](const TotaliserSignal&) { return std::string_view{"totaliser"}; },
                          [](const BinFillSignal&) { return std::string_view{"bin_fill"}; },
                      },
                      spec);
}

double SimInstant::hour_of_day() const {
    const double hour = std::fmod(start_hour_of_day + elapsed_s / kSecondsPerHour, kHoursPerDay);
    return hour < 0.0 ? hour + kHoursPerDay : hour;
}

SimInstant SimClock::at(double wall_elapsed_s) const {
    return {wall_elapsed_s * time_scale, start_hour_of_day};
}

double phase_from_seed(std::uint64_t seed, std::string_view key) {
    std::uint64_t hash = 0xCBF29CE484222325ULL;  // FNV-1a 64
    for (const char c : key) {
        hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001B3ULL;
    }
    const std::uint64_t mixed = splitmix64(seed ^ hash);
    return static_cast<double>(mixed >> 11) * 0x1.0p-53;  // 53 random bits -> [0, 1)
}

Waveform::Waveform(SignalSpec spec, double phase) : spec_(std::move(spec)), phase_(phase) {}

double Waveform::expected(const SimInstant& now) const {
    return std::visit(Overloaded{
                          [](const ConstantSignal& s) { return s.value; },
                          [](const NoiseSignal& s) { return s.limits.apply(s.mean); },
                          [&](const DiurnalSignal& s) {
                              return s.limits.apply(diurnal_shape(s, now.hour_of_day()));
                          },
                          [&](const TotaliserSignal& s) {
                              // Without the memo: integrate from the start (the served value uses
                              // sample()).
                              return s.start + integrate_steps(now, 0, whole_steps(now.elapsed_s)) +
                                     integrate_tail(now);
                          },
                          [&](const BinFillSignal& s) {
                              return s.limits.apply(bin_fill_shape(s, now.elapsed_s, phase_));
                          },
                      },
                      spec_);
}

double Waveform::sample(const SimInstant& now, std::mt19937_64& rng) {
    return std::visit(
        Overloaded{
            [](const ConstantSignal& s) { return s.value; },
            [&](const NoiseSignal& s) { return s.limits.apply(s.mean + gaussian(rng, s.stddev)); },
            [&](const DiurnalSignal& s) {
                return s.limits.apply(diurnal_shape(s, now.hour_of_day()) + gaussian(rng, s.noise));
            },
            [&](const TotaliserSignal& s) { return s.start + integral_of_rate(now); },
            [&](const BinFillSignal& s) {
                return s.limits.apply(bin_fill_shape(s, now.elapsed_s, phase_) +
                                      gaussian(rng, s.noise_mm));
            },
        },
        spec_);
}

double Waveform::rate_at(const SimInstant& at) const {
    if (rate_source_ == nullptr) {
        return 0.0;
    }
    const auto& totaliser = std::get<TotaliserSignal>(spec_);
    return std::max(0.0, rate_source_->expected(at)) / totaliser.per_s;
}

double Waveform::integrate_steps(const SimInstant& now, std::int64_t first_step,
                                 std::int64_t end_step) const {
    double sum = 0.0;
    for (std::int64_t step = first_step; step < end_step; ++step) {
        const double t0_s = static_cast<double>(step) * kIntegrationStep_s;
        sum +=
            0.5 *
            (rate_at(now.at_elapsed(t0_s)) + rate_at(now.at_elapsed(t0_s + kIntegrationStep_s))) *
            kIntegrationStep_s;
    }
    return sum;
}

double Waveform::integrate_tail(const SimInstant& now) const {
    if (now.elapsed_s <= 0.0) {
        return 0.0;
    }
    const double grid_s = static_cast<double>(whole_steps(now.elapsed_s)) * kIntegrationStep_s;
    return 0.5 * (rate_at(now.at_elapsed(grid_s)) + rate_at(now)) * (now.elapsed_s - grid_s);
}

double Waveform::integral_of_rate(const SimInstant& now) {
    const std::int64_t steps = whole_steps(now.elapsed_s);
    if (steps < memo_steps_) {  // time went backwards: start over
        memo_steps_ = 0;
        memo_sum_ = 0.0;
    }
    memo_sum_ += integrate_steps(now, memo_steps_, steps);
    memo_steps_ = steps;
    return memo_sum_ + integrate_tail(now);
}

}  // namespace gw::sim
