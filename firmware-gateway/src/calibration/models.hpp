// SPDX-License-Identifier: Apache-2.0
// Calibration models (DOMAIN.md §4): from the raw readings a technician takes in standards to
// correction coefficients, a verdict against configurable limits and the human reasons behind
// it. Pure: no I/O, no device access. Bad input (too few points, duplicate raw values, non-finite
// numbers, unknown standards) throws std::invalid_argument; a bad *sensor* gives Verdict::Reject.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "calibration/standards.hpp"

namespace gw::calibration {

struct CalibrationPoint {
    double reference{0.0};  ///< true value of the standard, in engineering units
    double raw{0.0};        ///< what the sensor reported in it
    std::optional<double> temperature_degc;
};

/// corrected = gain · raw + offset.
struct Linear {
    double gain{1.0};
    double offset{0.0};
    double apply(double raw) const { return gain * raw + offset; }
};

enum class Verdict : std::uint8_t { Pass, Warn, Reject };

/// "pass", "warn" or "reject".
const char* to_string(Verdict verdict);

struct FitResult {
    /// Identity (gain 1, offset 0) when the verdict is Reject because no fit was possible.
    Linear coefficients;
    std::vector<double> residuals;  ///< reference − fitted, one per point
    double max_abs_residual{0.0};
    std::optional<double> r_squared;  ///< only with >= 3 points (2 points always fit exactly)
    Verdict verdict{Verdict::Pass};
    std::vector<std::string> messages;  ///< why the verdict is not Pass, with the numbers
};

// --- generic fits ---------------------------------------------------------------------------

/// One point: gain 1, offset = reference − raw.
FitResult fit_offset(const CalibrationPoint& point);

/// Line through two points; throws when their raw values are equal.
FitResult fit_two_point(const CalibrationPoint& first, const CalibrationPoint& second);

/// Least-squares line of reference on raw (>= 2 points). Repeated raw values are fine as long
/// as not all raw values are the same.
FitResult fit_least_squares(const std::vector<CalibrationPoint>& points);

// --- pH -------------------------------------------------------------------------------------

/// DOMAIN §4.1 acceptance: warn/reject bands on the slope (% of Nernst) and on the offset at pH 7;
/// HJ 1147-2020 re-check tolerance.
struct PhLimits {
    double warn_slope_low_pct{95.0};
    double warn_slope_high_pct{102.0};
    double reject_slope_low_pct{85.0};
    double reject_slope_high_pct{105.0};
    double warn_offset_mv{15.0};
    double reject_offset_mv{30.0};
    double recheck_tolerance_ph{0.05};
};

struct PhPoint {
    std::string buffer;  ///< buffer name in the table, e.g. "6.86"
    /// Measured buffer temperature; NaN by default so a forgotten one throws, not reads 25 °C.
    double temperature_degc{std::numeric_limits<double>::quiet_NaN()};
    double raw{0.0};  ///< the probe's pH, or its electrode potential in mV when raw_is_mv
};

struct PhResult : FitResult {
    /// Electrode slope as a percentage of the Nernst slope at mean_temperature_degc.
    double slope_pct_of_nernst{0.0};
    double slope_mv_per_ph{0.0};  ///< the same slope in mV/pH (positive for a working electrode)
    /// Electrode potential at pH 7 (asymmetry potential), mV. For pH-reporting probes it is
    /// inferred as −(reading at pH 7 − 7) · Nernst slope, so a probe reading high is negative.
    double offset_mv{0.0};
    double mean_temperature_degc{0.0};
    std::vector<double> reference;  ///< temperature-corrected buffer pH, one per point
    std::string table;              ///< table_name() of the buffer table used
    bool raw_is_mv{false};
};

/// Two- or multi-point pH calibration. The coefficients map raw (pH or mV) to pH at the
/// calibration temperature; they carry no temperature compensation of their own.
/// Throws on fewer than 2 points, unknown buffers, buffers closer than 1 pH, non-finite values.
PhResult fit_ph(const std::vector<PhPoint>& points, BufferTable table, const PhLimits& limits = {},
                bool raw_is_mv = false);

struct PhRecheck {
    double reference_ph{0.0};  ///< buffer pH at the re-check temperature
    double corrected_ph{0.0};  ///< the re-read raw through the new coefficients
    double deviation_ph{0.0};  ///< corrected − reference
    bool ok{false};            ///< |deviation| <= recheck_tolerance_ph
};

/// HJ 1147-2020 step 2: re-read the first buffer and compare the corrected value with the buffer.
/// Throws when `table` is not the table `result` was fitted with.
PhRecheck recheck_ph(const PhResult& result, const PhPoint& recheck, BufferTable table,
                     const PhLimits& limits = {});

// --- turbidity ------------------------------------------------------------------------------

struct TurbiditySpan {
    double standard_ntu{0.0};  ///< formazin standard value
    double raw_ntu{0.0};       ///< what the probe read in it
};

/// Zero water only: offset. Zero plus a formazin span: two-point. Reject when the span reads
/// no higher than the zero.
FitResult fit_turbidity_zero_span(double zero_raw_ntu, std::optional<TurbiditySpan> span);

// --- dissolved oxygen -----------------------------------------------------------------------

/// Bands on the gain the air calibration needs; far from 1 means a membrane or electrolyte
/// in trouble.
struct DoLimits {
    double warn_gain_low{0.8};
    double warn_gain_high{1.25};
    double reject_gain_low{0.5};
    double reject_gain_high{2.0};
};

struct DoResult : FitResult {
    double saturation_mg_l{0.0};  ///< the reference: do_saturation_mg_l() at the conditions
};

/// 100 % saturation calibration (air-saturated water or water-saturated air), optionally with
/// a zero in sulfite solution. Without the zero: gain only (gain = saturation / raw, offset 0).
DoResult fit_do_saturation(double raw_mg_l, double temperature_degc, double pressure_kpa,
                           double salinity_g_kg, std::optional<double> zero_raw_mg_l,
                           const DoLimits& limits = {});

// --- conductivity ---------------------------------------------------------------------------

struct ConductivityLimits {
    double warn_gain_low{0.9};
    double warn_gain_high{1.1};
    double reject_gain_low{0.7};
    double reject_gain_high{1.3};
};

struct ConductivityResult : FitResult {
    double reference_us_cm{0.0};  ///< what the probe should have read
};

/// Cell-constant correction in a KCl standard: gain = reference / raw (K_new = K_old · gain),
/// offset 0. The reference is the 25 °C value when the probe reports compensated conductivity,
/// else the standard's conductivity at the measured temperature.
ConductivityResult fit_conductivity_cell(double standard_us_cm_at_25, double raw_us_cm,
                                         double temperature_degc, double alpha_per_degc,
                                         bool raw_is_compensated_to_25,
                                         const ConductivityLimits& limits = {});

// --- flow, level, bin -----------------------------------------------------------------------

/// Electromagnetic flowmeter zero (full pipe, valves closed): offset = −raw, gain 1.
FitResult fit_zero(double raw_at_true_zero);

/// Level against a staff gauge (reference = gauge reading, m). One point: offset. More: least
/// squares, Warn when a residual exceeds `residual_tolerance_m`.
FitResult fit_level(const std::vector<CalibrationPoint>& points,
                    double residual_tolerance_m = 0.01);

/// Ultrasonic bin geometry (DOMAIN §3.3/§4.5); not a linear correction.
struct BinCalibration {
    double empty_mm{0.0};  ///< sensor to the empty bin floor
    double full_mm{0.0};   ///< sensor to the "full" line
    Verdict verdict{Verdict::Pass};
    std::vector<std::string> messages;
};

/// Reject when full >= empty or either distance is not positive.
BinCalibration fit_bin(double empty_distance_mm, double full_distance_mm);

}  // namespace gw::calibration
