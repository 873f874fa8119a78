// SPDX-License-Identifier: Apache-2.0
// Units the flow and bin analytics accept from a sensor's "unit" (docs/analytics.md, "Sewage
// flow" and "Waste bins"). The config loader rejects a sensor whose unit is not listed here, and
// the engine converts with the same table, so the two can never disagree.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw::analytics {

/// Factor that turns a value in `unit` into m3/h, or empty when `unit` is no volume flow.
inline std::optional<double> volume_flow_factor_to_m3_h(std::string_view unit) {
    if (unit == "m3/h" || unit == "m³/h") return 1.0;
    if (unit == "L/s" || unit == "l/s") return 3.6;
    if (unit == "L/min" || unit == "l/min") return 0.06;
    if (unit == "m3/min" || unit == "m³/min") return 60.0;
    if (unit == "m3/s" || unit == "m³/s") return 3600.0;
    if (unit == "m3/d" || unit == "m³/d") return 1.0 / 24.0;
    return std::nullopt;
}

inline std::vector<std::string> volume_flow_units() {
    return {"m3/h", "L/s", "L/min", "m3/min", "m3/s", "m3/d"};
}

/// Totalisers are counted in m3 (the rollover and jump rules are in m3).
inline bool is_volume_m3(std::string_view unit) {
    return unit == "m3" || unit == "m³";
}

inline bool is_degC(std::string_view unit) {
    return unit == "degC" || unit == "°C";
}

/// A tilt sensor reports either a 0/1 flag (no unit, metric "tilt") or an angle in degrees.
inline bool is_angle_deg(std::string_view unit) {
    return unit == "deg" || unit == "°" || unit == "degree" || unit == "degrees";
}

/// Rain per sample (e.g. one tipping-bucket interval): unit mm and a rain metric, since a
/// distance or a water level is in mm too.
inline bool is_rain(std::string_view metric, std::string_view unit) {
    return unit == "mm" && (metric == "rain" || metric == "rainfall" || metric == "precipitation");
}

}  // namespace gw::analytics
