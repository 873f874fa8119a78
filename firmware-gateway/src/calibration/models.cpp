// SPDX-License-Identifier: Apache-2.0
#include "calibration/models.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace gw::calibration {

namespace {

using detail::format_number;

void require_finite(double value, const std::string& what) {
    if (!std::isfinite(value)) {
        throw std::invalid_argument(what + " must be a finite number");
    }
}

/// Raw values this close cannot define a slope (only exact repeats in practice).
bool same_raw(double first, double second) {
    const double scale = std::max({1.0, std::fabs(first), std::fabs(second)});
    return std::fabs(first - second) <= 1e-12 * scale;
}

template <typename Result>
void escalate(Result& result, Verdict verdict, std::string message) {
    result.verdict = std::max(result.verdict, verdict);
    result.messages.push_back(std::move(message));
}

struct Line {
    double slope{0.0};
    double intercept{0.0};
};

/// Least squares y = intercept + slope · x on centred sums (no cancellation for large x).
/// Throws `degenerate_message` when all x are the same.
Line least_squares_line(const std::vector<double>& x, const std::vector<double>& y,
                        const std::string& degenerate_message) {
    const double count = static_cast<double>(x.size());
    double x_mean = 0.0;
    double y_mean = 0.0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        x_mean += x[i];
        y_mean += y[i];
    }
    x_mean /= count;
    y_mean /= count;
    double sum_xx = 0.0;
    double sum_xy = 0.0;
    double x_scale = 1.0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        sum_xx += (x[i] - x_mean) * (x[i] - x_mean);
        sum_xy += (x[i] - x_mean) * (y[i] - y_mean);
        x_scale = std::max(x_scale, std::fabs(x[i]));
    }
    if (std::sqrt(sum_xx / count) <= 1e-12 * x_scale) {
        throw std::invalid_argument(degenerate_message);
    }
    const double slope = sum_xy / sum_xx;
    return {slope, y_mean - slope * x_mean};
}

/// Residuals (reference − fitted), their maximum and, from 3 points on, r².
void fill_statistics(FitResult& result, const std::vector<double>& reference,
                     const std::vector<double>& raw) {
    result.residuals.clear();
    result.max_abs_residual = 0.0;
    double reference_mean = 0.0;
    for (const double value : reference) reference_mean += value;
    reference_mean /= static_cast<double>(reference.size());
    double residual_sum_squares = 0.0;
    double total_sum_squares = 0.0;
    for (std::size_t i = 0; i < reference.size(); ++i) {
        const double residual = reference[i] - result.coefficients.apply(raw[i]);
        result.residuals.push_back(residual);
        result.max_abs_residual = std::max(result.max_abs_residual, std::fabs(residual));
        residual_sum_squares += residual * residual;
        total_sum_squares += (reference[i] - reference_mean) * (reference[i] - reference_mean);
    }
    result.r_squared.reset();
    if (reference.size() >= 3 && total_sum_squares > 0.0) {
        result.r_squared = 1.0 - residual_sum_squares / total_sum_squares;
    }
}

/// Warn/Reject when a gain leaves its bands; `what` names the quantity ("cell-constant gain").
void grade_gain(FitResult& result, const std::string& what, double warn_low, double warn_high,
                double reject_low, double reject_high) {
    const double gain = result.coefficients.gain;
    const std::string gain_text = what + " " + format_number(gain, 3);
    if (gain < reject_low) {
        escalate(result, Verdict::Reject,
                 gain_text + " is below the reject limit " + format_number(reject_low, 3));
    } else if (gain < warn_low) {
        escalate(result, Verdict::Warn,
                 gain_text + " is below the warn limit " + format_number(warn_low, 3));
    } else if (gain > reject_high) {
        escalate(result, Verdict::Reject,
                 gain_text + " is above the reject limit " + format_number(reject_high, 3));
    } else if (gain > warn_high) {
        escalate(result, Verdict::Warn,
                 gain_text + " is above the warn limit " + format_number(warn_high, 3));
    }
}

void validate_bands(const std::string& what, double warn_low, double warn_high, double reject_low,
                    double reject_high) {
    for (const double limit : {warn_low, warn_high, reject_low, reject_high}) {
        require_finite(limit, what + " limit");
    }
    if (!(reject_low <= warn_low && warn_low <= warn_high && warn_high <= reject_high)) {
        throw std::invalid_argument(what +
                                    " limits must satisfy reject_low <= warn_low <= warn_high <= "
                                    "reject_high");
    }
}

void validate(const PhLimits& limits) {
    validate_bands("pH slope", limits.warn_slope_low_pct, limits.warn_slope_high_pct,
                   limits.reject_slope_low_pct, limits.reject_slope_high_pct);
    require_finite(limits.warn_offset_mv, "pH warn offset limit");
    require_finite(limits.reject_offset_mv, "pH reject offset limit");
    if (!(0.0 <= limits.warn_offset_mv && limits.warn_offset_mv <= limits.reject_offset_mv)) {
        throw std::invalid_argument("pH offset limits must satisfy 0 <= warn <= reject");
    }
    if (!(limits.recheck_tolerance_ph > 0.0) || !std::isfinite(limits.recheck_tolerance_ph)) {
        throw std::invalid_argument("pH re-check tolerance must be a positive number");
    }
}

void grade_ph(PhResult& result, const PhLimits& limits) {
    const double slope_pct = result.slope_pct_of_nernst;
    const std::string slope_text = "slope " + format_number(slope_pct, 1) + " % of Nernst";
    if (slope_pct < limits.reject_slope_low_pct) {
        escalate(result, Verdict::Reject,
                 slope_text + " is below the reject limit " +
                     format_number(limits.reject_slope_low_pct, 2) +
                     " %: clean, recondition or replace the electrode");
    } else if (slope_pct < limits.warn_slope_low_pct) {
        escalate(result, Verdict::Warn,
                 slope_text + " is below the warn limit " +
                     format_number(limits.warn_slope_low_pct, 2) + " %");
    } else if (slope_pct > limits.reject_slope_high_pct) {
        escalate(result, Verdict::Reject,
                 slope_text + " is above the reject limit " +
                     format_number(limits.reject_slope_high_pct, 2) +
                     " %: check the buffers and their temperature");
    } else if (slope_pct > limits.warn_slope_high_pct) {
        escalate(result, Verdict::Warn,
                 slope_text + " is above the warn limit " +
                     format_number(limits.warn_slope_high_pct, 2) + " %");
    }
    if (slope_pct <= 0.0) {
        escalate(result, Verdict::Reject,
                 result.raw_is_mv ? "the potential rises with pH: check the sign of the raw mV"
                                  : "the probe reading falls as the buffer pH rises");
    }

    const double offset_magnitude_mv = std::fabs(result.offset_mv);
    const std::string offset_text = "offset " + format_number(result.offset_mv, 1) + " mV at pH 7";
    if (offset_magnitude_mv > limits.reject_offset_mv) {
        escalate(result, Verdict::Reject,
                 offset_text + " exceeds the reject limit ±" +
                     format_number(limits.reject_offset_mv, 2) +
                     " mV: clean the electrode, check the reference junction");
    } else if (offset_magnitude_mv > limits.warn_offset_mv) {
        escalate(result, Verdict::Warn,
                 offset_text + " exceeds the warn limit ±" +
                     format_number(limits.warn_offset_mv, 2) + " mV");
    }

    // With 3+ buffers the line need not pass through them; HJ 1147 allows 0.05 pH on re-reading.
    if (result.residuals.size() >= 3 && result.max_abs_residual > limits.recheck_tolerance_ph) {
        escalate(result, Verdict::Warn,
                 "largest residual " + format_number(result.max_abs_residual, 3) + " pH exceeds " +
                     format_number(limits.recheck_tolerance_ph, 3) +
                     " pH: a buffer is off or the electrode is not linear");
    }
}

}  // namespace

const char* to_string(Verdict verdict) {
    switch (verdict) {
        case Verdict::Pass:
            return "pass";
        case Verdict::Warn:
            return "warn";
        case Verdict::Reject:
            return "reject";
    }
    return "?";
}

FitResult fit_offset(const CalibrationPoint& point) {
    require_finite(point.reference, "reference value");
    require_finite(point.raw, "raw reading");
    FitResult result;
    result.coefficients = {1.0, point.reference - point.raw};
    fill_statistics(result, {point.reference}, {point.raw});
    return result;
}

FitResult fit_two_point(const CalibrationPoint& first, const CalibrationPoint& second) {
    for (const auto* point : {&first, &second}) {
        require_finite(point->reference, "reference value");
        require_finite(point->raw, "raw reading");
    }
    if (same_raw(first.raw, second.raw)) {
        throw std::invalid_argument("both points have the same raw value " +
                                    format_number(first.raw, 6) +
                                    ", so no slope can be fitted (stale reading, or the same "
                                    "standard twice?)");
    }
    FitResult result;
    const double gain = (second.reference - first.reference) / (second.raw - first.raw);
    result.coefficients = {gain, first.reference - gain * first.raw};
    fill_statistics(result, {first.reference, second.reference}, {first.raw, second.raw});
    return result;
}

FitResult fit_least_squares(const std::vector<CalibrationPoint>& points) {
    if (points.size() < 2) {
        throw std::invalid_argument("a least-squares fit needs at least 2 points, got " +
                                    std::to_string(points.size()));
    }
    std::vector<double> reference;
    std::vector<double> raw;
    for (const auto& point : points) {
        require_finite(point.reference, "reference value");
        require_finite(point.raw, "raw reading");
        reference.push_back(point.reference);
        raw.push_back(point.raw);
    }
    const Line line = least_squares_line(
        raw, reference, "all points have the same raw value, so no slope can be fitted");
    FitResult result;
    result.coefficients = {line.slope, line.intercept};
    fill_statistics(result, reference, raw);
    return result;
}

PhResult fit_ph(const std::vector<PhPoint>& points, BufferTable table, const PhLimits& limits,
                bool raw_is_mv) {
    if (points.size() < 2) {
        throw std::invalid_argument("a pH calibration needs at least 2 buffers, got " +
                                    std::to_string(points.size()) +
                                    " (use fit_offset for a one-point offset correction)");
    }
    validate(limits);

    PhResult result;
    result.table = table_name(table);
    result.raw_is_mv = raw_is_mv;
    std::vector<double> raw;
    double temperature_sum_degc = 0.0;
    for (const auto& point : points) {
        require_finite(point.raw, "raw reading in buffer " + point.buffer);
        result.reference.push_back(ph_buffer_value(table, point.buffer, point.temperature_degc));
        raw.push_back(point.raw);
        temperature_sum_degc += point.temperature_degc;
    }
    result.mean_temperature_degc = temperature_sum_degc / static_cast<double>(points.size());

    const auto [lowest, highest] =
        std::minmax_element(result.reference.begin(), result.reference.end());
    if (*highest - *lowest < 1.0) {
        throw std::invalid_argument("the buffers span only " +
                                    format_number(*highest - *lowest, 3) +
                                    " pH; a slope needs buffers at least 1 pH apart (about 3 is "
                                    "usual)");
    }

    // Fit the response on the standard (raw = intercept + slope · pH) and invert it, so the
    // coefficients agree exactly with the reported slope and offset.
    const Line response = least_squares_line(result.reference, raw, "degenerate buffer set");
    const double nernst_mv_per_ph = nernst_slope_mv_per_ph(result.mean_temperature_degc);
    const double raw_at_ph7 = response.intercept + 7.0 * response.slope;
    if (raw_is_mv) {
        // The potential falls as pH rises: E = offset_mv − slope_mv · (pH − 7).
        result.slope_mv_per_ph = -response.slope;
        result.slope_pct_of_nernst = 100.0 * result.slope_mv_per_ph / nernst_mv_per_ph;
        result.offset_mv = raw_at_ph7;
    } else {
        // The probe already divides by a nominal slope with its own temperature compensation,
        // so Δraw/ΔpH is directly the fraction of Nernst.
        result.slope_pct_of_nernst = 100.0 * response.slope;
        result.slope_mv_per_ph = response.slope * nernst_mv_per_ph;
        result.offset_mv = -(raw_at_ph7 - 7.0) * nernst_mv_per_ph;
    }

    if (same_raw(response.slope, 0.0)) {
        escalate(result, Verdict::Reject, "the probe reading does not change between buffers");
        return result;  // identity coefficients: nothing to invert
    }
    result.coefficients = {1.0 / response.slope, -response.intercept / response.slope};
    fill_statistics(result, result.reference, raw);
    grade_ph(result, limits);
    return result;
}

PhRecheck recheck_ph(const PhResult& result, const PhPoint& recheck, BufferTable table,
                     const PhLimits& limits) {
    if (result.table != table_name(table)) {
        throw std::invalid_argument("re-check uses the " + std::string(table_name(table)) +
                                    " table but the calibration used the " + result.table +
                                    " table");
    }
    validate(limits);
    require_finite(recheck.raw, "re-check raw reading");
    PhRecheck outcome;
    outcome.reference_ph = ph_buffer_value(table, recheck.buffer, recheck.temperature_degc);
    outcome.corrected_ph = result.coefficients.apply(recheck.raw);
    outcome.deviation_ph = outcome.corrected_ph - outcome.reference_ph;
    outcome.ok = std::fabs(outcome.deviation_ph) <= limits.recheck_tolerance_ph;
    return outcome;
}

FitResult fit_turbidity_zero_span(double zero_raw_ntu, std::optional<TurbiditySpan> span) {
    require_finite(zero_raw_ntu, "zero-water raw turbidity");
    if (!span) return fit_offset({0.0, zero_raw_ntu, std::nullopt});

    require_finite(span->standard_ntu, "span standard turbidity");
    require_finite(span->raw_ntu, "span raw turbidity");
    if (span->standard_ntu <= 0.0) {
        throw std::invalid_argument("the span standard must be above 0 NTU, got " +
                                    format_number(span->standard_ntu, 3));
    }
    if (span->raw_ntu <= zero_raw_ntu) {
        FitResult result;
        escalate(result, Verdict::Reject,
                 "span reading " + format_number(span->raw_ntu, 3) +
                     " NTU is not above the zero reading " + format_number(zero_raw_ntu, 3) +
                     " NTU: check the standard, the optics and the cell");
        return result;
    }
    return fit_two_point({0.0, zero_raw_ntu, std::nullopt},
                         {span->standard_ntu, span->raw_ntu, std::nullopt});
}

DoResult fit_do_saturation(double raw_mg_l, double temperature_degc, double pressure_kpa,
                           double salinity_g_kg, std::optional<double> zero_raw_mg_l,
                           const DoLimits& limits) {
    require_finite(raw_mg_l, "raw DO reading");
    validate_bands("DO gain", limits.warn_gain_low, limits.warn_gain_high, limits.reject_gain_low,
                   limits.reject_gain_high);
    DoResult result;
    result.saturation_mg_l = do_saturation_mg_l(temperature_degc, pressure_kpa, salinity_g_kg);
    const std::string raw_text = "saturation reading " + format_number(raw_mg_l, 3) + " mg/L";

    if (zero_raw_mg_l) {
        require_finite(*zero_raw_mg_l, "raw DO zero reading");
        if (raw_mg_l <= *zero_raw_mg_l) {
            escalate(result, Verdict::Reject,
                     raw_text + " is not above the zero reading " +
                         format_number(*zero_raw_mg_l, 3) + " mg/L");
            return result;
        }
        static_cast<FitResult&>(result) =
            fit_two_point({0.0, *zero_raw_mg_l, temperature_degc},
                          {result.saturation_mg_l, raw_mg_l, temperature_degc});
    } else {
        if (raw_mg_l <= 0.0) {
            escalate(result, Verdict::Reject, raw_text + " is not positive: probe dead?");
            return result;
        }
        result.coefficients = {result.saturation_mg_l / raw_mg_l, 0.0};
        fill_statistics(result, {result.saturation_mg_l}, {raw_mg_l});
    }
    grade_gain(result, "DO gain", limits.warn_gain_low, limits.warn_gain_high,
               limits.reject_gain_low, limits.reject_gain_high);
    if (result.verdict == Verdict::Reject) {
        result.messages.push_back("check the membrane and the electrolyte");
    }
    return result;
}

ConductivityResult fit_conductivity_cell(double standard_us_cm_at_25, double raw_us_cm,
                                         double temperature_degc, double alpha_per_degc,
                                         bool raw_is_compensated_to_25,
                                         const ConductivityLimits& limits) {
    require_finite(standard_us_cm_at_25, "conductivity standard");
    require_finite(raw_us_cm, "raw conductivity");
    require_finite(temperature_degc, "standard temperature");
    validate_bands("cell-constant gain", limits.warn_gain_low, limits.warn_gain_high,
                   limits.reject_gain_low, limits.reject_gain_high);
    if (standard_us_cm_at_25 <= 0.0) {
        throw std::invalid_argument("the conductivity standard must be above 0 µS/cm");
    }
    ConductivityResult result;
    result.reference_us_cm =
        raw_is_compensated_to_25
            ? standard_us_cm_at_25
            : conductivity_at_degc(standard_us_cm_at_25, temperature_degc, alpha_per_degc);
    if (raw_us_cm <= 0.0) {
        escalate(result, Verdict::Reject,
                 "raw conductivity " + format_number(raw_us_cm, 1) +
                     " µS/cm in the standard is not positive: cell dry or disconnected?");
        return result;
    }
    result.coefficients = {result.reference_us_cm / raw_us_cm, 0.0};
    fill_statistics(result, {result.reference_us_cm}, {raw_us_cm});
    grade_gain(result, "cell-constant gain", limits.warn_gain_low, limits.warn_gain_high,
               limits.reject_gain_low, limits.reject_gain_high);
    return result;
}

FitResult fit_zero(double raw_at_true_zero) {
    return fit_offset({0.0, raw_at_true_zero, std::nullopt});
}

FitResult fit_level(const std::vector<CalibrationPoint>& points, double residual_tolerance_m) {
    if (!(residual_tolerance_m > 0.0) || !std::isfinite(residual_tolerance_m)) {
        throw std::invalid_argument("the level residual tolerance must be a positive number");
    }
    if (points.empty()) {
        throw std::invalid_argument("a level calibration needs at least one staff-gauge reading");
    }
    if (points.size() == 1) return fit_offset(points.front());

    FitResult result = fit_least_squares(points);
    if (result.max_abs_residual > residual_tolerance_m) {
        escalate(result, Verdict::Warn,
                 "largest residual " + format_number(result.max_abs_residual, 3) +
                     " m exceeds the tolerance " + format_number(residual_tolerance_m, 3) +
                     " m: re-read the gauge or check the transmitter range");
    }
    return result;
}

BinCalibration fit_bin(double empty_distance_mm, double full_distance_mm) {
    require_finite(empty_distance_mm, "empty-bin distance");
    require_finite(full_distance_mm, "full-bin distance");
    BinCalibration result;
    result.empty_mm = empty_distance_mm;
    result.full_mm = full_distance_mm;
    if (empty_distance_mm <= 0.0 || full_distance_mm <= 0.0) {
        escalate(result, Verdict::Reject,
                 "distances must be positive (empty " + format_number(empty_distance_mm, 0) +
                     " mm, full " + format_number(full_distance_mm, 0) + " mm)");
    }
    if (full_distance_mm >= empty_distance_mm) {
        escalate(result, Verdict::Reject,
                 "full distance " + format_number(full_distance_mm, 0) +
                     " mm must be shorter than the empty distance " +
                     format_number(empty_distance_mm, 0) + " mm (sensor looks down)");
    }
    return result;
}

}  // namespace gw::calibration
