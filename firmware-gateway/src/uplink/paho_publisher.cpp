// SPDX-License-Identifier: Apache-2.0
#include "uplink/paho_publisher.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cstdint>

#include "core/log.hpp"

namespace gw {

namespace asio = boost::asio;

PahoPublisher::PahoPublisher(const MqttConfig& config, std::string will_topic,
                             std::string will_payload, asio::any_io_executor executor)
    : config_(config),
      will_topic_(std::move(will_topic)),
      will_payload_(std::move(will_payload)),
      executor_(std::move(executor)) {
    // nullptr persistence = MQTTCLIENT_PERSISTENCE_NONE; offline buffering stays off (default).
    paho::init_library_once();
    auto* const no_persistence = static_cast<mqtt::iclient_persistence*>(nullptr);
    if (v5()) {
        // Paho 1.2 fixes the version at creation: a client created without it cannot connect
        // with MQTT 5. create_options(version) keeps offline buffering off, as above.
        client_ = std::make_unique<mqtt::async_client>(
            config_.broker, config_.client_id, mqtt::create_options(MQTTVERSION_5), no_persistence);
    } else {
        client_ =
            std::make_unique<mqtt::async_client>(config_.broker, config_.client_id, no_persistence);
    }

    auto post = [this](std::function<void()> event) {
        // Runs on Paho's thread: copy what is needed and hand over.
        asio::post(executor_, std::move(event));
    };
    client_->set_connection_lost_handler([this, post](const std::string& cause) {
        post([this, cause] {
            if (events_.on_connection_lost)
                events_.on_connection_lost(cause.empty() ? "connection lost" : cause);
        });
    });
    client_->set_message_callback([this, post](mqtt::const_message_ptr message) {
        IncomingMessage in;
        in.topic = message->get_topic();
        in.payload = message->to_string();
        if (v5()) {
            // Properties come from the network: a malformed one costs the property, never the
            // message or the thread (mqtt::get throws std::bad_cast when it is missing).
            const mqtt::properties& props = message->get_properties();
            try {
                if (props.contains(mqtt::property::RESPONSE_TOPIC))
                    in.response_topic =
                        mqtt::get<std::string>(props, mqtt::property::RESPONSE_TOPIC);
                if (props.contains(mqtt::property::CORRELATION_DATA))
                    in.correlation_data =
                        mqtt::get<std::string>(props, mqtt::property::CORRELATION_DATA);
            } catch (const std::exception&) {
                in.response_topic.clear();
                in.correlation_data.clear();
            }
        }
        post([this, in = std::move(in)]() mutable {
            if (events_.on_message) events_.on_message(std::move(in));
        });
    });
    connect_listener_ = std::make_unique<Listener>([this, post](const mqtt::token& token, bool ok) {
        const int rc = token.get_return_code();
        const int reason = static_cast<int>(token.get_reason_code());
        post([this, ok, rc, reason] {
            if (ok) {
                if (events_.on_connected) events_.on_connected();
            } else if (events_.on_connect_failed) {
                std::string why = "connect to " + config_.broker + (v5() ? " with MQTT 5" : "") +
                                  " failed (rc " + std::to_string(rc);
                // MQTT 5 CONNACKs say why (e.g. "Not authorized", "Unsupported protocol version").
                if (v5() && reason != mqtt::ReasonCode::SUCCESS && reason != mqtt::MQTTPP_V3_CODE)
                    why += ": " + mqtt::exception::reason_code_str(reason);
                why += ")";
                if (config_.tls)
                    why +=
                        ": TCP or TLS handshake failed (is the broker's certificate signed by "
                        "tls.ca_file and does it name the host? does it accept our client "
                        "certificate?)";
                events_.on_connect_failed(why);
            }
        });
    });
    publish_listener_ = std::make_unique<Listener>([this, post](const mqtt::token& token, bool ok) {
        const auto tag =
            static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(token.get_user_context()));
        std::string error;
        if (!ok) {
            // MQTT 5: a PUBACK with a reason code >= 0x80 is the broker refusing the message
            // (e.g. "Not authorized" by its ACL); Paho reports it as a failure.
            const int reason = static_cast<int>(token.get_reason_code());
            error = v5() && reason >= 0x80 && reason != mqtt::MQTTPP_V3_CODE
                        ? "refused by the broker: " + mqtt::exception::reason_code_str(reason)
                        : "not acknowledged (rc " + std::to_string(token.get_return_code()) + ")";
        }
        post([this, tag, ok, error = std::move(error)]() mutable {
            if (events_.on_publish_done) events_.on_publish_done(tag, ok, std::move(error));
        });
    });
}

PahoPublisher::~PahoPublisher() {
    // Destroying the client joins Paho's threads; after that no callback can run.
    client_.reset();
}

void PahoPublisher::connect() {
    mqtt::connect_options options;
    if (v5()) {
        // Clean start and no session expiry interval (0): the session ends with the connection,
        // as a 3.1.1 clean session does. set_mqtt_version(5) clears the 3.1.1 clean-session
        // flag (Paho C refuses a v5 connect that has it); cleared again to be sure.
        options.set_mqtt_version(MQTTVERSION_5);
        options.set_clean_session(false);
        options.set_clean_start(true);
    } else {
        options.set_mqtt_version(MQTTVERSION_3_1_1);
        options.set_clean_session(true);  // undelivered data lives in the outbox, not the session
    }
    options.set_keep_alive_interval(config_.keepalive_s);
    options.set_connect_timeout(config_.connect_timeout_s);
    options.set_automatic_reconnect(false);  // the Uplink owns reconnect and back-off
    options.set_max_inflight(config_.max_inflight);
    if (!config_.username.empty()) options.set_user_name(config_.username);
    if (!config_.password.empty()) options.set_password(config_.password);
    if (config_.tls) {
        mqtt::ssl_options ssl;
        ssl.set_trust_store(config_.tls->ca_file);
        if (!config_.tls->cert_file.empty()) {
            ssl.set_key_store(config_.tls->cert_file);
            ssl.set_private_key(config_.tls->key_file);
        }
        ssl.set_enable_server_cert_auth(true);
        ssl.set_verify(config_.tls->verify_hostname);   // the certificate must name the host
        ssl.set_ssl_version(MQTT_SSL_VERSION_TLS_1_2);  // TLS 1.2 or newer
        // No ssl error handler: Paho C++ 1.2 passes the ssl_options object itself as its
        // context, and connect_options keeps a copy, so the handler would run on a destroyed
        // object (seen here as a connect that never completes). The failure names TLS instead.
        options.set_ssl(std::move(ssl));
    }
    options.set_will(mqtt::will_options(will_topic_, will_payload_, 1, true));
    try {
        client_->connect(options, nullptr, *connect_listener_);
    } catch (const mqtt::exception& e) {
        const std::string why = e.what();
        asio::post(executor_, [this, why] {
            if (events_.on_connect_failed) events_.on_connect_failed(why);
        });
    }
}

bool PahoPublisher::publish(const std::string& topic, const std::string& payload, int qos,
                            bool retained, std::uint64_t tag, const PublishProperties& properties) {
    try {
        auto message = mqtt::make_message(topic, payload, qos, retained);
        if (v5() && (properties.message_expiry_s != 0 || !properties.correlation_data.empty())) {
            mqtt::properties props;
            if (properties.message_expiry_s != 0)
                // A four-byte integer on the wire; Paho takes it as int32_t.
                props.add(mqtt::property(mqtt::property::MESSAGE_EXPIRY_INTERVAL,
                                         static_cast<std::int32_t>(std::min<std::uint32_t>(
                                             properties.message_expiry_s, INT32_MAX))));
            if (!properties.correlation_data.empty())
                props.add(
                    mqtt::property(mqtt::property::CORRELATION_DATA, properties.correlation_data));
            message->set_properties(std::move(props));
        }
        client_->publish(message, reinterpret_cast<void*>(static_cast<std::uintptr_t>(tag)),
                         *publish_listener_);
        return true;
    } catch (const mqtt::exception& e) {
        GW_LOG_DEBUG("mqtt", "publish to " << topic << " not started: " << e.what());
        return false;
    }
}

void PahoPublisher::subscribe(const std::string& filter, int qos) {
    try {
        client_->subscribe(filter, qos);
    } catch (const mqtt::exception& e) {
        GW_LOG_WARN("mqtt", "cannot subscribe to " << filter << ": " << e.what());
    }
}

void PahoPublisher::disconnect(int timeout_ms, std::function<void()> done) {
    auto shared_done = std::make_shared<std::function<void()>>(std::move(done));
    disconnect_listener_ =
        std::make_unique<Listener>([this, shared_done](const mqtt::token&, bool) {
            asio::post(executor_, [shared_done] { (*shared_done)(); });
        });
    try {
        if (!client_->is_connected()) throw mqtt::exception(-3);
        client_->disconnect(timeout_ms, nullptr, *disconnect_listener_);
    } catch (const mqtt::exception&) {
        asio::post(executor_, [shared_done] { (*shared_done)(); });
    }
}

}  // namespace gw
