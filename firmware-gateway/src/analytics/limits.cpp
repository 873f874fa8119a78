// SPDX-License-Identifier: Apache-2.0
#include "analytics/limits.hpp"

#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <utility>

#include "analytics/metric_names.hpp"

namespace gw::analytics {

namespace {

constexpr const char* kMgL = "mg/L";

std::string quoted_list(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) {
        if (!out.empty()) out += ",";
        out += "\"" + item + "\"";
    }
    return out;
}

std::string number_text(double value) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%g", value);
    return buffer;
}

/// Looks `text` up in a name table; the error names the bad value, the kind and the allowed
/// names, in the config loader's style.
template <typename T, std::size_t N>
Parsed<T> parse_name(std::string_view text, const char* kind,
                     const std::array<std::pair<const char*, T>, N>& names) {
    std::vector<std::string> allowed;
    for (const auto& [name, value] : names) {
        if (text == name) return {value, {}};
        allowed.emplace_back(name);
    }
    return {std::nullopt, "\"" + std::string(text) + "\" is not a " + kind +
                              "; allowed: " + quoted_list(allowed)};
}

// --- GB 3838-2002 Table 1 (basic items), DOMAIN.md §2.1 [V] ------------------------------------
// Source: GB 3838-2002 Table 1 as transcribed in DOMAIN.md §2.1 (two web copies agree; one copy's
// "105" for TN class IV is a typo for 1.5). Columns are classes I..V. pH is 6–9 for every class
// and is handled apart. DO is a lower bound (class I: 7.5 mg/L or 90 % saturation; only the
// concentration is used here). TN applies to lakes and reservoirs only. No averaging period is
// given in DOMAIN.md [U]: the limits are treated as daily means, so minute or hour data only
// gives indicative alarms.
struct Gb3838Factor {
    std::string_view metric;
    const char* name;
    bool lower_bound;
    bool lake_only;
    std::array<double, 5> river;  // also the lake column unless the standard differs
    std::array<double, 5> lake;
};

const std::array<Gb3838Factor, 7>& gb3838_table() {
    // clang-format off
    static const std::array<Gb3838Factor, 7> table{{
        // metric, name, lower bound, lakes only; river column I..V; lake/reservoir column I..V
        {metric::kDissolvedOxygen, "DO", true, false,
         {7.5, 6, 5, 3, 2},
         {7.5, 6, 5, 3, 2}},
        {metric::kCodMn, "CODMn", false, false,
         {2, 4, 6, 10, 15},
         {2, 4, 6, 10, 15}},
        {metric::kCod, "COD", false, false,
         {15, 15, 20, 30, 40},
         {15, 15, 20, 30, 40}},
        {metric::kBod5, "BOD5", false, false,
         {3, 3, 4, 6, 10},
         {3, 3, 4, 6, 10}},
        {metric::kNh3N, "NH3-N", false, false,
         {0.15, 0.5, 1.0, 1.5, 2.0},
         {0.15, 0.5, 1.0, 1.5, 2.0}},
        // TP: the lake/reservoir values are the ones in brackets in the standard.
        {metric::kTp, "TP", false, false,
         {0.02, 0.1, 0.2, 0.3, 0.4},
         {0.01, 0.025, 0.05, 0.1, 0.2}},
        {metric::kTn, "TN", false, true,
         {0.2, 0.5, 1.0, 1.5, 2.0},
         {0.2, 0.5, 1.0, 1.5, 2.0}},
    }};
    // clang-format on
    return table;
}

constexpr double kGb3838PhMin = 6.0;  // GB 3838-2002 Table 1: pH 6–9, all classes
constexpr double kGb3838PhMax = 9.0;

const std::array<const char*, 5> kRoman{"I", "II", "III", "IV", "V"};

void add_gb3838(const SiteStandard& site, int water_class, std::vector<Limit>& out) {
    const auto index = static_cast<std::size_t>(water_class - 1);
    const std::string prefix = std::string("GB 3838-2002 Table 1 class ") + kRoman[index] + ", ";
    const char* body = site.water_body == WaterBody::Lake ? "lake/reservoir" : "river";
    out.push_back({std::string(metric::kPh), kGb3838PhMin, kGb3838PhMax, "pH", Averaging::Daily,
                   prefix + "pH [V]"});
    for (const auto& f : gb3838_table()) {
        if (f.lake_only && site.water_body != WaterBody::Lake) continue;
        const double value = site.water_body == WaterBody::Lake ? f.lake[index] : f.river[index];
        Limit limit{std::string(f.metric), {}, {}, kMgL, Averaging::Daily, prefix + f.name};
        if (f.lower_bound)
            limit.min = value;
        else
            limit.max = value;
        if (f.metric == metric::kTp) limit.source += std::string(", ") + body;
        if (f.metric == metric::kTn) limit.source += ", lakes and reservoirs only";
        limit.source += " [V]";
        out.push_back(std::move(limit));
    }
}

// --- GB 5749-2022 drinking water, DOMAIN.md §2.2 ------------------------------------------------
// Sources (DOMAIN.md §2.2): turbidity bjstrong.com.cn/news/43.html [V]; free chlorine
// www.hxw5.com/news/645.html (2022) [V]; total chlorine hxw5.com (2022) [S]; chlorine dioxide and
// ozone from the 2006 table [S for 2022]; pH and CODMn from the 2006 text [S]. Drinking-water
// limits apply to each sample; DOMAIN.md names no averaging period [U], so they are instantaneous.
// The upper bound of a disinfectant applies at the outlet and at the tap, as the 2022 text says
// for free chlorine (an assumption for the other three [S]). Ozone has no outlet minimum.
struct DisinfectantRow {
    Disinfectant disinfectant;
    std::string_view metric;
    const char* name;
    double max_mg_l;
    std::optional<double> outlet_min_mg_l;
    double tap_min_mg_l;
    const char* mark;
};

const std::array<DisinfectantRow, 4>& disinfectant_table() {
    static const std::array<DisinfectantRow, 4> table{{
        {Disinfectant::FreeChlorine, metric::kResidualChlorine, "free chlorine, contact >= 30 min",
         2.0, 0.3, 0.05, "[V]"},
        {Disinfectant::TotalChlorine, metric::kTotalChlorine,
         "total chlorine (chloramine), contact >= 120 min", 3.0, 0.5, 0.05, "[S]"},
        {Disinfectant::ChlorineDioxide, metric::kChlorineDioxide,
         "chlorine dioxide, contact >= 30 min", 0.8, 0.1, 0.02, "[S]"},
        {Disinfectant::Ozone, metric::kOzone, "ozone, contact >= 12 min", 0.3, std::nullopt, 0.02,
         "[S]"},
    }};
    return table;
}

constexpr double kGb5749TurbidityNtu = 1.0;       // ≤ 1 NTU
constexpr double kGb5749SmallTurbidityNtu = 3.0;  // small supplies limited by source/treatment
constexpr double kGb5749PhMin = 6.5;
constexpr double kGb5749PhMax = 8.5;
constexpr double kGb5749CodMnMgL =
    3.0;  // 耗氧量; the 2006 exception (source > 6 mg/L: 5) is not applied

void add_gb5749(const SiteStandard& site, std::vector<Limit>& out) {
    const std::string prefix = "GB 5749-2022, ";
    out.push_back({std::string(metric::kTurbidity), std::nullopt,
                   site.small_supply ? kGb5749SmallTurbidityNtu : kGb5749TurbidityNtu, "NTU",
                   Averaging::Instantaneous,
                   prefix + (site.small_supply ? "turbidity, small supply (3 NTU exemption) [V]"
                                               : "turbidity [V]")});
    out.push_back({std::string(metric::kPh), kGb5749PhMin, kGb5749PhMax, "pH",
                   Averaging::Instantaneous, prefix + "pH [S]"});
    for (const auto& row : disinfectant_table()) {
        if (row.disinfectant != site.disinfectant) continue;
        const bool outlet = site.supply_point == SupplyPoint::Outlet;
        out.push_back({std::string(row.metric), outlet ? row.outlet_min_mg_l : row.tap_min_mg_l,
                       row.max_mg_l, kMgL, Averaging::Instantaneous,
                       prefix + row.name + (outlet ? ", plant outlet " : ", tap ") + row.mark});
    }
    out.push_back({std::string(metric::kCodMn), std::nullopt, kGb5749CodMnMgL, kMgL,
                   Averaging::Instantaneous, prefix + "CODMn (耗氧量) [S]"});
}

// --- GB 18918-2002 Table 1, DOMAIN.md §2.3: daily means [V] ------------------------------------
// Source: GB 18918-2002 Table 1 as transcribed in DOMAIN.md §2.3 (wanglu.net standard text,
// yiban123.com, cnwushui.cn). Columns are classes 1A, 1B, 2, 3; NaN = no limit ("—"). Oil,
// petroleum, LAS, colour and coliforms are not measured online and are left out. Class 3 COD and
// BOD5 may instead comply by removal rate (note ①), which needs influent data: not modelled.
constexpr double kNone = std::numeric_limits<double>::quiet_NaN();

struct Gb18918Row {
    std::string_view metric;
    const char* name;
    std::array<double, 4> limit_mg_l;
};

const std::array<Gb18918Row, 4>& gb18918_table() {
    static const std::array<Gb18918Row, 4> table{{
        {metric::kCod, "COD", {50, 60, 100, 120}},
        {metric::kBod5, "BOD5", {10, 20, 30, 60}},
        {metric::kSs, "SS", {10, 20, 30, 50}},
        {metric::kTn, "TN", {15, 20, kNone, kNone}},
    }};
    return table;
}
// NH3-N (note ②): outside brackets at water temperature > 12 °C, in brackets at ≤ 12 °C.
constexpr std::array<double, 4> kGb18918Nh3NWarm{5, 8, 25, kNone};
constexpr std::array<double, 4> kGb18918Nh3NCold{8, 15, 30, kNone};
constexpr double kGb18918ColdDegc = 12.0;
// TP by construction date [S]: DOMAIN.md marks the split as single-source.
constexpr std::array<double, 4> kGb18918TpFrom2006{0.5, 1, 3, 5};
constexpr std::array<double, 4> kGb18918TpBefore2006{1, 1.5, 3, 5};
constexpr double kGb18918PhMin = 6.0;
constexpr double kGb18918PhMax = 9.0;

const std::array<const char*, 4> kGb18918Classes{"1A", "1B", "2", "3"};

void add_gb18918(const SiteStandard& site, const LimitContext& context, int class_index,
                 std::vector<Limit>& out) {
    const auto i = static_cast<std::size_t>(class_index);
    const std::string prefix =
        std::string("GB 18918-2002 Table 1 class ") + kGb18918Classes[i] + ", ";
    auto add_max = [&](std::string_view metric_name, double value, const std::string& what) {
        if (std::isnan(value)) return;
        out.push_back(
            {std::string(metric_name), std::nullopt, value, kMgL, Averaging::Daily, prefix + what});
    };
    for (const auto& row : gb18918_table()) {
        std::string what = std::string(row.name);
        if (i == 3 && (row.metric == metric::kCod || row.metric == metric::kBod5))
            what += " (removal-rate alternative not applied)";
        add_max(row.metric, row.limit_mg_l[i], what + " [V]");
    }
    const std::optional<double> t = context.water_temperature_degc;
    const bool known = t.has_value() && std::isfinite(*t);
    const bool cold = known && *t <= kGb18918ColdDegc;
    add_max(metric::kNh3N, cold ? kGb18918Nh3NCold[i] : kGb18918Nh3NWarm[i],
            std::string("NH3-N, ") +
                (cold    ? "water <= 12 °C"
                 : known ? "water > 12 °C"
                         : "water temperature unknown, > 12 °C value (stricter)") +
                " [V]");
    add_max(metric::kTp, site.built_before_2006 ? kGb18918TpBefore2006[i] : kGb18918TpFrom2006[i],
            std::string("TP, ") +
                (site.built_before_2006 ? "built before 2006-01-01" : "built from 2006-01-01") +
                " [S]");
    out.push_back({std::string(metric::kPh), kGb18918PhMin, kGb18918PhMax, "pH", Averaging::Daily,
                   prefix + "pH [V]"});
}

int class_index(StandardId id, const std::string& name) {
    const auto classes = allowed_classes(id);
    for (std::size_t i = 0; i < classes.size(); ++i)
        if (classes[i] == name) return static_cast<int>(i);
    return -1;
}

}  // namespace

// --- names --------------------------------------------------------------------------------------

namespace {
const std::array<std::pair<const char*, StandardId>, 4> kStandardNames{{
    {"gb3838", StandardId::Gb3838},
    {"gb5749", StandardId::Gb5749},
    {"gb18918", StandardId::Gb18918},
    {"custom", StandardId::Custom},
}};
const std::array<std::pair<const char*, WaterBody>, 3> kWaterBodyNames{{
    {"river", WaterBody::River},
    {"lake", WaterBody::Lake},
    {"reservoir", WaterBody::Lake},
}};
const std::array<std::pair<const char*, SupplyPoint>, 2> kSupplyPointNames{{
    {"outlet", SupplyPoint::Outlet},
    {"tap", SupplyPoint::Tap},
}};
const std::array<std::pair<const char*, Disinfectant>, 4> kDisinfectantNames{{
    {"free_chlorine", Disinfectant::FreeChlorine},
    {"total_chlorine", Disinfectant::TotalChlorine},
    {"chlorine_dioxide", Disinfectant::ChlorineDioxide},
    {"ozone", Disinfectant::Ozone},
}};
const std::array<std::pair<const char*, Averaging>, 3> kAveragingNames{{
    {"instantaneous", Averaging::Instantaneous},
    {"hourly", Averaging::Hourly},
    {"daily", Averaging::Daily},
}};

template <typename T, std::size_t N>
const char* name_of(T value, const std::array<std::pair<const char*, T>, N>& names) {
    for (const auto& [name, v] : names)
        if (v == value) return name;
    return "?";
}
}  // namespace

const char* to_string(StandardId id) {
    return name_of(id, kStandardNames);
}
const char* to_string(WaterBody body) {
    return name_of(body, kWaterBodyNames);
}
const char* to_string(SupplyPoint point) {
    return name_of(point, kSupplyPointNames);
}
const char* to_string(Disinfectant disinfectant) {
    return name_of(disinfectant, kDisinfectantNames);
}
const char* to_string(Averaging basis) {
    return name_of(basis, kAveragingNames);
}
const char* to_string(BoundSide side) {
    return side == BoundSide::AboveMax ? "above_max" : "below_min";
}

Parsed<StandardId> parse_standard_id(std::string_view text) {
    return parse_name(text, "standard", kStandardNames);
}
Parsed<WaterBody> parse_water_body(std::string_view text) {
    return parse_name(text, "water body", kWaterBodyNames);
}
Parsed<SupplyPoint> parse_supply_point(std::string_view text) {
    return parse_name(text, "supply point", kSupplyPointNames);
}
Parsed<Disinfectant> parse_disinfectant(std::string_view text) {
    return parse_name(text, "disinfectant", kDisinfectantNames);
}
Parsed<Averaging> parse_averaging(std::string_view text) {
    return parse_name(text, "averaging basis", kAveragingNames);
}

std::vector<std::string> allowed_classes(StandardId id) {
    switch (id) {
        case StandardId::Gb3838:
            return {kRoman.begin(), kRoman.end()};
        case StandardId::Gb18918:
            return {kGb18918Classes.begin(), kGb18918Classes.end()};
        case StandardId::Gb5749:
        case StandardId::Custom:
            break;
    }
    return {};
}

Parsed<int> parse_gb3838_class(std::string_view text) {
    const int index = class_index(StandardId::Gb3838, std::string(text));
    if (index >= 0) return {index + 1, {}};
    return {std::nullopt, "\"" + std::string(text) + "\" is not a gb3838 class; allowed: " +
                              quoted_list(allowed_classes(StandardId::Gb3838))};
}

std::string validate_limit(const Limit& limit) {
    if (limit.metric.empty()) return "limit has no metric";
    const std::string who = "limit on \"" + limit.metric + "\": ";
    if (!limit.min && !limit.max) return who + "needs a min, a max or both";
    if (limit.min && !std::isfinite(*limit.min)) return who + "min must be a finite number";
    if (limit.max && !std::isfinite(*limit.max)) return who + "max must be a finite number";
    if (limit.min && limit.max && *limit.min > *limit.max)
        return who + "min " + number_text(*limit.min) + " is above max " + number_text(*limit.max);
    return {};
}

std::string validate_site_standard(const SiteStandard& site) {
    const auto classes = allowed_classes(site.standard);
    const std::string standard = to_string(site.standard);
    if (classes.empty()) {
        if (!site.class_name.empty())
            return "class \"" + site.class_name + "\" is not used by " + standard +
                   "; leave it empty";
    } else if (class_index(site.standard, site.class_name) < 0) {
        return "class \"" + site.class_name + "\" is not a " + standard +
               " class; allowed: " + quoted_list(classes);
    }
    if (site.standard == StandardId::Custom && site.custom_limits.empty())
        return "a custom site needs at least one limit";
    for (std::size_t i = 0; i < site.custom_limits.size(); ++i) {
        const std::string error = validate_limit(site.custom_limits[i]);
        if (!error.empty()) return "custom limit " + std::to_string(i) + ": " + error;
    }
    return {};
}

std::vector<Limit> limits_for(const SiteStandard& site, const LimitContext& context) {
    std::vector<Limit> out;
    if (!validate_site_standard(site).empty()) return out;
    switch (site.standard) {
        case StandardId::Gb3838:
            add_gb3838(site, class_index(site.standard, site.class_name) + 1, out);
            break;
        case StandardId::Gb5749:
            add_gb5749(site, out);
            break;
        case StandardId::Gb18918:
            add_gb18918(site, context, class_index(site.standard, site.class_name), out);
            break;
        case StandardId::Custom:
            break;
    }
    out.insert(out.end(), site.custom_limits.begin(), site.custom_limits.end());
    return out;
}

// --- GB 3838 classification ---------------------------------------------------------------------

const char* gb3838_class_label(int water_class) {
    if (water_class >= 1 && water_class <= 5)
        return kRoman[static_cast<std::size_t>(water_class - 1)];
    if (water_class == kWorseThanV) return "劣V";
    return "";
}

Classification classify_gb3838(const std::map<std::string, double>& latest, WaterBody body) {
    Classification result;
    auto add = [&](std::string_view metric_name, double value, int water_class) {
        result.factors.push_back({std::string(metric_name), value, water_class});
        if (water_class > result.water_class) result.water_class = water_class;
    };
    const auto ph = latest.find(std::string(metric::kPh));
    if (ph != latest.end() && std::isfinite(ph->second)) {
        // 6–9 for every class: inside meets class I, outside meets none (劣V for this factor).
        const bool inside = ph->second >= kGb3838PhMin && ph->second <= kGb3838PhMax;
        add(metric::kPh, ph->second, inside ? 1 : kWorseThanV);
    }
    for (const auto& f : gb3838_table()) {
        if (f.lake_only && body != WaterBody::Lake) continue;
        const auto it = latest.find(std::string(f.metric));
        if (it == latest.end() || !std::isfinite(it->second)) continue;
        const double v = it->second;
        const auto& column = body == WaterBody::Lake ? f.lake : f.river;
        int water_class = kWorseThanV;
        for (std::size_t k = 0; k < column.size(); ++k) {
            const bool meets = f.lower_bound ? v >= column[k] : v <= column[k];
            if (meets) {
                water_class = static_cast<int>(k) + 1;
                break;
            }
        }
        add(f.metric, v, water_class);
    }
    for (const auto& factor : result.factors)
        if (factor.water_class == result.water_class) result.worst_factors.push_back(factor.metric);
    return result;
}

}  // namespace gw::analytics
