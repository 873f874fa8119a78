// SPDX-License-Identifier: Apache-2.0
// Edge analytics end to end (docs/analytics.md): the simulated pH probe of a waterworks outlet
// leaves GB 5749's 6.5-8.5 (the simulator's "immerse" control), the gateway raises a formal
// alarm on `…/alarm/water1.ph` after the minimum duration, keeps the retained state, resumes it
// after a restart without raising it twice, and clears it after the recovery; a GB 3838 river
// site with the same probe gets an indicative alarm and its water-quality class. Every message
// validates against its schema.
#include <catch2/catch.hpp>

#include "demo_rig.hpp"

using namespace std::chrono_literals;
using namespace gw::test;
using namespace gw::test::demo;
using nlohmann::json;

namespace {

const char* kSites = R"({"utc_offset_min": 480, "sites": [
  {"id": "plant-outlet", "standard": "gb5749", "supply_point": "outlet",
   "sensors": ["water1.ph", "water1.turbidity"], "raise_after_s": 4, "clear_after_s": 4,
   "hysteresis": {"ph": 0.1}},
  {"id": "river-up", "standard": "gb3838", "class": "III", "water_body": "river",
   "sensors": ["water1.ph"], "raise_after_s": 4}]})";

std::vector<json> on(const MessageList& all, const std::string& topic) {
    std::vector<json> out;
    for (const auto& m : all)
        if (m.topic == topic && m.json) out.push_back(*m.json);
    return out;
}

/// Alarm events of the pH sensor with this state and site, counted once per seq (delivery is
/// at least once: a message without its PUBACK before a restart comes again, same seq).
std::size_t events(const MessageList& all, const std::string& topic, const std::string& state,
                   const std::string& site) {
    std::set<std::int64_t> seqs;
    for (const auto& e : on(all, topic))
        if (e.value("state", "") == state && e["detail"].value("site", "") == site)
            seqs.insert(e.value("seq", std::int64_t{-1}));
    return seqs.size();
}

}  // namespace

TEST_CASE("a pH excursion raises a formal and an indicative alarm, survives a restart and clears",
          "[integration][analytics]") {
    DemoRig rig("analytics");
    const std::vector<Override> analytics{{"/analytics", kSites}};
    rig.start_gateway(analytics);
    REQUIRE(rig.wait_for_windows(1, 30s));
    const std::string alarm_topic = rig.topic_base() + "alarm/water1.ph";
    const std::string state_topic = alarm_topic + "/state";
    const std::string class_topic = rig.topic_base() + "class/river-up";

    // In the river: no alarm, class I for pH (6-9 is every class's range).
    REQUIRE(rig.collector().wait_for(
        [&](const MessageList& all) {
            const auto classes = on(all, class_topic);
            return !classes.empty() && classes.back().value("water_class", 0) == 1;
        },
        20s));

    immerse_ph_probe(rig, 9.6);
    REQUIRE(rig.collector().wait_for(
        [&](const MessageList& all) {
            return events(all, alarm_topic, "raised", "plant-outlet") == 1 &&
                   events(all, alarm_topic, "raised", "river-up") == 1;
        },
        30s));
    const auto all = rig.collector().messages();
    for (const auto& e : on(all, alarm_topic)) {
        INFO(e.dump());
        CHECK(e.value("alarm", "") == "limit");
        CHECK(e.value("bound", "") == "max");
        CHECK(std::abs(e.value("value", 0.0) - 9.6) < 0.01);
        CHECK(e.value("basis", "") == "window");
        CHECK(e["seq"].is_number_integer());
        if (e["detail"].value("site", "") == "plant-outlet") {
            CHECK(e.value("limit", 0.0) == 8.5);  // GB 5749-2022 pH <= 8.5
            CHECK(e.value("indicative", true) == false);
        } else {
            CHECK(e.value("limit", 0.0) == 9.0);  // GB 3838-2002 pH 6-9, a daily figure
            CHECK(e.value("indicative", false) == true);
        }
    }
    // The raise came after the minimum duration: at least 4 s after the excursion began.
    const auto raised = on(all, alarm_topic).front();
    CHECK(raised.value("since", "") < raised.value("time", ""));
    const auto states = on(all, state_topic);
    REQUIRE_FALSE(states.empty());
    CHECK(states.back()["active"].size() == 2);
    const auto classes = on(all, class_topic);
    REQUIRE_FALSE(classes.empty());
    CHECK(classes.back().value("label", "") == "劣V");
    CHECK(classes.back().value("meets_target", true) == false);

    // A restart resumes the alarm: the retained state is still active, nothing is raised again.
    rig.start_gateway(analytics);
    const auto after_restart = rig.collector().size();
    REQUIRE(rig.wait_for_windows(3, 30s));
    REQUIRE(rig.collector().wait_for(
        [&](const MessageList& list) {
            return list.size() > after_restart + 10 && !on(list, state_topic).empty() &&
                   on(list, state_topic).back()["active"].size() == 2;
        },
        20s));
    CHECK(events(rig.collector().messages(), alarm_topic, "raised", "plant-outlet") == 1);
    // The hourly and daily aggregates resumed too: the running hour and day of the 7 sensors
    // (14, each holds windows by now), plus the sensors' own open windows that held a sample
    // at the stop (0 to 7: none when the stop came right after a window boundary).
    const std::string log = rig.gateway().log_text();
    const auto at = log.find("resumed ");
    REQUIRE(at != std::string::npos);
    const int resumed = std::stoi(log.substr(at + 8));
    INFO(log.substr(at, 80));
    CHECK(resumed >= 14);

    // Back in range (with the hysteresis): both clear after the clear duration.
    immerse_ph_probe(rig, 7.2);
    REQUIRE(rig.collector().wait_for(
        [&](const MessageList& list) {
            return events(list, alarm_topic, "cleared", "plant-outlet") == 1 &&
                   events(list, alarm_topic, "cleared", "river-up") == 1 &&
                   on(list, state_topic).back()["active"].empty();
        },
        30s));

    const auto report =
        validate_against_schemas(rig, messages_on(rig, {"/alarm/", "/class/"}), "analytics.jsonl");
    INFO(report.text);
    CHECK(report.valid);
}

TEST_CASE(
    "an outfall that should be dry reports flow: alarm raised and cleared, volumes and the "
    "collection list published",
    "[integration][analytics]") {
    // flow1 plays a storm-drain outfall meter (dry weather: no rain gauge) and a flow meter
    // with 4 s volume windows; bin1 is a waste bin. The simulator's "immerse" sets the flow.
    const char* analytics = R"({"outfalls": [
        {"id": "outfall-east", "flow_sensor": "flow1.flow", "raise_flow_m3_h": 0.5,
         "clear_flow_m3_h": 0.25, "raise_after_s": 3, "clear_after_s": 3}],
      "flow_meters": [
        {"id": "meter1", "flow_sensor": "flow1.flow", "totaliser_sensor": "flow1.total",
         "window_s": 4}],
      "bins": [{"id": "bin-a", "fill_sensor": "bin1.fill"}]})";
    DemoRig rig("outfall");
    rig.sim().control(
        {{"immerse", {{"device", "flow1"}, {"point", "flow"}, {"value", 0.0}}}});  // dry
    rig.start_gateway({{"/analytics", analytics}});
    REQUIRE(rig.wait_for_windows(1, 30s));
    const std::string alarm_topic = rig.topic_base() + "alarm/outfall-east";
    const std::string state_topic = alarm_topic + "/state";

    // Dry: the retained state says no alarm; the collection list is retained from the start.
    REQUIRE(rig.collector().wait_for(
        [&](const MessageList& all) {
            const auto states = on(all, state_topic);
            return !states.empty() && states.back()["active"].empty() &&
                   !on(all, rig.topic_base() + "bins/collect").empty();
        },
        20s));
    CHECK(on(rig.collector().messages(), alarm_topic).empty());

    // 2 m3/h out of a drain that should be dry, in dry weather: raised after 3 s.
    rig.sim().control({{"immerse", {{"device", "flow1"}, {"point", "flow"}, {"value", 2.0}}}});
    REQUIRE(rig.collector().wait_for(
        [&](const MessageList& all) {
            for (const auto& e : on(all, alarm_topic))
                if (e.value("state", "") == "raised") return true;
            return false;
        },
        20s));
    json raised;
    for (const auto& e : on(rig.collector().messages(), alarm_topic))
        if (e.value("state", "") == "raised") raised = e;
    INFO(raised.dump());
    CHECK(raised.value("alarm", "") == "dry_weather_discharge");
    CHECK(std::abs(raised.value("value", 0.0) - 2.0) < 0.01);
    CHECK(raised.value("limit", 0.0) == 0.5);
    CHECK(raised["seq"].is_number_integer());
    REQUIRE(rig.collector().wait_for(
        [&](const MessageList& all) {
            const auto states = on(all, state_topic);
            return !states.empty() && states.back()["active"].size() == 1;
        },
        10s));

    // While it flows, the meter's windows carry both volumes; a full 4 s window at 2 m3/h
    // integrates to 2 x 4 / 3600 m3.
    const std::string meter_topic = rig.topic_base() + "flow/meter1";
    REQUIRE(rig.collector().wait_for(
        [&](const MessageList& all) {
            for (const auto& v : on(all, meter_topic))
                if (v["integrated_m3"].is_number() &&
                    std::abs(v["integrated_m3"].get<double>() - 2.0 * 4 / 3600) < 1e-4 &&
                    v.value("integrated_coverage", 0.0) > 0.99)
                    return true;
            return false;
        },
        20s));

    // Dry again: cleared after 3 s below the clear level.
    rig.sim().control({{"immerse", {{"device", "flow1"}, {"point", "flow"}, {"value", 0.0}}}});
    REQUIRE(rig.collector().wait_for(
        [&](const MessageList& all) {
            bool cleared = false;
            for (const auto& e : on(all, alarm_topic)) cleared |= e.value("state", "") == "cleared";
            const auto states = on(all, state_topic);
            return cleared && states.back()["active"].empty();
        },
        20s));

    for (const auto& v : on(rig.collector().messages(), meter_topic)) {
        CHECK(v.contains("totaliser_m3"));
        CHECK(v.value("window_s", 0) == 4);
    }

    const auto report = validate_against_schemas(
        rig, messages_on(rig, {"/alarm/", "/flow/", "/bins/", "/health"}), "outfall.jsonl");
    INFO(report.text);
    CHECK(report.valid);
}
