// SPDX-License-Identifier: Apache-2.0
// Built-in water-quality limits (DOMAIN.md §2) and the GB 3838-2002 site classification.
// Pure: no I/O, no clock, no exceptions. Every table in limits.cpp names its source; the
// [S]/[U] confidence marks of DOMAIN.md are carried into each limit's `source` text and into
// docs/analytics.md.
//
// DB33/973-2021 (Zhejiang rural sewage) is deliberately absent: DOMAIN.md §2.4 says its numeric
// limits could not be retrieved. Configure such sites as standard "custom" with the limits from
// the official text.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw::analytics {

/// Period a limit applies to (DOMAIN.md §2.5). Ordered from shortest to longest: a rule fed data
/// averaged over a shorter period than its limit's basis is only indicative.
enum class Averaging : std::uint8_t { Instantaneous = 0, Hourly = 1, Daily = 2 };

/// Which bound of a limit a value violates.
enum class BoundSide : std::uint8_t { AboveMax = 0, BelowMin = 1 };

/// One limit on one metric. At least one of min/max is set; a value equal to a bound complies
/// (the standards write "≤" and "≥").
struct Limit {
    std::string metric;  ///< e.g. "nh3_n" (analytics/metric_names.hpp)
    std::optional<double> min;
    std::optional<double> max;
    std::string unit;  ///< "mg/L", "pH", "NTU"
    Averaging basis{Averaging::Instantaneous};
    std::string source;  ///< "GB 18918-2002 Table 1 class 1A, NH3-N, water > 12 °C"
};

enum class StandardId : std::uint8_t { Gb3838, Gb5749, Gb18918, Custom };
enum class WaterBody : std::uint8_t { River, Lake };    ///< Lake: lake or reservoir
enum class SupplyPoint : std::uint8_t { Outlet, Tap };  ///< plant outlet or tap (network end)
/// Disinfectant of a drinking-water supply; decides which residual metric and limits apply.
enum class Disinfectant : std::uint8_t { FreeChlorine, TotalChlorine, ChlorineDioxide, Ozone };

/// Which standard a site is held to, and the facts the standard's limits depend on.
struct SiteStandard {
    StandardId standard{StandardId::Custom};
    /// GB 3838: "I".."V"; GB 18918: "1A", "1B", "2", "3"; GB 5749 and custom: empty.
    std::string class_name;
    WaterBody water_body{WaterBody::River};         ///< GB 3838: TP column, TN applies to lakes
    SupplyPoint supply_point{SupplyPoint::Outlet};  ///< GB 5749: disinfectant residual bounds
    bool small_supply{false};  ///< GB 5749: 小型集中式供水, turbidity 3 NTU instead of 1
    Disinfectant disinfectant{Disinfectant::FreeChlorine};  ///< GB 5749
    bool built_before_2006{false};  ///< GB 18918: plant built before 2006-01-01 (TP row)
    /// Site-specific limits (permits, DB33/973-2021), returned for every standard after the
    /// built-in ones; the only limits of a "custom" site.
    std::vector<Limit> custom_limits;
};

/// Facts that change over time and select a limit value.
struct LimitContext {
    /// GB 18918 NH3-N: the value outside brackets applies at water temperature > 12 °C, the
    /// bracket value at ≤ 12 °C. Pass the water temperature of the same period as the NH3-N
    /// value (the daily mean). Empty or NaN: the stricter (> 12 °C) value is applied.
    std::optional<double> water_temperature_degc;
};

/// Result of parsing a configuration string: a value, or an error naming the bad value and the
/// allowed ones.
template <typename T>
struct Parsed {
    std::optional<T> value;
    std::string error;  ///< empty on success
    explicit operator bool() const { return value.has_value(); }
};

// --- names ------------------------------------------------------------------------------------

/// "gb3838", "gb5749", "gb18918", "custom"
const char* to_string(StandardId id);
/// "river", "lake" (lake or reservoir)
const char* to_string(WaterBody body);
/// "outlet", "tap"
const char* to_string(SupplyPoint point);
/// "free_chlorine", "total_chlorine", "chlorine_dioxide", "ozone"
const char* to_string(Disinfectant disinfectant);
/// "instantaneous", "hourly", "daily"
const char* to_string(Averaging basis);
/// "above_max", "below_min"
const char* to_string(BoundSide side);

Parsed<StandardId> parse_standard_id(std::string_view text);
Parsed<WaterBody> parse_water_body(std::string_view text);  ///< also accepts "reservoir"
Parsed<SupplyPoint> parse_supply_point(std::string_view text);
Parsed<Disinfectant> parse_disinfectant(std::string_view text);
Parsed<Averaging> parse_averaging(std::string_view text);

/// The class names a standard accepts: {"I",..,"V"}, {"1A","1B","2","3"}, or none.
std::vector<std::string> allowed_classes(StandardId id);

/// Empty when `site` is usable; else what is wrong, e.g.
/// `class "VI" is not a gb3838 class; allowed: "I","II","III","IV","V"`.
std::string validate_site_standard(const SiteStandard& site);

/// Empty when `limit` is usable (metric named, at least one finite bound, min ≤ max).
std::string validate_limit(const Limit& limit);

/// The limits of `site` for the given context: the built-in table rows of its standard and class
/// followed by its custom limits. Empty when validate_site_standard() fails.
std::vector<Limit> limits_for(const SiteStandard& site, const LimitContext& context = {});

// --- GB 3838-2002 classification --------------------------------------------------------------

/// Class number of "劣V类" (worse than class V).
inline constexpr int kWorseThanV = 6;

/// "I", "II", "III", "IV", "V", "劣V" for 1..6; "" otherwise.
const char* gb3838_class_label(int water_class);

/// Class 1..5 of a GB 3838 class name ("I".."V"), or an error listing the allowed names.
Parsed<int> parse_gb3838_class(std::string_view text);

struct FactorClass {
    std::string metric;
    double value{0.0};
    int water_class{0};  ///< 1..5, or kWorseThanV
};

struct Classification {
    /// Worst class over the factors (worst-factor rule); 0 when no factor had a usable value.
    int water_class{0};
    /// Every table factor that had a finite value, in table order.
    std::vector<FactorClass> factors;
    /// The metrics whose class equals `water_class` (several when tied).
    std::vector<std::string> worst_factors;
};

/// Classifies a surface-water site from the latest value of each metric (keys as in
/// metric_names.hpp; other metrics and non-finite values are ignored). Each factor gets the best
/// class whose limit it meets; pH outside 6–9 meets no class (GB 3838 gives 6–9 for all five),
/// so it is 劣V for that factor. TN counts for lakes and reservoirs only; TP uses the lake or
/// river column.
Classification classify_gb3838(const std::map<std::string, double>& latest, WaterBody body);

}  // namespace gw::analytics
