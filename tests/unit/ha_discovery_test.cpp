// SPDX-License-Identifier: Apache-2.0
// Home Assistant MQTT discovery (uplink/ha_discovery.hpp, docs/dashboards.md): the
// `home_assistant` config section, and the discovery messages built from config/demo.json: one
// per sensor, HA's units, device classes only with units HA allows for them, availability on
// the status topic, stable and distinct ids, topic-safe node ids; nothing when disabled.
#include "uplink/ha_discovery.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "config/config_loader.hpp"

using namespace gw;
using nlohmann::json;

namespace {

const std::string kDemoPath = std::string(TOWNGW_SOURCE_DIR) + "/config/demo.json";

Config demo_config(std::vector<ConfigOverride> overrides = {{"/home_assistant/enabled", "true"}}) {
    auto result = load_config(kDemoPath, overrides);
    if (auto* errors = std::get_if<std::vector<ConfigError>>(&result)) {
        std::string all;
        for (const auto& e : *errors) all += e.to_string() + "\n";
        FAIL(all);
    }
    return std::get<Config>(result);
}

std::vector<ConfigError> errors_with(std::vector<ConfigOverride> overrides) {
    auto result = load_config(kDemoPath, overrides);
    if (auto* errors = std::get_if<std::vector<ConfigError>>(&result)) return *errors;
    return {};
}

/// Discovery payloads by sensor id ("name").
std::map<std::string, json> payloads_by_sensor(const std::vector<ha::DiscoveryMessage>& messages) {
    std::map<std::string, json> out;
    for (const auto& m : messages) {
        const json p = json::parse(m.payload);
        out[p.at("name").get<std::string>()] = p;
    }
    return out;
}

}  // namespace

TEST_CASE("home_assistant config: defaults, keys and the prefix are checked", "[unit][config]") {
    const Config plain = demo_config({});
    CHECK_FALSE(plain.home_assistant.enabled);
    CHECK(plain.home_assistant.discovery_prefix == "homeassistant");

    const Config custom = demo_config(
        {{"/home_assistant/enabled", "true"}, {"/home_assistant/discovery_prefix", "ha/disc"}});
    CHECK(custom.home_assistant.enabled);
    CHECK(custom.home_assistant.discovery_prefix == "ha/disc");

    const auto single_error = [](std::vector<ConfigOverride> overrides, const std::string& pointer,
                                 const std::string& words) {
        const auto errors = errors_with(std::move(overrides));
        INFO([&] {
            std::string all;
            for (const auto& e : errors) all += e.to_string() + "\n";
            return all;
        }());
        REQUIRE(errors.size() == 1);
        CHECK(errors[0].pointer == pointer);
        CHECK_THAT(errors[0].message, Catch::Contains(words));
    };
    single_error({{"/home_assistant/enabeld", "true"}}, "/home_assistant/enabeld", "unknown key");
    single_error({{"/home_assistant/enabled", "\"yes\""}}, "/home_assistant/enabled",
                 "true or false");
    single_error({{"/home_assistant", "[]"}}, "/home_assistant", "must be an object");
    for (const char* bad : {"\"\"", "ha/#", "ha/+/x", "/ha", "ha/", "ha//x"}) {
        INFO(bad);
        single_error({{"/home_assistant/discovery_prefix", bad}},
                     "/home_assistant/discovery_prefix",
                     bad[0] == '"' ? "must not be empty" : "without wildcards");
    }
}

TEST_CASE("HA discovery: nothing is published when it is disabled", "[unit][ha]") {
    CHECK(ha::discovery_messages(demo_config({}), "9.9.9").empty());
}

TEST_CASE("HA discovery: one config per sensor, on the data and status topics", "[unit][ha]") {
    const Config config = demo_config();
    const auto messages = ha::discovery_messages(config, "9.9.9");
    REQUIRE(messages.size() == config.sensors.size());
    REQUIRE(messages.size() == 7);

    std::set<std::string> topics;
    std::set<std::string> unique_ids;
    for (std::size_t i = 0; i < messages.size(); ++i) {
        const auto& sensor = config.sensors[i];
        const auto& m = messages[i];
        INFO(m.topic << " " << m.payload);
        const json p = json::parse(m.payload);
        topics.insert(m.topic);
        unique_ids.insert(p.at("unique_id").get<std::string>());

        std::string object_id = sensor.id;
        std::replace(object_id.begin(), object_id.end(), '.', '_');
        CHECK(m.topic ==
              "homeassistant/sensor/towngw_demo-town_gw-demo-01/" + object_id + "/config");
        CHECK(p["name"] == sensor.id);
        CHECK(p["state_topic"] == "townbrain/v1/demo-town/gw-demo-01/data/" + sensor.id);
        CHECK(p["json_attributes_topic"] == p["state_topic"]);
        CHECK(p["value_template"] == ha::kValueTemplate);
        CHECK(p["json_attributes_template"] == ha::kAttributesTemplate);
        CHECK(p["expire_after"] == 3 * sensor.window.count());
        CHECK(p["qos"] == 1);
        REQUIRE(p["availability"].size() == 1);
        const json& a = p["availability"][0];
        CHECK(a["topic"] == "townbrain/v1/demo-town/gw-demo-01/status");
        CHECK(a["value_template"] == "{{ value_json.state }}");
        CHECK(a["payload_available"] == "online");
        CHECK(a["payload_not_available"] == "offline");
        // One HA device per gateway; every entity hangs off it.
        CHECK(p["device"]["identifiers"] == json::array({"towngw_demo-town_gw-demo-01"}));
        CHECK(p["device"]["sw_version"] == "9.9.9");
        CHECK(p["device"]["manufacturer"] == "towngw project");
        CHECK(p["device"]["suggested_area"] == "demo-town");
        CHECK(p["origin"]["name"] == "towngwd");
        const std::string entity = p["default_entity_id"];
        CHECK(entity.rfind("sensor.towngw_demo_town_gw_demo_01_", 0) == 0);
        CHECK(entity.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_.") ==
              std::string::npos);
    }
    CHECK(topics.size() == messages.size());
    CHECK(unique_ids.size() == messages.size());
    CHECK(unique_ids.count("towngw:demo-town:gw-demo-01:water1.ph") == 1);
}

TEST_CASE("HA discovery: units, device classes and state classes", "[unit][ha]") {
    const auto p = payloads_by_sensor(ha::discovery_messages(demo_config(), "1"));
    const auto unit = [&](const std::string& id) {
        return p.at(id).value("unit_of_measurement", std::string("(none)"));
    };
    const auto device_class = [&](const std::string& id) {
        return p.at(id).value("device_class", std::string("(none)"));
    };
    // pH: HA's ph class is unitless.
    CHECK(device_class("water1.ph") == "ph");
    CHECK(unit("water1.ph") == "(none)");
    CHECK(device_class("water1.temperature") == "temperature");
    CHECK(unit("water1.temperature") == "°C");
    // Turbidity has no HA class: the unit alone.
    CHECK(device_class("water1.turbidity") == "(none)");
    CHECK(unit("water1.turbidity") == "NTU");
    CHECK(device_class("flow1.flow") == "volume_flow_rate");
    CHECK(unit("flow1.flow") == "m³/h");
    CHECK(device_class("flow1.total") == "water");
    CHECK(unit("flow1.total") == "m³");
    CHECK(p.at("flow1.total")["state_class"] == "total_increasing");
    CHECK(device_class("bin1.distance") == "distance");
    CHECK(unit("bin1.distance") == "mm");
    // A bin's fill level in %: no HA class fits (battery and humidity would be wrong).
    CHECK(device_class("bin1.fill") == "(none)");
    CHECK(unit("bin1.fill") == "%");
    for (const char* id : {"water1.ph", "water1.temperature", "water1.turbidity", "flow1.flow",
                           "bin1.distance", "bin1.fill"})
        CHECK(p.at(id)["state_class"] == "measurement");
}

TEST_CASE("HA discovery: unit spelling and classes beyond the demo", "[unit][ha]") {
    CHECK(ha::ha_unit("degC") == "°C");
    CHECK(ha::ha_unit("m3/h") == "m³/h");
    CHECK(ha::ha_unit("m3") == "m³");
    CHECK(ha::ha_unit("uS/cm") == "µS/cm");  // U+00B5, HA's spelling
    CHECK(ha::ha_unit("μS/cm") == "µS/cm");  // Greek mu
    CHECK(ha::ha_unit("mg/l") == "mg/L");
    CHECK(ha::ha_unit("NTU") == "NTU");
    CHECK(ha::ha_unit("") == "");

    const auto c = [](const std::string& metric, const std::string& unit) {
        return ha::classify(metric, unit);
    };
    CHECK(c("conductivity", "uS/cm").device_class == "conductivity");
    CHECK(c("redox_potential", "mV").device_class == "voltage");
    CHECK(c("water_level", "m").device_class == "distance");
    CHECK(c("battery", "%").device_class == "battery");
    CHECK(c("bin_temperature", "degC").device_class == "temperature");
    CHECK(c("dissolved_oxygen", "mg/L").device_class.empty());
    CHECK(c("dissolved_oxygen", "mg/L").unit == "mg/L");
    CHECK(c("tilt", "").unit.empty());
    CHECK(c("tilt", "").device_class.empty());
    // A volume that is not a meter reading is no "water" total.
    CHECK(c("tank_volume", "m3").device_class.empty());
    CHECK(c("tank_volume", "m3").state_class == "measurement");
    CHECK(c("flow_total", "L").device_class == "water");
    // "total_*" water-quality parameters are concentrations, not totals.
    CHECK(c("total_phosphorus", "mg/L").state_class == "measurement");
    // A unit HA does not accept for the class: no class rather than a rejected entity.
    CHECK(c("flow_rate", "m3/s").device_class.empty());
    CHECK(c("water_temperature", "degX").device_class.empty());
}

TEST_CASE("HA discovery: ids are topic-safe, stable and distinct", "[unit][ha]") {
    CHECK(ha::topic_safe("water1.ph") == "water1_ph");
    CHECK(ha::topic_safe("a-b_c.d") == "a-b_c_d");

    Config config = demo_config({{"/home_assistant/enabled", "true"},
                                 {"/gateway/town_id", "lian.du-zhen"},
                                 {"/gateway/gateway_id", "gw.01"},
                                 {"/home_assistant/discovery_prefix", "ha/disc"}});
    CHECK(ha::node_id(config) == "towngw_lian_du-zhen_gw_01");
    // Two ids that differ only in '.' and '_' still get their own topics.
    config.sensors[1].id = "water1_ph";
    const auto first = ha::discovery_messages(config, "1");
    const auto again = ha::discovery_messages(config, "1");
    REQUIRE(first.size() == 7);
    std::set<std::string> topics;
    std::set<std::string> unique_ids;
    for (std::size_t i = 0; i < first.size(); ++i) {
        INFO(first[i].topic);
        CHECK(first[i].topic == again[i].topic);      // stable
        CHECK(first[i].payload == again[i].payload);  // byte for byte
        CHECK(first[i].topic.rfind("ha/disc/sensor/towngw_lian_du-zhen_gw_01/", 0) == 0);
        // <prefix>/sensor/<node>/<object>/config, node and object in [A-Za-z0-9_-].
        const std::string rest = first[i].topic.substr(std::string("ha/disc/sensor/").size());
        const auto slash = rest.find('/');
        REQUIRE(slash != std::string::npos);
        const std::string object_id = rest.substr(slash + 1, rest.rfind("/config") - slash - 1);
        CHECK(ha::topic_safe(object_id) == object_id);
        CHECK(rest.substr(rest.size() - 7) == "/config");
        topics.insert(first[i].topic);
        unique_ids.insert(json::parse(first[i].payload).at("unique_id").get<std::string>());
    }
    CHECK(topics.size() == 7);
    CHECK(unique_ids.size() == 7);
    CHECK(first[0].topic == "ha/disc/sensor/towngw_lian_du-zhen_gw_01/water1_ph/config");
    CHECK(first[1].topic == "ha/disc/sensor/towngw_lian_du-zhen_gw_01/water1_ph_2/config");
    CHECK(json::parse(first[0].payload)["state_topic"] ==
          "townbrain/v1/lian.du-zhen/gw.01/data/water1.ph");
}
