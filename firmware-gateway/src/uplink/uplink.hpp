// SPDX-License-Identifier: Apache-2.0
// Drains the SQLite outbox to the broker. Lives on the main io_context; talks to the store only
// through StoreWorker and to the network only through a Publisher.
//
//   Idle --start()--> Connecting --connected--> Connected --lost/failed--> BackingOff
//                        ^                        |                            |
//                        +---- timer: min_s·2^n, capped at max_s, with jitter -+
//
// While Connected, two cursors walk the outbox in seq order:
//   live    seq > boundary   messages committed since this connection came up: sent first;
//   backlog seq <= boundary  what piled up before (outage, crash): sent alongside, at most
//                            backlog_rate messages/s, so fresh data is never stuck behind it.
// A row is deleted (acked, in batches) only after its PUBACK. After a reconnect both cursors
// restart, so every row without a PUBACK is sent again with the same seq and payload
// (at-least-once).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "buffer/store_worker.hpp"
#include "config/config.hpp"
#include "uplink/publisher.hpp"

namespace gw {

struct UplinkStats {
    bool connected{false};
    std::uint64_t published{0};  ///< PUBACKs received for outbox messages
    std::uint64_t connects{0};
    std::uint64_t connection_losses{0};
    std::uint64_t publish_failures{0};
    std::size_t inflight{0};
    std::string last_error;
};

class Uplink {
public:
    Uplink(const MqttConfig& config, boost::asio::any_io_executor executor, StoreWorker& store,
           Publisher& publisher, std::string status_topic);

    /// `birth_payload()` builds the retained birth message; `on_connected()` runs after each
    /// successful connect (the gateway publishes health then). `last_seq`: highest seq stored.
    void start(std::uint64_t last_seq, std::function<std::string()> birth_payload,
               std::function<void()> on_connected);
    /// Call after messages were committed to the outbox; `last_seq` is the highest new seq.
    void notify_committed(std::uint64_t last_seq);
    /// Publishes a message that does not go through the outbox (health, an alarm that could
    /// not be stored). Best effort: false if not connected. `properties` apply with MQTT 5 only.
    bool publish_direct(const std::string& topic, const std::string& payload, bool retained,
                        const PublishProperties& properties = {});
    /// Subscribes to `filter` on every connect and hands each message to `handler`.
    void set_command_handler(std::string filter,
                             std::function<void(IncomingMessage message)> handler);
    /// Publishes `offline_payload` (retained) if connected, then disconnects; `done` afterwards.
    void shutdown(std::string offline_payload, std::function<void()> done);

    /// The PUBACKed seqs not yet deleted, handed to a commit that deletes them before it
    /// evicts anything (so a delivered row is never announced as evicted).
    std::vector<std::uint64_t> take_acks() { return std::exchange(acks_, {}); }
    bool connected() const { return state_ == State::Connected; }
    const UplinkStats& stats() const { return stats_; }
    const std::string& broker() const { return config_.broker; }

private:
    enum class State { Idle, Connecting, Connected, BackingOff, ShuttingDown };
    std::string command_filter_;
    std::function<void(IncomingMessage)> command_handler_;
    static constexpr std::uint64_t kStatusTag = 0;  // outbox seqs start at 1
    static constexpr std::uint64_t kDirectTag = UINT64_MAX;

    void connect();
    void on_connected();
    void on_disconnected(const std::string& reason);
    void pump();
    void publish_ready();
    void prefetch();
    void refill_tokens();
    void on_publish_done(std::uint64_t tag, bool ok, const std::string& error);
    void hold_after_failure(std::uint64_t seq, const std::string& error);
    void schedule_ack_flush();
    void flush_acks();

    MqttConfig config_;
    boost::asio::any_io_executor executor_;
    StoreWorker& store_;
    Publisher& publisher_;
    std::string status_topic_;
    std::function<std::string()> birth_payload_;
    std::function<void()> on_connected_;

    State state_{State::Idle};
    boost::asio::steady_timer retry_timer_;
    int backoff_s_{0};
    std::mt19937 jitter_rng_;

    std::uint64_t last_committed_seq_{0};
    std::uint64_t boundary_{0};        ///< seqs <= boundary are backlog for this connection
    std::uint64_t live_cursor_{0};     ///< highest live seq read from the outbox
    std::uint64_t backlog_cursor_{0};  ///< highest backlog seq read from the outbox
    /// Rows read ahead from the outbox (bounded), so a PUBACK is answered by the next publish
    /// without a round trip to the database thread.
    std::deque<StoredMessage> live_ready_;
    std::deque<StoredMessage> backlog_ready_;
    std::size_t prefetch_limit_{256};
    bool live_pending_{false};  ///< live rows may be waiting
    bool backlog_done_{true};
    double backlog_tokens_{0};
    std::chrono::steady_clock::time_point tokens_at_;
    boost::asio::steady_timer token_timer_;
    bool token_timer_armed_{false};

    std::set<std::uint64_t> inflight_;
    bool peek_pending_{false};
    std::vector<std::uint64_t> acks_;  ///< PUBACKed seqs waiting for the next ack batch
    bool ack_pending_{false};
    boost::asio::steady_timer ack_timer_;
    bool ack_timer_armed_{false};
    /// A publish that fails while connected (with MQTT 5: refused by the broker, e.g. by its
    /// ACL) is sent again after a pause, not at once: at once would spin on a refusal. The
    /// pause doubles from reconnect_min_s to reconnect_max_s until that row gets its PUBACK.
    boost::asio::steady_timer hold_timer_;
    bool held_{false};
    int hold_s_{0};
    std::uint64_t failed_seq_{0};  ///< the row whose failure started the pauses
    std::function<void()> shutdown_done_;
    UplinkStats stats_;
};

}  // namespace gw
