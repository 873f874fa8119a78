// SPDX-License-Identifier: Apache-2.0
// towngw CLI: command-line parsing into structs, the control requests built from them, and the
// human output formatted from the daemon's answers (firmware-gateway/cli/cli_args.hpp,
// cli_format.hpp). The commands themselves run against a daemon in the integration tests.
#include <catch2/catch.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "cli_args.hpp"
#include "cli_common.hpp"
#include "cli_format.hpp"

using namespace gw::cli;
using Catch::Matchers::Contains;
using Args = std::vector<std::string>;

namespace {
/// The message of the UsageError `f` throws ("" if it does not throw one).
template <typename F>
std::string usage_error_of(F f) {
    try {
        f();
    } catch (const UsageError& e) {
        return e.what();
    }
    return {};
}
}  // namespace

// --- numbers ------------------------------------------------------------------------------------

TEST_CASE("cli: numbers are whole-string decimals", "[unit][cli]") {
    CHECK(parse_number("18.5") == Approx(18.5));
    CHECK(parse_number("-0.3") == Approx(-0.3));
    CHECK(parse_number("1e3") == Approx(1000.0));
    CHECK_FALSE(parse_number(""));
    CHECK_FALSE(parse_number("18,5"));
    CHECK_FALSE(parse_number("12abc"));
    CHECK_FALSE(parse_number(" 12"));
    CHECK_FALSE(parse_number("nan"));
    CHECK_FALSE(parse_number("inf"));
    CHECK_FALSE(parse_number("1e999"));
}

// --- towngw calibrate ---------------------------------------------------------------------------

TEST_CASE("cli: calibrate keeps the points in order, --temp belongs to the preceding --buffer",
          "[unit][cli]") {
    const auto a = parse_calibrate_args(
        {"water1.ph",    "--buffers",       "gb",       "--buffer",      "6.86", "--temp",
         "18.5",         "--lot",           "B2311",    "--buffer",      "4.00", "--temp",
         "18.7",         "--verify-buffer", "6.86",     "--verify-temp", "18.6", "--commit",
         "--technician", "li.wei",          "--reason", "scheduled"});
    CHECK(a.sensor == "water1.ph");
    CHECK(a.buffers == "gb");
    REQUIRE(a.points.size() == 2);
    CHECK(a.points[0].kind == PointArg::Kind::Buffer);
    CHECK(a.points[0].name == "6.86");
    CHECK(*a.points[0].temperature_degc == Approx(18.5));
    CHECK(a.points[0].lot == "B2311");
    CHECK(a.points[1].name == "4.00");
    CHECK(*a.points[1].temperature_degc == Approx(18.7));
    REQUIRE(a.verify);
    CHECK(a.verify->buffer == "6.86");
    CHECK(*a.verify->temperature_degc == Approx(18.6));
    CHECK(a.commit);
    CHECK(a.scripted());

    const json point = point_request("c-17", a.points[0], a);
    CHECK(point == json{{"cmd", "calibration.point"},
                        {"session", "c-17"},
                        {"buffer", "6.86"},
                        {"temperature_degc", 18.5},
                        {"standard", {{"lot", "B2311"}}}});
    CHECK(verify_request("c-17", *a.verify) == json{{"cmd", "calibration.verify"},
                                                    {"session", "c-17"},
                                                    {"buffer", "6.86"},
                                                    {"temperature_degc", 18.6}});
    const json begin = begin_request(a, "liwei");
    CHECK(begin["technician"] == "li.wei");
    CHECK(begin["unix_user"] == "liwei");
    CHECK(begin["buffers"] == "gb");
    CHECK(begin["reason"] == "scheduled");
    CHECK_FALSE(begin.contains("takeover"));
}

TEST_CASE("cli: calibrate without --technician sends the Unix user", "[unit][cli]") {
    const auto a = parse_calibrate_args({"water1.ph"});
    CHECK_FALSE(a.scripted());
    const json begin = begin_request(a, "liwei");
    CHECK(begin["technician"] == "liwei");
    CHECK(begin["unix_user"] == "liwei");
    CHECK_FALSE(begin.contains("buffers"));
}

TEST_CASE("cli: calibrate point options of the other models", "[unit][cli]") {
    SECTION("turbidity zero and span, forced") {
        const auto a =
            parse_calibrate_args({"river1.turbidity", "--point", "0", "--point", "100", "--force"});
        REQUIRE(a.points.size() == 2);
        CHECK(point_request("c-1", a.points[1], a) == json{{"cmd", "calibration.point"},
                                                           {"session", "c-1"},
                                                           {"reference", 100.0},
                                                           {"force", true}});
    }
    SECTION("dissolved oxygen: --temp alone is a saturation point with the pressure") {
        const auto a = parse_calibrate_args({"pond1.do", "--temp", "21.3", "--pressure", "92.4"});
        REQUIRE(a.points.size() == 1);
        CHECK(a.points[0].kind == PointArg::Kind::Saturation);
        const json req = point_request("c-2", a.points[0], a);
        CHECK(req["temperature_degc"] == 21.3);
        CHECK(req["pressure_kpa"] == 92.4);
        CHECK_FALSE(req.contains("buffer"));
    }
    SECTION("conductivity KCl standard") {
        const auto a = parse_calibrate_args({"cond1", "--kcl", "1413", "--temp", "22"});
        const json req = point_request("c-3", a.points.at(0), a);
        CHECK(req["kcl"] == "1413");
        CHECK(req["temperature_degc"] == 22.0);
    }
    SECTION("bin: empty measured, full given on commit") {
        const auto a =
            parse_calibrate_args({"bin1.fill", "--position", "empty", "--full-mm", "300"});
        CHECK(point_request("c-4", a.points.at(0), a)["position"] == "empty");
        CHECK(commit_request("c-4", a) ==
              json{{"cmd", "calibration.commit"}, {"session", "c-4"}, {"full_mm", 300.0}});
    }
}

TEST_CASE("cli: a bad calibrate command line names the argument and what was expected",
          "[unit][cli]") {
    CHECK_THAT(usage_error_of([] {
                   parse_calibrate_args({"water1.ph", "--buffer", "6.86"});
               }),
               Contains("--buffer 6.86 needs the buffer temperature") && Contains("--temp"));
    CHECK_THAT(usage_error_of([] {
                   parse_calibrate_args({"water1.ph", "--buffer", "6.86", "--temp", "abc"});
               }),
               Contains("--temp: \"abc\" is not a number") && Contains("°C"));
    CHECK_THAT(usage_error_of([] {
                   parse_calibrate_args({"x", "--point", "1,5"});
               }),
               Contains("--point: \"1,5\" is not a number"));
    CHECK_THAT(usage_error_of([] {
                   parse_calibrate_args({"x", "--point"});
               }),
               Contains("--point needs a value"));
    CHECK_THAT(usage_error_of([] {
                   parse_calibrate_args({"x", "--buffers", "din"});
               }),
               Contains("gb, nist or technical"));
    CHECK_THAT(usage_error_of([] {
                   parse_calibrate_args({"x", "--kcl", "1400", "--temp", "25"});
               }),
               Contains("1413, 12880 or 146.5"));
    CHECK_THAT(usage_error_of([] {
                   parse_calibrate_args({"x", "--commit", "--dry-run"});
               }),
               Contains("not both"));
    CHECK_THAT(usage_error_of([] {
                   parse_calibrate_args({"x", "--frobnicate"});
               }),
               Contains("unknown option \"--frobnicate\""));
    CHECK_THAT(usage_error_of([] {
                   parse_calibrate_args({"a", "b"});
               }),
               Contains("one sensor at a time"));
    CHECK_THAT(usage_error_of([] { parse_calibrate_args({"--commit"}); }),
               Contains("which sensor?"));
    CHECK_THAT(usage_error_of([] {
                   parse_calibrate_args({"x", "--lot", "B1"});
               }),
               Contains("after the standard"));
    CHECK_THAT(usage_error_of([] {
                   parse_calibrate_args({"x", "--buffer", "6.86", "--temp", "20", "--temp", "21"});
               }),
               Contains("already has a temperature"));
    CHECK_THAT(usage_error_of([] {
                   parse_calibrate_args({"x", "--verify-buffer", "6.86"});
               }),
               Contains("--verify-temp"));
    // --help needs no sensor.
    CHECK(parse_calibrate_args({"--help"}).common.help);
}

// --- towngw read, calibration -------------------------------------------------------------------

TEST_CASE("cli: read arguments", "[unit][cli]") {
    const auto a = parse_read_args({"water1.ph", "--samples", "30", "--raw", "--json"});
    CHECK(a.sensor == "water1.ph");
    CHECK(a.samples == 30);
    CHECK(a.raw);
    CHECK(a.common.json);
    CHECK_FALSE(a.follow);
    CHECK_THAT(usage_error_of([] {
                   parse_read_args({"x", "--samples", "abc"});
               }),
               Contains("--samples: \"abc\" is not a whole number from 1 to 120"));
    CHECK_THAT(usage_error_of([] {
                   parse_read_args({"x", "--samples", "500"});
               }),
               Contains("out of range"));
    CHECK_THAT(usage_error_of([] {
                   parse_read_args({"x", "--samples", "2.5"});
               }),
               Contains("not a whole number"));
    CHECK_THAT(usage_error_of([] { parse_read_args({}); }), Contains("which sensor?"));
    CHECK_THAT(usage_error_of([] {
                   parse_read_args({"x", "--socket", "a", "--config", "b"});
               }),
               Contains("not both"));
}

TEST_CASE("cli: maintenance arguments", "[unit][cli]") {
    using Action = MaintenanceArgs::Action;
    CHECK(parse_maintenance_args({}).action == Action::List);
    CHECK(parse_maintenance_args({"list", "--json"}).common.json);
    const auto start = parse_maintenance_args(
        {"start", "outfall.cod", "--minutes", "90", "-t", "li", "--reason", "reagent change"});
    CHECK(start.action == Action::Start);
    CHECK(start.sensor == "outfall.cod");
    CHECK(start.minutes == 90);
    CHECK(start.technician == "li");
    CHECK(start.reason == "reagent change");
    CHECK(parse_maintenance_args({"start", "x"}).minutes == 60);  // the default
    const auto end = parse_maintenance_args({"end", "outfall.cod"});
    CHECK(end.action == Action::End);
    CHECK(end.sensor == "outfall.cod");
    CHECK_THAT(usage_error_of([] { parse_maintenance_args({"start"}); }),
               Contains("which sensor?"));
    CHECK_THAT(usage_error_of([] {
                   parse_maintenance_args({"begin", "x"});
               }),
               Contains("\"begin\" is not an action"));
    CHECK_THAT(usage_error_of([] {
                   parse_maintenance_args({"list", "x"});
               }),
               Contains("takes no sensor"));
    CHECK_THAT(usage_error_of([] {
                   parse_maintenance_args({"start", "x", "--minutes", "0"});
               }),
               Contains("out of range"));
    CHECK_THAT(usage_error_of([] {
                   parse_maintenance_args({"start", "x", "y"});
               }),
               Contains("one sensor at a time"));
    CHECK_THAT(usage_error_of([] {
                   parse_maintenance_args({"start", "x", "--for", "3"});
               }),
               Contains("unknown option \"--for\""));
    CHECK(parse_maintenance_args({"--help"}).common.help);
}

TEST_CASE("cli: calibration show|history|export|rollback arguments", "[unit][cli]") {
    const auto r = parse_calibration_args(
        {"rollback", "water1.ph", "--technician", "li.wei", "--reason", "cracked", "--yes"});
    CHECK(r.action == "rollback");
    CHECK(r.sensor == "water1.ph");
    CHECK(r.technician == "li.wei");
    CHECK(r.reason == "cracked");
    CHECK(r.yes);
    CHECK(parse_calibration_args({"export"}).sensor.empty());
    CHECK_THAT(usage_error_of([] { parse_calibration_args({"show"}); }), Contains("which sensor?"));
    CHECK_THAT(usage_error_of([] {
                   parse_calibration_args({"delete", "x"});
               }),
               Contains("not show, history, export or rollback"));
    CHECK_THAT(usage_error_of([] {
                   parse_calibration_args({"show", "x", "--reason", "r"});
               }),
               Contains("rollback only"));
}

// --- formatting -------------------------------------------------------------------------------

TEST_CASE("cli: the stability line", "[unit][cli]") {
    CHECK(stability_text({{"drift_per_min", 0.012}, {"limit_per_min", 0.05}, {"stable", true}},
                         "pH") == "drift 0.012 pH/min (limit 0.05): STABLE");
    CHECK(stability_text({{"drift_per_min", 0.2}, {"limit_per_min", 0.05}, {"stable", false}},
                         "pH") == "drift 0.200 pH/min (limit 0.05): UNSTABLE");
    // Without "stable" the limit decides; decimals follow the limit's size.
    CHECK(stability_text({{"drift_per_min", 3.54}, {"limit_per_min", 14.13}}, "µS/cm") ==
          "drift 3.5 µS/cm/min (limit 14.13): STABLE");
    CHECK_THAT(stability_text(json::object(), "pH"), Contains("collecting samples"));
    // Fewer than 10 s of samples: not judged yet, whatever the drift says.
    CHECK(stability_text(
              {{"drift_per_min", 0.0}, {"limit_per_min", 0.05}, {"span_s", 4.2}, {"stable", false}},
              "pH") == "drift -: collecting samples (4 of 10 s)");
    CHECK_THAT(stability_text({{"drift_per_min", nullptr}, {"limit_per_min", 0.05}}, "pH"),
               Contains("collecting samples"));
}

TEST_CASE("cli: the calibration column of towngw sensors", "[unit][cli]") {
    const json valid{
        {"calibration", {{"state", "valid"}, {"version", 3}, {"due_at", "2026-12-20T02:10:00Z"}}}};
    CHECK(calibration_text(valid) == "v3 valid until 2026-12-20");
    CHECK(calibration_text({{"calibration", {{"state", "factory"}}}}) == "factory");
    CHECK(calibration_text(
              {{"calibration",
                {{"state", "expired"}, {"version", 2}, {"due_at", "2026-10-01T00:00:00Z"}}}}) ==
          "v2 EXPIRED since 2026-10-01");
    json calibrating = valid;
    calibrating["calibrating"] = true;
    CHECK(calibration_text(calibrating) == "CALIBRATING");
    CHECK(calibration_text(json::object()) == "-");
}

TEST_CASE("cli: the sensors table fits a phone", "[unit][cli]") {
    const json sensors =
        json::array({{{"id", "water1.ph"},
                      {"device", "water1"},
                      {"unit", "pH"},
                      {"last", 7.12},
                      {"quality", "good"},
                      {"calibration",
                       {{"state", "valid"}, {"version", 3}, {"due_at", "2026-12-20T02:10:00Z"}}}},
                     {{"id", "river1.turbidity"},
                      {"device", "river1"},
                      {"unit", "NTU"},
                      {"last", nullptr},
                      {"quality", "offline"},
                      {"calibration", {{"state", "factory"}}}}});
    const auto lines = sensors_table(sensors);
    REQUIRE(lines.size() == 3);
    CHECK_THAT(lines[0], Contains("SENSOR") && Contains("CALIBRATION"));
    CHECK_THAT(lines[1],
               Contains("water1.ph") && Contains("7.12") && Contains("v3 valid until 2026-12-20"));
    CHECK_THAT(lines[2], Contains("river1.turbidity") && Contains(" - ") && Contains("factory"));
    for (const auto& line : lines) CHECK(line.size() <= 80);
    // Columns line up: the calibration column starts at the same place on every line.
    CHECK(lines[0].find("CALIBRATION") == lines[1].find("v3 valid"));
}

TEST_CASE("cli: preview, verification, record and chain texts", "[unit][cli]") {
    const json preview{{"coefficients", {{"gain", 1.0123}, {"offset", -0.041}}},
                       {"residuals", {0.001, -0.001}},
                       {"slope_pct_of_nernst", 94.1},
                       {"slope_mv_per_ph", 55.67},
                       {"offset_mv", 2.4},
                       {"verdict", "warn"},
                       {"reasons", {"slope 94.1 % of Nernst is below 95 %"}}};
    const auto lines = preview_lines(preview, "pH");
    std::string text;
    for (const auto& line : lines) text += line + "\n";
    CHECK_THAT(text, Contains("gain 1.0123") && Contains("offset -0.041") &&
                         Contains("slope 94.1 % of Nernst (55.67 mV/pH)") &&
                         Contains("offset +2.4 mV at pH 7") && Contains("verdict: WARN") &&
                         Contains("- slope 94.1 % of Nernst is below 95 %"));
    CHECK(verdict_of(preview) == "warn");

    CHECK(verification_text({{"reference", 6.878},
                             {"calibrated", 6.881},
                             {"deviation", 0.003},
                             {"tolerance", 0.05},
                             {"passed", true}}) ==
          "verification: standard 6.878, reads 6.881, deviation +0.003 (tolerance 0.05): PASSED");

    const json entry{{"id", 4},
                     {"record", json{{"version", 3},
                                     {"time", "2026-11-20T02:10:00Z"},
                                     {"technician", "li.wei"},
                                     {"model", "ph"},
                                     {"verdict", "pass"},
                                     {"before", {{"gain", 1.0}, {"offset", 0.0}}},
                                     {"after", {{"gain", 1.0123}, {"offset", -0.041}}}}
                                    .dump()}};
    const auto record = record_lines(entry);
    REQUIRE(record.size() >= 2);
    CHECK(record[0] == "v3  2026-11-20 02:10 UTC  li.wei  ph  PASS");
    CHECK_THAT(record[1], Contains("gain 1 → 1.0123") && Contains("offset 0 → -0.041"));

    CHECK(chain_text({{"ok", true}, {"entries", 12}}) == "hash chain: ok (12 entries)");
    CHECK(chain_text({{"ok", false}, {"first_bad_id", 7}, {"problem", "hash mismatch"}}) ==
          "HASH CHAIN BROKEN at entry 7: hash mismatch");
}

TEST_CASE("cli: sample and live lines", "[unit][cli]") {
    const json sample{{"time", "2026-11-29T05:20:01.250Z"},
                      {"measured", 7.05},
                      {"value", 7.12},
                      {"quality", "good"}};
    CHECK(time_of_day("2026-11-29T05:20:01.250Z") == "05:20:01.250");
    CHECK_THAT(sample_line(sample, false),
               Contains("05:20:01.250") && Contains("7.12") && !Contains("7.05"));
    CHECK_THAT(sample_line(sample, true), Contains("7.12") && Contains("7.05"));
    const json read{
        {"samples", {sample}},
        {"stability", {{"drift_per_min", 0.012}, {"limit_per_min", 0.05}, {"stable", true}}}};
    CHECK(live_line(read, "pH") == "  7.05 pH   drift 0.012 pH/min (limit 0.05): STABLE");
    CHECK_THAT(live_line({{"samples", json::array()}}, "pH"), Contains("waiting"));
}

TEST_CASE("cli: RFC 3339 times to milliseconds", "[unit][cli]") {
    CHECK(rfc3339_ms("1970-01-01T00:00:00Z") == 0);
    CHECK(rfc3339_ms("2026-11-29T05:20:01.250Z") == 1795929601250);
    CHECK(rfc3339_ms("2026-11-29T05:20:01.25Z") == 1795929601250);
    CHECK(rfc3339_ms("2026-11-29T05:20:01Z") == 1795929601000);
    CHECK(rfc3339_ms("2026-11-29T13:20:01.250+08:00") == 1795929601250);
    CHECK(rfc3339_ms("2000-02-29T00:00:00Z") == 951782400000);
    CHECK_FALSE(rfc3339_ms(""));
    CHECK_FALSE(rfc3339_ms("2026-11-29 05:20"));
    CHECK_FALSE(rfc3339_ms("2026-11-29T05:20:01"));
    CHECK_FALSE(rfc3339_ms("2026-13-29T05:20:01Z"));
    CHECK_FALSE(rfc3339_ms("2026-11-29T05:20:01.Z"));
    CHECK_FALSE(rfc3339_ms("2026-11-29T05:20:01Zjunk"));
}

TEST_CASE("cli: script mode records the next standard only once the probe is in it",
          "[unit][cli]") {
    // pH: half a pH unit, whatever the stability limit; mV probes 30 mV; others 1 % or 0.001.
    CHECK(movement_threshold("ph", "pH", 6.91) == Approx(0.5));
    CHECK(movement_threshold("ph", "mV", 12.0) == Approx(30.0));
    CHECK(movement_threshold("turbidity", "NTU", 98.0) == Approx(0.98));
    CHECK(movement_threshold("turbidity", "NTU", 0.02) == Approx(0.001));
    CHECK(movement_threshold("bin", "mm", -1200.0) == Approx(12.0));

    // Samples every 250 ms: the probe went from 6.91 to 9.15 at second 5.
    const auto samples_until = [](int last_ms) {
        json samples = json::array();
        for (int t = 0; t <= last_ms; t += 250) {
            char time[64];
            std::snprintf(time, sizeof time, "2026-11-29T05:20:%02d.%03dZ", t / 1000, t % 1000);
            samples.push_back({{"time", time},
                               {"measured", t < 5000 ? 6.91 : 9.15},
                               {"value", 0.0},
                               {"quality", "good"}});
        }
        return samples;
    };
    const Movement before = movement_since(samples_until(4750), 6.91, 0.5, 10.0, 250);
    CHECK_FALSE(before.newest);
    CHECK_FALSE(before.window);
    const Movement settling = movement_since(samples_until(9000), 6.91, 0.5, 10.0, 250);
    CHECK(settling.newest);
    CHECK_FALSE(settling.window);  // 6.91 is still in the last 10 s
    const Movement in_next = movement_since(samples_until(15000), 6.91, 0.5, 10.0, 250);
    CHECK(in_next.newest);
    CHECK(in_next.window);
    // A jump of less than the threshold is not a move.
    CHECK_FALSE(movement_since(samples_until(15000), 9.0, 0.5, 10.0, 250).newest);

    // Samples that are not good are skipped, as the daemon skips them.
    json with_bad = samples_until(15000);
    with_bad[with_bad.size() - 30]["measured"] = 6.91;
    with_bad[with_bad.size() - 30]["quality"] = "stale";
    CHECK(movement_since(with_bad, 6.91, 0.5, 10.0, 250).window);
    with_bad[with_bad.size() - 30]["quality"] = "good";
    CHECK_FALSE(movement_since(with_bad, 6.91, 0.5, 10.0, 250).window);

    // Without readable times: the last 10 s / poll_ms samples.
    json untimed = samples_until(9000);
    for (auto& s : untimed) s.erase("time");
    CHECK_FALSE(movement_since(untimed, 6.91, 0.5, 10.0, 250).window);
    CHECK(movement_since(untimed, 6.91, 0.5, 3.0, 250).window);
    CHECK_FALSE(movement_since(json::array(), 6.91, 0.5, 10.0, 250).newest);
}
