// SPDX-License-Identifier: Apache-2.0
// Unit tests of towngw-sim's pure parts (the simulator, not the gateway): RTU wire timing
// against the numbers in DOMAIN.md §5, fault parsing and combination, the trigger-probe device
// model, bit fields, and the LoRaWAN (Milesight EM310-UDL / ChirpStack v4) uplink builder.
#include <catch2/catch.hpp>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "drivers/register_codec.hpp"
#include "modbus_sim/device_model.hpp"
#include "modbus_sim/faults.hpp"
#include "modbus_sim/lorawan.hpp"
#include "modbus_sim/register_encoder.hpp"
#include "modbus_sim/rtu_timing.hpp"
#include "modbus_sim/scenario.hpp"

using namespace gw::sim;

namespace {

RtuLineSettings line(int baud, char parity, int stop_bits) {
    RtuLineSettings settings;
    settings.baud = baud;
    settings.parity = parity;
    settings.stop_bits = stop_bits;
    return settings;
}

/// DOMAIN.md §5.3: T_poll(N) = (13 + 2N)·Tc + 2·t3.5 with no slave or host latency.
double poll_cycle_ms(int registers, const RtuLineSettings& settings) {
    const auto bytes = static_cast<std::size_t>(13 + 2 * registers);
    return wire_time_ms(bytes, settings) + 2.0 * frame_silence_ms(settings);
}

}  // namespace

TEST_CASE("RTU wire time matches DOMAIN.md §5.1/§5.2", "[unit][sim][rtu_timing]") {
    const auto n81 = line(9600, 'N', 1);
    const auto e81 = line(9600, 'E', 1);
    CHECK(bits_per_character(n81) == 10);
    CHECK(bits_per_character(e81) == 11);
    CHECK(bits_per_character(line(9600, 'N', 2)) == 11);  // Aqualabo 8N2

    // FC03 one float: request 8 bytes, response 5 + 2·2 = 9 bytes.
    CHECK(wire_time_ms(8, n81) == Approx(8.333).margin(0.001));
    CHECK(wire_time_ms(9, n81) == Approx(9.375).margin(0.001));
    // The simulator's reply time for that exchange with a 5 ms turnaround.
    CHECK(wire_time_ms(8, n81) + reply_gap_ms(n81) + wire_time_ms(9, n81) ==
          Approx(22.708).margin(0.001));

    // Table §5.1: Tc and t3.5.
    CHECK(character_time_ms(line(4800, 'N', 1)) == Approx(2.083).margin(0.001));
    CHECK(character_time_ms(line(4800, 'E', 1)) == Approx(2.292).margin(0.001));
    CHECK(frame_silence_ms(line(4800, 'N', 1)) == Approx(7.29).margin(0.01));
    CHECK(frame_silence_ms(line(4800, 'E', 1)) == Approx(8.02).margin(0.01));
    CHECK(frame_silence_ms(n81) == Approx(3.65).margin(0.01));
    CHECK(frame_silence_ms(e81) == Approx(4.01).margin(0.01));
    CHECK(frame_silence_ms(line(19200, 'N', 1)) == Approx(1.82).margin(0.01));
    CHECK(frame_silence_ms(line(19200, 'E', 1)) == Approx(2.01).margin(0.01));
    CHECK(frame_silence_ms(line(38400, 'E', 1)) == Approx(1.75));
    CHECK(frame_silence_ms(line(115200, 'N', 1)) == Approx(1.75));

    // Table §5.3: wire time and cycle at 9600 8N1, polls/s for 8E1 and 19200.
    CHECK(wire_time_ms(13 + 2 * 2, n81) == Approx(17.7).margin(0.05));
    CHECK(poll_cycle_ms(2, n81) == Approx(25.0).margin(0.05));
    CHECK(1000.0 / poll_cycle_ms(1, n81) == Approx(43.6).margin(0.05));
    CHECK(1000.0 / poll_cycle_ms(2, e81) == Approx(36.4).margin(0.05));
    CHECK(1000.0 / poll_cycle_ms(10, line(19200, 'N', 1)) == Approx(48.0).margin(0.05));
    CHECK(poll_cycle_ms(125, n81) == Approx(281.2).margin(0.1));
}

TEST_CASE("RTU reply gap never undercuts t3.5", "[unit][sim][rtu_timing]") {
    auto settings = line(9600, 'N', 1);
    settings.turnaround_ms = 0.0;
    CHECK(reply_gap_ms(settings) == Approx(frame_silence_ms(settings)));
    settings.turnaround_ms = 20.0;
    CHECK(reply_gap_ms(settings) == Approx(20.0));
    CHECK(describe(line(9600, 'N', 2)) == "9600 8N2");
}

TEST_CASE("fault arguments of --fault parse and reject bad input", "[unit][sim][faults]") {
    const FaultSpec slow = parse_fault_argument("water1:slow:delay_ms=800,probability=0.25");
    CHECK(slow.device == "water1");
    CHECK(slow.kind == FaultKind::Slow);
    CHECK(slow.delay_ms == 800.0);
    CHECK(slow.probability == 0.25);
    CHECK(parse_fault_argument("flow1:exception").exception_code == 4);
    CHECK(parse_fault_argument("flow1:exception:code=11").exception_code == 11);
    CHECK(parse_fault_argument("binA:replay:back=3").replay_back == 3);

    CHECK_THROWS_AS(parse_fault_argument("water1"), std::invalid_argument);
    CHECK_THROWS_AS(parse_fault_argument("water1:nap"), std::invalid_argument);
    CHECK_THROWS_AS(parse_fault_argument("water1:slow"), std::invalid_argument);
    CHECK_THROWS_AS(parse_fault_argument("water1:timeout:code=3"), std::invalid_argument);
    CHECK_THROWS_AS(parse_fault_argument("water1:exception:code=12"), std::invalid_argument);
    CHECK_THROWS_AS(parse_fault_argument("water1:timeout:probability=0"), std::invalid_argument);

    CHECK(fault_kind_problem(FaultKind::BadCrc, DeviceFamily::ModbusRtu).empty());
    CHECK_FALSE(fault_kind_problem(FaultKind::BadCrc, DeviceFamily::ModbusTcp).empty());
    CHECK_FALSE(fault_kind_problem(FaultKind::Duplicate, DeviceFamily::ModbusRtu).empty());
    CHECK_FALSE(fault_kind_problem(FaultKind::Timeout, DeviceFamily::Lorawan).empty());
    CHECK(fault_kind_problem(FaultKind::Stuck, DeviceFamily::Lorawan).empty());
}

TEST_CASE("fault board combines faults, windows and probabilities", "[unit][sim][faults]") {
    FaultBoard board(7);
    FaultSpec timeout;
    timeout.device = "a";
    timeout.kind = FaultKind::Timeout;
    timeout.from_s = 10.0;
    timeout.until_s = 20.0;
    board.add(timeout);
    FaultSpec slow;
    slow.device = "a";
    slow.kind = FaultKind::Slow;
    slow.delay_ms = 300.0;
    board.add(slow);
    FaultSpec disconnect;
    disconnect.device = "b";
    disconnect.kind = FaultKind::Disconnect;
    board.add(disconnect);

    CHECK_FALSE(board.modbus_effect("a", true, 5.0).no_reply);
    CHECK(board.modbus_effect("a", true, 5.0).extra_delay_ms == 300.0);
    CHECK(board.modbus_effect("a", true, 10.0).no_reply);
    CHECK_FALSE(board.modbus_effect("a", true, 20.0).no_reply);  // until_s is exclusive
    CHECK(board.modbus_effect("b", true, 0.0).no_reply);         // RTU: disconnect = timeout
    CHECK(board.modbus_effect("b", false, 0.0).disconnect);
    CHECK_FALSE(board.modbus_effect("c", true, 0.0).hit);
    CHECK(*board.next_edge_after(0.0) == 10.0);
    CHECK(*board.next_edge_after(10.0) == 20.0);
    CHECK(board.clear("a") == 2);
    CHECK_FALSE(board.modbus_effect("a", true, 15.0).hit);
    CHECK(board.clear("*") == 1);

    // probability: reproducible with the seed, close to the asked fraction.
    const auto hits = [](std::uint64_t seed) {
        FaultBoard seeded(seed);
        FaultSpec sometimes;
        sometimes.device = "a";
        sometimes.kind = FaultKind::Timeout;
        sometimes.probability = 0.3;
        seeded.add(sometimes);
        std::vector<bool> pattern;
        for (int i = 0; i < 2000; ++i) pattern.push_back(seeded.modbus_effect("a", true, 0).hit);
        return pattern;
    };
    const auto first = hits(42);
    CHECK(first == hits(42));
    const auto count = std::count(first.begin(), first.end(), true);
    CHECK(count > 500);
    CHECK(count < 700);
}

namespace {

DeviceConfig trigger_device() {
    const auto profile = parse_profile(nlohmann::json::parse(R"({
          "trigger": {"address": 1, "value": 15, "wait_register": 164, "wait_ms": 500},
          "registers": [
            {"name": "temperature", "address": 83, "type": "float32", "word_order": "ABCD"},
            {"name": "ph", "address": 85, "type": "float32", "word_order": "ABCD"}]})"),
                                       "trigger.json");
    DeviceConfig config;
    config.id = "probe";
    config.profile = profile;
    config.transport = Transport::Rtu;
    config.signals = {ConstantSignal{18.5}, ConstantSignal{7.25}};
    config.decimals = {0, 0};
    config.wait_ms = 300;
    return config;
}

}  // namespace

TEST_CASE("trigger probe: NaN until the first measurement, results only on completion",
          "[unit][sim][trigger]") {
    DeviceModel probe(trigger_device(), 1);
    std::mt19937_64 rng(1);
    SimClock clock;
    const std::uint16_t* holding = probe.mapping()->tab_registers;
    CHECK(holding[164] == 300);  // the scenario's wait_ms overrides the profile's 500
    CHECK(holding[83] == 0x7FC0);
    CHECK(holding[84] == 0x0000);
    auto served = probe.refresh(RegisterTable::Holding, 83, 4, clock.at(0), rng, false);
    REQUIRE(served.size() == 2);
    CHECK(std::isnan(served[0].value));

    CHECK(probe.write_hits_trigger(1, 1));
    CHECK_FALSE(probe.write_hits_trigger(2, 5));
    probe.start_measurement(10.0);
    CHECK(probe.measurement_pending());
    CHECK_FALSE(probe.complete_due_measurement(10.299, clock, rng, false));
    CHECK(std::isnan(
        probe.refresh(RegisterTable::Holding, 83, 2, clock.at(10.2), rng, false)[0].value));
    CHECK(probe.complete_due_measurement(10.3, clock, rng, false));
    CHECK(*probe.last_measurement_s() == Approx(10.3));
    served = probe.refresh(RegisterTable::Holding, 83, 4, clock.at(10.4), rng, false);
    CHECK(served[0].value == Approx(18.5));
    CHECK(served[1].value == Approx(7.25));
    CHECK(probe.overlaps_points(RegisterTable::Holding, 84, 1));
    CHECK_FALSE(probe.overlaps_points(RegisterTable::Holding, 164, 1));

    probe.mapping()->tab_registers[164] = 1;  // a master wrote the read-only wait register
    probe.restore_read_only_registers();
    CHECK(holding[164] == 300);
}

TEST_CASE("bit fields share a register without touching each other", "[unit][sim][bits]") {
    PointFormat format;
    format.type = ValueType::Uint16;
    std::uint16_t word = 0;
    auto set = [&](unsigned offset, unsigned count, double value) {
        const auto encoded = encode_bit_field(format, {offset, count}, value, 0, &word);
        word = encoded.words[0];
        return encoded.decoded_engineering;
    };
    set(0, 1, 1);
    set(4, 4, 9);
    CHECK(set(8, 8, 300) == 255);  // clamped to the field
    CHECK(word == 0xFF91);
    CHECK(decode_bit_field(format, {4, 4}, &word, 0) == 9);
    set(4, 4, 2);
    CHECK(word == 0xFF21);

    // As in the gateway, a field is unsigned even inside a signed type.
    PointFormat signed_format;
    signed_format.type = ValueType::Int16;
    std::uint16_t sword = 0xFFFF;
    const auto field = encode_bit_field(signed_format, {12, 4}, 9, 0, &sword);
    CHECK(field.decoded_engineering == 9);
    CHECK(field.words[0] == 0x9FFF);
    CHECK(encode_bit_field(signed_format, {12, 4}, -5, 0, &sword).decoded_engineering == 0);

    PointFormat cdab;
    cdab.type = ValueType::Uint32;
    cdab.word_order = WordOrder::CDAB;
    std::uint16_t words[2] = {0, 0};
    auto hours = encode_bit_field(cdab, {0, 24}, 123456, 0, words);
    std::copy_n(hours.words.begin(), 2, words);
    auto starts = encode_bit_field(cdab, {24, 8}, 7, 0, words);
    CHECK(starts.words[0] == 0xE240);  // low word first
    CHECK(starts.words[1] == 0x0701);
}

TEST_CASE("1-based profiles subtract one from every register number", "[unit][sim][profile]") {
    const auto profile = parse_profile(nlohmann::json::parse(R"({
          "addressing": "1-based", "merge_gap": 3,
          "trigger": {"address": 2, "value": 1, "wait_register": 165, "function": "write_multiple"},
          "registers": [
            {"name": "a", "address": 1, "type": "uint16", "bit_offset": 0, "bit_count": 4},
            {"name": "b", "address": 1, "type": "uint16", "bit_offset": 4, "bit_count": 4,
             "range": [0, 15], "description": "second nibble"},
            {"name": "c", "address": 10, "type": "int16", "decimals_register": 12}]})"),
                                       "one_based.json");
    CHECK(profile.points[0].address == 0);
    CHECK(profile.points[2].address == 9);
    CHECK(*profile.points[2].decimals_register == 11);
    CHECK(profile.trigger->address == 1);
    CHECK(*profile.trigger->wait_register == 164);
    CHECK(profile.merge_gap == 3);
    CHECK_THROWS_AS(parse_profile(nlohmann::json::parse(R"({"addressing": "1-based",
                      "registers": [{"name": "a", "address": 0, "type": "uint16"}]})"),
                                  "bad.json"),
                    ConfigError);
}

TEST_CASE("EM310-UDL payload and ChirpStack v4 uplink event", "[unit][sim][lorawan]") {
    // DOMAIN.md §3.3: 01755C 03824408 040001 = battery 92 %, 2116 mm, tilt.
    const auto reading = make_em310_reading(92.2, 2116.4, true);
    const auto payload = encode_em310_udl(reading);
    CHECK(payload ==
          std::vector<std::uint8_t>{0x01, 0x75, 0x5C, 0x03, 0x82, 0x44, 0x08, 0x04, 0x00, 0x01});
    CHECK(base64_encode(payload) == "AXVcA4JECAQAAQ==");
    CHECK(base64_encode({0x01}) == "AQ==");
    CHECK(base64_encode({0x01, 0x02}) == "AQI=");
    CHECK(garbage_em310_udl(reading).size() == 6);
    CHECK(make_em310_reading(140, -3, false).battery_pct == 100);
    CHECK(make_em310_reading(140, -3, false).distance_mm == 0);

    std::mt19937_64 rng(3);
    const std::string uuid = uuid_v4(rng);
    REQUIRE(uuid.size() == 36);
    CHECK(uuid[14] == '4');
    CHECK(std::string("89ab").find(uuid[19]) != std::string::npos);

    CHECK(rfc3339_utc(std::chrono::system_clock::time_point(std::chrono::microseconds(
              1'700'000'000'123'456LL))) == "2023-11-14T22:13:20.123456+00:00");

    LorawanConfig config;
    config.application_id = "app-1";
    config.gateway_id = "0016c001f153a14c";
    LorawanDeviceConfig device;
    device.id = "binA";
    device.dev_eui = "24e124713b420001";
    device.dev_addr = "01420001";
    Uplink uplink;
    uplink.dedup_id = uuid;
    uplink.f_cnt = 7;
    uplink.payload = payload;
    const auto event = uplink_event_json(config, device, uplink);
    CHECK(uplink_topic(config, device) == "application/app-1/device/24e124713b420001/event/up");
    CHECK(event["deduplicationId"] == uuid);
    CHECK(event["deviceInfo"]["devEui"] == "24e124713b420001");
    CHECK(event["deviceInfo"]["deviceName"] == "binA");
    CHECK(event["fCnt"] == 7);
    CHECK(event["fPort"] == 85);
    CHECK(event["dr"] == 5);
    CHECK(event["data"] == "AXVcA4JECAQAAQ==");
    CHECK(event["rxInfo"][0]["gatewayId"] == "0016c001f153a14c");
    CHECK(event["txInfo"]["modulation"]["lora"]["spreadingFactor"] == 7);
}

TEST_CASE("LoRaWAN fleet: duplicate, replay, silent and tilt faults", "[unit][sim][lorawan]") {
    LorawanConfig config;
    config.application_id = "app";
    LorawanDeviceConfig device;
    device.id = "bin";
    device.dev_eui = "0011223344556677";
    device.interval_ms = 1000;
    device.distance = ConstantSignal{850};
    config.devices.push_back(device);
    LorawanFleet fleet(config, 1);
    FaultBoard faults(1);
    SimClock clock;
    struct Sent {
        std::uint32_t f_cnt;
        std::string dedup_id;
        std::string kind;
        int position;
    };
    std::vector<Sent> sent;
    std::vector<std::string> payloads;
    const auto publish = [&](const std::string&, const std::string& payload) {
        payloads.push_back(payload);
        return true;
    };
    const auto on_published = [&](const LorawanDeviceConfig&, const Uplink& uplink,
                                  std::string_view kind) {
        sent.push_back({uplink.f_cnt, uplink.dedup_id, std::string(kind), uplink.reading.position});
    };
    const auto run = [&](double t_s) {
        fleet.run_due(t_s, std::chrono::system_clock::now(), clock, faults, publish, on_published);
    };
    run(0.0);  // f_cnt 0
    REQUIRE(sent.size() == 1);
    CHECK(*fleet.next_due_s() == Approx(1.0));
    faults.add(parse_fault_argument("bin:duplicate"));
    run(1.0);  // f_cnt 1 twice, same dedup id and identical JSON
    REQUIRE(sent.size() == 3);
    CHECK(sent[2].kind == "duplicate");
    CHECK(sent[2].dedup_id == sent[1].dedup_id);
    CHECK(payloads[2] == payloads[1]);
    faults.clear("*");
    faults.add(parse_fault_argument("bin:replay:back=2"));
    run(2.0);  // f_cnt 2, then f_cnt 0 again with a new dedup id
    REQUIRE(sent.size() == 5);
    CHECK(sent[4].kind == "replay");
    CHECK(sent[4].f_cnt == 0);
    CHECK(sent[4].dedup_id != sent[0].dedup_id);
    faults.clear("*");
    faults.add(parse_fault_argument("bin:silent"));
    run(3.0);
    CHECK(sent.size() == 5);
    faults.clear("*");
    faults.add(parse_fault_argument("bin:tilt"));
    run(4.5);
    REQUIRE(sent.size() == 6);
    CHECK(sent[5].f_cnt == 3);  // silence did not use up a frame counter
    CHECK(sent[5].position == 1);
    CHECK(fleet.counters(0).uplinks == 5);
    CHECK(fleet.counters(0).faulted == 4);
}

TEST_CASE("simulator bit fields decode to the same value in the gateway", "[unit][sim][bits]") {
    const ValueType types[] = {ValueType::Uint16, ValueType::Int16, ValueType::Uint32,
                               ValueType::Int32};
    const WordOrder orders[] = {WordOrder::ABCD, WordOrder::CDAB, WordOrder::BADC, WordOrder::DCBA};
    const BitField fields[] = {{0, 1}, {3, 4}, {8, 8}, {0, 16}, {12, 4}, {15, 1}};
    const BitField wide_fields[] = {{16, 8}, {24, 8}, {0, 24}, {31, 1}, {0, 32}};
    for (const auto type : types) {
        for (const auto order : orders) {
            PointFormat format;
            format.type = type;
            format.word_order = order;
            std::vector<BitField> all(std::begin(fields), std::end(fields));
            if (register_count(type) == 2)
                all.insert(all.end(), std::begin(wide_fields), std::end(wide_fields));
            for (const auto& field : all) {
                // Start from a busy word so the other bits must survive.
                std::uint16_t words[2] = {0xA5C3, 0x5A3C};
                const double value = std::ldexp(1.0, static_cast<int>(field.count)) - 2.0 > 0
                                         ? std::ldexp(1.0, static_cast<int>(field.count)) - 2.0
                                         : 1.0;
                const auto encoded = encode_bit_field(format, field, value, 0, words);
                const double gateway = gw::modbus::decode_bit_field(
                    encoded.words.data(), *gw::modbus::parse_value_type(to_string(type)),
                    *gw::modbus::parse_word_order(to_string(order)),
                    gw::modbus::BitField{static_cast<int>(field.offset),
                                         static_cast<int>(field.count)});
                INFO(to_string(type)
                     << " " << to_string(order) << " bits " << field.offset << "+" << field.count);
                CHECK(encoded.decoded_engineering == value);
                CHECK(gateway == value);
            }
        }
    }
}
