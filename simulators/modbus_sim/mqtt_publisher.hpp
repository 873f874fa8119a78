// SPDX-License-Identifier: Apache-2.0
// The simulator's MQTT side: a thin Paho wrapper that plays ChirpStack's MQTT integration
// client. Kept out of the other headers so only this file includes Paho.
#pragma once

#include <chrono>
#include <memory>
#include <string>

namespace gw::sim {

class MqttPublisher {
public:
    MqttPublisher(const std::string& broker_uri, const std::string& client_id);
    ~MqttPublisher();
    MqttPublisher(const MqttPublisher&) = delete;
    MqttPublisher& operator=(const MqttPublisher&) = delete;

    /// Connects (clean session, automatic reconnect). Throws std::runtime_error on failure.
    void connect(std::chrono::milliseconds timeout);

    /// Queues a QoS 1, non-retained message; false if the client refused it (disconnected).
    bool publish(const std::string& topic, const std::string& payload);

    /// Waits up to `timeout` for in-flight messages, then disconnects.
    void disconnect(std::chrono::milliseconds timeout);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace gw::sim
