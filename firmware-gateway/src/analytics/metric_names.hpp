// SPDX-License-Identifier: Apache-2.0
// Metric names the analytics tables refer to. The first group is already used by the device
// profiles and the config loader (config/devices/*.json, config/config_loader.cpp); the second
// group is new, added for the GB 3838 / GB 5749 / GB 18918 tables (DOMAIN.md §2). A sensor's
// "metric" in the configuration must be spelled exactly like this for a standard to apply to it.
#pragma once

#include <string_view>

namespace gw::analytics::metric {

// --- already used in the project -------------------------------------------------------------
inline constexpr std::string_view kPh = "ph";
inline constexpr std::string_view kDissolvedOxygen = "dissolved_oxygen";
inline constexpr std::string_view kTurbidity = "turbidity";
inline constexpr std::string_view kConductivity = "conductivity";
inline constexpr std::string_view kWaterTemperature = "water_temperature";
inline constexpr std::string_view kWaterLevel = "water_level";
inline constexpr std::string_view kFlowRate = "flow_rate";
inline constexpr std::string_view kFlowTotal = "flow_total";
inline constexpr std::string_view kFillLevel = "fill_level";
inline constexpr std::string_view kDistance = "distance";
inline constexpr std::string_view kBinTemperature = "bin_temperature";

// --- new for the threshold tables --------------------------------------------------------------
inline constexpr std::string_view kCodMn = "codmn";  ///< permanganate index (高锰酸盐指数), mg/L
inline constexpr std::string_view kCod = "cod";      ///< chemical oxygen demand (CODcr), mg/L
inline constexpr std::string_view kBod5 = "bod5";   ///< five-day biochemical oxygen demand, mg/L
inline constexpr std::string_view kNh3N = "nh3_n";  ///< ammonia nitrogen as N, mg/L
inline constexpr std::string_view kTp = "tp";       ///< total phosphorus as P, mg/L
inline constexpr std::string_view kTn = "tn";       ///< total nitrogen as N, mg/L
inline constexpr std::string_view kSs = "ss";       ///< suspended solids, mg/L
/// Free chlorine residual (游离氯 / "余氯" probes), mg/L.
inline constexpr std::string_view kResidualChlorine = "residual_chlorine";
inline constexpr std::string_view kTotalChlorine = "total_chlorine";      ///< chloramine, mg/L
inline constexpr std::string_view kChlorineDioxide = "chlorine_dioxide";  ///< mg/L
inline constexpr std::string_view kOzone = "ozone";                       ///< mg/L

}  // namespace gw::analytics::metric
