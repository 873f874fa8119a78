// SPDX-License-Identifier: Apache-2.0
#include "uplink/ha_discovery.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

namespace gw::ha {

// Home Assistant renders these with Jinja2, `value_json` being the parsed payload. Its MQTT
// sensor ignores an empty result and takes "None" as `unknown` (homeassistant/components/mqtt/
// sensor.py, PAYLOAD_NONE); any other non-number is an error for a sensor with a unit or a
// state class. tests/tools/render_ha_template.py renders them against real data messages.
const char* const kValueTemplate =
    "{% if value_json.historical %}"
    "{% elif value_json.mean is none or value_json.quality == 'calibrating' %}None"
    "{% else %}{{ value_json.mean }}{% endif %}";

const char* const kAttributesTemplate =
    "{{ {'quality': value_json.quality, 'flag': value_json.flag, 'count': value_json.count, "
    "'expected': value_json.expected, 'window_start': value_json.window_start, "
    "'window_end': value_json.window_end, 'min': value_json.min, 'max': value_json.max, "
    "'last': value_json.last, 'calibration': value_json.calibration, "
    "'historical': value_json.historical} | tojson }}";

const char* const kAvailabilityTemplate = "{{ value_json.state }}";

namespace {

using ordered_json = nlohmann::ordered_json;

// Units of the device classes below, as Home Assistant spells them
// (homeassistant/components/sensor/const.py, DEVICE_CLASS_UNITS). Only units every recent HA
// release accepts for the class are listed; a sensor with another unit gets no device class.
const std::set<std::string> kTemperatureUnits{"°C", "°F", "K"};
const std::set<std::string> kFlowRateUnits{"m³/h", "L/min", "ft³/min", "gal/min"};
const std::set<std::string> kWaterUnits{"m³", "L", "ft³", "gal", "CCF"};
const std::set<std::string> kDistanceUnits{"mm", "cm", "m", "km", "in", "ft", "yd", "mi"};
const std::set<std::string> kConductivityUnits{"µS/cm", "mS/cm", "S/cm"};
const std::set<std::string> kVoltageUnits{"µV", "mV", "V", "kV"};
const std::set<std::string> kCurrentUnits{"mA", "A"};
const std::set<std::string> kPressureUnits{"Pa", "hPa", "kPa", "bar", "cbar", "mbar", "psi"};

bool contains(const std::string& text, const char* part) {
    return text.find(part) != std::string::npos;
}

/// A meter reading that only grows (a flow totaliser), by its metric name.
bool is_total(const std::string& metric) {
    // Not "total_*": total_phosphorus, total_suspended_solids are concentrations.
    const auto n = metric.size();
    return metric == "total" || (n > 6 && metric.compare(n - 6, 6, "_total") == 0) ||
           contains(metric, "totaliser") || contains(metric, "totalizer");
}

/// An entity id part: lower case [a-z0-9_], no repeated, leading or trailing '_' (HA's rule).
std::string slug(const std::string& text) {
    std::string out;
    for (char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u))
            out += static_cast<char>(std::tolower(u));
        else if (!out.empty() && out.back() != '_')
            out += '_';
    }
    while (!out.empty() && out.back() == '_') out.pop_back();
    return out;
}

ordered_json sensor_payload(const Config& config, const SensorConfig& sensor,
                            const std::string& object_id, const std::string& version) {
    const std::string node = node_id(config);
    const std::string data_topic = config.topic_root() + "/data/" + sensor.id;
    const EntityClass entity = classify(sensor.metric, sensor.unit);

    ordered_json p;
    p["name"] = sensor.id;
    // Raw ids joined by ':' (not in the id alphabet): unique even where topic_safe() is not.
    p["unique_id"] =
        "towngw:" + config.gateway.town_id + ":" + config.gateway.gateway_id + ":" + sensor.id;
    p["default_entity_id"] = "sensor." + slug(node + "_" + object_id);
    p["state_topic"] = data_topic;
    p["qos"] = 1;
    p["value_template"] = kValueTemplate;
    if (!entity.unit.empty()) p["unit_of_measurement"] = entity.unit;
    if (!entity.device_class.empty()) p["device_class"] = entity.device_class;
    p["state_class"] = entity.state_class;
    // Three windows without a message: the value is stale (HA shows it unavailable).
    p["expire_after"] = 3 * sensor.window.count();
    p["availability"] = ordered_json::array({{{"topic", config.topic_root() + "/status"},
                                              {"value_template", kAvailabilityTemplate},
                                              {"payload_available", "online"},
                                              {"payload_not_available", "offline"}}});
    p["json_attributes_topic"] = data_topic;
    p["json_attributes_template"] = kAttributesTemplate;
    p["device"] = {
        {"identifiers", ordered_json::array({node})},
        {"name", "towngw " + config.gateway.town_id + "/" + config.gateway.gateway_id},
        {"manufacturer", "towngw project"},
        {"model", "towngwd environment-monitoring gateway"},
        {"sw_version", version},
        {"suggested_area", config.gateway.town_id},
    };
    p["origin"] = {{"name", "towngwd"}, {"sw_version", version}};
    return p;
}

}  // namespace

std::string ha_unit(const std::string& unit) {
    // Our profiles write ASCII units; the rest are common ASCII spellings of the same units.
    static const std::map<std::string, std::string> spelling{
        {"degC", "°C"},   {"degF", "°F"},     {"m3/h", "m³/h"},   {"m3", "m³"},
        {"l", "L"},       {"l/min", "L/min"}, {"uS/cm", "µS/cm"}, {"μS/cm", "µS/cm"},  // Greek mu
        {"mg/l", "mg/L"}, {"uV", "µV"},
    };
    auto it = spelling.find(unit);
    return it == spelling.end() ? unit : it->second;
}

EntityClass classify(const std::string& metric, const std::string& unit) {
    EntityClass e;
    e.unit = ha_unit(unit);
    e.state_class = "measurement";
    const auto in = [&e](const std::set<std::string>& units) { return units.count(e.unit) > 0; };
    if (e.unit == "pH" || (metric == "ph" && e.unit.empty())) {
        // HA's ph class is unitless: a unit would make HA reject the entity's unit.
        e.device_class = "ph";
        e.unit.clear();
    } else if (in(kTemperatureUnits)) {
        e.device_class = "temperature";
    } else if (in(kFlowRateUnits)) {
        e.device_class = "volume_flow_rate";
    } else if (in(kWaterUnits) && is_total(metric)) {
        e.device_class = "water";  // a meter reading: total_increasing (a reset starts anew)
        e.state_class = "total_increasing";
    } else if (in(kDistanceUnits)) {
        e.device_class = "distance";  // sensor-to-surface distances, water levels
    } else if (in(kConductivityUnits)) {
        e.device_class = "conductivity";
    } else if (in(kVoltageUnits)) {
        e.device_class = "voltage";  // electrode potentials, redox
    } else if (in(kCurrentUnits)) {
        e.device_class = "current";
    } else if (in(kPressureUnits)) {
        e.device_class = "pressure";
    } else if (e.unit == "%" && contains(metric, "battery")) {
        e.device_class = "battery";
    } else if (e.unit == "%" && contains(metric, "humidity")) {
        e.device_class = "humidity";
    }
    // Turbidity (NTU), concentrations (mg/L), a bin's fill level (%): HA has no class for them;
    // the unit alone is shown and graphed.
    if (e.device_class.empty() && is_total(metric)) e.state_class = "total_increasing";
    return e;
}

std::string topic_safe(const std::string& text) {
    std::string out = text;
    std::replace_if(
        out.begin(), out.end(),
        [](char c) {
            return !(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-');
        },
        '_');
    return out;
}

std::string node_id(const Config& config) {
    return "towngw_" + topic_safe(config.gateway.town_id) + "_" +
           topic_safe(config.gateway.gateway_id);
}

std::vector<DiscoveryMessage> discovery_messages(const Config& config, const std::string& version) {
    std::vector<DiscoveryMessage> out;
    if (!config.home_assistant.enabled) return out;
    const std::string base = config.home_assistant.discovery_prefix + "/sensor/" + node_id(config);
    std::set<std::string> used;
    for (const auto& sensor : config.sensors) {
        // Ids differing only in '.' and '_' ("a.b", "a_b") would share a topic: number the later.
        std::string object_id = topic_safe(sensor.id);
        for (int n = 2; !used.insert(object_id).second; ++n)
            object_id = topic_safe(sensor.id) + "_" + std::to_string(n);
        out.push_back({base + "/" + object_id + "/config",
                       sensor_payload(config, sensor, object_id, version).dump()});
    }
    return out;
}

}  // namespace gw::ha
