// SPDX-License-Identifier: Apache-2.0
// Clock integrity. Boards without an RTC battery boot at 1970 (or at the time of the last
// shutdown) until NTP synchronises the clock, and NTP may step the clock later. Readings are
// timed with the monotonic clock and the boot id as well as the wall clock; WallClockTracker
// decides when the wall clock can be believed, and how to re-time readings taken before that.
//
//   holding --kernel reports sync--> trusted --step > threshold--> trusted (step reported)
//      |                               ^
//      +--max_hold passes--> gave up --+ (kernel reports sync)
//
// Once trusted in a boot, the clock stays trusted even if the kernel later reports it
// unsynchronised again (NTP unreachable for a while): it drifts by seconds per day at most.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "core/reading.hpp"

namespace gw {

struct ClockSample {
    std::int64_t mono_ms{0};  ///< monotonic, since boot
    std::int64_t wall_ms{0};  ///< system clock, Unix ms
    bool kernel_synced{false};
};

/// The test seam: the daemon reads time only through this.
class ClockSource {
public:
    virtual ~ClockSource() = default;
    virtual ClockSample sample() const = 0;
    virtual const std::string& boot_id() const = 0;
};

/// steady_clock + system_clock + adjtimex(2) (STA_UNSYNC / TIME_ERROR) + the kernel's boot id.
class SystemClockSource final : public ClockSource {
public:
    SystemClockSource();
    ClockSample sample() const override;
    const std::string& boot_id() const override { return boot_id_; }

private:
    std::string boot_id_;
};

/// Monotonic milliseconds as used in ClockSample::mono_ms (steady_clock).
std::int64_t monotonic_ms(std::chrono::steady_clock::time_point t);

class WallClockTracker {
public:
    struct Update {
        bool became_trusted{false};           ///< re-time held readings with offset_ms() now
        bool hold_expired{false};             ///< give up holding: publish readings flagged
        std::optional<std::int64_t> step_ms;  ///< the clock jumped by this much (NTP step)
    };

    WallClockTracker(ClockTrust trust, std::chrono::seconds max_hold,
                     std::int64_t step_threshold_ms = 1000);

    /// Feed a sample (the gateway does this every second).
    Update observe(const ClockSample& sample);

    /// State of a reading taken now: Synchronised, Held or Unsynchronised.
    ClockState reading_state() const;
    bool trusted() const { return trusted_; }
    bool holding() const { return !trusted_ && !gave_up_; }
    /// wall − mono while trusted: wall time of a reading = its mono_ms + offset_ms().
    std::int64_t offset_ms() const { return offset_ms_; }

private:
    ClockTrust trust_;
    std::int64_t max_hold_ms_;
    std::int64_t step_threshold_ms_;
    bool trusted_{false};
    bool gave_up_{false};
    std::optional<std::int64_t> unsynced_since_mono_ms_;
    std::int64_t offset_ms_{0};
};

}  // namespace gw
