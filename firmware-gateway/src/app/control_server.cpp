// SPDX-License-Identifier: Apache-2.0
#include "app/control_server.hpp"

#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <memory>

#include "core/log.hpp"

namespace gw {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;

namespace {

/// One client connection: read a line, answer it, repeat until the client closes.
class ControlSession : public std::enable_shared_from_this<ControlSession> {
public:
    ControlSession(local::socket socket, ControlServer::RequestHandler& handler)
        : socket_(std::move(socket)), handler_(handler) {}

    void read_next() {
        auto self = shared_from_this();
        asio::async_read_until(
            socket_, asio::dynamic_buffer(buffer_, ControlServer::kMaxRequestBytes), '\n',
            [self](const boost::system::error_code& ec, std::size_t length) {
                if (ec == asio::error::not_found) {
                    self->send(
                        {{"ok", false},
                         {"error", "request longer than " +
                                       std::to_string(ControlServer::kMaxRequestBytes) + " bytes"}},
                        /*close_after=*/true);
                    return;
                }
                if (ec) return;  // client went away
                std::string line = self->buffer_.substr(0, length - 1);
                self->buffer_.erase(0, length);
                self->dispatch(line);
            });
    }

private:
    void dispatch(const std::string& line) {
        const auto request = nlohmann::json::parse(line, nullptr, false);
        if (request.is_discarded() || !request.is_object()) {
            send({{"ok", false}, {"error", "request is not a JSON object"}}, false);
            return;
        }
        auto self = shared_from_this();
        try {
            handler_(request,
                     [self](nlohmann::json response) { self->send(std::move(response), false); });
        } catch (const std::exception& e) {
            send({{"ok", false}, {"error", std::string("internal error: ") + e.what()}}, false);
        }
    }

    void send(nlohmann::json response, bool close_after) {
        auto self = shared_from_this();
        auto text = std::make_shared<std::string>(response.dump());
        text->push_back('\n');
        response = nullptr;  // the document is no longer needed while the text is written
        asio::async_write(
            socket_, asio::buffer(*text),
            [self, text, close_after](const boost::system::error_code& ec, std::size_t) {
                if (!ec && !close_after) self->read_next();
            });
    }

    local::socket socket_;
    ControlServer::RequestHandler& handler_;
    std::string buffer_;
};

}  // namespace

ControlServer::ControlServer(asio::io_context& io, std::string path, const std::string& group,
                             RequestHandler handler)
    : io_(io), path_(std::move(path)), handler_(std::move(handler)), acceptor_(io) {
    namespace fs = std::filesystem;
    const fs::path parent = fs::path(path_).parent_path();
    std::error_code fs_error;
    if (!parent.empty()) fs::create_directories(parent, fs_error);

    if (fs::exists(path_)) {
        // A live daemon answers on it; a stale file from a crash does not.
        local::socket probe(io_);
        boost::system::error_code ec;
        probe.connect(local::endpoint(path_), ec);
        if (!ec)
            throw std::runtime_error("control socket " + path_ +
                                     " is in use: is another towngwd running?");
        fs::remove(path_, fs_error);
    }
    boost::system::error_code ec;
    acceptor_.open(local(), ec);
    if (!ec) acceptor_.bind(local::endpoint(path_), ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
        throw std::runtime_error("cannot listen on control socket " + path_ + ": " + ec.message());
    ::chmod(path_.c_str(), 0660);
    if (!group.empty()) {
        if (const ::group* g = ::getgrnam(group.c_str())) {
            if (::chown(path_.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0)
                GW_LOG_WARN("control", "cannot give " << path_ << " to group " << group);
        } else {
            GW_LOG_WARN("control", "group " << group << " does not exist; socket keeps its group");
        }
    }
}

ControlServer::~ControlServer() {
    stop();
}

void ControlServer::start() {
    accept();
}

void ControlServer::stop() {
    if (!acceptor_.is_open()) return;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    ::unlink(path_.c_str());
}

void ControlServer::accept() {
    acceptor_.async_accept([this](const boost::system::error_code& ec, local::socket socket) {
        if (ec == asio::error::operation_aborted) return;
        if (!ec) std::make_shared<ControlSession>(std::move(socket), handler_)->read_next();
        if (acceptor_.is_open()) accept();
    });
}

}  // namespace gw
