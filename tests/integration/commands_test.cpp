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
    send_command(rig, name, payload);
}

json wait_reply(DemoRig& rig, const std::string& name, const json& request_id) {
    const auto reply = command_reply(rig, name, request_id, 10s);
    INFO("no reply to " << name << " with request_id " << request_id.dump());
    REQUIRE(reply);
    return *reply;
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
    CHECK(r["result"]["mqtt"]["protocol_version"] == "3.1.1");
    CHECK(r["result"]["home_assistant"]["enabled"] == false);
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
    const auto report =
        validate_against_schemas(rig, messages_on(rig, {"/reply/"}), "replies.jsonl");
    INFO(report.text);
    CHECK(report.valid);
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
    // Health and status say what the daemon costs the board (issue #7: uptime, CPU, RSS, disk).
    INFO(status["process"].dump() << status["disk"].dump());
    CHECK(status["process"].value("rss_kib", 0) > 1000);
    CHECK(status["process"].value("rss_peak_kib", 0) >= status["process"].value("rss_kib", 0));
    CHECK(status["process"].value("threads", 0) >= 3);  // main, store, bus
    CHECK(status["disk"].value("available_bytes", 0ULL) > 0);
    CHECK(status["disk"].value("path", "") == rig.dir().path().string());
    const auto human =
        run_command({TOWNGW_CLI_BIN, "status", "--socket", rig.gateway().control_socket().string()},
                    rig.dir().path());
    INFO(human.out << human.err);
    CHECK_THAT(human.out, Catch::Contains("process  cpu") && Catch::Contains("disk     "));
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
