// SPDX-License-Identifier: Apache-2.0
#include "uplink/uplink.hpp"

#include <algorithm>

#include "core/log.hpp"

namespace gw {

namespace {
/// PUBACKs are turned into deletes at most this often (each delete batch is one fsync).
constexpr auto kAckFlushInterval = std::chrono::milliseconds(100);
}  // namespace

Uplink::Uplink(const MqttConfig& config, boost::asio::any_io_executor executor, StoreWorker& store,
               Publisher& publisher, std::string status_topic)
    : config_(config),
      executor_(executor),
      store_(store),
      publisher_(publisher),
      status_topic_(std::move(status_topic)),
      retry_timer_(executor),
      jitter_rng_(std::random_device{}()),
      token_timer_(executor),
      ack_timer_(executor) {
    PublisherEvents events;
    events.on_connected = [this] { on_connected(); };
    events.on_connect_failed = [this](std::string reason) { on_disconnected(reason); };
    events.on_connection_lost = [this](std::string reason) { on_disconnected(reason); };
    events.on_publish_done = [this](std::uint64_t tag, bool ok) { on_publish_done(tag, ok); };
    publisher_.set_events(std::move(events));
}

void Uplink::start(std::uint64_t last_seq, std::function<std::string()> birth_payload,
                   std::function<void()> on_connected) {
    last_committed_seq_ = last_seq;
    birth_payload_ = std::move(birth_payload);
    on_connected_ = std::move(on_connected);
    connect();
}

void Uplink::connect() {
    state_ = State::Connecting;
    GW_LOG_DEBUG("uplink", "connecting to " << config_.broker << " as " << config_.client_id);
    publisher_.connect();
}

void Uplink::on_connected() {
    if (state_ == State::ShuttingDown) return;
    state_ = State::Connected;
    backoff_s_ = 0;
    stats_.connected = true;
    ++stats_.connects;
    // New session: nothing is in flight any more. What was committed before now is backlog.
    inflight_.clear();
    boundary_ = last_committed_seq_;
    live_cursor_ = boundary_;
    backlog_cursor_ = 0;
    backlog_done_ = false;
    live_pending_ = true;
    backlog_tokens_ = 1;
    tokens_at_ = std::chrono::steady_clock::now();
    GW_LOG_INFO("uplink", "connected to " << config_.broker << " (messages up to seq "
                                          << boundary_ << " are backlog)");
    publisher_.publish(status_topic_, birth_payload_(), 1, true, kStatusTag);
    if (on_connected_) on_connected_();
    pump();
}

void Uplink::on_disconnected(const std::string& reason) {
    if (state_ == State::ShuttingDown) return;
    if (state_ == State::Connected) {
        ++stats_.connection_losses;
        GW_LOG_WARN("uplink", "connection lost: " << reason << " (the outbox keeps the data)");
    } else {
        GW_LOG_WARN("uplink", reason);
    }
    stats_.connected = false;
    stats_.last_error = reason;
    state_ = State::BackingOff;
    inflight_.clear();
    stats_.inflight = 0;
    backoff_s_ = backoff_s_ == 0 ? config_.reconnect_min_s
                                 : std::min(backoff_s_ * 2, config_.reconnect_max_s);
    // Jitter: 150 gateways coming back after a city-wide outage must not retry in lockstep.
    std::uniform_int_distribution<int> spread(backoff_s_ * 500, backoff_s_ * 1000);
    const auto delay = std::chrono::milliseconds(spread(jitter_rng_));
    GW_LOG_DEBUG("uplink", "next connection attempt in " << delay.count() << " ms");
    retry_timer_.expires_after(delay);
    retry_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec && state_ == State::BackingOff) connect();
    });
}

void Uplink::notify_committed(std::uint64_t last_seq) {
    last_committed_seq_ = std::max(last_committed_seq_, last_seq);
    live_pending_ = true;
    pump();
}

bool Uplink::publish_direct(const std::string& topic, const std::string& payload, bool retained) {
    if (state_ != State::Connected) return false;
    return publisher_.publish(topic, payload, 1, retained, kDirectTag);
}

void Uplink::refill_tokens() {
    const auto now = std::chrono::steady_clock::now();
    const double elapsed_s = std::chrono::duration<double>(now - tokens_at_).count();
    tokens_at_ = now;
    // A burst of at most a tenth of a second's worth (at least one message).
    const double burst = std::max(1.0, config_.backlog_rate / 10.0);
    backlog_tokens_ = std::min(burst, backlog_tokens_ + elapsed_s * config_.backlog_rate);
}

void Uplink::pump() {
    if (state_ != State::Connected || peek_pending_) return;
    const auto window = static_cast<std::size_t>(config_.max_inflight);
    if (inflight_.size() >= window) return;
    const std::size_t room = window - inflight_.size();

    bool live = false;
    std::size_t limit = 0;
    std::uint64_t after = 0;
    std::uint64_t before = 0;
    if (live_pending_) {
        live = true;
        limit = room;
        after = live_cursor_;
        before = UINT64_MAX;
    } else if (!backlog_done_) {
        refill_tokens();
        limit = std::min(room, static_cast<std::size_t>(backlog_tokens_));
        if (limit == 0) {
            if (!token_timer_armed_) {
                token_timer_armed_ = true;
                const auto wait_ms = std::max<long>(1, static_cast<long>(1000.0 / config_.backlog_rate));
                token_timer_.expires_after(std::chrono::milliseconds(wait_ms));
                token_timer_.async_wait([this](const boost::system::error_code& ec) {
                    token_timer_armed_ = false;
                    if (!ec) pump();
                });
            }
            return;
        }
        after = backlog_cursor_;
        before = boundary_ + 1;
    } else {
        return;
    }

    peek_pending_ = true;
    store_.async_peek(after, before, limit, [this, live, limit](Outcome<std::vector<StoredMessage>> result) {
        peek_pending_ = false;
        if (!result.ok()) {
            GW_LOG_ERROR("uplink", "reading the outbox failed: " << result.error);
            return;
        }
        if (state_ != State::Connected) return;
        std::size_t sent = 0;
        bool refused = false;
        for (auto& m : result.value) {
            if (!publisher_.publish(m.topic, m.payload, 1, false, m.seq)) {
                refused = true;  // connection going down; its event follows
                break;
            }
            inflight_.insert(m.seq);
            (live ? live_cursor_ : backlog_cursor_) = m.seq;
            ++sent;
        }
        stats_.inflight = inflight_.size();
        if (live) {
            // Fewer rows than asked for: the live side is drained for now.
            if (result.value.size() < limit) live_pending_ = false;
        } else {
            backlog_tokens_ -= static_cast<double>(sent);
            if (result.value.size() < limit) {
                backlog_done_ = true;
                GW_LOG_INFO("uplink", "backlog drained (up to seq " << boundary_ << ")");
            }
        }
        if (!refused) pump();
    });
}

void Uplink::on_publish_done(std::uint64_t tag, bool ok) {
    if (tag == kDirectTag) return;
    if (tag == kStatusTag) {
        if (!ok) GW_LOG_WARN("uplink", "status message was not acknowledged");
        if (state_ == State::ShuttingDown && shutdown_done_) {
            auto done = std::move(shutdown_done_);
            shutdown_done_ = nullptr;
            publisher_.disconnect(2000, std::move(done));
        }
        return;
    }
    if (inflight_.erase(tag) == 0) return;  // from an earlier session
    stats_.inflight = inflight_.size();
    if (!ok) {
        // The row stays in the outbox; resend it (and what follows) once we can.
        ++stats_.publish_failures;
        if (tag <= boundary_) {
            backlog_cursor_ = std::min(backlog_cursor_, tag - 1);
            backlog_done_ = false;
        } else {
            live_cursor_ = std::min(live_cursor_, tag - 1);
            live_pending_ = true;
        }
        return;
    }
    ++stats_.published;
    acks_.push_back(tag);
    schedule_ack_flush();
    pump();
}

void Uplink::schedule_ack_flush() {
    if (ack_timer_armed_ || ack_pending_) return;
    ack_timer_armed_ = true;
    ack_timer_.expires_after(kAckFlushInterval);
    ack_timer_.async_wait([this](const boost::system::error_code&) {
        ack_timer_armed_ = false;
        flush_acks();
    });
}

void Uplink::flush_acks() {
    if (ack_pending_ || acks_.empty()) return;
    ack_pending_ = true;
    std::vector<std::uint64_t> batch;
    batch.swap(acks_);
    store_.async_ack(std::move(batch), [this](Outcome<bool> result) {
        ack_pending_ = false;
        // A failed delete only means the row is sent again later (duplicate, same payload).
        if (!result.ok()) GW_LOG_WARN("uplink", "deleting delivered rows failed: " << result.error);
        if (!acks_.empty()) schedule_ack_flush();
    });
}

void Uplink::shutdown(std::string offline_payload, std::function<void()> done) {
    retry_timer_.cancel();
    token_timer_.cancel();
    ack_timer_.cancel();
    flush_acks();  // acknowledged rows need not be sent again after the restart
    const bool connected = state_ == State::Connected;
    state_ = State::ShuttingDown;
    stats_.connected = false;
    if (!connected) {
        done();
        return;
    }
    shutdown_done_ = std::move(done);
    if (!publisher_.publish(status_topic_, offline_payload, 1, true, kStatusTag)) {
        auto finish = std::move(shutdown_done_);
        shutdown_done_ = nullptr;
        publisher_.disconnect(2000, std::move(finish));
    }
}

}  // namespace gw
