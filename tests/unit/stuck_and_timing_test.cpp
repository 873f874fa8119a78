// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include "core/stuck_detector.hpp"
#include "drivers/rtu_timing.hpp"

using namespace gw;

TEST_CASE("a raw value repeated N times in a row is stuck until it changes", "[unit][stuck]") {
    StuckDetector detector(3);
    CHECK_FALSE(detector.observe(7.21));
    CHECK_FALSE(detector.observe(7.21));
    CHECK(detector.observe(7.21));  // third identical value
    CHECK(detector.observe(7.21));
    CHECK_FALSE(detector.observe(7.22));  // moved: good again
    CHECK_FALSE(detector.observe(7.21));
}

TEST_CASE("stuck detection is off by default", "[unit][stuck]") {
    StuckDetector off;
    for (int i = 0; i < 1000; ++i) CHECK_FALSE(off.observe(1.0));
}

TEST_CASE("RTU character and frame times match the Modbus serial line spec", "[unit][rtu]") {
    using modbus::LineFraming;
    const LineFraming n81{9600, 'N', 8, 1};
    const LineFraming e81{9600, 'E', 8, 1};
    const LineFraming n82{9600, 'N', 8, 2};
    CHECK(modbus::bits_per_character(n81) == 10);
    CHECK(modbus::bits_per_character(e81) == 11);
    CHECK(modbus::bits_per_character(n82) == 11);
    CHECK(modbus::character_time_us(n81) == Approx(1041.67).epsilon(1e-4));
    // DOMAIN.md §5.1: t3.5 at 9600 is 3.65 ms (10-bit) / 4.01 ms (11-bit); fixed above 19200.
    CHECK(modbus::t3_5_us(n81) == Approx(3645.8).epsilon(1e-3));
    CHECK(modbus::t3_5_us(e81) == Approx(4010.4).epsilon(1e-3));
    CHECK(modbus::t3_5_us({19200, 'N', 8, 1}) == Approx(1822.9).epsilon(1e-3));
    CHECK(modbus::t3_5_us({38400, 'N', 8, 1}) == Approx(1750.0));
    CHECK(modbus::t3_5_us({115200, 'E', 8, 1}) == Approx(1750.0));
}

TEST_CASE("RTU read cycle times match DOMAIN.md section 5.3", "[unit][rtu]") {
    using modbus::LineFraming;
    const LineFraming n81{9600, 'N', 8, 1};
    // One float (N = 2): wire 17.7 ms, cycle 25.0 ms, 40 polls/s.
    CHECK(modbus::frame_time_us(n81, modbus::kReadRequestBytes + modbus::read_response_bytes(2)) ==
          Approx(17708).epsilon(1e-3));
    CHECK(modbus::read_cycle_us(n81, 2) == Approx(25000).epsilon(1e-3));
    CHECK(1e6 / modbus::read_cycle_us(n81, 2) == Approx(40.0).epsilon(1e-2));
    CHECK(1e6 / modbus::read_cycle_us(n81, 1) == Approx(43.6).epsilon(1e-2));
    CHECK(1e6 / modbus::read_cycle_us(n81, 125) == Approx(3.6).epsilon(2e-2));
    CHECK(1e6 / modbus::read_cycle_us({9600, 'E', 8, 1}, 2) == Approx(36.4).epsilon(1e-2));
    CHECK(1e6 / modbus::read_cycle_us({19200, 'N', 8, 1}, 10) == Approx(48.0).epsilon(1e-2));
    // With a 20 ms slave turnaround: 45 ms, 22 polls/s.
    CHECK(1e6 / modbus::read_cycle_us(n81, 2, 20000) == Approx(22.2).epsilon(1e-2));
}
