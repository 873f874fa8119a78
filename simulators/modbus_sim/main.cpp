// SPDX-License-Identifier: Apache-2.0
// towngw-sim: THIS IS A SIMULATOR, not a driver and not field software.
//
// What it simulates: the field devices of a township monitoring site, as described by the
// gateway's own device profiles (config/devices/*.json): RS-485 probes on one Modbus RTU line
// (served on a pseudo-terminal, optionally also as RTU-over-TCP, with faithful wire timing),
// a TUF-2000M-style sewage flow meter and an ultrasonic waste-bin level sensor behind an
// RS-485-to-Ethernet gateway (Modbus TCP, one port, selected by unit id), trigger-then-read
// probes (Aqualabo/PONSEL style), and LoRaWAN bin sensors (Milesight EM310-UDL) as a
// ChirpStack v4 MQTT integration publishes them. Values move over time (noise, day/night
// cycles, a flow totaliser, bins that fill and get emptied) and faults can be injected per
// device: timeouts, bad CRCs, exceptions, slow or stuck devices, dropped connections,
// duplicated, replayed, silent, tilted or garbled uplinks.
//
// What it is for: an independent counterpart (libmodbus builds every Modbus reply, and the
// encoders are written separately from the gateway's decoders) to run the gateway against in
// integration tests and demos. --served-log records every value actually delivered, so tests
// can compare end to end; --control-socket lets a test break and mend a device on cue.
//
// Usage: see kUsage below and simulators/README.md.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
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
#include <utility>
#include <vector>

#include "modbus_sim/scenario.hpp"
#include "modbus_sim/slave_server.hpp"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;  ///< bad command line, scenario or profile

constexpr std::string_view kUsage = R"(Usage: towngw-sim --scenario FILE [options]

Modbus / LoRaWAN sensor SIMULATOR for towngw: serves the devices of a scenario file over Modbus
TCP (one port, device chosen by unit id), Modbus RTU (a pseudo-terminal, optionally also RTU
over TCP) and, for "lorawan" devices, ChirpStack v4 uplink events on an MQTT broker.

Options:
  --scenario FILE        scenario JSON (// comments allowed); profiles resolve relative to it
  --tcp-port N           Modbus TCP port; 0 = a free port (default 0)
  --tcp-host ADDR        IPv4 address for the TCP listeners (default 127.0.0.1)
  --rtu-tcp-port N       also serve the RTU line as raw RTU frames over TCP; 0 = a free port
  --pty-link PATH        create a symlink PATH -> the RTU pty slave (removed on exit)
  --rtu-baud N           RTU line baud rate (overrides the scenario's rtu_line.baud)
  --turnaround-ms X      slave turnaround in ms (overrides rtu_line.turnaround_ms)
  --no-wire-delay        send RTU replies at once instead of after their wire time
  --fault DEV:KIND[:k=v,...]
                         inject a fault from the start (repeatable); kinds: timeout,
                         bad_crc, exception (code=N), slow (delay_ms=X), stuck, disconnect,
                         duplicate, replay (back=N), silent, tilt, garbage; any kind also
                         takes probability=P
  --control-socket PATH  Unix socket for run-time faults and stats (one JSON object per line)
  --stats-file PATH      write stats JSON to PATH every second and on exit (atomically)
  --broker URI           MQTT broker for LoRaWAN uplinks, e.g. tcp://127.0.0.1:1883
  --lorawan              serve only the scenario's "lorawan" devices (no Modbus listeners)
  --ready-file F         once everything is up, atomically write
                         {"pid","tcp_port","rtu_pty","rtu_tcp_port","control_socket","broker"}
  --served-log F         append one JSON line per value actually delivered
  --time-scale X         waveforms run X times faster than the wall clock (default 1)
  --seed N               random seed for noise, bin phases and fault probabilities (default 1)
  --help                 this text

Exit status: 0 on SIGTERM/SIGINT, 2 for a bad command line/scenario/profile, 1 otherwise.
)";

struct CommandLine {
    std::string scenario;
    std::string ready_file;
    gw::sim::ServerOptions server;
    std::vector<std::pair<std::string, gw::sim::FaultSpec>> faults;  ///< argument, parsed
    std::optional<int> rtu_baud;
    std::optional<double> turnaround_ms;
    bool no_wire_delay{false};
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
        } else if (arg == "--rtu-tcp-port") {
            const auto port = parse_number<unsigned long>(arg, value());
            if (port > 65535) {
                throw UsageError{"--rtu-tcp-port: out of range: " + std::to_string(port)};
            }
            cli.server.rtu_tcp_port = static_cast<std::uint16_t>(port);
        } else if (arg == "--rtu-baud") {
            const auto baud = parse_number<unsigned long>(arg, value());
            if (baud < 300 || baud > 4'000'000) {
                throw UsageError{"--rtu-baud: must be in [300, 4000000], got " +
                                 std::to_string(baud)};
            }
            cli.rtu_baud = static_cast<int>(baud);
        } else if (arg == "--turnaround-ms") {
            const double ms = parse_number<double>(arg, value());
            if (!(ms >= 0.0) || !std::isfinite(ms)) {
                throw UsageError{"--turnaround-ms: must be a number >= 0"};
            }
            cli.turnaround_ms = ms;
        } else if (arg == "--no-wire-delay") {
            if (inline_value) throw UsageError{"--no-wire-delay takes no value"};
            cli.no_wire_delay = true;
        } else if (arg == "--fault") {
            const std::string text = value();
            try {
                cli.faults.emplace_back(text, gw::sim::parse_fault_argument(text));
            } catch (const std::invalid_argument& e) {
                throw UsageError{"--fault " + text + ": " + e.what()};
            }
        } else if (arg == "--control-socket") {
            cli.server.control_socket_path = value();
        } else if (arg == "--stats-file") {
            cli.server.stats_file_path = value();
        } else if (arg == "--broker") {
            cli.server.broker_uri = value();
            const auto& uri = cli.server.broker_uri;
            const bool known_scheme = uri.rfind("tcp://", 0) == 0 || uri.rfind("mqtt://", 0) == 0 ||
                                      uri.rfind("ssl://", 0) == 0 || uri.rfind("mqtts://", 0) == 0;
            if (!known_scheme || uri.find(':', uri.find("://") + 3) == std::string::npos) {
                throw UsageError{"--broker: expected tcp://HOST:PORT (or mqtt://, ssl://), got " +
                                 uri};
            }
        } else if (arg == "--lorawan") {
            if (inline_value) throw UsageError{"--lorawan takes no value"};
            cli.server.lorawan_only = true;
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

/// Command-line settings that depend on the scenario: line overrides, fault targets, LoRaWAN.
void check_against_scenario(CommandLine& cli, gw::sim::Scenario& scenario) {
    if (cli.rtu_baud) scenario.rtu_line.baud = *cli.rtu_baud;
    if (cli.turnaround_ms) scenario.rtu_line.turnaround_ms = *cli.turnaround_ms;
    if (cli.no_wire_delay) scenario.rtu_line.wire_delay = false;
    for (const auto& [text, spec] : cli.faults) {
        if (const std::string problem = gw::sim::fault_target_problem(scenario, spec);
            !problem.empty()) {
            throw UsageError{"--fault " + text + ": " + problem};
        }
    }
    const bool has_lorawan = !scenario.lorawan.devices.empty();
    if (cli.server.lorawan_only && !has_lorawan) {
        throw UsageError{"--lorawan: " + cli.scenario + " has no \"lorawan\" devices"};
    }
    if (has_lorawan && cli.server.broker_uri.empty()) {
        throw UsageError{cli.scenario +
                         ": /lorawan: the scenario has LoRaWAN devices, so --broker URI is "
                         "required (e.g. --broker tcp://127.0.0.1:1883)"};
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
        check_against_scenario(cli, scenario);
    } catch (const gw::sim::ConfigError& e) {
        std::cerr << "towngw-sim: " << e.what() << "\n";
        return kExitUsage;
    } catch (const UsageError& e) {
        std::cerr << "towngw-sim: " << e.message << "\n";
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
        for (const auto& [text, spec] : cli.faults) {
            server.add_fault(spec);
        }
        server.open();
        if (!cli.server.pty_link.empty() && !server.rtu_pty()) {
            std::cerr << "towngw-sim: note: --pty-link ignored, the scenario has no RTU device\n";
        }
        if (cli.server.rtu_tcp_port && !server.rtu_tcp_port()) {
            std::cerr << "towngw-sim: note: --rtu-tcp-port ignored, the scenario has no RTU "
                         "device\n";
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
            ready["rtu_tcp_port"] =
                server.rtu_tcp_port() ? nlohmann::json(*server.rtu_tcp_port()) : nullptr;
            ready["control_socket"] = cli.server.control_socket_path.empty()
                                          ? nlohmann::json(nullptr)
                                          : nlohmann::json(cli.server.control_socket_path);
            ready["broker"] = scenario.lorawan.devices.empty()
                                  ? nlohmann::json(nullptr)
                                  : nlohmann::json(cli.server.broker_uri);
            write_file_atomically(cli.ready_file, ready.dump() + "\n");
            ready_written = true;
        }
        server.run(stop_pipe[0]);
        server.shut_down();
        const auto& s = server.stats();
        std::cerr << "towngw-sim: stopping; requests=" << s.requests
                  << " reply_errors=" << s.reply_errors << " unknown_unit=" << s.unknown_unit
                  << " other_slave=" << s.other_slave << " malformed=" << s.malformed
                  << " clients=" << s.clients_accepted << " rejected=" << s.clients_rejected
                  << " stale_rtu_flushes=" << s.stale_rtu_flushes
                  << " disconnects=" << s.disconnects
                  << " rtu_busy_ms=" << server.rtu_line_stats().busy_ms << "\n";
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
