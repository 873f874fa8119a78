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
    std::string town_id;            ///< "town_id", topic-safe id
    std::string gateway_id;         ///< "gateway_id", topic-safe id, unique in the town
    std::string log_level{"info"};  ///< "log_level": debug|info|warn|error
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
};

enum class SyncMode : std::uint8_t { Normal, Full };

struct StorageConfig {
    std::string path{"/var/lib/towngw/outbox.db"};  ///< "path"
    SyncMode synchronous{SyncMode::Normal};         ///< "synchronous": "normal" | "full"
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
    modbus::Endpoint endpoint;                        ///< "transport"
    int unit_id{1};                                   ///< "unit_id": 1..247 (TCP: 0..255)
    std::chrono::milliseconds poll_period{1000};      ///< "poll_ms"
    std::chrono::milliseconds response_timeout{500};  ///< "timeout_ms"
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
    std::vector<DeviceConfig> devices;
    std::vector<SensorConfig> sensors;

    /// "{prefix}/{town_id}/{gateway_id}"
    std::string topic_root() const {
        return mqtt.topic_prefix + "/" + gateway.town_id + "/" + gateway.gateway_id;
    }
};

}  // namespace gw
