// SPDX-License-Identifier: Apache-2.0
#include "analytics/quality_checks.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "analytics/metric_names.hpp"

namespace gw::analytics {

namespace {

constexpr std::int64_t kMinuteMs = 60 * 1000;
constexpr std::int64_t kHourMs = 60 * kMinuteMs;
constexpr std::int64_t kDayMs = 24 * kHourMs;

/// Scales the median absolute deviation to the standard deviation of normal data.
constexpr double kMadToSigma = 1.4826;

/// Probe series: 7 samples is the usual Hampel-filter window (3 each side of the centre sample);
/// a median of 7 still holds with 3 outliers among them.
constexpr std::size_t kProbeSpikeWindow = 7;

std::string number_text(double value) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%g", value);
    return buffer;
}

bool is_totaliser(std::string_view metric) {
    // Same rule as the Home Assistant discovery (uplink/ha_discovery.cpp): a meter reading.
    constexpr std::string_view suffix = "_total";
    return metric == "total" ||
           (metric.size() > suffix.size() &&
            metric.substr(metric.size() - suffix.size()) == suffix) ||
           metric.find("totaliser") != std::string_view::npos ||
           metric.find("totalizer") != std::string_view::npos;
}

struct MetricDefaults {
    std::string_view metric;
    std::optional<double> range_min;
    std::optional<double> range_max;
    std::size_t spike_window;
    double spike_floor;          // metric's unit
    std::int64_t flat_after_ms;  // 0: no flat-line check
};

// Ranges: only what is physically impossible (the pH scale, negative concentrations, a fill
// level outside 0-100 %); the sensor's own measuring range from its profile should replace them.
// Spike floors: about one class step of the GB 3838 / GB 18918 tables (DOMAIN.md §2), so a
// flagged spike is one large enough to change a verdict, and well above probe noise.
// Flat-line durations: how long a healthy sensor of that kind can plausibly repeat one value.
const std::vector<MetricDefaults>& metric_defaults() {
    static const std::vector<MetricDefaults> table{
        // pH: electrode noise moves the 0.01 digit within minutes, and natural waters drift with
        // photosynthesis and temperature; an hour without any change is a frozen transmitter or
        // a dried-out probe.
        {metric::kPh, 0.0, 14.0, kProbeSpikeWindow, 0.5, 1 * kHourMs},
        // DO: follows temperature and photosynthesis; optical probes resolve 0.01 mg/L.
        {metric::kDissolvedOxygen, 0.0, std::nullopt, kProbeSpikeWindow, 1.0, 1 * kHourMs},
        // Water temperature: rivers change slowly and a 0.1 °C probe in a deep reservoir can sit
        // on one code for hours, but not through a diurnal cycle.
        {metric::kWaterTemperature, std::nullopt, std::nullopt, kProbeSpikeWindow, 1.0,
         6 * kHourMs},
        // Turbidity: nephelometers are noisy, but clear drinking water at 0.01 NTU resolution
        // can read steady for a while. Floor: the GB 5749 limit itself.
        {metric::kTurbidity, 0.0, std::nullopt, kProbeSpikeWindow, 1.0, 2 * kHourMs},
        // Conductivity: 1 µS/cm resolution, drifts with temperature and inflow.
        {metric::kConductivity, 0.0, std::nullopt, kProbeSpikeWindow, 50.0, 2 * kHourMs},
        // Disinfectant residuals: amperometric cells are noisy and chlorine demand varies; an
        // hour of one value is a stuck cell. Floor 0.3 mg/L: the GB 5749 outlet minimum.
        {metric::kResidualChlorine, 0.0, std::nullopt, kProbeSpikeWindow, 0.3, 1 * kHourMs},
        {metric::kTotalChlorine, 0.0, std::nullopt, kProbeSpikeWindow, 0.3, 1 * kHourMs},
        {metric::kChlorineDioxide, 0.0, std::nullopt, kProbeSpikeWindow, 0.1, 1 * kHourMs},
        {metric::kOzone, 0.0, std::nullopt, kProbeSpikeWindow, 0.1, 1 * kHourMs},
        // Wet-chemistry analysers (DOMAIN.md §3.1: minutes per sample, cycles of an hour or
        // more) report the same value for a whole cycle, and values at the detection limit
        // legitimately repeat: 12 h is several cycles.
        {metric::kCodMn, 0.0, std::nullopt, kProbeSpikeWindow, 2.0, 12 * kHourMs},
        {metric::kCod, 0.0, std::nullopt, kProbeSpikeWindow, 10.0, 12 * kHourMs},
        {metric::kBod5, 0.0, std::nullopt, kProbeSpikeWindow, 2.0, 12 * kHourMs},
        {metric::kNh3N, 0.0, std::nullopt, kProbeSpikeWindow, 0.5, 12 * kHourMs},
        {metric::kTp, 0.0, std::nullopt, kProbeSpikeWindow, 0.1, 12 * kHourMs},
        {metric::kTn, 0.0, std::nullopt, kProbeSpikeWindow, 0.5, 12 * kHourMs},
        {metric::kSs, 0.0, std::nullopt, kProbeSpikeWindow, 10.0, 12 * kHourMs},
        // Water level: a pond or reservoir can hold its level to the cm for a day in dry
        // weather. No range: levels are relative to a site datum and may be negative.
        {metric::kWaterLevel, std::nullopt, std::nullopt, kProbeSpikeWindow, 0.5, 1 * kDayMs},
        // Sewage flow: township inflow drops to zero at night when the lift pumps stop, so a
        // whole night of zeros is normal; 12 h of one reading is not. No spike check: the scale
        // ranges from a village pipe to a town plant. No range: some meters report reverse flow.
        {metric::kFlowRate, std::nullopt, std::nullopt, 0, 0.0, 12 * kHourMs},
        // Bins: an unused or empty bin (fill clamped at 0 %) legitimately stays flat for days.
        // Window 5: uplinks are hourly or slower; DOMAIN.md §3.3 suggests a median of 3.
        {metric::kFillLevel, 0.0, 100.0, 5, 20.0, 7 * kDayMs},
        {metric::kDistance, 0.0, std::nullopt, 5, 200.0, 7 * kDayMs},  // mm
        // Bin temperature: a fast rise is the fire signature (DOMAIN.md §3.3) and must never be
        // set aside as an outlier, so no spike check; the diurnal cycle moves it within 12 h.
        {metric::kBinTemperature, std::nullopt, std::nullopt, 0, 0.0, 12 * kHourMs},
    };
    return table;
}

}  // namespace

std::size_t flag_index(QualityFlag flag) {
    auto bits = static_cast<std::uint32_t>(flag);
    std::size_t index = 0;
    while (bits > 1) {
        bits >>= 1;
        ++index;
    }
    return index;
}

const char* to_string(QualityFlag flag) {
    switch (flag) {
        case QualityFlag::Invalid:
            return "invalid";
        case QualityFlag::OutOfRange:
            return "out_of_range";
        case QualityFlag::Spike:
            return "spike";
        case QualityFlag::RateOfChange:
            return "rate_of_change";
        case QualityFlag::FlatLine:
            return "flat_line";
        case QualityFlag::Stale:
            return "stale";
    }
    return "?";
}

QualityParams default_quality_params(std::string_view metric) {
    QualityParams params;
    // Totalisers stay flat whenever nothing flows and only ever step up (DOMAIN.md §3.2): no
    // flat-line or spike check; resets are handled where totals are differenced.
    if (is_totaliser(metric)) return params;
    for (const auto& d : metric_defaults()) {
        if (d.metric != metric) continue;
        params.range_min = d.range_min;
        params.range_max = d.range_max;
        params.spike_window = d.spike_window;
        params.spike_floor = d.spike_floor;
        params.flat_after_ms = d.flat_after_ms;
        break;
    }
    return params;
}

std::string validate_quality_params(const QualityParams& p) {
    if ((p.range_min && !std::isfinite(*p.range_min)) ||
        (p.range_max && !std::isfinite(*p.range_max)))
        return "range bounds must be finite numbers";
    if (p.range_min && p.range_max && *p.range_min > *p.range_max)
        return "range min " + number_text(*p.range_min) + " is above range max " +
               number_text(*p.range_max);
    if (p.spike_window != 0 && p.spike_window < 3)
        return "spike_window must be 0 (off) or at least 3 samples, got " +
               std::to_string(p.spike_window);
    if (!std::isfinite(p.spike_k) || p.spike_k <= 0.0)
        return "spike_k must be a number > 0, got " + number_text(p.spike_k);
    if (!std::isfinite(p.spike_floor) || p.spike_floor < 0.0)
        return "spike_floor must be a number >= 0, got " + number_text(p.spike_floor);
    if (p.max_rate_per_s && (!std::isfinite(*p.max_rate_per_s) || *p.max_rate_per_s <= 0.0))
        return "max_rate_per_s must be a number > 0, got " + number_text(*p.max_rate_per_s);
    if (p.flat_after_ms < 0) return "flat_after_ms must be >= 0";
    if (!std::isfinite(p.flat_epsilon) || p.flat_epsilon < 0.0)
        return "flat_epsilon must be a number >= 0, got " + number_text(p.flat_epsilon);
    if (p.expected_period_ms < 0) return "expected_period_ms must be >= 0";
    // Below one period every on-time sample would already be late.
    if (!std::isfinite(p.stale_factor) || p.stale_factor < 1.0)
        return "stale_factor must be a number >= 1, got " + number_text(p.stale_factor);
    return {};
}

namespace {
/// Switches off each check whose parameters are unusable, so a bad part never flags.
QualityParams sanitised(QualityParams p) {
    const bool range_ok = (!p.range_min || std::isfinite(*p.range_min)) &&
                          (!p.range_max || std::isfinite(*p.range_max)) &&
                          !(p.range_min && p.range_max && *p.range_min > *p.range_max);
    if (!range_ok) p.range_min = p.range_max = std::nullopt;
    if (p.spike_window < 3 || !std::isfinite(p.spike_k) || p.spike_k <= 0.0 ||
        !std::isfinite(p.spike_floor) || p.spike_floor < 0.0)
        p.spike_window = 0;
    if (p.max_rate_per_s && (!std::isfinite(*p.max_rate_per_s) || *p.max_rate_per_s <= 0.0))
        p.max_rate_per_s = std::nullopt;
    if (p.flat_after_ms < 0 || !std::isfinite(p.flat_epsilon) || p.flat_epsilon < 0.0)
        p.flat_after_ms = 0;
    if (p.expected_period_ms < 0 || !std::isfinite(p.stale_factor) || p.stale_factor < 1.0)
        p.expected_period_ms = 0;
    return p;
}

double median_of(std::vector<double> values) {
    const std::size_t n = values.size();
    const auto mid = values.begin() + static_cast<std::ptrdiff_t>(n / 2);
    std::nth_element(values.begin(), mid, values.end());
    const double upper = *mid;
    if (n % 2 == 1) return upper;
    const double lower = *std::max_element(values.begin(), mid);
    return (lower + upper) / 2.0;
}
}  // namespace

QualityChecker::QualityChecker(QualityParams params) : params_(sanitised(params)) {}

bool QualityChecker::is_stale_at(std::int64_t now_ms) const {
    if (params_.expected_period_ms <= 0 || !stale_reference_ms_) return false;
    const auto silent_ms = static_cast<double>(now_ms - *stale_reference_ms_);
    return silent_ms > params_.stale_factor * static_cast<double>(params_.expected_period_ms);
}

void QualityChecker::start(std::int64_t now_ms) {
    if (!stale_reference_ms_) stale_reference_ms_ = now_ms;
}

QualityFlags QualityChecker::check_stale(std::int64_t now_ms) {
    QualityFlags flags;
    if (!is_stale_at(now_ms)) return flags;
    flags.set(QualityFlag::Stale);
    if (!in_stale_episode_) {
        in_stale_episode_ = true;
        ++counters_.flagged[flag_index(QualityFlag::Stale)];
    }
    return flags;
}

bool QualityChecker::check_spike(double value) {
    const std::size_t window = params_.spike_window;
    if (window == 0) return false;
    if (history_.size() < window) {  // still filling: nothing to compare with yet
        history_.push_back(value);
        spike_candidate_.reset();
        return false;
    }
    const std::vector<double> values(history_.begin(), history_.end());
    const double median = median_of(values);
    std::vector<double> deviations;
    deviations.reserve(values.size());
    for (const double v : values) deviations.push_back(std::fabs(v - median));
    const double sigma = kMadToSigma * median_of(deviations);
    const double threshold = std::max(params_.spike_k * sigma, params_.spike_floor);

    if (std::fabs(value - median) <= threshold) {
        history_.pop_front();
        history_.push_back(value);
        spike_candidate_.reset();
        return false;
    }
    // Far from the median. If the previous sample was flagged and this one agrees with it, the
    // level has shifted (a step that persists), not spiked: restart the window at the new level.
    if (spike_candidate_ && std::fabs(value - *spike_candidate_) <= threshold) {
        history_.clear();
        history_.push_back(*spike_candidate_);
        history_.push_back(value);
        spike_candidate_.reset();
        return false;
    }
    spike_candidate_ = value;
    return true;
}

QualityFlags QualityChecker::check(double value, std::int64_t time_ms) {
    ++counters_.samples;
    QualityFlags flags;
    const bool in_order = !last_sample_ms_ || time_ms >= *last_sample_ms_;

    if (in_order) {
        if (in_stale_episode_ || is_stale_at(time_ms)) {
            if (!in_stale_episode_) ++counters_.flagged[flag_index(QualityFlag::Stale)];
            // The series has a hole: the samples before it are no reference for this one.
            history_.clear();
            spike_candidate_.reset();
            previous_value_.reset();
        }
        in_stale_episode_ = false;
        // Any sample, even an invalid one, shows the sensor is talking: staleness is silence.
        stale_reference_ms_ = time_ms;
        last_sample_ms_ = time_ms;
    }

    if (!std::isfinite(value)) {
        flags.set(QualityFlag::Invalid);
    } else {
        const bool out_of_range = (params_.range_min && value < *params_.range_min) ||
                                  (params_.range_max && value > *params_.range_max);
        if (out_of_range) flags.set(QualityFlag::OutOfRange);

        if (in_order && params_.flat_after_ms > 0) {
            // Every finite value counts, out of range or not: a stuck value is stuck anywhere.
            if (flat_reference_ && std::fabs(value - *flat_reference_) <= params_.flat_epsilon) {
                if (time_ms - flat_since_ms_ > params_.flat_after_ms)
                    flags.set(QualityFlag::FlatLine);
            } else {
                flat_reference_ = value;
                flat_since_ms_ = time_ms;
            }
        }
        // Out-of-range values are no reference for the spike median or the rate.
        if (in_order && !out_of_range) {
            if (check_spike(value)) flags.set(QualityFlag::Spike);
            if (params_.max_rate_per_s && previous_value_ && time_ms > previous_ms_) {
                const double seconds = static_cast<double>(time_ms - previous_ms_) / 1000.0;
                if (std::fabs(value - *previous_value_) / seconds > *params_.max_rate_per_s)
                    flags.set(QualityFlag::RateOfChange);
            }
            previous_value_ = value;
            previous_ms_ = time_ms;
        }
    }

    for (std::size_t i = 0; i < kQualityFlagCount; ++i)
        if (flags.bits & (1u << i)) ++counters_.flagged[i];
    return flags;
}

}  // namespace gw::analytics
