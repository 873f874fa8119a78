// SPDX-License-Identifier: Apache-2.0
// Clock integrity end to end: with clock.trust "ntp" on a machine whose kernel does not report
// NTP synchronisation (CI sandboxes, a board before NTP), readings are held, an alarm says so,
// and after clock.max_hold_s the held readings are published flagged "unsynchronised".
#include <sys/timex.h>

#include <catch2/catch.hpp>

#include "demo_rig.hpp"

using namespace std::chrono_literals;
using namespace gw::test;
using namespace gw::test::demo;
using nlohmann::json;

namespace {
bool kernel_reports_ntp_sync() {
    timex tx{};
    const int state = ::adjtimex(&tx);
    return state != -1 && state != TIME_ERROR && (tx.status & STA_UNSYNC) == 0;
}
}  // namespace

TEST_CASE("an unsynchronised clock holds readings, then publishes them flagged",
          "[integration][clock]") {
    DemoRig rig("clock");
    const bool synced = kernel_reports_ntp_sync();
    INFO("kernel reports NTP sync: " << synced);
    rig.start_gateway({{"/clock", R"({"trust": "ntp", "max_hold_s": 4})"}});
    const auto started = std::chrono::steady_clock::now();

    if (synced) {
        // A synchronised machine: nothing is held, windows are "synchronised".
        REQUIRE(rig.wait_for_windows(1, 20s));
        for (const auto& m : data_messages(rig.collector().messages()))
            CHECK(m.json->value("clock", "") == "synchronised");
        return;
    }

    // Unsynchronised: the alarm is raised and no data is published while readings are held.
    auto alarm_raised = [&](const MessageList& all) {
        return std::any_of(all.begin(), all.end(), [](const ReceivedMessage& m) {
            return m.json && m.json->value("type", "") == "alarm" &&
                   m.json->value("alarm", "") == "clock_unsynchronised" &&
                   m.json->value("state", "") == "raised";
        });
    };
    REQUIRE(rig.collector().wait_for(alarm_raised, 15s));
    CHECK(data_messages(rig.collector().messages()).empty());
    std::optional<json> status = daemon_status(rig);
    REQUIRE(status);
    CHECK((*status)["clock"].value("holding", false));

    // After max_hold_s the held readings are aggregated and published, flagged.
    REQUIRE(rig.wait_for_windows(2, 30s));
    const auto first = data_messages(rig.collector().messages()).front();
    const auto waited = std::chrono::steady_clock::now() - started;
    CHECK(waited >= 4s);
    for (const auto& m : data_messages(rig.collector().messages())) {
        INFO(m.payload);
        CHECK(m.json->value("clock", "") == "unsynchronised");
    }
    // Held readings were not lost: the first window of each sensor holds samples taken
    // before the hold expired.
    CHECK(first.json->value("count", 0) >= 1);
    status = daemon_status(rig);
    REQUIRE(status);
    CHECK_FALSE((*status)["clock"].value("holding", true));
    CHECK_FALSE((*status)["clock"].value("trusted", true));
    CHECK(std::find((*status)["alarms"].begin(), (*status)["alarms"].end(),
                    "clock_unsynchronised") != (*status)["alarms"].end());
}
