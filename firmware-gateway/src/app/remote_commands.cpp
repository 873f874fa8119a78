// SPDX-License-Identifier: Apache-2.0
#include "app/remote_commands.hpp"

#include <algorithm>

#include "core/log.hpp"
#include "core/time_format.hpp"

namespace gw {

namespace {
using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

constexpr const char* kKnown = "ping, rebirth, get-config, buffer-stats, read-now, set-window";

std::int64_t now_unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// Printable and short, for logs and replies: a command name comes from the network.
std::string sanitised(const std::string& text) {
    std::string out;
    for (char c : text.substr(0, 64)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
    return out;
}

/// Why the MQTT 5 response topic or correlation data of a request cannot be used, or empty.
/// The response topic is a topic name the request asks us to publish to: no wildcards, no NUL,
/// not a broker topic ($…), bounded. (Whether the ACL lets us publish there is the broker's
/// business.) An empty one is no response topic.
std::string route_problem(const IncomingMessage& message) {
    const std::string& topic = message.response_topic;
    const std::string shown = "response topic \"" + sanitised(topic) + "\"";
    if (topic.size() > RemoteCommands::kMaxResponseTopicBytes)
        return "response topic of " + std::to_string(topic.size()) + " bytes is longer than " +
               std::to_string(RemoteCommands::kMaxResponseTopicBytes);
    if (topic.find_first_of("+#") != std::string::npos)
        return shown + " contains a wildcard (+ or #); a reply needs a topic name";
    if (topic.find('\0') != std::string::npos) return shown + " contains a NUL character";
    if (!topic.empty() && topic.front() == '$')
        return shown + " starts with $ (reserved for the broker)";
    if (message.correlation_data.size() > RemoteCommands::kMaxCorrelationBytes)
        return "correlation data of " + std::to_string(message.correlation_data.size()) +
               " bytes is longer than " + std::to_string(RemoteCommands::kMaxCorrelationBytes);
    return {};
}
}  // namespace

RemoteCommands::RemoteCommands(std::string topic_root, Hooks hooks)
    : root_(std::move(topic_root)), hooks_(std::move(hooks)) {}

void RemoteCommands::on_message(const IncomingMessage& message, Clock::time_point now) {
    const std::string& topic = message.topic;
    const std::string& payload = message.payload;
    ++received_;
    // Token bucket first: a flood costs one counter increment per message, nothing more.
    if (tokens_at_ != Clock::time_point{}) {
        const double elapsed_s = std::chrono::duration<double>(now - tokens_at_).count();
        tokens_ = std::min(kBurst, tokens_ + elapsed_s * kRatePerSecond);
    }
    tokens_at_ = now;
    if (tokens_ < 1) {
        if (dropped_++ % 100 == 0)
            GW_LOG_WARN("command", "commands arrive faster than " << kRatePerSecond
                                                                  << "/s: dropped (" << dropped_
                                                                  << " so far)");
        return;
    }
    tokens_ -= 1;

    const std::string prefix = root_ + "/cmd/";
    // MQTT 5 routing is checked now and refused once the request id is known (below); until
    // then, and after a refusal, replies go to …/reply/{name} without correlation data.
    const std::string bad_route = route_problem(message);
    const ReplyRoute route{
        topic.rfind(prefix, 0) == 0 ? sanitised(topic.substr(prefix.size())) : std::string(),
        bad_route.empty() ? message.response_topic : std::string(),
        bad_route.empty() ? message.correlation_data : std::string()};
    const std::string& name = route.command;
    if (name.empty()) return;  // not ours (the subscription is …/cmd/+)
    if (payload.size() > kMaxPayloadBytes) {
        reply(route, nullptr, false,
              "request of " + std::to_string(payload.size()) + " bytes is larger than " +
                  std::to_string(kMaxPayloadBytes),
              nullptr);
        return;
    }
    const json request = json::parse(payload, nullptr, /*allow_exceptions=*/false);
    if (request.is_discarded() || !request.is_object()) {
        reply(route, nullptr, false, "request is not a JSON object", nullptr);
        return;
    }
    const json request_id = request.contains("request_id") ? request["request_id"] : json();
    if (!request_id.is_string() && !request_id.is_number_integer()) {
        reply(route, nullptr, false, "missing \"request_id\" (a string or an integer)", nullptr);
        return;
    }
    if (!bad_route.empty()) {
        reply(route, request_id, false, bad_route, nullptr);
        return;
    }
    const std::string origin = request.contains("from") && request["from"].is_string()
                                   ? sanitised(request["from"].get<std::string>())
                                   : std::string("(not given)");
    // Asynchronous commands answer through this: {"error": ...} from the gateway is a refusal.
    auto answer = [this, route, request_id](ordered_json result) {
        const bool ok = !result.contains("error");
        reply(route, request_id, ok, ok ? std::string() : result["error"].get<std::string>(),
              ok ? std::move(result) : ordered_json(nullptr));
    };
    const auto sensor = request.find("sensor");
    const bool needs_sensor = name == "read-now" || name == "set-window";
    if (needs_sensor && (sensor == request.end() || !sensor->is_string())) {
        reply(route, request_id, false, "missing \"sensor\" (a sensor id, as in the birth)",
              nullptr);
        return;
    }
    if (name == "ping") {
        reply(route, request_id, true, {}, hooks_.ping());
    } else if (name == "rebirth") {
        GW_LOG_INFO("command",
                    "rebirth requested by " << origin << " (request " << request_id.dump() << ")");
        hooks_.rebirth();
        reply(route, request_id, true, {}, ordered_json::object());
    } else if (name == "get-config") {
        reply(route, request_id, true, {}, hooks_.config());
    } else if (name == "buffer-stats") {
        hooks_.buffer_stats(answer);
    } else if (name == "read-now") {
        hooks_.read_now(sanitised(sensor->get<std::string>()), answer);
    } else if (name == "set-window") {
        const auto window_s = request.find("window_s");
        if (window_s == request.end() || !window_s->is_number_integer()) {
            reply(route, request_id, false,
                  "missing \"window_s\" (an integer number of seconds that divides a day)",
                  nullptr);
            return;
        }
        // Changes state: logged with its origin, and the gateway records the origin with it.
        const std::string id = sanitised(sensor->get<std::string>());
        GW_LOG_INFO("command", "set-window " << id << " " << window_s->dump() << " requested by "
                                             << origin << " (request " << request_id.dump() << ")");
        hooks_.set_window(id, window_s->get<std::int64_t>(),
                          "remote command from " + origin + ", request " + request_id.dump(),
                          answer);
    } else {
        reply(route, request_id, false, "unknown command \"" + name + "\" (known: " + kKnown + ")",
              nullptr);
    }
}

void RemoteCommands::reply(const ReplyRoute& route, const json& request_id, bool ok,
                           const std::string& error, ordered_json result) {
    const std::string& name = route.command;
    ordered_json body = hooks_.message_base();
    body["time"] = format_rfc3339_utc(now_unix_ms());
    body["command"] = name;
    body["request_id"] = ordered_json::parse(request_id.dump());
    body["ok"] = ok;
    if (ok)
        body["result"] = std::move(result);
    else
        body["error"] = error;
    ++(ok ? answered_ : errors_);
    if (!ok) GW_LOG_INFO("command", name << ": " << error);
    PublishProperties properties;
    properties.correlation_data = route.correlation_data;
    hooks_.publish(route.response_topic.empty() ? root_ + "/reply/" + name : route.response_topic,
                   body.dump(), properties);
}

ordered_json RemoteCommands::stats_json() const {
    return {{"received", received_},
            {"answered", answered_},
            {"errors", errors_},
            {"dropped_rate_limit", dropped_}};
}

}  // namespace gw
