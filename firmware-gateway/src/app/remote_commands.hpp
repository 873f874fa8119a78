// SPDX-License-Identifier: Apache-2.0
// Remote commands from the platform (docs/mqtt.md "Remote commands"): `…/cmd/{name}` carries a
// JSON request with a request id; the reply goes to `…/reply/{name}`. Everything that arrives is
// untrusted: size-limited, rate-limited (a flood is dropped and counted, not answered, so that a
// flood cannot be amplified), parsed without exceptions escaping, and answered with an error
// naming the problem. Runs on the gateway's io_context.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace gw {

class RemoteCommands {
public:
    using Clock = std::chrono::steady_clock;
    struct Hooks {
        /// Fields every reply starts with (v, town_id, gateway_id).
        std::function<nlohmann::ordered_json()> message_base;
        /// Publishes a reply (not through the outbox: replies are for whoever asks now).
        std::function<void(const std::string& topic, const std::string& payload)> publish;
        std::function<nlohmann::ordered_json()> ping;
        std::function<void()> rebirth;
        std::function<nlohmann::ordered_json()> config;  ///< redacted
        /// Asynchronous (the store's thread); calls back with the result.
        std::function<void(std::function<void(nlohmann::ordered_json)>)> buffer_stats;
    };
    static constexpr std::size_t kMaxPayloadBytes = 4096;
    static constexpr double kBurst = 10;         ///< commands accepted back to back
    static constexpr double kRatePerSecond = 2;  ///< sustained rate

    RemoteCommands(std::string topic_root, Hooks hooks);

    /// A message on `…/cmd/+`.
    void on_message(const std::string& topic, const std::string& payload, Clock::time_point now);

    /// {"received", "answered", "errors", "dropped_rate_limit"} for health.
    nlohmann::ordered_json stats_json() const;

private:
    void reply(const std::string& name, const nlohmann::json& request_id, bool ok,
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
