// SPDX-License-Identifier: Apache-2.0
// End-to-end tests: a private mosquitto, towngw-sim and towngwd run as separate processes on
// 127.0.0.1 with the demo config (config/demo.json) and 2 s windows. What they check:
//   - every demo sensor publishes well-formed window messages whose min/max/last are values
//     the simulator actually served, with a gateway-wide strictly increasing seq;
//   - the retained birth, the last will on SIGKILL and the shutdown status on SIGTERM;
//   - `towngw status --json` over the control socket;
//   - `towngwd --check-config` exit codes and error lines;
//   - seq is never reused after a restart with the same outbox.
// Each test case builds its own DemoRig (own ports, own scratch directory), so ctest -j is safe.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <csignal>
#include <ctime>
#include <map>
#include <set>
#include <thread>

#include "demo_rig.hpp"

using namespace std::chrono_literals;
using namespace gw::test;
using namespace gw::test::demo;
using nlohmann::json;

namespace {

constexpr int kExitConfig = 78;  // EX_CONFIG

/// "2026-11-28T00:01:00Z" for a whole second in Unix ms (the messages' window_start format).
std::string utc_text(std::int64_t unix_ms) {
    const std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return text;
}

/// Fill level in % for a distance in mm, as configured for bin1 (empty 1200 mm, full 300 mm).
double fill_percent(double distance_mm) {
    return std::clamp((1200.0 - distance_mm) / (1200.0 - 300.0), 0.0, 1.0) * 100.0;
}

bool close_enough(double a, double b) {
    return std::abs(a - b) <= 1e-6 * std::max(std::abs(a), std::abs(b)) + 1e-12;
}

/// Checks the fields every data message must carry (contract in docs / the daemon's README).
void check_data_fields(const ReceivedMessage& m, const SensorSpec& s, const std::string& gw_id) {
    INFO("topic " << m.topic << "\npayload " << m.payload);
    REQUIRE(m.json);
    const json& j = *m.json;
    REQUIRE(j.is_object());
    CHECK_FALSE(m.retained);
    CHECK(m.qos == 1);
    CHECK(j.value("v", 0) == 1);
    CHECK(j.value("town_id", "") == kTownId);
    CHECK(j.value("gateway_id", "") == gw_id);
    CHECK(j.value("sensor", "") == s.id);
    CHECK(j.value("device", "") == s.device);
    CHECK(j.value("metric", "") == s.metric);
    CHECK(j.value("unit", "") == s.unit);
    REQUIRE(j.contains("seq"));
    CHECK(j["seq"].is_number_integer());
    CHECK(j.value("seq", 0) >= 1);
    CHECK(j.value("window_s", 0) == kWindowS);

    REQUIRE(j.contains("window_start"));
    REQUIRE(j.contains("window_end"));
    const auto start = parse_utc(j["window_start"].get<std::string>());
    const auto end = parse_utc(j["window_end"].get<std::string>());
    REQUIRE(start);
    REQUIRE(end);
    CHECK(*end - *start == kWindowS);
    CHECK(*start % kWindowS == 0);  // windows align to multiples of window_s since the epoch

    REQUIRE(j.contains("count"));
    REQUIRE(j.contains("expected"));
    CHECK(j["count"].is_number_integer());
    CHECK(j["expected"].is_number_integer());
    const int count = j.value("count", -1);
    const int expected = j.value("expected", -1);
    CHECK(expected >= 1);
    CHECK(count >= 0);
    // Samples belong to the window of their timestamp; poll jitter at a boundary can put one
    // extra sample into a window, but never more.
    CHECK(count <= expected + 1);

    REQUIRE(j.contains("failed"));
    CHECK(j["failed"].is_number_integer());
    const int failed = j.value("failed", -1);
    CHECK(failed >= 0);

    const std::string quality = j.value("quality", "");
    CHECK((quality == "good" || quality == "partial" || quality == "comm_error" ||
           quality == "no_data"));
    if (quality == "good") {
        // docs/mqtt.md: no failed poll and count >= 75 % of expected.
        CHECK(failed == 0);
        CHECK(4 * count >= 3 * expected);
    }
    for (const char* key : {"min", "max", "mean", "last"}) {
        INFO("field " << key);
        REQUIRE(j.contains(key));
        if (count > 0) {
            CHECK(j[key].is_number());
        } else {
            CHECK(j[key].is_null());
        }
    }
    if (count > 0 && j["min"].is_number() && j["max"].is_number() && j["mean"].is_number()) {
        const double mn = j["min"].get<double>();
        const double mx = j["max"].get<double>();
        const double mean = j["mean"].get<double>();
        const double eps = 1e-9 * std::max({1.0, std::abs(mn), std::abs(mx)});
        CHECK(mn <= mx);
        CHECK(mn - eps <= mean);
        CHECK(mean <= mx + eps);
    }
}

/// Served values the sensor's published numbers may come from.
std::vector<double> served_candidates(const std::vector<ServedValue>& served, const SensorSpec& s) {
    std::vector<double> out;
    for (const auto& v : served) {
        if (v.device == s.device && v.point == s.point) {
            out.push_back(s.fill ? fill_percent(v.value) : v.value);
        }
    }
    return out;
}

bool is_served(double x, const std::vector<double>& candidates) {
    return std::any_of(candidates.begin(), candidates.end(),
                       [x](double v) { return close_enough(x, v); });
}

/// The values of a data message that must be served values: min, max, last (when count > 0).
std::vector<std::pair<std::string, double>> served_fields(const json& j) {
    std::vector<std::pair<std::string, double>> out;
    if (j.value("count", 0) > 0) {
        for (const char* key : {"min", "max", "last"}) {
            if (j.contains(key) && j[key].is_number()) {
                out.emplace_back(key, j[key].get<double>());
            }
        }
    }
    return out;
}

const SensorSpec* find_sensor(const std::string& id) {
    for (const auto& s : demo_sensors()) {
        if (s.id == id) {
            return &s;
        }
    }
    return nullptr;
}

}  // namespace

TEST_CASE("every demo sensor publishes windows built from served values", "[integration][e2e]") {
    DemoRig rig("data");
    rig.start_gateway();

    INFO("waiting for the first window of all " << kSensorCount << " sensors");
    REQUIRE(rig.wait_for_windows(1, 15s));
    // Three windows per sensor: the first may be partial, later ones must be complete.
    REQUIRE(rig.wait_for_windows(3, 20s));

    const auto all = rig.collector().messages();
    const auto data = data_messages(all);

    // Only the configured sensors publish data.
    std::set<std::string> topics;
    for (const auto& m : data) {
        topics.insert(m.topic);
    }
    std::set<std::string> expected_topics;
    for (const auto& s : demo_sensors()) {
        expected_topics.insert(rig.topic_base() + "data/" + s.id);
    }
    CHECK(topics == expected_topics);

    for (const auto& [sensor_id, msgs] : by_sensor(all)) {
        const SensorSpec* spec = find_sensor(sensor_id);
        INFO("sensor " << sensor_id);
        REQUIRE(spec != nullptr);
        for (std::size_t i = 0; i < msgs.size(); ++i) {
            check_data_fields(msgs[i], *spec, rig.gateway_id());
            const std::string quality = msgs[i].json->value("quality", "");
            INFO("window #" << i << ": " << msgs[i].payload);
            if (i == 0) {
                CHECK((quality == "good" || quality == "partial"));
            } else {
                CHECK(quality == "good");
            }
        }
    }

    // min, max and last must be values the simulator served for that device and register. The
    // served log may lag the wire by a moment, so re-read it until everything matches.
    auto unmatched = [&] {
        const auto served = rig.sim().served();
        std::vector<std::string> misses;
        for (const auto& m : data) {
            const SensorSpec* spec = find_sensor(sensor_of(m));
            if (spec == nullptr || !m.json) {
                continue;
            }
            const auto candidates = served_candidates(served, *spec);
            for (const auto& [key, value] : served_fields(*m.json)) {
                if (!is_served(value, candidates)) {
                    misses.push_back(spec->id + "." + key + "=" + json(value).dump() + " (" +
                                     std::to_string(candidates.size()) + " served values) in " +
                                     m.payload);
                }
            }
        }
        return misses;
    };
    std::vector<std::string> misses;
    wait_until(
        [&] {
            misses = unmatched();
            return misses.empty();
        },
        5s, 100ms);
    for (const auto& miss : misses) {
        INFO(miss);
        CHECK(miss.empty());
    }
    CHECK(misses.empty());
}

TEST_CASE("seq increases strictly across all sensors in arrival order", "[integration][e2e]") {
    DemoRig rig("seq");
    rig.start_gateway();
    REQUIRE(rig.wait_for_windows(3, 25s));

    const auto data = data_messages(rig.collector().messages());
    REQUIRE(data.size() >= 3 * kSensorCount);
    std::int64_t previous = -1;
    for (const auto& m : data) {
        const auto seq = seq_of(m);
        INFO("previous seq " << previous << ", message " << m.topic << " " << m.payload);
        REQUIRE(seq >= 0);
        CHECK(seq > previous);
        previous = seq;
    }
}

TEST_CASE("the birth status is retained for late subscribers", "[integration][e2e][status]") {
    DemoRig rig("birth");
    rig.start_gateway();
    const auto online = status_is(rig.status_topic(), "online");
    REQUIRE(rig.collector().wait_for(
        [&](const MessageList& all) { return std::any_of(all.begin(), all.end(), online); }, 15s));

    const auto births = on_topic(rig.collector().messages(), rig.status_topic());
    REQUIRE_FALSE(births.empty());
    const auto& birth = births.back();
    INFO("birth " << birth.payload);
    REQUIRE(birth.json);
    const json& j = *birth.json;
    CHECK(birth.qos == 1);
    CHECK(j.value("v", 0) == 1);
    CHECK(j.value("state", "") == "online");
    CHECK(j.value("town_id", "") == kTownId);
    CHECK(j.value("gateway_id", "") == rig.gateway_id());
    CHECK_FALSE(j.value("version", "").empty());
    REQUIRE(j.contains("started_at"));
    CHECK(parse_utc(j["started_at"].get<std::string>()));
    REQUIRE(j.contains("sensors"));
    REQUIRE(j["sensors"].is_array());
    CHECK(j["sensors"].size() == static_cast<std::size_t>(kSensorCount));
    for (const auto& spec : demo_sensors()) {
        INFO("sensor " << spec.id);
        const auto& list = j["sensors"];
        const auto it = std::find_if(list.begin(), list.end(),
                                     [&](const json& s) { return s.value("id", "") == spec.id; });
        REQUIRE(it != list.end());
        CHECK(it->value("device", "") == spec.device);
        CHECK(it->value("metric", "") == spec.metric);
        CHECK(it->value("unit", "") == spec.unit);
        CHECK(it->value("window_s", 0) == kWindowS);
    }

    // A subscriber that connects after the birth still gets it, flagged as retained.
    MqttCollector late(rig.broker().uri(), rig.status_topic());
    REQUIRE(late.wait_for([](const MessageList& all) { return !all.empty(); }, 10s));
    const auto got = late.messages().front();
    INFO("late subscriber got " << got.payload);
    CHECK(got.retained);
    REQUIRE(got.json);
    CHECK(got.json->value("state", "") == "online");
    CHECK(got.json->value("started_at", "") == j.value("started_at", ""));
}

TEST_CASE("SIGKILL of the daemon makes the broker publish the retained last will",
          "[integration][e2e][status]") {
    DemoRig rig("will");
    rig.start_gateway();
    REQUIRE(rig.collector().wait_for(
        [&](const MessageList& all) {
            return std::any_of(all.begin(), all.end(), status_is(rig.status_topic(), "online"));
        },
        15s));

    rig.gateway().process().signal(SIGKILL);
    const auto st = rig.gateway().process().wait_exit(10s);
    REQUIRE(st);
    CHECK(st->signaled);

    // The socket closed without DISCONNECT, so mosquitto publishes the will at once.
    const auto lost = status_is(rig.status_topic(), "offline", "connection_lost");
    REQUIRE(rig.collector().wait_for(
        [&](const MessageList& all) { return std::any_of(all.begin(), all.end(), lost); }, 10s));
    const auto msgs = rig.collector().messages();
    const auto will = *std::find_if(msgs.begin(), msgs.end(), lost);
    INFO("will " << will.payload);
    CHECK(will.json->value("v", 0) == 1);
    CHECK(will.json->value("town_id", "") == kTownId);
    CHECK(will.json->value("gateway_id", "") == rig.gateway_id());

    MqttCollector late(rig.broker().uri(), rig.status_topic());
    REQUIRE(late.wait_for([](const MessageList& all) { return !all.empty(); }, 10s));
    const auto got = late.messages().front();
    INFO("late subscriber got " << got.payload);
    CHECK(got.retained);
    CHECK(lost(got));
}

TEST_CASE("SIGTERM stops the daemon cleanly with a shutdown status", "[integration][e2e][status]") {
    DemoRig rig("term");
    rig.start_gateway();
    REQUIRE(rig.wait_for_windows(1, 15s));

    rig.gateway().process().signal(SIGTERM);
    const auto st = rig.gateway().process().wait_exit(10s);
    REQUIRE(st);
    INFO("towngwd " << st->describe());
    CHECK(st->exited_with(0));

    const auto shutdown = status_is(rig.status_topic(), "offline", "shutdown");
    REQUIRE(rig.collector().wait_for(
        [&](const MessageList& all) { return std::any_of(all.begin(), all.end(), shutdown); },
        10s));

    // After a clean disconnect the will must not fire: the retained status stays "shutdown".
    MqttCollector late(rig.broker().uri(), rig.status_topic());
    REQUIRE(late.wait_for([](const MessageList& all) { return !all.empty(); }, 10s));
    const auto got = late.messages().front();
    INFO("late subscriber got " << got.payload);
    CHECK(got.retained);
    CHECK(shutdown(got));
}

TEST_CASE("towngw status reports the running daemon over the control socket",
          "[integration][e2e][cli]") {
    DemoRig rig("cli");
    auto& gw = rig.start_gateway();
    REQUIRE(rig.wait_for_windows(1, 15s));

    const auto r =
        run_command({TOWNGW_CLI_BIN, "status", "--socket", gw.control_socket().string(), "--json"},
                    rig.dir().path());
    INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
    REQUIRE(r.status);
    REQUIRE(r.status->exited_with(0));
    const auto j = json::parse(r.out, nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    REQUIRE(j.is_object());
    REQUIRE(j.contains("uptime_s"));
    CHECK(j["uptime_s"].is_number());
    CHECK(j["uptime_s"].get<double>() >= 0);
    REQUIRE(j.contains("mqtt"));
    CHECK(j["mqtt"].value("connected", false));
    CHECK(j["mqtt"].value("broker", "") == rig.broker().uri());
    REQUIRE(j.contains("outbox"));
    REQUIRE(j["outbox"].contains("depth"));
    CHECK(j["outbox"]["depth"].is_number_integer());
    CHECK(j["outbox"]["depth"].get<std::int64_t>() >= 0);
    REQUIRE(j.contains("sensors"));
    REQUIRE(j["sensors"].is_array());
    CHECK(j["sensors"].size() == static_cast<std::size_t>(kSensorCount));
    for (const auto& spec : demo_sensors()) {
        INFO("sensor " << spec.id);
        const auto& list = j["sensors"];
        const auto it = std::find_if(list.begin(), list.end(),
                                     [&](const json& s) { return s.value("id", "") == spec.id; });
        REQUIRE(it != list.end());
        CHECK(it->value("unit", "") == spec.unit);
        // Every sensor has published a window, so each has a last value and a quality.
        REQUIRE(it->contains("last"));
        CHECK((*it)["last"].is_number());
        CHECK_FALSE(it->value("quality", "").empty());
        REQUIRE(it->contains("updated_at"));
    }

    // The human-readable form names every sensor too.
    const auto text = run_command(
        {TOWNGW_CLI_BIN, "status", "--socket", gw.control_socket().string()}, rig.dir().path());
    INFO("text stdout:\n" << text.out << "\ntext stderr:\n" << text.err);
    REQUIRE(text.status);
    CHECK(text.status->exited_with(0));
    for (const auto& spec : demo_sensors()) {
        CHECK(text.out.find(spec.id) != std::string::npos);
    }
}

TEST_CASE("towngwd --check-config accepts the demo config and reports every error",
          "[integration][config]") {
    TempDir dir;

    SECTION("the shipped demo config is valid") {
        const auto r =
            run_command({TOWNGWD_BIN, "--check-config", kDemoConfig.string()}, dir.path());
        INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
        REQUIRE(r.status);
        CHECK(r.status->exited_with(0));
    }

    SECTION("a broken copy fails with EX_CONFIG and one line per error") {
        // Profiles are relative to the config file, so copy them alongside.
        std::filesystem::copy(kSourceDir / "config" / "devices", dir / "devices",
                              std::filesystem::copy_options::recursive);
        json cfg = read_json_file(kDemoConfig);
        cfg["sensors"][3]["window_s"] = 0;  // must be an integer >= 1
        cfg["sensors"][5]["device"] = "no-such-device";
        const auto broken = dir / "broken.json";
        write_json_file(broken, cfg);

        const auto r = run_command({TOWNGWD_BIN, "--check-config", broken.string()}, dir.path());
        INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
        REQUIRE(r.status);
        CHECK(r.status->exited_with(kExitConfig));
        CHECK(r.err.find("error: " + broken.string() + ": /sensors/3/window_s: ") !=
              std::string::npos);
        CHECK(r.err.find("error: " + broken.string() + ": /sensors/5/device: ") !=
              std::string::npos);
    }

    SECTION("a --set override can break an otherwise valid config") {
        const auto r = run_command({TOWNGWD_BIN, "--check-config", kDemoConfig.string(), "--set",
                                    "/sensors/0/device=no-such-device"},
                                   dir.path());
        INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
        REQUIRE(r.status);
        CHECK(r.status->exited_with(kExitConfig));
        CHECK(r.err.find(kDemoConfig.string()) != std::string::npos);
        CHECK(r.err.find("/sensors/0/device: ") != std::string::npos);
    }
}

TEST_CASE("seq is never reused after a restart with the same outbox",
          "[integration][e2e][outbox]") {
    DemoRig rig("restart");
    rig.start_gateway();
    REQUIRE(rig.wait_for_windows(2, 20s));

    rig.gateway().process().signal(SIGTERM);
    const auto st = rig.gateway().process().wait_exit(10s);
    REQUIRE(st);
    INFO("first towngwd " << st->describe());
    REQUIRE(st->exited_with(0));
    // Everything the first run sent has arrived once its shutdown status has.
    REQUIRE(rig.collector().wait_for(
        [&](const MessageList& all) {
            return std::any_of(all.begin(), all.end(),
                               status_is(rig.status_topic(), "offline", "shutdown"));
        },
        10s));

    const auto before = data_messages(rig.collector().messages());
    std::map<std::int64_t, std::string> seen;  // seq -> payload
    std::int64_t max_before = -1;
    for (const auto& m : before) {
        seen[seq_of(m)] = m.payload;
        max_before = std::max(max_before, seq_of(m));
    }
    REQUIRE(max_before >= 0);
    const std::size_t mark = rig.collector().size();

    rig.start_gateway();  // same scratch dir, hence the same outbox.db
    // Wait for a message the first run never sent (re-deliveries carry an old seq).
    REQUIRE(rig.collector().wait_for(
        [&](const MessageList& all) {
            for (std::size_t i = mark; i < all.size(); ++i) {
                if (is_data(all[i]) && seen.count(seq_of(all[i])) == 0) {
                    return true;
                }
            }
            return false;
        },
        15s));

    const auto all = rig.collector().messages();
    bool first_new_checked = false;
    for (std::size_t i = mark; i < all.size(); ++i) {
        if (!is_data(all[i])) {
            continue;
        }
        const auto seq = seq_of(all[i]);
        INFO("max seq before restart " << max_before << "; after restart: " << all[i].payload);
        const auto old = seen.find(seq);
        if (old != seen.end()) {
            // A re-delivery from the outbox must be the same message, not a reused number.
            CHECK(old->second == all[i].payload);
            continue;
        }
        if (!first_new_checked) {
            CHECK(seq > max_before);
            first_new_checked = true;
        }
        CHECK(seq > max_before);
    }
    CHECK(first_new_checked);
}

TEST_CASE("a broker outage loses nothing: the backlog arrives without a seq gap",
          "[integration][e2e][outage]") {
    DemoRig rig("outage", /*persistent_broker=*/true);
    // A durable subscriber: the broker keeps its session and queues QoS 1 messages for it
    // across the broker's own restart, so what it receives is exactly what the gateway sent.
    MqttCollector durable(rig.broker().uri(), rig.topic_base() + "data/#",
                          /*clean_session=*/false, "durable-" + rig.gateway_id());
    rig.start_gateway();
    REQUIRE(rig.wait_for_windows(1, 20s));

    rig.broker().stop();
    // Windows keep closing while the broker is away; they wait in the outbox.
    std::optional<json> status;
    REQUIRE(wait_until(
        [&] {
            status = daemon_status(rig);
            return status && !(*status)["mqtt"].value("connected", true) &&
                   (*status)["outbox"].value("depth", 0) >= 2 * kSensorCount;
        },
        30s, 200ms));
    const auto last_buffered = (*status)["outbox"]["last_seq"].get<std::int64_t>();
    INFO("seq " << last_buffered << " was buffered while the broker was down");

    rig.broker().start();
    auto seqs_of = [](const MessageList& all) {
        std::set<std::int64_t> seqs;
        for (const auto& m : all) {
            if (is_data(m)) {
                seqs.insert(seq_of(m));
            }
        }
        return seqs;
    };
    // Every seq from the first to the last buffered one arrives: no gap.
    REQUIRE(durable.wait_for(
        [&](const MessageList& all) {
            const auto seqs = seqs_of(all);
            for (std::int64_t s = 1; s <= last_buffered; ++s) {
                if (seqs.count(s) == 0) {
                    return false;
                }
            }
            return true;
        },
        30s));

    // Re-deliveries (at least once) carry the same seq and the same payload.
    std::map<std::int64_t, std::string> payload_of;
    for (const auto& m : durable.messages()) {
        if (!is_data(m)) {
            continue;
        }
        const auto [it, inserted] = payload_of.emplace(seq_of(m), m.payload);
        if (!inserted) {
            INFO("seq " << it->first << " delivered twice");
            CHECK(it->second == m.payload);
        }
    }
    CHECK(payload_of.begin()->first == 1);

    // The daemon noticed the outage, reconnected, and drains its outbox.
    REQUIRE(wait_until(
        [&] {
            status = daemon_status(rig);
            return status && (*status)["mqtt"].value("connected", false) &&
                   (*status)["outbox"].value("depth", 1000) < kSensorCount;
        },
        20s, 200ms));
    CHECK((*status)["mqtt"].value("connection_losses", 0) >= 1);
}

TEST_CASE("a silent device is published as comm_error windows, not as silence",
          "[integration][e2e][devices]") {
    DemoRig rig("devfail");
    rig.start_gateway();
    REQUIRE(rig.wait_for_windows(1, 20s));

    // Every simulated device goes away at once: the RTU pty disappears, the TCP port refuses.
    rig.sim().process().signal(SIGTERM);
    REQUIRE(rig.sim().process().wait_exit(10s));
    const std::size_t mark = rig.collector().size();

    auto dead_window = [&](const MessageList& all, const std::string& sensor) {
        for (std::size_t i = mark; i < all.size(); ++i) {
            const auto& m = all[i];
            if (is_data(m) && sensor_of(m) == sensor && m.json &&
                m.json->value("quality", "") == "comm_error") {
                return true;
            }
        }
        return false;
    };
    REQUIRE(rig.collector().wait_for(
        [&](const MessageList& all) {
            return std::all_of(demo_sensors().begin(), demo_sensors().end(),
                               [&](const SensorSpec& s) { return dead_window(all, s.id); });
        },
        20s));

    const auto all = rig.collector().messages();
    for (std::size_t i = mark; i < all.size(); ++i) {
        const auto& m = all[i];
        if (!is_data(m) || !m.json || m.json->value("quality", "") != "comm_error") {
            continue;
        }
        INFO(m.topic << " " << m.payload);
        CHECK(m.json->value("count", -1) == 0);
        CHECK(m.json->value("failed", 0) >= 1);
        CHECK((*m.json)["mean"].is_null());
        CHECK((*m.json)["last"].is_null());
    }

    // The control socket says which devices are down and why.
    const auto status = daemon_status(rig);
    REQUIRE(status);
    for (const auto& device : (*status)["devices"]) {
        INFO(device.dump());
        CHECK_FALSE(device.value("online", true));
        CHECK_FALSE(device.value("last_error", "").empty());
    }
}

TEST_CASE(
    "a window open across a restart is published once, with the samples from before and "
    "after it",
    "[integration][e2e][outbox]") {
    constexpr int kWindow = 10;         // s
    constexpr int kPollMs = 500;        // 20 samples per window
    constexpr int kStopIntoWindow = 6;  // s into the window: ~12 samples before the stop
    RigOptions options;
    options.window_s = kWindow;
    options.poll_ms = kPollMs;
    DemoRig rig("resume", options);
    rig.start_gateway();
    REQUIRE(rig.wait_for_windows(1, 30s));

    // The window to interrupt: the next whole one, so every sensor polls from its start.
    using Clock = std::chrono::system_clock;
    const auto now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
            .count();
    const std::int64_t window_ms = kWindow * 1000;
    const std::int64_t start_ms = (now_ms / window_ms + 1) * window_ms;
    // Waiting for a moment on the wall clock (the condition), not for something to happen.
    std::this_thread::sleep_until(
        Clock::time_point(std::chrono::milliseconds(start_ms + kStopIntoWindow * 1000)));
    rig.gateway().process().signal(SIGTERM);  // a stop stores every open window's state
    const auto st = rig.gateway().process().wait_exit(10s);
    REQUIRE(st);
    REQUIRE(st->exited_with(0));
    const auto restart_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
            .count();
    rig.start_gateway();

    const std::string window_start = utc_text(start_ms);
    auto of_window = [&](const MessageList& all) {
        std::map<std::string, std::set<std::int64_t>> seqs;  // sensor -> seqs
        for (const auto& m : all)
            if (is_data(m) && m.json && m.json->value("window_start", "") == window_start)
                seqs[sensor_of(m)].insert(seq_of(m));
        return seqs;
    };
    REQUIRE(rig.collector().wait_for(
        [&](const MessageList& all) { return of_window(all).size() == demo_sensors().size(); },
        30s));

    // After the restart a sensor can have been polled at most this often in that window.
    const auto after_restart_max = (start_ms + window_ms - restart_ms) / kPollMs + 1;
    const auto all = rig.collector().messages();
    for (const auto& [sensor, seqs] : of_window(all)) {
        INFO("sensor " << sensor << ", window " << window_start);
        CHECK(seqs.size() == 1);  // published once, not once per run
        for (const auto& m : all) {
            if (!is_data(m) || sensor_of(m) != sensor || !m.json ||
                m.json->value("window_start", "") != window_start)
                continue;
            const auto count = m.json->value("count", 0) + m.json->value("failed", 0);
            INFO(m.payload << "\nat most " << after_restart_max << " samples after the restart");
            // The samples from before the stop are in it: more than the restart alone allows.
            CHECK(count > after_restart_max + 3);
            CHECK(count <= kWindow * 1000 / kPollMs + 1);
        }
    }
}
