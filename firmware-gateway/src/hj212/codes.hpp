// SPDX-License-Identifier: Apache-2.0
// HJ 212 water factor ("pollutant") codes: HJ 212-2017 Table B.1 and two de-facto codes
// (DOMAIN.md §1.10), with the unit each is reported in, and the conversion of a sensor's unit
// into that unit. Pure data, no I/O.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

namespace gw::hj212 {

/// A pollutant ("factor") code of HJ 212-2017 Table B.1 (DOMAIN.md §1.10), or a de-facto one.
struct FactorCode {
    std::string_view code;      ///< "w01018"
    std::string_view name;      ///< English name, "COD (CODcr)"
    std::string_view unit;      ///< the unit values are reported in: "mg/L", "L/s", "pH", "NTU",
                                ///< "uS/cm", "degC", ...
    std::string_view cou_unit;  ///< unit of -Cou: "" (none), "m3" (flow volume), "kg" (load)
    int decimals;               ///< from the default data type (N5.2 -> 2, N4 -> 0)
    bool in_standard;           ///< false for de-facto codes (w01003 turbidity, w01016 chlorophyll)
};

/// Every code the gateway knows, in code order.
const std::vector<FactorCode>& factor_codes();

/// The code's entry, or nullptr when the table does not hold it (exact, case-sensitive match:
/// HJ 212 field names are case-sensitive).
const FactorCode* find_factor(std::string_view code);

/// Factor turning a sensor value in `sensor_unit` into the code's report unit, or nullopt
/// when they do not convert. Volume flows (m3/h, L/s, L/min, m3/min, m3/s, m3/d) convert to
/// L/s; mS/cm -> uS/cm (x1000); "°C"/"degC" equal; "pH" and "" equal for pH; "mg/l" == "mg/L";
/// "µS/cm" == "uS/cm"; identical units give 1.
std::optional<double> unit_scale(const FactorCode& code, std::string_view sensor_unit);

}  // namespace gw::hj212
