// SPDX-License-Identifier: Apache-2.0
// Home Assistant MQTT discovery (docs/dashboards.md): one retained config message per sensor,
// `{discovery_prefix}/sensor/{node_id}/{object_id}/config`, that points Home Assistant's MQTT
// integration at the sensor's data topic, with its unit, device class, state class and an
// availability tied to the gateway's retained `…/status`. Pure: builds the messages from the
// configuration, publishing is the gateway's job. Schema: docs/schemas/ha-discovery.schema.json.
#pragma once

#include <string>
#include <vector>

#include "config/config.hpp"

namespace gw::ha {

/// One discovery message (published retained, QoS 1).
struct DiscoveryMessage {
    std::string topic;
    std::string payload;
};

/// How a sensor appears in Home Assistant. Empty strings are left out of the payload.
struct EntityClass {
    std::string unit;          ///< unit_of_measurement in HA's spelling ("°C", "m³/h")
    std::string device_class;  ///< only one HA documents for sensors, and only with its units
    std::string state_class;   ///< "measurement" or "total_increasing" (totalisers)
};

/// The value_template: the window's `mean`; the string "None" (HA: state `unknown`) when the
/// window has no good sample or was taken during a calibration; an empty string (HA: state not
/// updated) for a window from the backlog (`historical`), so a late window never overwrites a
/// fresher one.
extern const char* const kValueTemplate;
/// The json_attributes_template: quality, flag, count, expected, the window's times, min/max/last,
/// calibration and historical of the last window, as a JSON object.
extern const char* const kAttributesTemplate;
/// The availability value_template applied to `…/status`: its `state` (online/offline).
extern const char* const kAvailabilityTemplate;

/// Our unit in Home Assistant's spelling: degC -> °C, m3/h -> m³/h, m3 -> m³, uS/cm -> µS/cm;
/// units HA has no other spelling for (NTU, mg/L, %) are returned unchanged.
std::string ha_unit(const std::string& unit);

/// Unit, device class and state class of a sensor from its metric and unit.
EntityClass classify(const std::string& metric, const std::string& unit);

/// `text` with every character outside [A-Za-z0-9_-] replaced by '_' (the characters Home
/// Assistant allows in a discovery topic's node_id and object_id).
std::string topic_safe(const std::string& text);

/// `towngw_{town_id}_{gateway_id}`, topic-safe: the discovery topic's node_id and the HA device's
/// identifier.
std::string node_id(const Config& config);

/// The discovery messages of every sensor, in configuration order; none when
/// `home_assistant.enabled` is false. `version` is the daemon's (the device's sw_version).
std::vector<DiscoveryMessage> discovery_messages(const Config& config, const std::string& version);

}  // namespace gw::ha
