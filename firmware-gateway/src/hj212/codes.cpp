// SPDX-License-Identifier: Apache-2.0
#include "hj212/codes.hpp"

#include <algorithm>

#include "analytics/sensor_units.hpp"

namespace gw::hj212 {

namespace {

/// A unit written the way the table writes it: "mg/l" -> "mg/L", "µS/cm" -> "uS/cm",
/// "°C" -> "degC", "m³" -> "m3", "L/S" left alone (no case folding beyond these spellings).
std::string_view canonical_unit(std::string_view unit) {
    if (unit == "mg/l" || unit == "mg/L") return "mg/L";
    if (unit == "µS/cm" || unit == "μS/cm" || unit == "us/cm" || unit == "uS/cm") return "uS/cm";
    if (unit == "mS/cm" || unit == "ms/cm") return "mS/cm";
    if (analytics::is_degC(unit)) return "degC";
    if (unit == "ntu" || unit == "NTU") return "NTU";
    if (unit == "/l" || unit == "/L") return "/L";
    return unit;
}

}  // namespace

const std::vector<FactorCode>& factor_codes() {
    // Units and data types as in HJ 212-2017 Table B.1 (DOMAIN.md §1.10): N5.2 -> 2 decimals,
    // N4 -> 0. w01003 and w01016 are not in the standard (de-facto codes of surface-water
    // station software); their decimals are the common practice (turbidity N3.1, chlorophyll
    // to 4 places in mg/L).
    static const std::vector<FactorCode> codes = {
        {"w00000", "sewage flow", "L/s", "m3", 2, true},
        {"w01001", "pH", "pH", "", 2, true},
        {"w01002", "colour", "degree", "", 2, true},
        {"w01003", "turbidity", "NTU", "", 1, false},
        {"w01006", "total dissolved solids", "mg/L", "kg", 0, true},
        {"w01009", "dissolved oxygen", "mg/L", "", 1, true},
        {"w01010", "water temperature", "degC", "", 1, true},
        {"w01012", "suspended solids (SS)", "mg/L", "kg", 0, true},
        {"w01014", "conductivity", "uS/cm", "", 1, true},
        {"w01016", "chlorophyll", "mg/L", "", 4, false},
        {"w01017", "BOD5", "mg/L", "kg", 1, true},
        {"w01018", "COD (CODcr)", "mg/L", "kg", 1, true},
        {"w01019", "permanganate index (CODMn)", "mg/L", "kg", 1, true},
        {"w01020", "TOC", "mg/L", "kg", 1, true},
        {"w02003", "faecal coliforms", "/L", "", 0, true},
        {"w21001", "total nitrogen", "mg/L", "kg", 2, true},
        {"w21003", "ammonia nitrogen (NH3-N)", "mg/L", "kg", 2, true},
        {"w21011", "total phosphorus", "mg/L", "kg", 2, true},
        {"w21022", "chloride", "mg/L", "kg", 1, true},
        {"w22001", "petroleum", "mg/L", "kg", 2, true},
        {"w23002", "volatile phenol", "mg/L", "kg", 4, true},
    };
    return codes;
}

const FactorCode* find_factor(std::string_view code) {
    const auto& codes = factor_codes();
    const auto it = std::find_if(codes.begin(), codes.end(),
                                 [&](const FactorCode& c) { return c.code == code; });
    return it == codes.end() ? nullptr : &*it;
}

std::optional<double> unit_scale(const FactorCode& code, std::string_view sensor_unit) {
    if (sensor_unit == code.unit) return 1.0;
    if (code.unit == "L/s") {
        const auto to_m3_h = analytics::volume_flow_factor_to_m3_h(sensor_unit);
        if (!to_m3_h) return std::nullopt;
        return *to_m3_h / 3.6;  // 1 L/s = 3.6 m3/h
    }
    if (code.unit == "pH") {
        if (sensor_unit.empty() || sensor_unit == "pH") return 1.0;
        return std::nullopt;
    }
    const auto from = canonical_unit(sensor_unit);
    const auto to = canonical_unit(code.unit);
    if (from == to) return 1.0;
    if (to == "uS/cm" && from == "mS/cm") return 1000.0;
    return std::nullopt;
}

}  // namespace gw::hj212
