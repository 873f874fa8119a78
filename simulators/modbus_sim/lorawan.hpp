// SPDX-License-Identifier: Apache-2.0
// Simulated LoRaWAN waste-bin sensors (Milesight EM310-UDL, DOMAIN.md §3.3) as a ChirpStack v4
// MQTT integration publishes them: one "up" event per uplink on
// application/{application_id}/device/{dev_eui}/event/up, JSON (integration "json": true).
// The codec, the event builder and the fleet's scheduling are pure; publishing goes through a
// callback, so tests can run the fleet without a broker.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "modbus_sim/faults.hpp"
#include "modbus_sim/scenario.hpp"
#include "modbus_sim/waveform.hpp"

namespace gw::sim {

inline constexpr int kMilesightFPort = 85;

/// What an EM310-UDL reports, already in the units and resolution of its payload.
struct Em310Reading {
    int battery_pct{0};  ///< 0..100
    int distance_mm{0};  ///< 0..65535
    int position{0};     ///< 0 normal, 1 tilt
};

/// Rounds and clamps engineering values into what the payload can carry.
Em310Reading make_em310_reading(double battery_pct, double distance_mm, bool tilt);

/// TLV payload: 01 75 <battery> | 03 82 <distance uint16 LE> | 04 00 <position>.
/// e.g. {92, 2116, 1} -> 01 75 5C 03 82 44 08 04 00 01.
std::vector<std::uint8_t> encode_em310_udl(const Em310Reading& reading);

/// A payload a decoder must reject: the valid TLV cut inside the distance value.
std::vector<std::uint8_t> garbage_em310_udl(const Em310Reading& reading);

/// RFC 4648 base64 with padding (how protobuf JSON carries bytes).
std::string base64_encode(const std::vector<std::uint8_t>& bytes);

/// A random (version 4) UUID, lower case, e.g. "3f0c8a4e-2b1d-4c5e-9f7a-0e1d2c3b4a59".
std::string uuid_v4(std::mt19937_64& rng);

/// "2024-05-01T08:00:00.123456+00:00", ChirpStack's timestamp form.
std::string rfc3339_utc(std::chrono::system_clock::time_point time);

/// One uplink as the network server saw it.
struct Uplink {
    std::string dedup_id;
    std::chrono::system_clock::time_point time;
    std::uint32_t f_cnt{0};
    std::vector<std::uint8_t> payload;
    Em310Reading reading;
    bool garbage{false};
    std::uint32_t uplink_id{0};  ///< rxInfo.uplinkId
};

std::string uplink_topic(const LorawanConfig& config, const LorawanDeviceConfig& device);

/// The ChirpStack v4 UplinkEvent as JSON (no "object": no codec configured in the profile).
nlohmann::ordered_json uplink_event_json(const LorawanConfig& config,
                                         const LorawanDeviceConfig& device, const Uplink& uplink);

struct UplinkCounters {
    std::uint64_t uplinks{0};    ///< uplink slots that came due
    std::uint64_t published{0};  ///< MQTT messages handed to the broker (incl. copies)
    std::uint64_t faulted{0};    ///< slots where a fault applied
    std::uint64_t publish_errors{0};
};

/// Schedules and builds the uplinks of every LoRaWAN device of a scenario.
class LorawanFleet {
public:
    /// Publishes one MQTT message (QoS 1, not retained); false if it could not be handed over.
    using Publish = std::function<bool(const std::string& topic, const std::string& payload)>;
    /// Called for every message published: kind is "uplink", "duplicate" or "replay".
    using OnPublished = std::function<void(const LorawanDeviceConfig& device, const Uplink& uplink,
                                           std::string_view kind)>;

    LorawanFleet(LorawanConfig config, std::uint64_t seed);

    const LorawanConfig& config() const { return config_; }
    bool empty() const { return devices_.empty(); }

    /// Wall-clock seconds since start of the next uplink slot.
    std::optional<double> next_due_s() const;

    /// Runs every slot due by `wall_s`. `now` stamps the events.
    void run_due(double wall_s, std::chrono::system_clock::time_point now, const SimClock& clock,
                 FaultBoard& faults, const Publish& publish, const OnPublished& on_published);

    const UplinkCounters& counters(std::size_t index) const { return devices_[index].counters; }
    const LorawanDeviceConfig& device(std::size_t index) const { return config_.devices[index]; }
    std::size_t size() const { return devices_.size(); }

private:
    struct DeviceState {
        Waveform distance;
        Waveform battery;
        std::uint32_t next_f_cnt{0};
        std::uint64_t slot{0};  ///< index of the next uplink slot
        std::optional<Em310Reading> last_reading;
        std::deque<Uplink> history;  ///< latest last; for replays
        UplinkCounters counters;
    };

    double slot_time_s(std::size_t index) const;
    void run_slot(std::size_t index, std::chrono::system_clock::time_point now,
                  const SimInstant& sim_now, FaultBoard& faults, double wall_s,
                  const Publish& publish, const OnPublished& on_published);

    LorawanConfig config_;
    std::vector<DeviceState> devices_;
    std::mt19937_64 noise_rng_;
    std::mt19937_64 id_rng_;  ///< deduplication ids must differ between runs, as in ChirpStack
};

}  // namespace gw::sim
