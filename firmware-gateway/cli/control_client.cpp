// SPDX-License-Identifier: Apache-2.0
#include "control_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gw::cli {

using json = nlohmann::json;

void ControlClient::disconnect() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    reused_ = false;
    buffer_.clear();
}

bool ControlClient::connect() {
    disconnect();
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error_ = std::string("socket: ") + std::strerror(errno);
        return false;
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.size() >= sizeof addr.sun_path) {
        ::close(fd);
        error_ = "socket path too long: " + path_;
        return false;
    }
    std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        const int err = errno;
        if (err == EINTR) {
            ::close(fd);
            interrupted_ = true;
            error_ = "interrupted";
            return false;
        }
        error_ = "cannot reach towngwd at " + path_ + ": " + std::strerror(err) +
                 (err == ENOENT || err == ECONNREFUSED ? " (is towngwd running?)"
                  : err == EACCES                      ? " (are you in the socket's group?)"
                                                       : "");
        ::close(fd);
        return false;
    }
    fd_ = fd;
    return true;
}

std::optional<json> ControlClient::request(const json& req, std::chrono::milliseconds timeout) {
    interrupted_ = false;
    error_.clear();
    // Invalid UTF-8 (a note typed in a GBK terminal) is replaced, not thrown.
    const std::string line = req.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (fd_ < 0 && !connect()) return std::nullopt;
        bool retryable = false;
        auto response = exchange(line, timeout, retryable);
        if (response) {
            reused_ = true;
            return response;
        }
        disconnect();
        if (!retryable) return std::nullopt;
    }
    return std::nullopt;
}

std::optional<json> ControlClient::exchange(const std::string& line,
                                            std::chrono::milliseconds timeout, bool& retryable) {
    const bool was_reused = reused_;
    std::size_t sent = 0;
    while (sent < line.size()) {
        const ssize_t n = ::send(fd_, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            interrupted_ = true;
            error_ = "interrupted";
            return std::nullopt;
        }
        if (n <= 0) {
            retryable = was_reused && sent == 0 && (errno == EPIPE || errno == ECONNRESET);
            error_ = std::string("send: ") + std::strerror(errno);
            return std::nullopt;
        }
        sent += static_cast<std::size_t>(n);
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    bool received_any = false;
    while (buffer_.find('\n') == std::string::npos) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            error_ =
                "no answer from towngwd within " + std::to_string(timeout.count() / 1000) + " s";
            return std::nullopt;
        }
        pollfd pfd{fd_, POLLIN, 0};
        const int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
        if (ready < 0) {
            if (errno == EINTR) {
                interrupted_ = true;
                error_ = "interrupted";
                return std::nullopt;
            }
            error_ = std::string("poll: ") + std::strerror(errno);
            return std::nullopt;
        }
        if (ready == 0) continue;
        char buf[4096];
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) {
            interrupted_ = true;
            error_ = "interrupted";
            return std::nullopt;
        }
        if (n <= 0) {
            retryable = was_reused && !received_any && (n == 0 || errno == ECONNRESET);
            error_ = n == 0 ? "towngwd closed the connection"
                            : std::string("no answer from towngwd: ") + std::strerror(errno);
            return std::nullopt;
        }
        received_any = true;
        buffer_.append(buf, static_cast<std::size_t>(n));
    }
    const auto end = buffer_.find('\n');
    auto parsed = json::parse(buffer_.substr(0, end), nullptr, false);
    buffer_.erase(0, end + 1);
    if (parsed.is_discarded() || !parsed.is_object()) {
        error_ = "towngwd sent something that is not a JSON object";
        return std::nullopt;
    }
    return parsed;
}

}  // namespace gw::cli
