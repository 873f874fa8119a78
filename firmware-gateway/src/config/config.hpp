// SPDX-License-Identifier: Apache-2.0
// The gateway's typed configuration. Defaults live in the member initialisers; the JSON key of
// each field is given in its comment. Parsing and validation: config_loader.hpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "drivers/modbus_bus.hpp"
#include "drivers/register_codec.hpp"

namespace gw {

struct GatewayIdentity {
    std::string town_id;                       ///< "town_id", topic-safe id
    std::string gateway_id;                    ///< "gateway_id", topic-safe id, unique in the town
    std::string log_level{"info"};             ///< "log_level": debug|info|warn|error
    std::chrono::seconds health_interval{60};  ///< "health_interval_s"
};

struct MqttConfig {
    std::string broker;                        ///< "broker": tcp://host:port
    std::string client_id;                     ///< "client_id", default "towngw-{gateway_id}"
    std::string topic_prefix{"townbrain/v1"};  ///< "topic_prefix"
    std::string username;                      ///< "username" (optional)
    std::string password;                      ///< "password" (optional, never logged)
    int keepalive_s{30};                       ///< "keepalive_s"
    int connect_timeout_s{10};                 ///< "connect_timeout_s"
    int reconnect_min_s{1};                    ///< "reconnect_min_s": first retry delay
    int reconnect_max_s{60};                   ///< "reconnect_max_s": back-off ceiling
    int max_inflight{32};                      ///< "max_inflight": QoS 1 publishes awaiting PUBACK
    int backlog_rate{200};  ///< "backlog_rate": backlog messages/s after an outage
};

enum class SyncMode : std::uint8_t { Normal, Full };
enum class WhenFull : std::uint8_t { DropOldest, RejectNew };

struct StorageConfig {
    std::string path{"/var/lib/towngw/outbox.db"};   ///< "path"
    SyncMode synchronous{SyncMode::Full};            ///< "synchronous": "full" | "normal"
    std::uint64_t max_bytes{128u << 20};             ///< "max_bytes": database size cap
    WhenFull when_full{WhenFull::DropOldest};        ///< "when_full": "drop_oldest" | "reject_new"
    std::chrono::milliseconds flush_interval{1000};  ///< "flush_interval_ms": raw reading batches
};

enum class ClockTrust : std::uint8_t { Ntp, System };

struct ClockConfig {
    ClockTrust trust{ClockTrust::Ntp};    ///< "trust": "ntp" | "system"
    std::chrono::seconds max_hold{3600};  ///< "max_hold_s": how long to hold unsynced readings
};

struct ControlConfig {
    std::string socket{"/run/towngw/control.sock"};  ///< "socket"
    std::string group;  ///< "group": owner group of the socket (mode 0660), empty = unchanged
};

struct DeviceConfig {
    std::string id;            ///< "id"
    std::string profile_file;  ///< "profile": path (relative to the config file), or
                               ///< empty when "registers" are given inline
    modbus::DeviceProfile profile;
    modbus::Endpoint endpoint;  ///< "transport"
    int unit_id{1};             ///< "unit_id": 1..247 (TCP: 0..255)
    std::chrono::milliseconds poll_period{1000};      ///< "poll_ms"
    std::chrono::milliseconds response_timeout{500};  ///< "timeout_ms"
    int retries{1};                    ///< "retries": extra attempts of a timed-out request
    int backoff_after_failures{3};     ///< "backoff_after_failures": failed polls before back-off
    std::chrono::seconds backoff{30};  ///< "backoff_s": not polled for this long, then probed
};

struct FillLevel {
    double empty_mm{0};  ///< "empty_mm": sensor to bin floor
    double full_mm{0};   ///< "full_mm": sensor to the "full" line
};

struct SensorConfig {
    std::string id;                       ///< "id", topic-safe
    std::string device_id;                ///< "device"
    std::string register_name;            ///< "register": a point of the device's profile
    std::size_t device_index{0};          ///< resolved
    std::size_t register_index{0};        ///< resolved
    std::chrono::seconds window{60};      ///< "window_s"
    std::string metric;                   ///< "metric", default from the profile (or "fill_level")
    std::string unit;                     ///< "unit", default from the profile (or "%")
    std::optional<FillLevel> fill_level;  ///< "fill_level": derive bin fill % from a distance
};

struct Config {
    std::string source_file;
    GatewayIdentity gateway;
    MqttConfig mqtt;
    StorageConfig storage;
    ControlConfig control;
    ClockConfig clock;
    std::vector<DeviceConfig> devices;
    std::vector<SensorConfig> sensors;

    /// "{prefix}/{town_id}/{gateway_id}"
    std::string topic_root() const {
        return mqtt.topic_prefix + "/" + gateway.town_id + "/" + gateway.gateway_id;
    }
};

}  // namespace gw
