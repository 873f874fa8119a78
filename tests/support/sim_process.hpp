// SPDX-License-Identifier: Apache-2.0
// towngw-sim as a child process: Modbus TCP on a port it picks, Modbus RTU on a pty it creates,
// both reported through a ready file; every value it serves is appended to a JSON-lines log.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "child_process.hpp"

namespace gw::test {

/// One line of the simulator's served log.
struct ServedValue {
    std::int64_t t_ms = 0;
    std::string device;
    int unit_id = 0;
    std::string point;
    double value = 0.0;
};

class SimProcess {
public:
    /// Runs `sim_bin --scenario scenario --tcp-port 0 --ready-file dir/sim.ready
    /// --served-log dir/served.jsonl [extra_args...]` and waits (10 s) for the ready file.
    /// Throws with the simulator log if it exits or the deadline passes.
    SimProcess(const std::string& sim_bin, const std::filesystem::path& scenario,
               std::filesystem::path dir, const std::vector<std::string>& extra_args = {});

    std::uint16_t tcp_port() const { return tcp_port_; }
    const std::string& rtu_pty() const { return rtu_pty_; }
    /// RTU frames over TCP (transparent serial server), 0 if the simulator does not serve it.
    std::uint16_t rtu_tcp_port() const { return rtu_tcp_port_; }
    /// One request on the simulator's control socket, e.g. {"fault": {...}}, {"clear": "id"},
    /// {"stats": true}; returns the reply. Throws if the simulator does not answer.
    nlohmann::json control(const nlohmann::json& request) const;
    ChildProcess& process() { return *proc_; }
    /// Parses the served log as it is now (an incomplete last line is ignored).
    std::vector<ServedValue> served() const;
    std::string log_text() const { return proc_->log_text(); }

private:
    std::filesystem::path dir_;
    std::unique_ptr<ChildProcess> proc_;
    std::uint16_t tcp_port_ = 0;
    std::uint16_t rtu_tcp_port_ = 0;
    std::string rtu_pty_;
};

}  // namespace gw::test
