// SPDX-License-Identifier: Apache-2.0
// The MQTT contract (docs/mqtt.md, docs/schemas/*.schema.json): a subscriber on "#" records a
// full minute of a demo-like run that also produces a device fault, a calibration and its
// rollback, and the clean stop; every message must validate against the schema of its topic
// (tests/tools/validate_mqtt.py, Debian's python3-jsonschema). Home Assistant discovery is on,
// so its retained configs (under homeassistant/, inside "#") are checked too, and so are the
// demo's analytics (alarms, flow volumes, the bins' collection list).
#include <catch2/catch.hpp>
#include <csignal>
#include <fstream>

#include "demo_rig.hpp"
#include "net.hpp"

using namespace std::chrono_literals;
using namespace gw::test;
using namespace gw::test::demo;
using nlohmann::json;

TEST_CASE("every message of a one-minute run validates against its JSON Schema",
          "[integration][contract]") {
    RigOptions options;
    options.poll_ms = 250;
    options.overrides = {{"/gateway/health_interval_s", "5"},
                         {"/sensors/0/calibration", R"({"stability_per_min": 20})"},
                         {"/home_assistant/enabled", "true"},
                         // The demo's analytics, quick enough for a minute: alarms, flow
                         // volumes and the collection list are checked too.
                         {"/analytics/sites/0/raise_after_s", "4"},
                         {"/analytics/flow_meters/0/window_s", "10"}};
    options.analytics = true;
    DemoRig rig("schema", options);
    MqttCollector everything(rig.broker().uri(), "#");
    const auto started = std::chrono::steady_clock::now();
    rig.start_gateway();
    REQUIRE(rig.wait_for_windows(1, 30s));

    // A device that stops answering for a while: comm_error windows with faults, flag B.
    REQUIRE(rig.sim()
                .control({{"fault", {{"device", "bin1"}, {"kind", "timeout"}}}})
                .value("ok", false));
    // A calibration (C flag, calibration event) and its rollback.
    const json begin = daemon_request(
        rig,
        {{"cmd", "calibration.begin"}, {"sensor", "water1.ph"}, {"technician", "schema-test"}});
    REQUIRE(begin.value("ok", false));
    REQUIRE(wait_until(
        [&] {
            return daemon_request(rig, {{"cmd", "calibration.point"},
                                        {"session", begin["session"]},
                                        {"buffer", "6.86"},
                                        {"temperature_degc", 25},
                                        {"average_s", 2},
                                        {"force", true}})
                .value("ok", false);
        },
        10s, 250ms));
    const json commit =
        daemon_request(rig, {{"cmd", "calibration.commit"}, {"session", begin["session"]}});
    INFO(commit.dump());
    REQUIRE(commit.value("ok", false));
    REQUIRE(rig.sim().control({{"clear", "bin1"}}).value("ok", false));
    REQUIRE(daemon_request(rig, {{"cmd", "calibration.rollback"},
                                 {"sensor", "water1.ph"},
                                 {"technician", "schema-test"}})
                .value("ok", false));

    // The rest of the minute, then a clean stop (offline status).
    std::this_thread::sleep_until(started + 60s);  // a fixed span of traffic, by design
    rig.gateway().process().signal(SIGTERM);
    REQUIRE(rig.gateway().process().wait_exit(15s));
    REQUIRE(everything.wait_for(
        [&](const MessageList& all) {
            return std::any_of(all.begin(), all.end(),
                               status_is(rig.status_topic(), "offline", "shutdown"));
        },
        10s));

    const auto all = everything.messages();
    // The analytics' messages were there to be checked (the demo's turbidity of ~1.2 NTU is
    // above GB 5749's 1 NTU; flow windows of 10 s; the bins' collection list is retained).
    for (const char* part : {"/alarm/water1.turbidity", "/flow/sewer-main", "/bins/collect"}) {
        INFO("no message on a topic containing " << part);
        CHECK(std::any_of(all.begin(), all.end(), [&](const ReceivedMessage& m) {
            return m.topic.find(part) != std::string::npos;
        }));
    }
    const auto file = rig.dir().path() / "messages.jsonl";
    {
        std::ofstream out(file);
        for (const auto& m : all)
            out << json{{"topic", m.topic}, {"payload", m.payload}}.dump() << "\n";
    }
    const auto r = run_command(
        {"/usr/bin/python3", (kSourceDir / "tests" / "tools" / "validate_mqtt.py").string(),
         (kSourceDir / "docs" / "schemas").string(), file.string()},
        rig.dir().path());
    std::cout << "schema test: " << r.out << std::flush;
    INFO(r.out << r.err);
    REQUIRE(r.status);
    CHECK(r.status->exited_with(0));
    // Every kind of message was there to be checked.
    for (const char* kind : {"data ", "event ", "health ", "status ", "ha-discovery "})
        CHECK(r.out.find(kind) != std::string::npos);
    CHECK(all.size() > 150);  // ~7 sensors x 2 s windows x 60 s, less start-up
}
