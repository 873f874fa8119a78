// SPDX-License-Identifier: Apache-2.0
// towngw-bench-report: merges the parts of one scripts/bench.sh run (towngw-bench steady and
// startup, towngw-bench-hotpath under callgrind, scripts/bench-drain.sh, towngw-bench-bus and
// the optional scripts/bench-peers.sh) into one table on stdout and one JSON document, with the
// median, the range and the spread of every repeated figure and the issue #5 targets marked
// PASS or MISS. A missed target is a finding, not a failure: the exit status is 0 whenever the
// report could be written.
//
//   towngw-bench-report --out FILE [--steady F]... [--startup F] [--hotpath F]...
//       [--hotpath-native F]... [--drain F]... [--bus F]... [--peers F | --peers-skipped WHY]
//       [--skipped NAME:WHY]... [--note TEXT]... [--revision R] [--command TEXT]
//       [--mode full|quick] [--elapsed-s S]
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

using nlohmann::json;

namespace {

json read_json(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read " + path);
    return json::parse(in);
}

struct Stats {
    double median{0};
    double min{0};
    double max{0};
    std::size_t n{0};
};

std::optional<Stats> stats_of(std::vector<double> v) {
    v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }),
            v.end());
    if (v.empty()) return std::nullopt;
    std::sort(v.begin(), v.end());
    Stats s;
    s.n = v.size();
    s.min = v.front();
    s.max = v.back();
    s.median = v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
    return s;
}

/// Values of `key` (scaled) from every element of `runs` that has it as a number.
std::vector<double> values(const json& runs, const std::string& key, double scale = 1.0) {
    std::vector<double> out;
    for (const auto& r : runs)
        if (r.contains(key) && r[key].is_number()) out.push_back(r[key].get<double>() * scale);
    return out;
}

struct Target {
    enum class Kind { AtMost, AtLeast } kind;
    double limit;
    std::string text;
};

struct Row {
    std::string benchmark;
    std::string metric;
    std::string unit;
    std::string n;  ///< sensors / slaves / messages, as text
    std::optional<Stats> stats;
    std::optional<Target> target;
    std::string note;
};

std::vector<Row> g_rows;

void add_row(const std::string& benchmark, const std::string& metric, const std::string& unit,
             const std::string& n, const std::vector<double>& v,
             std::optional<Target> target = std::nullopt, const std::string& note = "") {
    g_rows.push_back({benchmark, metric, unit, n, stats_of(v), std::move(target), note});
}

std::string verdict(const Row& r) {
    if (!r.target) return "";
    if (!r.stats) return "n/a";
    const double m = r.stats->median;
    const bool pass =
        r.target->kind == Target::Kind::AtMost ? m <= r.target->limit : m >= r.target->limit;
    return pass ? "PASS" : "MISS";
}

std::string number(double v) {
    char buf[64];
    const double a = std::fabs(v);
    if (a >= 10000)
        std::snprintf(buf, sizeof buf, "%.0f", v);
    else if (a >= 100)
        std::snprintf(buf, sizeof buf, "%.1f", v);
    else if (a >= 1)
        std::snprintf(buf, sizeof buf, "%.2f", v);
    else
        std::snprintf(buf, sizeof buf, "%.4f", v);
    return buf;
}

json row_json(const Row& r) {
    json j = {{"benchmark", r.benchmark}, {"metric", r.metric}, {"unit", r.unit}, {"n", r.n}};
    if (r.stats) {
        j["median"] = r.stats->median;
        j["min"] = r.stats->min;
        j["max"] = r.stats->max;
        j["repeats"] = r.stats->n;
        j["spread_pct"] = r.stats->median != 0
                              ? 100.0 * (r.stats->max - r.stats->min) / std::fabs(r.stats->median)
                              : 0.0;
    } else {
        j["median"] = nullptr;
    }
    if (r.target) {
        j["target"] = r.target->text;
        j["verdict"] = verdict(r);
    }
    if (!r.note.empty()) j["note"] = r.note;
    return j;
}

void print_table() {
    std::printf("\n%-9s %-44s %6s %10s %21s %7s  %-13s %s\n", "benchmark", "metric", "N", "median",
                "min .. max", "spread", "target", "verdict");
    for (const auto& r : g_rows) {
        const std::string metric = r.metric + (r.unit.empty() ? "" : " (" + r.unit + ")");
        std::string range = "-";
        std::string spread = "-";
        std::string median = "n/a";
        if (r.stats) {
            median = number(r.stats->median);
            if (r.stats->n > 1) {
                range = number(r.stats->min) + " .. " + number(r.stats->max);
                spread = r.stats->median != 0 ? number(100.0 * (r.stats->max - r.stats->min) /
                                                       std::fabs(r.stats->median)) +
                                                    "%"
                                              : "-";
            } else {
                range = "(1 run)";
            }
        }
        std::printf("%-9s %-44s %6s %10s %21s %7s  %-13s %s%s\n", r.benchmark.c_str(),
                    metric.c_str(), r.n.c_str(), median.c_str(), range.c_str(), spread.c_str(),
                    r.target ? r.target->text.c_str() : "", verdict(r).c_str(),
                    r.note.empty() ? "" : ("  " + r.note).c_str());
    }
}

std::string machine_model() {
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line))
        if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
    return "unknown";
}

/// Peer results, if scripts/bench-peers.sh wrote them in the documented shape: an array
/// "peers" (or "results") of objects with "name" and some of "sensors", "cpu_ms_per_poll",
/// "vmhwm_kib". Prints each next to towngwd at the same N (20 if not given).
void peer_ratios(const json& peers, const std::vector<json>& steady, json& out) {
    const json* list = nullptr;
    if (peers.contains("peers") && peers["peers"].is_array()) list = &peers["peers"];
    if (!list && peers.contains("results") && peers["results"].is_array()) list = &peers["results"];
    if (!list) return;
    for (const auto& p : *list) {
        if (!p.is_object() || !p.contains("name") || !p["name"].is_string()) continue;
        if (p.contains("status") && p["status"] != "ok") continue;
        const std::string name = p["name"].get<std::string>();
        const int n = p.value("sensors", 20);
        const std::string ns = std::to_string(n);
        add_row("peers", name + ": CPU per sensor poll", "ms", ns,
                values(json::array({p}), "cpu_ms_per_poll"));
        add_row("peers", name + ": peak RSS (VmHWM)", "MiB", ns,
                values(json::array({p}), "vmhwm_kib", 1 / 1024.0));
        if (p.value("uss_kib", 0.0) > 0) {
            add_row("peers", name + ": private memory (USS)", "MiB", ns,
                    values(json::array({p}), "uss_kib", 1 / 1024.0));
            add_row("peers", name + ": proportional memory (PSS)", "MiB", ns,
                    values(json::array({p}), "pss_kib", 1 / 1024.0));
        }
        const json* ours = nullptr;
        for (const auto& s : steady)
            if (s.value("sensors", 0) == n) ours = &s;
        if (!ours) continue;
        json ratio = {{"peer", name}, {"sensors", n}};
        auto ratio_of = [&](const std::string& key, const std::string& label) {
            const auto theirs = stats_of(values(json::array({p}), key));
            const auto mine = stats_of(values((*ours)["runs"], key));
            if (theirs && mine && mine->median > 0) {
                ratio[key + "_peer_over_towngwd"] = theirs->median / mine->median;
                add_row("peers", "  " + name + " / towngwd, " + label, "x", ns,
                        {theirs->median / mine->median});
            }
        };
        ratio_of("schedstat_cpu_ms_per_poll", "CPU per poll");
        ratio_of("vmhwm_kib", "peak RSS");
        // Ours are measured once at the end of the run (memory_at_end), theirs likewise.
        const json memory = ours->value("memory_at_end", json::object());
        for (const auto& [key, label] :
             {std::pair<std::string, std::string>{"uss_kib", "private memory (USS)"},
              {"pss_kib", "proportional memory (PSS)"}}) {
            const std::string mine_key = key == "uss_kib" ? "private_kib" : key;
            const double theirs = p.value(key, 0.0), mine = memory.value(mine_key, 0.0);
            if (theirs > 0 && mine > 0) {
                ratio[key + "_peer_over_towngwd"] = theirs / mine;
                add_row("peers", "  " + name + " / towngwd, " + label, "x", ns, {theirs / mine});
            }
        }
        out.push_back(ratio);
    }
}

}  // namespace

int main(int argc, char** argv) {
    std::string out_path;
    std::vector<std::string> steady_files, hotpath_files, native_files, drain_files, bus_files;
    std::string startup_file, peers_file, peers_skipped,
        revision = "unknown", command = "scripts/bench.sh", mode = "full";
    std::vector<std::string> notes, skipped;
    double elapsed_s = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (i + 1 >= argc) {
            std::cerr << "towngw-bench-report: " << arg << " needs a value\n";
            return 64;
        }
        const std::string value = argv[++i];
        if (arg == "--out")
            out_path = value;
        else if (arg == "--steady")
            steady_files.push_back(value);
        else if (arg == "--startup")
            startup_file = value;
        else if (arg == "--hotpath")
            hotpath_files.push_back(value);
        else if (arg == "--hotpath-native")
            native_files.push_back(value);
        else if (arg == "--drain")
            drain_files.push_back(value);
        else if (arg == "--bus")
            bus_files.push_back(value);
        else if (arg == "--peers")
            peers_file = value;
        else if (arg == "--peers-skipped")
            peers_skipped = value;
        else if (arg == "--skipped")
            skipped.push_back(value);
        else if (arg == "--note")
            notes.push_back(value);
        else if (arg == "--revision")
            revision = value;
        else if (arg == "--command")
            command = value;
        else if (arg == "--mode")
            mode = value;
        else if (arg == "--elapsed-s")
            elapsed_s = std::stod(value);
        else {
            std::cerr << "towngw-bench-report: unknown argument " << arg << "\n";
            return 64;
        }
    }
    if (out_path.empty()) {
        std::cerr << "towngw-bench-report: --out FILE is required\n";
        return 64;
    }
    try {
        json doc;
        char date[32];
        const std::time_t now = std::time(nullptr);
        std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
        doc["date"] = date;
        doc["machine"] = {{"nproc", sysconf(_SC_NPROCESSORS_ONLN)}, {"cpu_model", machine_model()}};
        doc["git_revision"] = revision;
        doc["command"] = command;
        doc["mode"] = mode;
        if (elapsed_s > 0) doc["elapsed_s"] = elapsed_s;
        doc["notes"] = notes;
        doc["skipped"] = skipped;
        json parts = json::object();

        // --- 1. steady state
        std::vector<json> steady;
        for (const auto& f : steady_files) steady.push_back(read_json(f));
        std::sort(steady.begin(), steady.end(), [](const json& a, const json& b) {
            return a.value("sensors", 0) < b.value("sensors", 0);
        });
        for (const auto& s : steady) {
            const int n = s.value("sensors", 0);
            const std::string ns = std::to_string(n);
            const json& runs = s["runs"];
            const bool target_n = n == 200;
            auto t = [&](Target::Kind k, double limit, const std::string& text) {
                return target_n ? std::optional<Target>(Target{k, limit, text}) : std::nullopt;
            };
            add_row("steady", "CPU per sensor poll", "ms", ns, values(runs, "cpu_ms_per_poll"),
                    t(Target::Kind::AtMost, 0.10, "<= 0.10"));
            add_row("steady", "  same, from schedstat (ns clock)", "ms", ns,
                    values(runs, "schedstat_cpu_ms_per_poll"));
            add_row("steady", "CPU, share of one core", "%", ns,
                    values(runs, "cpu_pct_of_one_core"));
            add_row("steady", "peak RSS (VmHWM), whole run", "MiB", ns,
                    {s.value("vmhwm_kib", 0.0) / 1024.0}, t(Target::Kind::AtMost, 8.0, "<= 8"));
            add_row("steady", "final RSS (VmRSS)", "MiB", ns,
                    {s.value("vmrss_last_kib", 0.0) / 1024.0});
            const json memory = s.value("memory_at_end", json::object());
            if (!memory.empty()) {
                add_row("steady", "  of which shared libraries (file-backed)", "MiB", ns,
                        {memory.value("shared_libraries_kib", 0.0) / 1024.0});
                add_row("steady", "  of which towngwd's own code", "MiB", ns,
                        {memory.value("own_code_kib", 0.0) / 1024.0});
                add_row("steady", "  of which heap, stacks, relocations", "MiB", ns,
                        {memory.value("anonymous_kib", 0.0) / 1024.0});
                add_row("steady", "  private to towngwd (USS)", "MiB", ns,
                        {memory.value("private_kib", 0.0) / 1024.0});
                add_row("steady", "  proportional (PSS)", "MiB", ns,
                        {memory.value("pss_kib", 0.0) / 1024.0});
            }
            add_row("steady", "RSS growth over all intervals", "KiB", ns,
                    {s.value("vmrss_growth_total_kib", 0.0)});
            if (s.contains("vmrss_growth_after_first_interval_kib"))
                add_row("steady", "RSS growth after the first interval", "KiB", ns,
                        {s.value("vmrss_growth_after_first_interval_kib", 0.0)},
                        t(Target::Kind::AtMost, 256.0, "<= 256 (flat)"));
            add_row("steady", "  RSS growth per interval", "KiB", ns,
                    values(runs, "vmrss_growth_kib"));
            add_row("steady", "disk bytes written per poll", "B", ns,
                    values(runs, "write_bytes_per_poll"), t(Target::Kind::AtMost, 100.0, "<= 100"));
            add_row("steady", "messages published per minute", "msg", ns,
                    values(runs, "published_per_min"));
            add_row("steady", "polls achieved / demanded", "%", ns,
                    values(runs, "poll_rate_pct_of_demand"));
            add_row("steady", "simulators' CPU per poll (context)", "ms", ns,
                    values(runs, "simulators_cpu_ms_per_poll"));
        }
        parts["steady"] = steady;

        // --- 2. hot path
        json hot = json::object();
        if (!hotpath_files.empty()) {
            json runs = json::array();
            for (const auto& f : hotpath_files) runs.push_back(read_json(f));
            const std::string ns = std::to_string(runs[0].value("sensors", 0));
            add_row("hotpath", "instructions per reading", "Ir", ns,
                    values(runs, "instructions_per_reading"), std::nullopt, "callgrind");
            for (const char* stage : {"decode", "handoff", "on_sample", "close_windows",
                                      "window_message", "commit", "sqlite3_step"}) {
                std::vector<double> v;
                for (const auto& r : runs) {
                    const auto& st = r.value("stages_inclusive", json::object());
                    if (st.contains(stage)) v.push_back(st[stage].value("ir_per_reading", 0.0));
                }
                if (!v.empty())
                    add_row("hotpath", std::string("  of which ") + stage + " (incl.)", "Ir", ns,
                            v);
            }
            hot["callgrind"] = runs;
        }
        if (!native_files.empty()) {
            json runs = json::array();
            for (const auto& f : native_files) runs.push_back(read_json(f));
            add_row("hotpath", "CPU per reading, native", "us",
                    std::to_string(runs[0].value("sensors", 0)),
                    values(runs, "cpu_ns_per_reading", 1e-3), std::nullopt, "noisy; fsync in sys");
            add_row("hotpath", "disk bytes written per reading, native", "B",
                    std::to_string(runs[0].value("sensors", 0)),
                    values(runs, "write_bytes_per_reading"));
            std::vector<double> flush;
            for (const auto& r : runs)
                if (r.contains("flush_commit_write_bytes") &&
                    r["flush_commit_write_bytes"].is_object())
                    flush.push_back(r["flush_commit_write_bytes"].value("median", 0.0) / 4096.0);
            add_row("hotpath", "4 KiB pages written per 1 s flush, median", "",
                    std::to_string(runs[0].value("sensors", 0)), flush);
            hot["native"] = runs;
        }
        parts["hotpath"] = hot;

        // --- 3. drain
        if (!drain_files.empty()) {
            json runs = json::array();
            for (const auto& f : drain_files) runs.push_back(read_json(f));
            const std::string ns = std::to_string(runs[0].value("n", 0));
            add_row("drain", "messages delivered per second", "msg/s", ns,
                    values(runs, "msgs_per_s"), Target{Target::Kind::AtLeast, 10000, ">= 10000"});
            add_row("drain", "peak RSS during drain (VmHWM)", "MiB", ns,
                    values(runs, "vmhwm_kib", 1 / 1024.0));
            for (auto& r : runs) r.erase("final_status");  // large; the figures are kept
            parts["drain"] = runs;
        }

        // --- 4. RTU bus
        if (!bus_files.empty()) {
            json runs = json::array();
            for (const auto& f : bus_files) {
                const json b = read_json(f);
                for (const auto& r : b["results"]) runs.push_back(r);
            }
            const std::string ns = std::to_string(runs[0].value("slaves", 0));
            add_row("bus", "polls/s, 9600 8N1", "1/s", ns, values(runs, "achieved_polls_per_s"));
            add_row("bus", "achieved / theoretical max", "%", ns,
                    values(runs, "achieved_pct_of_theoretical"),
                    Target{Target::Kind::AtLeast, 90, ">= 90"});
            parts["bus"] = runs;
        }

        // --- 5. start-up
        if (!startup_file.empty()) {
            const json s = read_json(startup_file);
            const std::string ns = std::to_string(s.value("sensors", 0));
            add_row("startup", "exec -> retained birth", "s", ns,
                    values(s["runs"], "exec_to_birth_s"),
                    Target{Target::Kind::AtMost, 1.0, "<= 1"});
            add_row("startup", "exec -> control socket", "s", ns,
                    values(s["runs"], "exec_to_control_socket_s"));
            add_row("startup", "exec -> every device polled", "s", ns,
                    values(s["runs"], "exec_to_all_devices_polled_s"));
            add_row("startup", "peak RSS at birth", "MiB", ns,
                    values(s["runs"], "vmhwm_at_birth_kib", 1 / 1024.0));
            parts["startup"] = s;
        }

        // --- 6. peers
        if (!peers_file.empty()) {
            const json p = read_json(peers_file);
            parts["peers"] = p;
            json ratios = json::array();
            peer_ratios(p, steady, ratios);
            parts["peer_ratios"] = ratios;
        } else {
            parts["peers"] = {{"skipped", peers_skipped.empty() ? "not run" : peers_skipped}};
        }
        doc["results"] = parts;

        json table = json::array();
        for (const auto& r : g_rows) table.push_back(row_json(r));
        doc["summary"] = table;

        std::printf("towngw benchmarks (%s mode), %s, %ld CPU(s) %s, revision %s\n", mode.c_str(),
                    date, sysconf(_SC_NPROCESSORS_ONLN), machine_model().c_str(), revision.c_str());
        print_table();
        if (peers_file.empty())
            std::printf("\npeers: skipped (%s)\n",
                        peers_skipped.empty() ? "not run" : peers_skipped.c_str());
        for (const auto& s : skipped) std::printf("skipped: %s\n", s.c_str());
        for (const auto& n : notes) std::printf("note: %s\n", n.c_str());
        std::ofstream out(out_path);
        out << doc.dump(2) << "\n";
        if (!out) throw std::runtime_error("cannot write " + out_path);
        std::printf("\nresults: %s\n", out_path.c_str());
    } catch (const std::exception& e) {
        std::cerr << "towngw-bench-report: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
