// SPDX-License-Identifier: Apache-2.0
// The remote commands that touch sensors (docs/mqtt.md "Remote commands"): `read-now` reads a
// Modbus device once more, between scheduled polls, and answers with what the simulator serves
// (a dead device gives a reason, not a hang); `set-window` changes a sensor's window length at
// once, announces it (event + birth), survives a restart, and yields to a configuration file
// edited since. Every reply and event validates against its schema.
#include <catch2/catch.hpp>
#include <cmath>

#include "demo_rig.hpp"

using namespace std::chrono_literals;
using namespace gw::test;
using namespace gw::test::demo;
using nlohmann::json;

namespace {

json reply_to(DemoRig& rig, const std::string& name, const json& request_id) {
    const auto reply = command_reply(rig, name, request_id, 15s);
    INFO("no reply to " << name << " with request_id " << request_id.dump() << "\n"
                        << rig.describe());
    REQUIRE(reply);
    return *reply;
}

/// window_s of `sensor` in the newest birth received, or -1 before any.
std::int64_t birth_window_s(const MessageList& all, const std::string& status_topic,
                            const std::string& sensor) {
    for (auto m = all.rbegin(); m != all.rend(); ++m) {
        if (m->topic != status_topic || !m->json || m->json->value("state", "") != "online")
            continue;
        for (const auto& s : (*m->json)["sensors"])
            if (s.value("id", "") == sensor) return s.value("window_s", -1);
        return -1;
    }
    return -1;
}

}  // namespace

TEST_CASE("read-now reads a Modbus sensor between scheduled polls, and a dead device says why",
          "[integration][commands]") {
    DemoRig rig("readnow");
    rig.start_gateway();
    REQUIRE(rig.wait_for_windows(1, 30s));

    // The simulated probe reads exactly 7.31 from now on (a buffer): the on-demand read must
    // return it, decoded, scaled and through the (factory) calibration.
    immerse_ph_probe(rig, 7.31);
    send_command(rig, "read-now", R"({"request_id": "r1", "sensor": "water1.ph"})");
    json r = reply_to(rig, "read-now", "r1");
    INFO(r.dump());
    REQUIRE(r["ok"] == true);
    CHECK(r["result"]["sensor"] == "water1.ph");
    CHECK(r["result"]["on_demand"] == true);
    CHECK(r["result"]["quality"] == "good");
    CHECK(r["result"]["unit"] == "pH");
    CHECK(std::abs(r["result"]["value"].get<double>() - 7.31) < 1e-4);
    CHECK(std::abs(r["result"]["measured"].get<double>() - 7.31) < 1e-4);
    CHECK(r["result"]["round_trip_ms"].get<double>() > 0);

    // The bin over Modbus TCP: distance in mm, fill in % (derived from the same read).
    send_command(rig, "read-now", R"({"request_id": "r2", "sensor": "bin1.fill"})");
    r = reply_to(rig, "read-now", "r2");
    INFO(r.dump());
    REQUIRE(r["ok"] == true);
    CHECK(r["result"]["unit"] == "%");
    CHECK(r["result"]["value"].get<double>() >= 0.0);
    CHECK(r["result"]["value"].get<double>() <= 100.0);

    // Bad requests get a reason.
    send_command(rig, "read-now", R"({"request_id": "r3", "sensor": "water9.ph"})");
    r = reply_to(rig, "read-now", "r3");
    CHECK(r["ok"] == false);
    CHECK_THAT(r["error"].get<std::string>(), Catch::Contains("unknown sensor \"water9.ph\""));
    send_command(rig, "read-now", R"({"request_id": "r4"})");
    r = reply_to(rig, "read-now", "r4");
    CHECK(r["ok"] == false);
    CHECK_THAT(r["error"].get<std::string>(), Catch::Contains("\"sensor\""));

    // A device that stops answering: the reply names it and the reason (no answer, or the
    // back-off that spares the line), within its timeout, and the daemon keeps going.
    REQUIRE(rig.sim()
                .control({{"fault", {{"device", "bin1"}, {"kind", "timeout"}}}})
                .value("ok", false));
    send_command(rig, "read-now", R"({"request_id": "r5", "sensor": "bin1.distance"})");
    r = reply_to(rig, "read-now", "r5");
    INFO(r.dump());
    CHECK(r["ok"] == false);
    CHECK_THAT(r["error"].get<std::string>(), Catch::Contains("\"bin1\""));
    send_command(rig, "ping", R"({"request_id": "alive"})");
    CHECK(reply_to(rig, "ping", "alive")["ok"] == true);

    const auto report =
        validate_against_schemas(rig, messages_on(rig, {"/reply/"}), "replies.jsonl");
    INFO(report.text);
    CHECK(report.valid);
}

TEST_CASE("set-window changes a window length at once, persists it, and yields to an edited file",
          "[integration][commands]") {
    DemoRig rig("setwindow");
    rig.start_gateway();
    REQUIRE(rig.wait_for_windows(1, 30s));
    const std::string sensor = "water1.ph";

    // Refused values name the rule.
    send_command(rig, "set-window",
                 R"({"request_id": "w1", "sensor": "water1.ph", "window_s": 7})");
    json r = reply_to(rig, "set-window", "w1");
    CHECK(r["ok"] == false);
    CHECK_THAT(r["error"].get<std::string>(), Catch::Contains("must divide a day"));
    send_command(rig, "set-window",
                 R"({"request_id": "w2", "sensor": "water1.ph", "window_s": "10"})");
    r = reply_to(rig, "set-window", "w2");
    CHECK(r["ok"] == false);
    CHECK_THAT(r["error"].get<std::string>(), Catch::Contains("\"window_s\""));

    send_command(
        rig, "set-window",
        R"({"request_id": "w3", "sensor": "water1.ph", "window_s": 4, "from": "ops-test"})");
    r = reply_to(rig, "set-window", "w3");
    INFO(r.dump());
    REQUIRE(r["ok"] == true);
    CHECK(r["result"]["changed"] == true);
    CHECK(r["result"]["window_s"] == 4);
    CHECK(r["result"]["previous_window_s"] == kWindowS);

    // Announced: a stored event with the origin, and a new birth listing the new length.
    REQUIRE(rig.collector().wait_for(
        [&](const MessageList& all) {
            const bool event = std::any_of(all.begin(), all.end(), [&](const ReceivedMessage& m) {
                return m.topic == rig.topic_base() + "events" && m.json &&
                       m.json->value("type", "") == "window_changed" &&
                       m.json->value("sensor", "") == sensor && m.json->value("window_s", 0) == 4 &&
                       m.json->value("origin", "").find("ops-test") != std::string::npos &&
                       seq_of(m) > 0;
            });
            return event && birth_window_s(all, rig.status_topic(), sensor) == 4;
        },
        15s));
    // The next windows of that sensor are 4 s long and aligned; the others keep theirs.
    auto four_second_windows = [&](const MessageList& all) {
        std::size_t n = 0;
        for (const auto& m : all)
            if (is_data(m) && sensor_of(m) == sensor && m.json && m.json->value("window_s", 0) == 4)
                ++n;
        return n;
    };
    REQUIRE(rig.collector().wait_for(
        [&](const MessageList& all) { return four_second_windows(all) >= 2; }, 30s));
    for (const auto& m : rig.collector().messages()) {
        if (!is_data(m) || !m.json) continue;
        if (sensor_of(m) == sensor && m.json->value("window_s", 0) == 4) {
            const std::string start = m.json->value("window_start", "");
            INFO(start);
            // "…:SS.000Z" with SS a multiple of 4
            const int seconds = std::stoi(start.substr(17, 2));
            CHECK(seconds % 4 == 0);
        }
        if (sensor_of(m) != sensor) CHECK(m.json->value("window_s", 0) == kWindowS);
    }

    // A restart keeps the change.
    const auto before_restart = rig.collector().size();
    rig.start_gateway();
    REQUIRE(rig.collector().wait_for(
        [&](const MessageList& all) {
            if (all.size() <= before_restart) return false;
            const MessageList since(all.begin() + static_cast<std::ptrdiff_t>(before_restart),
                                    all.end());
            return birth_window_s(since, rig.status_topic(), sensor) == 4;
        },
        20s));

    // An edited file wins over the older remote change (and the change is forgotten).
    const auto before_edit = rig.collector().size();
    rig.start_gateway({{"/sensors/0/window_s", "10"}});
    REQUIRE(rig.collector().wait_for(
        [&](const MessageList& all) {
            if (all.size() <= before_edit) return false;
            const MessageList since(all.begin() + static_cast<std::ptrdiff_t>(before_edit),
                                    all.end());
            return birth_window_s(since, rig.status_topic(), sensor) == 10;
        },
        20s));
    const auto before_back = rig.collector().size();
    rig.start_gateway();  // the file's 2 s again: no stored change may come back
    REQUIRE(rig.collector().wait_for(
        [&](const MessageList& all) {
            if (all.size() <= before_back) return false;
            const MessageList since(all.begin() + static_cast<std::ptrdiff_t>(before_back),
                                    all.end());
            return birth_window_s(since, rig.status_topic(), sensor) == kWindowS;
        },
        20s));

    const auto report = validate_against_schemas(
        rig, messages_on(rig, {"/reply/", "/events", "/status"}), "contract.jsonl");
    INFO(report.text);
    CHECK(report.valid);
}
