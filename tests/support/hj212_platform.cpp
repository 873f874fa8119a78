// SPDX-License-Identifier: Apache-2.0
#include "hj212_platform.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace gw::test {

namespace {

std::runtime_error sys_error(const std::string& what) {
    return std::runtime_error("hj212 platform stub: " + what + ": " + std::strerror(errno));
}

bool write_all(int fd, const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
        const ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        off += static_cast<std::size_t>(n);
    }
    return true;
}

/// An upload that asks for a 9014: data CNs with Flag.A.
bool wants_data_reply(const hj212::Packet& p) {
    return p.flag && hj212::flag_reply_requested(*p.flag) && p.cn.size() == 4 && p.cn[0] == '2';
}

}  // namespace

Hj212PlatformStub::Hj212PlatformStub() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw sys_error("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = 0;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 4) != 0) {
        ::close(listen_fd_);
        throw sys_error("bind/listen on 127.0.0.1");
    }
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
    if (wake_fd_ < 0) {
        ::close(listen_fd_);
        throw sys_error("eventfd");
    }
    thread_ = std::thread([this] { run(); });
}

Hj212PlatformStub::~Hj212PlatformStub() {
    const std::uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
    thread_.join();
    ::close(listen_fd_);
    ::close(wake_fd_);
}

void Hj212PlatformStub::set_auto_ack(bool on) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto_ack_ = on;
}

void Hj212PlatformStub::set_reply_delay(std::chrono::milliseconds delay) {
    std::lock_guard<std::mutex> lock(mutex_);
    reply_delay_ = delay;
}

void Hj212PlatformStub::drop_after_acks(int frames) {
    std::lock_guard<std::mutex> lock(mutex_);
    acks_before_drop_ = frames;
}

bool Hj212PlatformStub::send(const std::string& data_segment) {
    std::lock_guard<std::mutex> lock(mutex_);
    return client_fd_ >= 0 && write_all(client_fd_, hj212::encode_frame(data_segment));
}

bool Hj212PlatformStub::send_raw(const std::string& bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    return client_fd_ >= 0 && write_all(client_fd_, bytes);
}

Hj212PlatformStub::Frames Hj212PlatformStub::frames() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return frames_;
}

int Hj212PlatformStub::connections() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return connections_;
}

bool Hj212PlatformStub::wait_for(const std::function<bool(const Frames&)>& condition,
                                 std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return condition(frames_); });
}

std::string Hj212PlatformStub::describe() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string out = "--- HJ 212 platform stub: " + std::to_string(connections_) +
                      " connection(s), " + std::to_string(frames_.size()) + " frame(s)\n";
    const std::size_t from = frames_.size() > 40 ? frames_.size() - 40 : 0;
    for (std::size_t i = from; i < frames_.size(); ++i) {
        std::string raw = frames_[i].raw;
        while (!raw.empty() && (raw.back() == '\n' || raw.back() == '\r')) raw.pop_back();
        out += "  [" + std::to_string(frames_[i].connection) + "]" +
               (frames_[i].acked ? "[acked] " : " ") + raw + "\n";
    }
    return out;
}

void Hj212PlatformStub::run() {
    for (;;) {
        pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if (fds[1].revents) return;
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        int connection = 0;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            connection = ++connections_;
            client_fd_ = fd;
        }
        changed_.notify_all();
        serve(fd, connection);
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (client_fd_ == fd) client_fd_ = -1;
            ::close(fd);
        }
        changed_.notify_all();
        std::uint64_t value = 0;
        pollfd wake{wake_fd_, POLLIN, 0};
        if (::poll(&wake, 1, 0) > 0 && ::read(wake_fd_, &value, sizeof value) >= 0) return;
    }
}

void Hj212PlatformStub::serve(int fd, int connection) {
    std::string buffer;
    char chunk[4096];
    for (;;) {
        pollfd fds[2] = {{fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if (fds[1].revents) return;
        const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) return;  // closed by the gateway (or an error)
        buffer.append(chunk, static_cast<std::size_t>(n));
        for (std::size_t end; (end = buffer.find("\r\n")) != std::string::npos;) {
            Frame frame;
            frame.connection = connection;
            frame.raw = buffer.substr(0, end + 2);
            buffer.erase(0, end + 2);
            frame.frame = hj212::parse_frame(frame.raw);
            if (frame.frame.ok) frame.segment = hj212::parse_segment(frame.frame.data_segment);
            bool drop = false;
            std::chrono::milliseconds delay{0};
            {
                std::lock_guard<std::mutex> lock(mutex_);
                delay = reply_delay_;
            }
            if (delay.count() > 0 && frame.ok() && wants_data_reply(frame.packet()))
                std::this_thread::sleep_for(delay);  // the far end of a slow link
            {
                std::lock_guard<std::mutex> lock(mutex_);
                if (frame.ok() && wants_data_reply(frame.packet()) && auto_ack_) {
                    if (acks_before_drop_ == 0) {
                        acks_before_drop_ = -1;
                        drop = true;
                    } else {
                        if (acks_before_drop_ > 0) --acks_before_drop_;
                        const auto& p = frame.packet();
                        const std::string reply = "QN=" + p.qn + ";ST=91;CN=9014;PW=" + p.pw +
                                                  ";MN=" + p.mn + ";Flag=4;CP=&&&&";
                        frame.acked = write_all(fd, hj212::encode_frame(reply));
                    }
                }
                frames_.push_back(std::move(frame));
            }
            changed_.notify_all();
            if (drop) return;  // the caller closes the socket
        }
    }
}

}  // namespace gw::test
