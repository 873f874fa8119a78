// SPDX-License-Identifier: Apache-2.0
#include "uplink/uplink.hpp"

#include <algorithm>

#include "core/log.hpp"

namespace gw {

Uplink::Uplink(const MqttConfig& config, boost::asio::any_io_executor executor,
               OutboxWorker& outbox, Publisher& publisher, std::string status_topic)
    : config_(config),
      executor_(executor),
      outbox_(outbox),
      publisher_(publisher),
      status_topic_(std::move(status_topic)),
      retry_timer_(executor) {
    PublisherEvents events;
    events.on_connected = [this] { on_connected(); };
    events.on_connect_failed = [this](std::string reason) { on_disconnected(reason); };
    events.on_connection_lost = [this](std::string reason) { on_disconnected(reason); };
    events.on_publish_done = [this](std::uint64_t tag, bool ok) { on_publish_done(tag, ok); };
    publisher_.set_events(std::move(events));
}

void Uplink::start(std::function<std::string()> birth_payload) {
    birth_payload_ = std::move(birth_payload);
    connect();
}

void Uplink::connect() {
    state_ = State::Connecting;
    GW_LOG_INFO("uplink", "connecting to " << config_.broker << " as " << config_.client_id);
    publisher_.connect();
}

void Uplink::on_connected() {
    if (state_ == State::ShuttingDown) return;
    state_ = State::Connected;
    backoff_s_ = 0;
    stats_.connected = true;
    ++stats_.connects;
    GW_LOG_INFO("uplink", "connected to " << config_.broker);
    // New session: nothing is in flight any more; resend everything not yet acknowledged.
    cursor_ = 0;
    inflight_.clear();
    publisher_.publish(status_topic_, birth_payload_(), 1, true, kStatusTag);
    pump();
}

void Uplink::on_disconnected(const std::string& reason) {
    if (state_ == State::ShuttingDown) return;
    if (state_ == State::Connected) {
        ++stats_.connection_losses;
        GW_LOG_WARN("uplink", "connection lost: " << reason << " (outbox keeps the data)");
    } else {
        GW_LOG_WARN("uplink", reason);
    }
    stats_.connected = false;
    stats_.last_error = reason;
    state_ = State::BackingOff;
    inflight_.clear();
    backoff_s_ = backoff_s_ == 0 ? config_.reconnect_min_s
                                 : std::min(backoff_s_ * 2, config_.reconnect_max_s);
    retry_timer_.expires_after(std::chrono::seconds(backoff_s_));
    retry_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec && state_ == State::BackingOff) connect();
    });
}

void Uplink::notify_new_messages() {
    pump();
}

void Uplink::pump() {
    if (state_ != State::Connected) return;
    if (peek_pending_) {
        more_pending_ = true;
        return;
    }
    const auto window = static_cast<std::size_t>(config_.max_inflight);
    if (inflight_.size() >= window) return;
    peek_pending_ = true;
    more_pending_ = false;
    outbox_.async_peek(cursor_, window - inflight_.size(),
                       [this](std::string error, std::vector<StoredMessage> messages) {
                           peek_pending_ = false;
                           if (!error.empty()) {
                               GW_LOG_ERROR("uplink", "reading the outbox failed: " << error);
                               return;
                           }
                           if (state_ != State::Connected) return;
                           for (auto& m : messages) {
                               if (!publisher_.publish(m.topic, m.payload, 1, false, m.seq)) break;
                               inflight_.insert(m.seq);
                               cursor_ = m.seq;
                           }
                           stats_.inflight = inflight_.size();
                           // A full batch means there may be more; so may new arrivals.
                           if (more_pending_ || !messages.empty()) pump();
                       });
}

void Uplink::on_publish_done(std::uint64_t tag, bool ok) {
    if (tag == kStatusTag) {
        if (!ok) GW_LOG_WARN("uplink", "status message was not acknowledged");
        if (state_ == State::ShuttingDown && shutdown_done_) {
            auto done = std::move(shutdown_done_);
            shutdown_done_ = nullptr;
            publisher_.disconnect(2000, std::move(done));
        }
        return;
    }
    inflight_.erase(tag);
    stats_.inflight = inflight_.size();
    if (!ok) {
        // The row stays in the outbox; resend from just before it once we can.
        cursor_ = std::min(cursor_, tag - 1);
        return;
    }
    ++stats_.published;
    acks_.push_back(tag);
    flush_acks();
    pump();
}

void Uplink::flush_acks() {
    if (ack_pending_ || acks_.empty()) return;
    ack_pending_ = true;
    outbox_.async_ack(std::move(acks_), [this](std::string error) {
        ack_pending_ = false;
        if (!error.empty()) GW_LOG_ERROR("uplink", "deleting delivered rows failed: " << error);
        flush_acks();  // acks that arrived meanwhile go in the next transaction
    });
    acks_.clear();
}

void Uplink::shutdown(std::string offline_payload, std::function<void()> done) {
    retry_timer_.cancel();
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
