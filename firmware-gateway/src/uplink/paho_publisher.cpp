// SPDX-License-Identifier: Apache-2.0
#include "uplink/paho_publisher.hpp"

#include <boost/asio/post.hpp>

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
    client_ = std::make_unique<mqtt::async_client>(
        config_.broker, config_.client_id, static_cast<mqtt::iclient_persistence*>(nullptr));

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
        std::string topic = message->get_topic();
        std::string payload = message->to_string();
        post([this, topic = std::move(topic), payload = std::move(payload)]() mutable {
            if (events_.on_message) events_.on_message(std::move(topic), std::move(payload));
        });
    });
    connect_listener_ = std::make_unique<Listener>([this, post](const mqtt::token& token, bool ok) {
        const int rc = token.get_return_code();
        post([this, ok, rc] {
            if (ok) {
                if (events_.on_connected) events_.on_connected();
            } else if (events_.on_connect_failed) {
                std::string why =
                    "connect to " + config_.broker + " failed (rc " + std::to_string(rc) + ")";
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
        post([this, tag, ok] {
            if (events_.on_publish_done) events_.on_publish_done(tag, ok);
        });
    });
}

PahoPublisher::~PahoPublisher() {
    // Destroying the client joins Paho's threads; after that no callback can run.
    client_.reset();
}

void PahoPublisher::connect() {
    mqtt::connect_options options;
    options.set_mqtt_version(MQTTVERSION_3_1_1);
    options.set_clean_session(true);  // undelivered data lives in the outbox, not the session
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
                            bool retained, std::uint64_t tag) {
    try {
        auto message = mqtt::make_message(topic, payload, qos, retained);
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
