// SPDX-License-Identifier: Apache-2.0
// towngw status, sensors and read.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include "cli_args.hpp"
#include "cli_common.hpp"
#include "cli_format.hpp"
#include "commands.hpp"
#include "control_client.hpp"

namespace gw::cli {

const char* const kStatusUsage = R"(usage: towngw status [--socket PATH | --config FILE] [--json]

The running gateway: uptime, broker connection, outbox depth, and each sensor's
last value and quality.

  e.g. towngw status
       towngw status --config /etc/towngw/towngw.json --json
)";

const char* const kSensorsUsage = R"(usage: towngw sensors [--socket PATH | --config FILE] [--json]

Every sensor with its device, last value, unit, quality and calibration:
"v3 valid until 2026-12-20", "factory" (never calibrated in the field),
"v3 EXPIRED since 2026-12-20", or CALIBRATING while a session is open.

  e.g. towngw sensors
)";

const char* const kReadUsage =
    R"(usage: towngw read SENSOR [--samples N] [--raw] [--follow] [--json]

Live readings of one sensor, each sample once, then whether the reading is
stable: its drift per minute against the sensor's limit (0.05 pH/min for pH).

  --samples N, -n N  stop after N samples (1-120, default 10)
  --raw              also the measured value, before the field calibration
  --follow, -f       keep reading until Ctrl-C
  --json             one JSON document at the end: the last answer of towngwd
                     with every sample collected
  --socket PATH | --config FILE
                     which towngwd (default /run/towngw/control.sock)

Exit codes: 0 ok, 1 refused (e.g. unknown sensor, no new sample for 30 s),
64 bad command line, 69 towngwd not reachable, 130 Ctrl-C (without --follow).

  e.g. towngw read water1.ph --samples 30 --raw
)";

namespace {

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
    if (bytes >= (1ULL << 30))
        std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / 1073741824.0);
    else if (bytes >= (1ULL << 20))
        std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / 1048576.0);
    else
        std::snprintf(buf, sizeof buf, "%.0f KiB", static_cast<double>(bytes) / 1024.0);
    return buf;
}

void print_status(const json& s) {
    std::printf("towngwd %s   gateway %s/%s   up %s\n", s.value("version", "?").c_str(),
                s.value("town_id", "?").c_str(), s.value("gateway_id", "?").c_str(),
                format_duration(s.value("uptime_s", 0LL)).c_str());
    const json& mqtt = s.contains("mqtt") ? s["mqtt"] : json::object();
    std::printf("broker   %s   %s   published %llu, connection losses %llu%s%s\n",
                mqtt.value("broker", "?").c_str(),
                mqtt.value("connected", false) ? "CONNECTED" : "DISCONNECTED",
                mqtt.value("published", 0ULL), mqtt.value("connection_losses", 0ULL),
                mqtt.value("last_error", "").empty() ? "" : "   last error: ",
                mqtt.value("last_error", "").c_str());
    const json& outbox = s.contains("outbox") ? s["outbox"] : json::object();
    std::printf("outbox   %llu message(s) waiting, oldest %s old   last seq %llu\n",
                outbox.value("depth", 0ULL),
                format_duration(outbox.value("oldest_age_s", 0LL)).c_str(),
                outbox.value("last_seq", 0ULL));
    std::printf("storage  %s of %s used   evicted %llu, rejected %llu, write failures %llu\n",
                format_bytes(outbox.value("bytes_used", 0ULL)).c_str(),
                format_bytes(outbox.value("max_bytes", 0ULL)).c_str(),
                outbox.value("evicted_total", 0ULL), outbox.value("rejected_total", 0ULL),
                outbox.value("write_failures", 0ULL));
    const json& process = s.contains("process") ? s["process"] : json::object();
    const json& disk = s.contains("disk") ? s["disk"] : json::object();
    if (process.contains("rss_kib"))
        std::printf("process  cpu %.1f %%   memory %s (peak %s)   %u threads\n",
                    process.value("cpu_pct", 0.0),
                    format_bytes(process.value("rss_kib", 0ULL) * 1024).c_str(),
                    format_bytes(process.value("rss_peak_kib", 0ULL) * 1024).c_str(),
                    process.value("threads", 0U));
    if (disk.contains("total_bytes"))
        std::printf("disk     %s free of %s (%.1f %%) on %s\n",
                    format_bytes(disk.value("available_bytes", 0ULL)).c_str(),
                    format_bytes(disk.value("total_bytes", 0ULL)).c_str(),
                    disk.value("available_pct", 0.0), disk.value("path", "?").c_str());
    const json& clock = s.contains("clock") ? s["clock"] : json::object();
    std::printf("clock    %s\n", clock.value("trusted", false) ? "synchronised"
                                 : clock.value("holding", false)
                                     ? "NOT synchronised: holding readings"
                                     : "NOT synchronised: readings flagged");
    if (s.contains("alarm_messages") && !s["alarm_messages"].empty()) {
        for (const auto& [name, message] : s["alarm_messages"].items())
            std::printf(
                "ALARM    %s: %s\n", name.c_str(),
                message.is_string() ? message.get<std::string>().c_str() : message.dump().c_str());
    }
    std::printf("\n");
    std::printf("%-22s %12s  %-6s %-16s %-20s  %s\n", "SENSOR", "LAST", "UNIT", "QUALITY",
                "UPDATED (UTC)", "WHY");
    for (const auto& sensor : s.value("sensors", json::array())) {
        std::string why = sensor.value("error", "");
        if (sensor.contains("maintenance") && sensor["maintenance"].is_object()) {
            const json& m = sensor["maintenance"];
            why = "MAINTENANCE until " + m.value("until", "?") + " (" + m.value("technician", "?") +
                  ")" + (why.empty() ? "" : "; " + why);
        }
        std::printf("%-22s %12s  %-6s %-16s %-20s  %s\n", sensor.value("id", "?").c_str(),
                    number_text(sensor.value("last", json())).c_str(),
                    sensor.value("unit", "").c_str(), sensor.value("quality", "?").c_str(),
                    sensor.value("updated_at", json()).is_string()
                        ? sensor["updated_at"].get<std::string>().c_str()
                        : "-",
                    why.c_str());
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
    const json& hj212 = s.contains("hj212") ? s["hj212"] : json::object();
    if (!hj212.value("platforms", json::array()).empty()) {
        std::printf("\nHJ 212   %llu frame(s) waiting, %llu kept as history\n",
                    hj212.value("pending", 0ULL), hj212.value("history", 0ULL));
        for (const auto& p : hj212["platforms"]) {
            const std::string error = p.value("last_error", "");
            std::printf("%-12s %-34s %-12s delivered %llu, resent %llu%s%s\n",
                        p.value("name", "?").c_str(), p.value("server", "?").c_str(),
                        p.value("connected", false) ? "CONNECTED" : "DISCONNECTED",
                        p.value("frames_delivered", 0ULL), p.value("frames_resent", 0ULL),
                        error.empty() ? "" : "   last error: ", error.c_str());
        }
    }
    if (s.contains("buses") && !s["buses"].empty()) {
        std::printf("\n%-40s %8s %13s  %s\n", "BUS", "BUSY %", "BUSY % (ALL)", "DEVICES");
        for (const auto& b : s["buses"]) {
            std::string ids;
            for (const auto& id : b.value("devices", json::array()))
                ids += (ids.empty() ? "" : ",") + id.get<std::string>();
            std::printf("%-40s %8s %13s  %s\n", b.value("endpoint", "?").c_str(),
                        number_text(b.value("utilisation_pct", json()), 1).c_str(),
                        number_text(b.value("utilisation_pct_total", json()), 1).c_str(),
                        ids.c_str());
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

}  // namespace

int cmd_status(const std::vector<std::string>& args) {
    const CommonOptions options = parse_common_only("status", args);
    if (options.help) {
        std::cout << kStatusUsage;
        return kExitOk;
    }
    json response;
    if (const int rc = ask_daemon(options, {{"cmd", "status"}}, response); rc != kExitOk) return rc;
    if (options.json)
        std::cout << response["status"].dump(2) << "\n";
    else
        print_status(response["status"]);
    return kExitOk;
}

int cmd_sensors(const std::vector<std::string>& args) {
    const CommonOptions options = parse_common_only("sensors", args);
    if (options.help) {
        std::cout << kSensorsUsage;
        return kExitOk;
    }
    json response;
    if (const int rc = ask_daemon(options, {{"cmd", "sensors"}}, response); rc != kExitOk)
        return rc;
    if (options.json) {
        std::cout << without_ok(std::move(response)).dump(2) << "\n";
        return kExitOk;
    }
    const json& sensors = response.contains("sensors") ? response["sensors"] : json::array();
    if (!sensors.is_array() || sensors.empty()) {
        std::cout << "no sensors configured\n";
        return kExitOk;
    }
    for (const auto& line : sensors_table(sensors)) std::cout << line << "\n";
    return kExitOk;
}

int cmd_read(const std::vector<std::string>& args) {
    const ReadArgs a = parse_read_args(args);
    if (a.common.help) {
        std::cout << kReadUsage;
        return kExitOk;
    }
    const auto socket = resolve_socket(a.common);
    if (!socket) return kExitConfig;
    install_interrupt_handler();
    ControlClient client(*socket);

    const bool tty = ::isatty(STDOUT_FILENO) == 1;
    const bool human = !a.common.json;
    const int request_samples = a.follow ? 10 : a.samples;
    json collected = json::array();
    json last_response;
    std::string last_time;
    std::string unit;
    std::string status_line;  // stability line shown at the bottom of a terminal
    std::string shown_state;  // STABLE/UNSTABLE last printed (pipe + --follow)
    int interval_ms = 1000;
    bool header_done = false;
    bool silence_reported = false;
    auto last_new = std::chrono::steady_clock::now();

    auto clear_status = [&] {
        if (tty && !status_line.empty()) {
            std::printf("\r%s\r", std::string(status_line.size(), ' ').c_str());
            status_line.clear();
        }
    };

    while (true) {
        auto response =
            client.request({{"cmd", "read"}, {"sensor", a.sensor}, {"samples", request_samples}});
        if (!response) {
            if (client.interrupted()) break;
            clear_status();
            std::fflush(stdout);
            std::cerr << "towngw: " << client.error() << "\n";
            return kExitUnavailable;
        }
        if (!response->value("ok", false)) {
            clear_status();
            std::fflush(stdout);
            return report_refusal(*response, a.common.json);
        }
        last_response = *response;
        unit = response->value("unit", "");
        if (const auto poll = response->find("poll_ms");
            poll != response->end() && poll->is_number())
            interval_ms = std::max(250, poll->get<int>());
        if (human && !header_done) {
            std::printf("%s%s%s, a sample every %d ms%s\n%s\n", a.sensor.c_str(),
                        unit.empty() ? "" : " in ", unit.c_str(), interval_ms,
                        a.follow ? " (Ctrl-C to stop)" : "", sample_header(a.raw).c_str());
            header_done = true;
        }
        bool any_new = false;
        for (const auto& sample : response->value("samples", json::array())) {
            const std::string time = sample.value("time", "");
            if (!last_time.empty() && !(time > last_time)) continue;
            if (!a.follow && static_cast<int>(collected.size()) >= a.samples) break;
            last_time = time;
            collected.push_back(sample);
            any_new = true;
            if (human) {
                clear_status();
                std::printf("%s\n", sample_line(sample, a.raw).c_str());
            }
        }
        const std::string stability =
            stability_text(response->value("stability", json::object()), unit);
        if (human && tty) {
            clear_status();
            status_line = stability;
            std::printf("%s", status_line.c_str());
        } else if (human && a.follow) {
            const std::string state = stability.substr(stability.rfind(' ') + 1);
            if (state != shown_state) {
                std::printf("%s\n", stability.c_str());
                shown_state = state;
            }
        }
        std::fflush(stdout);

        const auto now = std::chrono::steady_clock::now();
        if (any_new) {
            last_new = now;
            silence_reported = false;
        }
        if (!a.follow && static_cast<int>(collected.size()) >= a.samples) break;
        const auto silence = std::chrono::milliseconds(std::max(30000, 5 * interval_ms));
        if (now - last_new > silence && !silence_reported) {
            clear_status();
            std::fflush(stdout);
            std::cerr << "towngw: no new sample from " << a.sensor << " for "
                      << silence.count() / 1000 << " s (is its device online? see towngw status)\n";
            if (!a.follow) {
                if (a.common.json) {
                    last_response["samples"] = collected;
                    std::cout << last_response.dump(2) << "\n";
                }
                return kExitRefused;
            }
            silence_reported = true;
        }
        if (!sleep_ms(interval_ms)) break;
    }

    const bool cut_short = interrupted() && !a.follow;
    if (a.common.json) {
        if (last_response.is_null()) last_response = json::object();
        last_response["samples"] = collected;
        std::cout << last_response.dump(2) << "\n";
    } else {
        clear_status();
        if (!last_response.is_null())
            std::printf(
                "%s\n",
                stability_text(last_response.value("stability", json::object()), unit).c_str());
        std::fflush(stdout);
    }
    return cut_short ? kExitInterrupted : kExitOk;
}

}  // namespace gw::cli
