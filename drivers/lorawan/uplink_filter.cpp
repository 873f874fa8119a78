// SPDX-License-Identifier: Apache-2.0
#include "drivers/lorawan/uplink_filter.hpp"

#include <algorithm>

namespace gw::lorawan {

const char* to_string(UplinkVerdict verdict) {
    switch (verdict) {
        case UplinkVerdict::Accepted:
            return "accepted";
        case UplinkVerdict::AcceptedReset:
            return "accepted (frame counter reset)";
        case UplinkVerdict::Duplicate:
            return "duplicate";
        case UplinkVerdict::Replay:
            return "replay";
    }
    return "?";
}

bool UplinkFilter::seen(const std::string& deduplication_id) const {
    return std::find(recent_ids_.begin(), recent_ids_.end(), deduplication_id) != recent_ids_.end();
}

void UplinkFilter::remember(const std::string& deduplication_id) {
    recent_ids_.push_back(deduplication_id);
    while (recent_ids_.size() > policy_.remembered_ids) recent_ids_.pop_front();
}

UplinkVerdict UplinkFilter::check(const std::string& deduplication_id, std::uint32_t f_cnt,
                                  TimePoint now) {
    if (seen(deduplication_id)) return UplinkVerdict::Duplicate;

    UplinkVerdict verdict = UplinkVerdict::Accepted;
    if (last_f_cnt_ && !joined_) {
        if (f_cnt == *last_f_cnt_) return UplinkVerdict::Duplicate;
        if (f_cnt < *last_f_cnt_) {
            const bool looks_like_rejoin = f_cnt <= policy_.reset_max_fcnt &&
                                           now - last_accepted_at_ >= policy_.reset_min_silence;
            if (!looks_like_rejoin) return UplinkVerdict::Replay;
            verdict = UplinkVerdict::AcceptedReset;
        }
    } else if (last_f_cnt_ && joined_ && f_cnt < *last_f_cnt_) {
        verdict = UplinkVerdict::AcceptedReset;
    }
    joined_ = false;
    last_f_cnt_ = f_cnt;
    last_accepted_at_ = now;
    remember(deduplication_id);
    return verdict;
}

}  // namespace gw::lorawan
