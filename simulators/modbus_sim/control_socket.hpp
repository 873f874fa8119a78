// SPDX-License-Identifier: Apache-2.0
// The simulator's control socket: a Unix stream socket; each client sends one JSON object per
// line and gets one JSON line back. This class only moves lines; the server interprets them.
#pragma once

#include <poll.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace gw::sim {

class ControlSocket {
public:
    /// Takes one request line (without the newline), returns the reply (without newline).
    using Handler = std::function<std::string(const std::string& line)>;

    explicit ControlSocket(std::string path);
    ~ControlSocket();
    ControlSocket(const ControlSocket&) = delete;
    ControlSocket& operator=(const ControlSocket&) = delete;

    /// Binds and listens. A stale socket file is replaced; any other file is an error.
    void open();
    const std::string& path() const { return path_; }

    /// Appends the fds to poll; remembers where they start for handle().
    void add_poll_fds(std::vector<pollfd>& fds);
    /// Accepts, reads, answers. `fds` is the array passed to poll().
    void handle(const std::vector<pollfd>& fds, const Handler& handler);

private:
    struct Client;

    std::string path_;
    int listen_fd_{-1};
    std::vector<std::unique_ptr<Client>> clients_;
    std::size_t first_index_{0};
    std::size_t polled_clients_{0};
};

}  // namespace gw::sim
