// SPDX-License-Identifier: Apache-2.0
#include "modbus_sim/control_socket.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace gw::sim {
namespace {

constexpr std::size_t kMaxLineBytes = 64 * 1024;
constexpr std::size_t kMaxClients = 32;

}  // namespace

struct ControlSocket::Client {
    int fd{-1};
    std::string input;
    Client() = default;
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;
    ~Client() {
        if (fd >= 0) ::close(fd);
    }
};

ControlSocket::ControlSocket(std::string path) : path_(std::move(path)) {}

ControlSocket::~ControlSocket() {
    clients_.clear();
    if (listen_fd_ >= 0) {
        ::close(listen_fd_);
        ::unlink(path_.c_str());
    }
}

void ControlSocket::open() {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.empty() || path_.size() >= sizeof addr.sun_path) {
        throw std::runtime_error("--control-socket: path is empty or longer than " +
                                 std::to_string(sizeof addr.sun_path - 1) + " bytes: " + path_);
    }
    struct stat st {};
    if (::lstat(path_.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            throw std::runtime_error("--control-socket: " + path_ + " exists and is not a socket");
        }
        ::unlink(path_.c_str());  // left over from a run that was killed
    }
    std::memcpy(addr.sun_path, path_.c_str(), path_.size());
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) {
        throw std::system_error(errno, std::generic_category(), "socket(AF_UNIX)");
    }
    if (::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0 ||
        ::listen(listen_fd_, 8) < 0) {
        const int error = errno;
        ::close(listen_fd_);
        listen_fd_ = -1;
        throw std::system_error(error, std::generic_category(), "bind " + path_);
    }
}

void ControlSocket::add_poll_fds(std::vector<pollfd>& fds) {
    first_index_ = fds.size();
    fds.push_back({listen_fd_, POLLIN, 0});
    for (const auto& client : clients_) fds.push_back({client->fd, POLLIN, 0});
    polled_clients_ = clients_.size();
}

void ControlSocket::handle(const std::vector<pollfd>& fds, const Handler& handler) {
    for (std::size_t i = 0; i < polled_clients_; ++i) {
        if (fds[first_index_ + 1 + i].revents == 0) continue;
        Client& client = *clients_[i];
        std::array<char, 4096> chunk{};
        bool closed = false;
        for (;;) {
            const ssize_t n = ::read(client.fd, chunk.data(), chunk.size());
            if (n > 0) {
                client.input.append(chunk.data(), static_cast<std::size_t>(n));
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            closed = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
            break;
        }
        std::size_t newline = 0;
        while ((newline = client.input.find('\n')) != std::string::npos) {
            std::string line = client.input.substr(0, newline);
            client.input.erase(0, newline + 1);
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (line.empty()) continue;
            const std::string reply = handler(line) + "\n";
            // Replies are small; a client that does not read them loses them.
            [[maybe_unused]] const ssize_t w =
                ::send(client.fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        if (closed || client.input.size() > kMaxLineBytes) {
            clients_[i].reset();
        }
    }
    clients_.erase(std::remove(clients_.begin(), clients_.end(), nullptr), clients_.end());
    if ((fds[first_index_].revents & POLLIN) != 0) {
        for (;;) {
            const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) break;
            if (clients_.size() >= kMaxClients) {
                ::close(fd);
                continue;
            }
            auto client = std::make_unique<Client>();
            client->fd = fd;
            clients_.push_back(std::move(client));
        }
    }
}

}  // namespace gw::sim
