// SPDX-License-Identifier: Apache-2.0
#include "app/remote_commands.hpp"

#include <algorithm>

#include "core/log.hpp"
#include "core/time_format.hpp"

namespace gw {

namespace {
using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

constexpr const char* kKnown = "ping, rebirth, get-config, buffer-stats";

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
}  // namespace

RemoteCommands::RemoteCommands(std::string topic_root, Hooks hooks)
    : root_(std::move(topic_root)), hooks_(std::move(hooks)) {}

void RemoteCommands::on_message(const std::string& topic, const std::string& payload,
                                Clock::time_point now) {
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
    const std::string name =
        topic.rfind(prefix, 0) == 0 ? sanitised(topic.substr(prefix.size())) : std::string();
    if (name.empty()) return;  // not ours (the subscription is …/cmd/+)
    if (payload.size() > kMaxPayloadBytes) {
        reply(name, nullptr, false,
              "request of " + std::to_string(payload.size()) + " bytes is larger than " +
                  std::to_string(kMaxPayloadBytes),
              nullptr);
        return;
    }
    const json request = json::parse(payload, nullptr, /*allow_exceptions=*/false);
    if (request.is_discarded() || !request.is_object()) {
        reply(name, nullptr, false, "request is not a JSON object", nullptr);
        return;
    }
    const json request_id = request.contains("request_id") ? request["request_id"] : json();
    if (!request_id.is_string() && !request_id.is_number_integer()) {
        reply(name, nullptr, false, "missing \"request_id\" (a string or an integer)", nullptr);
        return;
    }
    const std::string origin = request.contains("from") && request["from"].is_string()
                                   ? sanitised(request["from"].get<std::string>())
                                   : std::string("(not given)");
    if (name == "ping") {
        reply(name, request_id, true, {}, hooks_.ping());
    } else if (name == "rebirth") {
        GW_LOG_INFO("command",
                    "rebirth requested by " << origin << " (request " << request_id.dump() << ")");
        hooks_.rebirth();
        reply(name, request_id, true, {}, ordered_json::object());
    } else if (name == "get-config") {
        reply(name, request_id, true, {}, hooks_.config());
    } else if (name == "buffer-stats") {
        hooks_.buffer_stats([this, name, request_id](ordered_json result) {
            const bool ok = !result.contains("error");
            reply(name, request_id, ok, ok ? std::string() : result["error"].get<std::string>(),
                  ok ? std::move(result) : ordered_json(nullptr));
        });
    } else {
        reply(name, request_id, false, "unknown command \"" + name + "\" (known: " + kKnown + ")",
              nullptr);
    }
}

void RemoteCommands::reply(const std::string& name, const json& request_id, bool ok,
                           const std::string& error, ordered_json result) {
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
    hooks_.publish(root_ + "/reply/" + name, body.dump());
}

ordered_json RemoteCommands::stats_json() const {
    return {{"received", received_},
            {"answered", answered_},
            {"errors", errors_},
            {"dropped_rate_limit", dropped_}};
}

}  // namespace gw
