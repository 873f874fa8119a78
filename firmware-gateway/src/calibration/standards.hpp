// SPDX-License-Identifier: Apache-2.0
// Reference values of calibration standards (DOMAIN.md §4): pH buffers against temperature, the
// Nernst slope, dissolved-oxygen saturation and KCl conductivity standards. Pure functions; every
// value a technician relies on is looked up at the measured temperature, and a lookup outside a
// table throws std::invalid_argument instead of extrapolating.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw::calibration {

// --- pH buffers -----------------------------------------------------------------------------

enum class BufferTable {
    ChineseGb,  ///< pHs 4.00 / 6.86 / 9.18 (phthalate / phosphate / borax), DOMAIN §4.1
    Nist,       ///< NIST/IUPAC values of the same three primary buffers (4.008/6.865/9.180)
    Technical,  ///< 4.01 / 7.00 / 10.01 vendor buffers
};

/// Stable identifier for calibration records: "chinese-gb", "nist" or "technical".
const char* table_name(BufferTable table);

/// Inverse of table_name(); empty for an unknown name.
std::optional<BufferTable> parse_buffer_table(std::string_view name);

/// The buffer names the table knows, e.g. {"4.00", "6.86", "9.18"}.
std::vector<std::string> buffer_names(BufferTable table);

/// pH of a buffer at the given temperature, linearly interpolated in the table (0-50 °C).
/// `buffer_name` is the printed name ("6.86") or any number within 0.02 pH of the nominal value
/// ("6.865", "4", "10"). Throws std::invalid_argument naming the buffer and the valid range.
double ph_buffer_value(BufferTable table, std::string_view buffer_name, double temperature_degc);
double ph_buffer_value(BufferTable table, double nominal_ph, double temperature_degc);

/// Theoretical electrode slope 2.303·R·T/F in mV per pH (59.16 at 25 °C).
double nernst_slope_mv_per_ph(double temperature_degc);

// --- dissolved oxygen -----------------------------------------------------------------------

constexpr double kStandardPressureKpa = 101.325;

/// Saturation vapour pressure of water over a flat water surface (Magnus formula, Alduchov &
/// Eskridge 1996), kPa. Within 0.1 % of tabulated values between 0 and 50 °C.
double water_vapour_pressure_kpa(double temperature_degc);

/// Oxygen solubility in air-saturated water, mg/L, 0-40 °C. Interpolates the ISO 5814 table at
/// 101.325 kPa, corrects for barometric pressure (the water-vapour share of the air does not
/// scale with pressure) and for salinity. Throws std::invalid_argument out of range.
double do_saturation_mg_l(double temperature_degc, double pressure_kpa = kStandardPressureKpa,
                          double salinity_g_kg = 0.0);

// --- conductivity ---------------------------------------------------------------------------

/// Linear temperature coefficient usual for KCl standards and natural waters, 1/°C.
constexpr double kDefaultAlphaPerDegc = 0.0191;

/// KCl standard by name: "1413" (0.01 mol/L), "12880" (0.1 mol/L, 12.88 mS/cm) or "146.5"
/// (0.001 mol/L); µS/cm at 25 °C. Throws std::invalid_argument for an unknown name.
double kcl_standard_us_cm(std::string_view name);

/// κ_T = κ25 · (1 + α·(T − 25)): what an uncompensated cell reads at T.
double conductivity_at_degc(double value_at_25_us_cm, double temperature_degc,
                            double alpha_per_degc = kDefaultAlphaPerDegc);

/// Inverse of conductivity_at_degc(): κ25 = κ_T / (1 + α·(T − 25)).
double conductivity_to_25(double value_us_cm, double temperature_degc,
                          double alpha_per_degc = kDefaultAlphaPerDegc);

namespace detail {
/// Fixed-point text with at most `max_decimals` decimals and no trailing zeros ("95", "0.05"),
/// for messages a technician reads.
std::string format_number(double value, int max_decimals);
}  // namespace detail

}  // namespace gw::calibration
