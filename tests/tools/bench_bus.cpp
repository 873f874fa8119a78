// SPDX-License-Identifier: Apache-2.0
// towngw-bench-bus: how close does the bus scheduler get to the Modbus RTU line's theoretical
// limit (DOMAIN.md §5.3)? Runs towngw-sim with a timing-faithful RTU line (each reply delayed by
// the wire time of request and response at the configured baud plus the slave turnaround), N
// QDY30A-style slaves (one 2-register read per poll) each asking for 10 polls/s — more than the
// line can carry — and measures the polls/s towngwd achieves and the line utilisation both
// sides report. Measures, never asserts: scripts/bench-bus.sh runs it and keeps the JSON;
// scripts/bench.sh runs only its 10-slave case with --case 9600:0:10.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "drivers/rtu_timing.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using namespace gw::test;
using nlohmann::json;

namespace {

const std::filesystem::path kSourceDir = TOWNGW_SOURCE_DIR;

struct Case {
    int baud;
    double turnaround_ms;  ///< the simulator uses max(turnaround, t3.5)
    int slaves;
};

struct Sample {
    std::chrono::steady_clock::time_point at;
    json gateway;  ///< towngw status --json
    json sim;      ///< simulator stats
};

std::optional<json> gateway_status(const GatewayProcess& gw, const TempDir& dir) {
    const auto r = run_command(
        {TOWNGW_CLI_BIN, "status", "--socket", gw.control_socket().string(), "--json"}, dir.path());
    if (!r.status || !r.status->exited_with(0)) return std::nullopt;
    auto j = json::parse(r.out, nullptr, false);
    if (j.is_discarded()) return std::nullopt;
    return j;
}

std::uint64_t total_polls(const json& status) {
    std::uint64_t sum = 0;
    for (const auto& d : status["devices"]) sum += d.value("polls", 0ULL);
    return sum;
}

std::uint64_t total_failures(const json& status) {
    std::uint64_t sum = 0;
    for (const auto& d : status["devices"]) sum += d.value("failures", 0ULL);
    return sum;
}

json run_case(const Case& c, std::chrono::seconds measure) {
    TempDir dir;
    const auto profile = kSourceDir / "config/devices/level_transmitter_decimals.json";
    json scenario = {{"rtu_line", {{"baud", c.baud}, {"turnaround_ms", c.turnaround_ms}}},
                     {"devices", json::array()}};
    json config = {{"gateway", {{"town_id", "bench"}, {"gateway_id", "bus"}}},
                   {"mqtt", {{"broker", "tcp://127.0.0.1:1"}}},
                   {"clock", {{"trust", "system"}}},
                   {"devices", json::array()},
                   {"sensors", json::array()}};
    for (int i = 1; i <= c.slaves; ++i) {
        const std::string id = "level" + std::to_string(i);
        scenario["devices"].push_back(
            {{"id", id},
             {"profile", profile.string()},
             {"transport", "rtu"},
             {"unit_id", i},
             {"signals", {{"level", {{"kind", "noise"}, {"mean", 1.5}, {"stddev", 0.01}}}}}});
        config["devices"].push_back(
            {{"id", id},
             {"profile", profile.string()},
             {"transport", {{"type", "modbus-rtu"}, {"port", "/dev/null"}, {"baud", c.baud}}},
             {"unit_id", i},
             {"poll_ms", 100},
             {"timeout_ms", 500},
             {"retries", 0}});
        config["sensors"].push_back(
            {{"id", id + ".level"}, {"device", id}, {"register", "level"}, {"window_s", 10}});
    }
    std::ofstream(dir.path() / "scenario.json") << scenario.dump(2);
    std::ofstream(dir.path() / "towngw.json") << config.dump(2);

    MosquittoBroker broker(dir.path());
    SimProcess sim(TOWNGW_SIM_BIN, dir.path() / "scenario.json", dir.path());
    GatewayOptions opts;
    opts.towngwd_bin = TOWNGWD_BIN;
    opts.config = dir.path() / "towngw.json";
    opts.log_level = "warn";
    opts.overrides = {{"/mqtt/broker", broker.uri()}};
    for (int i = 0; i < c.slaves; ++i)
        opts.overrides.push_back(
            {"/devices/" + std::to_string(i) + "/transport/port", sim.rtu_pty()});
    GatewayProcess gw(opts, dir.path());

    auto sample = [&]() -> std::optional<Sample> {
        auto status = gateway_status(gw, dir);
        if (!status) return std::nullopt;
        return Sample{std::chrono::steady_clock::now(), *status,
                      sim.control({{"stats", true}}).at("stats")};
    };
    // Warm-up: every slave answered at least once.
    std::optional<Sample> first;
    wait_until(
        [&] {
            first = sample();
            if (!first) return false;
            for (const auto& d : first->gateway["devices"])
                if (d.value("polls", 0) < 5) return false;
            return true;
        },
        30s, 200ms);
    if (!first) throw std::runtime_error("towngwd did not answer status:\n" + gw.log_text());
    wait_until([&] { return std::chrono::steady_clock::now() - first->at >= measure; },
               measure + 10s, 100ms);
    const auto second = sample();
    if (!second) throw std::runtime_error("towngwd did not answer status:\n" + gw.log_text());

    const double seconds = std::chrono::duration<double>(second->at - first->at).count();
    const double polls_per_s =
        static_cast<double>(total_polls(second->gateway) - total_polls(first->gateway)) / seconds;
    const auto failures = total_failures(second->gateway) - total_failures(first->gateway);
    const json& bus0 = first->gateway["buses"][0];
    const json& bus1 = second->gateway["buses"][0];
    const double gateway_util =
        100.0 * (bus1.value("busy_ms_total", 0.0) - bus0.value("busy_ms_total", 0.0)) /
        (bus1.value("elapsed_ms", 0.0) - bus0.value("elapsed_ms", 0.0));
    const json& r0 = first->sim["rtu"];
    const json& r1 = second->sim["rtu"];
    const double sim_util = 100.0 * (r1.value("busy_ms", 0.0) - r0.value("busy_ms", 0.0)) /
                            (r1.value("elapsed_ms", 0.0) - r0.value("elapsed_ms", 0.0));

    const gw::modbus::LineFraming line{c.baud, 'N', 8, 1};
    const double t35_us = gw::modbus::t3_5_us(line);
    // DOMAIN.md §5.3 with T_slave = T_host = 0: the physical limit of the line.
    const double physical_max = 1e6 / gw::modbus::read_cycle_us(line, 2);
    // The same formula with this run's slave: the simulator answers after max(turnaround, t3.5)
    // (its turnaround includes the silence that ends the request).
    const double slave_us = std::max(c.turnaround_ms * 1000.0, t35_us);
    const double line_max = 1e6 / (gw::modbus::frame_time_us(line, 8 + 9) + slave_us + t35_us);
    double rtt_sum = 0;
    for (const auto& d : second->gateway["devices"]) rtt_sum += d.value("last_round_trip_ms", 0.0);
    return {{"baud", c.baud},
            {"framing", "8N1"},
            {"registers_per_poll", 2},
            {"slave_turnaround_ms", slave_us / 1000.0},
            {"slaves", c.slaves},
            {"demanded_polls_per_s", 10.0 * c.slaves},
            {"measured_s", seconds},
            {"achieved_polls_per_s", polls_per_s},
            {"failed_polls", failures},
            {"theoretical_max_polls_per_s", line_max},
            {"physical_limit_polls_per_s", physical_max},
            {"achieved_pct_of_theoretical", 100.0 * polls_per_s / line_max},
            {"gateway_utilisation_pct", gateway_util},
            {"simulator_utilisation_pct", sim_util},
            {"mean_last_round_trip_ms", rtt_sum / c.slaves}};
}

std::string machine_model() {
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line))
        if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
    return "unknown";
}

}  // namespace

int main(int argc, char** argv) {
    std::string out_path;
    std::string revision = "unknown";
    std::string command = "towngw-bench-bus";
    int seconds = 15;
    std::vector<Case> cases;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--out" && i + 1 < argc) {
            out_path = argv[++i];
        } else if (arg == "--revision" && i + 1 < argc) {
            revision = argv[++i];
        } else if (arg == "--command" && i + 1 < argc) {
            command = argv[++i];
        } else if (arg == "--seconds" && i + 1 < argc) {
            seconds = std::stoi(argv[++i]);
        } else if (arg == "--case" && i + 1 < argc) {
            // BAUD:TURNAROUND_MS:SLAVES, e.g. 9600:0:10 (scripts/bench.sh runs only that one)
            Case c{};
            char extra = '\0';
            if (std::sscanf(argv[++i], "%d:%lf:%d%c", &c.baud, &c.turnaround_ms, &c.slaves,
                            &extra) != 3 ||
                c.baud < 300 || c.turnaround_ms < 0 || c.slaves < 1 || c.slaves > 247) {
                std::cerr << "towngw-bench-bus: --case wants BAUD:TURNAROUND_MS:SLAVES, e.g. "
                             "9600:0:10\n";
                return 64;
            }
            cases.push_back(c);
        } else {
            std::cerr << "usage: towngw-bench-bus [--seconds N] [--case BAUD:TURNAROUND_MS:SLAVES]"
                         "... [--out FILE.json] [--revision R] [--command TEXT]\n";
            return 64;
        }
    }
    if (cases.empty())
        cases = {{9600, 0, 1}, {9600, 0, 8}, {9600, 20, 8}, {19200, 0, 8}, {19200, 20, 8}};
    json results = json::array();
    std::printf("%6s %9s %6s %9s %9s %9s %7s %8s %8s %7s\n", "baud", "slave ms", "slaves",
                "demand/s", "polls/s", "max/s", "% max", "gw busy%", "sim bus%", "rtt ms");
    for (const auto& c : cases) {
        const json r = run_case(c, std::chrono::seconds(seconds));
        std::printf("%6d %9.2f %6d %9.1f %9.2f %9.2f %7.1f %8.1f %8.1f %7.2f\n", c.baud,
                    r["slave_turnaround_ms"].get<double>(), c.slaves,
                    r["demanded_polls_per_s"].get<double>(),
                    r["achieved_polls_per_s"].get<double>(),
                    r["theoretical_max_polls_per_s"].get<double>(),
                    r["achieved_pct_of_theoretical"].get<double>(),
                    r["gateway_utilisation_pct"].get<double>(),
                    r["simulator_utilisation_pct"].get<double>(),
                    r["mean_last_round_trip_ms"].get<double>());
        std::fflush(stdout);
        results.push_back(r);
    }
    if (!out_path.empty()) {
        char date[32];
        const std::time_t now = std::time(nullptr);
        std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
        const json doc = {{"benchmark", "bus"},
                          {"date", date},
                          {"git_revision", revision},
                          {"command", command},
                          {"nproc", sysconf(_SC_NPROCESSORS_ONLN)},
                          {"cpu", machine_model()},
                          {"results", results}};
        std::ofstream(out_path) << doc.dump(2) << "\n";
        std::printf("written %s\n", out_path.c_str());
    }
    return 0;
}
