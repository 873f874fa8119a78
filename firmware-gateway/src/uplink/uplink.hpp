// SPDX-License-Identifier: Apache-2.0
// Drains the SQLite outbox to the broker. Lives on the main io_context; talks to the outbox
// only through OutboxWorker and to the network only through a Publisher.
//
//   Idle --start()--> Connecting --connected--> Connected --lost/failed--> BackingOff
//                        ^                        |  birth, then drain:            |
//                        |                        |  peek > cursor, publish QoS 1, |
//                        |                        |  PUBACK -> ack (row deleted)   |
//                        +----------- timer (1 s, 2 s, ... reconnect_max_s) -------+
//
// At-least-once: after a reconnect the cursor restarts at 0, so every row without a PUBACK is
// sent again (same seq, same payload).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "buffer/outbox_worker.hpp"
#include "config/config.hpp"
#include "uplink/publisher.hpp"

namespace gw {

struct UplinkStats {
    bool connected{false};
    std::uint64_t published{0};  ///< PUBACKs received for outbox messages
    std::uint64_t connects{0};
    std::uint64_t connection_losses{0};
    std::size_t inflight{0};
    std::string last_error;
};

class Uplink {
public:
    Uplink(const MqttConfig& config, boost::asio::any_io_executor executor, OutboxWorker& outbox,
           Publisher& publisher, std::string status_topic);

    /// `birth_payload()` is called on each connect to build the retained birth message.
    void start(std::function<std::string()> birth_payload);
    /// Call after messages were committed to the outbox.
    void notify_new_messages();
    /// Publishes `offline_payload` (retained) if connected, then disconnects; `done` afterwards.
    void shutdown(std::string offline_payload, std::function<void()> done);

    const UplinkStats& stats() const { return stats_; }
    const std::string& broker() const { return config_.broker; }

private:
    enum class State { Idle, Connecting, Connected, BackingOff, ShuttingDown };
    static constexpr std::uint64_t kStatusTag = 0;  // outbox seqs start at 1

    void connect();
    void on_connected();
    void on_disconnected(const std::string& reason);
    void pump();
    void on_publish_done(std::uint64_t seq, bool ok);
    void flush_acks();

    MqttConfig config_;
    boost::asio::any_io_executor executor_;
    OutboxWorker& outbox_;
    Publisher& publisher_;
    std::string status_topic_;
    std::function<std::string()> birth_payload_;

    State state_{State::Idle};
    boost::asio::steady_timer retry_timer_;
    int backoff_s_{0};

    std::uint64_t cursor_{0};  ///< highest seq handed to the publisher this session
    std::set<std::uint64_t> inflight_;
    bool peek_pending_{false};
    bool more_pending_{false};         ///< new rows arrived while a peek was running
    std::vector<std::uint64_t> acks_;  ///< PUBACKed seqs waiting for the next ack batch
    bool ack_pending_{false};
    std::function<void()> shutdown_done_;
    UplinkStats stats_;
};

}  // namespace gw
