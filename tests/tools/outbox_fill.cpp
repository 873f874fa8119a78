// SPDX-License-Identifier: Apache-2.0
// towngw-outbox-fill: pre-fills a towngwd outbox with N realistic data messages (~300-400 bytes,
// the shape of docs/mqtt.md, marked historical) through the daemon's own Store, as if the
// gateway had been offline for a long time. Used by scripts/bench-drain.sh to measure how fast
// and in how much memory towngwd drains a large backlog.
//
//   towngw-outbox-fill --db PATH --messages N --topic-root townbrain/v1/TOWN/GW [--batch 1000]
//                      [--max-bytes BYTES]
//
// The database must not be open by a running towngwd. Prints one JSON line with what it did.
#include <sysexits.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "buffer/store.hpp"
#include "core/time_format.hpp"

namespace {

constexpr const char* kUsage =
    "usage: towngw-outbox-fill --db PATH --messages N --topic-root PREFIX/TOWN/GATEWAY\n"
    "                          [--batch N (1000)] [--max-bytes BYTES (134217728)]\n";

struct Sensor {
    const char* id;
    const char* device;
    const char* metric;
    const char* unit;
    double base;
    double spread;
};

constexpr std::array<Sensor, 7> kSensors{{
    {"water1.ph", "water1", "ph", "pH", 7.2, 0.3},
    {"water1.temperature", "water1", "water_temperature", "degC", 18.0, 4.0},
    {"water1.turbidity", "water1", "turbidity", "NTU", 3.0, 2.0},
    {"flow1.flow", "flow1", "flow_rate", "m3/h", 42.0, 15.0},
    {"flow1.total", "flow1", "flow_total", "m3", 123456.0, 500.0},
    {"bin1.distance", "bin1", "distance", "mm", 800.0, 300.0},
    {"bin1.fill", "bin1", "fill_level", "%", 45.0, 30.0},
}};

double round3(double x) {
    return std::round(x * 1000.0) / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
    std::string db;
    std::string root;
    std::uint64_t messages = 0;
    std::size_t batch = 1000;
    std::uint64_t max_bytes = 128ull << 20;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const bool has_value = i + 1 < argc;
        if (arg == "--help" || arg == "-h") {
            std::cout << kUsage;
            return 0;
        } else if (arg == "--db" && has_value) {
            db = argv[++i];
        } else if (arg == "--topic-root" && has_value) {
            root = argv[++i];
        } else if (arg == "--messages" && has_value) {
            messages = std::stoull(argv[++i]);
        } else if (arg == "--batch" && has_value) {
            batch = std::max<std::size_t>(1, static_cast<std::size_t>(std::stoull(argv[++i])));
        } else if (arg == "--max-bytes" && has_value) {
            max_bytes = std::stoull(argv[++i]);
        } else {
            std::cerr << "towngw-outbox-fill: bad argument \"" << arg << "\"\n" << kUsage;
            return EX_USAGE;
        }
    }
    // PREFIX may have several levels (townbrain/v1); TOWN and GATEWAY are the last two.
    const auto gw_slash = root.rfind('/');
    const auto town_slash = gw_slash == std::string::npos || gw_slash == 0
                                ? std::string::npos
                                : root.rfind('/', gw_slash - 1);
    if (db.empty() || messages == 0 || town_slash == std::string::npos) {
        std::cerr << kUsage;
        return EX_USAGE;
    }
    const std::string town_id = root.substr(town_slash + 1, gw_slash - town_slash - 1);
    const std::string gateway_id = root.substr(gw_slash + 1);

    constexpr std::int64_t kWindowS = 60;
    const auto now_s = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    const std::uint64_t windows = (messages + kSensors.size() - 1) / kSensors.size();
    // The backlog ends at the last full minute and goes back as far as it needs.
    const std::int64_t first_start =
        (now_s / kWindowS - static_cast<std::int64_t>(windows) - 1) * kWindowS;

    const auto t0 = std::chrono::steady_clock::now();
    std::uint64_t payload_bytes = 0;
    std::uint64_t first_seq = 0;
    std::uint64_t last_seq = 0;
    try {
        gw::StoreOptions options;
        options.max_bytes = max_bytes;
        gw::Store store(db, options);
        std::uint64_t done = 0;
        while (done < messages) {
            gw::CommitBatch b;
            for (std::size_t k = 0; k < batch && done < messages; ++k, ++done) {
                const auto& s = kSensors[static_cast<std::size_t>(done % kSensors.size())];
                const std::int64_t start =
                    first_start + static_cast<std::int64_t>(done / kSensors.size()) * kWindowS;
                const double phase = static_cast<double>(done) * 0.37;
                const double mean = s.base + s.spread * std::sin(phase);
                gw::OutboxMessage m;
                m.topic = root + "/data/" + s.id;
                m.body = {{"v", 1},
                          {"town_id", town_id},
                          {"gateway_id", gateway_id},
                          {"seq", nullptr},
                          {"sensor", s.id},
                          {"device", s.device},
                          {"metric", s.metric},
                          {"unit", s.unit},
                          {"window_start", gw::format_rfc3339_utc(start * 1000)},
                          {"window_end", gw::format_rfc3339_utc((start + kWindowS) * 1000)},
                          {"window_s", kWindowS},
                          {"count", 60},
                          {"expected", 60},
                          {"failed", 0},
                          {"min", round3(mean - 0.05 * s.spread)},
                          {"max", round3(mean + 0.05 * s.spread)},
                          {"mean", round3(mean)},
                          {"last", round3(mean + 0.01 * s.spread)},
                          {"quality", "good"},
                          {"historical", true},
                          {"clock", "synchronised"}};
                payload_bytes += m.body.dump().size();
                gw::WindowCommit w;
                w.sensor = s.id;
                w.end_ms = (start + kWindowS) * 1000;
                w.message = std::move(m);
                b.windows.push_back(std::move(w));
            }
            const auto result = store.commit(std::move(b));
            if (!result.seqs.empty()) {
                if (first_seq == 0) first_seq = result.seqs.front();
                last_seq = result.seqs.back();
            }
            if (result.evicted || result.rejected > 0) {
                std::cerr << "towngw-outbox-fill: max_bytes " << max_bytes
                          << " reached: messages were evicted or rejected; raise --max-bytes\n";
                return 1;
            }
        }
        const auto stats = store.stats();
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::cout << "{\"db\":\"" << db << "\",\"messages\":" << messages
                  << ",\"first_seq\":" << first_seq << ",\"last_seq\":" << last_seq
                  << ",\"depth\":" << stats.depth << ",\"bytes_used\":" << stats.bytes_used
                  << ",\"avg_payload_bytes\":" << payload_bytes / messages
                  << ",\"seconds\":" << seconds << "}\n";
    } catch (const std::exception& e) {
        std::cerr << "towngw-outbox-fill: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
