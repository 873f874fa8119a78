// SPDX-License-Identifier: Apache-2.0
#include "core/window_aggregator.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "core/time_format.hpp"

using namespace gw;
using namespace std::chrono_literals;
using TimePoint = std::chrono::system_clock::time_point;

namespace {
// 2026-11-28T00:00:00Z
const TimePoint kMidnight = TimePoint(std::chrono::seconds(1795824000));

Reading sample(TimePoint t, double value, SampleQuality q = SampleQuality::Good) {
    Reading r;
    r.sampled_at = t;
    r.value = value;
    r.quality = q;
    return r;
}
}  // namespace

TEST_CASE("windows align to wall-clock multiples of their length", "[unit][window]") {
    WindowAggregator agg(60s, 1000ms);
    CHECK_FALSE(agg.add(sample(kMidnight + 61s + 500ms, 1.0)));
    auto closed = agg.add(sample(kMidnight + 120s, 2.0));  // exactly on the boundary: next window
    REQUIRE(closed);
    CHECK(format_rfc3339_utc(closed->start_ms) == "2026-11-28T00:01:00Z");
    CHECK(format_rfc3339_utc(closed->end_ms) == "2026-11-28T00:02:00Z");
    CHECK(closed->count == 1);
    CHECK(closed->expected == 60);
}

TEST_CASE("a sample 1 ms before the boundary stays in the old window", "[unit][window]") {
    WindowAggregator agg(5s, 1000ms);
    agg.add(sample(kMidnight + 1s, 1.0));
    CHECK_FALSE(agg.add(sample(kMidnight + 4999ms, 3.0)));
    auto closed = agg.close_due(kMidnight + 5s);
    REQUIRE(closed);
    CHECK(closed->count == 2);
    CHECK(*closed->last == 3.0);
}

TEST_CASE("one sample: min, max, mean and last are that sample", "[unit][window]") {
    WindowAggregator agg(10s, 1000ms);
    agg.add(sample(kMidnight + 3s, 7.25));
    auto closed = agg.close_due(kMidnight + 10s);
    REQUIRE(closed);
    CHECK(closed->count == 1);
    CHECK(*closed->min == 7.25);
    CHECK(*closed->max == 7.25);
    CHECK(*closed->mean == 7.25);
    CHECK(*closed->last == 7.25);
    CHECK(closed->quality == WindowQuality::Partial);  // 1 of 10 expected
}

TEST_CASE("statistics over a full window", "[unit][window]") {
    WindowAggregator agg(5s, 1000ms);
    const double values[] = {7.0, 7.4, 6.9, 7.1, 7.1};
    for (int i = 0; i < 5; ++i) agg.add(sample(kMidnight + std::chrono::seconds(i), values[i]));
    auto closed = agg.close_due(kMidnight + 5s + 150ms);
    REQUIRE(closed);
    CHECK(closed->count == 5);
    CHECK(closed->expected == 5);
    CHECK(*closed->min == 6.9);
    CHECK(*closed->max == 7.4);
    CHECK(*closed->mean == Approx(7.1));
    CHECK(*closed->last == 7.1);
    CHECK(closed->quality == WindowQuality::Good);
}

TEST_CASE("an empty window is still reported, as no_data", "[unit][window]") {
    WindowAggregator agg(5s, 1000ms);
    CHECK_FALSE(agg.close_due(kMidnight + 100s));  // nothing opened yet: nothing to report
    agg.add(sample(kMidnight + 1s, 1.0));
    REQUIRE(agg.close_due(kMidnight + 5s));
    auto empty = agg.close_due(kMidnight + 10s);  // no sample between 5 s and 10 s
    REQUIRE(empty);
    CHECK(empty->count == 0);
    CHECK_FALSE(empty->mean);
    CHECK_FALSE(empty->last);
    CHECK(empty->quality == WindowQuality::NoData);
    CHECK(to_string(empty->quality) == std::string("no_data"));
}

TEST_CASE("failed polls make a window comm_error or partial", "[unit][window]") {
    WindowAggregator agg(5s, 1000ms);
    for (int i = 0; i < 5; ++i)
        agg.add(sample(kMidnight + std::chrono::seconds(i), 0.0, SampleQuality::CommError));
    auto dead = agg.close_due(kMidnight + 5s);
    REQUIRE(dead);
    CHECK(dead->count == 0);
    CHECK(dead->failed == 5);
    CHECK(dead->quality == WindowQuality::CommError);

    for (int i = 0; i < 5; ++i)
        agg.add(sample(kMidnight + 5s + std::chrono::seconds(i), 1.0,
                       i == 2 ? SampleQuality::CommError : SampleQuality::Good));
    auto mixed = agg.close_due(kMidnight + 10s);
    REQUIRE(mixed);
    CHECK(mixed->count == 4);
    CHECK(mixed->failed == 1);
    CHECK(mixed->quality == WindowQuality::Partial);
}

TEST_CASE("late samples are counted, not folded into the wrong window", "[unit][window]") {
    WindowAggregator agg(5s, 1000ms);
    agg.add(sample(kMidnight + 6s, 1.0));
    CHECK_FALSE(agg.add(sample(kMidnight + 4s, 99.0)));
    CHECK(agg.late_samples() == 1);
    auto closed = agg.close_due(kMidnight + 10s);
    REQUIRE(closed);
    CHECK(*closed->max == 1.0);
}

TEST_CASE("after a long gap the next window is the one containing now", "[unit][window]") {
    WindowAggregator agg(5s, 1000ms);
    agg.add(sample(kMidnight, 1.0));
    auto closed = agg.close_due(kMidnight + 1h + 2s);
    REQUIRE(closed);
    CHECK(format_rfc3339_utc(closed->start_ms) == "2026-11-28T00:00:00Z");
    agg.add(sample(kMidnight + 1h + 3s, 2.0));
    auto next = agg.close_due(kMidnight + 1h + 5s);
    REQUIRE(next);
    CHECK(format_rfc3339_utc(next->start_ms) == "2026-11-28T01:00:00Z");
    CHECK(next->count == 1);
}

TEST_CASE("times before 1970 (board without RTC) still align downwards", "[unit][window]") {
    WindowAggregator agg(60s, 1000ms);
    agg.add(sample(TimePoint(-1500ms), 1.0));
    auto closed = agg.close_now();
    REQUIRE(closed);
    CHECK(closed->start_ms == -60000);
    CHECK(closed->end_ms == 0);
    CHECK(closed->quality == WindowQuality::Partial);
}

TEST_CASE("RFC 3339 formatting", "[unit][window]") {
    CHECK(format_rfc3339_utc(0) == "1970-01-01T00:00:00Z");
    CHECK(format_rfc3339_utc(1795824005250) == "2026-11-28T00:00:05.250Z");
    CHECK(format_rfc3339_utc(-1) == "1969-12-31T23:59:59.999Z");
}

TEST_CASE("fault kinds are counted per window and decide the HJ 212 flag", "[unit][window]") {
    WindowAggregator agg(5s, 1000ms);
    auto window_of = [&](std::vector<SampleQuality> qualities, TimePoint start) {
        for (std::size_t i = 0; i < qualities.size(); ++i)
            agg.add(sample(start + std::chrono::seconds(i), 7.0, qualities[i]));
        return agg.close_due(start + 5s);
    };
    using Q = SampleQuality;
    auto good = window_of({Q::Good, Q::Good, Q::Good, Q::Good, Q::Good}, kMidnight);
    REQUIRE(good);
    CHECK(good->flag == 'N');
    CHECK(good->faults[static_cast<std::size_t>(Q::CommError)] == 0);

    auto over = window_of({Q::OverRange, Q::OverRange, Q::OverRange, Q::Good, Q::CommError},
                          kMidnight + 5s);
    REQUIRE(over);
    CHECK(over->count == 1);
    CHECK(over->failed == 4);
    CHECK(over->faults[static_cast<std::size_t>(Q::OverRange)] == 3);
    CHECK(over->faults[static_cast<std::size_t>(Q::CommError)] == 1);
    CHECK(over->flag == 'T');  // faults outnumber good samples; over range is the most frequent
    CHECK(over->quality == WindowQuality::Partial);
    CHECK(over->mean == Approx(7.0));  // only the good sample is in the statistics

    auto stuck = window_of({Q::Stuck, Q::Stuck, Q::Stuck, Q::Stuck, Q::Stuck}, kMidnight + 10s);
    REQUIRE(stuck);
    CHECK(stuck->quality == WindowQuality::Fault);
    CHECK(stuck->flag == 'D');
    CHECK_FALSE(stuck->mean);

    auto stale = window_of({Q::Stale, Q::Stale}, kMidnight + 15s);
    REQUIRE(stale);
    CHECK(stale->quality == WindowQuality::CommError);
    CHECK(stale->flag == 'B');

    // A tie between a communication fault and an instrument fault: the specific one wins.
    auto tie = window_of({Q::CommError, Q::InstrumentFault}, kMidnight + 20s);
    REQUIRE(tie);
    CHECK(tie->flag == 'D');
    CHECK(tie->quality == WindowQuality::Fault);

    auto mostly_good =
        window_of({Q::Good, Q::Good, Q::Good, Q::CommError, Q::Good}, kMidnight + 25s);
    REQUIRE(mostly_good);
    CHECK(mostly_good->flag == 'N');

    auto empty = agg.close_due(kMidnight + 35s);
    REQUIRE(empty);
    CHECK(empty->quality == WindowQuality::NoData);
    CHECK(empty->flag == 'B');
}

TEST_CASE("every sample quality has a name and an HJ 212 flag", "[unit][window]") {
    const std::map<SampleQuality, std::pair<std::string, char>> expected = {
        {SampleQuality::Good, {"good", 'N'}},
        {SampleQuality::CommError, {"comm_error", 'B'}},
        {SampleQuality::DecodeError, {"decode_error", 'D'}},
        {SampleQuality::OverRange, {"over_range", 'T'}},
        {SampleQuality::InstrumentFault, {"instrument_fault", 'D'}},
        {SampleQuality::Stuck, {"stuck", 'D'}},
        {SampleQuality::Stale, {"stale", 'B'}},
        {SampleQuality::Spike, {"spike", 'D'}},
    };
    REQUIRE(expected.size() == static_cast<std::size_t>(kSampleQualityCount));
    for (const auto& [quality, name_flag] : expected) {
        CHECK(to_string(quality) == name_flag.first);
        CHECK(hj212_flag(quality) == name_flag.second);
    }
}

TEST_CASE("an open window resumed from its stored state ends as if never interrupted",
          "[unit][window]") {
    WindowAggregator before(60s, 1000ms);
    WindowAggregator uninterrupted(60s, 1000ms);
    for (int i = 0; i < 20; ++i) {
        const auto q = i == 7 ? SampleQuality::CommError : SampleQuality::Good;
        before.add(sample(kMidnight + std::chrono::seconds(i), 5.0 + i, q));
        uninterrupted.add(sample(kMidnight + std::chrono::seconds(i), 5.0 + i, q));
    }
    REQUIRE(before.open_window());
    const OpenWindow stored = *before.open_window();
    CHECK(stored.count == 19);
    CHECK(stored.failed == 1);
    CHECK_FALSE(stored.empty());

    WindowAggregator after(60s, 1000ms);  // the restarted daemon
    const auto version = after.version();
    REQUIRE(after.restore(stored));
    CHECK(after.version() != version);
    CHECK_FALSE(after.restore(stored));  // a window is already open
    for (int i = 20; i < 60; ++i) {
        after.add(sample(kMidnight + std::chrono::seconds(i), 5.0 + i));
        uninterrupted.add(sample(kMidnight + std::chrono::seconds(i), 5.0 + i));
    }
    const auto resumed = after.close_due(kMidnight + 60s);
    const auto expected = uninterrupted.close_due(kMidnight + 60s);
    REQUIRE(resumed);
    REQUIRE(expected);
    CHECK(resumed->count == expected->count);
    CHECK(resumed->failed == expected->failed);
    CHECK(*resumed->min == *expected->min);
    CHECK(*resumed->max == *expected->max);
    CHECK(*resumed->mean == Approx(*expected->mean));
    CHECK(*resumed->last == *expected->last);
    CHECK(resumed->faults == expected->faults);
    CHECK(resumed->quality == expected->quality);
}

TEST_CASE("a stored window of another window length is not resumed", "[unit][window]") {
    WindowAggregator five_minutes(300s, 1000ms);
    OpenWindow stored;
    stored.start_ms = 1795824060000;  // 00:01:00, a 60 s boundary but not a 300 s one
    stored.count = 3;
    CHECK_FALSE(five_minutes.restore(stored));
    CHECK_FALSE(five_minutes.open_window());
    stored.start_ms = 1795824300000;  // 00:05:00
    CHECK(five_minutes.restore(stored));
}

TEST_CASE("the version changes with every sample and window change, not with late ones",
          "[unit][window]") {
    WindowAggregator agg(60s, 1000ms);
    const auto v0 = agg.version();
    agg.add(sample(kMidnight + 61s, 1.0));
    const auto v1 = agg.version();
    CHECK(v1 != v0);
    agg.add(sample(kMidnight + 10s, 1.0));  // late: dropped
    CHECK(agg.version() == v1);
    agg.close_due(kMidnight + 120s);
    CHECK(agg.version() != v1);
}

TEST_CASE("a window with samples taken during a calibration is flagged C, with measured stats",
          "[unit][window]") {
    WindowAggregator agg(60s, 1000ms);
    for (int i = 0; i < 10; ++i) {
        Reading r = sample(kMidnight + std::chrono::seconds(i), 7.0 + 0.1 * i);
        r.measured = 6.9 + 0.1 * i;  // before the field calibration (offset +0.1)
        r.calibrating = i >= 5;      // the technician began at second 5
        agg.add(r);
    }
    const auto w = agg.close_due(kMidnight + 60s);
    REQUIRE(w);
    CHECK(w->calibrating == 5);
    CHECK(w->flag == 'C');
    CHECK(w->quality == WindowQuality::Calibrating);
    CHECK(std::string(to_string(w->quality)) == "calibrating");
    CHECK(*w->mean == Approx(7.45));
    CHECK(*w->measured_mean == Approx(7.35));
    CHECK(*w->measured_min == Approx(6.9));
    CHECK(*w->measured_max == Approx(7.8));
    CHECK(*w->measured_last == Approx(7.8));
}

TEST_CASE("without a field calibration the measured stats equal the values", "[unit][window]") {
    WindowAggregator agg(60s, 1000ms);
    agg.add(sample(kMidnight + 1s, 3.0));
    agg.add(sample(kMidnight + 2s, 5.0));
    const auto w = agg.close_due(kMidnight + 60s);
    REQUIRE(w);
    CHECK(*w->measured_mean == *w->mean);
    CHECK(*w->measured_min == 3.0);
    CHECK(*w->measured_last == 5.0);
    CHECK(w->flag != 'C');
}

TEST_CASE("standard deviation, first value and coverage of a window", "[unit][window]") {
    // Sample standard deviation of 2 4 4 4 5 5 7 9: mean 5, squared deviations sum to 32,
    // s = sqrt(32 / 7). The same series around 125 000 (a totaliser) must give the same s.
    for (const double offset : {0.0, 125000.0}) {
        WindowAggregator agg(60s, 5000ms);
        const std::vector<double> values{2, 4, 4, 4, 5, 5, 7, 9};
        for (std::size_t i = 0; i < values.size(); ++i)
            agg.add(sample(kMidnight + std::chrono::seconds(5 * i), values[i] + offset));
        auto closed = agg.close_due(kMidnight + 60s);
        REQUIRE(closed);
        CHECK(*closed->mean == Approx(5.0 + offset));
        CHECK(*closed->stddev == Approx(std::sqrt(32.0 / 7.0)).epsilon(1e-9));
        CHECK(*closed->first == 2.0 + offset);
        CHECK(closed->coverage == Approx(8.0 / 12.0));
    }
    WindowAggregator single(60s, 5000ms);
    single.add(sample(kMidnight + 1s, 3.0));
    CHECK_FALSE(single.close_due(kMidnight + 60s)->stddev);  // one sample has no deviation
}

TEST_CASE("time-weighted mean of irregular samples, edges held to the window bounds",
          "[unit][window]") {
    // Window [0, 60 s), poll every 10 s (gaps up to 30 s are bridged). Samples 10 @5 s,
    // 20 @15 s, 20 @45 s, 10 @55 s. Integral in value x s: head 10x5 + (10+20)/2x10 +
    // 20x30 + (20+10)/2x10 + tail 10x5 = 50 + 150 + 600 + 150 + 50 = 1000 over 60 s.
    WindowAggregator agg(60s, 10000ms);
    agg.add(sample(kMidnight + 5s, 10.0));
    agg.add(sample(kMidnight + 15s, 20.0));
    agg.add(sample(kMidnight + 45s, 20.0));
    agg.add(sample(kMidnight + 55s, 10.0));
    auto closed = agg.close_due(kMidnight + 60s);
    REQUIRE(closed);
    CHECK(*closed->mean == Approx(15.0));  // the arithmetic mean over-weights the short gaps
    CHECK(closed->covered_ms == 60'000);
    CHECK(closed->integral == Approx(1000.0 * 1000.0));  // value x ms
    CHECK(*closed->time_weighted_mean == Approx(1000.0 / 60.0));
}

TEST_CASE("a gap longer than three poll periods is not bridged", "[unit][window]") {
    // Poll every 10 s: samples 4 @5 s and 8 @50 s are 45 s apart, more than 30 s. Covered:
    // head 5 s (held 4) and tail 10 s (held 8): integral 4x5 + 8x10 = 100 over 15 s.
    WindowAggregator agg(60s, 10000ms);
    agg.add(sample(kMidnight + 5s, 4.0));
    agg.add(sample(kMidnight + 50s, 8.0));
    auto closed = agg.close_due(kMidnight + 60s);
    REQUIRE(closed);
    CHECK(closed->covered_ms == 15'000);
    CHECK(*closed->time_weighted_mean == Approx(100.0 / 15.0));
    // A failed sample is not a value: it neither adds a trapezoid nor breaks the stats.
    WindowAggregator with_fault(60s, 10000ms);
    with_fault.add(sample(kMidnight + 5s, 4.0));
    with_fault.add(sample(kMidnight + 15s, 0.0, SampleQuality::CommError));
    with_fault.add(sample(kMidnight + 25s, 4.0));
    auto faulty = with_fault.close_due(kMidnight + 60s);
    REQUIRE(faulty);
    CHECK(*faulty->time_weighted_mean == Approx(4.0));
    CHECK(*faulty->stddev == Approx(0.0));
    CHECK(faulty->covered_ms == 5'000 + 20'000);  // head + one 20 s trapezoid, no tail (35 s)
}

TEST_CASE("the running statistics survive a restore from stored state", "[unit][window]") {
    WindowAggregator before(60s, 10000ms);
    before.add(sample(kMidnight + 5s, 10.0));
    before.add(sample(kMidnight + 15s, 20.0));
    const OpenWindow state = *before.open_window();
    WindowAggregator after(60s, 10000ms);
    REQUIRE(after.restore(state));
    for (auto* agg : {&before, &after}) {
        agg->add(sample(kMidnight + 45s, 20.0));
        agg->add(sample(kMidnight + 55s, 10.0));
    }
    const auto a = before.close_due(kMidnight + 60s);
    const auto b = after.close_due(kMidnight + 60s);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(*a->stddev == *b->stddev);
    CHECK(*a->time_weighted_mean == *b->time_weighted_mean);
    CHECK(*b->first == 10.0);
}
