// SPDX-License-Identifier: Apache-2.0
// One HJ 212 platform over TCP (docs/hj212.md). Lives on the main io_context; talks to the
// store only through StoreWorker.
//
//   Idle --start()--> Connecting --connected--> Connected --lost/no reply--> BackingOff
//                        ^                                                       |
//                        +--------- timer: min_s·2^n, capped at max_s, jitter ---+
//
// While Connected, the platform's frames still waiting in the store are sent oldest first,
// one at a time: with Flag.A the next goes out only after the platform's 9014 for this QN; with
// no 9014 in reply_timeout_s the same frame is sent again (same QN, same DataTime), `retries`
// times, and then the connection is dropped and made again. A frame is marked delivered in the
// store only after its 9014 (without Flag.A: once written to the socket), so everything not
// acknowledged is sent again after a reconnect or a restart.
//
// Requests from the platform (1000, 1011/1012, 1061..1064, history 2031/2051/2061) are
// answered in between: 9011, then the data, then 9012.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "buffer/store_worker.hpp"
#include "config/config.hpp"
#include "hj212/codec.hpp"
#include "hj212/session.hpp"

namespace gw {

struct Hj212LinkStats {
    bool connected{false};
    std::uint64_t connects{0};
    std::uint64_t connection_losses{0};
    std::uint64_t frames_sent{0};       ///< upload frames written (first attempts)
    std::uint64_t frames_resent{0};     ///< repeated after a missing 9014
    std::uint64_t frames_delivered{0};  ///< acknowledged by 9014 (or written, without Flag.A)
    std::uint64_t reply_timeouts{0};
    std::uint64_t requests{0};    ///< requests from the platform
    std::uint64_t refused{0};     ///< requests answered with a QnRtn other than 1
    std::uint64_t bad_frames{0};  ///< unusable frames received (CRC, framing)
    std::string last_error;
    /// Platform time minus ours at its last time-set (1012); the clock is never stepped.
    std::optional<std::int64_t> clock_offset_ms;
};

class Hj212Link {
public:
    /// What the link asks of the gateway (all run on the main io_context).
    struct Hooks {
        std::function<int()> realtime_interval_s;          ///< 1061
        std::function<bool(int)> set_realtime_interval_s;  ///< 1062; false: out of range
        std::function<int()> minute_interval_min;          ///< 1063
        std::function<bool(int)> set_minute_interval_min;  ///< 1064; false: out of range
        /// 1012: the platform's time minus ours, in ms (recorded, never applied to the clock).
        std::function<void(std::int64_t offset_ms)> time_set;
        std::function<std::int64_t()> now_ms;  ///< wall clock (Unix ms)
    };

    Hj212Link(const Hj212PlatformConfig& config, std::int32_t utc_offset_min,
              boost::asio::any_io_executor executor, StoreWorker& store, Hooks hooks);
    ~Hj212Link();
    Hj212Link(const Hj212Link&) = delete;
    Hj212Link& operator=(const Hj212Link&) = delete;

    void start();
    /// New frames were committed for this platform.
    void notify_committed();
    /// Closes the connection; nothing more is sent. The frames in flight stay in the store.
    void stop();

    /// Frames acknowledged since the last call, for the gateway's next commit, which marks
    /// them delivered: acknowledgements ride along with the flush instead of costing an fsync
    /// each. Until delivered_stored() they are not sent again, even after a reconnect.
    std::vector<std::int64_t> take_delivered() { return std::exchange(delivered_, {}); }
    /// A commit marked these frames delivered in the store.
    void delivered_stored(const std::vector<std::int64_t>& ids);

    const std::string& name() const { return config_.name; }
    const Hj212LinkStats& stats() const { return stats_; }

private:
    enum class State { Idle, Resolving, Connecting, Connected, BackingOff, Stopped };

    void connect();
    void on_connected();
    void drop(const std::string& reason);
    void back_off();
    void read_next();
    void on_line(std::string line);
    void handle_request(const hj212::Packet& request);
    void answer_history(const hj212::Packet& request);
    /// The stored frames of a history request, one per DataTime, with the request's QN.
    void send_history(const std::string& qn, const std::string& cn,
                      const std::vector<StoredHj212Frame>& frames);
    void reply(const std::string& qn, std::string_view cn, const std::string& cp);
    /// Frames and queues a segment; `delivers`: the stored frame this write completes (without
    /// Flag.A a frame is delivered once written), 0 for none.
    void send_segment(const std::string& segment, std::int64_t delivers = 0);
    void write_next();
    void pump();
    void fetch_pending();
    void send_current(bool resend);
    void on_reply_timeout();
    /// The platform has frame `id` (its 9014 came, or without Flag.A it was written).
    void delivered(std::int64_t id);
    void schedule_heartbeat();

    Hj212PlatformConfig config_;
    std::int32_t utc_offset_min_;
    boost::asio::any_io_executor executor_;
    StoreWorker& store_;
    Hooks hooks_;
    hj212::Identity identity_;
    /// Set by 1000 at run time (not persisted): the platform's OverTime/ReCount.
    int reply_timeout_s_;
    int retries_;

    State state_{State::Idle};
    boost::asio::ip::tcp::resolver resolver_;
    boost::asio::ip::tcp::socket socket_;
    boost::asio::steady_timer connect_timer_;
    boost::asio::steady_timer retry_timer_;
    boost::asio::steady_timer reply_timer_;
    boost::asio::steady_timer heartbeat_timer_;
    boost::asio::streambuf input_;
    int backoff_s_{0};
    std::mt19937 jitter_rng_;
    /// Connection generation: handlers of an older connection see a different value and stop.
    std::uint64_t generation_{0};

    struct PendingWrite {
        std::string bytes;         ///< a whole frame
        std::int64_t delivers{0};  ///< stored frame id delivered once written (no Flag.A), or 0
    };
    std::deque<PendingWrite> writes_;  ///< waiting for the socket
    bool writing_{false};

    std::deque<StoredHj212Frame> ready_;  ///< read ahead from the store, oldest first
    std::int64_t cursor_{0};              ///< highest id read from the store on this connection
    bool fetching_{false};
    bool more_pending_{true};  ///< the store may hold more than ready_
    /// The frame sent and waiting for its 9014: its packets (split frames have several), the
    /// packet now out, and how many times it was sent.
    std::vector<std::int64_t> delivered_;  ///< acknowledged, not handed to a commit yet
    std::set<std::int64_t> unstored_;      ///< acknowledged, not marked in the store yet
    std::optional<StoredHj212Frame> current_;
    std::vector<std::string> current_segments_;
    std::size_t current_packet_{0};
    int attempts_{0};
    Hj212LinkStats stats_;
};

}  // namespace gw
