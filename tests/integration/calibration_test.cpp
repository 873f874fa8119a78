// SPDX-License-Identifier: Apache-2.0
// Field calibration against the running daemon over its control protocol
// (docs/control-protocol.md): a pH probe on the simulated RS-485 line is put into buffers (the
// simulator's "immerse" control: the probe then reads what it would read in that buffer), the
// session flags the sensor's data C, points, verification and commit apply new coefficients at
// once, the record lands in the hash-chained history and on MQTT, a rollback restores the
// previous coefficients, everything survives a restart, and bad requests get clear errors.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <csignal>

#include "demo_rig.hpp"
#include "net.hpp"

using namespace std::chrono_literals;
using namespace gw::test;
using namespace gw::test::demo;
using nlohmann::json;

namespace {

constexpr const char* kSensor = "water1.ph";

/// Waits until the daemon's last `n` samples of the sensor all read `value`.
bool wait_reading(DemoRig& rig, double value, std::size_t n = 8) {
    return wait_until(
        [&] {
            const json r =
                daemon_request(rig, {{"cmd", "read"}, {"sensor", kSensor}, {"samples", n}});
            if (!r.value("ok", false) || r["samples"].size() < n) return false;
            return std::all_of(r["samples"].begin(), r["samples"].end(), [&](const json& s) {
                return s.value("quality", "") == "good" &&
                       std::abs(s.value("measured", 0.0) - value) < 1e-4;
            });
        },
        20s, 100ms);
}

/// Data messages of the sensor received so far.
std::vector<json> data_of(DemoRig& rig) {
    std::vector<json> out;
    for (const auto& m : rig.collector().messages())
        if (is_data(m) && sensor_of(m) == kSensor && m.json) out.push_back(*m.json);
    return out;
}

RigOptions fast_polling() {
    RigOptions options;
    options.poll_ms = 250;  // 8 samples in 2 s: points can average over 2 s
    return options;
}

}  // namespace

TEST_CASE(
    "a pH calibration over the control socket: C flag, points, verify, commit, history, "
    "rollback, restart",
    "[integration][calibration]") {
    DemoRig rig("calibration", fast_polling());
    rig.start_gateway();
    REQUIRE(rig.wait_for_windows(1, 30s));

    // Before any calibration: factory state, value == measured.
    json sensors = daemon_request(rig, {{"cmd", "sensors"}});
    REQUIRE(sensors.value("ok", false));
    const auto ph_entry = std::find_if(sensors["sensors"].begin(), sensors["sensors"].end(),
                                       [](const json& s) { return s["id"] == kSensor; });
    REQUIRE(ph_entry != sensors["sensors"].end());
    CHECK((*ph_entry)["calibration"]["state"] == "factory");
    CHECK((*ph_entry)["calibration"]["model"] == "ph");
    CHECK((*ph_entry)["calibrating"] == false);

    const json begin = daemon_request(rig, {{"cmd", "calibration.begin"},
                                            {"sensor", kSensor},
                                            {"technician", "li.wei"},
                                            {"reason", "scheduled"},
                                            {"probe_serial", "PH-2231"}});
    INFO(begin.dump());
    REQUIRE(begin.value("ok", false));
    const std::string session = begin["session"];
    CHECK(begin["model"] == "ph");

    // A second technician cannot open another session on the same probe.
    const json busy = daemon_request(
        rig, {{"cmd", "calibration.begin"}, {"sensor", kSensor}, {"technician", "someone"}});
    CHECK(busy.value("code", "") == "busy");

    // Everything published while the probe is in buffers is flagged C.
    REQUIRE(rig.collector().wait_for(
        [](const MessageList& all) {
            return std::any_of(all.begin(), all.end(), [](const ReceivedMessage& m) {
                return is_data(m) && sensor_of(m) == kSensor && m.json &&
                       m.json->value("flag", "") == "C" &&
                       m.json->value("quality", "") == "calibrating";
            });
        },
        20s));

    // Buffer 6.86 at 25 °C (GB table: 6.864); this probe reads 6.91 in it.
    immerse_ph_probe(rig, 6.91);
    REQUIRE(wait_reading(rig, 6.91));
    json p1 = daemon_request(rig, {{"cmd", "calibration.point"},
                                   {"session", session},
                                   {"buffer", "6.86"},
                                   {"temperature_degc", 25.0},
                                   {"average_s", 2},
                                   {"force", true},
                                   {"standard", {{"name", "GB phosphate"}, {"lot", "B2311"}}}});
    INFO(p1.dump());
    REQUIRE(p1.value("ok", false));
    CHECK(p1["point"]["reference"].get<double>() == Approx(6.864));
    CHECK(p1["point"]["raw"].get<double>() == Approx(6.91).margin(1e-4));

    // Buffer 9.18 at 25 °C (9.182); the probe reads 9.15: slope 96.6 % of Nernst.
    immerse_ph_probe(rig, 9.15);
    REQUIRE(wait_reading(rig, 9.15));
    json p2 = daemon_request(rig, {{"cmd", "calibration.point"},
                                   {"session", session},
                                   {"buffer", "9.18"},
                                   {"temperature_degc", 25.0},
                                   {"average_s", 2},
                                   {"force", true}});
    INFO(p2.dump());
    REQUIRE(p2.value("ok", false));
    REQUIRE(p2.contains("preview"));
    const double slope = p2["preview"]["slope_pct_of_nernst"].get<double>();
    CHECK(slope == Approx(100.0 * (9.15 - 6.91) / (9.182 - 6.864)).epsilon(0.002));
    CHECK(p2["preview"]["verdict"] == "pass");

    // HJ 1147-2020: re-read the first buffer through the new coefficients.
    immerse_ph_probe(rig, 6.91);
    REQUIRE(wait_reading(rig, 6.91));
    const json verify = daemon_request(rig, {{"cmd", "calibration.verify"},
                                             {"session", session},
                                             {"buffer", "6.86"},
                                             {"temperature_degc", 25.0},
                                             {"average_s", 2},
                                             {"force", true}});
    INFO(verify.dump());
    REQUIRE(verify.value("ok", false));
    CHECK(verify["verification"]["passed"] == true);
    CHECK(std::abs(verify["verification"]["deviation"].get<double>()) < 0.01);

    const json commit = daemon_request(
        rig, {{"cmd", "calibration.commit"}, {"session", session}, {"note", "integration test"}});
    INFO(commit.dump());
    REQUIRE(commit.value("ok", false));
    CHECK(commit["version"] == 1);
    const json& record = commit["record"];
    CHECK(record["technician"] == "li.wei");
    CHECK(record["probe_serial"] == "PH-2231");
    CHECK(record["points"].size() == 2);
    CHECK(record["before"]["gain"] == 1.0);
    const double gain = record["after"]["gain"].get<double>();
    const double offset = record["after"]["offset"].get<double>();
    CHECK(gain * 6.91 + offset == Approx(6.864).margin(0.002));
    CHECK(gain * 9.15 + offset == Approx(9.182).margin(0.002));
    CHECK(record["verification"]["passed"] == true);

    // The new coefficients apply at once; the C flag ends; measured keeps the probe's value.
    REQUIRE(rig.collector().wait_for(
        [](const MessageList& all) {
            return std::any_of(all.begin(), all.end(), [](const ReceivedMessage& m) {
                return is_data(m) && sensor_of(m) == kSensor && m.json &&
                       m.json->value("flag", "") == "N" &&
                       (*m.json)["calibration"].value("version", 0) == 1 &&
                       (*m.json)["count"].get<int>() > 0;
            });
        },
        20s));
    for (const auto& d : data_of(rig)) {
        if (d.value("flag", "") != "N" || d["calibration"].value("version", 0) != 1) continue;
        INFO(d.dump());
        CHECK(d["mean"].get<double>() == Approx(6.864).margin(0.002));
        CHECK(d["measured"]["mean"].get<double>() == Approx(6.91).margin(1e-4));
        CHECK(d["calibration"]["state"] == "valid");
    }
    // The calibration event went out through the outbox.
    REQUIRE(rig.collector().wait_for(
        [](const MessageList& all) {
            return std::any_of(all.begin(), all.end(), [](const ReceivedMessage& m) {
                return m.topic.find("/events") != std::string::npos && m.json &&
                       m.json->value("type", "") == "calibration" &&
                       m.json->value("sensor", "") == kSensor;
            });
        },
        10s));

    // Rollback restores the factory coefficients and is itself recorded.
    const json rollback = daemon_request(rig, {{"cmd", "calibration.rollback"},
                                               {"sensor", kSensor},
                                               {"technician", "li.wei"},
                                               {"reason", "wrong buffer lot"}});
    INFO(rollback.dump());
    REQUIRE(rollback.value("ok", false));
    CHECK(rollback["version"] == 2);
    CHECK(rollback["record"]["action"] == "rollback");
    CHECK(rollback["record"]["after"]["gain"] == 1.0);

    const json history = daemon_request(rig, {{"cmd", "calibration.history"}, {"sensor", kSensor}});
    INFO(history.dump());
    REQUIRE(history.value("ok", false));
    CHECK(history["records"].size() == 2);
    CHECK(history["chain"]["ok"] == true);
    const json exported = daemon_request(rig, {{"cmd", "calibration.export"}});
    REQUIRE(exported.value("ok", false));
    REQUIRE(exported["entries"].size() == 2);
    CHECK(exported["entries"][1]["prev_hash"] == exported["entries"][0]["hash"]);

    // The coefficients in force survive a restart.
    rig.gateway().process().signal(SIGTERM);
    REQUIRE(rig.gateway().process().wait_exit(10s));
    rig.start_gateway();
    sensors = daemon_request(rig, {{"cmd", "sensors"}});
    const auto after_restart = std::find_if(sensors["sensors"].begin(), sensors["sensors"].end(),
                                            [](const json& s) { return s["id"] == kSensor; });
    REQUIRE(after_restart != sensors["sensors"].end());
    CHECK((*after_restart)["calibration"]["version"] == 2);
    CHECK((*after_restart)["calibration"]["gain"] == 1.0);
    immerse_ph_probe(rig, std::nullopt);
}

TEST_CASE("a calibration outside the acceptance limits is rejected and records nothing",
          "[integration][calibration]") {
    DemoRig rig("calreject", fast_polling());
    rig.start_gateway();
    REQUIRE(rig.wait_for_windows(1, 30s));
    const json begin = daemon_request(
        rig, {{"cmd", "calibration.begin"}, {"sensor", kSensor}, {"technician", "li.wei"}});
    REQUIRE(begin.value("ok", false));
    const std::string session = begin["session"];
    immerse_ph_probe(rig, 6.90);
    REQUIRE(wait_reading(rig, 6.90));
    REQUIRE(daemon_request(rig, {{"cmd", "calibration.point"},
                                 {"session", session},
                                 {"buffer", "6.86"},
                                 {"temperature_degc", 10.0},
                                 {"average_s", 2},
                                 {"force", true}})
                .value("ok", false));
    // A tired electrode: 8.2 in buffer 9.18 at 10 °C (9.330) is a slope of about 53 %.
    immerse_ph_probe(rig, 8.2);
    REQUIRE(wait_reading(rig, 8.2));
    const json p2 = daemon_request(rig, {{"cmd", "calibration.point"},
                                         {"session", session},
                                         {"buffer", "9.18"},
                                         {"temperature_degc", 10.0},
                                         {"average_s", 2},
                                         {"force", true}});
    REQUIRE(p2.value("ok", false));
    CHECK(p2["preview"]["verdict"] == "reject");
    const json commit = daemon_request(rig, {{"cmd", "calibration.commit"}, {"session", session}});
    INFO(commit.dump());
    CHECK(commit.value("ok", true) == false);
    CHECK(commit.value("code", "") == "rejected");
    REQUIRE(commit.contains("reasons"));
    CHECK(commit["reasons"][0].get<std::string>().find("Nernst") != std::string::npos);
    // The session stays open for another try; aborting it records nothing.
    CHECK(daemon_request(rig, {{"cmd", "calibration.abort"}, {"session", session}})
              .value("ok", false));
    const json history = daemon_request(rig, {{"cmd", "calibration.history"}, {"sensor", kSensor}});
    CHECK(history["records"].empty());
    immerse_ph_probe(rig, std::nullopt);
}

TEST_CASE("bad calibration requests get clear errors naming the culprit",
          "[integration][calibration]") {
    DemoRig rig("calerrors");
    rig.start_gateway();
    const json unknown = daemon_request(
        rig, {{"cmd", "calibration.begin"}, {"sensor", "water9.ph"}, {"technician", "x"}});
    CHECK(unknown.value("code", "") == "unknown_sensor");
    CHECK(unknown.value("error", "").find("water9.ph") != std::string::npos);
    CHECK(unknown.value("error", "").find("water1.ph") != std::string::npos);  // lists sensors

    const json no_tech = daemon_request(rig, {{"cmd", "calibration.begin"}, {"sensor", kSensor}});
    CHECK(no_tech.value("code", "") == "bad_request");
    CHECK(no_tech.value("error", "").find("technician") != std::string::npos);

    const json begin = daemon_request(
        rig, {{"cmd", "calibration.begin"}, {"sensor", kSensor}, {"technician", "x"}});
    REQUIRE(begin.value("ok", false));
    const json bad_temp = daemon_request(rig, {{"cmd", "calibration.point"},
                                               {"session", begin["session"]},
                                               {"buffer", "6.86"},
                                               {"temperature_degc", "warm"}});
    CHECK(bad_temp.value("code", "") == "bad_request");
    CHECK(bad_temp.value("error", "").find("temperature_degc") != std::string::npos);
    const json bad_buffer = daemon_request(rig, {{"cmd", "calibration.point"},
                                                 {"session", begin["session"]},
                                                 {"buffer", "5.5"},
                                                 {"temperature_degc", 20}});
    CHECK(bad_buffer.value("code", "") == "bad_request");
    CHECK(bad_buffer.value("error", "").find("5.5") != std::string::npos);
    const json no_session =
        daemon_request(rig, {{"cmd", "calibration.commit"}, {"session", "c-999"}});
    CHECK(no_session.value("code", "") == "no_session");
    const json unknown_cmd = daemon_request(rig, {{"cmd", "calibrate"}});
    CHECK(unknown_cmd.value("code", "") == "unknown_command");
    CHECK(daemon_request(rig, {{"cmd", "calibration.abort"}, {"session", begin["session"]}})
              .value("ok", false));
    // The daemon is still fine.
    CHECK(daemon_request(rig, {{"cmd", "sensors"}}).value("ok", false));
}
