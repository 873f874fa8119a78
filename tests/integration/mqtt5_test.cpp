// SPDX-License-Identifier: Apache-2.0
// MQTT 5 (mqtt.protocol_version "5"): the daemon connects with MQTT 5 and data flows; a command
// with a response topic is answered there with its correlation data echoed, one without on
// …/reply/{name}, one with an unusable response topic or correlation data gets an error on
// …/reply/{name}; health carries a message expiry of two health intervals, data, status and
// replies none. And the expiry works: a persistent MQTT 5 subscriber that was away gets the
// data queued meanwhile but no health message older than the expiry. Every reply and health
// message validates against docs/schemas/. MQTT 3.1.1 stays covered by every other test.
#include <catch2/catch.hpp>
#include <fstream>

#include "demo_rig.hpp"

using namespace std::chrono_literals;
using namespace gw::test;
using namespace gw::test::demo;
using nlohmann::json;

namespace {

constexpr int kHealthIntervalS = 5;  // the smallest health_interval_s
constexpr std::uint32_t kHealthExpiryS = 2 * kHealthIntervalS;

RigOptions mqtt5_options() {
    RigOptions options;
    options.overrides = {{"/mqtt/protocol_version", R"("5")"},
                         {"/gateway/health_interval_s", std::to_string(kHealthIntervalS)}};
    return options;
}

/// Subscriber on the rig's whole tree with MQTT 5, so properties are recorded.
std::unique_ptr<MqttCollector> v5_collector(DemoRig& rig) {
    CollectorOptions options;
    options.mqtt5 = true;
    return std::make_unique<MqttCollector>(
        rig.broker().uri(), std::vector<std::string>{rig.topic_base() + "#"}, options);
}

/// mosquitto_pub of a request to …/cmd/{name}, with MQTT 5 when properties are given
/// (`-D publish response-topic T`, `-D publish correlation-data D`).
void send(DemoRig& rig, const std::string& name, const std::string& payload,
          const std::string& response_topic = {}, const std::string& correlation_data = {}) {
    std::vector<std::string> argv{"mosquitto_pub",
                                  "-h",
                                  "127.0.0.1",
                                  "-p",
                                  std::to_string(rig.broker().port()),
                                  "-q",
                                  "1",
                                  "-t",
                                  rig.topic_base() + "cmd/" + name,
                                  "-m",
                                  payload};
    if (!response_topic.empty() || !correlation_data.empty()) {
        argv.insert(argv.end(), {"-V", "mqttv5"});
    }
    if (!response_topic.empty()) {
        argv.insert(argv.end(), {"-D", "publish", "response-topic", response_topic});
    }
    if (!correlation_data.empty()) {
        argv.insert(argv.end(), {"-D", "publish", "correlation-data", correlation_data});
    }
    const auto r = run_command(argv, rig.dir().path());
    INFO(r.out << r.err);
    REQUIRE(r.status);
    REQUIRE(r.status->exited_with(0));
}

/// The first message on `topic` whose JSON has this request_id.
ReceivedMessage wait_reply(MqttCollector& collector, const std::string& topic,
                           const json& request_id) {
    ReceivedMessage found;
    const bool ok = collector.wait_for(
        [&](const MessageList& all) {
            for (const auto& m : all) {
                if (m.topic == topic && m.json && (*m.json)["request_id"] == request_id) {
                    found = m;
                    return true;
                }
            }
            return false;
        },
        10s);
    INFO("no reply on " << topic << " with request_id " << request_id.dump());
    REQUIRE(ok);
    return found;
}

std::size_t count_on(const MessageList& all, const std::string& topic, const json& request_id) {
    return static_cast<std::size_t>(std::count_if(all.begin(), all.end(), [&](const auto& m) {
        return m.topic == topic && m.json && (*m.json)["request_id"] == request_id;
    }));
}

/// Validates the messages against docs/schemas/ with tests/tools/validate_mqtt.py.
void validate(DemoRig& rig, const MessageList& messages, const std::string& file_name) {
    const auto file = rig.dir().path() / file_name;
    {
        std::ofstream out(file);
        for (const auto& m : messages) {
            out << json{{"topic", m.topic}, {"payload", m.payload}}.dump() << "\n";
        }
    }
    const auto v = run_command(
        {"/usr/bin/python3", (kSourceDir / "tests" / "tools" / "validate_mqtt.py").string(),
         (kSourceDir / "docs" / "schemas").string(), file.string()},
        rig.dir().path());
    INFO(v.out << v.err);
    REQUIRE(v.status);
    CHECK(v.status->exited_with(0));
}

}  // namespace

TEST_CASE("with MQTT 5 data flows, commands follow the response topic and health expires",
          "[integration][mqtt5]") {
    DemoRig rig("mqtt5", mqtt5_options());
    auto v5 = v5_collector(rig);
    rig.add_diagnostics([&] {
        std::string out = "--- MQTT 5 subscriber, last messages:\n";
        const auto all = v5->messages();
        for (std::size_t i = all.size() > 15 ? all.size() - 15 : 0; i < all.size(); ++i) {
            out += "  " + all[i].topic + " rt=" + all[i].response_topic +
                   " cd=" + all[i].correlation_data + " expiry=" +
                   (all[i].message_expiry_s ? std::to_string(*all[i].message_expiry_s) : "-") +
                   " " + all[i].payload + "\n";
        }
        return out;
    });
    rig.start_gateway();

    // (a) Connected with MQTT 5 (mosquitto logs the protocol as p5), birth and data arrive.
    REQUIRE(rig.wait_for_windows(1, 30s));
    REQUIRE(v5->wait_for(
        [&](const MessageList& all) {
            return std::any_of(all.begin(), all.end(), status_is(rig.status_topic(), "online"));
        },
        10s));
    CHECK(rig.broker().log_text().find("as towngw-" + rig.gateway_id() + " (p5") !=
          std::string::npos);

    // (b) A response topic (inside the gateway's tree, as the ACL requires) gets the reply, with
    // the correlation data echoed byte for byte; …/reply/ping gets nothing.
    const std::string response_topic = rig.topic_base() + "reply/console-7f3a";
    const std::string correlation("c\x01\xfe-42", 6);
    send(rig, "ping", R"({"request_id": "rt-1"})", response_topic, correlation);
    const auto routed = wait_reply(*v5, response_topic, "rt-1");
    CHECK((*routed.json)["ok"] == true);
    CHECK((*routed.json)["command"] == "ping");
    CHECK(routed.correlation_data == correlation);
    CHECK_FALSE(routed.message_expiry_s);

    // (c) Without a response topic: …/reply/ping, with correlation data if there was some.
    send(rig, "ping", R"({"request_id": "plain"})");
    const auto plain = wait_reply(*v5, rig.topic_base() + "reply/ping", "plain");
    CHECK((*plain.json)["ok"] == true);
    CHECK(plain.correlation_data.empty());
    send(rig, "buffer-stats", R"({"request_id": "cd-only"})", {}, "only-corr");
    const auto cd_only = wait_reply(*v5, rig.topic_base() + "reply/buffer-stats", "cd-only");
    CHECK((*cd_only.json)["ok"] == true);
    CHECK(cd_only.correlation_data == "only-corr");

    // (d) Unusable routing from the network: an error on …/reply/{name}, naming the problem,
    // without correlation data; the command is not run.
    send(rig, "ping", R"({"request_id": "wild"})", rig.topic_base() + "reply/#", "x");
    auto bad = wait_reply(*v5, rig.topic_base() + "reply/ping", "wild");
    CHECK((*bad.json)["ok"] == false);
    CHECK_THAT((*bad.json)["error"].get<std::string>(), Catch::Contains("wildcard"));
    CHECK(bad.correlation_data.empty());
    send(rig, "ping", R"({"request_id": "sys"})", "$SYS/towngw", "x");
    bad = wait_reply(*v5, rig.topic_base() + "reply/ping", "sys");
    CHECK((*bad.json)["ok"] == false);
    CHECK_THAT((*bad.json)["error"].get<std::string>(), Catch::Contains("starts with $"));
    send(rig, "ping", R"({"request_id": "long"})", rig.topic_base() + std::string(300, 'x'));
    bad = wait_reply(*v5, rig.topic_base() + "reply/ping", "long");
    CHECK_THAT((*bad.json)["error"].get<std::string>(), Catch::Contains("longer than 256"));
    send(rig, "ping", R"({"request_id": "bigcd"})", response_topic, std::string(200, 'c'));
    bad = wait_reply(*v5, rig.topic_base() + "reply/ping", "bigcd");
    CHECK_THAT((*bad.json)["error"].get<std::string>(),
               Catch::Contains("correlation data of 200 bytes is longer than 128"));
    // The daemon is unharmed: it still answers on the response topic.
    send(rig, "ping", R"({"request_id": "rt-2"})", response_topic, "again");
    CHECK(wait_reply(*v5, response_topic, "rt-2").correlation_data == "again");

    const auto all = v5->messages();
    CHECK(count_on(all, response_topic, "rt-1") == 1);
    CHECK(count_on(all, rig.topic_base() + "reply/ping", "rt-1") == 0);
    CHECK(count_on(all, response_topic, "wild") + count_on(all, response_topic, "bigcd") == 0);

    // (e) Health expires after two health intervals (the broker forwards what is left of it);
    // data, status and replies never expire.
    REQUIRE(v5->wait_for(
        [&](const MessageList& list) {
            return std::count_if(list.begin(), list.end(), [&](const ReceivedMessage& m) {
                       return m.topic == rig.topic_base() + "health";
                   }) >= 2;
        },
        3s * kHealthIntervalS));
    MessageList checked;
    for (const auto& m : v5->messages()) {
        INFO(m.topic);
        if (m.topic == rig.topic_base() + "health") {
            REQUIRE(m.message_expiry_s);
            CHECK(*m.message_expiry_s > 0);
            CHECK(*m.message_expiry_s <= kHealthExpiryS);
            checked.push_back(m);
        } else {
            CHECK_FALSE(m.message_expiry_s);
            if (m.topic.find("/reply/") != std::string::npos) checked.push_back(m);
        }
    }
    validate(rig, checked, "mqtt5-replies-health.jsonl");
}

TEST_CASE("with MQTT 5 a subscriber that was away gets the data but no stale health",
          "[integration][mqtt5]") {
    DemoRig rig("mqtt5away", mqtt5_options());
    rig.start_gateway();
    REQUIRE(rig.wait_for_windows(1, 30s));
    const std::string health_topic = rig.topic_base() + "health";
    const auto is_health = [&](const ReceivedMessage& m) { return m.topic == health_topic; };

    // A persistent MQTT 5 session (no clean start, session kept 10 minutes) on health and data.
    CollectorOptions persistent;
    persistent.mqtt5 = true;
    persistent.clean_session = false;
    persistent.session_expiry_s = 600;
    persistent.client_id = "towngw-test-away-" + std::to_string(::getpid());
    const std::vector<std::string> filters{health_topic, rig.topic_base() + "data/#"};
    auto away = std::make_unique<MqttCollector>(rig.broker().uri(), filters, persistent);
    REQUIRE(away->wait_for(
        [&](const MessageList& all) { return std::any_of(all.begin(), all.end(), is_health); },
        3s * kHealthIntervalS));
    // From here on the live subscriber sees only what was published after `away` subscribed.
    const auto live_from = static_cast<std::ptrdiff_t>(rig.collector().size());
    away->disconnect();  // the broker keeps the session and queues for it
    // Exactly what it got before going away; everything else was queued for it.
    std::set<std::string> before;
    for (const auto& m : away->messages()) before.insert(m.payload);
    const auto while_away = [&](const ReceivedMessage& m) { return before.count(m.payload) == 0; };

    // Away until the live (3.1.1) subscriber has seen four health messages that were queued:
    // the first of them is then about 15 s old, past the 10 s expiry; the last ones are fresh.
    REQUIRE(rig.collector().wait_for(
        [&](const MessageList& all) {
            return std::count_if(all.begin() + live_from, all.end(), [&](const ReceivedMessage& m) {
                       return is_health(m) && while_away(m);
                   }) >= 4;
        },
        10s * kHealthIntervalS));
    const auto back_at = std::chrono::steady_clock::now();
    const MessageList live = rig.collector().messages();
    away = std::make_unique<MqttCollector>(rig.broker().uri(), filters, persistent);

    // What was queued while it was away (as the live subscriber saw it), and how old it is.
    MessageList stale;
    MessageList fresh;
    std::set<std::string> data_while_away;
    for (auto it = live.begin() + live_from; it != live.end(); ++it) {
        const ReceivedMessage& m = *it;
        if (!while_away(m)) continue;
        const auto age = back_at - m.received_at;
        if (is_health(m) && age > std::chrono::seconds(kHealthExpiryS + 2)) stale.push_back(m);
        if (is_health(m) && age < std::chrono::seconds(kHealthExpiryS - 3)) fresh.push_back(m);
        if (is_data(m)) data_while_away.insert(m.payload);
    }
    REQUIRE_FALSE(stale.empty());
    REQUIRE_FALSE(fresh.empty());
    REQUIRE_FALSE(data_while_away.empty());
    rig.add_diagnostics([&] {
        return "--- away: " + std::to_string(stale.size()) + " stale and " +
               std::to_string(fresh.size()) + " fresh health messages, " +
               std::to_string(data_while_away.size()) + " data messages while away; got " +
               std::to_string(away->size()) + " after coming back\n";
    });

    // Every data message comes (the outbox's messages have no expiry), and so do the fresh
    // health messages, each with what is left of its expiry.
    const auto delivered = [&](const MessageList& got, const std::string& payload) {
        return std::any_of(got.begin(), got.end(),
                           [&](const ReceivedMessage& g) { return g.payload == payload; });
    };
    REQUIRE(away->wait_for(
        [&](const MessageList& got) {
            return std::all_of(data_while_away.begin(), data_while_away.end(),
                               [&](const std::string& p) { return delivered(got, p); }) &&
                   std::all_of(fresh.begin(), fresh.end(),
                               [&](const ReceivedMessage& m) { return delivered(got, m.payload); });
        },
        20s));
    // The stale health messages expired in the broker's queue.
    const MessageList got = away->messages();
    for (const auto& m : stale) {
        INFO("stale health delivered: " << m.payload);
        CHECK_FALSE(delivered(got, m.payload));
    }
    for (const auto& m : got) {
        if (is_health(m)) {
            REQUIRE(m.message_expiry_s);
            CHECK(*m.message_expiry_s <= kHealthExpiryS);
        } else {
            CHECK_FALSE(m.message_expiry_s);
        }
    }
}

TEST_CASE("with MQTT 5 a publish the broker refuses stays in the outbox and is retried later",
          "[integration][mqtt5]") {
    // The broker's ACL lets the gateway publish its status, health and replies but not data or
    // events, so with MQTT 5 every data PUBACK says "Not authorized". Sending it again at once
    // would spin; the gateway pauses (reconnect_min_s doubling to reconnect_max_s) instead.
    TempDir acl_dir;
    const auto acl = acl_dir / "acl";
    const std::string base =
        std::string(kTopicPrefix) + "/" + kTownId + "/" + unique_gateway_id("mqtt5acl") + "/";
    std::ofstream(acl) << "topic read " << base << "#\n"
                       << "topic write " << base << "status\n"
                       << "topic write " << base << "health\n"
                       << "topic write " << base << "cmd/#\n"
                       << "topic write " << base << "reply/#\n";
    RigOptions options = mqtt5_options();
    // Not the rig's "max_queued_messages 0": with it, mosquitto 2.0.11 closes an MQTT 5
    // client's connection right after refusing its QoS 1 publish (seen here), a broker quirk.
    options.broker_config = {"acl_file " + acl.string()};
    options.overrides.emplace_back("/mqtt/reconnect_max_s", "4");
    DemoRig rig("mqtt5acl", options);
    REQUIRE(rig.topic_base() == base);
    rig.start_gateway();

    json status;
    const auto status_when = [&](const std::function<bool(const json&)>& pred) {
        return wait_until(
            [&] {
                const auto s = daemon_status(rig);
                if (!s) return false;
                status = *s;
                return pred(status);
            },
            30s, 300ms);
    };
    REQUIRE(status_when([](const json& s) {
        return int_at(s, "/outbox/depth", 0) >= kSensorCount &&
               int_at(s, "/mqtt/publish_failures", 0) > 0;
    }));
    const auto failures_before = int_at(status, "/mqtt/publish_failures");
    const auto depth_before = int_at(status, "/outbox/depth");
    // Three more rounds of windows (about 6 s) while every data message is refused.
    REQUIRE(status_when([&](const json& s) {
        return int_at(s, "/outbox/depth", 0) >= depth_before + 3 * kSensorCount;
    }));
    INFO(status["mqtt"].dump());
    CHECK(bool_at(status, "/mqtt/connected"));
    CHECK(int_at(status, "/mqtt/published") == 0);
    CHECK_THAT(status["mqtt"].value("last_error", ""),
               Catch::Contains("refused by the broker: Not authorized") &&
                   Catch::Contains("kept in the outbox"));
    // A few rounds of at most max_inflight refusals each, not thousands.
    CHECK(int_at(status, "/mqtt/publish_failures") - failures_before < 300);
    CHECK(data_messages(rig.collector().messages()).empty());

    // The ACL is fixed (mosquitto reloads it on SIGHUP): everything kept is delivered, no gap.
    std::ofstream(acl, std::ios::trunc) << "topic readwrite " << base << "#\n";
    rig.broker().reload();
    REQUIRE(status_when([](const json& s) {
        return int_at(s, "/outbox/depth", -1) == 0 && int_at(s, "/mqtt/published", 0) > 0;
    }));
    const auto last_seq = int_at(status, "/outbox/last_seq");
    REQUIRE(rig.collector().wait_for(
        [&](const MessageList& all) {
            std::set<std::int64_t> seqs;
            for (const auto& m : all) seqs.insert(seq_of(m));
            for (std::int64_t seq = 1; seq <= last_seq; ++seq)
                if (seqs.count(seq) == 0) return false;
            return true;
        },
        10s));
}
