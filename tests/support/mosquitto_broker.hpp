// SPDX-License-Identifier: Apache-2.0
// A private mosquitto on 127.0.0.1 for one test: own config, own port, own log, stopped by PID.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "child_process.hpp"

namespace gw::test {

class MosquittoBroker {
public:
    /// Writes mosquitto.conf into dir and starts the broker on a free port. Throws (with the
    /// broker log) if it does not accept connections within 10 s after 3 attempts.
    /// With `persistent`, the broker saves sessions and queued QoS 1 messages in dir on stop
    /// and restores them on start, so a durable subscriber misses nothing across a restart.
    /// extra_config lines are appended to mosquitto.conf verbatim (e.g. "max_queued_messages 0"
    /// so a durable subscriber's queue never drops a message of a long backlog).
    explicit MosquittoBroker(std::filesystem::path dir, bool persistent = false,
                             std::vector<std::string> extra_config = {});
    ~MosquittoBroker() = default;
    MosquittoBroker(const MosquittoBroker&) = delete;
    MosquittoBroker& operator=(const MosquittoBroker&) = delete;

    std::uint16_t port() const { return port_; }
    /// "tcp://127.0.0.1:PORT"
    std::string uri() const;
    bool running() const;
    /// Stops the broker (SIGTERM, then SIGKILL) and reaps it. The port is kept.
    void stop();
    /// Starts the broker again on the same port (for outage tests). Throws on failure.
    void start();
    /// SIGHUP: mosquitto reloads its configuration, ACL file included, without dropping
    /// connections.
    void reload();
    std::string log_text() const;

private:
    bool launch();  // one attempt on port_; true when it accepts connections

    std::filesystem::path dir_;
    std::uint16_t port_ = 0;
    bool persistent_ = false;
    std::vector<std::string> extra_config_;
    std::unique_ptr<ChildProcess> proc_;
};

/// Absolute path of the mosquitto binary (MOSQUITTO_BIN compile definition or PATH lookup).
std::string mosquitto_bin();

}  // namespace gw::test
