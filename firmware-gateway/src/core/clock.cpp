// SPDX-License-Identifier: Apache-2.0
#include "core/clock.hpp"

#include <sys/timex.h>

#include <cstdlib>
#include <fstream>

namespace gw {

std::int64_t monotonic_ms(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

SystemClockSource::SystemClockSource() {
    std::ifstream in("/proc/sys/kernel/random/boot_id");
    std::getline(in, boot_id_);
    if (boot_id_.empty()) boot_id_ = "unknown-boot";
}

ClockSample SystemClockSource::sample() const {
    ClockSample s;
    s.mono_ms = monotonic_ms(std::chrono::steady_clock::now());
    s.wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
    timex tx{};
    const int state = ::adjtimex(&tx);
    s.kernel_synced = state != -1 && state != TIME_ERROR && (tx.status & STA_UNSYNC) == 0;
    return s;
}

WallClockTracker::WallClockTracker(ClockTrust trust, std::chrono::seconds max_hold,
                                   std::int64_t step_threshold_ms)
    : trust_(trust),
      max_hold_ms_(std::chrono::duration_cast<std::chrono::milliseconds>(max_hold).count()),
      step_threshold_ms_(step_threshold_ms) {}

WallClockTracker::Update WallClockTracker::observe(const ClockSample& sample) {
    Update update;
    const std::int64_t offset = sample.wall_ms - sample.mono_ms;
    if (trust_ == ClockTrust::System || sample.kernel_synced || trusted_) {
        if (!trusted_) {
            trusted_ = true;
            gave_up_ = false;
            update.became_trusted = true;
        } else if (std::llabs(offset - offset_ms_) > step_threshold_ms_) {
            update.step_ms = offset - offset_ms_;
        }
        offset_ms_ = offset;
        return update;
    }
    if (!unsynced_since_mono_ms_) unsynced_since_mono_ms_ = sample.mono_ms;
    if (!gave_up_ && sample.mono_ms - *unsynced_since_mono_ms_ >= max_hold_ms_) {
        gave_up_ = true;
        update.hold_expired = true;
    }
    offset_ms_ = offset;
    return update;
}

ClockState WallClockTracker::reading_state() const {
    if (trusted_) return ClockState::Synchronised;
    return gave_up_ ? ClockState::Unsynchronised : ClockState::Held;
}

}  // namespace gw
