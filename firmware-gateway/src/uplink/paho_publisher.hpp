// SPDX-License-Identifier: Apache-2.0
// Publisher over Eclipse Paho MQTT C++ (async_client). No Paho persistence and no offline
// buffering: the SQLite outbox is the only store of undelivered messages. Paho's callbacks run
// on Paho's threads; each one only posts a copied event to the gateway's executor.
// MQTT 3.1.1 or 5 (mqtt.protocol_version): Paho 1.2 fixes the version when the client is
// created, so the client is created for the configured one; with 5, publishes carry their
// PublishProperties and incoming messages their response topic and correlation data.
#pragma once

#include <mqtt/async_client.h>

#include <boost/asio/any_io_executor.hpp>
#include <memory>

#include "config/config.hpp"
#include "drivers/paho_support.hpp"
#include "uplink/publisher.hpp"

namespace gw {

class PahoPublisher final : public Publisher {
public:
    /// `will_topic`/`will_payload`: retained QoS 1 last will, sent by the broker if we vanish.
    PahoPublisher(const MqttConfig& config, std::string will_topic, std::string will_payload,
                  boost::asio::any_io_executor executor);
    ~PahoPublisher() override;

    void set_events(PublisherEvents events) override { events_ = std::move(events); }
    void connect() override;
    bool publish(const std::string& topic, const std::string& payload, int qos, bool retained,
                 std::uint64_t tag, const PublishProperties& properties) override;
    void subscribe(const std::string& filter, int qos) override;
    void disconnect(int timeout_ms, std::function<void()> done) override;

private:
    using Listener = paho::Listener;

    bool v5() const { return config_.protocol_version == MqttVersion::V5; }

    MqttConfig config_;
    std::string will_topic_;
    std::string will_payload_;
    boost::asio::any_io_executor executor_;
    PublisherEvents events_;
    std::unique_ptr<Listener> connect_listener_;
    std::unique_ptr<Listener> publish_listener_;
    std::unique_ptr<Listener> disconnect_listener_;
    std::unique_ptr<mqtt::async_client> client_;
};

}  // namespace gw
