// SPDX-License-Identifier: Apache-2.0
#include "calibration/standards.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <stdexcept>

namespace gw::calibration {

namespace {

struct TemperaturePoint {
    double temperature_degc;
    double value;
};

struct BufferDefinition {
    std::string_view name;
    double nominal_ph;
    std::vector<TemperaturePoint> values;  ///< ascending temperature
};

/// One table row: temperature (°C), then the pH of the three buffers in name order.
using BufferRow = std::array<double, 4>;

/// Turns a table laid out as in DOMAIN.md (one row per temperature) into one curve per buffer.
std::vector<BufferDefinition> split_columns(const std::array<std::string_view, 3>& names,
                                            const std::array<double, 3>& nominal_ph,
                                            std::initializer_list<BufferRow> rows) {
    std::vector<BufferDefinition> buffers;
    for (std::size_t column = 0; column < names.size(); ++column) {
        BufferDefinition buffer{names[column], nominal_ph[column], {}};
        for (const auto& row : rows) buffer.values.push_back({row[0], row[column + 1]});
        buffers.push_back(std::move(buffer));
    }
    return buffers;
}

// DOMAIN §4.1 [S]: pHs of the GB primary buffers (ph-orp.cn, consistent with HJ 962-2018).
const std::vector<BufferDefinition>& chinese_gb_buffers() {
    // °C, phthalate, phosphate, borax
    static const auto buffers = split_columns({"4.00", "6.86", "9.18"}, {4.00, 6.86, 9.18},
                                              {
                                                  {0, 4.006, 6.981, 9.458},
                                                  {5, 3.999, 6.949, 9.391},
                                                  {10, 3.996, 6.921, 9.330},
                                                  {15, 3.996, 6.898, 9.276},
                                                  {20, 3.998, 6.879, 9.226},
                                                  {25, 4.003, 6.864, 9.182},
                                                  {30, 4.010, 6.852, 9.142},
                                                  {35, 4.019, 6.844, 9.105},
                                                  {40, 4.029, 6.838, 9.072},
                                                  {45, 4.042, 6.834, 9.042},
                                                  {50, 4.055, 6.833, 9.015},
                                              });
    return buffers;
}

// NIST/IUPAC pH(S) of the same physical buffers (0.05 mol/kg KH-phthalate, 0.025 + 0.025 mol/kg
// phosphate, 0.01 mol/kg borax); they differ from the GB table by <= 0.006 pH. DOMAIN confirms
// the 25 °C values 4.008 / 6.865 / 9.180; phosphate and borax also match the Bates table in
// Analog Devices CN0398 firmware; the phthalate column is the IUPAC 1985 series [U: from
// memory, not checked against a NIST certificate].
const std::vector<BufferDefinition>& nist_buffers() {
    // °C, phthalate, phosphate, borax
    static const auto buffers = split_columns({"4.01", "6.86", "9.18"}, {4.008, 6.865, 9.180},
                                              {
                                                  {0, 4.003, 6.984, 9.464},
                                                  {5, 3.999, 6.951, 9.395},
                                                  {10, 3.998, 6.923, 9.332},
                                                  {15, 3.999, 6.900, 9.276},
                                                  {20, 4.002, 6.881, 9.225},
                                                  {25, 4.008, 6.865, 9.180},
                                                  {30, 4.015, 6.853, 9.139},
                                                  {35, 4.024, 6.844, 9.102},
                                                  {40, 4.035, 6.838, 9.068},
                                                  {45, 4.047, 6.834, 9.038},
                                                  {50, 4.060, 6.833, 9.011},
                                              });
    return buffers;
}

// [U] typical vendor table for 4.01 / 7.00 / 10.01 technical buffers (the 7.00 and 10.01
// columns agree with the "American" table of the Foxboro PH10 manual MI 611-211). Check the
// bottle label: technical buffers differ between makers.
const std::vector<BufferDefinition>& technical_buffers() {
    static const auto buffers = split_columns({"4.01", "7.00", "10.01"}, {4.01, 7.00, 10.01},
                                              {
                                                  {0, 4.01, 7.12, 10.32},
                                                  {10, 4.00, 7.06, 10.18},
                                                  {20, 4.00, 7.02, 10.06},
                                                  {25, 4.01, 7.00, 10.01},
                                                  {30, 4.01, 6.99, 9.97},
                                                  {40, 4.03, 6.98, 9.89},
                                                  {50, 4.06, 6.97, 9.83},
                                              });
    return buffers;
}

const std::vector<BufferDefinition>& buffers_of(BufferTable table) {
    switch (table) {
        case BufferTable::ChineseGb:
            return chinese_gb_buffers();
        case BufferTable::Nist:
            return nist_buffers();
        case BufferTable::Technical:
            return technical_buffers();
    }
    throw std::invalid_argument("unknown pH buffer table");
}

// ISO 5814 / EN 25814 saturation at 101.325 kPa in fresh water, DOMAIN §4.3 (0-30 °C) plus the
// standard 35 and 40 °C values. Linear interpolation between 5 °C steps reads up to 0.4 % high
// mid-interval (the curve is convex), well inside a field DO probe's accuracy.
const std::vector<TemperaturePoint>& do_saturation_table() {
    static const std::vector<TemperaturePoint> table{
        {0, 14.62}, {5, 12.77}, {10, 11.29}, {15, 10.08}, {20, 9.09},
        {25, 8.26}, {30, 7.56}, {35, 6.95},  {40, 6.41},
    };
    return table;
}

void require_finite(double value, const char* what) {
    if (!std::isfinite(value)) {
        throw std::invalid_argument(std::string(what) + " must be a finite number");
    }
}

std::string_view trim(std::string_view text) {
    const auto first = text.find_first_not_of(" \t");
    if (first == std::string_view::npos) return {};
    const auto last = text.find_last_not_of(" \t");
    return text.substr(first, last - first + 1);
}

/// Whole-string decimal number; locale-independent.
std::optional<double> parse_number(std::string_view text) {
    double value = 0.0;
    const char* end = text.data() + text.size();
    const auto [ptr, error] = std::from_chars(text.data(), end, value);
    if (error != std::errc() || ptr != end || !std::isfinite(value)) return std::nullopt;
    return value;
}

/// Linear interpolation; nullopt outside [first, last] temperature.
std::optional<double> interpolate(const std::vector<TemperaturePoint>& table,
                                  double temperature_degc) {
    if (table.empty() || temperature_degc < table.front().temperature_degc ||
        temperature_degc > table.back().temperature_degc) {
        return std::nullopt;
    }
    for (std::size_t i = 1; i < table.size(); ++i) {
        const TemperaturePoint& low = table[i - 1];
        const TemperaturePoint& high = table[i];
        if (temperature_degc <= high.temperature_degc) {
            const double fraction = (temperature_degc - low.temperature_degc) /
                                    (high.temperature_degc - low.temperature_degc);
            return low.value + fraction * (high.value - low.value);
        }
    }
    return table.back().value;
}

std::string range_text(const std::vector<TemperaturePoint>& table) {
    return detail::format_number(table.front().temperature_degc, 1) + "-" +
           detail::format_number(table.back().temperature_degc, 1) + " °C";
}

std::string joined_buffer_names(BufferTable table) {
    std::string text;
    for (const auto& name : buffer_names(table)) {
        if (!text.empty()) text += ", ";
        text += name;
    }
    return text;
}

// Two nominal values this close name the same buffer (4.00 = 4.003 = 4.01 phthalate); buffers
// within one table are more than 2 pH apart, so matching is unambiguous.
constexpr double kNominalMatchTolerancePh = 0.02;

const BufferDefinition* find_buffer(BufferTable table, std::string_view name) {
    const auto& buffers = buffers_of(table);
    for (const auto& buffer : buffers) {
        if (buffer.name == name) return &buffer;
    }
    const auto number = parse_number(name);
    if (!number) return nullptr;
    for (const auto& buffer : buffers) {
        if (std::fabs(buffer.nominal_ph - *number) <= kNominalMatchTolerancePh) return &buffer;
    }
    return nullptr;
}

double buffer_value(BufferTable table, const BufferDefinition& buffer, double temperature_degc) {
    require_finite(temperature_degc, "buffer temperature");
    const auto value = interpolate(buffer.values, temperature_degc);
    if (!value) {
        throw std::invalid_argument("pH buffer " + std::string(buffer.name) + " (" +
                                    table_name(table) + " table) is tabulated for " +
                                    range_text(buffer.values) + " only, not at " +
                                    detail::format_number(temperature_degc, 1) + " °C");
    }
    return *value;
}

constexpr double kGasConstantJPerMolK = 8.314462618;
constexpr double kFaradayCPerMol = 96485.33212;
constexpr double kLn10 = 2.302585092994046;
constexpr double kZeroCelsiusK = 273.15;

// Relative salinity effect: DOMAIN's -0.042 mg/L per g/kg at 25 °C divided by the 25 °C
// saturation 8.26 mg/L. Scaling by the saturation keeps the 25 °C figure exact and follows the
// larger absolute effect in cold water (ISO 5814 gives ~-0.09 mg/L per g/kg at 0 °C).
constexpr double kSalinityRelativePerGKg = 0.042 / 8.26;
constexpr double kMaxSalinityGKg = 40.0;
// Below ~50 kPa is 5500 m; above 110 kPa nothing on land. Catches hPa/mbar/mmHg mix-ups.
constexpr double kMinPressureKpa = 50.0;
constexpr double kMaxPressureKpa = 110.0;

double compensation_factor(double temperature_degc, double alpha_per_degc) {
    require_finite(temperature_degc, "conductivity temperature");
    require_finite(alpha_per_degc, "temperature coefficient alpha");
    if (alpha_per_degc < 0.0 || alpha_per_degc > 0.1) {
        throw std::invalid_argument("temperature coefficient alpha " +
                                    detail::format_number(alpha_per_degc, 4) +
                                    " /°C is outside 0-0.1 /°C (did you pass %/°C?)");
    }
    const double factor = 1.0 + alpha_per_degc * (temperature_degc - 25.0);
    if (factor <= 0.0) {
        throw std::invalid_argument("linear temperature compensation is meaningless at " +
                                    detail::format_number(temperature_degc, 1) + " °C");
    }
    return factor;
}

}  // namespace

namespace detail {
std::string format_number(double value, int max_decimals) {
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", max_decimals, value);
    std::string result(text);
    if (result.find('.') != std::string::npos) {
        while (result.back() == '0') result.pop_back();
        if (result.back() == '.') result.pop_back();
    }
    if (result == "-0") result = "0";
    return result;
}
}  // namespace detail

const char* table_name(BufferTable table) {
    switch (table) {
        case BufferTable::ChineseGb:
            return "chinese-gb";
        case BufferTable::Nist:
            return "nist";
        case BufferTable::Technical:
            return "technical";
    }
    return "?";
}

std::optional<BufferTable> parse_buffer_table(std::string_view name) {
    for (const auto table : {BufferTable::ChineseGb, BufferTable::Nist, BufferTable::Technical}) {
        if (name == table_name(table)) return table;
    }
    return std::nullopt;
}

std::vector<std::string> buffer_names(BufferTable table) {
    std::vector<std::string> names;
    for (const auto& buffer : buffers_of(table)) names.emplace_back(buffer.name);
    return names;
}

double ph_buffer_value(BufferTable table, std::string_view buffer_name, double temperature_degc) {
    const BufferDefinition* buffer = find_buffer(table, trim(buffer_name));
    if (buffer == nullptr) {
        throw std::invalid_argument("unknown pH buffer \"" + std::string(buffer_name) +
                                    "\" in the " + table_name(table) +
                                    " table; valid buffers: " + joined_buffer_names(table));
    }
    return buffer_value(table, *buffer, temperature_degc);
}

double ph_buffer_value(BufferTable table, double nominal_ph, double temperature_degc) {
    require_finite(nominal_ph, "nominal buffer pH");
    for (const auto& buffer : buffers_of(table)) {
        if (std::fabs(buffer.nominal_ph - nominal_ph) <= kNominalMatchTolerancePh) {
            return buffer_value(table, buffer, temperature_degc);
        }
    }
    throw std::invalid_argument("unknown pH buffer " + detail::format_number(nominal_ph, 3) +
                                " in the " + table_name(table) +
                                " table; valid buffers: " + joined_buffer_names(table));
}

double nernst_slope_mv_per_ph(double temperature_degc) {
    require_finite(temperature_degc, "temperature");
    const double temperature_k = temperature_degc + kZeroCelsiusK;
    if (temperature_k <= 0.0) {
        throw std::invalid_argument("temperature below absolute zero");
    }
    return kLn10 * kGasConstantJPerMolK * temperature_k / kFaradayCPerMol * 1000.0;
}

double water_vapour_pressure_kpa(double temperature_degc) {
    require_finite(temperature_degc, "temperature");
    return 0.61094 * std::exp(17.625 * temperature_degc / (temperature_degc + 243.04));
}

double do_saturation_mg_l(double temperature_degc, double pressure_kpa, double salinity_g_kg) {
    require_finite(temperature_degc, "water temperature");
    require_finite(pressure_kpa, "barometric pressure");
    require_finite(salinity_g_kg, "salinity");
    const auto& table = do_saturation_table();
    const auto at_standard_pressure = interpolate(table, temperature_degc);
    if (!at_standard_pressure) {
        throw std::invalid_argument("DO saturation is tabulated for " + range_text(table) +
                                    " only, not at " + detail::format_number(temperature_degc, 1) +
                                    " °C");
    }
    if (pressure_kpa < kMinPressureKpa || pressure_kpa > kMaxPressureKpa) {
        throw std::invalid_argument("barometric pressure " +
                                    detail::format_number(pressure_kpa, 1) +
                                    " kPa is outside 50-110 kPa (hPa or mmHg instead of kPa?)");
    }
    if (salinity_g_kg < 0.0 || salinity_g_kg > kMaxSalinityGKg) {
        throw std::invalid_argument("salinity " + detail::format_number(salinity_g_kg, 1) +
                                    " g/kg is outside 0-40 g/kg");
    }
    // Oxygen's partial pressure scales with the dry-air pressure P - pw, not with P. Plain
    // P/101.325 scaling reads 0.1 % high at 20 °C and 97.7 kPa, 0.6 % at 30 °C and 90 kPa.
    const double vapour_kpa = water_vapour_pressure_kpa(temperature_degc);
    const double pressure_factor =
        (pressure_kpa - vapour_kpa) / (kStandardPressureKpa - vapour_kpa);
    const double salinity_factor = 1.0 - kSalinityRelativePerGKg * salinity_g_kg;
    return *at_standard_pressure * pressure_factor * salinity_factor;
}

double kcl_standard_us_cm(std::string_view name) {
    struct KclStandard {
        std::string_view name;
        double value_us_cm;
    };
    // DOMAIN §4.4: 0.01 mol/L (OIML), 0.1 mol/L, and the "Chinese" 0.001 mol/L standard.
    static constexpr KclStandard kStandards[] = {
        {"1413", 1413.0}, {"12880", 12880.0}, {"146.5", 146.5}};
    const auto trimmed = trim(name);
    const auto number = parse_number(trimmed);
    for (const auto& standard : kStandards) {
        if (trimmed == standard.name) return standard.value_us_cm;
        // "1413.0" or "12880.00" name the same standard.
        if (number && std::fabs(*number - standard.value_us_cm) <= 1e-6 * standard.value_us_cm) {
            return standard.value_us_cm;
        }
    }
    throw std::invalid_argument("unknown KCl conductivity standard \"" + std::string(name) +
                                "\"; valid standards (µS/cm at 25 °C): 1413, 12880, 146.5");
}

double conductivity_at_degc(double value_at_25_us_cm, double temperature_degc,
                            double alpha_per_degc) {
    require_finite(value_at_25_us_cm, "conductivity");
    return value_at_25_us_cm * compensation_factor(temperature_degc, alpha_per_degc);
}

double conductivity_to_25(double value_us_cm, double temperature_degc, double alpha_per_degc) {
    require_finite(value_us_cm, "conductivity");
    return value_us_cm / compensation_factor(temperature_degc, alpha_per_degc);
}

}  // namespace gw::calibration
