// SPDX-License-Identifier: Apache-2.0
// When a push device (LoRaWAN) has gone quiet for too long. Pure: time is passed in.
//
//   heard ──(stale_after without an uplink)──▶ stale: one stale sample now,
//     ▲                                         then one every `repeat_every` while silent
//     └──────────────── uplink ◀────────────────┘
//
// Repeating at the device's expected uplink interval gives each window the failed samples it
// would otherwise have had as data, so a silent bin shows as a fault (HJ 212 flag B), never
// as an empty or a zero window.
#pragma once

#include <chrono>
#include <optional>

namespace gw::lorawan {

class StalenessTracker {
public:
    using TimePoint = std::chrono::steady_clock::time_point;

    /// `start` counts as the last time the device was heard (a device that never reports
    /// becomes stale `stale_after` after start).
    StalenessTracker(std::chrono::seconds stale_after, std::chrono::seconds repeat_every,
                     TimePoint start);

    /// An uplink arrived: fresh again. Returns true if the device was stale until now.
    bool heard(TimePoint now);

    /// If a stale sample is due at `now`, returns how long the device has been silent and
    /// schedules the next one; nullopt otherwise.
    std::optional<std::chrono::seconds> take_due(TimePoint now);

    TimePoint next_due() const { return next_due_; }
    bool stale() const { return stale_; }
    TimePoint last_heard() const { return last_heard_; }

private:
    std::chrono::seconds stale_after_;
    std::chrono::seconds repeat_every_;
    TimePoint last_heard_;
    TimePoint next_due_;
    bool stale_{false};
};

}  // namespace gw::lorawan
