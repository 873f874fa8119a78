// SPDX-License-Identifier: Apache-2.0
// Per-sensor tumbling windows aligned to wall-clock boundaries (multiples of the window length
// since the Unix epoch, as HJ 212 minute/hour data expects). Pure: time comes in with the
// samples and with close_due(), so every edge case is unit-testable.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>

#include "core/reading.hpp"

namespace gw {

enum class WindowQuality : std::uint8_t {
    Good,         ///< enough good samples (coverage >= threshold) and no failed poll
    Partial,      ///< some good samples, but failed polls or coverage below the threshold
    CommError,    ///< polls were made but none succeeded (mostly communication faults)
    Fault,        ///< samples arrived but none was usable (instrument fault, over range, stuck)
    NoData,       ///< no poll result at all arrived in the window (e.g. bus thread stuck)
    Calibrating,  ///< a technician calibrated the sensor during the window (HJ 212 flag C)
};

const char* to_string(WindowQuality quality);

struct WindowSummary {
    std::int64_t start_ms{0};                    ///< Unix ms, inclusive
    std::int64_t end_ms{0};                      ///< Unix ms, exclusive
    std::uint32_t count{0};                      ///< good samples
    std::uint32_t failed{0};                     ///< samples whose quality was not Good
    std::uint32_t expected{0};                   ///< polls a full window should see
    std::optional<double> min, max, mean, last;  ///< over good samples; empty when count == 0
    std::optional<double> first;                 ///< the first good sample's value
    std::optional<double> stddev;  ///< sample standard deviation (n - 1), from 2 good samples
    /// Mean weighted by time (trapezoids between good samples no more than max_gap apart, the
    /// edges held to the window's bounds): the right mean for irregular samples.
    std::optional<double> time_weighted_mean;
    /// Integral of the value over the covered time, in value x ms (flow m3/h -> volume), and
    /// the time it covers: integral / covered_ms is the time-weighted mean.
    double integral{0.0};
    std::int64_t covered_ms{0};
    double coverage{0.0};  ///< good samples / expected (above 1 with extra samples)
    /// The same over the values before field calibration ("measured").
    std::optional<double> measured_min, measured_max, measured_mean, measured_last;
    std::uint32_t calibrating{0};  ///< samples taken while the sensor was being calibrated
    WindowQuality quality{WindowQuality::NoData};
    /// The least trustworthy clock state among the window's samples.
    ClockState clock{ClockState::Synchronised};
    /// Failed samples by quality (index = SampleQuality; [Good] stays 0).
    std::array<std::uint32_t, kSampleQualityCount> faults{};
    /// HJ 212 data flag of the window: 'C' when any sample was taken during a calibration, else
    /// 'N' when good samples are at least as many as failed ones, else the flag of the most
    /// frequent fault ('B', 'D' or 'T'); 'B' with no data.
    char flag{'B'};
};

/// The running state of a window that is still open: what the store persists at each flush so
/// that a restart or a crash resumes the window instead of losing its samples (the raw samples
/// themselves are not kept: docs/reliability.md, docs/benchmarks.md "flash").
struct OpenWindow {
    std::int64_t start_ms{0};
    std::uint32_t count{0};
    std::uint32_t failed{0};
    double sum{0.0};
    double min{0.0};
    double max{0.0};
    double last{0.0};
    double measured_sum{0.0};  ///< the same four over the values before field calibration
    double measured_min{0.0};
    double measured_max{0.0};
    double measured_last{0.0};
    std::uint32_t calibrating{0};  ///< samples taken during a calibration
    ClockState clock{ClockState::Synchronised};
    std::array<std::uint32_t, kSampleQualityCount> faults{};
    double m2{0.0};  ///< sum of squared deviations from the running mean (Welford)
    double first{0.0};
    std::int64_t first_ms{0};  ///< time of the first good sample
    std::int64_t last_ms{0};   ///< time of the last good sample
    double integral{0.0};      ///< value x ms over the trapezoids so far
    std::int64_t covered_ms{0};
    bool empty() const { return count == 0 && failed == 0; }
};

class WindowAggregator {
public:
    using TimePoint = std::chrono::system_clock::time_point;

    /// `coverage_threshold`: fraction of `expected` good samples a window needs to be Good.
    /// Consecutive good samples more than 3 sample periods apart are a gap: the time-weighted
    /// mean and the integral do not bridge it.
    /// `offset`: windows start at multiples of the length since the epoch minus this, e.g. a
    /// day in China Standard Time starts at 16:00 UTC: offset 8 h.
    WindowAggregator(std::chrono::seconds window, std::chrono::milliseconds sample_period,
                     double coverage_threshold = 0.75,
                     std::chrono::milliseconds offset = std::chrono::milliseconds(0));

    /// Adds a sample. If it belongs to a later window than the open one, the open window is
    /// closed and returned. A sample older than the open window is counted as late and dropped.
    std::optional<WindowSummary> add(const Reading& reading);

    /// Closes the open window if `now` is at or past its end, and opens the window containing
    /// `now` so that a silent device still yields (empty) windows.
    std::optional<WindowSummary> close_due(TimePoint now);

    /// Closes the open window early (shutdown); it is reported as Partial at best.
    std::optional<WindowSummary> close_now();

    /// The open window (nullopt before the first sample or tick).
    const std::optional<OpenWindow>& open_window() const { return open_; }
    /// Resumes a window persisted before a restart. Refused (false) when it does not start on
    /// one of this aggregator's window boundaries (the window length changed) or when a window
    /// is already open.
    bool restore(const OpenWindow& window);
    /// Changes with every change of the open window: the gateway persists only changed ones.
    std::uint64_t version() const { return version_; }

    std::uint64_t late_samples() const { return late_samples_; }
    std::int64_t window_ms() const { return window_ms_; }
    std::uint32_t expected() const { return expected_; }

private:
    using Accumulator = OpenWindow;

    std::int64_t align(std::int64_t t_ms) const;
    WindowSummary summarise(const Accumulator& acc, bool complete) const;

    std::int64_t window_ms_;
    std::int64_t max_gap_ms_;
    std::int64_t offset_ms_;
    std::uint32_t expected_;
    double coverage_threshold_;
    std::optional<Accumulator> open_;
    std::uint64_t late_samples_{0};
    std::uint64_t version_{0};
};

}  // namespace gw
