// SPDX-License-Identifier: Apache-2.0
// The northbound transport as the Uplink sees it. PahoPublisher is the real one; tests can
// substitute a fake. Implementations deliver every event by posting it to the executor they
// were given, never by calling back on their own threads.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace gw {

/// MQTT 5 properties of an outgoing message. A connection with MQTT 3.1.1 has no properties:
/// there they are dropped and the message goes out without them.
struct PublishProperties {
    /// Message expiry interval: the broker discards the message if it could not be delivered
    /// within this many seconds (e.g. queued for an offline subscriber). 0 = never expires.
    std::uint32_t message_expiry_s{0};
    /// Correlation data (bytes, not text), echoed to whoever asked; empty = none.
    std::string correlation_data;
};

/// A message that arrived on a subscribed topic. Everything in it comes from the network and is
/// untrusted. With MQTT 3.1.1 (or when the sender set none) the properties are empty.
struct IncomingMessage {
    std::string topic;
    std::string payload;
    std::string response_topic;    ///< MQTT 5 response topic
    std::string correlation_data;  ///< MQTT 5 correlation data (bytes)
};

struct PublisherEvents {
    std::function<void()> on_connected;
    std::function<void(std::string reason)> on_connect_failed;
    std::function<void(std::string reason)> on_connection_lost;
    /// `tag` is the caller's id for the publish (the outbox seq); ok == PUBACK received (with
    /// MQTT 5: and not a refusal). `error` says why not, when !ok.
    std::function<void(std::uint64_t tag, bool ok, std::string error)> on_publish_done;
    /// A message arrived on a subscribed topic (remote commands).
    std::function<void(IncomingMessage message)> on_message;
};

class Publisher {
public:
    virtual ~Publisher() = default;
    virtual void set_events(PublisherEvents events) = 0;
    /// Starts one connection attempt; the outcome arrives as on_connected/on_connect_failed.
    virtual void connect() = 0;
    /// Starts a publish; false if it could not even be started (not connected).
    virtual bool publish(const std::string& topic, const std::string& payload, int qos,
                         bool retained, std::uint64_t tag, const PublishProperties& properties) = 0;
    /// Subscribes (best effort: a failure shows as no messages; re-done on every connect).
    virtual void subscribe(const std::string& filter, int qos) = 0;
    /// Disconnects gracefully (no will), waiting at most `timeout_ms`; `done` runs afterwards.
    virtual void disconnect(int timeout_ms, std::function<void()> done) = 0;
};

}  // namespace gw
