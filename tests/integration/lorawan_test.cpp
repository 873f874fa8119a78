// SPDX-License-Identifier: Apache-2.0
// LoRaWAN bins through ChirpStack's MQTT integration, end to end: a private mosquitto plays
// the board's broker, the test itself plays ChirpStack (it publishes `up` events exactly as
// ChirpStack v4's JSON marshaler writes them, so duplicates and replays are under its control),
// and towngwd turns them into windows on its data topics. What it checks:
//   - an EM310-UDL uplink becomes distance/fill/battery/tilt windows with the right values;
//   - a re-delivered event, the same frame under a new deduplicationId and a replayed old
//     frame are counted (duplicates, replays) and do not add to any window;
//   - a garbage payload is counted (decode_errors) and shows as a failed sample;
//   - a tilted sensor's distance and fill are faults, its battery and tilt are good data;
//   - an uplink of a devEui that is not configured is counted and ignored;
//   - a silent bin produces stale fault windows (failed samples, flag B), never silence, and
//     recovers with its next uplink.
#include <mqtt/async_client.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <exception>
#include <iostream>

#include "support.hpp"

using namespace std::chrono_literals;
using namespace gw::test;
using nlohmann::json;

namespace {

constexpr const char* kTown = "lora-town";
constexpr const char* kEui = "24e124136b502217";         // bin7, configured upper case
constexpr const char* kForeignEui = "0000000000c0ffee";  // not configured
constexpr const char* kApplication = "6c7f0c9e-1b0a-4c8e-a1f2-3d4e5f607182";
// EM310-UDL payloads (tests/unit/lorawan_test.cpp decodes the same bytes).
constexpr const char* kUpright = "AXVkA4I8DwQAAA==";  // battery 100 %, 3900 mm, normal
constexpr const char* kTilted = "AXVcA4JECAQAAQ==";   // battery 92 %, 2116 mm, tilt
constexpr const char* kGarbage = "3q2+7w==";          // de ad be ef: no record the codec knows
constexpr double kEmptyMm = 5000.0;
constexpr double kFullMm = 1000.0;

/// Plays ChirpStack: publishes integration events with QoS 1 and waits for each PUBACK.
class FakeChirpstack {
public:
    explicit FakeChirpstack(const std::string& broker_uri)
        : client_(broker_uri, "fake-chirpstack-" + std::to_string(::getpid()),
                  static_cast<mqtt::iclient_persistence*>(nullptr)) {
        mqtt::connect_options options;
        options.set_clean_session(true);
        REQUIRE(client_.connect(options)->wait_for(10s));
    }
    ~FakeChirpstack() {
        try {
            client_.disconnect()->wait_for(2s);
        } catch (const mqtt::exception&) {
        }
    }

    void up(const std::string& dev_eui, const std::string& dedup_id, int f_cnt,
            const std::string& data) {
        const std::string topic =
            std::string("application/") + kApplication + "/device/" + dev_eui + "/event/up";
        const json event = {{"deduplicationId", dedup_id},
                            {"time", "2024-05-06T07:08:09.123456+00:00"},
                            {"deviceInfo",
                             {{"tenantId", "52f14cd4-c6f1-4fbd-8f87-4025e1d49242"},
                              {"tenantName", "town"},
                              {"applicationId", kApplication},
                              {"applicationName", "bins"},
                              {"deviceProfileName", "EM310-UDL"},
                              {"deviceName", "bin-7"},
                              {"devEui", dev_eui}}},
                            {"devAddr", "00e5e007"},
                            {"adr", true},
                            {"dr", 5},
                            {"fCnt", f_cnt},
                            {"fPort", 85},
                            {"confirmed", false},
                            {"data", data},
                            {"rxInfo",
                             {{{"gatewayId", "0016c001f153a14c"}, {"rssi", -97}, {"snr", 7.5}},
                              {{"gatewayId", "0016c001f153a14d"}, {"rssi", -110}, {"snr", -3.0}}}},
                            {"txInfo", {{"frequency", 486300000}}}};
        REQUIRE(client_.publish(topic, event.dump(), 1, false)->wait_for(5s));
    }

private:
    mqtt::async_client client_;
};

std::optional<json> status_of(const GatewayProcess& gw, const TempDir& dir) {
    const auto r = run_command(
        {TOWNGW_CLI_BIN, "status", "--socket", gw.control_socket().string(), "--json"}, dir.path());
    if (!r.status || !r.status->exited_with(0)) return std::nullopt;
    auto j = json::parse(r.out, nullptr, false);
    if (j.is_discarded()) return std::nullopt;
    return j;
}

json device_entry(const json& status, const std::string& id) {
    for (const auto& d : status.value("devices", json::array()))
        if (d.value("id", "") == id) return d;
    return json::object();
}

/// Writes the test's config: bin7 on ChirpStack (same broker as the uplink), with sensors for
/// every codec point plus the fill level.
std::filesystem::path write_config(const TempDir& dir, const std::string& broker_uri,
                                   const std::string& gateway_id, int stale_after_s) {
    const json config = {
        {"gateway", {{"town_id", kTown}, {"gateway_id", gateway_id}}},
        {"mqtt", {{"broker", broker_uri}, {"keepalive_s", 10}}},
        {"clock", {{"trust", "system"}}},
        {"devices",
         {{{"id", "bin7"},
           {"transport",
            {{"type", "chirpstack"},
             {"broker", broker_uri},
             {"application_id", kApplication},
             {"dev_eui", "24E124136B502217"}}},
           {"codec", "milesight-em310-udl"},
           {"interval_s", 1},
           {"stale_after_s", stale_after_s}}}},
        {"sensors",
         {{{"id", "bin7.distance"}, {"device", "bin7"}, {"register", "distance"}, {"window_s", 2}},
          {{"id", "bin7.fill"},
           {"device", "bin7"},
           {"register", "distance"},
           {"window_s", 2},
           {"fill_level", {{"empty_mm", kEmptyMm}, {"full_mm", kFullMm}}}},
          {{"id", "bin7.battery"}, {"device", "bin7"}, {"register", "battery"}, {"window_s", 2}},
          {{"id", "bin7.tilt"}, {"device", "bin7"}, {"register", "tilt"}, {"window_s", 2}}}}};
    const auto path = dir / "towngw.json";
    write_json_file(path, config);
    return path;
}

struct Totals {
    std::int64_t count{0};
    std::int64_t failed{0};
};

/// Sums count and failed over the sensor's windows that end at or before `until_s`.
Totals totals(const MessageList& all, const std::string& sensor, std::int64_t until_s) {
    Totals t;
    for (const auto& m : all) {
        if (!m.json || m.json->value("sensor", "") != sensor) continue;
        const auto end = parse_utc(m.json->value("window_end", ""));
        if (!end || *end > until_s) continue;
        t.count += m.json->value("count", 0);
        t.failed += m.json->value("failed", 0);
    }
    return t;
}

std::int64_t unix_now_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// True once a window of `sensor` starting at or after `from_s` was published: every window
/// before it is closed and published too (one sensor's windows close in order).
bool window_from(const MessageList& all, const std::string& sensor, std::int64_t from_s) {
    return std::any_of(all.begin(), all.end(), [&](const ReceivedMessage& m) {
        if (!m.json || m.json->value("sensor", "") != sensor) return false;
        const auto start = parse_utc(m.json->value("window_start", ""));
        return start && *start >= from_s;
    });
}

std::string log_tail(const GatewayProcess& gw) {
    const std::string log = gw.log_text();
    return log.substr(log.size() > 6000 ? log.size() - 6000 : 0);
}

/// Prints the daemon's log when a REQUIRE gives up (INFO would capture it too early).
struct LogOnFailure {
    const GatewayProcess& gw;
    ~LogOnFailure() {
        if (std::uncaught_exceptions() > 0) std::cerr << "towngwd log (tail):\n" << log_tail(gw);
    }
};

}  // namespace

TEST_CASE("ChirpStack uplinks become bin windows and duplicates replays and garbage are counted",
          "[integration][lorawan]") {
    TempDir dir;
    MosquittoBroker broker(dir.path());
    const std::string gateway_id = "it-lora-" + std::to_string(::getpid());
    MqttCollector collector(broker.uri(),
                            std::string("townbrain/v1/") + kTown + "/" + gateway_id + "/data/#");
    GatewayOptions opts;
    opts.towngwd_bin = TOWNGWD_BIN;
    opts.config = write_config(dir, broker.uri(), gateway_id, /*stale_after_s=*/600);
    GatewayProcess gw(opts, dir.path());
    LogOnFailure dump_log_on_failure{gw};

    // The source subscribes after connecting; publish only once it is there, or the broker
    // would drop the events (no session yet).
    REQUIRE(wait_until(
        [&] {
            const auto status = status_of(gw, dir);
            return status && !(*status)["lorawan"].empty() &&
                   (*status)["lorawan"][0].value("connected", false);
        },
        15s, 100ms));
    // Subscriptions are asynchronous: a probe from a foreign device shows they are active.
    FakeChirpstack chirpstack(broker.uri());
    REQUIRE(wait_until(
        [&] {
            chirpstack.up(kForeignEui, "probe-" + std::to_string(unix_now_s()), 1, kUpright);
            const auto status = status_of(gw, dir);
            return status && (*status)["lorawan"][0].value("unknown_devices", 0) > 0;
        },
        10s, 200ms));

    const auto started_s = unix_now_s();
    chirpstack.up(kEui, "dedup-1", 10, kUpright);  // accepted
    chirpstack.up(kEui, "dedup-1", 10, kUpright);  // the same event again: duplicate
    chirpstack.up(kEui, "dedup-2", 10, kUpright);  // same frame, new id: duplicate
    chirpstack.up(kEui, "dedup-3", 9, kUpright);   // older frame, new id: replay
    chirpstack.up(kEui, "dedup-4", 11, kGarbage);  // accepted, undecodable
    chirpstack.up(kEui, "dedup-5", 12, kTilted);   // accepted, tilted
    const auto last_publish_s = unix_now_s();

    std::optional<json> status;
    REQUIRE(wait_until(
        [&] {
            status = status_of(gw, dir);
            return status && device_entry(*status, "bin7").value("uplinks", 0) == 3 &&
                   device_entry(*status, "bin7").value("replays", 0) == 1;
        },
        10s, 100ms));
    const json bin7 = device_entry(*status, "bin7");
    INFO("bin7 status: " << bin7.dump());
    CHECK(bin7.value("dev_eui", "") == kEui);
    CHECK(bin7.value("codec", "") == "milesight-em310-udl");
    CHECK(bin7.value("uplinks", 0) == 3);
    CHECK(bin7.value("duplicates", 0) == 2);
    CHECK(bin7.value("replays", 0) == 1);
    CHECK(bin7.value("decode_errors", 0) == 1);
    CHECK(bin7.value("last_fcnt", 0) == 12);
    CHECK(bin7.value("last_rssi", 0) == -97);  // the better of the two gateways
    CHECK(bin7.value("last_snr", 0.0) == 7.5);
    CHECK(bin7.value("stale", true) == false);
    CHECK(bin7["last_uplink_age_s"].is_number());
    CHECK((*status)["lorawan"][0].value("unknown_devices", 0) >= 1);
    const auto log = gw.log_text();
    CHECK_THAT(log, Catch::Contains("bin7 (devEui 24e124136b502217)") &&
                        Catch::Contains("replayed uplink: fCnt 9"));

    // Every window up to the last uplink's is published once a later one is.
    const auto settled_s = last_publish_s + 2;
    REQUIRE(collector.wait_for(
        [&](const MessageList& all) {
            return window_from(all, "bin7.distance", settled_s) &&
                   window_from(all, "bin7.battery", settled_s) &&
                   window_from(all, "bin7.tilt", settled_s) &&
                   window_from(all, "bin7.fill", settled_s);
        },
        15s));
    const MessageList all = collector.messages();
    const auto until = settled_s + 2;
    // One good distance (the upright uplink); garbage and tilt are failed samples; the two
    // duplicates and the replay are nowhere.
    const Totals distance = totals(all, "bin7.distance", until);
    CHECK(distance.count == 1);
    CHECK(distance.failed == 2);
    const Totals fill = totals(all, "bin7.fill", until);
    CHECK(fill.count == 1);
    CHECK(fill.failed == 2);
    // Battery and tilt are good in the tilted uplink; only the garbage one fails them.
    const Totals battery = totals(all, "bin7.battery", until);
    CHECK(battery.count == 2);
    CHECK(battery.failed == 1);
    const Totals tilt = totals(all, "bin7.tilt", until);
    CHECK(tilt.count == 2);

    bool saw_distance = false, saw_fill = false, saw_tilted = false;
    for (const auto& m : all) {
        if (!m.json) continue;
        const json& j = *m.json;
        const auto start = parse_utc(j.value("window_start", ""));
        if (!start || *start < started_s - 2) continue;
        const std::string sensor = j.value("sensor", "");
        if (sensor == "bin7.distance" && j.value("count", 0) == 1) {
            saw_distance = true;
            CHECK(j["mean"].get<double>() == 3900.0);
            CHECK(j.value("unit", "") == "mm");
        }
        if (sensor == "bin7.fill" && j.value("count", 0) == 1) {
            saw_fill = true;
            CHECK(j["mean"].get<double>() ==
                  Approx((kEmptyMm - 3900.0) / (kEmptyMm - kFullMm) * 100.0));
            CHECK(j.value("metric", "") == "fill_level");
        }
        if (sensor == "bin7.tilt" && !j["max"].is_null() && j["max"].get<double>() == 1.0)
            saw_tilted = true;
    }
    CHECK(saw_distance);
    CHECK(saw_fill);
    CHECK(saw_tilted);
    std::cout << "lorawan: 6 uplinks published (1 good, 2 duplicates, 1 replay, 1 garbage, "
                 "1 tilted) -> distance windows count "
              << distance.count << ", failed " << distance.failed << "\n"
              << std::flush;
}

TEST_CASE("a silent LoRaWAN bin is reported stale and recovers with its next uplink",
          "[integration][lorawan]") {
    TempDir dir;
    MosquittoBroker broker(dir.path());
    const std::string gateway_id = "it-lora-stale-" + std::to_string(::getpid());
    MqttCollector collector(broker.uri(), std::string("townbrain/v1/") + kTown + "/" + gateway_id +
                                              "/data/bin7.distance");
    GatewayOptions opts;
    opts.towngwd_bin = TOWNGWD_BIN;
    constexpr int kStaleAfterS = 2;
    opts.config = write_config(dir, broker.uri(), gateway_id, kStaleAfterS);
    const auto started = std::chrono::steady_clock::now();
    GatewayProcess gw(opts, dir.path());
    LogOnFailure dump_log_on_failure{gw};

    // Never heard since start: stale after stale_after_s, then a failed sample every interval.
    const auto is_stale_window = [](const ReceivedMessage& m) {
        return m.json && m.json->value("count", -1) == 0 && m.json->value("failed", 0) > 0 &&
               m.json->value("flag", "B") == "B";
    };
    REQUIRE(collector.wait_for(
        [&](const MessageList& all) {
            return std::any_of(all.begin(), all.end(), is_stale_window);
        },
        15s));
    const double first_stale_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::optional<json> status;
    REQUIRE(wait_until(
        [&] {
            status = status_of(gw, dir);
            return status && device_entry(*status, "bin7").value("stale", false);
        },
        5s, 100ms));
    CHECK(device_entry(*status, "bin7")["last_uplink_age_s"].is_null());  // never heard
    CHECK(device_entry(*status, "bin7").value("stale_samples", 0) >= 1);
    CHECK_THAT(gw.log_text(), Catch::Contains("no uplink for") && Catch::Contains("stale"));

    // An uplink: fresh again, good data again.
    FakeChirpstack chirpstack(broker.uri());
    REQUIRE(wait_until(
        [&] {
            chirpstack.up(
                kEui,
                "fresh-" + std::to_string(unix_now_s()) + "-" +
                    std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()),
                static_cast<int>(unix_now_s() % 100000), kUpright);
            status = status_of(gw, dir);
            return status && !device_entry(*status, "bin7").value("stale", true);
        },
        10s, 300ms));
    REQUIRE(collector.wait_for(
        [&](const MessageList& all) {
            return std::any_of(all.begin(), all.end(), [](const ReceivedMessage& m) {
                return m.json && m.json->value("count", 0) >= 1;
            });
        },
        10s));
    std::cout << "lorawan: first stale window " << first_stale_s
              << " s after towngwd started (stale_after_s " << kStaleAfterS << ", 2 s windows)\n"
              << std::flush;
}

TEST_CASE("towngw-sim LoRaWAN bins with duplicate and replay faults reach the windows once",
          "[integration][lorawan][sim]") {
    // The simulator's encoder and event builder were written independently of the gateway's
    // decoder: this is the cross-check over MQTT, with the faults it documents
    // (simulators/README.md): binA duplicated, binB replayed, binC tilted by its scenario, and
    // binD configured but never simulated, so it goes stale.
    TempDir dir;
    MosquittoBroker broker(dir.path());
    const std::string gateway_id = "it-lora-sim-" + std::to_string(::getpid());
    MqttCollector collector(broker.uri(),
                            std::string("townbrain/v1/") + kTown + "/" + gateway_id + "/data/#");
    const auto scenario =
        std::filesystem::path(TOWNGW_SOURCE_DIR) / "simulators/scenarios/lorawan_bins.json";
    const std::string sim_application = "b4e8a1c2-7d3f-4e9a-a6b5-2c1d0e9f8a7b";

    json devices = json::array();
    json sensors = json::array();
    const std::pair<const char*, const char*> bins[] = {{"binA", "24e124713b420001"},
                                                        {"binB", "24e124713b420002"},
                                                        {"binC", "24e124713b420003"},
                                                        {"binD", "24e124713b420004"}};
    for (const auto& [id, eui] : bins) {
        devices.push_back({{"id", id},
                           {"transport",
                            {{"type", "chirpstack"},
                             {"broker", broker.uri()},
                             {"application_id", sim_application},
                             {"dev_eui", eui}}},
                           {"codec", "milesight-em310-udl"},
                           {"interval_s", 2},
                           {"stale_after_s", 4}});
        sensors.push_back({{"id", std::string(id) + ".distance"},
                           {"device", id},
                           {"register", "distance"},
                           {"window_s", 2}});
    }
    sensors.push_back(
        {{"id", "binC.tilt"}, {"device", "binC"}, {"register", "tilt"}, {"window_s", 2}});
    write_json_file(dir / "towngw.json",
                    {{"gateway", {{"town_id", kTown}, {"gateway_id", gateway_id}}},
                     {"mqtt", {{"broker", broker.uri()}}},
                     {"clock", {{"trust", "system"}}},
                     {"devices", devices},
                     {"sensors", sensors}});
    GatewayOptions opts;
    opts.towngwd_bin = TOWNGWD_BIN;
    opts.config = dir / "towngw.json";
    GatewayProcess gw(opts, dir.path());
    LogOnFailure dump_log_on_failure{gw};
    REQUIRE(wait_until(
        [&] {
            const auto status = status_of(gw, dir);
            return status && !(*status)["lorawan"].empty() &&
                   (*status)["lorawan"][0].value("connected", false);
        },
        15s, 100ms));

    ChildProcess sim(
        {TOWNGW_SIM_BIN, "--lorawan", "--broker", broker.uri(), "--scenario", scenario.string(),
         "--fault", "binA:duplicate", "--fault", "binB:replay", "--ready-file",
         (dir / "sim.ready").string(), "--served-log", (dir / "served.jsonl").string()},
        dir / "sim.log");
    REQUIRE(wait_until([&] { return !read_file(dir / "sim.ready").empty(); }, 10s));

    std::optional<json> status;
    const auto enough = [&] {
        status = status_of(gw, dir);
        if (!status) return false;
        const json a = device_entry(*status, "binA"), b = device_entry(*status, "binB"),
                   c = device_entry(*status, "binC"), d = device_entry(*status, "binD");
        return a.value("uplinks", 0) >= 3 && a.value("duplicates", 0) >= 3 &&
               b.value("replays", 0) >= 2 && c.value("uplinks", 0) >= 3 && d.value("stale", false);
    };
    REQUIRE(wait_until(enough, 20s, 200ms));
    INFO("status: " << status->dump());
    const json a = device_entry(*status, "binA");
    const json b = device_entry(*status, "binB");
    // Each binA uplink was published twice: one accepted, one duplicate (off by one while an
    // uplink is in flight between the two copies).
    CHECK(a.value("duplicates", 0) >= a.value("uplinks", 0) - 1);
    CHECK(a.value("duplicates", 0) <= a.value("uplinks", 0));
    CHECK(a.value("replays", -1) == 0);
    CHECK(b.value("duplicates", -1) == 0);
    for (const char* id : {"binA", "binB", "binC"}) {
        INFO(id);
        CHECK(device_entry(*status, id).value("decode_errors", -1) == 0);
        CHECK(device_entry(*status, id).value("last_rssi", 0) == -82);
    }
    CHECK((*status)["lorawan"][0].value("unknown_devices", -1) == 0);

    // Windows: binB's distance is what the simulator served; binC is tilted (distance is a
    // fault, tilt is 1); binD, never heard, has only stale failures.
    REQUIRE(collector.wait_for(
        [&](const MessageList& all) {
            bool b_good = false, c_fault = false, c_tilt = false, d_stale = false;
            for (const auto& m : all) {
                if (!m.json) continue;
                const json& j = *m.json;
                const std::string sensor = j.value("sensor", "");
                if (sensor == "binB.distance" && j.value("count", 0) >= 1)
                    b_good = std::abs(j["mean"].get<double>() - 850.0) < 30.0;
                if (sensor == "binC.distance" && j.value("failed", 0) >= 1 &&
                    j.value("count", -1) == 0)
                    c_fault = true;
                if (sensor == "binC.tilt" && j["last"].is_number())
                    c_tilt = j["last"].get<double>() == 1.0;
                if (sensor == "binD.distance" && j.value("failed", 0) >= 1)
                    d_stale = j.value("count", -1) == 0;
            }
            return b_good && c_fault && c_tilt && d_stale;
        },
        15s));
    std::cout << "lorawan sim: binA uplinks " << a.value("uplinks", 0) << ", duplicates "
              << a.value("duplicates", 0) << "; binB uplinks " << b.value("uplinks", 0)
              << ", replays " << b.value("replays", 0) << "\n"
              << std::flush;
}
