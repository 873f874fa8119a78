// SPDX-License-Identifier: Apache-2.0
// The local control socket: a Unix stream socket speaking JSON lines (one request object per
// line, one response object per line). `towngw` talks to the daemon through it, so the CLI
// never opens a bus itself. Mode 0660; owner group configurable.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace gw {

class ControlServer {
public:
    using Reply = std::function<void(nlohmann::json response)>;
    /// Called on the main io_context for each well-formed request; must call `reply` once.
    using RequestHandler = std::function<void(const nlohmann::json& request, Reply reply)>;

    static constexpr std::size_t kMaxRequestBytes = 64 * 1024;

    /// Binds the socket; throws std::runtime_error with a clear message when it cannot
    /// (another daemon listening, directory missing and not creatable, permissions).
    ControlServer(boost::asio::io_context& io, std::string path, const std::string& group,
                  RequestHandler handler);
    ~ControlServer();

    void start();
    void stop();
    const std::string& path() const { return path_; }

private:
    void accept();

    boost::asio::io_context& io_;
    std::string path_;
    RequestHandler handler_;
    boost::asio::local::stream_protocol::acceptor acceptor_;
};

}  // namespace gw
