// SPDX-License-Identifier: Apache-2.0
// LoRaWAN devices through a ChirpStack v4 network server's MQTT integration: one source per
// broker, with its own Paho client and one small thread for staleness and the first connect.
//
//   mosquitto ──up/join──▶ Paho thread: UplinkProcessor (parse, dedup, decode) ─▶ on_sample
//                          stale thread: wait_until(next deadline) ─▶ stale samples ─▶ on_sample
//
// Both threads call the processor under one mutex and hand samples to the SampleHandler, which
// only posts them to the gateway's io_context; neither blocks on the network.
//
// Session: clean, QoS 1 subscriptions, no Paho persistence. Windows belong to the gateway's
// clock and a sample older than its open window is dropped, so uplinks a broker queued while
// towngwd was down would arrive too late to count (or would need their own timestamps, which
// the window model does not have); a clean session also leaves no queue growing on a shared
// broker if the gateway is removed. A missed uplink shows as a short or stale window instead.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "drivers/device_sample.hpp"
#include "drivers/lorawan/uplink_processor.hpp"

namespace mqtt {
class async_client;
}
namespace gw::paho {
class Listener;
}

namespace gw::lorawan {

struct ChirpstackBroker {
    std::string uri;        ///< tcp://host:port of the broker ChirpStack publishes to
    std::string client_id;  ///< unique on that broker
    std::string username;   ///< optional
    std::string password;   ///< optional, never logged
    int keepalive_s{30};
    int reconnect_min_s{1};
    int reconnect_max_s{60};
};

/// Snapshot of the source's connection state.
struct ChirpstackStatus {
    bool connected{false};
    std::uint64_t connects{0};
    std::uint64_t connection_losses{0};
    SourceCounters counters;
};

class ChirpstackSource : public drivers::Source {
public:
    using LogHandler = std::function<void(LogLine::Level, const std::string&)>;

    /// `on_sample` and `log` run on the source's threads (Paho's or the stale thread) and must
    /// only hand over. Devices' indices in samples are indices into `devices`.
    ChirpstackSource(ChirpstackBroker broker, std::vector<LorawanDevice> devices,
                     drivers::SampleHandler on_sample, LogHandler log, ReplayPolicy policy = {});
    ~ChirpstackSource() override;
    ChirpstackSource(const ChirpstackSource&) = delete;
    ChirpstackSource& operator=(const ChirpstackSource&) = delete;

    void start() override;
    /// Joins the stale thread and disconnects (bounded by about one second).
    void stop() override;
    std::string describe() const override { return "chirpstack:" + broker_.uri; }

    /// Topic filters subscribed (one per application and event type).
    std::vector<std::string> topic_filters() const;
    DeviceCounters device_counters(std::size_t device_index) const;
    ChirpstackStatus status() const;

private:
    void run();
    void connect();  ///< starts an asynchronous connect; called with mutex_ not held
    void on_connected();
    void on_connect_failed(const std::string& why);
    using Listener = paho::Listener;
    /// One listener per topic filter, kept for the client's lifetime (Paho holds a reference).
    Listener* subscribe_listener(const std::string& filter);
    void on_message(const std::string& topic, const std::string& payload);
    /// Logs and hands over an output of the processor; called with mutex_ held so samples of
    /// one device keep their order.
    void deliver(UplinkProcessor::Output& output);

    ChirpstackBroker broker_;
    drivers::SampleHandler on_sample_;
    LogHandler log_;
    std::vector<std::string> applications_;  ///< distinct application ids ("+" alone if any)

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    UplinkProcessor processor_;
    ChirpstackStatus status_;
    bool stopping_{false};
    bool ever_connected_{false};  ///< from then on Paho's automatic reconnect takes over
    bool connecting_{false};
    std::chrono::steady_clock::time_point connect_retry_at_{};
    std::chrono::seconds connect_backoff_{1};

    std::unique_ptr<Listener> connect_listener_;
    std::map<std::string, std::unique_ptr<Listener>> subscribe_listeners_;
    std::unique_ptr<mqtt::async_client> client_;
    std::thread thread_;
};

}  // namespace gw::lorawan
