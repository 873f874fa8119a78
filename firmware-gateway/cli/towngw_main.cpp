// SPDX-License-Identifier: Apache-2.0
// towngw: the operator and technician CLI. It talks to the running towngwd over its control
// socket (never to the buses itself), or watches what the gateway publishes over MQTT.
#include <mqtt/async_client.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config/config_loader.hpp"
#include "drivers/paho_support.hpp"
#include "towngw/version.hpp"

namespace {

using json = nlohmann::json;

constexpr const char* kDefaultSocket = "/run/towngw/control.sock";

constexpr const char* kUsage = R"(usage: towngw COMMAND [OPTIONS]

Commands:
  status   show the running gateway: uptime, broker connection, outbox depth, and each
           sensor's last value and quality
             towngw status [--socket PATH | --config FILE] [--json]
             e.g. towngw status --config /etc/towngw/towngw.json
  watch    print the gateway's MQTT data messages as a live table
             towngw watch --broker tcp://HOST:PORT [--topic FILTER] [--seconds N]
             e.g. towngw watch --broker tcp://127.0.0.1:1883 --topic 'townbrain/v1/#'

Options:
  --socket PATH   control socket of towngwd (default )"
                               "/run/towngw/control.sock"
                               R"()
  --config FILE   take the control socket path from towngwd's configuration
  --json          machine-readable output
  --help          this text;  --version  the version

Exit codes: 0 ok, 1 the daemon answered with an error, 64 bad command line,
69 daemon not reachable, 78 bad configuration file.
)";

int usage_error(const std::string& message) {
    std::cerr << "towngw: " << message << "\n(see towngw --help)\n";
    return EX_USAGE;
}

std::atomic<bool> g_interrupted{false};
void on_signal(int) {
    g_interrupted = true;
}

/// Sends one JSON request over the control socket and returns the response line.
std::optional<json> request(const std::string& socket_path, const json& req, std::string& error) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = std::string("socket: ") + std::strerror(errno);
        return std::nullopt;
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof addr.sun_path) {
        ::close(fd);
        error = "socket path too long: " + socket_path;
        return std::nullopt;
    }
    std::strncpy(addr.sun_path, socket_path.c_str(), sizeof addr.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        error = "cannot reach towngwd at " + socket_path + ": " + std::strerror(errno) +
                (errno == ENOENT || errno == ECONNREFUSED ? " (is towngwd running?)"
                 : errno == EACCES                        ? " (are you in the socket's group?)"
                                                          : "");
        ::close(fd);
        return std::nullopt;
    }
    timeval timeout{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    const std::string line = req.dump() + "\n";
    if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
        error = std::string("send: ") + std::strerror(errno);
        ::close(fd);
        return std::nullopt;
    }
    std::string response;
    char buf[4096];
    while (response.find('\n') == std::string::npos) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            error = n == 0 ? "towngwd closed the connection"
                           : std::string("no answer from towngwd: ") + std::strerror(errno);
            ::close(fd);
            return std::nullopt;
        }
        response.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    auto parsed = json::parse(response.substr(0, response.find('\n')), nullptr, false);
    if (parsed.is_discarded()) {
        error = "towngwd sent something that is not JSON";
        return std::nullopt;
    }
    return parsed;
}

std::string format_duration(std::int64_t seconds) {
    char buf[64];
    const auto d = seconds / 86400, h = seconds / 3600 % 24, m = seconds / 60 % 60,
               s = seconds % 60;
    if (d > 0)
        std::snprintf(buf, sizeof buf, "%lldd %02lldh %02lldm", static_cast<long long>(d),
                      static_cast<long long>(h), static_cast<long long>(m));
    else if (h > 0)
        std::snprintf(buf, sizeof buf, "%lldh %02lldm %02llds", static_cast<long long>(h),
                      static_cast<long long>(m), static_cast<long long>(s));
    else
        std::snprintf(buf, sizeof buf, "%lldm %02llds", static_cast<long long>(m),
                      static_cast<long long>(s));
    return buf;
}

std::string format_bytes(unsigned long long bytes) {
    char buf[32];
    if (bytes >= (1ULL << 20))
        std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / 1048576.0);
    else
        std::snprintf(buf, sizeof buf, "%.0f KiB", static_cast<double>(bytes) / 1024.0);
    return buf;
}

std::string number_text(const json& v) {
    if (!v.is_number()) return "-";
    char buf[32];
    const double d = v.get<double>();
    // Totalisers are large integers: show them whole, not as 1.25e+05.
    std::snprintf(buf, sizeof buf, std::fabs(d) >= 1e4 ? "%.1f" : "%.4g", d);
    return buf;
}

/// Fixed decimals (percentages, milliseconds).
std::string number_text(const json& v, int decimals) {
    if (!v.is_number()) return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v.get<double>());
    return buf;
}

void print_status(const json& s) {
    std::printf("towngwd %s   gateway %s/%s   up %s\n", s.value("version", "?").c_str(),
                s.value("town_id", "?").c_str(), s.value("gateway_id", "?").c_str(),
                format_duration(s.value("uptime_s", 0LL)).c_str());
    const json& mqtt = s["mqtt"];
    std::printf("broker   %s   %s   published %llu, connection losses %llu%s%s\n",
                mqtt.value("broker", "?").c_str(),
                mqtt.value("connected", false) ? "CONNECTED" : "DISCONNECTED",
                mqtt.value("published", 0ULL), mqtt.value("connection_losses", 0ULL),
                mqtt.value("last_error", "").empty() ? "" : "   last error: ",
                mqtt.value("last_error", "").c_str());
    const json& outbox = s["outbox"];
    std::printf("outbox   %llu message(s) waiting, oldest %s old   last seq %llu\n",
                outbox.value("depth", 0ULL),
                format_duration(outbox.value("oldest_age_s", 0LL)).c_str(),
                outbox.value("last_seq", 0ULL));
    std::printf("storage  %s of %s used   evicted %llu, rejected %llu, write failures %llu\n",
                format_bytes(outbox.value("bytes_used", 0ULL)).c_str(),
                format_bytes(outbox.value("max_bytes", 0ULL)).c_str(),
                outbox.value("evicted_total", 0ULL), outbox.value("rejected_total", 0ULL),
                outbox.value("write_failures", 0ULL));
    const json& clock = s.contains("clock") ? s["clock"] : json::object();
    std::printf("clock    %s\n", clock.value("trusted", false) ? "synchronised"
                                 : clock.value("holding", false)
                                     ? "NOT synchronised: holding readings"
                                     : "NOT synchronised: readings flagged");
    if (s.contains("alarm_messages") && !s["alarm_messages"].empty()) {
        for (const auto& [name, message] : s["alarm_messages"].items())
            std::printf("ALARM    %s: %s\n", name.c_str(), message.get<std::string>().c_str());
    }
    std::printf("\n");
    std::printf("%-22s %12s  %-6s %-16s %-20s  %s\n", "SENSOR", "LAST", "UNIT", "QUALITY",
                "UPDATED (UTC)", "WHY");
    for (const auto& sensor : s["sensors"]) {
        std::printf("%-22s %12s  %-6s %-16s %-20s  %s\n", sensor.value("id", "?").c_str(),
                    number_text(sensor["last"]).c_str(), sensor.value("unit", "").c_str(),
                    sensor.value("quality", "?").c_str(),
                    sensor["updated_at"].is_string()
                        ? sensor["updated_at"].get<std::string>().c_str()
                        : "-",
                    sensor.value("error", "").c_str());
    }
    if (s.contains("devices")) {
        std::printf("\n%-12s %-34s %5s %8s %9s %8s %6s  %s\n", "DEVICE", "ENDPOINT", "UNIT",
                    "POLLS", "FAILURES", "RTT ms", "BUS %", "STATE");
        for (const auto& d : s["devices"]) {
            const bool online = d.value("online", false);
            const std::string unit =
                d.contains("unit_id") ? std::to_string(d.value("unit_id", 0)) : "-";
            const std::string rtt =
                d.contains("last_round_trip_ms") ? number_text(d["last_round_trip_ms"], 1) : "-";
            const std::string bus =
                d.contains("bus_time_pct") ? number_text(d["bus_time_pct"], 1) : "-";
            std::string state = online ? "online" : "OFFLINE";
            if (d.value("backed_off", false)) state = "BACKED OFF";
            if (d.value("stale", false)) state = "STALE";
            const std::string error = d.value("last_error", "");
            std::printf("%-12s %-34s %5s %8llu %9llu %8s %6s  %s%s%s\n", d.value("id", "?").c_str(),
                        d.value("endpoint", "-").c_str(), unit.c_str(), d.value("polls", 0ULL),
                        d.value("failures", 0ULL), rtt.c_str(), bus.c_str(), state.c_str(),
                        online || error.empty() ? "" : ": ", online ? "" : error.c_str());
        }
    }
    if (s.contains("buses") && !s["buses"].empty()) {
        std::printf("\n%-40s %8s %13s  %s\n", "BUS", "BUSY %", "BUSY % (ALL)", "DEVICES");
        for (const auto& b : s["buses"]) {
            std::string ids;
            for (const auto& id : b["devices"])
                ids += (ids.empty() ? "" : ",") + id.get<std::string>();
            std::printf("%-40s %8s %13s  %s\n", b.value("endpoint", "?").c_str(),
                        number_text(b["utilisation_pct"], 1).c_str(),
                        number_text(b["utilisation_pct_total"], 1).c_str(), ids.c_str());
        }
    }
    // --- LoRaWAN devices (ChirpStack): uplink counters, docs/drivers.md §8.
    bool lorawan_header = false;
    for (const auto& d : s.value("devices", json::array())) {
        if (!d.contains("dev_eui")) continue;
        if (!lorawan_header) {
            std::printf("\n%-12s %-16s %7s %5s %6s %7s %6s %6s %8s  %s\n", "LORAWAN", "DEVEUI",
                        "UPLINKS", "DUPS", "REPLAY", "DECODE", "RSSI", "SNR", "AGE s", "STATE");
            lorawan_header = true;
        }
        std::printf("%-12s %-16s %7llu %5llu %6llu %7llu %6s %6s %8s  %s\n",
                    d.value("id", "?").c_str(), d.value("dev_eui", "?").c_str(),
                    d.value("uplinks", 0ULL), d.value("duplicates", 0ULL), d.value("replays", 0ULL),
                    d.value("decode_errors", 0ULL),
                    number_text(d.value("last_rssi", json())).c_str(),
                    number_text(d.value("last_snr", json()), 1).c_str(),
                    number_text(d.value("last_uplink_age_s", json())).c_str(),
                    d.value("stale", false) ? "STALE" : "ok");
    }
}

int cmd_status(const std::vector<std::string>& args) {
    std::string socket_path;
    std::string config_path;
    bool as_json = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--json")
            as_json = true;
        else if (args[i] == "--socket" && i + 1 < args.size())
            socket_path = args[++i];
        else if (args[i] == "--config" && i + 1 < args.size())
            config_path = args[++i];
        else if (args[i] == "--help") {
            std::cout << kUsage;
            return 0;
        } else
            return usage_error("status: unexpected argument \"" + args[i] + "\"");
    }
    if (!socket_path.empty() && !config_path.empty())
        return usage_error("status: give --socket or --config, not both");
    if (!config_path.empty()) {
        auto loaded = gw::load_config(config_path);
        if (auto* errors = std::get_if<std::vector<gw::ConfigError>>(&loaded)) {
            for (const auto& e : *errors) std::cerr << e.to_string() << "\n";
            return EX_CONFIG;
        }
        socket_path = std::get<gw::Config>(loaded).control.socket;
    }
    if (socket_path.empty()) socket_path = kDefaultSocket;

    std::string error;
    auto response = request(socket_path, {{"cmd", "status"}}, error);
    if (!response) {
        std::cerr << "towngw: " << error << "\n";
        return EX_UNAVAILABLE;
    }
    if (!response->value("ok", false)) {
        std::cerr << "towngw: towngwd says: " << response->value("error", "unknown error") << "\n";
        return 1;
    }
    if (as_json)
        std::cout << (*response)["status"].dump(2) << "\n";
    else
        print_status((*response)["status"]);
    return 0;
}

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
                number_text(msg["mean"]).c_str(), number_text(msg["min"]).c_str(),
                number_text(msg["max"]).c_str(), msg.value("unit", "").c_str(), quality.c_str(),
                msg.value("seq", 0ULL));
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
            try {
                seconds = std::stoi(args[++i]);
            } catch (const std::exception&) {
                seconds = -1;
            }
            if (seconds <= 0) return usage_error("watch: --seconds needs a positive number");
        } else if (args[i] == "--help") {
            std::cout << kUsage;
            return 0;
        } else
            return usage_error("watch: unexpected argument \"" + args[i] + "\"");
    }
    if (broker.empty()) return usage_error("watch: --broker tcp://HOST:PORT is required");

    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
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
        return EX_UNAVAILABLE;
    }
    if (!client.is_connected()) {
        std::cerr << "towngw: cannot connect to " << broker << " within 10 s\n";
        return EX_UNAVAILABLE;
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
    while (!g_interrupted && (seconds == 0 || std::chrono::steady_clock::now() < deadline))
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    try {
        client.disconnect()->wait_for(std::chrono::seconds(2));
    } catch (const mqtt::exception&) {
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty()) return usage_error("a command is required");
    const std::string command = args.front();
    args.erase(args.begin());
    if (command == "--help" || command == "-h" || command == "help") {
        std::cout << kUsage;
        return 0;
    }
    if (command == "--version") {
        std::cout << "towngw " << gw::kVersion << "\n";
        return 0;
    }
    if (command == "status") return cmd_status(args);
    if (command == "watch") return cmd_watch(args);
    return usage_error("unknown command \"" + command + "\"");
}
