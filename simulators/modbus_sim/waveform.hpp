// SPDX-License-Identifier: Apache-2.0
// Signal shapes for simulated sensors. Pure: the time is passed in, randomness comes from a
// caller-owned generator, nothing here reads a clock or does I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <variant>

namespace gw::sim {

/// Optional clamp applied after noise.
struct Limits {
    std::optional<double> min;
    std::optional<double> max;
    double apply(double value) const;
};

/// "constant": always `value`.
struct ConstantSignal {
    double value{0.0};
};

/// "noise": mean + N(0, stddev), clamped.
struct NoiseSignal {
    double mean{0.0};
    double stddev{0.0};
    Limits limits;
};

/// "diurnal": mean + amplitude * cos(2 pi (hour - peak_hour) / 24) + N(0, noise), clamped.
struct DiurnalSignal {
    double mean{0.0};
    double amplitude{0.0};
    double peak_hour{12.0};  ///< local hour of day of the maximum, [0, 24)
    double noise{0.0};       ///< standard deviation
    Limits limits;
};

/// "totaliser": start + integral of max(0, rate_of) / per_s dt since the simulator started.
/// The rate's noise-free shape is integrated, so the total is smooth and never decreases.
struct TotaliserSignal {
    std::string rate_of;  ///< name of another point of the same device
    double per_s{1.0};    ///< rate units per (total units / s), e.g. 3600 for m3/h -> m3
    double start{0.0};    ///< total at simulator start
};

/// "bin_fill": a sawtooth distance. Starts at a seed-derived phase, falls from empty_mm to
/// full_mm over fill_hours, then the bin is emptied and the distance jumps back to empty_mm.
struct BinFillSignal {
    double empty_mm{1200.0};
    double full_mm{300.0};
    double fill_hours{8.0};
    double noise_mm{0.0};  ///< standard deviation
    Limits limits;
};

using SignalSpec =
    std::variant<ConstantSignal, NoiseSignal, DiurnalSignal, TotaliserSignal, BinFillSignal>;

/// Name of the kind as written in scenario files ("constant", "noise", ...).
std::string_view kind_name(const SignalSpec& spec);

/// A point in simulated time.
struct SimInstant {
    double elapsed_s{0.0};          ///< simulated seconds since the simulator started
    double start_hour_of_day{0.0};  ///< local hour of day when the simulator started, [0, 24)

    /// Simulated local hour of day at this instant, [0, 24).
    double hour_of_day() const;
    /// Another instant on the same simulated day line.
    SimInstant at_elapsed(double other_elapsed_s) const {
        return {other_elapsed_s, start_hour_of_day};
    }
};

/// Maps wall-clock seconds since start to simulated time: waveforms run time_scale times
/// faster than the wall clock; the day starts at the local hour the simulator started.
struct SimClock {
    double time_scale{1.0};
    double start_hour_of_day{0.0};
    SimInstant at(double wall_elapsed_s) const;
};

/// A deterministic fraction in [0, 1) derived from the seed and a key (e.g. "bin1/distance").
double phase_from_seed(std::uint64_t seed, std::string_view key);

/// One live signal. `phase` is a fraction of a period in [0, 1), used by bin_fill.
class Waveform {
public:
    explicit Waveform(SignalSpec spec, double phase = 0.0);

    /// A totaliser integrates this source; it must outlive the Waveform.
    void set_rate_source(const Waveform* source) { rate_source_ = source; }

    /// Value at `now` including noise and limits. Not const: a totaliser memoises its integral.
    double sample(const SimInstant& now, std::mt19937_64& rng);

    /// Noise-free value at `now`, limits applied (what a totaliser integrates).
    double expected(const SimInstant& now) const;

    bool is_counter() const { return std::holds_alternative<TotaliserSignal>(spec_); }
    const SignalSpec& spec() const { return spec_; }

private:
    /// Integral of the rate from the start to `now` (memoised on a fixed grid).
    double integral_of_rate(const SimInstant& now);
    /// Trapezoid sum over grid steps [first_step, end_step).
    double integrate_steps(const SimInstant& now, std::int64_t first_step,
                           std::int64_t end_step) const;
    /// Integral over the partial step after the last whole grid step up to `now`.
    double integrate_tail(const SimInstant& now) const;
    double rate_at(const SimInstant& at) const;

    SignalSpec spec_;
    double phase_{0.0};
    const Waveform* rate_source_{nullptr};
    // Totaliser memo: sum of whole integration steps up to step index memo_steps_.
    std::int64_t memo_steps_{0};
    double memo_sum_{0.0};
};

}  // namespace gw::sim
