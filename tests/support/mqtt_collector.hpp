// SPDX-License-Identifier: Apache-2.0
// An MQTT subscriber that records everything it receives, for assertions. Paho callbacks only
// parse, lock and push; tests wait on a condition variable with a deadline.
#pragma once

#include <mqtt/async_client.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
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
    ~MqttCollector();
    MqttCollector(const MqttCollector&) = delete;
    MqttCollector& operator=(const MqttCollector&) = delete;

    /// Waits until pred(messages) is true or timeout passes; returns the last result.
    /// pred runs under the collector's lock: it must not call back into the collector.
    bool wait_for(const std::function<bool(const MessageList&)>& pred,
                  std::chrono::milliseconds timeout);
    /// A copy of everything received so far, in arrival order.
    MessageList messages() const;
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
