// SPDX-License-Identifier: Apache-2.0
// An MQTT subscriber that records everything it receives, for assertions. Paho callbacks only
// parse, lock and push; tests wait on a condition variable with a deadline.
#pragma once

#include <mqtt/async_client.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace gw::test {

/// One received MQTT message.
struct ReceivedMessage {
    std::string topic;
    std::string payload;
    std::optional<nlohmann::json> json;  ///< set when the payload is valid JSON
    bool retained = false;
    int qos = 0;
    std::chrono::steady_clock::time_point received_at;
    /// MQTT 5 properties (a collector connected with `mqtt5` only; empty / nullopt otherwise).
    std::string response_topic;
    std::string correlation_data;
    /// The message expiry interval as delivered: what is left of it when the broker forwards.
    std::optional<std::uint32_t> message_expiry_s;
};

/// How a collector connects. The defaults are MQTT 3.1.1, a clean session, a unique client id.
struct CollectorOptions {
    bool clean_session = true;  ///< with mqtt5: clean start
    std::string client_id;      ///< empty: a unique one
    bool mqtt5 = false;         ///< connect with MQTT 5 and record the properties above
    /// MQTT 5 session expiry interval sent on CONNECT: with clean_session=false the broker keeps
    /// the session (and queues QoS 1 messages for it) this long after a disconnect.
    std::uint32_t session_expiry_s = 0;
};

using MessageList = std::vector<ReceivedMessage>;

class MqttCollector {
public:
    /// Connects to broker_uri and subscribes to filter with QoS 1; both are awaited with a 10 s
    /// deadline. Throws on failure. An empty client_id means a unique one
    /// ("towngw-test-<pid>-<n>"); pass a fixed id with clean_session=false to resume a session.
    MqttCollector(const std::string& broker_uri, const std::string& filter,
                  bool clean_session = true, const std::string& client_id = {});
    /// The same with several topic filters (each subscribed with QoS 1), e.g. a durable
    /// subscriber on `…/data/#` and `…/events/#` at once.
    MqttCollector(const std::string& broker_uri, const std::vector<std::string>& filters,
                  bool clean_session = true, const std::string& client_id = {});
    /// The same with every connection option (e.g. MQTT 5).
    MqttCollector(const std::string& broker_uri, const std::vector<std::string>& filters,
                  const CollectorOptions& options);
    ~MqttCollector();
    MqttCollector(const MqttCollector&) = delete;
    MqttCollector& operator=(const MqttCollector&) = delete;

    /// Waits until pred(messages) is true or timeout passes; returns the last result.
    /// pred runs under the collector's lock: it must not call back into the collector.
    bool wait_for(const std::function<bool(const MessageList&)>& pred,
                  std::chrono::milliseconds timeout);
    /// A copy of everything received so far, in arrival order.
    MessageList messages() const;
    /// Disconnects cleanly (at most ~2 s) and keeps what was received; a durable session stays
    /// on the broker, which queues for it. Nothing more is received.
    void disconnect();
    std::size_t size() const;
    bool connected() const { return client_->is_connected(); }
    const std::string& client_id() const { return client_id_; }

private:
    std::string client_id_;
    std::atomic<bool> subscribed_once_{false};
    std::unique_ptr<mqtt::async_client> client_;
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    MessageList messages_;
};

/// Messages in list whose topic equals topic exactly.
MessageList on_topic(const MessageList& list, const std::string& topic);

}  // namespace gw::test
