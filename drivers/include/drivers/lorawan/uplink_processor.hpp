// SPDX-License-Identifier: Apache-2.0
// Everything the ChirpStack source does with a message, without the MQTT client: topic and
// JSON -> device lookup -> duplicate/replay filter -> base64 -> codec -> DeviceSample, plus
// per-device counters, staleness and the log lines to write. Pure: time is passed in, so every
// rule is unit-testable. Not thread-safe: ChirpstackSource serialises calls with its mutex.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/device_sample.hpp"
#include "drivers/lorawan/codec.hpp"
#include "drivers/lorawan/staleness.hpp"
#include "drivers/lorawan/uplink_filter.hpp"

namespace gw::lorawan {

struct LorawanDevice {
    std::string id;                   ///< gateway device id, for logs
    std::string dev_eui;              ///< normalised (16 lower-case hex digits)
    std::string application_id{"+"};  ///< ChirpStack application; "+" = any
    const Codec* codec{nullptr};
    std::chrono::seconds stale_after{1800};  ///< silence before stale samples start
    std::chrono::seconds interval{600};      ///< expected uplink interval; stale repeat period
};

/// Per-device counters, as shown by `towngw status` (docs/drivers.md explains each).
struct DeviceCounters {
    std::uint64_t uplinks{0};        ///< accepted (new) uplinks, decodable or not
    std::uint64_t duplicates{0};     ///< same deduplicationId or same fCnt again: dropped
    std::uint64_t replays{0};        ///< an older fCnt with a new deduplicationId: dropped
    std::uint64_t decode_errors{0};  ///< broken JSON/fields/base64 or an undecodable payload
    std::uint64_t fcnt_resets{0};    ///< new sessions accepted (join event or rejoin rule)
    std::uint64_t joins{0};          ///< join events seen
    std::uint64_t stale_samples{0};  ///< stale samples emitted
    std::optional<std::uint32_t> last_f_cnt;
    std::optional<int> last_rssi;    ///< dBm, best gateway of the last accepted uplink
    std::optional<double> last_snr;  ///< dB, same gateway
    std::optional<std::chrono::steady_clock::time_point> last_uplink_at;
    bool stale{false};
    std::string last_error;
};

/// Counters of messages that belong to no configured device.
struct SourceCounters {
    std::uint64_t messages{0};             ///< every message received
    std::uint64_t unknown_devices{0};      ///< uplinks of devEuis (or applications) not configured
    std::uint64_t unattributed_errors{0};  ///< unusable messages naming no configured device
};

struct LogLine {
    enum class Level : std::uint8_t { Debug, Info, Warn };
    Level level{Level::Info};
    std::string text;
};

class UplinkProcessor {
public:
    using SteadyTime = std::chrono::steady_clock::time_point;
    using WallTime = std::chrono::system_clock::time_point;

    struct Output {
        std::vector<drivers::DeviceSample> samples;  ///< device_index = index into devices
        std::vector<LogLine> logs;
    };

    UplinkProcessor(std::vector<LorawanDevice> devices, ReplayPolicy policy, SteadyTime start);

    /// One MQTT message (any event topic). The sample's time is the arrival time: windows are
    /// the gateway's, and a sample older than its open window would be dropped as late.
    Output on_message(std::string_view topic, std::string_view payload, WallTime wall,
                      SteadyTime mono);

    /// Stale samples due at `mono` (at most one per device).
    Output take_stale(WallTime wall, SteadyTime mono);

    /// When take_stale next has something to do.
    SteadyTime next_stale_due() const;

    const std::vector<LorawanDevice>& devices() const { return devices_; }
    DeviceCounters counters(std::size_t device_index) const;
    const SourceCounters& source_counters() const { return source_counters_; }

private:
    struct DeviceState {
        UplinkFilter filter;
        StalenessTracker staleness;
        DeviceCounters counters;
        std::string problem;    ///< kind of the last logged problem; empty when fine
        bool replaying{false};  ///< a replay was logged and no accepted uplink since
    };

    std::optional<std::size_t> find_device(const std::string& dev_eui,
                                           std::string_view application_id) const;
    void on_uplink(std::string_view topic_dev_eui, std::string_view application_id,
                   std::string_view payload, WallTime wall, SteadyTime mono, Output& out);
    void on_join(std::string_view application_id, std::string_view payload, Output& out);
    /// Counts a decode error and logs it when its kind differs from the last one logged.
    void decode_error(std::size_t index, const std::string& kind, const std::string& reason,
                      Output& out);
    void unattributed(const std::string& what, Output& out);
    std::string name(std::size_t index) const;  ///< "bin7 (devEui 24e1…)"
    drivers::DeviceSample failed_sample(std::size_t index, drivers::PointFault fault,
                                        const std::string& error, WallTime wall,
                                        SteadyTime mono) const;

    std::vector<LorawanDevice> devices_;
    std::vector<DeviceState> states_;
    SourceCounters source_counters_;
    std::set<std::string> unknown_logged_;  ///< devEuis already logged as not configured
};

}  // namespace gw::lorawan
