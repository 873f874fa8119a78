// SPDX-License-Identifier: Apache-2.0
// LoRaWAN bins through ChirpStack v4: base64, event parsing, the Milesight codecs, the
// duplicate/replay filter, staleness, and the whole uplink path without an MQTT client.
#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "config/config_loader.hpp"
#include "drivers/lorawan/base64.hpp"
#include "drivers/lorawan/chirpstack_event.hpp"
#include "drivers/lorawan/codec.hpp"
#include "drivers/lorawan/staleness.hpp"
#include "drivers/lorawan/uplink_filter.hpp"
#include "drivers/lorawan/uplink_processor.hpp"

using namespace gw::lorawan;
using gw::drivers::PointFault;
using namespace std::chrono_literals;

namespace {

using Bytes = std::vector<std::uint8_t>;
using SteadyTime = std::chrono::steady_clock::time_point;

Bytes from_hex(const std::string& text) {
    Bytes out;
    for (std::size_t i = 0; i + 1 < text.size(); i += 2)
        out.push_back(static_cast<std::uint8_t>(std::stoi(text.substr(i, 2), nullptr, 16)));
    return out;
}

const Codec& em310() {
    return *find_codec("milesight-em310-udl");
}
const Codec& em400() {
    return *find_codec("milesight-em400-udl");
}

/// A ChirpStack v4 `up` event as its JSON marshaler writes it (trimmed to what matters).
std::string uplink_json(const std::string& dev_eui, const std::string& dedup_id, int f_cnt,
                        const std::string& data_base64, int rssi = -97, double snr = 7.5) {
    return R"({"deduplicationId":")" + dedup_id +
           R"(","time":"2024-05-06T07:08:09.123456+00:00","deviceInfo":{"tenantId":"t",)"
           R"("applicationId":"app-1","applicationName":"bins","deviceProfileName":"EM310-UDL",)"
           R"("deviceName":"bin-7","devEui":")" +
           dev_eui + R"("},"devAddr":"00e5e007","adr":true,"dr":5,"fCnt":)" +
           std::to_string(f_cnt) + R"(,"fPort":85,"confirmed":false,"data":")" + data_base64 +
           R"(","rxInfo":[{"gatewayId":"a","rssi":)" + std::to_string(rssi) + R"(,"snr":)" +
           std::to_string(snr) + R"(}]})";
}

std::string up_topic(const std::string& dev_eui, const std::string& app = "app-1") {
    return "application/" + app + "/device/" + dev_eui + "/event/up";
}

constexpr const char* kEui = "24e124136b502217";
constexpr const char* kTiltedPayload = "AXVcA4JECAQAAQ==";  // 01755C 03824408 040001
constexpr const char* kNormalPayload = "AXVkA4I8DwQAAA==";  // 017564 03823C0F 040000

}  // namespace

// ------------------------------------------------------------------------------------ base64

TEST_CASE("base64 decodes what ChirpStack puts in data", "[unit][lorawan]") {
    CHECK(decode_base64(kTiltedPayload) == from_hex("01755C03824408040001"));
    CHECK(decode_base64("A4I=") == from_hex("0382"));
    CHECK(decode_base64("A4I") == from_hex("0382"));  // padding is optional
    CHECK(decode_base64("") == Bytes{});
}

TEST_CASE("base64 round-trips every length", "[unit][lorawan]") {
    Bytes bytes;
    for (int n = 0; n < 40; ++n) {
        INFO("length " << n);
        CHECK(decode_base64(encode_base64(bytes)) == bytes);
        bytes.push_back(static_cast<std::uint8_t>(n * 37 + 11));
    }
}

TEST_CASE("base64 rejects what is not exactly a payload", "[unit][lorawan]") {
    CHECK_FALSE(decode_base64("AXVc!A=="));   // not in the alphabet
    CHECK_FALSE(decode_base64("A"));          // 6 bits make no byte
    CHECK_FALSE(decode_base64("A4I=="));      // too much padding
    CHECK_FALSE(decode_base64("AB="));        // padding to a wrong length
    CHECK_FALSE(decode_base64("A4J="));       // non-zero trailing bits
    CHECK_FALSE(decode_base64("-_-_"));       // URL-safe alphabet
    CHECK_FALSE(decode_base64("AXVc A4JE"));  // whitespace
    CHECK_FALSE(decode_base64("===="));
}

// ------------------------------------------------------------------------ ChirpStack events

TEST_CASE("devEui is 16 hex digits in either case, kept in lower case", "[unit][lorawan]") {
    CHECK(normalize_dev_eui("24E124136B502217") == std::string(kEui));
    CHECK(normalize_dev_eui(kEui) == std::string(kEui));
    CHECK_FALSE(normalize_dev_eui("24e124136b50221"));
    CHECK_FALSE(normalize_dev_eui("24e124136b50221g"));
    CHECK_FALSE(normalize_dev_eui("24-e1-24-13-6b-50-22-17"));
}

TEST_CASE("event topics are split into application, devEui and event", "[unit][lorawan]") {
    const auto topic = parse_event_topic("application/app-1/device/24e124136b502217/event/up");
    REQUIRE(topic);
    CHECK(topic->application_id == "app-1");
    CHECK(topic->dev_eui == kEui);
    CHECK(topic->event == "up");
    CHECK_FALSE(parse_event_topic("application/app-1/device/x/event"));
    CHECK_FALSE(parse_event_topic("application/app-1/device/x/event/up/extra"));
    CHECK_FALSE(parse_event_topic("application//device/x/event/up"));
    CHECK_FALSE(parse_event_topic("gateway/1/device/x/event/up"));
    CHECK(event_topic_filter("+", "up") == "application/+/device/+/event/up");
}

TEST_CASE("an up event yields devEui, fCnt, fPort, deduplicationId, data and best rssi",
          "[unit][lorawan]") {
    std::string text = uplink_json("24E124136B502217", "d-1", 42, kTiltedPayload);
    // A second gateway that heard it better.
    text.replace(text.find("}]}"), 3, R"(},{"gatewayId":"b","rssi":-80,"snr":9.25}]})");
    const auto parsed = parse_uplink_event(text);
    REQUIRE(parsed.event);
    const UplinkEvent& e = *parsed.event;
    CHECK(e.dev_eui == kEui);
    CHECK(e.deduplication_id == "d-1");
    CHECK(e.application_id == "app-1");
    CHECK(e.f_cnt == 42);
    CHECK(e.f_port == 85);
    CHECK(e.data_base64 == kTiltedPayload);
    CHECK(e.rssi == -80);
    CHECK(e.snr == 9.25);
    CHECK(e.time == "2024-05-06T07:08:09.123456+00:00");
}

TEST_CASE("a missing fCnt is 0 because ChirpStack 4.0 left zero fields out", "[unit][lorawan]") {
    const auto parsed = parse_uplink_event(
        R"({"deduplicationId":"x","deviceInfo":{"devEui":"24e124136b502217"},"fPort":85,)"
        R"("data":"AXVcA4JECAQAAQ=="})");
    REQUIRE(parsed.event);
    CHECK(parsed.event->f_cnt == 0);
    CHECK_FALSE(parsed.event->rssi);
}

TEST_CASE("unusable up events say what is wrong", "[unit][lorawan]") {
    const auto error_of = [](const std::string& text) { return parse_uplink_event(text).error; };
    CHECK(error_of("{\"deduplicationId\": ") == "malformed JSON");
    CHECK(error_of("[1,2]") == "event is not a JSON object");
    CHECK(error_of(R"({"deviceInfo":{"devEui":"24e124136b502217"}})") ==
          "deduplicationId is missing");
    CHECK(error_of(R"({"deduplicationId":"x"})") == "deviceInfo is missing");
    CHECK(error_of(R"({"deduplicationId":"x","deviceInfo":{}})") == "deviceInfo.devEui is missing");
    CHECK(error_of(R"({"deduplicationId":"x","deviceInfo":{"devEui":"beef"}})") ==
          "deviceInfo.devEui \"beef\" is not 16 hex digits");
    CHECK(error_of(R"({"deduplicationId":"x","deviceInfo":{"devEui":"24e124136b502217"},)"
                   R"("fCnt":-1})") == "fCnt is not a non-negative integer");
    CHECK(error_of(R"({"deduplicationId":"x","deviceInfo":{"devEui":"24e124136b502217"},)"
                   R"("fCnt":4294967296})") == "fCnt 4294967296 is out of range");
    CHECK(error_of(R"({"deduplicationId":"x","deviceInfo":{"devEui":"24e124136b502217"},)"
                   R"("data":12})") == "data is not a base64 string");
}

TEST_CASE("a join event names the device that joined", "[unit][lorawan]") {
    const auto join = parse_join_event(
        R"({"deduplicationId":"j","deviceInfo":{"devEui":"24E124136B502217"},"devAddr":"01"})");
    REQUIRE(join.event);
    CHECK(join.event->dev_eui == kEui);
    CHECK_FALSE(parse_join_event("nope").event);
}

// ------------------------------------------------------------------------------------ codecs

TEST_CASE("EM310-UDL: the vendor example is 92 %, 2116 mm, tilted", "[unit][lorawan][codec]") {
    const CodecResult r = em310().decode(from_hex("01755C03824408040001"), 85);
    REQUIRE(r.ok);
    CHECK(r.measured);
    REQUIRE(r.points.size() == 3);
    REQUIRE(em310().points[0].name == "distance");
    REQUIRE(em310().points[1].name == "battery");
    REQUIRE(em310().points[2].name == "tilt");
    // Tilted: the distance is garbage and says so; battery and tilt stay good.
    CHECK_FALSE(r.points[0].ok);
    CHECK(r.points[0].fault == PointFault::Instrument);
    CHECK(r.points[0].error == "sensor tilted");
    CHECK(r.points[0].value == 2116.0);  // kept for diagnosis
    CHECK(r.points[1].ok);
    CHECK(r.points[1].value == 92.0);
    CHECK(r.points[2].ok);
    CHECK(r.points[2].value == 1.0);
}

TEST_CASE("EM310-UDL: an upright sensor's distance is good", "[unit][lorawan][codec]") {
    const CodecResult r = em310().decode(from_hex("01756403823C0F040000"), 85);
    REQUIRE(r.ok);
    CHECK(r.points[0].ok);
    CHECK(r.points[0].value == 3900.0);  // 0x0F3C, little-endian
    CHECK(r.points[0].fault == PointFault::None);
    CHECK(r.points[1].value == 100.0);
    CHECK(r.points[2].value == 0.0);
}

TEST_CASE("EM310-UDL: device-info records are skipped by their known lengths",
          "[unit][lorawan][codec]") {
    // Power-on report: device status, IPSO version, serial number (8 bytes), then a reading.
    const CodecResult r = em310().decode(from_hex("ff0bffff0101ff166136c91960281145ff0a0110"
                                                  "03822003"),
                                         85);
    REQUIRE(r.ok);
    CHECK(r.measured);
    CHECK(r.points[0].ok);
    CHECK(r.points[0].value == 800.0);
    CHECK_FALSE(r.points[1].ok);  // not in this uplink
    CHECK(r.points[1].error == "not in this uplink");

    const CodecResult info_only = em310().decode(from_hex("ff0bffff0101ff0a0110"), 85);
    CHECK(info_only.ok);
    CHECK_FALSE(info_only.measured);
}

TEST_CASE("EM310-UDL: broken payloads fail with the reason and never yield values",
          "[unit][lorawan][codec]") {
    const auto error_of = [](const std::string& hex) {
        const CodecResult r = em310().decode(from_hex(hex), 85);
        CHECK_FALSE(r.ok);
        for (const auto& p : r.points) {
            CHECK_FALSE(p.ok);
            CHECK(p.fault == PointFault::Decode);
        }
        return r.error;
    };
    CHECK(error_of("") == "empty payload");
    CHECK(error_of("038244") == "record 0x03/0x82 at byte 0 needs 2 bytes, 1 left");
    CHECK(error_of("01755C03") == "truncated record header at byte 3");
    CHECK(error_of("deadbeef") == "unknown record 0xDE/0xAD at byte 0");
    CHECK(error_of("ff16aabb") == "record 0xFF/0x16 at byte 0 needs 8 bytes, 2 left");
}

TEST_CASE("EM310-UDL: an unknown record after the readings stops decoding safely",
          "[unit][lorawan][codec]") {
    const CodecResult r = em310().decode(from_hex("01755C03824408040000"
                                                  "7701020304"),
                                         85);
    REQUIRE(r.ok);
    CHECK(r.points[0].value == 2116.0);
    CHECK(r.note == "stopped at unknown record 0x77/0x01 at byte 10");
}

TEST_CASE("EM310-UDL: a position byte that is neither normal nor tilt is a decode fault",
          "[unit][lorawan][codec]") {
    const CodecResult r2 = em310().decode(from_hex("03824408040002"), 85);
    REQUIRE(r2.ok);
    CHECK(r2.points[0].ok);  // the distance is not known to be bad
    CHECK_FALSE(r2.points[2].ok);
    CHECK(r2.points[2].fault == PointFault::Decode);
}

TEST_CASE("EM400-UDL: the vendor examples decode, alarm records included",
          "[unit][lorawan][codec]") {
    REQUIRE(em400().points.size() == 4);
    const CodecResult r = em400().decode(from_hex("01755C0367010104824408050001"), 85);
    REQUIRE(r.ok);
    CHECK(r.points[0].value == 2116.0);
    CHECK(r.points[0].fault == PointFault::Instrument);  // tilted
    CHECK(r.points[1].ok);
    CHECK(r.points[1].value == Approx(25.7));
    CHECK(r.points[2].value == 92.0);
    CHECK(r.points[3].value == 1.0);

    const CodecResult alarm = em400().decode(from_hex("8367e800018482410601"), 85);
    REQUIRE(alarm.ok);
    CHECK(alarm.points[1].value == Approx(23.2));
    CHECK(alarm.points[0].ok);
    CHECK(alarm.points[0].value == 1601.0);

    const CodecResult frost = em400().decode(from_hex("03679CFF"), 85);
    REQUIRE(frost.ok);
    CHECK(frost.points[1].value == Approx(-10.0));  // int16, not uint16
}

TEST_CASE("codecs are found by name and list themselves", "[unit][lorawan][codec]") {
    CHECK(find_codec("milesight-em310-udl") != nullptr);
    CHECK(find_codec("em310") == nullptr);
    const auto names = codec_names();
    CHECK(names == std::vector<std::string>{"milesight-em310-udl", "milesight-em400-udl"});
    CHECK(point_index(em310(), "tilt") == 2);
    CHECK(point_index(em310(), "temperature") == -1);
}

// ------------------------------------------------------------------- duplicates and replays

TEST_CASE("the filter drops a repeated deduplicationId and a repeated fCnt", "[unit][lorawan]") {
    UplinkFilter filter;
    const SteadyTime t0{};
    CHECK(filter.check("a", 10, t0) == UplinkVerdict::Accepted);
    CHECK(filter.check("a", 10, t0 + 1s) == UplinkVerdict::Duplicate);
    CHECK(filter.check("b", 10, t0 + 2s) == UplinkVerdict::Duplicate);
    CHECK(filter.check("c", 11, t0 + 600s) == UplinkVerdict::Accepted);
    CHECK(filter.check("d", 15, t0 + 1200s) == UplinkVerdict::Accepted);  // lost frames: fine
    CHECK(filter.last_f_cnt() == 15u);
}

TEST_CASE("an older fCnt with a new deduplicationId is a replay", "[unit][lorawan]") {
    UplinkFilter filter;
    const SteadyTime t0{};
    REQUIRE(filter.check("a", 500, t0) == UplinkVerdict::Accepted);
    CHECK(filter.check("r1", 499, t0 + 5s) == UplinkVerdict::Replay);
    CHECK(filter.check("r2", 3, t0 + 5s) == UplinkVerdict::Replay);       // small, but no silence
    CHECK(filter.check("r3", 200, t0 + 3600s) == UplinkVerdict::Replay);  // silence, not small
    CHECK(filter.last_f_cnt() == 500u);
}

TEST_CASE("a small fCnt after a silence is a rejoin and starts a new session", "[unit][lorawan]") {
    ReplayPolicy policy;
    policy.reset_max_fcnt = 16;
    policy.reset_min_silence = 60s;
    UplinkFilter filter(policy);
    const SteadyTime t0{};
    REQUIRE(filter.check("a", 500, t0) == UplinkVerdict::Accepted);
    CHECK(filter.check("b", 0, t0 + 59s) == UplinkVerdict::Replay);
    CHECK(filter.check("c", 0, t0 + 60s) == UplinkVerdict::AcceptedReset);
    CHECK(filter.check("d", 1, t0 + 61s) == UplinkVerdict::Accepted);
    CHECK(filter.check("e", 499, t0 + 62s) == UplinkVerdict::Accepted);  // new session grows
}

TEST_CASE("after a join event any fCnt starts the new session", "[unit][lorawan]") {
    UplinkFilter filter;
    const SteadyTime t0{};
    REQUIRE(filter.check("a", 500, t0) == UplinkVerdict::Accepted);
    filter.joined();
    CHECK(filter.check("b", 40, t0 + 1s) == UplinkVerdict::AcceptedReset);
    CHECK(filter.check("c", 39, t0 + 2s) == UplinkVerdict::Replay);
}

TEST_CASE("the filter remembers a bounded number of deduplicationIds", "[unit][lorawan]") {
    ReplayPolicy policy;
    policy.remembered_ids = 4;
    UplinkFilter filter(policy);
    const SteadyTime t0{};
    for (std::uint32_t i = 0; i < 10; ++i)
        REQUIRE(filter.check("id" + std::to_string(i), i, t0) == UplinkVerdict::Accepted);
    CHECK(filter.check("id9", 100, t0) == UplinkVerdict::Duplicate);
    // Forgotten id, but its fCnt is old: still caught, as a replay.
    CHECK(filter.check("id0", 0, t0) == UplinkVerdict::Replay);
}

// -------------------------------------------------------------------------------- staleness

TEST_CASE("a silent device becomes stale, then repeats every interval until heard",
          "[unit][lorawan]") {
    const SteadyTime t0{};
    StalenessTracker tracker(1800s, 600s, t0);
    CHECK(tracker.next_due() == t0 + 1800s);
    CHECK_FALSE(tracker.take_due(t0 + 1799s));
    CHECK_FALSE(tracker.stale());
    CHECK(tracker.take_due(t0 + 1800s) == 1800s);
    CHECK(tracker.stale());
    CHECK_FALSE(tracker.take_due(t0 + 2399s));
    CHECK(tracker.take_due(t0 + 2400s) == 2400s);
    CHECK(tracker.heard(t0 + 2500s));  // was stale
    CHECK_FALSE(tracker.stale());
    CHECK(tracker.next_due() == t0 + 2500s + 1800s);
    CHECK_FALSE(tracker.heard(t0 + 2600s));
}

TEST_CASE("a stale tracker woken late does not burst", "[unit][lorawan]") {
    const SteadyTime t0{};
    StalenessTracker tracker(10s, 5s, t0);
    CHECK(tracker.take_due(t0 + 100s) == 100s);
    CHECK_FALSE(tracker.take_due(t0 + 100s));
    CHECK(tracker.next_due() == t0 + 105s);
}

// ---------------------------------------------------------------- the whole path, no MQTT

namespace {

struct Rig {
    SteadyTime t0{};
    std::chrono::system_clock::time_point wall0{std::chrono::seconds(1'700'000'000)};
    UplinkProcessor processor;

    static LorawanDevice bin(const std::string& id, const std::string& eui) {
        LorawanDevice d;
        d.id = id;
        d.dev_eui = eui;
        d.codec = find_codec("milesight-em310-udl");
        d.stale_after = 1800s;
        d.interval = 600s;
        return d;
    }

    Rig() : processor({bin("bin7", kEui), bin("bin8", "24e124136b502218")}, ReplayPolicy{}, t0) {}

    UplinkProcessor::Output up(const std::string& dedup, int f_cnt, const std::string& data,
                               std::chrono::seconds at, const std::string& eui = kEui) {
        return processor.on_message(up_topic(eui), uplink_json(eui, dedup, f_cnt, data), wall0 + at,
                                    t0 + at);
    }
};

std::size_t count_level(const UplinkProcessor::Output& out, LogLine::Level level) {
    std::size_t n = 0;
    for (const auto& line : out.logs) n += line.level == level;
    return n;
}

}  // namespace

TEST_CASE("an uplink becomes one sample with the codec's points, in order", "[unit][lorawan]") {
    Rig rig;
    const auto out = rig.up("d1", 7, kNormalPayload, 10s);
    REQUIRE(out.samples.size() == 1);
    const auto& s = out.samples[0];
    CHECK(s.device_index == 0);
    CHECK(s.ok);
    CHECK_FALSE(s.stale);
    CHECK(s.sampled_at == rig.wall0 + 10s);  // arrival time
    REQUIRE(s.points.size() == 3);
    CHECK(s.points[0].value == 3900.0);
    CHECK(s.points[1].value == 100.0);
    const DeviceCounters c = rig.processor.counters(0);
    CHECK(c.uplinks == 1);
    CHECK(c.last_f_cnt == 7u);
    CHECK(c.last_rssi == -97);
    CHECK(c.last_snr == 7.5);
    CHECK(c.last_uplink_at == rig.t0 + 10s);
}

TEST_CASE("duplicates and replays are counted and make no sample", "[unit][lorawan]") {
    Rig rig;
    REQUIRE(rig.up("d1", 7, kNormalPayload, 10s).samples.size() == 1);
    CHECK(rig.up("d1", 7, kNormalPayload, 11s).samples.empty());  // same event again
    CHECK(rig.up("d2", 7, kNormalPayload, 12s).samples.empty());  // same frame, new id
    const auto replay = rig.up("d3", 5, kNormalPayload, 13s);     // older frame, new id
    CHECK(replay.samples.empty());
    CHECK(count_level(replay, LogLine::Level::Warn) == 1);
    CHECK(count_level(rig.up("d4", 6, kNormalPayload, 14s), LogLine::Level::Warn) == 0);
    const DeviceCounters c = rig.processor.counters(0);
    CHECK(c.uplinks == 1);
    CHECK(c.duplicates == 2);
    CHECK(c.replays == 2);
    CHECK(c.last_error == "replayed uplink: fCnt 6 is below the last accepted fCnt 7");
}

TEST_CASE("a join event lets the restarted frame counter through", "[unit][lorawan]") {
    Rig rig;
    REQUIRE(rig.up("d1", 900, kNormalPayload, 10s).samples.size() == 1);
    const auto join = rig.processor.on_message(
        "application/app-1/device/" + std::string(kEui) + "/event/join",
        R"({"deduplicationId":"j","deviceInfo":{"devEui":"24e124136b502217"}})", rig.wall0,
        rig.t0 + 20s);
    CHECK(count_level(join, LogLine::Level::Info) == 1);
    CHECK(rig.up("d2", 0, kNormalPayload, 25s).samples.size() == 1);
    const DeviceCounters c = rig.processor.counters(0);
    CHECK(c.joins == 1);
    CHECK(c.fcnt_resets == 1);
    CHECK(c.last_f_cnt == 0u);
}

TEST_CASE("undecodable uplinks are counted, logged once per change, and yield decode faults",
          "[unit][lorawan]") {
    Rig rig;
    const auto bad_base64 = rig.up("d1", 1, "%%%%", 10s);
    REQUIRE(bad_base64.samples.size() == 1);
    CHECK(bad_base64.samples[0].points[0].fault == PointFault::Decode);
    REQUIRE(count_level(bad_base64, LogLine::Level::Warn) == 1);
    CHECK_THAT(bad_base64.logs[0].text, Catch::Contains("bin7 (devEui 24e124136b502217)") &&
                                            Catch::Contains("not valid base64"));

    const auto garbage = rig.up("d2", 2, encode_base64(from_hex("deadbeef")), 20s);
    REQUIRE(garbage.samples.size() == 1);
    CHECK(garbage.samples[0].ok);  // it reported; its payload is what failed
    CHECK_FALSE(garbage.samples[0].points[1].ok);
    REQUIRE(count_level(garbage, LogLine::Level::Warn) == 1);  // a different reason
    CHECK_THAT(garbage.logs[0].text, Catch::Contains("payload deadbeef is not "
                                                     "milesight-em310-udl: unknown record"));
    // The same reason again: counted, not logged above debug.
    const auto again = rig.up("d3", 3, encode_base64(from_hex("deadbeef")), 30s);
    CHECK(count_level(again, LogLine::Level::Warn) == 0);
    // Good again: one line saying so.
    const auto good = rig.up("d4", 4, kNormalPayload, 40s);
    CHECK(count_level(good, LogLine::Level::Info) == 1);
    CHECK(rig.processor.counters(0).decode_errors == 3);
    CHECK(rig.processor.counters(0).uplinks == 4);
}

TEST_CASE("broken events of a configured device are counted without a sample", "[unit][lorawan]") {
    Rig rig;
    const auto malformed =
        rig.processor.on_message(up_topic(kEui), "{not json", rig.wall0, rig.t0 + 1s);
    CHECK(malformed.samples.empty());
    CHECK(count_level(malformed, LogLine::Level::Warn) == 1);
    const auto missing = rig.processor.on_message(
        up_topic(kEui), R"({"deviceInfo":{"devEui":"24e124136b502217"}})", rig.wall0, rig.t0 + 2s);
    CHECK(missing.samples.empty());
    const auto mismatch = rig.processor.on_message(
        up_topic(kEui), uplink_json("24e124136b502218", "x", 1, kNormalPayload), rig.wall0,
        rig.t0 + 3s);
    CHECK(mismatch.samples.empty());
    const DeviceCounters c = rig.processor.counters(0);
    CHECK(c.decode_errors == 3);
    CHECK(c.uplinks == 0);
    CHECK_THAT(c.last_error, Catch::Contains("differs from the topic's"));
}

TEST_CASE("uplinks of devices not configured are counted and logged once", "[unit][lorawan]") {
    Rig rig;
    const auto first = rig.up("d1", 1, kNormalPayload, 1s, "0000000000000001");
    CHECK(first.samples.empty());
    CHECK(count_level(first, LogLine::Level::Info) == 1);
    CHECK(rig.up("d2", 2, kNormalPayload, 2s, "0000000000000001").logs.empty());
    CHECK(rig.processor.source_counters().unknown_devices == 2);
    CHECK(rig.processor.source_counters().messages == 2);
}

TEST_CASE("devEuis match in any case and uplinks go to the right device", "[unit][lorawan]") {
    Rig rig;
    const auto out = rig.up("d1", 1, kNormalPayload, 1s, "24E124136B502218");
    REQUIRE(out.samples.size() == 1);
    CHECK(out.samples[0].device_index == 1);
    CHECK(rig.processor.counters(1).uplinks == 1);
    CHECK(rig.processor.counters(0).uplinks == 0);
}

TEST_CASE("a device bound to an application ignores the same devEui elsewhere", "[unit][lorawan]") {
    LorawanDevice d = Rig::bin("bin7", kEui);
    d.application_id = "app-1";
    UplinkProcessor processor({d}, ReplayPolicy{}, SteadyTime{});
    const auto wall = std::chrono::system_clock::now();
    CHECK(processor
              .on_message(up_topic(kEui, "app-2"), uplink_json(kEui, "a", 1, kNormalPayload), wall,
                          SteadyTime{} + 1s)
              .samples.empty());
    CHECK(processor.source_counters().unknown_devices == 1);
    CHECK(processor
              .on_message(up_topic(kEui, "app-1"), uplink_json(kEui, "b", 2, kNormalPayload), wall,
                          SteadyTime{} + 2s)
              .samples.size() == 1);
}

TEST_CASE("a tilted bin: distance faulted as Instrument, battery and tilt good",
          "[unit][lorawan]") {
    Rig rig;
    const auto out = rig.up("d1", 1, kTiltedPayload, 1s);
    REQUIRE(out.samples.size() == 1);
    const auto& points = out.samples[0].points;
    CHECK(points[0].fault == PointFault::Instrument);
    CHECK(points[0].error == "sensor tilted");
    CHECK(points[1].ok);
    CHECK(points[2].ok);
    CHECK(rig.processor.counters(0).decode_errors == 0);
}

TEST_CASE("silence becomes stale samples every interval, never a zero", "[unit][lorawan]") {
    Rig rig;
    REQUIRE(rig.up("d1", 1, kNormalPayload, 100s, "24e124136b502218").samples.size() == 1);
    CHECK(rig.processor.next_stale_due() == rig.t0 + 1800s);  // bin7, never heard

    CHECK(rig.processor.take_stale(rig.wall0, rig.t0 + 1799s).samples.empty());
    const auto first = rig.processor.take_stale(rig.wall0 + 1800s, rig.t0 + 1800s);
    REQUIRE(first.samples.size() == 1);
    const auto& s = first.samples[0];
    CHECK(s.device_index == 0);
    CHECK(s.stale);
    CHECK_FALSE(s.ok);
    CHECK(s.error == "no uplink for 1800 s");
    REQUIRE(s.points.size() == 3);
    for (const auto& p : s.points) {
        CHECK_FALSE(p.ok);
        CHECK(p.fault == PointFault::Stale);
        CHECK(p.value == 0.0);  // not a reading: ok is false
    }
    CHECK(count_level(first, LogLine::Level::Warn) == 1);
    CHECK(rig.processor.counters(0).stale);

    // bin8 (heard at 100 s) goes stale at 1900 s, bin7 repeats at 2400 s.
    const auto second = rig.processor.take_stale(rig.wall0 + 1900s, rig.t0 + 1900s);
    REQUIRE(second.samples.size() == 1);
    CHECK(second.samples[0].device_index == 1);
    const auto repeat = rig.processor.take_stale(rig.wall0 + 2400s, rig.t0 + 2400s);
    REQUIRE(repeat.samples.size() == 1);
    CHECK(repeat.samples[0].error == "no uplink for 2400 s");
    CHECK(count_level(repeat, LogLine::Level::Warn) == 0);  // already logged as stale

    const auto back = rig.up("d2", 2, kNormalPayload, 2500s);
    CHECK(count_level(back, LogLine::Level::Info) == 1);
    CHECK_FALSE(rig.processor.counters(0).stale);
    CHECK(rig.processor.counters(0).stale_samples == 2);
}

// ------------------------------------------------------------------------ configuration

namespace {

const std::string kExamplePath =
    std::string(TOWNGW_SOURCE_DIR) + "/config/examples/lorawan-bins.json";

/// A config with one chirpstack device, `device` replacing its JSON, and one sensor on it.
gw::ConfigResult load_with_device(const std::string& device,
                                  const std::string& extra_devices = "") {
    const std::string text = R"({"gateway": {"town_id": "t", "gateway_id": "g"},
        "mqtt": {"broker": "tcp://127.0.0.1:1883"},
        "devices": [)" + device +
                             extra_devices +
                             R"(],
        "sensors": [{"id": "s", "device": "bin7", "register": "distance", "window_s": 600}]})";
    return gw::load_config_text(text, "/etc/towngw/towngw.json");
}

std::vector<std::string> errors_of(const gw::ConfigResult& result) {
    std::vector<std::string> out;
    if (const auto* errors = std::get_if<std::vector<gw::ConfigError>>(&result))
        for (const auto& e : *errors) out.push_back(e.pointer + ": " + e.message);
    return out;
}

const std::string kGoodDevice = R"({"id": "bin7", "codec": "milesight-em310-udl",
    "transport": {"type": "chirpstack", "broker": "tcp://127.0.0.1:1884",
                  "dev_eui": "24E124136B502217"}})";

}  // namespace

TEST_CASE("the LoRaWAN example configuration loads", "[unit][lorawan][config]") {
    const auto result = gw::load_config(kExamplePath);
    INFO(Catch::Detail::stringify(errors_of(result)));
    REQUIRE(std::holds_alternative<gw::Config>(result));
    const auto& config = std::get<gw::Config>(result);
    const auto& bin7 = config.devices.at(0);
    CHECK(bin7.kind == gw::SourceKind::Chirpstack);
    CHECK(bin7.chirpstack.dev_eui == "24e124136b502217");
    CHECK(bin7.chirpstack.client_id == "towngw-gw-bins-01-lorawan");
    CHECK(bin7.poll_period == std::chrono::milliseconds(600'000));
    CHECK(bin7.stale_after == 1800s);
    REQUIRE(bin7.profile.registers.size() == 3);
    CHECK(bin7.profile.registers[2].name == "tilt");
    CHECK(config.devices.at(1).stale_after == 1800s);  // default: 3 x interval_s
    CHECK(config.sensors.at(0).metric == "fill_level");
    CHECK(config.sensors.at(2).unit == "%");
}

TEST_CASE("a chirpstack device with defaults", "[unit][lorawan][config]") {
    const auto result = load_with_device(kGoodDevice);
    INFO(Catch::Detail::stringify(errors_of(result)));
    REQUIRE(std::holds_alternative<gw::Config>(result));
    const auto& d = std::get<gw::Config>(result).devices.at(0);
    CHECK(d.chirpstack.application_id == "+");
    CHECK(d.uplink_interval == 600s);
    CHECK(d.stale_after == 1800s);
}

TEST_CASE("chirpstack config errors name the JSON pointer", "[unit][lorawan][config]") {
    const auto has = [](const gw::ConfigResult& result, const std::string& expected) {
        const auto errors = errors_of(result);
        INFO(Catch::Detail::stringify(errors));
        CHECK(std::find(errors.begin(), errors.end(), expected) != errors.end());
    };
    has(load_with_device(R"({"id": "bin7", "codec": "milesight-em310-udl",
            "transport": {"type": "chirpstack", "dev_eui": "24e124136b502217"}})"),
        "/devices/0/transport/broker: is required");
    has(load_with_device(R"({"id": "bin7", "codec": "milesight-em310-udl",
            "transport": {"type": "chirpstack", "broker": "tcp://h:1", "dev_eui": "24e1"}})"),
        "/devices/0/transport/dev_eui: must be the device's DevEUI: 16 hex digits, e.g. "
        "\"24e124136b502217\", got \"24e1\"");
    has(load_with_device(R"({"id": "bin7", "codec": "em310",
            "transport": {"type": "chirpstack", "broker": "tcp://h:1",
                          "dev_eui": "24e124136b502217"}})"),
        "/devices/0/codec: unknown codec \"em310\" (known: milesight-em310-udl, "
        "milesight-em400-udl)");
    has(load_with_device(R"({"id": "bin7", "codec": "milesight-em310-udl", "registers": [],
            "transport": {"type": "chirpstack", "broker": "tcp://h:1",
                          "dev_eui": "24e124136b502217"}})"),
        "/devices/0/registers: a chirpstack device takes no \"registers\": its \"codec\" "
        "defines the points");
    has(load_with_device(R"({"id": "bin7", "codec": "milesight-em310-udl", "interval_s": 600,
            "stale_after_s": 300, "transport": {"type": "chirpstack", "broker": "tcp://h:1",
                          "dev_eui": "24e124136b502217"}})"),
        "/devices/0/stale_after_s: must be at least interval_s (600): a device is not stale "
        "between two regular uplinks");
    has(load_with_device(kGoodDevice, R"(, {"id": "bin8", "codec": "milesight-em310-udl",
            "transport": {"type": "chirpstack", "broker": "tcp://127.0.0.1:1884",
                          "dev_eui": "24e124136b502217"}})"),
        "/devices/1/transport/dev_eui: devEui 24e124136b502217 is already device \"bin7\" on "
        "tcp://127.0.0.1:1884");
    has(load_with_device(kGoodDevice, R"(, {"id": "bin8", "codec": "milesight-em310-udl",
            "transport": {"type": "chirpstack", "broker": "tcp://127.0.0.1:1884",
                          "username": "u", "dev_eui": "24e124136b502218"}})"),
        "/devices/1/transport/username: devices on tcp://127.0.0.1:1884 share one MQTT "
        "connection, but \"username\" differs from device \"bin7\"'s");
    has(load_with_device(R"({"id": "bin7", "codec": "milesight-em310-udl",
            "transport": {"type": "chirpstack", "broker": "tcp://127.0.0.1:1883",
                          "client_id": "towngw-g", "dev_eui": "24e124136b502217"}})"),
        "/devices/0/transport/client_id: \"towngw-g\" is also the uplink's client id on the "
        "same broker: the two connections would keep throwing each other off");
}
