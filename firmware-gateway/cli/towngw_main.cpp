// SPDX-License-Identifier: Apache-2.0
// towngw: the operator and technician CLI. It talks to the running towngwd over its control
// socket (never to the buses itself; docs/control-protocol.md), or watches what the gateway
// publishes over MQTT. The commands live in cli/*.cpp; this file holds main(), the top-level
// help and `watch`.
#include <mqtt/async_client.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cli_common.hpp"
#include "cli_format.hpp"
#include "commands.hpp"
#include "drivers/paho_support.hpp"
#include "towngw/version.hpp"

namespace gw {
namespace {

using json = nlohmann::json;

constexpr const char* kUsage =
    R"(usage: towngw COMMAND [OPTIONS]     (towngw COMMAND --help for details)

Commands:
  status       the gateway: broker, outbox, devices, each sensor's last value
                 e.g. towngw status
  sensors      every sensor: last value, unit, quality, calibration due date
                 e.g. towngw sensors
  read         live readings of one sensor and whether they are stable
                 e.g. towngw read water1.ph --samples 20 --raw
  calibrate    calibrate a sensor: a wizard on a terminal, or unattended
                 e.g. towngw calibrate water1.ph
                 e.g. towngw calibrate water1.ph --buffer 6.86 --temp 18.5 \
                        --buffer 4.00 --temp 18.7 --commit
  calibration  show, history, export or rollback of calibration records
                 e.g. towngw calibration history water1.ph
  maintenance  put a sensor under maintenance (HJ 212 flag M), end it, list
                 e.g. towngw maintenance start water1.ph --minutes 30
  watch        print the gateway's MQTT data messages as a live table
                 e.g. towngw watch --broker tcp://127.0.0.1:1883
  hj212        decode, encode, check HJ 212 frames; listen as a platform
                 e.g. towngw hj212 decode '##0101QN=...&&1C80'

Options of every command but watch and hj212:
  --socket PATH   control socket of towngwd (default /run/towngw/control.sock)
  --config FILE   take the control socket path from towngwd's configuration
  --json          machine-readable output (on stdout; messages stay on stderr)
  --help          help of the command;  towngw --version  the version

Exit codes:
  0   ok
  1   towngwd refused (the reason is printed), an aborted calibration, or an
      invalid HJ 212 frame (hj212 decode/check)
  2   calibration rejected: it fails its acceptance limits (each reason printed)
  64  bad command line (the bad argument is named)
  69  towngwd not reachable (is it running? are you in the socket's group?)
  78  bad configuration file (--config)
  130 interrupted (Ctrl-C)
)";

constexpr const char* kWatchUsage =
    R"(usage: towngw watch --broker tcp://HOST:PORT [--topic FILTER] [--seconds N]

Prints the gateway's MQTT data messages as a live table (quality* = historical,
sent from the backlog), until Ctrl-C or for N seconds.

  e.g. towngw watch --broker tcp://127.0.0.1:1883 --topic 'townbrain/v1/#'
)";

/// Prints each data message as a table row; status messages as a line.
void print_message(const std::string& topic, const std::string& payload, bool retained) {
    const auto msg = json::parse(payload, nullptr, false);
    if (msg.is_discarded() || !msg.is_object()) {
        std::printf("%-40s (not JSON, %zu bytes)\n", topic.c_str(), payload.size());
        return;
    }
    if (msg.contains("state")) {
        std::printf("-- %s %s is %s%s%s\n", msg.value("town_id", "?").c_str(),
                    msg.value("gateway_id", "?").c_str(), msg.value("state", "?").c_str(),
                    msg.contains("reason") ? " (" : "",
                    msg.contains("reason") ? (msg.value("reason", "") + ")").c_str() : "");
        (void)retained;
        return;
    }
    if (msg.contains("type")) {
        const std::string type = msg.value("type", "");
        const std::string detail =
            type == "alarm" ? msg.value("alarm", "") + " " + msg.value("state", "") + ": " +
                                  msg.value("message", "")
            : type == "eviction"
                ? std::to_string(msg.value("evicted", 0ULL)) + " message(s) evicted, seq " +
                      std::to_string(msg.value("first_seq", 0ULL)) + ".." +
                      std::to_string(msg.value("last_seq", 0ULL))
                : msg.dump();
        std::printf("-- event %s: %s\n", type.c_str(), detail.c_str());
        return;
    }
    if (!msg.contains("window_start")) return;  // health and other snapshots
    auto hhmmss = [](const std::string& rfc3339) {
        return rfc3339.size() >= 19 ? rfc3339.substr(11, 8) : rfc3339;
    };
    char count[24];
    std::snprintf(count, sizeof count, "%d/%d", msg.value("count", 0), msg.value("expected", 0));
    const std::string quality =
        msg.value("quality", "?") + (msg.value("historical", false) ? "*" : "");
    std::printf("%-20s %s-%s %7s %10s %10s %10s %-6s %-10s %6llu\n",
                msg.value("sensor", "?").c_str(), hhmmss(msg.value("window_start", "")).c_str(),
                hhmmss(msg.value("window_end", "")).c_str(), count,
                cli::number_text(msg.value("mean", json())).c_str(),
                cli::number_text(msg.value("min", json())).c_str(),
                cli::number_text(msg.value("max", json())).c_str(), msg.value("unit", "").c_str(),
                quality.c_str(), msg.value("seq", 0ULL));
}

int cmd_watch(const std::vector<std::string>& args) {
    std::string broker;
    std::string topic = "townbrain/v1/#";
    int seconds = 0;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--broker" && i + 1 < args.size())
            broker = args[++i];
        else if (args[i] == "--topic" && i + 1 < args.size())
            topic = args[++i];
        else if (args[i] == "--seconds" && i + 1 < args.size()) {
            seconds =
                static_cast<int>(cli::require_integer(args[++i], "--seconds", 1, 365L * 24 * 3600));
        } else if (args[i] == "--help") {
            std::cout << kWatchUsage;
            return 0;
        } else
            throw cli::UsageError("watch: unexpected argument \"" + args[i] + "\"");
    }
    if (broker.empty()) throw cli::UsageError("watch: --broker tcp://HOST:PORT is required");

    cli::install_interrupt_handler();
    std::mutex print_mutex;
    gw::paho::init_library_once();
    mqtt::async_client client(broker, "towngw-watch-" + std::to_string(::getpid()),
                              static_cast<mqtt::iclient_persistence*>(nullptr));
    client.set_message_callback([&](mqtt::const_message_ptr m) {
        std::lock_guard lock(print_mutex);
        print_message(m->get_topic(), m->to_string(), m->is_retained());
        std::fflush(stdout);
    });
    auto options = mqtt::connect_options_builder()
                       .clean_session(true)
                       .keep_alive_interval(std::chrono::seconds(30))
                       .automatic_reconnect(std::chrono::seconds(1), std::chrono::seconds(10))
                       .finalize();
    client.set_connected_handler([&](const std::string&) {
        try {
            client.subscribe(topic, 1);
        } catch (const mqtt::exception& e) {
            std::cerr << "towngw: subscribe failed: " << e.what() << "\n";
        }
    });
    try {
        client.connect(options)->wait_for(std::chrono::seconds(10));
    } catch (const mqtt::exception& e) {
        std::cerr << "towngw: cannot connect to " << broker << ": " << e.what() << "\n";
        return cli::kExitUnavailable;
    }
    if (!client.is_connected()) {
        std::cerr << "towngw: cannot connect to " << broker << " within 10 s\n";
        return cli::kExitUnavailable;
    }
    {
        std::lock_guard lock(print_mutex);
        std::printf("watching %s on %s%s   (quality* = historical, sent from the backlog)\n",
                    topic.c_str(), broker.c_str(), seconds > 0 ? "" : " (Ctrl-C to stop)");
        std::printf("%-20s %-17s %7s %10s %10s %10s %-6s %-10s %6s\n", "SENSOR", "WINDOW (UTC)",
                    "COUNT", "MEAN", "MIN", "MAX", "UNIT", "QUALITY", "SEQ");
        std::fflush(stdout);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (!cli::interrupted() && (seconds == 0 || std::chrono::steady_clock::now() < deadline))
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    try {
        client.disconnect()->wait_for(std::chrono::seconds(2));
    } catch (const mqtt::exception&) {
    }
    return 0;
}

}  // namespace
}  // namespace gw

int main(int argc, char** argv) {
    using namespace gw;
    std::vector<std::string> args(argv + 1, argv + argc);
    // Global options may come before the command: towngw --json sensors.
    std::string command;
    std::vector<std::string> rest;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (!command.empty()) {
            rest.push_back(args[i]);
        } else if ((args[i] == "--socket" || args[i] == "--config") && i + 1 < args.size()) {
            rest.push_back(args[i]);
            rest.push_back(args[++i]);
        } else if (args[i] == "--json") {
            rest.push_back(args[i]);
        } else {
            command = args[i];
        }
    }
    if (command == "--help" || command == "-h" || command == "help") {
        std::cout << kUsage;
        return cli::kExitOk;
    }
    if (command == "--version") {
        std::cout << "towngw " << gw::kVersion << "\n";
        return cli::kExitOk;
    }
    try {
        if (command.empty()) throw cli::UsageError("a command is required");
        if (command == "status") return cli::cmd_status(rest);
        if (command == "sensors") return cli::cmd_sensors(rest);
        if (command == "read") return cli::cmd_read(rest);
        if (command == "calibrate") return cli::cmd_calibrate(rest);
        if (command == "calibration") return cli::cmd_calibration(rest);
        if (command == "maintenance") return cli::cmd_maintenance(rest);
        if (command == "watch") return cmd_watch(rest);
        if (command == "hj212") return cli::cmd_hj212(rest);
        throw cli::UsageError("unknown command \"" + command + "\"");
    } catch (const cli::UsageError& e) {
        const bool known = command == "status" || command == "sensors" || command == "read" ||
                           command == "calibrate" || command == "calibration" ||
                           command == "maintenance" || command == "watch" || command == "hj212";
        std::cerr << "towngw: " << e.what() << "\n(see towngw " << (known ? command + " " : "")
                  << "--help)\n";
        return cli::kExitUsage;
    } catch (const nlohmann::json::exception& e) {
        std::cerr << "towngw: unexpected answer from towngwd: " << e.what() << "\n";
        return cli::kExitRefused;
    } catch (const std::exception& e) {
        std::cerr << "towngw: " << e.what() << "\n";
        return cli::kExitRefused;
    }
}
