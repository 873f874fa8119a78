// SPDX-License-Identifier: Apache-2.0
// A small HJ 212 platform (the bureau's side) for integration tests: a TCP server on
// 127.0.0.1 (port 0, so the kernel picks a free one) that records every frame a gateway sends,
// answers uploads that ask for it with 9014 (same QN), can drop the connection in the middle of
// a stream, and sends requests of its own. One connection at a time, on its own thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "hj212/codec.hpp"

namespace gw::test {

class Hj212PlatformStub {
public:
    struct Frame {
        int connection{0};  ///< 1 for the first connection accepted, 2 for the next...
        std::string raw;    ///< as received, CRLF included
        hj212::FrameParse frame;
        hj212::SegmentParse segment;
        bool acked{false};  ///< the stub answered it with 9014
        bool ok() const { return frame.ok && !frame.crc_mismatch && segment.ok; }
        const hj212::Packet& packet() const { return segment.packet; }
    };
    using Frames = std::vector<Frame>;

    Hj212PlatformStub();
    ~Hj212PlatformStub();
    Hj212PlatformStub(const Hj212PlatformStub&) = delete;
    Hj212PlatformStub& operator=(const Hj212PlatformStub&) = delete;

    std::uint16_t port() const { return port_; }

    /// Answer uploads with Flag.A by 9014 (on by default).
    void set_auto_ack(bool on);
    /// After acknowledging `frames` more uploads, the next upload is not acknowledged: the
    /// connection is closed instead, as a 4G link dies in the middle of a stream.
    void drop_after_acks(int frames);
    /// Waits this long before each 9014, as a platform at the far end of a 4G link does (the
    /// round trip the gateway's stop-and-wait pays per frame).
    void set_reply_delay(std::chrono::milliseconds delay);
    /// Sends a request frame (the data segment; the stub adds the framing and the CRC) on the
    /// current connection; false when no gateway is connected.
    bool send(const std::string& data_segment);
    /// Sends bytes as they are (malformed frames, bytes the codec would refuse to frame).
    bool send_raw(const std::string& bytes);

    Frames frames() const;
    int connections() const;
    /// Waits until `condition` holds for the frames received so far, or `timeout` passes.
    bool wait_for(const std::function<bool(const Frames&)>& condition,
                  std::chrono::milliseconds timeout) const;
    /// The frames as text, one per line, for failure reports.
    std::string describe() const;

private:
    void run();
    void serve(int fd, int connection);

    int listen_fd_{-1};
    int wake_fd_{-1};  ///< eventfd: stops the thread
    std::uint16_t port_{0};
    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    Frames frames_;
    int connections_{0};
    int client_fd_{-1};
    bool auto_ack_{true};
    int acks_before_drop_{-1};  ///< -1: never drop
    std::chrono::milliseconds reply_delay_{0};
    std::thread thread_;
};

}  // namespace gw::test
