// SPDX-License-Identifier: Apache-2.0
// HJ 212 water factor codes (DOMAIN.md §1.10): the table, lookups and unit conversion.
#include <catch2/catch.hpp>
#include <set>
#include <string>

#include "hj212/codes.hpp"

using namespace gw::hj212;

TEST_CASE("hj212 codes: the table holds the standard's water codes and two de-facto ones",
          "[unit][hj212]") {
    const auto& codes = factor_codes();
    std::set<std::string_view> seen;
    for (const auto& c : codes) {
        CHECK(seen.insert(c.code).second);  // no duplicates
        CHECK(c.code.size() == 6);
        CHECK(c.decimals >= 0);
        CHECK(c.decimals <= 6);
        CHECK((c.cou_unit.empty() || c.cou_unit == "m3" || c.cou_unit == "kg"));
    }
    for (const char* code : {"w00000", "w01001", "w01002", "w01006", "w01009", "w01010", "w01012",
                             "w01014", "w01017", "w01018", "w01019", "w01020", "w02003", "w21001",
                             "w21003", "w21011", "w21022", "w22001", "w23002"}) {
        INFO(code);
        const FactorCode* c = find_factor(code);
        REQUIRE(c != nullptr);
        CHECK(c->in_standard);
    }
    CHECK(codes.size() == 21);
}

TEST_CASE("hj212 codes: lookups give unit, -Cou unit and decimals", "[unit][hj212]") {
    const FactorCode* flow = find_factor("w00000");
    REQUIRE(flow != nullptr);
    CHECK(flow->unit == "L/s");
    CHECK(flow->cou_unit == "m3");
    CHECK(flow->decimals == 2);

    const FactorCode* cod = find_factor("w01018");
    REQUIRE(cod != nullptr);
    CHECK(cod->name == "COD (CODcr)");
    CHECK(cod->unit == "mg/L");
    CHECK(cod->cou_unit == "kg");
    CHECK(cod->decimals == 1);  // N5.1

    const FactorCode* ph = find_factor("w01001");
    REQUIRE(ph != nullptr);
    CHECK(ph->unit == "pH");
    CHECK(ph->cou_unit.empty());
    CHECK(ph->decimals == 2);  // N2.2

    CHECK(find_factor("w01009")->cou_unit.empty());  // dissolved oxygen has no -Cou
    CHECK(find_factor("w01012")->decimals == 0);     // SS N4
    CHECK(find_factor("w21003")->decimals == 2);     // NH3-N N4.2
    CHECK(find_factor("w21003")->cou_unit == "kg");
    CHECK(find_factor("w01014")->unit == "uS/cm");
    CHECK(find_factor("w01010")->unit == "degC");
    CHECK(find_factor("w02003")->unit == "/L");

    const FactorCode* turbidity = find_factor("w01003");
    REQUIRE(turbidity != nullptr);
    CHECK_FALSE(turbidity->in_standard);
    CHECK(turbidity->unit == "NTU");
    CHECK(turbidity->decimals == 1);
    REQUIRE(find_factor("w01016") != nullptr);
    CHECK_FALSE(find_factor("w01016")->in_standard);

    CHECK(find_factor("w99999") == nullptr);
    CHECK(find_factor("W01018") == nullptr);  // field names are case-sensitive
    CHECK(find_factor("") == nullptr);
}

TEST_CASE("hj212 codes: unit_scale converts a sensor's unit into the report unit",
          "[unit][hj212]") {
    const FactorCode& flow = *find_factor("w00000");
    CHECK(unit_scale(flow, "m3/h").value() == Approx(1.0 / 3.6));
    CHECK(unit_scale(flow, "m³/h").value() == Approx(1.0 / 3.6));
    CHECK(unit_scale(flow, "L/s").value() == 1.0);
    CHECK(unit_scale(flow, "L/min").value() == Approx(1.0 / 60.0));
    CHECK(unit_scale(flow, "m3/s").value() == Approx(1000.0));
    CHECK(unit_scale(flow, "m3/d").value() == Approx(1000.0 / 86400.0));
    CHECK_FALSE(unit_scale(flow, "m3"));  // a totaliser is no flow
    CHECK_FALSE(unit_scale(flow, "mg/L"));

    const FactorCode& conductivity = *find_factor("w01014");
    CHECK(unit_scale(conductivity, "uS/cm").value() == 1.0);
    CHECK(unit_scale(conductivity, "µS/cm").value() == 1.0);
    CHECK(unit_scale(conductivity, "mS/cm").value() == 1000.0);
    CHECK_FALSE(unit_scale(conductivity, "S/m"));

    const FactorCode& temperature = *find_factor("w01010");
    CHECK(unit_scale(temperature, "degC").value() == 1.0);
    CHECK(unit_scale(temperature, "°C").value() == 1.0);
    CHECK_FALSE(unit_scale(temperature, "degF"));

    const FactorCode& ph = *find_factor("w01001");
    CHECK(unit_scale(ph, "pH").value() == 1.0);
    CHECK(unit_scale(ph, "").value() == 1.0);
    CHECK_FALSE(unit_scale(ph, "mV"));

    const FactorCode& cod = *find_factor("w01018");
    CHECK(unit_scale(cod, "mg/L").value() == 1.0);
    CHECK(unit_scale(cod, "mg/l").value() == 1.0);
    CHECK_FALSE(unit_scale(cod, "g/L"));
    CHECK_FALSE(unit_scale(cod, ""));

    CHECK(unit_scale(*find_factor("w01003"), "NTU").value() == 1.0);
}
