// SPDX-License-Identifier: Apache-2.0
// Remote commands over MQTT (…/cmd/{name} -> …/reply/{name}): ping, rebirth, get-config
// (no secrets), buffer-stats; malformed, unknown, id-less and oversized requests get an error
// reply; a flood is dropped and counted, and the daemon answers again afterwards. Every reply
// validates against docs/schemas/reply.schema.json.
#include <catch2/catch.hpp>
#include <fstream>

#include "demo_rig.hpp"

using namespace std::chrono_literals;
using namespace gw::test;
using namespace gw::test::demo;
using nlohmann::json;

namespace {

void send(DemoRig& rig, const std::string& name, const std::string& payload) {
    const auto r =
        run_command({"mosquitto_pub", "-h", "127.0.0.1", "-p", std::to_string(rig.broker().port()),
                     "-q", "1", "-t", rig.topic_base() + "cmd/" + name, "-m", payload},
                    rig.dir().path());
    INFO(r.out << r.err);
    REQUIRE(r.status);
    REQUIRE(r.status->exited_with(0));
}

/// The reply to `name` carrying `request_id` (json null: the replies without an id).
json wait_reply(DemoRig& rig, const std::string& name, const json& request_id) {
    json found;
    const bool ok = rig.collector().wait_for(
        [&](const MessageList& all) {
            for (const auto& m : all)
                if (m.topic == rig.topic_base() + "reply/" + name && m.json &&
                    (*m.json)["request_id"] == request_id) {
                    found = *m.json;
                    return true;
                }
            return false;
        },
        10s);
    INFO("no reply to " << name << " with request_id " << request_id.dump());
    REQUIRE(ok);
    return found;
}

}  // namespace

TEST_CASE("remote commands are answered, bad ones get a reason, a flood is dropped and counted",
          "[integration][commands]") {
    RigOptions options;
    options.overrides = {{"/mqtt/username", "gw"}, {"/mqtt/password", "hunter2-not-for-replies"}};
    DemoRig rig("commands", options);
    rig.start_gateway();
    REQUIRE(rig.wait_for_windows(1, 30s));

    send(rig, "ping", R"({"request_id": "r-1", "from": "ops-console"})");
    json r = wait_reply(rig, "ping", "r-1");
    CHECK(r["ok"] == true);
    CHECK(r["result"].contains("uptime_s"));
    CHECK(r["gateway_id"] == rig.gateway_id());

    send(rig, "get-config", R"({"request_id": 2})");
    r = wait_reply(rig, "get-config", 2);
    CHECK(r["ok"] == true);
    CHECK(r["result"]["gateway"]["gateway_id"] == rig.gateway_id());
    CHECK(r["result"]["sensors"].size() == kSensorCount);
    CHECK(r.dump().find("hunter2") == std::string::npos);

    send(rig, "buffer-stats", R"({"request_id": "b"})");
    r = wait_reply(rig, "buffer-stats", "b");
    CHECK(r["ok"] == true);
    CHECK(r["result"]["last_seq"].get<int>() > 0);

    // The predicate gets the message list (the collector's lock is held while it runs).
    const auto births = [&](const MessageList& all) {
        return std::count_if(all.begin(), all.end(), status_is(rig.status_topic(), "online"));
    };
    const auto births_before = births(rig.collector().messages());
    send(rig, "rebirth", R"({"request_id": "rb", "from": "test"})");
    CHECK(wait_reply(rig, "rebirth", "rb")["ok"] == true);
    REQUIRE(rig.collector().wait_for(
        [&](const MessageList& all) { return births(all) > births_before; }, 10s));

    // Bad requests: each answered with the reason, none breaks anything.
    send(rig, "ping", "this is not json");
    r = wait_reply(rig, "ping", nullptr);
    CHECK(r["ok"] == false);
    CHECK(r["error"].get<std::string>().find("not a JSON object") != std::string::npos);
    send(rig, "format-disk", R"({"request_id": "x"})");
    r = wait_reply(rig, "format-disk", "x");
    CHECK(r["ok"] == false);
    CHECK(r["error"].get<std::string>().find("unknown command") != std::string::npos);
    CHECK(r["error"].get<std::string>().find("ping") != std::string::npos);
    send(rig, "ping", R"({"request_id": ["no"]})");
    REQUIRE(rig.collector().wait_for(
        [&](const MessageList& all) {
            return std::any_of(all.begin(), all.end(), [&](const ReceivedMessage& m) {
                return m.topic == rig.topic_base() + "reply/ping" && m.json &&
                       m.json->value("error", "").find("request_id") != std::string::npos;
            });
        },
        10s));
    send(rig, "get-config", R"({"request_id": "big", "pad": ")" + std::string(5000, 'x') + "\"}");
    REQUIRE(rig.collector().wait_for(
        [&](const MessageList& all) {
            return std::any_of(all.begin(), all.end(), [&](const ReceivedMessage& m) {
                return m.topic == rig.topic_base() + "reply/get-config" && m.json &&
                       m.json->value("error", "").find("larger than") != std::string::npos;
            });
        },
        10s));

    // Every reply follows the contract.
    const auto file = rig.dir().path() / "replies.jsonl";
    {
        std::ofstream out(file);
        for (const auto& m : rig.collector().messages())
            if (m.topic.find("/reply/") != std::string::npos)
                out << json{{"topic", m.topic}, {"payload", m.payload}}.dump() << "\n";
    }
    const auto v = run_command(
        {"/usr/bin/python3", (kSourceDir / "tests" / "tools" / "validate_mqtt.py").string(),
         (kSourceDir / "docs" / "schemas").string(), file.string()},
        rig.dir().path());
    INFO(v.out << v.err);
    REQUIRE(v.status);
    CHECK(v.status->exited_with(0));
}

TEST_CASE("a flood of commands is dropped and counted, not answered", "[integration][commands]") {
    DemoRig rig("cmdflood");
    rig.start_gateway();
    REQUIRE(rig.wait_for_windows(1, 30s));
    // 60 requests back to back over one connection (mosquitto_pub -l: one message per line).
    std::string lines;
    for (int i = 0; i < 60; ++i) lines += R"({"request_id": )" + std::to_string(i) + "}\n";
    const auto file = rig.dir().path() / "flood.txt";
    std::ofstream(file) << lines;
    const auto r = run_command(
        {"/bin/sh", "-c",
         "mosquitto_pub -h 127.0.0.1 -p " + std::to_string(rig.broker().port()) + " -q 1 -t '" +
             rig.topic_base() + "cmd/ping' -l < '" + file.string() + "'"},
        rig.dir().path());
    REQUIRE(r.status);
    REQUIRE(r.status->exited_with(0));
    json status;
    REQUIRE(wait_until(
        [&] {
            const auto s = daemon_status(rig);
            if (!s) return false;
            status = *s;
            return status["commands"].value("received", 0) == 60;
        },
        10s, 200ms));
    INFO(status["commands"].dump());
    // The bucket holds 10 and refills at 2/s: far fewer than 60 can be answered.
    CHECK(status["commands"].value("dropped_rate_limit", 0) >= 30);
    CHECK(status["commands"].value("answered", 0) +
              status["commands"].value("dropped_rate_limit", 0) ==
          60);
    // And it answers again once the flood is over.
    REQUIRE(wait_until(
        [&] {
            send(rig, "ping", R"({"request_id": "after"})");
            return rig.collector().wait_for(
                [&](const MessageList& all) {
                    return std::any_of(all.begin(), all.end(), [&](const ReceivedMessage& m) {
                        return m.json && m.topic == rig.topic_base() + "reply/ping" &&
                               (*m.json)["request_id"] == "after";
                    });
                },
                1s);
        },
        15s, 600ms));
}
