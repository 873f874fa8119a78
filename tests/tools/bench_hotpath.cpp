// SPDX-License-Identifier: Apache-2.0
// towngw-bench-hotpath: the cost of one reading on the gateway's hot path, from register words to
// the SQLite outbox, without network, threads or timers, so that it can run under
// `valgrind --tool=callgrind` and give a stable instruction count.
//
// It drives the gateway's own code: gw::modbus::decode_point (drivers), the asio hand-over from a
// bus thread to the main loop (asio::post + one handler, as Gateway::post_samples_to does),
// gw::WindowAggregator, nlohmann::ordered_json window messages and gw::Store::commit (the SQLite
// outbox, WAL, synchronous=FULL by default). The glue between them replicates
// Gateway::on_sample, Gateway::on_tick, Gateway::window_commit and the flush timer (those are
// private to gw::Gateway): per simulated second every sensor gets one reading, then the
// one-second tick closes due windows (committed at once, as the gateway does) and every flush
// interval the state of the open windows is committed in one transaction.
//
// Time is simulated (1 Hz polls, wall-clock aligned windows), so a run of S sensors × T seconds is
// deterministic. The measured part runs inside towngw_hotpath_measured(); a callgrind run with
// --toggle-collect=towngw_hotpath_measured counts only it (the warm-up, which fills the first
// window and the store's pages, is not counted). Each stage is a separate non-inlined function
// (hot_decode, hot_handoff, hot_on_sample, hot_close_windows, hot_window_message,
// hot_store_open_windows, hot_commit), so
// callgrind_annotate --inclusive=yes shows where the instructions go.
//
//   towngw-bench-hotpath [--sensors 200] [--seconds 120] [--warmup-seconds 60]
//                        [--window-s 60] [--flush-s 5] [--db PATH] [--synchronous full|normal]
//                        [--out FILE]
//                        [--io-accounting]
//   towngw-bench-hotpath --summarise-callgrind ANNOTATE.txt --run RUN.json --out FILE
//
// The second form combines a run's JSON with `callgrind_annotate --inclusive=yes` output into
// instructions per reading and per stage. --io-accounting (for native runs, not under callgrind:
// it reads /proc/self/io around every commit) adds the disk bytes each kind of commit wrote.
// Measures, never asserts.
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "buffer/store.hpp"
#include "core/reading.hpp"
#include "core/stuck_detector.hpp"
#include "core/time_format.hpp"
#include "core/window_aggregator.hpp"
#include "drivers/device_sample.hpp"
#include "drivers/register_codec.hpp"

namespace asio = boost::asio;
using nlohmann::json;
using ordered_json = nlohmann::ordered_json;

namespace {

constexpr const char* kUsage =
    "usage: towngw-bench-hotpath [--sensors N (200)] [--seconds T (120)] [--warmup-seconds W "
    "(60)]\n"
    "                            [--window-s S (60)] [--db PATH] [--synchronous full|normal]\n"
    "                            [--flush-s F (5)] [--out FILE] [--io-accounting]\n"
    "       towngw-bench-hotpath --summarise-callgrind ANNOTATE.txt --run RUN.json --out FILE\n";

/// Window close grace of the gateway (gateway.cpp kCloseGrace).
constexpr std::int64_t kCloseGraceMs = 150;
const std::string kTopicRoot = "townbrain/v1/bench/hotpath";

struct Sensor {
    std::string id;
    std::string device_id;
    gw::WindowAggregator window;
    gw::StuckDetector stuck;
    std::optional<gw::Reading> last;
    std::uint64_t stored_version{0};
};

struct State {
    gw::modbus::RegisterSpec spec;
    gw::modbus::ReadBlock block;
    std::vector<Sensor> sensors;
    std::string boot_id = "5f0c2d6e-3a61-4a8e-9d36-0c2f7c1b9e41";
    asio::io_context io{1};
    /// The daemon's loop always has work (timers, sockets); without it poll_one() would stop it.
    asio::executor_work_guard<asio::io_context::executor_type> work{asio::make_work_guard(io)};
    gw::CommitBatch pending;
    gw::Store* store{nullptr};
    std::int64_t epoch_ms{0};  ///< simulated wall clock at t = 0 (a window boundary)
    std::int64_t mono_base_ms{1'000'000};
    int flush_s{5};  ///< storage.flush_interval_ms / 1000 (the daemon's default: 5 s)
    std::uint64_t readings{0};
    std::uint64_t windows{0};
    std::uint64_t commits{0};
    std::uint64_t seq_last{0};
    /// --io-accounting (native runs only: it reads /proc/self/io around every commit)
    bool io_accounting{false};
    std::vector<std::uint64_t> flush_commit_bytes;   ///< disk bytes of each readings-only commit
    std::vector<std::uint64_t> window_commit_bytes;  ///< of each commit with closed windows
};

std::uint64_t self_write_bytes() {
    std::ifstream in("/proc/self/io");
    std::string key;
    std::uint64_t value = 0;
    while (in >> key >> value)
        if (key == "write_bytes:") return value;
    return 0;
}

// --- stages (non-inlined so that callgrind attributes their cost) ---------------------------

/// What a bus thread does after the registers arrived (ModbusBus::read_device's tail).
__attribute__((noinline)) gw::drivers::DeviceSample hot_decode(const State& st, std::size_t device,
                                                               std::int64_t wall_ms,
                                                               std::uint16_t word) {
    gw::modbus::RegisterImage image;
    image.store(st.block, &word);
    gw::drivers::DeviceSample sample;
    sample.device_index = device;
    sample.sampled_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(wall_ms));
    sample.sampled_mono = std::chrono::steady_clock::time_point(
        std::chrono::milliseconds(st.mono_base_ms + wall_ms - st.epoch_ms));
    sample.round_trip = std::chrono::microseconds(150);
    sample.ok = true;
    sample.points.push_back(gw::modbus::decode_point(image, st.spec));
    return sample;
}

/// Gateway::on_sample for one sensor per device: Reading, window (the clock is trusted, so no
/// raw reading is kept: the window's state is stored at the flush).
__attribute__((noinline)) void hot_on_sample(State& st, std::size_t device_index,
                                             gw::drivers::DeviceSample result) {
    Sensor& sensor = st.sensors[device_index];
    const gw::drivers::PointSample& point = result.points.at(0);
    gw::Reading reading;
    reading.sensor_index = device_index;
    reading.sampled_at = result.sampled_at;
    reading.mono_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          result.sampled_mono.time_since_epoch())
                          .count();
    reading.clock = gw::ClockState::Synchronised;
    reading.raw = point.raw;
    reading.value = point.value;
    reading.quality = point.ok ? gw::SampleQuality::Good : gw::SampleQuality::DecodeError;
    if (reading.quality == gw::SampleQuality::Good && sensor.stuck.observe(point.raw))
        reading.quality = gw::SampleQuality::Stuck;
    sensor.last = reading;
    // A sample of a later window closes the open one (the tick normally did that already).
    if (auto window = sensor.window.add(reading)) ++st.windows;
    ++st.readings;
}

/// The bus thread posts the sample onto the main io_context; the main loop runs the handler.
__attribute__((noinline)) void hot_handoff(State& st, gw::drivers::DeviceSample sample) {
    const std::size_t device_index = sample.device_index;
    std::function<void(gw::drivers::DeviceSample)> handler =
        [&st, device_index](gw::drivers::DeviceSample s) {
            asio::post(st.io, [&st, device_index, s = std::move(s)]() mutable {
                hot_on_sample(st, device_index, std::move(s));
            });
        };
    handler(std::move(sample));
    st.io.poll_one();
}

/// Gateway::window_commit: the data message of a closed window.
__attribute__((noinline)) gw::WindowCommit hot_window_message(const State& st, const Sensor& sensor,
                                                              const gw::WindowSummary& w) {
    auto optional_number = [](const std::optional<double>& v) {
        return v ? ordered_json(*v) : ordered_json(nullptr);
    };
    ordered_json body;
    body["v"] = 1;
    body["town_id"] = "bench";
    body["gateway_id"] = "hotpath";
    body["seq"] = nullptr;
    body["sensor"] = sensor.id;
    body["device"] = sensor.device_id;
    body["metric"] = st.spec.metric;
    body["unit"] = st.spec.unit;
    body["window_start"] = gw::format_rfc3339_utc(w.start_ms);
    body["window_end"] = gw::format_rfc3339_utc(w.end_ms);
    body["window_s"] = (w.end_ms - w.start_ms) / 1000;
    body["count"] = w.count;
    body["expected"] = w.expected;
    body["failed"] = w.failed;
    body["min"] = optional_number(w.min);
    body["max"] = optional_number(w.max);
    body["mean"] = optional_number(w.mean);
    body["last"] = optional_number(w.last);
    body["quality"] = gw::to_string(w.quality);
    body["flag"] = std::string(1, w.flag);
    ordered_json faults = ordered_json::object();
    for (int q = 1; q < gw::kSampleQualityCount; ++q)
        faults[gw::to_string(static_cast<gw::SampleQuality>(q))] =
            w.faults[static_cast<std::size_t>(q)];
    body["faults"] = faults;
    body["clock"] = gw::to_string(w.clock);
    body["historical"] = false;
    return {sensor.id, w.end_ms, {kTopicRoot + "/data/" + sensor.id, std::move(body)}};
}

/// One Store transaction with everything pending (Gateway::commit + StoreWorker job).
__attribute__((noinline)) void hot_commit(State& st) {
    if (st.pending.empty()) return;
    gw::CommitBatch batch = std::move(st.pending);
    st.pending = gw::CommitBatch{};
    const bool windows = !batch.windows.empty();
    const std::uint64_t before = st.io_accounting ? self_write_bytes() : 0;
    const gw::CommitResult result = st.store->commit(std::move(batch));
    if (st.io_accounting)
        (windows ? st.window_commit_bytes : st.flush_commit_bytes)
            .push_back(self_write_bytes() - before);
    if (!result.seqs.empty()) st.seq_last = result.seqs.back();
    ++st.commits;
}

/// Gateway::store_open_windows: the state of every open window that changed since the last flush.
__attribute__((noinline)) void hot_store_open_windows(State& st) {
    for (auto& sensor : st.sensors) {
        const auto version = sensor.window.version();
        if (version == sensor.stored_version) continue;
        sensor.stored_version = version;
        const auto& open = sensor.window.open_window();
        if (!open || open->empty()) continue;
        st.pending.open_windows.push_back({sensor.id, sensor.window.window_ms(), *open});
    }
}

/// Gateway::on_tick: close every window that is due, commit them at once.
__attribute__((noinline)) void hot_close_windows(State& st, std::int64_t now_ms) {
    const auto now =
        std::chrono::system_clock::time_point(std::chrono::milliseconds(now_ms - kCloseGraceMs));
    bool closed_any = false;
    for (auto& sensor : st.sensors) {
        if (auto window = sensor.window.close_due(now)) {
            st.pending.windows.push_back(hot_window_message(st, sensor, *window));
            ++st.windows;
            closed_any = true;
        }
    }
    if (closed_any) hot_commit(st);
}

/// A distance that changes every second, so values and windows look like a real sensor's.
std::uint16_t word_for(std::size_t sensor, std::int64_t second) {
    const double v =
        800.0 + 300.0 * std::sin(static_cast<double>(second) * 0.01 + static_cast<double>(sensor)) +
        static_cast<double>((second * 7 + static_cast<std::int64_t>(sensor)) % 5);
    return static_cast<std::uint16_t>(std::lround(v));
}

/// Simulated seconds [from, to): one poll per sensor, spread over the second, then the tick
/// (150 ms after the whole second) and the flush.
void run_seconds(State& st, std::int64_t from, std::int64_t to) {
    const auto n = static_cast<std::int64_t>(st.sensors.size());
    for (std::int64_t s = from; s < to; ++s) {
        const std::int64_t second_ms = st.epoch_ms + s * 1000;
        for (std::int64_t i = 0; i < n; ++i) {
            const std::int64_t at = second_ms + 10 + (i * 900) / n;
            hot_handoff(st, hot_decode(st, static_cast<std::size_t>(i), at,
                                       word_for(static_cast<std::size_t>(i), s)));
        }
        hot_close_windows(st, second_ms + 1000 + kCloseGraceMs);
        if ((s + 1) % st.flush_s == 0) {  // the flush timer
            hot_store_open_windows(st);
            hot_commit(st);
        }
    }
}

}  // namespace

/// The measured part; callgrind --toggle-collect=towngw_hotpath_measured counts only this.
extern "C" __attribute__((noinline)) void towngw_hotpath_measured(State* st, std::int64_t from,
                                                                  std::int64_t to) {
    run_seconds(*st, from, to);
}

namespace {

double cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

json bytes_summary(std::vector<std::uint64_t> v) {
    if (v.empty()) return nullptr;
    std::sort(v.begin(), v.end());
    std::uint64_t sum = 0;
    for (auto x : v) sum += x;
    return {{"commits", v.size()},
            {"total", sum},
            {"median", v[v.size() / 2]},
            {"max", v.back()},
            {"mean", static_cast<double>(sum) / static_cast<double>(v.size())}};
}

int run(int sensors, int seconds, int warmup, int window_s, int flush_s, std::string db,
        const std::string& synchronous, const std::string& out, bool io_accounting) {
    std::filesystem::path scratch;
    if (db.empty()) {
        const char* tmpdir = std::getenv("TMPDIR");
        const std::string pattern =
            std::string(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp") +
            "/towngw-hotpath-XXXXXX";
        std::vector<char> buf(pattern.begin(), pattern.end());
        buf.push_back('\0');
        if (::mkdtemp(buf.data()) == nullptr) {
            std::perror("towngw-bench-hotpath: mkdtemp");
            return 1;
        }
        scratch = buf.data();
        db = (scratch / "outbox.db").string();
    }

    State st;
    st.flush_s = flush_s;
    st.spec.name = "distance";
    st.spec.table = gw::modbus::RegisterTable::Holding;
    st.spec.address = 0;
    st.spec.type = gw::modbus::ValueType::Int16;
    st.spec.unit = "mm";
    st.spec.metric = "distance";
    st.block = {gw::modbus::RegisterTable::Holding, 0, 1};
    for (int i = 0; i < sensors; ++i) {
        const std::string dev = "bin" + std::to_string(i + 1);
        st.sensors.push_back(
            {dev + ".distance", dev,
             gw::WindowAggregator(std::chrono::seconds(window_s), std::chrono::milliseconds(1000)),
             gw::StuckDetector(0), std::nullopt});
    }
    // t = 0 is a window boundary a little in the past, so windows are realistic dates.
    const auto now_ms = gw::unix_ms(std::chrono::system_clock::now());
    const std::int64_t window_ms = std::int64_t{window_s} * 1000;
    st.epoch_ms = (now_ms / window_ms - 10) * window_ms;

    gw::StoreOptions options;
    options.synchronous = synchronous == "normal" ? gw::SyncMode::Normal : gw::SyncMode::Full;
    options.events_topic = kTopicRoot + "/events";
    gw::Store store(db, options);
    st.store = &store;

    // Warm-up: the first window, the store's tables and the seq sidecar.
    run_seconds(st, 0, warmup);
    st.io_accounting = io_accounting;
    const std::uint64_t io0 = io_accounting ? self_write_bytes() : 0;
    const std::uint64_t readings0 = st.readings;
    const std::uint64_t windows0 = st.windows;
    const std::uint64_t commits0 = st.commits;
    const double cpu0 = cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    towngw_hotpath_measured(&st, warmup, warmup + seconds);
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu = cpu_seconds() - cpu0;
    const std::uint64_t readings = st.readings - readings0;
    const std::uint64_t io_bytes = io_accounting ? self_write_bytes() - io0 : 0;

    json result = {
        {"sensors", sensors},
        {"simulated_seconds", seconds},
        {"warmup_seconds", warmup},
        {"window_s", window_s},
        {"flush_s", flush_s},
        {"readings", readings},
        {"windows", st.windows - windows0},
        {"commits", st.commits - commits0},
        {"last_seq", st.seq_last},
        {"synchronous", synchronous},
        {"db", db},
        {"wall_seconds", wall},
        {"cpu_seconds", cpu},
        {"wall_ns_per_reading", readings ? wall * 1e9 / static_cast<double>(readings) : 0.0},
        {"cpu_ns_per_reading", readings ? cpu * 1e9 / static_cast<double>(readings) : 0.0}};
    if (io_accounting) {
        result["write_bytes"] = io_bytes;
        result["write_bytes_per_reading"] =
            readings ? static_cast<double>(io_bytes) / static_cast<double>(readings) : 0.0;
        result["flush_commit_write_bytes"] = bytes_summary(st.flush_commit_bytes);
        result["window_commit_write_bytes"] = bytes_summary(st.window_commit_bytes);
    }
    if (out.empty()) {
        std::cout << result.dump(2) << "\n";
    } else {
        std::ofstream(out) << result.dump(2) << "\n";
    }
    st.store = nullptr;
    if (!scratch.empty()) {
        std::error_code ignored;
        std::filesystem::remove_all(scratch, ignored);
    }
    return 0;
}

/// "12,345,678" -> 12345678
std::uint64_t parse_count(const std::string& text) {
    std::uint64_t v = 0;
    for (char c : text)
        if (c >= '0' && c <= '9') v = v * 10 + static_cast<std::uint64_t>(c - '0');
    return v;
}

/// Reads `callgrind_annotate --inclusive=yes` output: the program total (only the collected
/// part with --toggle-collect) and the inclusive cost of each stage function.
int summarise(const std::string& annotate_path, const std::string& run_path,
              const std::string& out) {
    std::ifstream in(annotate_path);
    std::ifstream run_in(run_path);
    if (!in || !run_in) {
        std::cerr << "towngw-bench-hotpath: cannot read " << annotate_path << " or " << run_path
                  << "\n";
        return EX_NOINPUT;
    }
    json run_json = json::parse(run_in);
    const auto readings = run_json.at("readings").get<std::uint64_t>();
    // Stage functions and a few library entry points worth watching.
    const std::vector<std::pair<std::string, std::string>> watched = {
        {"decode", "hot_decode("},
        {"handoff", "hot_handoff("},
        {"on_sample", "hot_on_sample("},
        {"window_add", "gw::WindowAggregator::add("},
        {"close_windows", "hot_close_windows("},
        {"window_message", "hot_window_message("},
        {"store_open_windows", "hot_store_open_windows("},
        {"commit", "hot_commit("},
        {"store_commit", "gw::Store::commit("},
        {"sqlite3_step", ":sqlite3_step "},
        {"json_dump", "::dump("},
        {"malloc", ":malloc "},
        {"free", ":free "},
    };
    std::uint64_t total = 0;
    json stages = json::object();
    std::string line;
    const std::regex count_re(R"(^\s*([0-9,]+)\s*(\([^)]*\))?\s+(.*)$)");
    while (std::getline(in, line)) {
        std::smatch m;
        if (!std::regex_match(line, m, count_re)) continue;
        const std::uint64_t ir = parse_count(m[1].str());
        const std::string rest = m[3].str();
        if (rest.find("PROGRAM TOTALS") != std::string::npos) {
            total = ir;
            continue;
        }
        for (const auto& [key, needle] : watched) {
            if (stages.contains(key)) continue;  // the first (largest) match wins
            if ((rest + " ").find(needle) == std::string::npos) continue;
            stages[key] = {
                {"ir", ir},
                {"ir_per_reading",
                 readings ? static_cast<double>(ir) / static_cast<double>(readings) : 0.0},
                {"function", rest.substr(0, 160)}};
        }
    }
    json result = run_json;
    result["callgrind_ir_total"] = total;
    result["instructions_per_reading"] =
        readings ? static_cast<double>(total) / static_cast<double>(readings) : 0.0;
    result["stages_inclusive"] = stages;
    std::ofstream(out) << result.dump(2) << "\n";
    std::cout << "hot path: " << total << " instructions for " << readings
              << " readings = " << (readings ? total / readings : 0) << " per reading\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    int sensors = 200;
    int seconds = 120;
    int warmup = 60;
    int window_s = 60;
    int flush_s = 5;
    std::string db;
    std::string synchronous = "full";
    std::string out;
    std::string annotate;
    std::string run_path;
    bool io_accounting = false;
    try {
        for (int i = 1; i < argc; ++i) {
            const std::string arg = argv[i];
            const bool has_value = i + 1 < argc;
            if (arg == "--help" || arg == "-h") {
                std::cout << kUsage;
                return 0;
            } else if (arg == "--sensors" && has_value) {
                sensors = std::stoi(argv[++i]);
            } else if (arg == "--seconds" && has_value) {
                seconds = std::stoi(argv[++i]);
            } else if (arg == "--warmup-seconds" && has_value) {
                warmup = std::stoi(argv[++i]);
            } else if (arg == "--window-s" && has_value) {
                window_s = std::stoi(argv[++i]);
            } else if (arg == "--flush-s" && has_value) {
                flush_s = std::stoi(argv[++i]);
            } else if (arg == "--db" && has_value) {
                db = argv[++i];
            } else if (arg == "--synchronous" && has_value) {
                synchronous = argv[++i];
            } else if (arg == "--out" && has_value) {
                out = argv[++i];
            } else if (arg == "--summarise-callgrind" && has_value) {
                annotate = argv[++i];
            } else if (arg == "--io-accounting") {
                io_accounting = true;
            } else if (arg == "--run" && has_value) {
                run_path = argv[++i];
            } else {
                std::cerr << "towngw-bench-hotpath: bad argument \"" << arg << "\"\n" << kUsage;
                return EX_USAGE;
            }
        }
        if (!annotate.empty()) {
            if (run_path.empty() || out.empty()) {
                std::cerr << kUsage;
                return EX_USAGE;
            }
            return summarise(annotate, run_path, out);
        }
        if (sensors < 1 || seconds < 1 || warmup < 0 || window_s < 1 || flush_s < 1 ||
            (synchronous != "full" && synchronous != "normal")) {
            std::cerr << kUsage;
            return EX_USAGE;
        }
        return run(sensors, seconds, warmup, window_s, flush_s, db, synchronous, out,
                   io_accounting);
    } catch (const std::exception& e) {
        std::cerr << "towngw-bench-hotpath: " << e.what() << "\n";
        return 1;
    }
}
