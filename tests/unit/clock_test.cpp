// SPDX-License-Identifier: Apache-2.0
#include "core/clock.hpp"

#include <catch2/catch.hpp>

using namespace gw;
using namespace std::chrono_literals;

namespace {
constexpr std::int64_t kTrueEpochOffsetMs = 1'795'824'000'000;  // 2026-11-28 at boot

/// A board without RTC: the wall clock starts at 1970 + uptime until NTP steps it.
ClockSample boot_sample(std::int64_t mono_ms, bool synced, std::int64_t wall_offset_ms = 0) {
    return {mono_ms, mono_ms + wall_offset_ms, synced};
}
}  // namespace

TEST_CASE("clock: unsynchronised boot holds readings until NTP sync, then re-times them",
          "[unit][clock]") {
    WallClockTracker tracker(ClockTrust::Ntp, 3600s);
    auto update = tracker.observe(boot_sample(5'000, false));
    CHECK_FALSE(update.became_trusted);
    CHECK(tracker.holding());
    CHECK(tracker.reading_state() == ClockState::Held);

    // A reading at mono 6 s would say 1970-01-01T00:00:06Z: held, not published.
    tracker.observe(boot_sample(60'000, false));
    CHECK(tracker.reading_state() == ClockState::Held);

    // NTP steps the clock to the true time.
    update = tracker.observe(boot_sample(61'000, true, kTrueEpochOffsetMs));
    CHECK(update.became_trusted);
    CHECK_FALSE(update.step_ms);  // the first trusted offset is not a "step"
    CHECK(tracker.reading_state() == ClockState::Synchronised);
    // The held reading's true time: its mono time plus the now-known offset.
    CHECK(6'000 + tracker.offset_ms() == kTrueEpochOffsetMs + 6'000);
}

TEST_CASE("clock: after max_hold the tracker gives up and readings are flagged", "[unit][clock]") {
    WallClockTracker tracker(ClockTrust::Ntp, 60s);
    tracker.observe(boot_sample(1'000, false));
    CHECK_FALSE(tracker.observe(boot_sample(60'999, false)).hold_expired);
    auto update = tracker.observe(boot_sample(61'000, false));
    CHECK(update.hold_expired);
    CHECK_FALSE(tracker.holding());
    CHECK(tracker.reading_state() == ClockState::Unsynchronised);
    // Later sync still counts: from then on readings are trusted.
    update = tracker.observe(boot_sample(90'000, true, kTrueEpochOffsetMs));
    CHECK(update.became_trusted);
    CHECK(tracker.reading_state() == ClockState::Synchronised);
}

TEST_CASE("clock: a backwards step while trusted is reported, not absorbed", "[unit][clock]") {
    WallClockTracker tracker(ClockTrust::Ntp, 3600s);
    tracker.observe(boot_sample(1'000, true, kTrueEpochOffsetMs));
    CHECK_FALSE(
        tracker.observe(boot_sample(2'000, true, kTrueEpochOffsetMs + 300)).step_ms);  // slew
    auto update = tracker.observe(boot_sample(3'000, true, kTrueEpochOffsetMs - 3'600'000));
    REQUIRE(update.step_ms);
    CHECK(*update.step_ms == -3'600'300);
    CHECK(tracker.offset_ms() == kTrueEpochOffsetMs - 3'600'000);
    CHECK(tracker.trusted());
}

TEST_CASE("clock: losing NTP after sync keeps the clock trusted", "[unit][clock]") {
    WallClockTracker tracker(ClockTrust::Ntp, 60s);
    tracker.observe(boot_sample(1'000, true, kTrueEpochOffsetMs));
    tracker.observe(boot_sample(500'000, false, kTrueEpochOffsetMs));
    CHECK(tracker.trusted());
    CHECK(tracker.reading_state() == ClockState::Synchronised);
}

TEST_CASE("clock: trust=system believes the system clock from the start", "[unit][clock]") {
    WallClockTracker tracker(ClockTrust::System, 3600s);
    CHECK(tracker.observe(boot_sample(1'000, false, kTrueEpochOffsetMs)).became_trusted);
    CHECK(tracker.reading_state() == ClockState::Synchronised);
}

TEST_CASE("clock: max_hold 0 never holds", "[unit][clock]") {
    WallClockTracker tracker(ClockTrust::Ntp, 0s);
    CHECK(tracker.observe(boot_sample(1'000, false)).hold_expired);
    CHECK(tracker.reading_state() == ClockState::Unsynchronised);
}

TEST_CASE("clock: the system source reads a boot id and a plausible time", "[unit][clock]") {
    SystemClockSource source;
    CHECK_FALSE(source.boot_id().empty());
    const auto s = source.sample();
    CHECK(s.mono_ms > 0);
    CHECK(s.wall_ms > 0);
}
