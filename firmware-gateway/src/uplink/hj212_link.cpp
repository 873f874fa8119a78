// SPDX-License-Identifier: Apache-2.0
#include "uplink/hj212_link.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>

#include "core/log.hpp"
#include "hj212/reporter.hpp"

namespace gw {

namespace {

constexpr const char* kLog = "hj212";
constexpr std::size_t kPrefetch = 16;
/// A frame longer than this without CRLF is noise: the connection is dropped.
constexpr std::size_t kMaxInputBytes = 8192;
/// History answers are capped so one request cannot flood a 4G link (about 5 days of
/// 10-minute data); the platform asks again for the rest.
constexpr std::size_t kMaxHistoryFrames = 720;
constexpr std::chrono::seconds kConnectTimeout{15};
/// Uploads wait while this many frames are queued for the socket (without Flag.A nothing else
/// paces them, and a backlog must not move from the store into memory).
constexpr std::size_t kMaxQueuedWrites = 32;

/// A field from the network, fit for a log line: control and non-ASCII bytes as \xNN, capped.
std::string printable(const std::string& text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (std::size_t i = 0; i < text.size() && i < 64; ++i) {
        const auto b = static_cast<unsigned char>(text[i]);
        if (b >= 0x20 && b < 0x7F) {
            out += static_cast<char>(b);
        } else {
            out += "\\x";
            out += kHex[b >> 4];
            out += kHex[b & 0x0F];
        }
    }
    if (text.size() > 64) out += "...";
    return out;
}

bool is_history_cn(const std::string& cn) {
    return cn == "2031" || cn == "2051" || cn == "2061";
}

std::optional<int> to_int(const std::optional<std::string>& text) {
    if (!text || text->empty() || text->size() > 9) return std::nullopt;
    int value = 0;
    for (char c : *text) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + (c - '0');
    }
    return value;
}

}  // namespace

Hj212Link::Hj212Link(const Hj212PlatformConfig& config, std::int32_t utc_offset_min,
                     boost::asio::any_io_executor executor, StoreWorker& store, Hooks hooks)
    : config_(config),
      utc_offset_min_(utc_offset_min),
      executor_(executor),
      store_(store),
      hooks_(std::move(hooks)),
      reply_timeout_s_(config.reply_timeout_s),
      retries_(config.retries),
      resolver_(executor),
      socket_(executor),
      connect_timer_(executor),
      retry_timer_(executor),
      reply_timer_(executor),
      heartbeat_timer_(executor),
      input_(kMaxInputBytes),
      jitter_rng_(std::random_device{}()) {
    identity_.st = config.st;
    identity_.pw = config.pw;
    identity_.mn = config.mn;
    identity_.version =
        config.edition == Hj212Edition::V2025 ? hj212::kVersion2025 : hj212::kVersion2017;
}

Hj212Link::~Hj212Link() {
    stop();
}

void Hj212Link::start() {
    if (state_ != State::Idle) return;
    connect();
}

void Hj212Link::stop() {
    if (state_ == State::Stopped) return;
    state_ = State::Stopped;
    ++generation_;
    boost::system::error_code ignored;
    resolver_.cancel();
    socket_.close(ignored);
    connect_timer_.cancel();
    retry_timer_.cancel();
    reply_timer_.cancel();
    heartbeat_timer_.cancel();
    stats_.connected = false;
}

void Hj212Link::notify_committed() {
    more_pending_ = true;
    pump();
}

// --- connection ---------------------------------------------------------------------------

void Hj212Link::connect() {
    if (state_ == State::Stopped) return;
    state_ = State::Resolving;
    const auto generation = ++generation_;
    resolver_.async_resolve(
        config_.host, std::to_string(config_.port),
        [this, generation](const boost::system::error_code& ec,
                           boost::asio::ip::tcp::resolver::results_type results) {
            if (generation != generation_) return;
            if (ec) {
                stats_.last_error = "cannot resolve " + config_.host + ": " + ec.message();
                back_off();
                return;
            }
            state_ = State::Connecting;
            connect_timer_.expires_after(kConnectTimeout);
            connect_timer_.async_wait([this, generation](const boost::system::error_code& wait) {
                if (wait || generation != generation_) return;
                boost::system::error_code ignored;
                socket_.close(ignored);  // completes the connect with operation_aborted
            });
            boost::asio::async_connect(
                socket_, results,
                [this, generation](const boost::system::error_code& connected,
                                   const boost::asio::ip::tcp::endpoint&) {
                    if (generation != generation_) return;
                    connect_timer_.cancel();
                    if (connected) {
                        stats_.last_error = "cannot connect to " + config_.host + ":" +
                                            std::to_string(config_.port) + ": " +
                                            (connected == boost::asio::error::operation_aborted
                                                 ? std::string("timed out")
                                                 : connected.message());
                        back_off();
                        return;
                    }
                    on_connected();
                });
        });
}

void Hj212Link::on_connected() {
    state_ = State::Connected;
    backoff_s_ = 0;
    ++stats_.connects;
    stats_.connected = true;
    stats_.last_error.clear();
    boost::system::error_code ignored;
    socket_.set_option(boost::asio::ip::tcp::no_delay(true), ignored);
    socket_.set_option(boost::asio::socket_base::keep_alive(true), ignored);
    GW_LOG_INFO(kLog, "platform " << config_.name << ": connected to " << config_.host << ":"
                                  << config_.port);
    input_.consume(input_.size());
    writes_.clear();
    writing_ = false;
    // Everything not acknowledged is sent again, from the oldest.
    ready_.clear();
    cursor_ = 0;
    more_pending_ = true;
    current_.reset();
    read_next();
    schedule_heartbeat();
    pump();
}

void Hj212Link::drop(const std::string& reason) {
    if (state_ != State::Connected) return;
    GW_LOG_WARN(kLog, "platform " << config_.name << ": connection dropped: " << reason);
    stats_.last_error = reason;
    ++stats_.connection_losses;
    back_off();
}

void Hj212Link::back_off() {
    if (state_ == State::Stopped) return;
    // The first failure after a connection (or at start) is news; the retries that follow are not.
    if (state_ != State::Connected) {
        if (backoff_s_ == 0)
            GW_LOG_WARN(kLog, "platform " << config_.name << ": " << stats_.last_error);
        else
            GW_LOG_DEBUG(kLog, "platform " << config_.name << ": " << stats_.last_error);
    }
    ++generation_;  // every handler of this connection stops
    boost::system::error_code ignored;
    socket_.close(ignored);
    reply_timer_.cancel();
    heartbeat_timer_.cancel();
    connect_timer_.cancel();
    stats_.connected = false;
    current_.reset();
    fetching_ = false;
    state_ = State::BackingOff;
    backoff_s_ = backoff_s_ == 0 ? config_.reconnect_min_s
                                 : std::min(backoff_s_ * 2, config_.reconnect_max_s);
    std::uniform_int_distribution<int> spread(backoff_s_ * 500, backoff_s_ * 1000);
    retry_timer_.expires_after(std::chrono::milliseconds(spread(jitter_rng_)));
    const auto generation = generation_;
    retry_timer_.async_wait([this, generation](const boost::system::error_code& ec) {
        if (ec || generation != generation_) return;
        connect();
    });
}

// --- input --------------------------------------------------------------------------------

void Hj212Link::read_next() {
    const auto generation = generation_;
    boost::asio::async_read_until(
        socket_, input_, "\r\n",
        [this, generation](const boost::system::error_code& ec, std::size_t length) {
            if (generation != generation_) return;
            if (ec == boost::asio::error::not_found) {
                ++stats_.bad_frames;
                drop("more than " + std::to_string(kMaxInputBytes) +
                     " bytes without a frame end (CRLF)");
                return;
            }
            if (ec) {
                drop(ec == boost::asio::error::eof ? "closed by the platform" : ec.message());
                return;
            }
            std::string line(
                boost::asio::buffers_begin(input_.data()),
                boost::asio::buffers_begin(input_.data()) + static_cast<std::ptrdiff_t>(length));
            input_.consume(length);
            on_line(std::move(line));
            if (generation == generation_) read_next();
        });
}

void Hj212Link::on_line(std::string line) {
    const hj212::FrameParse frame = hj212::parse_frame(line);
    if (!frame.ok) {
        ++stats_.bad_frames;
        GW_LOG_WARN(kLog,
                    "platform " << config_.name << ": unusable frame ignored: " << frame.error);
        // A request with a bad CRC is answered (Table 7: 9 = CRC error) when its QN is known.
        if (frame.crc_mismatch) {
            const auto segment = hj212::parse_segment(frame.data_segment);
            if (segment.ok && !segment.packet.qn.empty() && segment.packet.cn != "9014") try {
                    reply(segment.packet.qn, "9011",
                          "QnRtn=" + std::to_string(static_cast<int>(hj212::QnRtn::CrcError)));
                } catch (const std::invalid_argument&) {
                    // a QN that cannot be echoed: no reply
                }
        }
        return;
    }
    const hj212::SegmentParse segment = hj212::parse_segment(frame.data_segment);
    if (!segment.ok) {
        ++stats_.bad_frames;
        GW_LOG_WARN(kLog, "platform " << config_.name
                                      << ": unusable data segment ignored: " << segment.error);
        return;
    }
    const hj212::Packet& packet = segment.packet;
    if (packet.cn == "9014") {
        // Data reply: acknowledges the packet now out if it carries its QN.
        if (current_ && packet.qn == current_->qn) {
            reply_timer_.cancel();
            if (current_packet_ + 1 < current_segments_.size()) {
                ++current_packet_;
                attempts_ = 0;
                send_current(false);
            } else {
                delivered(current_->id);
            }
        } else {
            GW_LOG_DEBUG(kLog, "platform " << config_.name << ": 9014 for QN "
                                           << printable(packet.qn)
                                           << " matches no frame in flight");
        }
        return;
    }
    if (packet.cn == "9013" || packet.cn == "9011" || packet.cn == "9012") return;
    try {
        handle_request(packet);
    } catch (const std::invalid_argument& e) {
        // A field the strict generator will not echo (a QN with a control byte, say): the
        // request is unanswerable, never fatal.
        ++stats_.bad_frames;
        GW_LOG_WARN(kLog, "platform " << config_.name << ": request CN " << printable(packet.cn)
                                      << " not answered: " << e.what());
    }
}

// --- requests from the platform ----------------------------------------------------------

void Hj212Link::reply(const std::string& qn, std::string_view cn, const std::string& cp) {
    send_segment(hj212::reply_segment(identity_, hj212::kInteractionSt, qn, cn, cp));
}

void Hj212Link::handle_request(const hj212::Packet& request) {
    ++stats_.requests;
    const std::string& qn = request.qn;
    auto refuse = [&](hj212::QnRtn code, const std::string& why) {
        ++stats_.refused;
        GW_LOG_WARN(kLog, "platform " << config_.name << ": request CN " << printable(request.cn)
                                      << " QN " << printable(qn) << " refused: " << why);
        reply(qn, "9011", "QnRtn=" + std::to_string(static_cast<int>(code)));
    };
    if (request.pw != config_.pw) return refuse(hj212::QnRtn::PwError, "wrong password");
    if (request.mn != config_.mn)
        return refuse(hj212::QnRtn::MnError, "MN " + printable(request.mn) + " is not ours");
    auto ready = [&] { reply(qn, "9011", "QnRtn=1"); };
    auto result = [&](hj212::ExeRtn code) {
        reply(qn, "9012", "ExeRtn=" + std::to_string(static_cast<int>(code)));
    };
    // A parameter upload answering a request: same QN, ST of this gateway, no reply wanted.
    auto upload = [&](std::string_view cn, const std::string& cp) {
        send_segment(hj212::reply_segment(identity_, identity_.st, qn, cn, cp));
    };
    const std::string& cn = request.cn;
    GW_LOG_INFO(kLog, "platform " << config_.name << ": request CN " << printable(cn) << " QN "
                                  << printable(qn));
    if (cn == "1011") {
        ready();
        upload("1011", "SystemTime=" + hj212::format_data_time(hooks_.now_ms(), utc_offset_min_));
        result(hj212::ExeRtn::Success);
    } else if (cn == "1012") {
        ready();
        const auto text = hj212::cp_value(request, "SystemTime");
        const auto platform_ms =
            text ? hj212::parse_data_time(*text, utc_offset_min_) : std::nullopt;
        if (!platform_ms) return result(hj212::ExeRtn::ConditionError);
        const std::int64_t offset_ms = *platform_ms - hooks_.now_ms();
        stats_.clock_offset_ms = offset_ms;
        hooks_.time_set(offset_ms);
        result(hj212::ExeRtn::Success);
    } else if (cn == "1061") {
        ready();
        upload("1061", "RtdInterval=" + std::to_string(hooks_.realtime_interval_s()));
        result(hj212::ExeRtn::Success);
    } else if (cn == "1062") {
        ready();
        const auto seconds = to_int(hj212::cp_value(request, "RtdInterval"));
        result(seconds && hooks_.set_realtime_interval_s(*seconds) ? hj212::ExeRtn::Success
                                                                   : hj212::ExeRtn::ConditionError);
    } else if (cn == "1063") {
        ready();
        upload("1063", "MinInterval=" + std::to_string(hooks_.minute_interval_min()));
        result(hj212::ExeRtn::Success);
    } else if (cn == "1064") {
        ready();
        const auto minutes = to_int(hj212::cp_value(request, "MinInterval"));
        result(minutes && hooks_.set_minute_interval_min(*minutes) ? hj212::ExeRtn::Success
                                                                   : hj212::ExeRtn::ConditionError);
    } else if (cn == "1000") {
        ready();
        const auto over_time = to_int(hj212::cp_value(request, "OverTime"));
        const auto re_count = to_int(hj212::cp_value(request, "ReCount"));
        if (!over_time || !re_count || *over_time < 1 || *over_time > 99 || *re_count < 0 ||
            *re_count > 99)
            return result(hj212::ExeRtn::ConditionError);
        reply_timeout_s_ = *over_time;
        retries_ = *re_count;
        result(hj212::ExeRtn::Success);
    } else if (is_history_cn(cn)) {
        answer_history(request);
    } else {
        refuse(hj212::QnRtn::Rejected, "command not supported by this gateway");
    }
}

void Hj212Link::answer_history(const hj212::Packet& request) {
    const auto begin_text = hj212::cp_value(request, "BeginTime");
    const auto end_text = hj212::cp_value(request, "EndTime");
    const auto begin_ms =
        begin_text ? hj212::parse_data_time(*begin_text, utc_offset_min_) : std::nullopt;
    const auto end_ms =
        end_text ? hj212::parse_data_time(*end_text, utc_offset_min_) : std::nullopt;
    reply(request.qn, "9011", "QnRtn=1");
    auto result = [this, qn = request.qn](hj212::ExeRtn code) {
        reply(qn, "9012", "ExeRtn=" + std::to_string(static_cast<int>(code)));
    };
    if (!begin_ms || !end_ms || *begin_ms > *end_ms) return result(hj212::ExeRtn::ConditionError);
    const auto generation = generation_;
    store_.async_hj212_history(
        config_.name, request.cn, *begin_ms, *end_ms, kMaxHistoryFrames,
        [this, generation, qn = request.qn, cn = request.cn,
         result](Outcome<std::vector<StoredHj212Frame>> outcome) {
            if (generation != generation_) return;  // the connection is gone: so is the request
            if (!outcome.ok()) {
                GW_LOG_ERROR(kLog, "platform " << config_.name
                                               << ": history query failed: " << outcome.error);
                return result(hj212::ExeRtn::Failed);
            }
            try {
                send_history(qn, cn, outcome.value);
                result(outcome.value.empty() ? hj212::ExeRtn::NoData : hj212::ExeRtn::Success);
            } catch (const std::invalid_argument& e) {
                GW_LOG_WARN(kLog, "platform " << config_.name << ": history " << cn << " QN "
                                              << printable(qn) << " not answered: " << e.what());
            }
        });
}

void Hj212Link::send_history(const std::string& qn, const std::string& cn,
                             const std::vector<StoredHj212Frame>& frames) {
    // Several rows for one DataTime (a frame re-made after a restart): the latest.
    std::vector<const StoredHj212Frame*> rows;
    for (const auto& row : frames) {
        if (!rows.empty() && rows.back()->data_time_ms == row.data_time_ms)
            rows.back() = &row;
        else
            rows.push_back(&row);
    }
    for (const StoredHj212Frame* row : rows)
        for (const auto& segment :
             hj212::upload_segments(identity_, qn, cn, row->cp, /*reply=*/false))
            send_segment(segment);
    GW_LOG_INFO(kLog, "platform " << config_.name << ": history " << cn << " QN " << qn << ": "
                                  << rows.size() << " frame(s) sent");
}

// --- output -------------------------------------------------------------------------------

void Hj212Link::send_segment(const std::string& segment, std::int64_t delivers) {
    if (state_ != State::Connected) return;
    writes_.push_back({hj212::encode_frame(segment), delivers});
    write_next();
}

void Hj212Link::write_next() {
    if (writing_ || writes_.empty() || state_ != State::Connected) return;
    writing_ = true;
    const auto generation = generation_;
    boost::asio::async_write(socket_, boost::asio::buffer(writes_.front().bytes),
                             [this, generation](const boost::system::error_code& ec, std::size_t) {
                                 if (generation != generation_) return;
                                 writing_ = false;
                                 if (ec) return drop("write failed: " + ec.message());
                                 const std::int64_t done = writes_.front().delivers;
                                 writes_.pop_front();
                                 write_next();
                                 if (done != 0) delivered(done);
                                 pump();  // room in the queue again
                             });
    schedule_heartbeat();  // anything written counts as a sign of life
}

void Hj212Link::pump() {
    if (state_ != State::Connected || current_ || writes_.size() >= kMaxQueuedWrites) return;
    // Acknowledged but not yet marked in the store (a reconnect re-reads the store): skipped.
    while (!ready_.empty() && unstored_.count(ready_.front().id) > 0) ready_.pop_front();
    if (ready_.empty()) return fetch_pending();
    current_ = std::move(ready_.front());
    ready_.pop_front();
    try {
        current_segments_ = hj212::upload_segments(identity_, current_->qn, current_->cn,
                                                   current_->cp, config_.reply_requested);
    } catch (const std::invalid_argument& e) {
        // Cannot happen with frames this gateway made; never let one block the queue.
        GW_LOG_ERROR(kLog, "platform " << config_.name << ": stored frame " << current_->id
                                       << " cannot be sent (" << e.what() << "); dropped");
        delivered(current_->id);
        return;
    }
    current_packet_ = 0;
    attempts_ = 0;
    send_current(false);
}

void Hj212Link::fetch_pending() {
    if (fetching_ || !more_pending_) return;
    fetching_ = true;
    more_pending_ = false;
    const auto generation = generation_;
    store_.async_hj212_pending(
        config_.name, cursor_, kPrefetch,
        [this, generation](Outcome<std::vector<StoredHj212Frame>> outcome) {
            if (generation != generation_) return;
            fetching_ = false;
            if (!outcome.ok()) {
                GW_LOG_ERROR(kLog, "platform " << config_.name
                                               << ": reading the store failed: " << outcome.error);
                return;  // tried again at the next commit
            }
            if (outcome.value.size() == kPrefetch) more_pending_ = true;
            for (auto& frame : outcome.value) {
                cursor_ = std::max(cursor_, frame.id);
                ready_.push_back(std::move(frame));
            }
            pump();
        });
}

void Hj212Link::send_current(bool resend) {
    if (!current_) return;
    ++attempts_;
    if (resend)
        ++stats_.frames_resent;
    else if (current_packet_ == 0)
        ++stats_.frames_sent;
    if (!config_.reply_requested) {
        // Nothing comes back: written is as delivered as it gets. The last packet's write
        // completes the frame; the next frame may be queued behind it at once.
        for (; current_packet_ < current_segments_.size(); ++current_packet_)
            send_segment(current_segments_[current_packet_],
                         current_packet_ + 1 == current_segments_.size() ? current_->id : 0);
        current_.reset();
        return pump();
    }
    send_segment(current_segments_[current_packet_]);
    reply_timer_.expires_after(std::chrono::seconds(reply_timeout_s_));
    const auto generation = generation_;
    reply_timer_.async_wait([this, generation](const boost::system::error_code& ec) {
        if (ec || generation != generation_) return;
        on_reply_timeout();
    });
}

void Hj212Link::on_reply_timeout() {
    ++stats_.reply_timeouts;
    if (attempts_ <= retries_) {
        GW_LOG_DEBUG(kLog, "platform " << config_.name << ": no 9014 for QN " << current_->qn
                                       << " in " << reply_timeout_s_ << " s; sending again");
        return send_current(true);
    }
    drop("no 9014 for QN " + current_->qn + " after " + std::to_string(attempts_) +
         " attempt(s) of " + std::to_string(reply_timeout_s_) + " s");
}

void Hj212Link::delivered(std::int64_t id) {
    ++stats_.frames_delivered;
    if (current_ && current_->id == id) current_.reset();
    delivered_.push_back(id);
    unstored_.insert(id);
    pump();
}

void Hj212Link::delivered_stored(const std::vector<std::int64_t>& ids) {
    for (std::int64_t id : ids) unstored_.erase(id);
}

void Hj212Link::schedule_heartbeat() {
    // HJ 212-2025 only: a 9015 after heartbeat_s without anything written.
    if (config_.edition != Hj212Edition::V2025 || config_.heartbeat_s <= 0 ||
        state_ != State::Connected)
        return;
    heartbeat_timer_.expires_after(std::chrono::seconds(config_.heartbeat_s));
    const auto generation = generation_;
    heartbeat_timer_.async_wait([this, generation](const boost::system::error_code& ec) {
        if (ec || generation != generation_) return;
        reply(hj212::make_qn(hooks_.now_ms(), utc_offset_min_), "9015", "");
    });
}

}  // namespace gw
