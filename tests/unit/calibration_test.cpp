// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "calibration/models.hpp"
#include "calibration/standards.hpp"

using namespace gw::calibration;
using Catch::Matchers::Contains;

namespace {
bool any_message_contains(const std::vector<std::string>& messages, const std::string& text) {
    for (const auto& message : messages) {
        if (message.find(text) != std::string::npos) return true;
    }
    return false;
}
}  // namespace

// --- standards ------------------------------------------------------------------------------

TEST_CASE("calibration: GB buffers are looked up at the buffer temperature",
          "[unit][calibration]") {
    CHECK(ph_buffer_value(BufferTable::ChineseGb, "9.18", 25.0) == Approx(9.182));
    CHECK(ph_buffer_value(BufferTable::ChineseGb, "6.86", 10.0) == Approx(6.921));
    // Borax at 22.5 °C: halfway between 9.226 (20 °C) and 9.182 (25 °C) = 9.204.
    CHECK(ph_buffer_value(BufferTable::ChineseGb, "9.18", 22.5) == Approx(9.204));
    // Table ends are inside the range.
    CHECK(ph_buffer_value(BufferTable::ChineseGb, "4.00", 0.0) == Approx(4.006));
    CHECK(ph_buffer_value(BufferTable::ChineseGb, "4.00", 50.0) == Approx(4.055));
}

TEST_CASE("calibration: buffers are found by name or by nominal number", "[unit][calibration]") {
    CHECK(ph_buffer_value(BufferTable::ChineseGb, "4", 25.0) == Approx(4.003));
    CHECK(ph_buffer_value(BufferTable::ChineseGb, " 6.865 ", 25.0) == Approx(6.864));
    CHECK(ph_buffer_value(BufferTable::ChineseGb, 9.18, 25.0) == Approx(9.182));
    CHECK(ph_buffer_value(BufferTable::Technical, "10.01", 10.0) == Approx(10.18));
    CHECK(ph_buffer_value(BufferTable::Technical, "10", 25.0) == Approx(10.01));
    // 7.00 at 15 °C: halfway between 7.06 (10 °C) and 7.02 (20 °C).
    CHECK(ph_buffer_value(BufferTable::Technical, 7.0, 15.0) == Approx(7.04));
    CHECK(ph_buffer_value(BufferTable::Nist, "6.86", 25.0) == Approx(6.865));
    CHECK(ph_buffer_value(BufferTable::Nist, "4.01", 25.0) == Approx(4.008));
    CHECK(ph_buffer_value(BufferTable::Nist, "9.18", 0.0) == Approx(9.464));
    CHECK(buffer_names(BufferTable::Technical) ==
          std::vector<std::string>{"4.01", "7.00", "10.01"});
}

TEST_CASE("calibration: buffer table names round-trip", "[unit][calibration]") {
    for (const auto table : {BufferTable::ChineseGb, BufferTable::Nist, BufferTable::Technical}) {
        CHECK(parse_buffer_table(table_name(table)) == table);
    }
    CHECK_FALSE(parse_buffer_table("din"));
}

TEST_CASE("calibration: unknown buffers and temperatures outside the table are errors",
          "[unit][calibration]") {
    CHECK_THROWS_WITH(ph_buffer_value(BufferTable::ChineseGb, "9.18", 55.0),
                      Contains("9.18") && Contains("0-50 °C") && Contains("55"));
    CHECK_THROWS_WITH(ph_buffer_value(BufferTable::ChineseGb, "9.18", -1.0), Contains("0-50 °C"));
    // 7.00 is a technical buffer, not a GB one: the message lists what is valid.
    CHECK_THROWS_WITH(ph_buffer_value(BufferTable::ChineseGb, "7.00", 25.0),
                      Contains("\"7.00\"") && Contains("4.00, 6.86, 9.18"));
    CHECK_THROWS_AS(ph_buffer_value(BufferTable::Technical, 6.86, 25.0), std::invalid_argument);
    CHECK_THROWS_AS(
        ph_buffer_value(BufferTable::ChineseGb, "6.86", std::numeric_limits<double>::quiet_NaN()),
        std::invalid_argument);
}

TEST_CASE("calibration: Nernst slope at 10 and 25 °C", "[unit][calibration]") {
    // ln10 · 8.314462618 · 298.15 / 96485.33212 · 1000 = 59.159 mV/pH
    CHECK(nernst_slope_mv_per_ph(25.0) == Approx(59.16).margin(0.005));
    // ... · 283.15 K = 56.183 mV/pH
    CHECK(nernst_slope_mv_per_ph(10.0) == Approx(56.18).margin(0.005));
    CHECK(nernst_slope_mv_per_ph(0.0) == Approx(54.20).margin(0.005));
}

TEST_CASE("calibration: DO saturation at sea level and at 300 m", "[unit][calibration]") {
    CHECK(do_saturation_mg_l(20.0) == Approx(9.09));
    CHECK(do_saturation_mg_l(0.0) == Approx(14.62));
    // 22.5 °C: halfway between 9.09 and 8.26.
    CHECK(do_saturation_mg_l(22.5) == Approx(8.675));
    CHECK(do_saturation_mg_l(40.0) == Approx(6.41));
    // pw(20 °C) = 0.61094·exp(17.625·20/263.04) = 2.334 kPa;
    // 9.09 · (97.7 − 2.334) / (101.325 − 2.334) = 8.757 mg/L (Yokogawa: 8.8 at 300 m).
    CHECK(water_vapour_pressure_kpa(20.0) == Approx(2.339).margin(0.01));
    CHECK(do_saturation_mg_l(20.0, 97.7) == Approx(8.757).margin(0.002));
    CHECK(do_saturation_mg_l(20.0, 97.7) == Approx(8.8).margin(0.05));
    // Salinity: −0.042 mg/L per g/kg at 25 °C → 10 g/kg: 8.26 − 0.42 = 7.84.
    CHECK(do_saturation_mg_l(25.0, 101.325, 10.0) == Approx(7.84));
}

TEST_CASE("calibration: DO saturation rejects out-of-range conditions", "[unit][calibration]") {
    CHECK_THROWS_WITH(do_saturation_mg_l(45.0), Contains("0-40 °C"));
    CHECK_THROWS_WITH(do_saturation_mg_l(20.0, 1013.0), Contains("hPa"));
    CHECK_THROWS_AS(do_saturation_mg_l(20.0, 101.325, -1.0), std::invalid_argument);
}

TEST_CASE("calibration: KCl standards and linear temperature compensation", "[unit][calibration]") {
    CHECK(kcl_standard_us_cm("1413") == 1413.0);
    CHECK(kcl_standard_us_cm("12880") == 12880.0);
    CHECK(kcl_standard_us_cm("146.5") == 146.5);
    CHECK(kcl_standard_us_cm("1413.0") == 1413.0);
    CHECK_THROWS_WITH(kcl_standard_us_cm("1408"), Contains("1413, 12880, 146.5"));
    // 1413 · (1 + 0.0191 · (20 − 25)) = 1413 · 0.9045 = 1278.06
    CHECK(conductivity_at_degc(1413.0, 20.0) == Approx(1278.0585));
    CHECK(conductivity_to_25(1278.0585, 20.0) == Approx(1413.0));
    CHECK(conductivity_at_degc(1413.0, 25.0, 0.02) == Approx(1413.0));
    CHECK_THROWS_AS(conductivity_at_degc(1413.0, 20.0, 1.91), std::invalid_argument);
}

// --- generic fits ---------------------------------------------------------------------------

TEST_CASE("calibration: offset and two-point fits", "[unit][calibration]") {
    const auto offset = fit_offset({10.0, 9.5, std::nullopt});
    CHECK(offset.coefficients.gain == 1.0);
    CHECK(offset.coefficients.offset == Approx(0.5));
    CHECK(offset.verdict == Verdict::Pass);

    // (raw 1 → 3), (raw 3 → 7): gain 2, offset 1.
    const auto two = fit_two_point({3.0, 1.0, std::nullopt}, {7.0, 3.0, std::nullopt});
    CHECK(two.coefficients.gain == Approx(2.0));
    CHECK(two.coefficients.offset == Approx(1.0));
    CHECK(two.max_abs_residual == Approx(0.0).margin(1e-12));
    CHECK_FALSE(two.r_squared);
}

TEST_CASE("calibration: two points with the same raw value cannot be fitted",
          "[unit][calibration]") {
    CHECK_THROWS_WITH(fit_two_point({4.0, 6.9, std::nullopt}, {9.0, 6.9, std::nullopt}),
                      Contains("same raw value 6.9"));
    CHECK_THROWS_WITH(fit_least_squares({{1.0, 2.0, std::nullopt}, {3.0, 2.0, std::nullopt}}),
                      Contains("same raw value"));
    CHECK_THROWS_AS(fit_least_squares({{1.0, 2.0, std::nullopt}}), std::invalid_argument);
    CHECK_THROWS_AS(fit_offset({std::numeric_limits<double>::infinity(), 1.0, std::nullopt}),
                    std::invalid_argument);
}

TEST_CASE("calibration: least squares with 3 points reports residuals and r squared",
          "[unit][calibration]") {
    // raw 0, 1, 2 → reference 0.1, 0.9, 2.1. Means 1 and 1.0333; Sxx = 2,
    // Sxy = (−1)(−0.9333) + (1)(1.0667) = 2 → gain 1, offset 0.0333.
    // Residuals 0.0667, −0.1333, 0.0667; SSres = 0.02667, SStot = 2.02667, r² = 0.98684.
    const auto fit = fit_least_squares(
        {{0.1, 0.0, std::nullopt}, {0.9, 1.0, std::nullopt}, {2.1, 2.0, std::nullopt}});
    CHECK(fit.coefficients.gain == Approx(1.0));
    CHECK(fit.coefficients.offset == Approx(0.1 / 3.0));
    REQUIRE(fit.residuals.size() == 3);
    CHECK(fit.residuals[0] == Approx(0.2 / 3.0));
    CHECK(fit.residuals[1] == Approx(-0.4 / 3.0));
    CHECK(fit.residuals[2] == Approx(0.2 / 3.0));
    CHECK(fit.max_abs_residual == Approx(0.4 / 3.0));
    REQUIRE(fit.r_squared);
    CHECK(*fit.r_squared == Approx(0.98684).epsilon(1e-4));
}

// --- pH -------------------------------------------------------------------------------------

TEST_CASE("calibration: pH two-point at 25 °C uses temperature-corrected buffers",
          "[unit][calibration]") {
    // Probe reads 6.90 in 6.86 (6.864 at 25 °C) and 9.10 in 9.18 (9.182).
    // Slope = (9.10 − 6.90) / (9.182 − 6.864) = 2.20 / 2.318 = 94.91 % → below warn 95 %.
    // Reading at pH 7 = 6.90 + 0.9491 · 0.136 = 7.0291 → offset −0.0291 · 59.159 = −1.72 mV.
    const auto result = fit_ph({{"6.86", 25.0, 6.90}, {"9.18", 25.0, 9.10}}, BufferTable::ChineseGb,
                               PhLimits{}, false);
    REQUIRE(result.reference.size() == 2);
    CHECK(result.reference[0] == Approx(6.864));
    CHECK(result.reference[1] == Approx(9.182));
    CHECK(result.slope_pct_of_nernst == Approx(94.909).epsilon(1e-4));
    CHECK(result.offset_mv == Approx(-1.720).margin(0.001));
    CHECK(result.mean_temperature_degc == Approx(25.0));
    CHECK(result.table == "chinese-gb");
    // Coefficients invert the response: gain = 1/0.94909 = 1.05364.
    CHECK(result.coefficients.gain == Approx(1.053636).epsilon(1e-5));
    CHECK(result.coefficients.apply(6.90) == Approx(6.864));
    CHECK(result.coefficients.apply(9.10) == Approx(9.182));
    CHECK(result.verdict == Verdict::Warn);
    CHECK(any_message_contains(result.messages,
                               "slope 94.9 % of Nernst is below the warn limit 95 %"));
}

TEST_CASE("calibration: the same pH readings at 10 °C give a different slope",
          "[unit][calibration]") {
    // At 10 °C the buffers are 6.921 and 9.330: slope = 2.20 / 2.409 = 91.32 %, where nominal
    // 6.86/9.18 values would have claimed 2.20 / 2.32 = 94.8 %.
    const auto cold = fit_ph({{"6.86", 10.0, 6.90}, {"9.18", 10.0, 9.10}}, BufferTable::ChineseGb,
                             PhLimits{}, false);
    CHECK(cold.slope_pct_of_nernst == Approx(91.324).epsilon(1e-4));
    // Reading at pH 7 = 6.90 + 0.91324 · 0.079 = 6.97215 → offset +0.02785 · 56.183 = +1.565 mV.
    CHECK(cold.offset_mv == Approx(1.565).margin(0.001));
    CHECK(cold.slope_mv_per_ph == Approx(0.91324 * 56.183).epsilon(1e-4));
    CHECK(cold.verdict == Verdict::Warn);

    const auto warm = fit_ph({{"6.86", 25.0, 6.90}, {"9.18", 25.0, 9.10}}, BufferTable::ChineseGb,
                             PhLimits{}, false);
    CHECK(warm.slope_pct_of_nernst - cold.slope_pct_of_nernst == Approx(3.585).margin(0.002));
}

TEST_CASE("calibration: pH in mV mode", "[unit][calibration]") {
    // +177 mV in 4.00 (4.003 at 25 °C), 0 mV in 6.86 (6.864): slope = 177 / 2.861 = 61.866 mV/pH
    // = 104.58 % of 59.159 → above warn 102 %, below reject 105 %.
    // E(pH 7) = 0 − 61.866 · (7 − 6.864) = −8.41 mV → within ±15 mV.
    const auto result = fit_ph({{"6.86", 25.0, 0.0}, {"4.00", 25.0, 177.0}}, BufferTable::ChineseGb,
                               PhLimits{}, true);
    CHECK(result.slope_mv_per_ph == Approx(61.866).margin(0.001));
    CHECK(result.slope_pct_of_nernst == Approx(104.58).margin(0.01));
    CHECK(result.offset_mv == Approx(-8.414).margin(0.001));
    // pH = 7 + (offset_mv − E) / slope: gain −1/61.866, offset 7 − 8.414/61.866 = 6.864.
    CHECK(result.coefficients.gain == Approx(-1.0 / 61.866).epsilon(1e-5));
    CHECK(result.coefficients.offset == Approx(6.864));
    CHECK(result.coefficients.apply(177.0) == Approx(4.003));
    CHECK(result.verdict == Verdict::Warn);
    CHECK(any_message_contains(result.messages, "above the warn limit 102 %"));
}

TEST_CASE("calibration: a pH slope of 80 % is rejected", "[unit][calibration]") {
    // raw = 7 + 0.8 · (ref − 7): 4.003 → 4.6024, 9.182 → 8.7456. Slope exactly 80 %, offset 0.
    const auto result = fit_ph({{"4.00", 25.0, 4.6024}, {"9.18", 25.0, 8.7456}},
                               BufferTable::ChineseGb, PhLimits{}, false);
    CHECK(result.slope_pct_of_nernst == Approx(80.0));
    CHECK(result.offset_mv == Approx(0.0).margin(1e-9));
    CHECK(result.verdict == Verdict::Reject);
    CHECK(any_message_contains(result.messages,
                               "slope 80 % of Nernst is below the reject limit 85 %"));
}

TEST_CASE("calibration: a pH offset beyond 30 mV is rejected", "[unit][calibration]") {
    // 43.0 mV in 6.864, 212.3 mV in 4.003: slope 169.3 / 2.861 = 59.175 mV/pH = 100.03 %;
    // E(7) = 43.0 − 59.175 · 0.136 = 34.95 mV > 30 mV.
    const auto result = fit_ph({{"6.86", 25.0, 43.0}, {"4.00", 25.0, 212.3}},
                               BufferTable::ChineseGb, PhLimits{}, true);
    CHECK(result.slope_pct_of_nernst == Approx(100.03).margin(0.01));
    CHECK(result.offset_mv == Approx(34.95).margin(0.01));
    CHECK(result.verdict == Verdict::Reject);
    CHECK(any_message_contains(result.messages, "offset 35 mV at pH 7 exceeds the reject limit"));
    REQUIRE(result.messages.size() == 1);

    // Limits are configurable: a wider band accepts it with a warning.
    PhLimits relaxed;
    relaxed.reject_offset_mv = 40.0;
    CHECK(
        fit_ph({{"6.86", 25.0, 43.0}, {"4.00", 25.0, 212.3}}, BufferTable::ChineseGb, relaxed, true)
            .verdict == Verdict::Warn);
}

TEST_CASE("calibration: pH input errors", "[unit][calibration]") {
    CHECK_THROWS_WITH(fit_ph({{"6.86", 25.0, 6.9}}, BufferTable::ChineseGb),
                      Contains("at least 2 buffers"));
    CHECK_THROWS_WITH(fit_ph({{"6.86", 25.0, 6.9}, {"6.86", 25.0, 6.95}}, BufferTable::ChineseGb),
                      Contains("1 pH apart"));
    CHECK_THROWS_WITH(fit_ph({{"6.86", 25.0, 6.9}, {"10.01", 25.0, 9.9}}, BufferTable::ChineseGb),
                      Contains("\"10.01\""));
    PhPoint no_temperature;  // a forgotten temperature must not silently mean 25 °C
    no_temperature.buffer = "6.86";
    no_temperature.raw = 6.9;
    CHECK_THROWS_WITH(fit_ph({no_temperature, {"9.18", 25.0, 9.1}}, BufferTable::ChineseGb),
                      Contains("temperature"));
    PhLimits crossed;
    crossed.warn_slope_low_pct = 80.0;  // below the reject limit 85
    CHECK_THROWS_AS(
        fit_ph({{"6.86", 25.0, 6.9}, {"9.18", 25.0, 9.1}}, BufferTable::ChineseGb, crossed),
        std::invalid_argument);
}

TEST_CASE("calibration: three-buffer pH fit warns on a buffer that does not fit",
          "[unit][calibration]") {
    // Perfect at 4.003 and 9.182, but 0.1 pH high in 6.864.
    const auto result =
        fit_ph({{"4.00", 25.0, 4.003}, {"6.86", 25.0, 6.964}, {"9.18", 25.0, 9.182}},
               BufferTable::ChineseGb);
    REQUIRE(result.r_squared);
    CHECK(result.max_abs_residual > 0.05);
    CHECK(result.verdict == Verdict::Warn);
    CHECK(any_message_contains(result.messages, "largest residual"));
}

TEST_CASE("calibration: re-reading the first buffer passes or fails", "[unit][calibration]") {
    const auto result = fit_ph({{"6.86", 25.0, 6.90}, {"9.18", 25.0, 9.10}}, BufferTable::ChineseGb,
                               PhLimits{}, false);
    // Corrected = (6.91 − 0.38542) / 0.94909 = 6.87454 → 0.0105 pH above 6.864: pass.
    const auto good = recheck_ph(result, {"6.86", 25.0, 6.91}, BufferTable::ChineseGb);
    CHECK(good.reference_ph == Approx(6.864));
    CHECK(good.deviation_ph == Approx(0.01054).margin(1e-4));
    CHECK(good.ok);
    // 7.00 → 6.96936, 0.105 pH off: the electrode drifted, repeat the calibration.
    const auto bad = recheck_ph(result, {"6.86", 25.0, 7.00}, BufferTable::ChineseGb);
    CHECK(bad.deviation_ph == Approx(0.10536).margin(1e-4));
    CHECK_FALSE(bad.ok);
    CHECK_THROWS_WITH(recheck_ph(result, {"7.00", 25.0, 7.0}, BufferTable::Technical),
                      Contains("chinese-gb"));
}

// --- other sensors --------------------------------------------------------------------------

TEST_CASE("calibration: turbidity zero and span", "[unit][calibration]") {
    const auto zero_only = fit_turbidity_zero_span(0.3, std::nullopt);
    CHECK(zero_only.coefficients.gain == 1.0);
    CHECK(zero_only.coefficients.offset == Approx(-0.3));

    // Zero 0.3, 100 NTU formazin read as 95.3: gain 100 / 95.0 = 1.05263, offset −0.31579.
    const auto span = fit_turbidity_zero_span(0.3, TurbiditySpan{100.0, 95.3});
    CHECK(span.coefficients.gain == Approx(1.052632).epsilon(1e-6));
    CHECK(span.coefficients.offset == Approx(-0.315789).epsilon(1e-5));
    CHECK(span.coefficients.apply(95.3) == Approx(100.0));
    CHECK(span.verdict == Verdict::Pass);

    const auto inverted = fit_turbidity_zero_span(0.3, TurbiditySpan{100.0, 0.2});
    CHECK(inverted.verdict == Verdict::Reject);
    CHECK(inverted.coefficients.gain == 1.0);
    CHECK(any_message_contains(inverted.messages, "not above the zero reading"));
}

TEST_CASE("calibration: DO air calibration at 20 °C and 97.7 kPa", "[unit][calibration]") {
    // Saturation 8.757 mg/L; the probe reads 8.50 → gain 1.0303, offset 0.
    const auto result = fit_do_saturation(8.50, 20.0, 97.7, 0.0, std::nullopt);
    CHECK(result.saturation_mg_l == Approx(8.757).margin(0.001));
    CHECK(result.coefficients.gain == Approx(1.0303).margin(0.0001));
    CHECK(result.coefficients.offset == 0.0);
    CHECK(result.verdict == Verdict::Pass);

    // With a sulfite zero reading 0.2: two-point, gain 8.757 / 8.3 = 1.0551, offset −0.211.
    const auto zeroed = fit_do_saturation(8.50, 20.0, 97.7, 0.0, 0.2);
    CHECK(zeroed.coefficients.gain == Approx(1.05508).margin(0.0001));
    CHECK(zeroed.coefficients.apply(0.2) == Approx(0.0).margin(1e-12));
    CHECK(zeroed.coefficients.apply(8.50) == Approx(zeroed.saturation_mg_l));

    // A probe reading 4.0 would need gain 2.19: membrane in trouble.
    const auto failed = fit_do_saturation(4.0, 20.0, 97.7, 0.0, std::nullopt);
    CHECK(failed.verdict == Verdict::Reject);
    CHECK(any_message_contains(failed.messages, "above the reject limit 2"));
    // Gain 8.757 / 7.5 = 1.168: inside 0.8-1.25. 8.757 / 6.8 = 1.288: warn.
    CHECK(fit_do_saturation(7.5, 20.0, 97.7, 0.0, std::nullopt).verdict == Verdict::Pass);
    CHECK(fit_do_saturation(6.8, 20.0, 97.7, 0.0, std::nullopt).verdict == Verdict::Warn);
}

TEST_CASE("calibration: conductivity cell with and without temperature compensation",
          "[unit][calibration]") {
    // Compensated probe reads 1450 in 1413 µS/cm: gain 1413 / 1450 = 0.97448.
    const auto compensated = fit_conductivity_cell(1413.0, 1450.0, 20.0, 0.0191, true);
    CHECK(compensated.reference_us_cm == 1413.0);
    CHECK(compensated.coefficients.gain == Approx(0.974483).epsilon(1e-6));
    CHECK(compensated.verdict == Verdict::Pass);

    // Uncompensated at 20 °C: the standard is 1278.06 µS/cm; raw 1250 → gain 1.02245.
    const auto raw = fit_conductivity_cell(1413.0, 1250.0, 20.0, 0.0191, false);
    CHECK(raw.reference_us_cm == Approx(1278.0585));
    CHECK(raw.coefficients.gain == Approx(1.022447).epsilon(1e-6));
    CHECK(raw.verdict == Verdict::Pass);

    // 1413 / 2000 = 0.7065: warn; 1413 / 2100 = 0.673: reject.
    CHECK(fit_conductivity_cell(1413.0, 2000.0, 25.0, 0.0191, true).verdict == Verdict::Warn);
    const auto fouled = fit_conductivity_cell(1413.0, 2100.0, 25.0, 0.0191, true);
    CHECK(fouled.verdict == Verdict::Reject);
    CHECK(any_message_contains(fouled.messages, "below the reject limit 0.7"));
}

TEST_CASE("calibration: flow zero and level against a staff gauge", "[unit][calibration]") {
    const auto flow = fit_zero(0.012);
    CHECK(flow.coefficients.gain == 1.0);
    CHECK(flow.coefficients.offset == Approx(-0.012));

    const auto one = fit_level({{1.25, 1.20, std::nullopt}});
    CHECK(one.coefficients.offset == Approx(0.05));

    // Gauge 0.5/1.0/1.5 m, transmitter 0.45/0.95/1.45 m: offset 0.05, residuals 0.
    const auto good = fit_level(
        {{0.5, 0.45, std::nullopt}, {1.0, 0.95, std::nullopt}, {1.5, 1.45, std::nullopt}});
    CHECK(good.coefficients.gain == Approx(1.0));
    CHECK(good.coefficients.offset == Approx(0.05));
    CHECK(good.verdict == Verdict::Pass);

    // Gauge read 1.03 m in the middle: Sxx = 0.5, Sxy = 0.5 → gain 1, offset 1.01 − 0.95 = 0.06;
    // residuals −0.01, +0.02, −0.01 → warn at 0.01 m, pass at 0.025 m.
    const std::vector<CalibrationPoint> scattered{
        {0.5, 0.45, std::nullopt}, {1.03, 0.95, std::nullopt}, {1.5, 1.45, std::nullopt}};
    const auto warned = fit_level(scattered);
    CHECK(warned.max_abs_residual == Approx(0.02));
    CHECK(warned.verdict == Verdict::Warn);
    CHECK(fit_level(scattered, 0.025).verdict == Verdict::Pass);
}

TEST_CASE("calibration: bin distances", "[unit][calibration]") {
    const auto good = fit_bin(1100.0, 200.0);
    CHECK(good.verdict == Verdict::Pass);
    CHECK(good.empty_mm == 1100.0);
    CHECK(good.full_mm == 200.0);

    const auto swapped = fit_bin(250.0, 300.0);
    CHECK(swapped.verdict == Verdict::Reject);
    CHECK(any_message_contains(swapped.messages, "shorter than the empty distance"));
    CHECK(fit_bin(250.0, 250.0).verdict == Verdict::Reject);
    CHECK(fit_bin(1100.0, 0.0).verdict == Verdict::Reject);
    CHECK(to_string(Verdict::Reject) == std::string("reject"));
}
