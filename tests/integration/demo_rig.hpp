// SPDX-License-Identifier: Apache-2.0
// The demo rig shared by the integration tests: a private mosquitto, towngw-sim and towngwd with
// config/demo.json plus --set overrides (own ports, own scratch directory, so ctest -j is safe),
// a subscriber on everything the gateway publishes, and helpers to read the MQTT traffic and
// `towngw status --json`. Used by end_to_end_test.cpp and reliability_test.cpp.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "diagnostics.hpp"
#include "support.hpp"

namespace gw::test::demo {

using nlohmann::json;

inline const std::filesystem::path kSourceDir = TOWNGW_SOURCE_DIR;
inline const std::filesystem::path kDemoConfig = kSourceDir / "config" / "demo.json";
inline const std::filesystem::path kScenario =
    kSourceDir / "simulators" / "scenarios" / "demo.json";
inline constexpr const char* kTownId = "demo-town";
inline constexpr const char* kTopicPrefix = "townbrain/v1";
inline constexpr int kWindowS = 2;  ///< the rig's default window length
inline constexpr int kSensorCount = 7;
inline constexpr int kDeviceCount = 3;

/// What the demo config says about each sensor, and where the simulator logs its raw value.
struct SensorSpec {
    std::string id;
    std::string device;
    std::string point;  ///< register name in the device profile = "point" in the served log
    std::string metric;
    std::string unit;
    bool fill = false;  ///< bin fill level derived from the distance
};

inline const std::vector<SensorSpec>& demo_sensors() {
    static const std::vector<SensorSpec> sensors{
        {"water1.ph", "water1", "ph", "ph", "pH"},
        {"water1.temperature", "water1", "temperature", "water_temperature", "degC"},
        {"water1.turbidity", "water1", "turbidity", "turbidity", "NTU"},
        {"flow1.flow", "flow1", "flow", "flow_rate", "m3/h"},
        {"flow1.total", "flow1", "totaliser", "flow_total", "m3"},
        {"bin1.distance", "bin1", "distance", "distance", "mm"},
        {"bin1.fill", "bin1", "distance", "fill_level", "%", true},
    };
    return sensors;
}

inline std::string unique_gateway_id(const std::string& tag) {
    return "it-" + tag + "-" + std::to_string(::getpid());
}

inline bool is_data(const ReceivedMessage& m) {
    return m.topic.find("/data/") != std::string::npos;
}

inline std::string sensor_of(const ReceivedMessage& m) {
    return m.topic.substr(m.topic.rfind('/') + 1);
}

inline MessageList data_messages(const MessageList& all) {
    MessageList out;
    std::copy_if(all.begin(), all.end(), std::back_inserter(out), is_data);
    return out;
}

/// Data messages per sensor id.
inline std::map<std::string, MessageList> by_sensor(const MessageList& all) {
    std::map<std::string, MessageList> out;
    for (const auto& m : all) {
        if (is_data(m)) {
            out[sensor_of(m)].push_back(m);
        }
    }
    return out;
}

/// True when every demo sensor has at least n data messages.
inline bool every_sensor_has(const MessageList& all, std::size_t n) {
    const auto per = by_sensor(all);
    return std::all_of(demo_sensors().begin(), demo_sensors().end(), [&](const SensorSpec& s) {
        auto it = per.find(s.id);
        return it != per.end() && it->second.size() >= n;
    });
}

/// Status messages (`…/status`) with the given state (and reason, when not empty).
inline std::function<bool(const ReceivedMessage&)> status_is(const std::string& topic,
                                                             const std::string& state,
                                                             const std::string& reason = {}) {
    return [=](const ReceivedMessage& m) {
        return m.topic == topic && m.json && m.json->value("state", "") == state &&
               (reason.empty() || m.json->value("reason", "") == reason);
    };
}

/// The message's integer `seq`, or -1 when it has none (or `"seq": null`).
inline std::int64_t seq_of(const ReceivedMessage& m) {
    return m.json && m.json->contains("seq") && (*m.json)["seq"].is_number_integer()
               ? (*m.json)["seq"].get<std::int64_t>()
               : -1;
}

/// Integer at a JSON Pointer (e.g. "/outbox/depth"), or `fallback` when missing or not an
/// integer.
inline std::int64_t int_at(const json& j, const std::string& pointer, std::int64_t fallback = -1) {
    const json::json_pointer ptr(pointer);
    return j.contains(ptr) && j[ptr].is_number_integer() ? j[ptr].get<std::int64_t>() : fallback;
}

/// Boolean at a JSON Pointer, or `fallback`.
inline bool bool_at(const json& j, const std::string& pointer, bool fallback = false) {
    const json::json_pointer ptr(pointer);
    return j.contains(ptr) && j[ptr].is_boolean() ? j[ptr].get<bool>() : fallback;
}

/// How a rig differs from the default (2 s windows, clean broker).
struct RigOptions {
    /// mosquitto keeps sessions and queued QoS 1 messages across its own restart.
    bool persistent_broker = false;
    /// Extra mosquitto.conf lines. The default lifts mosquitto's 1000-message limit on a
    /// durable subscriber's queue, so a long backlog is never cut by the broker.
    std::vector<std::string> broker_config{"max_queued_messages 0"};
    /// window_s of every sensor (0: as in the config file).
    int window_s = kWindowS;
    /// poll_ms of every device (0 = as in demo.json).
    int poll_ms = 0;
    /// More `--set` overrides, applied after the rig's own.
    std::vector<Override> overrides;
    /// Keep config/demo.json's "analytics" section. Off by default: its stored alarm and flow
    /// messages share the seq with data, and most tests follow only data and events.
    bool analytics = false;
    /// The configuration file (a test that edits it passes its own copy of demo.json).
    std::filesystem::path config = kDemoConfig;
    /// Extra environment of the daemon ("NAME=value").
    std::vector<std::string> env;
};

/// Broker + simulator + subscriber (+ daemon on demand) for one test case.
class DemoRig {
public:
    explicit DemoRig(const std::string& tag, bool persistent_broker = false)
        : DemoRig(tag, [persistent_broker] {
              RigOptions o;
              o.persistent_broker = persistent_broker;
              return o;
          }()) {}

    DemoRig(const std::string& tag, RigOptions options)
        : options_(std::move(options)),
          gateway_id_(unique_gateway_id(tag)),
          broker_(dir_.path(), options_.persistent_broker, options_.broker_config),
          sim_(TOWNGW_SIM_BIN, kScenario, dir_.path()),
          collector_(std::make_unique<MqttCollector>(broker_.uri(), topic_base() + "#")),
          diagnostics_([this] { return describe(); }) {}

    /// "townbrain/v1/demo-town/<gw>/"
    std::string topic_base() const {
        return std::string(kTopicPrefix) + "/" + kTownId + "/" + gateway_id_ + "/";
    }
    std::string status_topic() const { return topic_base() + "status"; }
    const std::string& gateway_id() const { return gateway_id_; }
    /// The rig's window length (0: each sensor's own, from the config file).
    int window_s() const { return options_.window_s; }

    /// Overrides that point the demo config at this rig's broker and simulator.
    std::vector<Override> overrides() const {
        std::vector<Override> o{
            {"/mqtt/broker", broker_.uri()},
            {"/gateway/gateway_id", gateway_id_},
            {"/devices/0/transport/port", sim_.rtu_pty()},
            {"/devices/1/transport/port", std::to_string(sim_.tcp_port())},
            {"/devices/2/transport/port", std::to_string(sim_.tcp_port())},
        };
        for (int i = 0; i < kSensorCount && options_.window_s > 0; ++i) {
            o.emplace_back("/sensors/" + std::to_string(i) + "/window_s",
                           std::to_string(options_.window_s));
        }
        if (options_.poll_ms > 0) {
            for (int i = 0; i < kDeviceCount; ++i) {
                o.emplace_back("/devices/" + std::to_string(i) + "/poll_ms",
                               std::to_string(options_.poll_ms));
            }
        }
        if (!options_.analytics) o.emplace_back("/analytics", "{}");
        o.insert(o.end(), options_.overrides.begin(), options_.overrides.end());
        return o;
    }

    /// Starts towngwd (storage and control socket in the scratch dir, same ones on every
    /// restart) with overrides() plus `extra`. A previous instance is stopped and reaped first.
    GatewayProcess& start_gateway(const std::vector<Override>& extra = {}) {
        GatewayOptions opts;
        opts.towngwd_bin = TOWNGWD_BIN;
        opts.config = options_.config;
        opts.env = options_.env;
        opts.overrides = overrides();
        opts.overrides.insert(opts.overrides.end(), extra.begin(), extra.end());
        gateway_.reset();  // reaps a previous instance (already stopped by the test, normally)
        gateway_ = std::make_unique<GatewayProcess>(opts, dir_.path());
        return *gateway_;
    }

    /// Adds "NAME=value" to the environment of the daemons started from now on.
    void add_gateway_env(std::string entry) { options_.env.push_back(std::move(entry)); }

    bool has_gateway() const { return gateway_ != nullptr; }
    GatewayProcess& gateway() { return *gateway_; }
    MqttCollector& collector() { return *collector_; }
    MosquittoBroker& broker() { return broker_; }
    SimProcess& sim() { return sim_; }
    const TempDir& dir() const { return dir_; }

    /// Waits until every demo sensor has at least n data messages.
    bool wait_for_windows(std::size_t n, std::chrono::milliseconds timeout) {
        return collector_->wait_for(
            [n](const MessageList& all) { return every_sensor_has(all, n); }, timeout);
    }

    /// Adds text to the failure report (e.g. the seed of a randomised test, a durable
    /// subscriber's view).
    void add_diagnostics(std::function<std::string()> describe) {
        extra_diagnostics_.push_back(std::move(describe));
    }

    /// Logs of every process and a summary of the MQTT traffic, for failure reports.
    std::string describe() const {
        std::string out;
        out += "--- scratch dir: " + dir_.path().string() + " (TOWNGW_KEEP_TMP=1 keeps it)\n";
        out += "--- towngwd log (" + (dir_ / "towngwd.log").string() + "):\n" +
               tail_lines(read_file(dir_ / "towngwd.log"), 120);
        out += "--- towngw-sim log:\n" + tail_lines(sim_.log_text(), 40);
        out += "--- mosquitto log:\n" + tail_lines(broker_.log_text(), 30);
        const auto msgs = collector_->messages();
        out += "--- " + std::to_string(msgs.size()) + " MQTT messages received; last ones:\n";
        const std::size_t from = msgs.size() > 15 ? msgs.size() - 15 : 0;
        for (std::size_t i = from; i < msgs.size(); ++i) {
            out += "  " + msgs[i].topic + (msgs[i].retained ? " [retained] " : " ") +
                   msgs[i].payload + "\n";
        }
        for (const auto& extra : extra_diagnostics_) {
            out += extra();
        }
        return out;
    }

private:
    RigOptions options_;
    TempDir dir_;
    std::string gateway_id_;
    MosquittoBroker broker_;
    SimProcess sim_;
    std::unique_ptr<MqttCollector> collector_;
    std::unique_ptr<GatewayProcess> gateway_;  // destroyed first: the daemon stops before the rest
    std::vector<std::function<std::string()>> extra_diagnostics_;
    DiagnosticsScope diagnostics_;
};

/// One request over the daemon's control socket (docs/control-protocol.md).
inline json daemon_request(DemoRig& rig, const json& request) {
    return json_line_request(rig.gateway().control_socket(), request, "towngwd control");
}

/// The simulated water probe reads `value` for its pH from now on, as if put into a buffer
/// (nullopt: back in the river, the scenario's waveform).
inline void immerse_ph_probe(DemoRig& rig, std::optional<double> value) {
    const json reply = rig.sim().control({{"immerse",
                                           {{"device", "water1"},
                                            {"point", "ph"},
                                            {"value", value ? json(*value) : json(nullptr)}}}});
    if (!reply.value("ok", false))
        throw std::runtime_error("towngw-sim refused immerse: " + reply.dump());
}

/// `towngw status --json` of the rig's daemon, or nothing if it did not answer.
inline std::optional<json> daemon_status(DemoRig& rig) {
    const auto r = run_command(
        {TOWNGW_CLI_BIN, "status", "--socket", rig.gateway().control_socket().string(), "--json"},
        rig.dir().path());
    if (!r.status || !r.status->exited_with(0)) {
        return std::nullopt;
    }
    auto j = json::parse(r.out, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        return std::nullopt;
    }
    return j;
}

/// Publishes a remote command request (`…/cmd/{name}`, QoS 1) with mosquitto_pub.
inline void send_command(DemoRig& rig, const std::string& name, const std::string& payload) {
    const auto r =
        run_command({"mosquitto_pub", "-h", "127.0.0.1", "-p", std::to_string(rig.broker().port()),
                     "-q", "1", "-t", rig.topic_base() + "cmd/" + name, "-m", payload},
                    rig.dir().path());
    if (!r.status || !r.status->exited_with(0))
        throw std::runtime_error("mosquitto_pub failed: " + r.out + r.err);
}

/// The reply on `…/reply/{name}` carrying `request_id` (json null: a reply without an id), or
/// nothing after `timeout`.
inline std::optional<json> command_reply(DemoRig& rig, const std::string& name,
                                         const json& request_id,
                                         std::chrono::milliseconds timeout) {
    json found;
    const std::string topic = rig.topic_base() + "reply/" + name;
    const bool ok = rig.collector().wait_for(
        [&](const MessageList& all) {
            for (const auto& m : all)
                if (m.topic == topic && m.json && (*m.json)["request_id"] == request_id) {
                    found = *m.json;
                    return true;
                }
            return false;
        },
        timeout);
    if (!ok) return std::nullopt;
    return found;
}

/// The messages received so far whose topic contains any of `parts` ("/reply/", "/alarm/").
inline MessageList messages_on(DemoRig& rig, const std::vector<std::string>& parts) {
    MessageList out;
    for (const auto& m : rig.collector().messages())
        if (std::any_of(parts.begin(), parts.end(), [&](const std::string& part) {
                return m.topic.find(part) != std::string::npos;
            }))
            out.push_back(m);
    return out;
}

/// Runs tests/tools/validate_mqtt.py over `messages`; the exit status and its report.
struct SchemaReport {
    bool valid{false};
    std::string text;
};
inline SchemaReport validate_against_schemas(DemoRig& rig, const MessageList& messages,
                                             const std::string& file_name = "messages.jsonl") {
    const auto file = rig.dir().path() / file_name;
    {
        std::ofstream out(file);
        for (const auto& m : messages)
            out << json{{"topic", m.topic}, {"payload", m.payload}}.dump() << "\n";
    }
    const auto r = run_command(
        {"/usr/bin/python3", (kSourceDir / "tests" / "tools" / "validate_mqtt.py").string(),
         (kSourceDir / "docs" / "schemas").string(), file.string()},
        rig.dir().path());
    return {r.status && r.status->exited_with(0), r.out + r.err};
}

}  // namespace gw::test::demo
