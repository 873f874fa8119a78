// SPDX-License-Identifier: Apache-2.0
#include "modbus_sim/mqtt_publisher.hpp"

#include <mqtt/async_client.h>

#include <stdexcept>

namespace gw::sim {
namespace {

constexpr int kQosAtLeastOnce = 1;
constexpr auto kKeepAlive = std::chrono::seconds(20);
constexpr auto kMinReconnectDelay = std::chrono::seconds(1);
constexpr auto kMaxReconnectDelay = std::chrono::seconds(8);

}  // namespace

struct MqttPublisher::Impl {
    mqtt::async_client client;
    Impl(const std::string& uri, const std::string& id) : client(uri, id) {}
};

MqttPublisher::MqttPublisher(const std::string& broker_uri, const std::string& client_id) {
    try {
        impl_ = std::make_unique<Impl>(broker_uri, client_id);
    } catch (const mqtt::exception& e) {
        throw std::runtime_error("--broker " + broker_uri + ": " + e.what());
    }
}

MqttPublisher::~MqttPublisher() {
    try {
        if (impl_ && impl_->client.is_connected()) {
            impl_->client.disconnect()->wait_for(std::chrono::milliseconds(500));
        }
    } catch (const std::exception&) {
        // Shutting down anyway.
    }
}

void MqttPublisher::connect(std::chrono::milliseconds timeout) {
    mqtt::connect_options options;
    options.set_clean_session(true);
    options.set_keep_alive_interval(kKeepAlive);
    options.set_automatic_reconnect(kMinReconnectDelay, kMaxReconnectDelay);
    options.set_connect_timeout(std::chrono::duration_cast<std::chrono::seconds>(timeout));
    try {
        auto token = impl_->client.connect(options);
        if (!token->wait_for(timeout) || !impl_->client.is_connected()) {
            throw std::runtime_error("MQTT connect to " + impl_->client.get_server_uri() +
                                     " timed out");
        }
    } catch (const mqtt::exception& e) {
        throw std::runtime_error("MQTT connect to " + impl_->client.get_server_uri() + ": " +
                                 e.what());
    }
}

bool MqttPublisher::publish(const std::string& topic, const std::string& payload) {
    try {
        impl_->client.publish(topic, payload.data(), payload.size(), kQosAtLeastOnce,
                              /*retained=*/false);
        return true;
    } catch (const mqtt::exception&) {
        return false;  // disconnected; Paho reconnects on its own
    }
}

void MqttPublisher::disconnect(std::chrono::milliseconds timeout) {
    try {
        if (impl_->client.is_connected()) {
            impl_->client.disconnect(static_cast<int>(timeout.count()))->wait_for(timeout);
        }
    } catch (const mqtt::exception&) {
        // Nothing more to deliver to.
    }
}

}  // namespace gw::sim
