// SPDX-License-Identifier: Apache-2.0
// The northbound transport as the Uplink sees it. PahoPublisher is the real one; tests can
// substitute a fake. Implementations deliver every event by posting it to the executor they
// were given, never by calling back on their own threads.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace gw {

struct PublisherEvents {
    std::function<void()> on_connected;
    std::function<void(std::string reason)> on_connect_failed;
    std::function<void(std::string reason)> on_connection_lost;
    /// `tag` is the caller's id for the publish (the outbox seq); ok == PUBACK received.
    std::function<void(std::uint64_t tag, bool ok)> on_publish_done;
    /// A message arrived on a subscribed topic (remote commands).
    std::function<void(std::string topic, std::string payload)> on_message;
};

class Publisher {
public:
    virtual ~Publisher() = default;
    virtual void set_events(PublisherEvents events) = 0;
    /// Starts one connection attempt; the outcome arrives as on_connected/on_connect_failed.
    virtual void connect() = 0;
    /// Starts a publish; false if it could not even be started (not connected).
    virtual bool publish(const std::string& topic, const std::string& payload, int qos,
                         bool retained, std::uint64_t tag) = 0;
    /// Subscribes (best effort: a failure shows as no messages; re-done on every connect).
    virtual void subscribe(const std::string& filter, int qos) = 0;
    /// Disconnects gracefully (no will), waiting at most `timeout_ms`; `done` runs afterwards.
    virtual void disconnect(int timeout_ms, std::function<void()> done) = 0;
};

}  // namespace gw
