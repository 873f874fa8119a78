// SPDX-License-Identifier: Apache-2.0
#include "core/window_aggregator.hpp"

#include <algorithm>
#include <cmath>

namespace gw {

const char* to_string(SampleQuality quality) {
    switch (quality) {
        case SampleQuality::Good:
            return "good";
        case SampleQuality::CommError:
            return "comm_error";
        case SampleQuality::DecodeError:
            return "decode_error";
        case SampleQuality::OverRange:
            return "over_range";
        case SampleQuality::InstrumentFault:
            return "instrument_fault";
        case SampleQuality::Stuck:
            return "stuck";
        case SampleQuality::Stale:
            return "stale";
        case SampleQuality::Spike:
            return "spike";
    }
    return "?";
}

char hj212_flag(SampleQuality quality) {
    switch (quality) {
        case SampleQuality::Good:
            return 'N';
        case SampleQuality::CommError:
        case SampleQuality::Stale:
            return 'B';
        case SampleQuality::OverRange:
            return 'T';
        case SampleQuality::DecodeError:
        case SampleQuality::InstrumentFault:
        case SampleQuality::Stuck:
        case SampleQuality::Spike:
            return 'D';
    }
    return 'D';
}

const char* to_string(ClockState state) {
    switch (state) {
        case ClockState::Held:
            return "held";
        case ClockState::Synchronised:
            return "synchronised";
        case ClockState::Corrected:
            return "corrected";
        case ClockState::Unsynchronised:
            return "unsynchronised";
    }
    return "?";
}

const char* to_string(WindowQuality quality) {
    switch (quality) {
        case WindowQuality::Good:
            return "good";
        case WindowQuality::Partial:
            return "partial";
        case WindowQuality::CommError:
            return "comm_error";
        case WindowQuality::Fault:
            return "fault";
        case WindowQuality::NoData:
            return "no_data";
        case WindowQuality::Calibrating:
            return "calibrating";
    }
    return "?";
}

namespace {
std::int64_t to_unix_ms(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
}  // namespace

WindowAggregator::WindowAggregator(std::chrono::seconds window,
                                   std::chrono::milliseconds sample_period,
                                   double coverage_threshold, std::chrono::milliseconds offset)
    : window_ms_(std::chrono::duration_cast<std::chrono::milliseconds>(window).count()),
      max_gap_ms_(3 * std::max<std::int64_t>(1, sample_period.count())),
      offset_ms_(offset.count()),
      expected_(static_cast<std::uint32_t>(std::max<std::int64_t>(
          1, window_ms_ / std::max<std::int64_t>(1, sample_period.count())))),
      coverage_threshold_(coverage_threshold) {}

std::int64_t WindowAggregator::align(std::int64_t t_ms) const {
    // Floor division, so that times before 1970 (boards without RTC) still align.
    const std::int64_t shifted = t_ms + offset_ms_;
    std::int64_t q = shifted / window_ms_;
    if (shifted % window_ms_ < 0) --q;
    return q * window_ms_ - offset_ms_;
}

std::optional<WindowSummary> WindowAggregator::add(const Reading& reading) {
    const std::int64_t start = align(to_unix_ms(reading.sampled_at));
    std::optional<WindowSummary> closed;
    if (open_ && start < open_->start_ms) {
        ++late_samples_;
        return std::nullopt;
    }
    ++version_;
    if (open_ && start > open_->start_ms) {
        closed = summarise(*open_, true);
        open_.reset();
    }
    if (!open_) {
        open_ = Accumulator{};
        open_->start_ms = start;
    }
    Accumulator& acc = *open_;
    // Unsynchronised is worse than Corrected, which is worse than Synchronised.
    auto severity = [](ClockState c) {
        return c == ClockState::Unsynchronised ? 2 : c == ClockState::Corrected ? 1 : 0;
    };
    if (severity(reading.clock) > severity(acc.clock)) acc.clock = reading.clock;
    if (reading.calibrating) ++acc.calibrating;
    if (reading.quality != SampleQuality::Good) {
        ++acc.failed;
        ++acc.faults[static_cast<std::size_t>(reading.quality)];
        return closed;
    }
    const double measured = reading.measured.value_or(reading.value);
    const double value = reading.value;
    const std::int64_t t_ms = to_unix_ms(reading.sampled_at);
    if (acc.count == 0) {
        acc.min = acc.max = value;
        acc.measured_min = acc.measured_max = measured;
        acc.first = value;
        acc.first_ms = t_ms;
    } else {
        acc.min = std::min(acc.min, value);
        acc.max = std::max(acc.max, value);
        acc.measured_min = std::min(acc.measured_min, measured);
        acc.measured_max = std::max(acc.measured_max, measured);
        const std::int64_t dt_ms = t_ms - acc.last_ms;
        if (dt_ms > 0 && dt_ms <= max_gap_ms_) {  // a trapezoid between two good samples
            acc.integral += 0.5 * (acc.last + value) * static_cast<double>(dt_ms);
            acc.covered_ms += dt_ms;
        }
    }
    // Welford's update, with the mean taken from the running sum: no cancellation when the
    // values are large and close together (a totaliser near 125 000 m3).
    const double mean_before = acc.count > 0 ? acc.sum / acc.count : value;
    ++acc.count;
    acc.sum += value;
    acc.m2 += (value - mean_before) * (value - acc.sum / acc.count);
    acc.last = value;
    acc.last_ms = t_ms;
    acc.measured_sum += measured;
    acc.measured_last = measured;
    return closed;
}

std::optional<WindowSummary> WindowAggregator::close_due(TimePoint now) {
    if (!open_) return std::nullopt;
    const std::int64_t now_ms = to_unix_ms(now);
    if (now_ms < open_->start_ms + window_ms_) return std::nullopt;
    WindowSummary closed = summarise(*open_, true);
    open_ = Accumulator{};
    open_->start_ms = align(now_ms);
    ++version_;
    return closed;
}

bool WindowAggregator::restore(const OpenWindow& window) {
    if (open_ || align(window.start_ms) != window.start_ms) return false;
    open_ = window;
    ++version_;
    return true;
}

std::optional<WindowSummary> WindowAggregator::close_now() {
    if (!open_) return std::nullopt;
    WindowSummary closed = summarise(*open_, false);
    open_.reset();
    ++version_;
    return closed;
}

WindowSummary WindowAggregator::summarise(const Accumulator& acc, bool complete) const {
    WindowSummary s;
    s.start_ms = acc.start_ms;
    s.end_ms = acc.start_ms + window_ms_;
    s.count = acc.count;
    s.failed = acc.failed;
    s.expected = expected_;
    s.clock = acc.clock;
    s.faults = acc.faults;
    s.coverage = static_cast<double>(acc.count) / static_cast<double>(expected_);
    if (acc.count > 0) {
        s.min = acc.min;
        s.max = acc.max;
        s.mean = acc.sum / acc.count;
        s.last = acc.last;
        s.first = acc.first;
        if (acc.count >= 2) s.stddev = std::sqrt(std::max(0.0, acc.m2 / (acc.count - 1)));
        // The edges: the first and last good samples are held to the window's bounds when
        // they are close enough, so consecutive windows tile time without overlap.
        s.integral = acc.integral;
        s.covered_ms = acc.covered_ms;
        const std::int64_t head_ms = acc.first_ms - acc.start_ms;
        const std::int64_t tail_ms = s.end_ms - acc.last_ms;
        if (head_ms > 0 && head_ms <= max_gap_ms_) {
            s.integral += acc.first * static_cast<double>(head_ms);
            s.covered_ms += head_ms;
        }
        if (complete && tail_ms > 0 && tail_ms <= max_gap_ms_) {
            s.integral += acc.last * static_cast<double>(tail_ms);
            s.covered_ms += tail_ms;
        }
        s.time_weighted_mean =
            s.covered_ms > 0 ? s.integral / static_cast<double>(s.covered_ms) : *s.mean;
        s.measured_min = acc.measured_min;
        s.measured_max = acc.measured_max;
        s.measured_mean = acc.measured_sum / acc.count;
        s.measured_last = acc.measured_last;
    }
    s.calibrating = acc.calibrating;
    // The most frequent fault decides the flag (ties: the more specific D and T before B).
    std::size_t dominant = 0;
    for (std::size_t q = 1; q < s.faults.size(); ++q) {
        const auto rank = [&](std::size_t i) {
            return std::make_pair(s.faults[i], hj212_flag(static_cast<SampleQuality>(i)) != 'B');
        };
        if (s.faults[q] > 0 && (dominant == 0 || rank(q) > rank(dominant))) dominant = q;
    }
    const char fault_flag = dominant == 0 ? 'B' : hj212_flag(static_cast<SampleQuality>(dominant));
    // A window is as good as its good samples unless faults outnumber them.
    s.flag = acc.calibrating > 0                        ? 'C'
             : acc.count > 0 && acc.failed <= acc.count ? 'N'
                                                        : fault_flag;
    if (acc.calibrating > 0) {
        s.quality = WindowQuality::Calibrating;
    } else if (acc.count == 0) {
        s.quality = acc.failed == 0     ? WindowQuality::NoData
                    : fault_flag == 'B' ? WindowQuality::CommError
                                        : WindowQuality::Fault;
    } else if (!complete || acc.failed > 0 ||
               acc.count < coverage_threshold_ * static_cast<double>(expected_)) {
        s.quality = WindowQuality::Partial;
    } else {
        s.quality = WindowQuality::Good;
    }
    return s;
}

}  // namespace gw
