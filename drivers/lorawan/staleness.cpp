// SPDX-License-Identifier: Apache-2.0
#include "drivers/lorawan/staleness.hpp"

#include <algorithm>

namespace gw::lorawan {

StalenessTracker::StalenessTracker(std::chrono::seconds stale_after,
                                   std::chrono::seconds repeat_every, TimePoint start)
    : stale_after_(stale_after),
      repeat_every_(std::max(repeat_every, std::chrono::seconds(1))),
      last_heard_(start),
      next_due_(start + stale_after) {}

bool StalenessTracker::heard(TimePoint now) {
    const bool was_stale = stale_;
    stale_ = false;
    last_heard_ = now;
    next_due_ = now + stale_after_;
    return was_stale;
}

std::optional<std::chrono::seconds> StalenessTracker::take_due(TimePoint now) {
    if (now < next_due_) return std::nullopt;
    stale_ = true;
    next_due_ += repeat_every_;
    // Woken late (suspended board, overloaded thread): no burst of catch-up samples.
    if (next_due_ <= now) next_due_ = now + repeat_every_;
    return std::chrono::duration_cast<std::chrono::seconds>(now - last_heard_);
}

}  // namespace gw::lorawan
