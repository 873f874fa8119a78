// SPDX-License-Identifier: Apache-2.0
// Built-in limit tables and the GB 3838 classification. Every expected number is a value of the
// DOMAIN.md §2 tables (quoted next to it), not an output of the implementation.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "analytics/limits.hpp"
#include "analytics/metric_names.hpp"

using namespace gw::analytics;

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

/// The single limit on `metric` in `limits`; fails the test if there is not exactly one.
Limit only(const std::vector<Limit>& limits, std::string_view metric) {
    std::vector<Limit> found;
    for (const auto& l : limits)
        if (l.metric == metric) found.push_back(l);
    REQUIRE(found.size() == 1);
    return found.front();
}

bool has(const std::vector<Limit>& limits, std::string_view metric) {
    for (const auto& l : limits)
        if (l.metric == metric) return true;
    return false;
}

SiteStandard gb3838(const std::string& water_class, WaterBody body) {
    SiteStandard site;
    site.standard = StandardId::Gb3838;
    site.class_name = water_class;
    site.water_body = body;
    return site;
}

SiteStandard gb18918(const std::string& effluent_class, bool built_before_2006 = false) {
    SiteStandard site;
    site.standard = StandardId::Gb18918;
    site.class_name = effluent_class;
    site.built_before_2006 = built_before_2006;
    return site;
}

SiteStandard gb5749(SupplyPoint point, Disinfectant disinfectant = Disinfectant::FreeChlorine) {
    SiteStandard site;
    site.standard = StandardId::Gb5749;
    site.supply_point = point;
    site.disinfectant = disinfectant;
    return site;
}

LimitContext water_at(double degc) {
    LimitContext context;
    context.water_temperature_degc = degc;
    return context;
}

}  // namespace

// --- GB 3838-2002 -----------------------------------------------------------------------------

TEST_CASE("GB 3838 class III river limits are column III of Table 1", "[unit][analytics]") {
    const auto limits = limits_for(gb3838("III", WaterBody::River));
    const Limit ph = only(limits, metric::kPh);
    CHECK(ph.min == 6.0);  // pH 6–9
    CHECK(ph.max == 9.0);
    const Limit dissolved_oxygen = only(limits, metric::kDissolvedOxygen);
    CHECK(dissolved_oxygen.min == 5.0);  // DO ≥ 5: a lower bound
    CHECK_FALSE(dissolved_oxygen.max);
    CHECK(only(limits, metric::kCodMn).max == 6.0);
    CHECK(only(limits, metric::kCod).max == 20.0);
    CHECK(only(limits, metric::kBod5).max == 4.0);
    CHECK(only(limits, metric::kNh3N).max == 1.0);
    CHECK(only(limits, metric::kTp).max == 0.2);  // river column
    CHECK_FALSE(has(limits, metric::kTn));        // TN: lakes and reservoirs only
    for (const auto& l : limits) {
        CHECK(l.source.rfind("GB 3838-2002", 0) == 0);
        CHECK(l.basis == Averaging::Daily);
    }
}

TEST_CASE("GB 3838 lake limits use the bracketed TP column and add TN", "[unit][analytics]") {
    const auto lake = limits_for(gb3838("III", WaterBody::Lake));
    CHECK(only(lake, metric::kTp).max == 0.05);  // class III lake/reservoir: (0.05)
    CHECK(only(lake, metric::kTn).max == 1.0);   // class III TN 1.0
    const auto lake_i = limits_for(gb3838("I", WaterBody::Lake));
    CHECK(only(lake_i, metric::kTp).max == 0.01);              // class I (0.01)
    CHECK(only(lake_i, metric::kDissolvedOxygen).min == 7.5);  // class I DO ≥ 7.5
    const auto river_v = limits_for(gb3838("V", WaterBody::River));
    CHECK(only(river_v, metric::kTp).max == 0.4);  // class V river 0.4
    CHECK(only(river_v, metric::kDissolvedOxygen).min == 2.0);
}

TEST_CASE("worst-factor rule: the site takes the worst class of its factors", "[unit][analytics]") {
    // pH 7.5 → I; DO 6.5 → II (≥ 6, < 7.5); CODMn 3 → II (≤ 4); NH3-N 1.2 → IV (> 1.0, ≤ 1.5);
    // TP 0.15 river → III (> 0.1, ≤ 0.2).
    const std::map<std::string, double> latest{{"ph", 7.5},    {"dissolved_oxygen", 6.5},
                                               {"codmn", 3.0}, {"nh3_n", 1.2},
                                               {"tp", 0.15},   {"turbidity", 80.0}};
    const Classification c = classify_gb3838(latest, WaterBody::River);
    CHECK(c.water_class == 4);
    CHECK(std::string(gb3838_class_label(c.water_class)) == "IV");
    CHECK(c.worst_factors == std::vector<std::string>{"nh3_n"});
    std::map<std::string, int> per_factor;
    for (const auto& f : c.factors) per_factor[f.metric] = f.water_class;
    CHECK(per_factor ==
          std::map<std::string, int>{{"ph", 1},
                                     {"dissolved_oxygen", 2},
                                     {"codmn", 2},
                                     {"nh3_n", 4},
                                     {"tp", 3}});  // turbidity is not a GB 3838 basic item: ignored
}

TEST_CASE("lake TP is judged against the lake column, river TP against the river column",
          "[unit][analytics]") {
    // TP 0.15: river III (0.1 < 0.15 ≤ 0.2); lake V (0.1 < 0.15 ≤ 0.2 in the bracket column).
    const std::map<std::string, double> latest{{"tp", 0.15}};
    CHECK(classify_gb3838(latest, WaterBody::River).water_class == 3);
    CHECK(classify_gb3838(latest, WaterBody::Lake).water_class == 5);
    // TP 0.25: river IV (≤ 0.3); lake worse than V (> 0.2).
    const std::map<std::string, double> worse{{"tp", 0.25}};
    CHECK(classify_gb3838(worse, WaterBody::River).water_class == 4);
    CHECK(classify_gb3838(worse, WaterBody::Lake).water_class == kWorseThanV);
}

TEST_CASE("TN is ignored for rivers and counts for lakes", "[unit][analytics]") {
    // TN 2.5 is above the class V limit 2.0; everything else meets class I.
    const std::map<std::string, double> latest{{"ph", 7.0}, {"nh3_n", 0.1}, {"tn", 2.5}};
    const Classification river = classify_gb3838(latest, WaterBody::River);
    CHECK(river.water_class == 1);
    for (const auto& f : river.factors) CHECK(f.metric != "tn");
    const Classification lake = classify_gb3838(latest, WaterBody::Lake);
    CHECK(lake.water_class == kWorseThanV);
    CHECK(std::string(gb3838_class_label(lake.water_class)) == "劣V");
    CHECK(lake.worst_factors == std::vector<std::string>{"tn"});
}

TEST_CASE("dissolved oxygen is a lower bound; values on a limit meet it", "[unit][analytics]") {
    auto do_class = [](double mg_l) {
        return classify_gb3838({{"dissolved_oxygen", mg_l}}, WaterBody::River).water_class;
    };
    CHECK(do_class(7.5) == 1);  // ≥ 7.5
    CHECK(do_class(7.4) == 2);  // ≥ 6
    CHECK(do_class(5.0) == 3);  // ≥ 5
    CHECK(do_class(4.9) == 4);  // ≥ 3
    CHECK(do_class(2.0) == 5);  // ≥ 2
    CHECK(do_class(1.9) == kWorseThanV);
    // An upper-bound factor on its limit: NH3-N 0.15 meets class I.
    CHECK(classify_gb3838({{"nh3_n", 0.15}}, WaterBody::River).water_class == 1);
    CHECK(classify_gb3838({{"nh3_n", 2.01}}, WaterBody::River).water_class == kWorseThanV);
}

TEST_CASE("pH outside 6-9 fails every class", "[unit][analytics]") {
    auto ph_class = [](double ph) {
        return classify_gb3838({{"ph", ph}}, WaterBody::River).water_class;
    };
    CHECK(ph_class(6.0) == 1);
    CHECK(ph_class(9.0) == 1);
    CHECK(ph_class(5.9) == kWorseThanV);
    CHECK(ph_class(9.1) == kWorseThanV);
}

TEST_CASE("equal classes name every worst factor; missing and NaN values are skipped",
          "[unit][analytics]") {
    // COD 18 → III (> 15, ≤ 20); BOD5 3.5 → III (> 3, ≤ 4); NH3-N NaN skipped.
    const Classification c =
        classify_gb3838({{"cod", 18.0}, {"bod5", 3.5}, {"nh3_n", kNaN}}, WaterBody::River);
    CHECK(c.water_class == 3);
    CHECK(c.worst_factors == std::vector<std::string>{"cod", "bod5"});
    CHECK(c.factors.size() == 2);
    const Classification none = classify_gb3838({{"turbidity", 5.0}}, WaterBody::River);
    CHECK(none.water_class == 0);
    CHECK(none.factors.empty());
    CHECK(std::string(gb3838_class_label(0)).empty());
}

// --- GB 18918-2002 -------------------------------------------------------------------------------

TEST_CASE("GB 18918 NH3-N: the bracket value applies at 12.0 °C, the plain one at 12.1 °C",
          "[unit][analytics]") {
    // 1A: 5 (8); 1B: 8 (15); 2: 25 (30); 3: no limit.
    CHECK(only(limits_for(gb18918("1A"), water_at(12.1)), metric::kNh3N).max == 5.0);
    CHECK(only(limits_for(gb18918("1A"), water_at(12.0)), metric::kNh3N).max == 8.0);
    CHECK(only(limits_for(gb18918("1B"), water_at(12.1)), metric::kNh3N).max == 8.0);
    CHECK(only(limits_for(gb18918("1B"), water_at(12.0)), metric::kNh3N).max == 15.0);
    CHECK(only(limits_for(gb18918("2"), water_at(20.0)), metric::kNh3N).max == 25.0);
    CHECK(only(limits_for(gb18918("2"), water_at(5.0)), metric::kNh3N).max == 30.0);
    CHECK_FALSE(has(limits_for(gb18918("3"), water_at(20.0)), metric::kNh3N));
    // Unknown temperature: the stricter (> 12 °C) value, and the source says so.
    const Limit unknown = only(limits_for(gb18918("1A"), LimitContext{}), metric::kNh3N);
    CHECK(unknown.max == 5.0);
    CHECK(unknown.source.find("unknown") != std::string::npos);
    CHECK(only(limits_for(gb18918("1A"), water_at(kNaN)), metric::kNh3N).max == 5.0);
}

TEST_CASE("GB 18918 TP depends on the construction date", "[unit][analytics]") {
    // Built from 2006-01-01: 0.5 / 1 / 3 / 5; built before: 1 / 1.5 / 3 / 5.
    CHECK(only(limits_for(gb18918("1A", false)), metric::kTp).max == 0.5);
    CHECK(only(limits_for(gb18918("1A", true)), metric::kTp).max == 1.0);
    CHECK(only(limits_for(gb18918("1B", false)), metric::kTp).max == 1.0);
    CHECK(only(limits_for(gb18918("1B", true)), metric::kTp).max == 1.5);
    CHECK(only(limits_for(gb18918("2", false)), metric::kTp).max == 3.0);
    CHECK(only(limits_for(gb18918("2", true)), metric::kTp).max == 3.0);
    CHECK(only(limits_for(gb18918("3", true)), metric::kTp).max == 5.0);
}

TEST_CASE("GB 18918 limits are daily means from Table 1", "[unit][analytics]") {
    const auto a = limits_for(gb18918("1A"), water_at(20.0));
    CHECK(only(a, metric::kCod).max == 50.0);
    CHECK(only(a, metric::kBod5).max == 10.0);
    CHECK(only(a, metric::kSs).max == 10.0);
    CHECK(only(a, metric::kTn).max == 15.0);
    CHECK(only(a, metric::kPh).min == 6.0);
    CHECK(only(a, metric::kPh).max == 9.0);
    for (const auto& l : a) {
        CHECK(l.basis == Averaging::Daily);
        CHECK(l.source.rfind("GB 18918-2002", 0) == 0);
    }
    const auto three = limits_for(gb18918("3"), water_at(20.0));
    CHECK(only(three, metric::kCod).max == 120.0);
    CHECK(only(three, metric::kBod5).max == 60.0);
    CHECK(only(three, metric::kSs).max == 50.0);
    CHECK_FALSE(has(three, metric::kTn));  // "—" for classes 2 and 3
    CHECK_FALSE(has(limits_for(gb18918("2")), metric::kTn));
}

// --- GB 5749-2022
// ---------------------------------------------------------------------------------

TEST_CASE("GB 5749 free chlorine: outlet 0.3-2 mg/L, tap 0.05-2 mg/L", "[unit][analytics]") {
    const Limit outlet = only(limits_for(gb5749(SupplyPoint::Outlet)), metric::kResidualChlorine);
    CHECK(outlet.min == 0.3);
    CHECK(outlet.max == 2.0);
    const Limit tap = only(limits_for(gb5749(SupplyPoint::Tap)), metric::kResidualChlorine);
    CHECK(tap.min == 0.05);
    CHECK(tap.max == 2.0);
    CHECK(outlet.unit == "mg/L");
    CHECK(outlet.basis == Averaging::Instantaneous);
}

TEST_CASE("GB 5749 turbidity, pH, CODMn and the other disinfectants", "[unit][analytics]") {
    const auto outlet = limits_for(gb5749(SupplyPoint::Outlet));
    CHECK(only(outlet, metric::kTurbidity).max == 1.0);
    CHECK(only(outlet, metric::kPh).min == 6.5);
    CHECK(only(outlet, metric::kPh).max == 8.5);
    CHECK(only(outlet, metric::kCodMn).max == 3.0);
    CHECK_FALSE(has(outlet, metric::kTotalChlorine));  // only the site's disinfectant
    SiteStandard small = gb5749(SupplyPoint::Tap);
    small.small_supply = true;
    CHECK(only(limits_for(small), metric::kTurbidity).max == 3.0);

    // Total chlorine ≤ 3, outlet ≥ 0.5, tap ≥ 0.05; ClO2 ≤ 0.8, outlet ≥ 0.1, tap ≥ 0.02;
    // ozone ≤ 0.3, tap ≥ 0.02 (no outlet minimum).
    const Limit chloramine = only(
        limits_for(gb5749(SupplyPoint::Outlet, Disinfectant::TotalChlorine)), "total_chlorine");
    CHECK(chloramine.min == 0.5);
    CHECK(chloramine.max == 3.0);
    CHECK(only(limits_for(gb5749(SupplyPoint::Tap, Disinfectant::TotalChlorine)), "total_chlorine")
              .min == 0.05);
    const Limit dioxide = only(
        limits_for(gb5749(SupplyPoint::Outlet, Disinfectant::ChlorineDioxide)), "chlorine_dioxide");
    CHECK(dioxide.min == 0.1);
    CHECK(dioxide.max == 0.8);
    CHECK(only(limits_for(gb5749(SupplyPoint::Tap, Disinfectant::ChlorineDioxide)),
               "chlorine_dioxide")
              .min == 0.02);
    const Limit ozone_outlet =
        only(limits_for(gb5749(SupplyPoint::Outlet, Disinfectant::Ozone)), "ozone");
    CHECK_FALSE(ozone_outlet.min);
    CHECK(ozone_outlet.max == 0.3);
    CHECK(only(limits_for(gb5749(SupplyPoint::Tap, Disinfectant::Ozone)), "ozone").min == 0.02);
    // [S] values say so in their source.
    CHECK(dioxide.source.find("[S]") != std::string::npos);
}

// --- custom, parsing, validation
// ------------------------------------------------------------------

TEST_CASE("custom sites carry only their own limits; DB33/973 is not built in",
          "[unit][analytics]") {
    SiteStandard site;
    site.standard = StandardId::Custom;
    Limit cod{"cod", std::nullopt, 60.0, "mg/L", Averaging::Daily, "DB33/973-2021 permit"};
    site.custom_limits.push_back(cod);
    const auto limits = limits_for(site);
    REQUIRE(limits.size() == 1);
    CHECK(limits[0].source == "DB33/973-2021 permit");
    CHECK_FALSE(parse_standard_id("db33_973"));
    // Custom limits also follow the built-in ones of a standard site.
    SiteStandard plant = gb18918("1A");
    plant.custom_limits.push_back(cod);
    const auto both = limits_for(plant, water_at(20.0));
    CHECK(both.back().source == "DB33/973-2021 permit");
}

TEST_CASE("parse errors name the bad value and the allowed ones", "[unit][analytics]") {
    const auto standard = parse_standard_id("gb3839");
    CHECK_FALSE(standard);
    CHECK(standard.error ==
          "\"gb3839\" is not a standard; allowed: \"gb3838\",\"gb5749\",\"gb18918\",\"custom\"");
    CHECK(parse_standard_id("gb18918").value == StandardId::Gb18918);
    CHECK(parse_water_body("reservoir").value == WaterBody::Lake);
    CHECK(parse_water_body("sea").error ==
          "\"sea\" is not a water body; allowed: \"river\",\"lake\",\"reservoir\"");
    CHECK(parse_supply_point("tap").value == SupplyPoint::Tap);
    CHECK(parse_supply_point("network").error ==
          "\"network\" is not a supply point; allowed: \"outlet\",\"tap\"");
    CHECK(parse_disinfectant("ozone").value == Disinfectant::Ozone);
    CHECK(parse_averaging("daily").value == Averaging::Daily);
    CHECK_FALSE(parse_averaging("weekly"));
    CHECK(parse_gb3838_class("IV").value == 4);
    CHECK(parse_gb3838_class("VI").error ==
          "\"VI\" is not a gb3838 class; allowed: \"I\",\"II\",\"III\",\"IV\",\"V\"");
}

TEST_CASE("invalid sites are reported and give no limits", "[unit][analytics]") {
    CHECK(validate_site_standard(gb3838("III", WaterBody::River)).empty());
    CHECK(validate_site_standard(gb3838("VI", WaterBody::River)) ==
          "class \"VI\" is not a gb3838 class; allowed: \"I\",\"II\",\"III\",\"IV\",\"V\"");
    CHECK(validate_site_standard(gb18918("1C")) ==
          "class \"1C\" is not a gb18918 class; allowed: \"1A\",\"1B\",\"2\",\"3\"");
    CHECK(limits_for(gb18918("1C")).empty());
    SiteStandard water = gb5749(SupplyPoint::Outlet);
    water.class_name = "III";
    CHECK(validate_site_standard(water) == "class \"III\" is not used by gb5749; leave it empty");
    SiteStandard custom;
    custom.standard = StandardId::Custom;
    CHECK(validate_site_standard(custom) == "a custom site needs at least one limit");
    custom.custom_limits.push_back({"ph", 9.0, 6.0, "pH", Averaging::Instantaneous, "x"});
    CHECK(validate_site_standard(custom) ==
          "custom limit 0: limit on \"ph\": min 9 is above max 6");
    custom.custom_limits[0] = {"ph", std::nullopt, std::nullopt, "pH", Averaging::Daily, "x"};
    CHECK(validate_site_standard(custom) ==
          "custom limit 0: limit on \"ph\": needs a min, a max or both");
}
