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
      ack_timer_(executor),
      hold_timer_(executor) {
    PublisherEvents events;
    events.on_connected = [this] { on_connected(); };
    events.on_connect_failed = [this](std::string reason) { on_disconnected(reason); };
    events.on_connection_lost = [this](std::string reason) { on_disconnected(reason); };
    events.on_publish_done = [this](std::uint64_t tag, bool ok, std::string error) {
        on_publish_done(tag, ok, error);
    };
    events.on_message = [this](IncomingMessage message) {
        if (command_handler_) command_handler_(std::move(message));
    };
    publisher_.set_events(std::move(events));
}

void Uplink::start(std::uint64_t last_seq, std::function<std::string()> birth_payload,
                   std::function<void()> on_connected) {
    last_committed_seq_ = last_seq;
    birth_payload_ = std::move(birth_payload);
    on_connected_ = std::move(on_connected);
    connect();
}

void Uplink::set_command_handler(std::string filter, std::function<void(IncomingMessage)> handler) {
    command_filter_ = std::move(filter);
    command_handler_ = std::move(handler);
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
    live_ready_.clear();
    backlog_ready_.clear();
    prefetch_limit_ =
        std::clamp<std::size_t>(4 * static_cast<std::size_t>(config_.max_inflight), 64, 1024);
    boundary_ = last_committed_seq_;
    live_cursor_ = boundary_;
    backlog_cursor_ = 0;
    backlog_done_ = false;
    live_pending_ = true;
    backlog_tokens_ = 1;
    tokens_at_ = std::chrono::steady_clock::now();
    hold_timer_.cancel();
    held_ = false;
    hold_s_ = 0;
    failed_seq_ = 0;
    GW_LOG_INFO("uplink", "connected to " << config_.broker << " (messages up to seq " << boundary_
                                          << " are backlog)");
    publisher_.publish(status_topic_, birth_payload_(), 1, true, kStatusTag, {});
    if (!command_filter_.empty()) publisher_.subscribe(command_filter_, 1);
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
    live_ready_.clear();
    backlog_ready_.clear();
    stats_.inflight = 0;
    hold_timer_.cancel();
    held_ = false;
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

bool Uplink::publish_direct(const std::string& topic, const std::string& payload, bool retained,
                            const PublishProperties& properties) {
    if (state_ != State::Connected) return false;
    return publisher_.publish(topic, payload, 1, retained, kDirectTag, properties);
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
    if (state_ != State::Connected || held_) return;
    publish_ready();
    prefetch();
}

void Uplink::publish_ready() {
    const auto window = static_cast<std::size_t>(config_.max_inflight);
    auto send = [this](std::deque<StoredMessage>& ready) {
        StoredMessage& m = ready.front();
        // No properties, so no expiry: the outbox guarantees delivery (false: going down).
        if (!publisher_.publish(m.topic, m.payload, 1, false, m.seq, {})) return false;
        inflight_.insert(m.seq);
        ready.pop_front();
        return true;
    };
    // Fresh data first; the backlog only within its rate.
    while (inflight_.size() < window && !live_ready_.empty())
        if (!send(live_ready_)) return;
    if (!backlog_ready_.empty() && inflight_.size() < window) refill_tokens();
    while (inflight_.size() < window && !backlog_ready_.empty() && backlog_tokens_ >= 1.0) {
        if (!send(backlog_ready_)) return;
        backlog_tokens_ -= 1.0;
    }
    stats_.inflight = inflight_.size();
    if (!backlog_ready_.empty() && inflight_.size() < window && backlog_tokens_ < 1.0 &&
        !token_timer_armed_) {
        token_timer_armed_ = true;
        const auto wait_ms = std::max<long>(1, static_cast<long>(1000.0 / config_.backlog_rate));
        token_timer_.expires_after(std::chrono::milliseconds(wait_ms));
        token_timer_.async_wait([this](const boost::system::error_code& ec) {
            token_timer_armed_ = false;
            if (!ec) pump();
        });
    }
}

void Uplink::prefetch() {
    if (peek_pending_) return;
    const std::size_t low_water = prefetch_limit_ / 2;
    bool live = false;
    std::uint64_t after = 0;
    std::uint64_t before = 0;
    std::size_t limit = 0;
    if (live_pending_ && live_ready_.size() <= low_water) {
        live = true;
        after = live_cursor_;
        before = UINT64_MAX;
        limit = prefetch_limit_ - live_ready_.size();
    } else if (!backlog_done_ && backlog_ready_.size() <= low_water) {
        after = backlog_cursor_;
        before = boundary_ + 1;
        limit = prefetch_limit_ - backlog_ready_.size();
    } else {
        return;
    }
    peek_pending_ = true;
    const std::uint64_t session = stats_.connects;
    store_.async_peek(after, before, limit,
                      [this, live, limit, session](Outcome<std::vector<StoredMessage>> result) {
                          peek_pending_ = false;
                          if (!result.ok()) {
                              GW_LOG_ERROR("uplink", "reading the outbox failed: " << result.error);
                              return;
                          }
                          // Rows read for an earlier connection are stale: the cursors were reset
                          // since.
                          if (state_ != State::Connected || session != stats_.connects) {
                              pump();
                              return;
                          }
                          auto& ready = live ? live_ready_ : backlog_ready_;
                          for (auto& m : result.value) {
                              (live ? live_cursor_ : backlog_cursor_) = m.seq;
                              ready.push_back(std::move(m));
                          }
                          if (result.value.size() < limit) {
                              if (live) {
                                  live_pending_ = false;  // the live side is drained for now
                              } else {
                                  backlog_done_ = true;
                                  GW_LOG_INFO("uplink",
                                              "backlog read to its end (seq " << boundary_ << ")");
                              }
                          }
                          pump();
                      });
}

void Uplink::on_publish_done(std::uint64_t tag, bool ok, const std::string& error) {
    if (tag == kDirectTag) return;
    if (tag == kStatusTag) {
        if (!ok) GW_LOG_WARN("uplink", "status message: " << error);
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
        // The row stays in the outbox: read again from just before it (later rows may go out
        // twice; same seq, same payload).
        ++stats_.publish_failures;
        if (tag <= boundary_) {
            backlog_cursor_ = std::min(backlog_cursor_, tag - 1);
            backlog_ready_.clear();
            backlog_done_ = false;
        } else {
            live_cursor_ = std::min(live_cursor_, tag - 1);
            live_ready_.clear();
            live_pending_ = true;
        }
        hold_after_failure(tag, error);
        return;
    }
    if (tag == failed_seq_) {  // what failed went through: no more pauses
        hold_s_ = 0;
        failed_seq_ = 0;
    }
    ++stats_.published;
    acks_.push_back(tag);
    schedule_ack_flush();
    pump();
}

void Uplink::hold_after_failure(std::uint64_t seq, const std::string& error) {
    if (held_) return;  // one pause for all the failures of a round
    held_ = true;
    if (failed_seq_ == 0) failed_seq_ = seq;
    hold_s_ =
        hold_s_ == 0 ? config_.reconnect_min_s : std::min(hold_s_ * 2, config_.reconnect_max_s);
    stats_.last_error = "seq " + std::to_string(seq) + " " + error +
                        " (kept in the outbox; sent again in " + std::to_string(hold_s_) + " s)";
    GW_LOG_WARN("uplink", stats_.last_error);
    hold_timer_.expires_after(std::chrono::seconds(hold_s_));
    hold_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec || !held_) return;
        held_ = false;
        pump();
    });
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
    hold_timer_.cancel();
    flush_acks();  // acknowledged rows need not be sent again after the restart
    const bool connected = state_ == State::Connected;
    state_ = State::ShuttingDown;
    stats_.connected = false;
    if (!connected) {
        done();
        return;
    }
    shutdown_done_ = std::move(done);
    if (!publisher_.publish(status_topic_, offline_payload, 1, true, kStatusTag, {})) {
        auto finish = std::move(shutdown_done_);
        shutdown_done_ = nullptr;
        publisher_.disconnect(2000, std::move(finish));
    }
}

}  // namespace gw
