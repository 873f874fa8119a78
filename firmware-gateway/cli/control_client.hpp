// SPDX-License-Identifier: Apache-2.0
// The CLI's side of the control protocol (docs/control-protocol.md): JSON lines over towngwd's
// Unix socket. One connection carries every request of a command (a calibration session sends
// dozens); it is opened on the first request and re-opened once if the daemon dropped it.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace gw::cli {

class ControlClient {
public:
    static constexpr std::chrono::milliseconds kDefaultTimeout{5000};

    explicit ControlClient(std::string socket_path) : path_(std::move(socket_path)) {}
    ~ControlClient() { disconnect(); }
    ControlClient(const ControlClient&) = delete;
    ControlClient& operator=(const ControlClient&) = delete;

    /// Sends one request and returns the daemon's response object (which may say "ok": false).
    /// nullopt when the daemon cannot be reached or did not answer in time: error() says why
    /// (for a missing socket: "... (is towngwd running?)"), interrupted() whether a signal
    /// (Ctrl-C) cut the wait short.
    std::optional<nlohmann::json> request(const nlohmann::json& req,
                                          std::chrono::milliseconds timeout = kDefaultTimeout);

    const std::string& error() const { return error_; }
    bool interrupted() const { return interrupted_; }
    const std::string& socket_path() const { return path_; }

    void disconnect();

private:
    bool connect();
    /// One attempt on the current connection. `retryable` is set when the daemon closed a
    /// reused connection before answering (the request was not processed: send it again).
    std::optional<nlohmann::json> exchange(const std::string& line,
                                           std::chrono::milliseconds timeout, bool& retryable);

    std::string path_;
    int fd_{-1};
    bool reused_{false};  ///< the connection already carried a request
    std::string buffer_;  ///< bytes received after the last response line
    std::string error_;
    bool interrupted_{false};
};

}  // namespace gw::cli
