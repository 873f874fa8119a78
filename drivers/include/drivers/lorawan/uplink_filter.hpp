// SPDX-License-Identifier: Apache-2.0
// Per-device duplicate and replay filter for LoRaWAN uplinks. Pure: time is passed in.
//
// ChirpStack gives every deduplicated uplink a fresh `deduplicationId`, and the device's frame
// counter fCnt only grows within a session. So:
//   - a deduplicationId seen before            -> Duplicate (the same event delivered again);
//   - fCnt equal to the last accepted one      -> Duplicate (the same frame, re-published);
//   - fCnt below the last accepted one         -> Replay, unless it looks like a new session:
//       after a `join` event any fCnt starts the new session; without one (the join event was
//       missed), a small fCnt (<= reset_max_fcnt) after at least reset_min_silence without an
//       accepted uplink is taken as a rejoin (AcceptedReset). A replay burst right behind real
//       traffic, or an old high counter, is still dropped.
//   - otherwise                                -> Accepted (gaps are lost frames, not errors).
// The filter lives in memory: after a daemon restart the first uplink of each device is
// accepted whatever its fCnt.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

namespace gw::lorawan {

enum class UplinkVerdict : std::uint8_t { Accepted, AcceptedReset, Duplicate, Replay };

const char* to_string(UplinkVerdict verdict);

struct ReplayPolicy {
    /// A frame counter at or below this, after a silence, may be the first frames of a new
    /// session (a rejoin restarts fCnt at 0; a few frames may have been lost).
    std::uint32_t reset_max_fcnt{16};
    /// ...and only after this long without an accepted uplink: a rejoin takes a device at
    /// least one missed uplink (or a reboot) to decide on.
    std::chrono::seconds reset_min_silence{60};
    /// deduplicationIds remembered per device.
    std::size_t remembered_ids{32};
};

class UplinkFilter {
public:
    using TimePoint = std::chrono::steady_clock::time_point;

    explicit UplinkFilter(ReplayPolicy policy = {}) : policy_(policy) {}

    /// Classifies one uplink and, when it is accepted, remembers it.
    UplinkVerdict check(const std::string& deduplication_id, std::uint32_t f_cnt, TimePoint now);

    /// A join event was seen: the next uplink starts a new session, whatever its fCnt.
    void joined() { joined_ = true; }

    std::optional<std::uint32_t> last_f_cnt() const { return last_f_cnt_; }

private:
    bool seen(const std::string& deduplication_id) const;
    void remember(const std::string& deduplication_id);

    ReplayPolicy policy_;
    std::optional<std::uint32_t> last_f_cnt_;
    TimePoint last_accepted_at_{};
    bool joined_{false};
    std::deque<std::string> recent_ids_;
};

}  // namespace gw::lorawan
