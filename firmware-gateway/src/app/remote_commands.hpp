// SPDX-License-Identifier: Apache-2.0
// Remote commands from the platform (docs/mqtt.md "Remote commands"): `…/cmd/{name}` carries a
// JSON request with a request id; the reply goes to `…/reply/{name}`, or with MQTT 5 to the
// request's response topic (with its correlation data echoed). Everything that arrives is
// untrusted: size-limited, rate-limited (a flood is dropped and counted, not answered, so that a
// flood cannot be amplified), parsed without exceptions escaping, and answered with an error
// naming the problem. Runs on the gateway's io_context.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "uplink/publisher.hpp"

namespace gw {

class RemoteCommands {
public:
    using Clock = std::chrono::steady_clock;
    struct Hooks {
        /// Fields every reply starts with (v, town_id, gateway_id).
        std::function<nlohmann::ordered_json()> message_base;
        /// Publishes a reply (not through the outbox: replies are for whoever asks now);
        /// `properties` carry the correlation data of an MQTT 5 request.
        std::function<void(const std::string& topic, const std::string& payload,
                           const PublishProperties& properties)>
            publish;
        std::function<nlohmann::ordered_json()> ping;
        std::function<void()> rebirth;
        std::function<nlohmann::ordered_json()> config;  ///< redacted
        /// Asynchronous (the store's thread); calls back with the result.
        std::function<void(std::function<void(nlohmann::ordered_json)>)> buffer_stats;
        /// Reads a sensor now (an extra read on its bus); calls back with the result or with
        /// {"error": reason}. Asynchronous: the bus answers within its response timeout.
        std::function<void(const std::string& sensor, std::function<void(nlohmann::ordered_json)>)>
            read_now;
        /// Changes a sensor's window length and persists it; calls back like read_now.
        std::function<void(const std::string& sensor, std::int64_t window_s,
                           const std::string& origin, std::function<void(nlohmann::ordered_json)>)>
            set_window;
    };
    static constexpr std::size_t kMaxPayloadBytes = 4096;
    static constexpr double kBurst = 10;         ///< commands accepted back to back
    static constexpr double kRatePerSecond = 2;  ///< sustained rate
    /// MQTT 5 routing from the network: longer ones are refused (error reply on …/reply/).
    static constexpr std::size_t kMaxResponseTopicBytes = 256;
    static constexpr std::size_t kMaxCorrelationBytes = 128;

    RemoteCommands(std::string topic_root, Hooks hooks);

    /// A message on `…/cmd/+` (with MQTT 5, maybe a response topic and correlation data).
    void on_message(const IncomingMessage& message, Clock::time_point now);

    /// {"received", "answered", "errors", "dropped_rate_limit"} for health.
    nlohmann::ordered_json stats_json() const;

private:
    /// Where the replies to one request go: `…/reply/{command}` or, with MQTT 5, the response
    /// topic the request asked for, with its correlation data echoed. A reply sent later (by
    /// an asynchronous command) carries its route along.
    struct ReplyRoute {
        std::string command;
        std::string response_topic;    ///< checked; empty = `…/reply/{command}`
        std::string correlation_data;  ///< echoed with the reply (MQTT 5)
    };

    void reply(const ReplyRoute& route, const nlohmann::json& request_id, bool ok,
               const std::string& error, nlohmann::ordered_json result);

    std::string root_;
    Hooks hooks_;
    double tokens_{kBurst};
    Clock::time_point tokens_at_{};
    std::uint64_t received_{0};
    std::uint64_t answered_{0};
    std::uint64_t errors_{0};
    std::uint64_t dropped_{0};
};

}  // namespace gw
