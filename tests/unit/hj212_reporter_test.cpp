// SPDX-License-Identifier: Apache-2.0
// HJ 212 reporter (hj212/reporter.hpp): DataTime and number formatting, minute records with the
// water flag rule, Appendix D flow volume and load, hourly/daily rollups, 2011 boundaries and
// staleness, catch-up after a gap, platform interval changes and state persistence. Every
// expected value is computed by hand in the comment next to it. Local time is UTC+8.
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "hj212/reporter.hpp"

using namespace gw::hj212;
using gw::Reading;
using gw::SampleQuality;

namespace {

constexpr std::int64_t kSec = 1000;
constexpr std::int64_t kMin = 60 * kSec;

/// Unix ms of a local (UTC+8) DataTime.
std::int64_t at(const char* local) {
    return *parse_data_time(local, 480);
}

Reading reading(std::size_t sensor, std::int64_t t_ms, double value,
                SampleQuality quality = SampleQuality::Good, bool calibrating = false) {
    Reading r;
    r.sensor_index = sensor;
    r.value = value;
    r.quality = quality;
    r.calibrating = calibrating;
    r.sampled_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(t_ms));
    return r;
}

ReportPollutant ph() {
    ReportPollutant p;
    p.code = "w01001";
    p.sensor_index = 0;
    return p;
}

ReportPollutant flow() {
    ReportPollutant p;
    p.code = "w00000";
    p.sensor_index = 1;
    p.is_flow = true;
    return p;
}

ReportPollutant cod() {
    ReportPollutant p;
    p.code = "w01018";
    p.sensor_index = 2;
    p.has_load = true;
    return p;
}

/// Only 2051 unless a test turns more on.
ReporterConfig config(std::vector<ReportPollutant> pollutants) {
    ReporterConfig c;
    c.pollutants = std::move(pollutants);
    c.realtime_interval_s = 0;
    c.hourly = false;
    c.daily = false;
    return c;
}

/// Feeds one sensor every `step` ms over [from, to) with a constant value.
void feed(Reporter& r, std::size_t sensor, std::int64_t from, std::int64_t to, std::int64_t step,
          double value) {
    for (std::int64_t t = from; t < to; t += step) r.on_reading(reading(sensor, t, value));
}

}  // namespace

TEST_CASE("hj212 reporter formats and parses DataTime in local time", "[unit][hj212-reporter]") {
    // 2026-08-01 00:40:00 UTC = 1785544800000 ms; +8 h -> 08:40:00 local.
    CHECK(format_data_time(1785544800000, 480) == "20260801084000");
    CHECK(format_data_time(1785544800999, 480) == "20260801084000");  // ms truncated
    // 2026-07-31 20:00 UTC is already 2026-08-01 04:00 local.
    CHECK(format_data_time(1785544800000 - 4 * 3600 * kSec - 40 * kMin, 480) == "20260801040000");
    CHECK(format_data_time(0, 0) == "19700101000000");
    CHECK(parse_data_time("20260801084000", 480) == std::optional<std::int64_t>(1785544800000));
    CHECK(parse_data_time("20260801084000123", 480) == std::optional<std::int64_t>(1785544800123));
    CHECK(parse_data_time("20240229120000", 480).has_value());  // leap year
    CHECK_FALSE(parse_data_time("20250229120000", 480));        // not a leap year
    CHECK_FALSE(parse_data_time("20260230000000", 480));        // Feb 30
    CHECK_FALSE(parse_data_time("20260431000000", 480));        // Apr 31
    CHECK_FALSE(parse_data_time("20261301000000", 480));        // month 13
    CHECK_FALSE(parse_data_time("20260801240000", 480));        // hour 24
    CHECK_FALSE(parse_data_time("20260801086000", 480));        // minute 60
    CHECK_FALSE(parse_data_time("2026080108400", 480));         // 13 digits
    CHECK_FALSE(parse_data_time("2026080108400x", 480));
    CHECK_FALSE(parse_data_time("202608010840001", 480));  // 15 digits
    CHECK_FALSE(parse_data_time("", 480));
}

TEST_CASE("hj212 reporter format_number", "[unit][hj212-reporter]") {
    CHECK(format_number(7.1, 2) == "7.10");
    CHECK(format_number(6.0, 3) == "6.000");
    CHECK(format_number(0.3, 4) == "0.3000");
    CHECK(format_number(-1.25, 1) == "-1.2");  // 1.25 is exact: round-half-even
    CHECK(format_number(-0.001, 2) == "0.00");
    CHECK(format_number(-0.0, 2) == "0.00");
    CHECK(format_number(-0.4, 0) == "0");
    CHECK(format_number(1e20, 0) == "100000000000000000000");
    CHECK(format_number(123.456, 0) == "123");
}

TEST_CASE("hj212 reporter minute record of three pH readings", "[unit][hj212-reporter]") {
    Reporter r(config({ph()}));
    r.on_reading(reading(0, at("20260801084100"), 7.1));
    r.on_reading(reading(0, at("20260801084300"), 7.3));
    r.on_reading(reading(0, at("20260801084500"), 7.2));
    CHECK(r.on_tick(at("20260801084959")).empty());
    const auto frames = r.on_tick(at("20260801085000"));
    REQUIRE(frames.size() == 1);
    CHECK(frames[0].cn == "2051");
    CHECK(frames[0].data_time_ms == at("20260801084000"));
    // Min 7.1, Max 7.3, Avg (7.1 + 7.3 + 7.2) / 3 = 7.2.
    CHECK(frames[0].cp ==
          "DataTime=20260801084000;w01001-Min=7.10,w01001-Avg=7.20,w01001-Max=7.30,"
          "w01001-Flag=N");
}

TEST_CASE("hj212 reporter interval flags follow the water rule", "[unit][hj212-reporter]") {
    Reporter r(config({ph()}));
    const std::int64_t t0 = at("20260801084000");
    SECTION("a calibrating reading gives C, values from the good readings") {
        r.on_reading(reading(0, t0 + 1 * kMin, 7.1));
        r.on_reading(reading(0, t0 + 2 * kMin, 9.9, SampleQuality::Good, true));
        r.on_reading(reading(0, t0 + 3 * kMin, 7.3));
        const auto f = r.on_tick(t0 + 10 * kMin);
        REQUIRE(f.size() == 1);
        // 9.9 is not good: Min 7.1, Avg 7.2, Max 7.3.
        CHECK(f[0].cp ==
              "DataTime=20260801084000;w01001-Min=7.10,w01001-Avg=7.20,w01001-Max=7.30,"
              "w01001-Flag=C");
    }
    SECTION("a comm error gives B and keeps the good values") {
        r.on_reading(reading(0, t0 + 1 * kMin, 7.1));
        r.on_reading(reading(0, t0 + 2 * kMin, 0.0, SampleQuality::CommError));
        r.on_reading(reading(0, t0 + 3 * kMin, 7.3));
        const auto f = r.on_tick(t0 + 10 * kMin);
        REQUIRE(f.size() == 1);
        // Avg (7.1 + 7.3) / 2 = 7.2.
        CHECK(f[0].cp ==
              "DataTime=20260801084000;w01001-Min=7.10,w01001-Avg=7.20,w01001-Max=7.30,"
              "w01001-Flag=B");
    }
    SECTION("priority C > D > T > B") {
        r.on_reading(reading(0, t0 + 1 * kMin, 7.0));
        r.on_reading(reading(0, t0 + 2 * kMin, 0.0, SampleQuality::CommError));   // B
        r.on_reading(reading(0, t0 + 3 * kMin, 20.0, SampleQuality::OverRange));  // T
        r.on_reading(reading(0, t0 + 4 * kMin, 0.0, SampleQuality::CommError));   // B
        const auto f = r.on_tick(t0 + 10 * kMin);
        REQUIRE(f.size() == 1);
        CHECK(f[0].cp ==
              "DataTime=20260801084000;w01001-Min=7.00,w01001-Avg=7.00,w01001-Max=7.00,"
              "w01001-Flag=T");
    }
    SECTION("no readings at all: only Flag=B") {
        CHECK(r.on_tick(t0).empty());  // the first tick opens 08:40
        const auto f = r.on_tick(t0 + 10 * kMin);
        REQUIRE(f.size() == 1);
        CHECK(f[0].cp == "DataTime=20260801084000;w01001-Flag=B");
    }
    SECTION("only abnormal readings: the most frequent flag, ties by priority") {
        r.on_reading(reading(0, t0 + 1 * kMin, 0.0, SampleQuality::InstrumentFault));  // D
        r.on_reading(reading(0, t0 + 2 * kMin, 0.0, SampleQuality::CommError));        // B
        r.on_reading(reading(0, t0 + 3 * kMin, 0.0, SampleQuality::CommError));        // B
        r.on_reading(reading(0, t0 + 11 * kMin, 0.0, SampleQuality::CommError));       // B
        r.on_reading(reading(0, t0 + 12 * kMin, 20.0, SampleQuality::OverRange));      // T
        const auto f = r.on_tick(t0 + 20 * kMin);
        REQUIRE(f.size() == 2);
        CHECK(f[0].cp == "DataTime=20260801084000;w01001-Flag=B");  // B twice, D once
        CHECK(f[1].cp == "DataTime=20260801085000;w01001-Flag=T");  // B once, T once: T
    }
}

TEST_CASE("hj212 reporter integrates constant flow and COD load", "[unit][hj212-reporter]") {
    Reporter r(config({flow(), cod()}));
    const std::int64_t t0 = at("20260801084000");
    // Polled every 5 s from 08:40:00 to 08:49:55: 120 readings each.
    for (std::int64_t t = t0; t < t0 + 10 * kMin; t += 5 * kSec) {
        r.on_reading(reading(1, t, 10.0));
        r.on_reading(reading(2, t, 50.0));
    }
    const auto f = r.on_tick(t0 + 10 * kMin);
    REQUIRE(f.size() == 1);
    // D = 10 L/s * 600 s * 1e-3 = 6 m3 (the last slice 08:49:55-08:50:00 closes at the end);
    // Avg = 6 * 1000 / 600 = 10 L/s. G = 6 m3 * 50 mg/L * 1e-3 = 0.3 kg; Avg = 0.3 / 6 * 1e3 = 50.
    CHECK(f[0].cp ==
          "DataTime=20260801084000;w00000-Min=10.00,w00000-Avg=10.00,w00000-Max=10.00,"
          "w00000-Cou=6.000,w00000-Flag=N;w01018-Min=50.00,w01018-Avg=50.00,w01018-Max=50.00,"
          "w01018-Cou=0.3000,w01018-Flag=N");
}

TEST_CASE("hj212 reporter splits a flow slice at the boundary", "[unit][hj212-reporter]") {
    Reporter r(config({flow()}));
    r.on_reading(reading(1, at("20260801084950"), 12.0));
    r.on_reading(reading(1, at("20260801085004"), 6.0));
    auto f = r.on_tick(at("20260801085005"));
    REQUIRE(f.size() == 1);
    // 08:49:50-08:50:00: 12 L/s * 10 s = 120 L = 0.120 m3; Avg over the 10 s the flow was
    // known: 0.12 * 1e6 / 10,000 ms = 12 L/s (not 0.12 m3 / 600 s, which would read as a flow
    // below its own minimum).
    CHECK(f[0].cp ==
          "DataTime=20260801084000;w00000-Min=12.00,w00000-Avg=12.00,w00000-Max=12.00,"
          "w00000-Cou=0.120,w00000-Flag=N");
    f = r.on_tick(at("20260801090000"));
    REQUIRE(f.size() == 1);
    // 08:50:00-08:50:04 at 12 L/s = 48 L, then 6 L/s for the capped 15 s = 90 L: 0.138 m3
    // over 19 s: Avg 138 L / 19 s = 7.26 L/s (above the minute's one reading: the flow held from
    // before the boundary counts in the volume, as Appendix D's slices do).
    CHECK(f[0].cp ==
          "DataTime=20260801085000;w00000-Min=6.00,w00000-Avg=7.26,w00000-Max=6.00,"
          "w00000-Cou=0.138,w00000-Flag=N");
}

TEST_CASE("hj212 reporter does not bridge a gap longer than max_slice", "[unit][hj212-reporter]") {
    Reporter r(config({flow()}));
    r.on_reading(reading(1, at("20260801084000"), 10.0));
    r.on_reading(reading(1, at("20260801084100"), 20.0));  // 60 s later > 15 s
    const auto f = r.on_tick(at("20260801085000"));
    REQUIRE(f.size() == 1);
    // 10 L/s * 15 s + 20 L/s * 15 s = 450 L = 0.450 m3 over 30 s covered: Avg 15 L/s.
    CHECK(f[0].cp ==
          "DataTime=20260801084000;w00000-Min=10.00,w00000-Avg=15.00,w00000-Max=20.00,"
          "w00000-Cou=0.450,w00000-Flag=N");
}

TEST_CASE("hj212 reporter stale concentration adds no load", "[unit][hj212-reporter]") {
    Reporter r(config({flow(), cod()}));
    const std::int64_t t0 = at("20260801084000");
    r.on_reading(reading(2, t0, 40.0));  // COD once, then silent
    feed(r, 1, t0, t0 + 60 * kSec, 5 * kSec, 10.0);
    const auto f = r.on_tick(t0 + 10 * kMin);
    REQUIRE(f.size() == 1);
    // Flow readings at 08:40:00 .. 08:40:55 (12): 11 slices of 5 s + the last one capped at
    // 15 s = 70 s * 10 L/s = 700 L = 0.700 m3; Avg over the 70 s covered = 10 L/s.
    // Load only for slices starting at most 15 s after the COD sample: 08:40:00, :05, :10, :15
    // -> 20 s * 10 L/s = 0.2 m3 * 40 mg/L * 1e-3 = 0.008 kg; flow-weighted Avg 0.008/0.2*1e3 = 40.
    CHECK(f[0].cp ==
          "DataTime=20260801084000;w00000-Min=10.00,w00000-Avg=10.00,w00000-Max=10.00,"
          "w00000-Cou=0.700,w00000-Flag=N;w01018-Min=40.00,w01018-Avg=40.00,w01018-Max=40.00,"
          "w01018-Cou=0.0080,w01018-Flag=N");
}

TEST_CASE("hj212 reporter hourly record from six minute records", "[unit][hj212-reporter]") {
    auto c = config({flow(), cod()});
    c.hourly = true;
    Reporter r(c);
    const std::int64_t t0 = at("20260801080000");
    const double q[6] = {10, 20, 30, 10, 20, 30};   // L/s per 10-minute interval
    const double cc[6] = {50, 20, 40, 50, 20, 40};  // mg/L
    for (int k = 0; k < 6; ++k)
        for (std::int64_t t = t0 + k * 10 * kMin; t < t0 + (k + 1) * 10 * kMin; t += 5 * kSec) {
            r.on_reading(reading(1, t, q[k]));
            r.on_reading(reading(2, t, cc[k]));
        }
    const auto f = r.on_tick(at("20260801090000"));
    REQUIRE(f.size() == 7);
    for (int k = 0; k < 6; ++k) CHECK(f[k].cn == "2051");
    // Second minute record: D = 20 * 600 / 1000 = 12 m3, G = 12 * 20 / 1000 = 0.24 kg.
    CHECK(f[1].cp ==
          "DataTime=20260801081000;w00000-Min=20.00,w00000-Avg=20.00,w00000-Max=20.00,"
          "w00000-Cou=12.000,w00000-Flag=N;w01018-Min=20.00,w01018-Avg=20.00,w01018-Max=20.00,"
          "w01018-Cou=0.2400,w01018-Flag=N");
    CHECK(f[6].cn == "2061");
    CHECK(f[6].data_time_ms == t0);
    // D per interval 6, 12, 18, 6, 12, 18 m3 -> 72 m3; mean flow 72 * 1000 / 3600 = 20 L/s.
    // G per interval 0.3, 0.24, 0.72, 0.3, 0.24, 0.72 kg -> 2.52 kg;
    // flow-weighted COD 2.52 / 72 * 1e3 = 35 mg/L (the arithmetic mean would be 36.67).
    CHECK(f[6].cp ==
          "DataTime=20260801080000;w00000-Min=10.00,w00000-Avg=20.00,w00000-Max=30.00,"
          "w00000-Cou=72.000,w00000-Flag=N;w01018-Min=20.00,w01018-Avg=35.00,w01018-Max=50.00,"
          "w01018-Cou=2.5200,w01018-Flag=N");
}

TEST_CASE("hj212 reporter daily record at local midnight", "[unit][hj212-reporter]") {
    auto c = config({ph()});
    c.hourly = true;
    c.daily = true;
    Reporter r(c);
    r.on_reading(reading(0, at("20260801235500"), 7.0));
    // Local midnight 2026-08-02 00:00 +8 = 2026-08-01 16:00 UTC = 1785513600000 + 86400000.
    const std::int64_t midnight = 1785513600000 + 86400000;
    CHECK(midnight == at("20260802000000"));
    CHECK(r.on_tick(midnight - 1).empty());
    const auto f = r.on_tick(midnight);
    REQUIRE(f.size() == 3);
    CHECK(f[0].cn == "2051");
    CHECK(f[0].cp ==
          "DataTime=20260801235000;w01001-Min=7.00,w01001-Avg=7.00,w01001-Max=7.00,"
          "w01001-Flag=N");
    CHECK(f[1].cn == "2061");
    CHECK(f[1].cp ==
          "DataTime=20260801230000;w01001-Min=7.00,w01001-Avg=7.00,w01001-Max=7.00,"
          "w01001-Flag=N");
    CHECK(f[2].cn == "2031");
    CHECK(f[2].data_time_ms == 1785513600000);  // 2026-08-01 00:00 local = 07-31 16:00 UTC
    CHECK(f[2].cp ==
          "DataTime=20260801000000;w01001-Min=7.00,w01001-Avg=7.00,w01001-Max=7.00,"
          "w01001-Flag=N");
}

TEST_CASE("hj212 reporter realtime boundaries and staleness", "[unit][hj212-reporter]") {
    auto c = config({ph()});
    c.minute = false;
    c.realtime_interval_s = 30;
    Reporter r(c);
    CHECK(r.on_tick(at("20260801084000")).empty());  // no reading yet: boundary used up
    r.on_reading(reading(0, at("20260801084010"), 7.1));
    CHECK(r.on_tick(at("20260801084029")).empty());
    auto f = r.on_tick(at("20260801084030"));
    REQUIRE(f.size() == 1);
    CHECK(f[0].cn == "2011");
    CHECK(f[0].data_time_ms == at("20260801084030"));
    CHECK(f[0].cp == "DataTime=20260801084030;w01001-Rtd=7.10,w01001-Flag=N");
    CHECK(r.on_tick(at("20260801084045")).empty());
    // Ticks missed 08:40:30 .. 08:41:00: only the latest boundary, 08:41:00. Age 50 s <= 2 *
    // max(30 s, 15 s) = 60 s: still fresh.
    f = r.on_tick(at("20260801084105"));
    REQUIRE(f.size() == 1);
    CHECK(f[0].cp == "DataTime=20260801084100;w01001-Rtd=7.10,w01001-Flag=N");
    // 08:41:30: age 80 s > 60 s: stale.
    f = r.on_tick(at("20260801084130"));
    REQUIRE(f.size() == 1);
    CHECK(f[0].cp == "DataTime=20260801084130;w01001-Flag=B");
    // Latest a comm error: no value, flag B. Over range: value and T.
    r.on_reading(reading(0, at("20260801084140"), 0.0, SampleQuality::CommError));
    f = r.on_tick(at("20260801084200"));
    REQUIRE(f.size() == 1);
    CHECK(f[0].cp == "DataTime=20260801084200;w01001-Flag=B");
    r.on_reading(reading(0, at("20260801084210"), 14.5, SampleQuality::OverRange));
    f = r.on_tick(at("20260801084230"));
    REQUIRE(f.size() == 1);
    CHECK(f[0].cp == "DataTime=20260801084230;w01001-Rtd=14.50,w01001-Flag=T");
}

TEST_CASE("hj212 reporter: maintenance flags M, below calibration, above faults",
          "[unit][hj212-reporter]") {
    Reporter r(config({ph()}));
    // 08:40-08:50: good readings and one under maintenance: M (values from the good ones).
    r.on_reading(reading(0, at("20260801084100"), 7.1));
    Reading m = reading(0, at("20260801084200"), 9.9);
    m.maintenance = true;
    r.on_reading(m);
    r.on_reading(reading(0, at("20260801084300"), 7.3));
    // 08:50-09:00: maintenance and an instrument fault: M wins over D.
    r.on_reading(reading(0, at("20260801085100"), 0.0, SampleQuality::InstrumentFault));
    m.sampled_at =
        std::chrono::system_clock::time_point(std::chrono::milliseconds(at("20260801085200")));
    r.on_reading(m);
    // 09:00-09:10: maintenance and a calibration: C wins over M.
    m.sampled_at =
        std::chrono::system_clock::time_point(std::chrono::milliseconds(at("20260801090100")));
    r.on_reading(m);
    r.on_reading(reading(0, at("20260801090200"), 7.0, SampleQuality::Good, /*calibrating=*/true));
    const auto f = r.on_tick(at("20260801091000"));
    REQUIRE(f.size() == 3);
    CHECK(f[0].cp ==
          "DataTime=20260801084000;w01001-Min=7.10,w01001-Avg=7.20,w01001-Max=7.30,w01001-Flag=M");
    CHECK(f[1].cp == "DataTime=20260801085000;w01001-Flag=M");
    CHECK(f[2].cp == "DataTime=20260801090000;w01001-Flag=C");
}

TEST_CASE("hj212 reporter: no 2011 for a boundary before the first reading",
          "[unit][hj212-reporter]") {
    // The daemon's first tick can come after the first reading and after a boundary: the
    // boundary 08:40:30 passed before the reading of 08:40:58, so it gets no frame (its values
    // would be stamped 28 s before they were read); 08:41:00 does.
    auto c = config({ph()});
    c.minute = false;
    c.realtime_interval_s = 30;
    Reporter r(c);
    r.on_reading(reading(0, at("20260801084058"), 7.1));
    CHECK(r.on_tick(at("20260801084059")).empty());
    // A reading after the boundary but before the tick that sees it (ticks come up to a second
    // late) is the value reported: the boundary still gets its frame.
    r.on_reading(reading(0, at("20260801084100") + 500, 7.2));
    const auto f = r.on_tick(at("20260801084101"));
    REQUIRE(f.size() == 1);
    CHECK(f[0].cp == "DataTime=20260801084100;w01001-Rtd=7.20,w01001-Flag=N");
}

TEST_CASE("hj212 reporter realtime boundaries restart at local midnight",
          "[unit][hj212-reporter]") {
    auto c = config({ph()});
    c.minute = false;
    c.realtime_interval_s = 420;  // 86400 / 420 = 205.7: the last step of a day is shorter
    Reporter r(c);
    r.on_reading(reading(0, at("20260801235400"), 7.0));
    // 205 * 420 s = 86100 s = 23:55:00 is the last boundary of the day.
    auto f = r.on_tick(at("20260801235900"));
    REQUIRE(f.size() == 1);
    CHECK(f[0].data_time_ms == at("20260801235500"));
    // The next one is midnight, not 23:55 + 7 min = 00:02.
    f = r.on_tick(at("20260802000100"));
    REQUIRE(f.size() == 1);
    CHECK(f[0].data_time_ms == at("20260802000000"));
}

TEST_CASE("hj212 reporter catches up after a gap, capped at 7 days", "[unit][hj212-reporter]") {
    auto c = config({ph()});
    c.hourly = true;
    Reporter r(c);
    r.on_reading(reading(0, at("20260801084100"), 7.1));
    REQUIRE(r.on_tick(at("20260801085000")).size() == 1);
    // Daemon down until 09:35: 08:50, 09:00, 09:10, 09:20 are due, and the hour 08:00.
    auto f = r.on_tick(at("20260801093500"));
    REQUIRE(f.size() == 5);
    CHECK(f[0].cp == "DataTime=20260801085000;w01001-Flag=B");
    // Hour 08: minute 08:40 (N, 7.1) and 08:50 (no data, B): values of 08:40, flag B.
    CHECK(f[1].cn == "2061");
    CHECK(f[1].cp ==
          "DataTime=20260801080000;w01001-Min=7.10,w01001-Avg=7.10,w01001-Max=7.10,"
          "w01001-Flag=B");
    CHECK(f[2].cp == "DataTime=20260801090000;w01001-Flag=B");
    CHECK(f[3].cp == "DataTime=20260801091000;w01001-Flag=B");
    CHECK(f[4].cp == "DataTime=20260801092000;w01001-Flag=B");
    CHECK(r.skipped_intervals() == 0);

    // Down for 10 days: 09:30 (the open interval) is emitted, then the 7 days before
    // 08-11 08:50 (08-04 08:50 .. 08-11 08:40: 7 * 144 = 1008 intervals). Skipped: 08-01 09:40 ..
    // 08-04 08:40 = 3 * 144 - 1 - 4 = 427.
    Reporter m(config({ph()}));
    m.on_reading(reading(0, at("20260801093100"), 7.1));
    f = m.on_tick(at("20260811085000"));
    REQUIRE(f.size() == 1009);
    CHECK(f[0].data_time_ms == at("20260801093000"));
    CHECK(f[1].data_time_ms == at("20260804085000"));
    CHECK(f.back().data_time_ms == at("20260811084000"));
    CHECK(m.skipped_intervals() == 427);

    // With hours on: the partial hour 09:00 (only the 09:30 record) goes out before the first
    // record after the skipped stretch.
    auto hc = config({ph()});
    hc.hourly = true;
    Reporter h(hc);
    h.on_reading(reading(0, at("20260801093100"), 7.1));
    f = h.on_tick(at("20260811085000"));
    REQUIRE(f.size() >= 3);
    CHECK(f[0].cn == "2051");
    CHECK(f[1].cn == "2061");
    CHECK(f[1].cp ==
          "DataTime=20260801090000;w01001-Min=7.10,w01001-Avg=7.10,w01001-Max=7.10,"
          "w01001-Flag=N");
    CHECK(f[2].cn == "2051");
    CHECK(f[2].data_time_ms == at("20260804085000"));
}

TEST_CASE("hj212 reporter ignores a tick going backwards; late readings are dropped",
          "[unit][hj212-reporter]") {
    Reporter r(config({ph()}));
    r.on_reading(reading(0, at("20260801084100"), 7.1));
    REQUIRE(r.on_tick(at("20260801085000")).size() == 1);
    const auto v = r.version();
    CHECK(r.on_tick(at("20260801084500")).empty());
    CHECK(r.version() == v);
    r.on_reading(reading(0, at("20260801084600"), 7.5));  // before the open 08:50 interval
    CHECK(r.late_readings() == 1);
    r.on_reading(reading(5, at("20260801085100"), 1.0));  // unmapped sensor: ignored
    CHECK(r.late_readings() == 1);
    const auto f = r.on_tick(at("20260801090000"));
    REQUIRE(f.size() == 1);
    CHECK(f[0].cp == "DataTime=20260801085000;w01001-Flag=B");
}

TEST_CASE("hj212 reporter reading past the open interval closes it", "[unit][hj212-reporter]") {
    Reporter r(config({ph()}));
    r.on_reading(reading(0, at("20260801084100"), 7.1));
    r.on_reading(reading(0, at("20260801085001"), 8.0));  // before the tick at 08:50
    auto f = r.on_tick(at("20260801085002"));
    REQUIRE(f.size() == 1);
    CHECK(f[0].cp ==
          "DataTime=20260801084000;w01001-Min=7.10,w01001-Avg=7.10,w01001-Max=7.10,"
          "w01001-Flag=N");
    f = r.on_tick(at("20260801090000"));
    REQUIRE(f.size() == 1);
    CHECK(f[0].cp ==
          "DataTime=20260801085000;w01001-Min=8.00,w01001-Avg=8.00,w01001-Max=8.00,"
          "w01001-Flag=N");
}

TEST_CASE("hj212 reporter platform interval commands", "[unit][hj212-reporter]") {
    SECTION("ranges") {
        Reporter r(config({ph()}));
        const auto v = r.version();
        CHECK_FALSE(r.set_realtime_interval_s(29));
        CHECK_FALSE(r.set_realtime_interval_s(3601));
        CHECK_FALSE(r.set_realtime_interval_s(0));
        CHECK_FALSE(r.set_minute_interval_min(0));
        CHECK_FALSE(r.set_minute_interval_min(7));
        CHECK_FALSE(r.set_minute_interval_min(60));
        CHECK(r.version() == v);
        CHECK(r.realtime_interval_s() == 0);
        CHECK(r.minute_interval_min() == 10);
        CHECK(r.set_realtime_interval_s(30));
        CHECK(r.set_realtime_interval_s(3600));
        CHECK(r.realtime_interval_s() == 3600);
        CHECK(r.set_minute_interval_min(1));
        CHECK(r.set_minute_interval_min(30));
        CHECK(r.minute_interval_min() == 30);
        CHECK(r.version() > v);
    }
    SECTION("a new minute interval applies after the open one closes") {
        Reporter r(config({flow()}));
        r.on_reading(reading(1, at("20260801084100"), 1.0));
        CHECK(r.set_minute_interval_min(15));
        CHECK(r.minute_interval_min() == 15);
        auto f = r.on_tick(at("20260801085000"));
        REQUIRE(f.size() == 1);
        CHECK(f[0].data_time_ms == at("20260801084000"));  // old length
        // Next: the 15-minute interval containing 08:50 is 08:45-09:00, started at 08:50.
        feed(r, 1, at("20260801085000"), at("20260801090000"), 5 * kSec, 3.0);
        f = r.on_tick(at("20260801090000"));
        REQUIRE(f.size() == 1);
        // 120 slices * 5 s * 3 L/s = 1800 L = 1.800 m3 over the 600 s it really lasted:
        // Avg 1.8 * 1000 / 600 = 3.00.
        CHECK(f[0].cp ==
              "DataTime=20260801085000;w00000-Min=3.00,w00000-Avg=3.00,w00000-Max=3.00,"
              "w00000-Cou=1.800,w00000-Flag=N");
        CHECK(r.on_tick(at("20260801091459")).empty());
        f = r.on_tick(at("20260801091500"));
        REQUIRE(f.size() == 1);
        CHECK(f[0].data_time_ms == at("20260801090000"));
    }
    SECTION("a new realtime interval applies from the next boundary") {
        auto c = config({ph()});
        c.minute = false;
        c.realtime_interval_s = 30;
        Reporter r(c);
        r.on_reading(reading(0, at("20260801084001"), 7.0));
        REQUIRE(r.on_tick(at("20260801084030")).size() == 1);
        CHECK(r.set_realtime_interval_s(60));
        CHECK(r.on_tick(at("20260801084059")).empty());
        auto f = r.on_tick(at("20260801084100"));
        REQUIRE(f.size() == 1);
        CHECK(f[0].data_time_ms == at("20260801084100"));
        CHECK(r.on_tick(at("20260801084130")).empty());  // no longer a boundary
        CHECK(r.on_tick(at("20260801084200")).size() == 1);
    }
}

TEST_CASE("hj212 reporter state round trip mid-interval", "[unit][hj212-reporter]") {
    auto c = config({ph(), flow(), cod()});
    c.realtime_interval_s = 30;
    c.hourly = true;
    c.daily = true;
    const std::int64_t t0 = at("20260801234000");
    auto drive = [&](Reporter& r, std::int64_t from, std::int64_t to,
                     std::vector<ReportFrame>& out) {
        for (std::int64_t t = from; t < to; t += 5 * kSec) {
            const double k = static_cast<double>((t - t0) / kSec % 97);
            r.on_reading(reading(0, t, 7.0 + k / 100.0));
            r.on_reading(reading(1, t, 10.0 + k / 10.0));
            r.on_reading(reading(2, t, 30.0 + k / 5.0,
                                 k == 13 ? SampleQuality::CommError : SampleQuality::Good));
            for (auto& f : r.on_tick(t + 2 * kSec)) out.push_back(f);
        }
    };
    Reporter a(c);
    std::vector<ReportFrame> out_a;
    drive(a, t0, t0 + 14 * kMin + 32 * kSec, out_a);
    Reporter b(c);
    std::string error;
    const std::string saved = a.state().dump();
    CHECK(saved.find('\n') == std::string::npos);
    CHECK(saved.find(' ') == std::string::npos);
    REQUIRE(b.restore(nlohmann::json::parse(saved), error));
    CHECK(b.state() == a.state());
    std::vector<ReportFrame> later_a;
    std::vector<ReportFrame> later_b;
    drive(a, t0 + 14 * kMin + 32 * kSec, t0 + 35 * kMin, later_a);
    drive(b, t0 + 14 * kMin + 32 * kSec, t0 + 35 * kMin, later_b);
    REQUIRE(later_a.size() == later_b.size());
    // 2051 for 23:50, 00:00 (after 00:10), 2061 23:00, 2031 08-01, and 2011 every 30 s.
    std::size_t minutes = 0;
    std::size_t days = 0;
    for (std::size_t i = 0; i < later_a.size(); ++i) {
        CHECK(later_a[i].cn == later_b[i].cn);
        CHECK(later_a[i].data_time_ms == later_b[i].data_time_ms);
        CHECK(later_a[i].cp == later_b[i].cp);
        minutes += later_a[i].cn == "2051" ? 1 : 0;
        days += later_a[i].cn == "2031" ? 1 : 0;
    }
    CHECK(minutes == 2);
    CHECK(days == 1);
    CHECK(a.state() == b.state());
}

TEST_CASE("hj212 reporter refuses mismatched state", "[unit][hj212-reporter]") {
    Reporter other(config({ph(), flow()}));
    other.on_reading(reading(0, at("20260801084100"), 7.1));
    Reporter r(config({ph()}));
    r.on_reading(reading(0, at("20260801084200"), 7.3));
    const auto before = r.state();
    const auto v = r.version();
    std::string error;
    CHECK_FALSE(r.restore(other.state(), error));
    CHECK(error.find("codes") != std::string::npos);
    CHECK_FALSE(r.restore(nlohmann::json{{"v", 2}}, error));
    CHECK_FALSE(r.restore(nlohmann::json::array(), error));
    auto bad = before;
    bad["open"] = nlohmann::json::array({at("20260801084000"), at("20260801084700")});
    CHECK_FALSE(r.restore(bad, error));  // 7 minutes: not a 10-minute interval end
    CHECK(r.state() == before);
    CHECK(r.version() == v);
    const auto f = r.on_tick(at("20260801085000"));
    REQUIRE(f.size() == 1);
    CHECK(f[0].cp ==
          "DataTime=20260801084000;w01001-Min=7.30,w01001-Avg=7.30,w01001-Max=7.30,"
          "w01001-Flag=N");
}
