// SPDX-License-Identifier: Apache-2.0
// Home Assistant MQTT discovery (home_assistant.enabled, docs/dashboards.md) against the real
// daemon: a retained config per demo sensor under homeassistant/, whose state_topic is the topic
// the sensor's data really arrives on and whose availability is the gateway's status topic; the
// templates, rendered with Jinja2 as Home Assistant renders them (tests/tools/
// render_ha_template.py, Debian's python3-jinja2), turn real data messages into their mean; the
// configs follow docs/schemas/ha-discovery.schema.json; `rebirth` publishes them again.
#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <functional>
#include <sstream>

#include "demo_rig.hpp"

using namespace std::chrono_literals;
using namespace gw::test;
using namespace gw::test::demo;
using nlohmann::json;

namespace {

std::string object_id_of(std::string sensor_id) {
    std::replace(sensor_id.begin(), sensor_id.end(), '.', '_');
    return sensor_id;
}

bool is_config(const ReceivedMessage& m) {
    return m.topic.size() > 7 && m.topic.compare(m.topic.size() - 7, 7, "/config") == 0;
}

/// Runs a python tool from tests/tools with /usr/bin/python3; its stdout.
std::string run_tool(DemoRig& rig, const std::vector<std::string>& args) {
    std::vector<std::string> argv{"/usr/bin/python3"};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto r = run_command(argv, rig.dir().path());
    INFO(r.out << r.err);
    REQUIRE(r.status);
    REQUIRE(r.status->exited_with(0));
    return r.out;
}

/// One template rendering to check: what it is, and the rendered text's expectation.
struct Case {
    std::string what;
    std::string template_text;
    std::string payload;
    std::function<void(const std::string& rendered)> check;
};

}  // namespace

TEST_CASE("Home Assistant discovery: a retained config per sensor that reads the real stream",
          "[integration][ha]") {
    RigOptions options;
    options.overrides = {{"/home_assistant/enabled", "true"}};
    DemoRig rig("ha", options);
    rig.start_gateway();
    REQUIRE(rig.wait_for_windows(2, 30s));

    // Subscribed after the gateway published them: only the broker's retained copies arrive.
    MqttCollector discovery(rig.broker().uri(), "homeassistant/#");
    const std::string node = "towngw_" + std::string(kTownId) + "_" + rig.gateway_id();
    const std::string base = "homeassistant/sensor/" + node + "/";
    REQUIRE(discovery.wait_for(
        [&](const MessageList& all) {
            return std::count_if(all.begin(), all.end(), is_config) >= kSensorCount;
        },
        10s));
    const MessageList configs = discovery.messages();
    const MessageList stream = rig.collector().messages();
    CHECK(configs.size() == static_cast<std::size_t>(kSensorCount));

    std::vector<Case> cases;
    const auto statuses = on_topic(stream, rig.status_topic());
    REQUIRE_FALSE(statuses.empty());
    const std::string birth = statuses.back().payload;

    for (const auto& sensor : demo_sensors()) {
        INFO(sensor.id);
        const auto found = on_topic(configs, base + object_id_of(sensor.id) + "/config");
        REQUIRE(found.size() == 1);
        const ReceivedMessage& config = found.front();
        CHECK(config.retained);
        REQUIRE(config.json);
        const json& p = *config.json;
        INFO(p.dump());
        // The state topic is where this sensor's windows really arrive.
        const std::string state_topic = p.at("state_topic");
        CHECK(state_topic == rig.topic_base() + "data/" + sensor.id);
        const auto data = on_topic(stream, state_topic);
        REQUIRE(data.size() >= 2);
        CHECK(p.at("json_attributes_topic") == state_topic);
        CHECK(p.at("name") == sensor.id);
        CHECK(p.at("expire_after") == 3 * rig.window_s());
        const json& availability = p.at("availability").at(0);
        CHECK(availability.at("topic") == rig.status_topic());
        CHECK(availability.at("payload_available") == "online");
        CHECK(availability.at("payload_not_available") == "offline");
        CHECK(p.at("device").at("identifiers").at(0) == node);

        // Every real window renders to its mean: HA's "None" (unknown) when it has no good
        // sample, nothing (no update) when it came from the backlog (a window that closed
        // before the first connection).
        const std::string value_template = p.at("value_template");
        for (const auto& m : data) {
            REQUIRE(m.json);
            const json window = *m.json;
            cases.push_back({sensor.id + " value of " + m.payload, value_template, m.payload,
                             [window](const std::string& rendered) {
                                 if (window.at("historical") == true) {
                                     CHECK(rendered.empty());
                                 } else if (window.at("mean").is_null()) {
                                     CHECK(rendered == "None");
                                 } else {
                                     REQUIRE_FALSE(rendered.empty());
                                     CHECK(std::stod(rendered) == window.at("mean").get<double>());
                                 }
                             }});
        }
        // The attributes are a JSON object with the window's quality, count and times.
        const json last = *data.back().json;
        cases.push_back({sensor.id + " attributes", p.at("json_attributes_template"),
                         data.back().payload, [last](const std::string& rendered) {
                             const json a = json::parse(rendered, nullptr, false);
                             REQUIRE(a.is_object());
                             CHECK(a.at("quality") == last.at("quality"));
                             CHECK(a.at("count") == last.at("count"));
                             CHECK(a.at("window_end") == last.at("window_end"));
                             CHECK_FALSE(a.contains("mean"));  // the state, not an attribute
                         }});
        // Availability from the retained birth.
        cases.push_back({sensor.id + " availability", availability.at("value_template"), birth,
                         [](const std::string& rendered) { CHECK(rendered == "online"); }});
        // The rules the stream above may not show: no good sample, calibration, backlog.
        json variant = last;
        variant["historical"] = false;
        variant["mean"] = nullptr;
        cases.push_back({sensor.id + " null mean", value_template, variant.dump(),
                         [](const std::string& r) { CHECK(r == "None"); }});
        variant["mean"] = 4.01;
        variant["quality"] = "calibrating";
        cases.push_back({sensor.id + " calibrating", value_template, variant.dump(),
                         [](const std::string& r) { CHECK(r == "None"); }});
        variant = last;
        variant["mean"] = 1.5;
        variant["historical"] = true;
        cases.push_back({sensor.id + " historical", value_template, variant.dump(),
                         [](const std::string& r) { CHECK(r.empty()); }});
    }

    // Render everything in one run of the tool, then check case by case.
    const auto cases_file = rig.dir().path() / "ha_cases.jsonl";
    {
        std::ofstream out(cases_file);
        for (const auto& c : cases)
            out << json{{"template", c.template_text}, {"payload", c.payload}}.dump() << "\n";
    }
    std::istringstream rendered(
        run_tool(rig, {(kSourceDir / "tests" / "tools" / "render_ha_template.py").string(),
                       cases_file.string()}));
    std::string line;
    std::size_t index = 0;
    for (; std::getline(rendered, line) && index < cases.size(); ++index) {
        INFO(cases[index].what << "\n  rendered: " << line);
        const json result = json::parse(line);
        REQUIRE(result.contains("rendered"));
        cases[index].check(result.at("rendered").get<std::string>());
    }
    CHECK(index == cases.size());

    // The configs follow their schema (the one-minute contract test checks them too).
    const auto configs_file = rig.dir().path() / "ha_configs.jsonl";
    {
        std::ofstream out(configs_file);
        for (const auto& m : configs)
            out << json{{"topic", m.topic}, {"payload", m.payload}}.dump() << "\n";
    }
    const std::string validation =
        run_tool(rig, {(kSourceDir / "tests" / "tools" / "validate_mqtt.py").string(),
                       (kSourceDir / "docs" / "schemas").string(), configs_file.string()});
    CHECK(validation.find("ha-discovery " + std::to_string(kSensorCount)) != std::string::npos);

    // `rebirth` publishes every config again (live now, so not flagged retained).
    const auto r = run_command(
        {"mosquitto_pub", "-h", "127.0.0.1", "-p", std::to_string(rig.broker().port()), "-q", "1",
         "-t", rig.topic_base() + "cmd/rebirth", "-m", R"({"request_id": "ha"})"},
        rig.dir().path());
    REQUIRE(r.status);
    REQUIRE(r.status->exited_with(0));
    CHECK(discovery.wait_for(
        [](const MessageList& all) {
            return std::count_if(all.begin(), all.end(), [](const ReceivedMessage& m) {
                       return is_config(m) && !m.retained;
                   }) >= kSensorCount;
        },
        10s));
}
