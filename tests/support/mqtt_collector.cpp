// SPDX-License-Identifier: Apache-2.0
#include "mqtt_collector.hpp"

#include <unistd.h>

#include <atomic>
#include <stdexcept>

namespace gw::test {
namespace {

constexpr auto kConnectTimeout = std::chrono::seconds(10);

std::string unique_client_id() {
    static std::atomic<unsigned> counter{0};
    return "towngw-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

}  // namespace

MqttCollector::MqttCollector(const std::string& broker_uri, const std::string& filter,
                             bool clean_session, const std::string& client_id)
    : MqttCollector(broker_uri, std::vector<std::string>{filter}, clean_session, client_id) {}

MqttCollector::MqttCollector(const std::string& broker_uri, const std::vector<std::string>& filters,
                             bool clean_session, const std::string& client_id)
    : MqttCollector(broker_uri, filters, [&] {
          CollectorOptions o;
          o.clean_session = clean_session;
          o.client_id = client_id;
          return o;
      }()) {}

MqttCollector::MqttCollector(const std::string& broker_uri, const std::vector<std::string>& filters,
                             const CollectorOptions& options)
    : client_id_(options.client_id.empty() ? unique_client_id() : options.client_id),
      // Paho 1.2 fixes the MQTT version when the client is created.
      client_(options.mqtt5 ? std::make_unique<mqtt::async_client>(
                                  broker_uri, client_id_, mqtt::create_options(MQTTVERSION_5))
                            : std::make_unique<mqtt::async_client>(broker_uri, client_id_)) {
    const bool clean_session = options.clean_session;
    const bool mqtt5 = options.mqtt5;
    client_->set_message_callback([this, mqtt5](mqtt::const_message_ptr msg) {
        ReceivedMessage m;
        m.topic = msg->get_topic();
        m.payload = msg->get_payload_str();
        auto j = nlohmann::json::parse(m.payload, nullptr, false);
        if (!j.is_discarded()) {
            m.json = std::move(j);
        }
        m.retained = msg->is_retained();
        m.qos = msg->get_qos();
        m.received_at = std::chrono::steady_clock::now();
        if (mqtt5) {
            const auto& props = msg->get_properties();
            try {
                if (props.contains(mqtt::property::RESPONSE_TOPIC)) {
                    m.response_topic =
                        mqtt::get<std::string>(props, mqtt::property::RESPONSE_TOPIC);
                }
                if (props.contains(mqtt::property::CORRELATION_DATA)) {
                    m.correlation_data =
                        mqtt::get<std::string>(props, mqtt::property::CORRELATION_DATA);
                }
                if (props.contains(mqtt::property::MESSAGE_EXPIRY_INTERVAL)) {
                    m.message_expiry_s =
                        mqtt::get<std::uint32_t>(props, mqtt::property::MESSAGE_EXPIRY_INTERVAL);
                }
            } catch (const std::exception&) {
                // Recorded without the property; the test's assertion will say so.
            }
        }
        {
            std::lock_guard<std::mutex> lock(mutex_);
            messages_.push_back(std::move(m));
        }
        cv_.notify_all();
    });

    auto opts = mqtt::connect_options_builder()
                    .keep_alive_interval(std::chrono::seconds(10))
                    .connect_timeout(kConnectTimeout)
                    .automatic_reconnect(std::chrono::milliseconds(200), std::chrono::seconds(1))
                    .finalize();
    if (mqtt5) {
        opts.set_mqtt_version(MQTTVERSION_5);  // clears the 3.1.1 clean-session flag
        opts.set_clean_session(false);         // (Paho C refuses a v5 connect with it set)
        opts.set_clean_start(clean_session);
        if (options.session_expiry_s > 0) {
            mqtt::properties props;
            props.add(mqtt::property(mqtt::property::SESSION_EXPIRY_INTERVAL,
                                     static_cast<std::int32_t>(options.session_expiry_s)));
            opts.set_properties(std::move(props));
        }
    } else {
        opts.set_clean_session(clean_session);
    }
    // After a broker restart a clean session has lost its subscription; a durable one has not.
    client_->set_connected_handler([this, filters, clean_session](const std::string&) {
        if (!clean_session || !subscribed_once_) return;
        try {
            for (const auto& filter : filters) {
                client_->subscribe(filter, 1);
            }
        } catch (const mqtt::exception&) {
            // Reconnecting again will retry.
        }
    });
    try {
        if (!client_->connect(opts)->wait_for(kConnectTimeout)) {
            throw std::runtime_error("timed out");
        }
        for (const auto& filter : filters) {
            if (!client_->subscribe(filter, 1)->wait_for(kConnectTimeout)) {
                throw std::runtime_error("subscribe to " + filter + " timed out");
            }
        }
        subscribed_once_ = true;
    } catch (const std::exception& e) {
        std::string list;
        for (const auto& filter : filters) {
            list += (list.empty() ? "" : " ") + filter;
        }
        throw std::runtime_error("MqttCollector " + client_id_ + " -> " + broker_uri + " [" + list +
                                 "]: " + e.what());
    }
}

MqttCollector::~MqttCollector() {
    disconnect();
    // Destroy the client (and its callback thread) before the members the callback uses.
    client_.reset();
}

void MqttCollector::disconnect() {
    try {
        if (client_->is_connected()) {
            client_->disconnect(std::chrono::milliseconds(500))->wait_for(std::chrono::seconds(2));
        }
    } catch (...) {
        // Best effort: the broker may already be gone.
    }
}

bool MqttCollector::wait_for(const std::function<bool(const MessageList&)>& pred,
                             std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return pred(messages_); });
}

MessageList MqttCollector::messages() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return messages_;
}

std::size_t MqttCollector::size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return messages_.size();
}

MessageList on_topic(const MessageList& list, const std::string& topic) {
    MessageList out;
    for (const auto& m : list) {
        if (m.topic == topic) {
            out.push_back(m);
        }
    }
    return out;
}

}  // namespace gw::test
