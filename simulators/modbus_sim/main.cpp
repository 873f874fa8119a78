// SPDX-License-Identifier: Apache-2.0
// towngw-sim: THIS IS A SIMULATOR, not a driver and not field software.
//
// What it simulates: the Modbus sensors of a township monitoring site, as described by the
// gateway's own device profiles (config/devices/*.json): a float32 water-quality probe on
// RS-485 (served as Modbus RTU on a pseudo-terminal), a TUF-2000M-style sewage flow meter
// and an ultrasonic waste-bin level sensor behind an RS-485-to-Ethernet gateway (served as
// Modbus TCP, one port, selected by unit id), with values that move over time: noise,
// day/night cycles, a flow totaliser and a bin that fills and gets emptied.
//
// What it demonstrates / is for: an independent Modbus slave (libmodbus builds every reply,
// and the register encoder is written separately from the gateway's decoder) to run the
// gateway against in integration tests and demos. --served-log records, per answered
// request, the engineering value the gateway must decode, so tests can compare end to end.
//
// Usage: towngw-sim --scenario FILE [--tcp-port N] [--tcp-host 127.0.0.1] [--ready-file F]
//                   [--served-log F] [--pty-link PATH] [--time-scale X] [--seed N] [--help]
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "modbus_sim/scenario.hpp"
#include "modbus_sim/slave_server.hpp"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;  ///< bad command line, scenario or profile

constexpr std::string_view kUsage = R"(Usage: towngw-sim --scenario FILE [options]

Modbus sensor SIMULATOR for towngw: serves the devices of a scenario file over Modbus TCP
(one port, device chosen by unit id) and Modbus RTU (a pseudo-terminal).

Options:
  --scenario FILE     scenario JSON (// comments allowed); profiles resolve relative to it
  --tcp-port N        TCP port to listen on; 0 = a free port (default 0)
  --tcp-host ADDR     IPv4 address to listen on (default 127.0.0.1)
  --ready-file F      once listening, atomically write {"pid","tcp_port","rtu_pty"} to F
  --served-log F      append one JSON line per point per answered read request
  --pty-link PATH     create a symlink PATH -> the RTU pty slave (removed on exit)
  --time-scale X      waveforms run X times faster than the wall clock (default 1)
  --seed N            random seed for noise and bin phases (default 1)
  --help              this text

Exit status: 0 on SIGTERM/SIGINT, 2 for a bad command line/scenario/profile, 1 otherwise.
)";

struct CommandLine {
    std::string scenario;
    std::string ready_file;
    gw::sim::ServerOptions server;
    bool help{false};
};

struct UsageError {
    std::string message;
};

/// Write end of the self-pipe; the only state a signal handler may touch.
int g_signal_pipe_write_fd = -1;

extern "C" void on_stop_signal(int /*signo*/) {
    const int saved = errno;
    const char byte = 's';
    [[maybe_unused]] const ssize_t n = ::write(g_signal_pipe_write_fd, &byte, 1);
    errno = saved;
}

template <class T>
T parse_number(std::string_view option, const std::string& text) {
    try {
        std::size_t used = 0;
        T value{};
        if constexpr (std::is_floating_point_v<T>) {
            value = static_cast<T>(std::stod(text, &used));
        } else {
            if (!text.empty() && text[0] == '-') throw std::invalid_argument("negative");
            value = static_cast<T>(std::stoull(text, &used));
        }
        if (used != text.size()) throw std::invalid_argument("trailing characters");
        return value;
    } catch (const std::exception&) {
        throw UsageError{std::string(option) + ": not a valid number: " + text};
    }
}

CommandLine parse_command_line(int argc, char** argv) {
    CommandLine cli;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        std::optional<std::string> inline_value;
        if (const auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
            inline_value = arg.substr(eq + 1);
            arg.resize(eq);
        }
        const auto value = [&]() -> std::string {
            if (inline_value) return *inline_value;
            if (i + 1 >= argc) throw UsageError{arg + ": missing value"};
            return argv[++i];
        };
        if (arg == "--help" || arg == "-h") {
            cli.help = true;
        } else if (arg == "--scenario") {
            cli.scenario = value();
        } else if (arg == "--tcp-port") {
            const auto port = parse_number<unsigned long>(arg, value());
            if (port > 65535) throw UsageError{"--tcp-port: out of range: " + std::to_string(port)};
            cli.server.tcp_port = static_cast<std::uint16_t>(port);
        } else if (arg == "--tcp-host") {
            cli.server.tcp_host = value();
        } else if (arg == "--ready-file") {
            cli.ready_file = value();
        } else if (arg == "--served-log") {
            cli.server.served_log_path = value();
        } else if (arg == "--pty-link") {
            cli.server.pty_link = value();
        } else if (arg == "--time-scale") {
            cli.server.time_scale = parse_number<double>(arg, value());
            if (!(cli.server.time_scale > 0.0) || !std::isfinite(cli.server.time_scale)) {
                throw UsageError{"--time-scale: must be a number > 0"};
            }
        } else if (arg == "--seed") {
            cli.server.seed = parse_number<std::uint64_t>(arg, value());
        } else {
            throw UsageError{"unknown option: " + arg};
        }
    }
    if (!cli.help && cli.scenario.empty()) {
        throw UsageError{"--scenario FILE is required"};
    }
    return cli;
}

/// Writes `text` to `path` atomically: callers polling for the file never see half of it.
void write_file_atomically(const std::string& path, const std::string& text) {
    const std::string temp = path + ".tmp";
    {
        std::ofstream out(temp, std::ios::trunc);
        out << text;
        out.close();
        if (!out) {
            throw std::system_error(errno, std::generic_category(), "write " + temp);
        }
    }
    if (std::rename(temp.c_str(), path.c_str()) != 0) {
        throw std::system_error(errno, std::generic_category(), "rename " + temp);
    }
}

void install_signal_handlers(int write_fd) {
    g_signal_pipe_write_fd = write_fd;
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGTERM, &action, nullptr);
    ::sigaction(SIGINT, &action, nullptr);
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    ::sigaction(SIGPIPE, &ignore, nullptr);  // a client vanishing mid-reply is not fatal
}

}  // namespace

int main(int argc, char** argv) {
    CommandLine cli;
    try {
        cli = parse_command_line(argc, argv);
    } catch (const UsageError& e) {
        std::cerr << "towngw-sim: " << e.message << "\n(try --help)\n";
        return kExitUsage;
    }
    if (cli.help) {
        std::cout << kUsage;
        return kExitOk;
    }

    gw::sim::Scenario scenario;
    try {
        scenario = gw::sim::load_scenario(cli.scenario);
    } catch (const gw::sim::ConfigError& e) {
        std::cerr << "towngw-sim: " << e.what() << "\n";
        return kExitUsage;
    }

    int stop_pipe[2] = {-1, -1};
    if (::pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        std::cerr << "towngw-sim: pipe2: " << std::strerror(errno) << "\n";
        return kExitRuntime;
    }
    install_signal_handlers(stop_pipe[1]);

    int status = kExitOk;
    bool ready_written = false;
    try {
        gw::sim::SlaveServer server(scenario, cli.server);
        server.open();
        if (!cli.server.pty_link.empty() && !server.rtu_pty()) {
            std::cerr << "towngw-sim: note: --pty-link ignored, the scenario has no RTU device\n";
        }
        for (const auto& line : server.describe_listeners()) {
            std::cout << "towngw-sim: " << line << "\n";
        }
        std::cout.flush();
        if (!cli.ready_file.empty()) {
            nlohmann::ordered_json ready;
            ready["pid"] = ::getpid();
            ready["tcp_port"] = server.tcp_port() ? nlohmann::json(*server.tcp_port()) : nullptr;
            ready["rtu_pty"] = server.rtu_pty() ? nlohmann::json(*server.rtu_pty()) : nullptr;
            write_file_atomically(cli.ready_file, ready.dump() + "\n");
            ready_written = true;
        }
        server.run(stop_pipe[0]);
        const auto& s = server.stats();
        std::cerr << "towngw-sim: stopping; requests=" << s.requests
                  << " reply_errors=" << s.reply_errors << " unknown_unit=" << s.unknown_unit
                  << " other_slave=" << s.other_slave << " malformed=" << s.malformed
                  << " clients=" << s.clients_accepted << " rejected=" << s.clients_rejected
                  << " stale_rtu_flushes=" << s.stale_rtu_flushes << "\n";
    } catch (const std::exception& e) {
        std::cerr << "towngw-sim: " << e.what() << "\n";
        status = kExitRuntime;
    }
    if (ready_written) {
        std::remove(cli.ready_file.c_str());
    }
    ::close(stop_pipe[0]);
    ::close(stop_pipe[1]);
    return status;
}
