// SPDX-License-Identifier: Apache-2.0
#include "sim_process.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "net.hpp"
#include "wait.hpp"

namespace gw::test {

SimProcess::SimProcess(const std::string& sim_bin, const std::filesystem::path& scenario,
                       std::filesystem::path dir, const std::vector<std::string>& extra_args)
    : dir_(std::move(dir)) {
    const auto ready = dir_ / "sim.ready";
    std::vector<std::string> argv{sim_bin,
                                  "--scenario",
                                  scenario.string(),
                                  "--tcp-port",
                                  "0",
                                  "--ready-file",
                                  ready.string(),
                                  "--served-log",
                                  (dir_ / "served.jsonl").string(),
                                  "--control-socket",
                                  (dir_ / "sim.control").string(),
                                  "--stats-file",
                                  (dir_ / "sim.stats.json").string()};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    proc_ = std::make_unique<ChildProcess>(argv, dir_ / "sim.log");

    bool ok = false;
    std::string last_error = "ready file not written";
    wait_until(
        [&] {
            if (!proc_->running()) {
                return true;
            }
            const std::string text = read_file(ready);
            if (text.empty()) {
                return false;
            }
            try {
                const auto j = nlohmann::json::parse(text);
                // A scenario without TCP (or without RTU) devices has null there.
                const auto& port = j.at("tcp_port");
                const auto& pty = j.at("rtu_pty");
                tcp_port_ = port.is_null() ? 0 : port.get<std::uint16_t>();
                const auto rtu_tcp = j.value("rtu_tcp_port", nlohmann::json());
                rtu_tcp_port_ = rtu_tcp.is_number() ? rtu_tcp.get<std::uint16_t>() : 0;
                rtu_pty_ = pty.is_null() ? std::string() : pty.get<std::string>();
                // A LoRaWAN-only simulator serves no Modbus: it is ready once it is connected
                // to its broker.
                const auto broker = j.value("broker", nlohmann::json());
                ok = tcp_port_ != 0 || !rtu_pty_.empty() || broker.is_string();
                if (!ok) {
                    last_error = "ready file incomplete: " + text;
                }
            } catch (const std::exception& e) {
                last_error = std::string("ready file not parsable yet: ") + e.what();
            }
            return ok;
        },
        std::chrono::seconds(10));
    if (!ok) {
        std::string state = proc_->running() ? "still running" : proc_->exit_status()->describe();
        throw std::runtime_error("towngw-sim not ready (" + last_error + ", " + state +
                                 ")\ncommand: " + proc_->command_line() + "\nlog:\n" +
                                 proc_->log_text());
    }
}

nlohmann::json SimProcess::control(const nlohmann::json& request) const {
    return json_line_request(dir_ / "sim.control", request, "towngw-sim control");
}

std::vector<ServedValue> SimProcess::served() const {
    std::vector<ServedValue> out;
    std::istringstream in(read_file(dir_ / "served.jsonl"));
    std::string line;
    while (std::getline(in, line)) {
        if (in.eof()) {
            break;  // no trailing newline: the writer may be mid-line
        }
        const auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.is_object() || !j.contains("value") || !j["value"].is_number()) {
            continue;
        }
        ServedValue v;
        v.t_ms = j.value("t_ms", std::int64_t{0});
        v.device = j.value("device", std::string());
        v.unit_id = j.value("unit_id", 0);
        v.point = j.value("point", std::string());
        v.value = j["value"].get<double>();
        out.push_back(std::move(v));
    }
    return out;
}

}  // namespace gw::test
