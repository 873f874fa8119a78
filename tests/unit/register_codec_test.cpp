// SPDX-License-Identifier: Apache-2.0
#include "drivers/register_codec.hpp"

#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

using namespace gw::modbus;

TEST_CASE("decodes the DOMAIN.md reference frame (float ABCD, uint16, float ABCD)",
          "[unit][codec]") {
    // 01 03 0A | 41 A0 00 00 | 00 15 | 41 B0 00 00 -> 20.0, 21, 22.0
    const std::uint16_t words[] = {0x41A0, 0x0000, 0x0015, 0x41B0, 0x0000};
    CHECK(decode_raw(&words[0], ValueType::Float32, WordOrder::ABCD) == 20.0);
    CHECK(decode_raw(&words[2], ValueType::Uint16, WordOrder::ABCD) == 21.0);
    CHECK(decode_raw(&words[3], ValueType::Float32, WordOrder::ABCD) == 22.0);
}

TEST_CASE("32-bit values in all four word orders", "[unit][codec]") {
    // 0x11223344 laid out as each order puts it on the wire.
    struct Case {
        WordOrder order;
        std::uint16_t words[2];
    };
    const Case cases[] = {{WordOrder::ABCD, {0x1122, 0x3344}},
                          {WordOrder::CDAB, {0x3344, 0x1122}},
                          {WordOrder::BADC, {0x2211, 0x4433}},
                          {WordOrder::DCBA, {0x4433, 0x2211}}};
    for (const auto& c : cases) {
        INFO("order " << to_string(c.order));
        CHECK(decode_raw(c.words, ValueType::Uint32, c.order) == 0x11223344);
        CHECK(decode_raw(c.words, ValueType::Int32, c.order) == 0x11223344);
    }
    // float32 20.0 = 0x41A00000
    CHECK(decode_raw(std::array<std::uint16_t, 2>{0x0000, 0x41A0}.data(), ValueType::Float32,
                     WordOrder::CDAB) == 20.0);
    CHECK(decode_raw(std::array<std::uint16_t, 2>{0xA041, 0x0000}.data(), ValueType::Float32,
                     WordOrder::BADC) == 20.0);
    CHECK(decode_raw(std::array<std::uint16_t, 2>{0x0000, 0xA041}.data(), ValueType::Float32,
                     WordOrder::DCBA) == 20.0);
}

TEST_CASE("signed and unsigned integers keep their sign rules", "[unit][codec]") {
    const std::uint16_t minus_two = 0xFFFE;
    CHECK(decode_raw(&minus_two, ValueType::Int16, WordOrder::ABCD) == -2.0);
    CHECK(decode_raw(&minus_two, ValueType::Uint16, WordOrder::ABCD) == 65534.0);
    const std::uint16_t swapped = 0xFEFF;  // -2 with bytes swapped
    CHECK(decode_raw(&swapped, ValueType::Int16, WordOrder::BADC) == -2.0);
    CHECK(decode_raw(&swapped, ValueType::Int16, WordOrder::DCBA) == -2.0);
    CHECK(decode_raw(&swapped, ValueType::Int16, WordOrder::CDAB) ==
          static_cast<std::int16_t>(0xFEFF));

    const std::uint16_t minus_123456[] = {0xFFFE, 0x1DC0};  // 0xFFFE1DC0
    CHECK(decode_raw(minus_123456, ValueType::Int32, WordOrder::ABCD) == -123456.0);
    CHECK(decode_raw(minus_123456, ValueType::Uint32, WordOrder::ABCD) == 4294843840.0);
    // A totaliser above float32's exact range stays exact as a 32-bit integer.
    const std::uint16_t big_total[] = {0x0100, 0x0001};  // CDAB: 0x00010100 ... low word first
    CHECK(decode_raw(big_total, ValueType::Uint32, WordOrder::CDAB) == 0x00010100);
    const std::uint16_t total_16777217[] = {0x0001, 0x0100};  // CDAB of 0x01000001
    CHECK(decode_raw(total_16777217, ValueType::Uint32, WordOrder::CDAB) == 16777217.0);
}

TEST_CASE("float64 in all four word orders", "[unit][codec]") {
    // 1.0 = 0x3FF0000000000000
    const std::uint16_t abcd[] = {0x3FF0, 0, 0, 0};
    const std::uint16_t cdab[] = {0, 0, 0, 0x3FF0};
    const std::uint16_t badc[] = {0xF03F, 0, 0, 0};
    const std::uint16_t dcba[] = {0, 0, 0, 0xF03F};
    CHECK(decode_raw(abcd, ValueType::Float64, WordOrder::ABCD) == 1.0);
    CHECK(decode_raw(cdab, ValueType::Float64, WordOrder::CDAB) == 1.0);
    CHECK(decode_raw(badc, ValueType::Float64, WordOrder::BADC) == 1.0);
    CHECK(decode_raw(dcba, ValueType::Float64, WordOrder::DCBA) == 1.0);
}

TEST_CASE("scale, offset and decimals register give engineering units", "[unit][codec]") {
    RegisterSpec level;
    level.name = "level";
    level.address = 4;
    level.type = ValueType::Int16;
    level.decimals_register = 3;

    DeviceProfile profile;
    profile.registers = {level};
    const auto plan = plan_reads(profile);
    REQUIRE(plan.size() == 1);
    CHECK(plan[0].start == 3);
    CHECK(plan[0].count == 2);

    RegisterImage image;
    const std::uint16_t words[] = {2, 1234};  // 2 decimals, raw 1234 -> 12.34
    image.store(plan[0], words);
    auto point = decode_point(image, level);
    REQUIRE(point.ok);
    CHECK(point.raw == 1234.0);
    CHECK(point.value == Approx(12.34));

    const std::uint16_t garbled[] = {9, 1234};
    RegisterImage bad;
    bad.store(plan[0], garbled);
    auto failed = decode_point(bad, level);
    CHECK_FALSE(failed.ok);
    CHECK_THAT(failed.error, Catch::Contains("decimals register 3 holds 9"));

    RegisterSpec temp;
    temp.type = ValueType::Int16;
    temp.scale = 0.1;
    temp.offset = -40.0;
    CHECK(to_engineering(655.0, temp, 0) == Approx(25.5));
}

TEST_CASE("non-finite floats are a decode error, not a value", "[unit][codec]") {
    RegisterSpec spec;
    spec.type = ValueType::Float32;
    DeviceProfile profile;
    profile.registers = {spec};
    RegisterImage image;
    const std::uint16_t nan_words[] = {0x7FC0, 0x0000};
    image.store(plan_reads(profile).at(0), nan_words);
    const auto point = decode_point(image, spec);
    CHECK_FALSE(point.ok);
    CHECK_THAT(point.error, Catch::Contains("non-finite"));
}

TEST_CASE("read planning merges a table into one request when it fits", "[unit][codec]") {
    DeviceProfile profile;
    RegisterSpec a;
    a.address = 0;
    a.type = ValueType::Float32;
    RegisterSpec b;
    b.address = 8;
    b.type = ValueType::Int32;
    RegisterSpec c;
    c.table = RegisterTable::Input;
    c.address = 10;
    c.type = ValueType::Uint16;
    profile.registers = {a, b, c};
    auto plan = plan_reads(profile);
    REQUIRE(plan.size() == 2);
    CHECK(plan[0].table == RegisterTable::Holding);
    CHECK(plan[0].start == 0);
    CHECK(plan[0].count == 10);
    CHECK(plan[1].table == RegisterTable::Input);
    CHECK(plan[1].count == 1);

    // Too far apart for one read: one request per register.
    profile.registers[1].address = 1436;
    plan = plan_reads(profile);
    REQUIRE(plan.size() == 3);
    CHECK(plan[1].start == 1436);
    CHECK(plan[1].count == 2);
}

TEST_CASE("a register that was not read is reported, not invented", "[unit][codec]") {
    RegisterSpec spec;
    spec.address = 100;
    RegisterImage empty;
    const auto point = decode_point(empty, spec);
    CHECK_FALSE(point.ok);
    CHECK_THAT(point.error, Catch::Contains("register 100 was not read"));
}

namespace {

RegisterSpec point_at(std::uint16_t address, ValueType type,
                      RegisterTable table = RegisterTable::Holding) {
    RegisterSpec spec;
    spec.name = "p" + std::to_string(address);
    spec.address = address;
    spec.type = type;
    spec.table = table;
    return spec;
}

/// Decodes `spec` from words stored at `start`.
DecodedPoint decode_from(const RegisterSpec& spec, std::uint16_t start,
                         std::vector<std::uint16_t> words) {
    RegisterImage image;
    image.store({spec.table, start, static_cast<std::uint16_t>(words.size())}, words.data());
    return decode_point(image, spec);
}

}  // namespace

TEST_CASE("bit fields come from the unsigned bit pattern, also of signed types", "[unit][codec]") {
    // Status word 0b1010'0110: bit 1 = 1, bits 4..7 = 0b1010 = 10.
    RegisterSpec alarm = point_at(0, ValueType::Uint16);
    alarm.bit_field = BitField{1, 1};
    auto point = decode_from(alarm, 0, {0x00A6});
    REQUIRE(point.ok);
    CHECK(point.raw == 1.0);
    CHECK(point.fault == gw::drivers::PointFault::None);

    RegisterSpec mode = alarm;
    mode.bit_field = BitField{4, 4};
    CHECK(decode_from(mode, 0, {0x00A6}).value == 10.0);

    // int16 -2 = 0xFFFE: the field sees the bits, not the sign (bits 1..3 = 0b111).
    RegisterSpec signed_field = point_at(0, ValueType::Int16);
    signed_field.bit_field = BitField{1, 3};
    CHECK(decode_from(signed_field, 0, {0xFFFE}).value == 7.0);
    signed_field.bit_field = BitField{0, 16};
    CHECK(decode_from(signed_field, 0, {0xFFFE}).value == 65534.0);

    // Byte order applies before extraction: BADC int16 0x00A6 travels as 0xA600.
    RegisterSpec swapped = mode;
    swapped.type = ValueType::Int16;
    swapped.word_order = WordOrder::BADC;
    CHECK(decode_from(swapped, 0, {0xA600}).value == 10.0);

    // 32-bit: the top bit of an int32 (CDAB: low word first), then scale and offset.
    RegisterSpec high_bit = point_at(0, ValueType::Int32);
    high_bit.word_order = WordOrder::CDAB;
    high_bit.bit_field = BitField{31, 1};
    CHECK(decode_from(high_bit, 0, {0x0000, 0x8000}).value == 1.0);
    RegisterSpec scaled = point_at(0, ValueType::Uint32);
    scaled.bit_field = BitField{16, 8};
    scaled.scale = 0.5;
    scaled.offset = 1.0;
    CHECK(decode_from(scaled, 0, {0x1234, 0x5678}).value == 0x34 * 0.5 + 1.0);

    // Several points share one register.
    DeviceProfile profile;
    profile.registers = {alarm, mode};
    const auto plan = plan_reads(profile);
    REQUIRE(plan.size() == 1);
    CHECK(plan[0].count == 1);
}

TEST_CASE("a value outside the measuring range is carried with an OverRange fault",
          "[unit][codec]") {
    RegisterSpec chlorine = point_at(0, ValueType::Int16);
    chlorine.scale = 0.1;
    chlorine.unit = "mg/L";
    chlorine.range = MeasuringRange{0.0, 5.0};

    auto above = decode_from(chlorine, 0, {79});
    CHECK_FALSE(above.ok);
    CHECK(above.fault == gw::drivers::PointFault::OverRange);
    CHECK(above.value == Approx(7.9));
    CHECK(above.raw == 79.0);
    CHECK(above.error == "7.9 mg/L above the measuring range 0..5 mg/L");

    auto below = decode_from(chlorine, 0, {static_cast<std::uint16_t>(-3)});
    CHECK(below.fault == gw::drivers::PointFault::OverRange);
    CHECK(below.value == Approx(-0.3));
    CHECK(below.error == "-0.3 mg/L below the measuring range 0..5 mg/L");

    // The limits themselves are inside.
    auto at_max = decode_from(chlorine, 0, {50});
    CHECK(at_max.ok);
    CHECK(at_max.fault == gw::drivers::PointFault::None);
    CHECK(at_max.error.empty());
    CHECK(decode_from(chlorine, 0, {0}).ok);

    RegisterSpec no_unit = chlorine;
    no_unit.unit.clear();
    CHECK(decode_from(no_unit, 0, {79}).error == "7.9 above the measuring range 0..5");
}

TEST_CASE("decode failures are Decode faults", "[unit][codec]") {
    RegisterSpec missing = point_at(100, ValueType::Uint16);
    CHECK(decode_point(RegisterImage{}, missing).fault == gw::drivers::PointFault::Decode);

    RegisterSpec nan = point_at(0, ValueType::Float32);
    nan.range = MeasuringRange{0.0, 14.0};
    const auto nan_point = decode_from(nan, 0, {0x7FC0, 0x0000});
    CHECK(nan_point.fault == gw::drivers::PointFault::Decode);
    CHECK_THAT(nan_point.error, Catch::Contains("non-finite"));

    RegisterSpec level = point_at(4, ValueType::Int16);
    level.decimals_register = 3;
    CHECK(decode_from(level, 3, {9, 1234}).fault == gw::drivers::PointFault::Decode);
    CHECK(decode_from(level, 4, {1234}).fault == gw::drivers::PointFault::Decode);
    CHECK(decode_from(level, 3, {2, 1234}).fault == gw::drivers::PointFault::None);
}

TEST_CASE("read planning merges registers across gaps up to merge_gap", "[unit][codec]") {
    DeviceProfile profile;
    // Holding 0..1, 6..7 (gap 4), 20 (gap 12), 21 (contiguous), listed out of order.
    profile.registers = {point_at(20, ValueType::Int16), point_at(0, ValueType::Float32),
                         point_at(21, ValueType::Uint16), point_at(6, ValueType::Float32)};

    auto plan = plan_reads(profile);  // default gap 8
    REQUIRE(plan.size() == 2);
    CHECK(plan[0].start == 0);
    CHECK(plan[0].count == 8);
    CHECK(plan[1].start == 20);
    CHECK(plan[1].count == 2);

    profile.merge_gap = 12;  // exactly the gap between 7 and 20
    plan = plan_reads(profile);
    REQUIRE(plan.size() == 1);
    CHECK(plan[0].start == 0);
    CHECK(plan[0].count == 22);

    profile.merge_gap = 3;  // smaller than 4: 0..1 and 6..7 stay apart
    plan = plan_reads(profile);
    REQUIRE(plan.size() == 3);
    CHECK(plan[1].start == 6);
    CHECK(plan[1].count == 2);
}

TEST_CASE("merge_gap 0 reads only contiguous registers together", "[unit][codec]") {
    DeviceProfile profile;
    profile.merge_gap = 0;
    profile.registers = {point_at(0, ValueType::Float32), point_at(2, ValueType::Float32),
                         point_at(5, ValueType::Uint16), point_at(5, ValueType::Uint16)};
    const auto plan = plan_reads(profile);
    REQUIRE(plan.size() == 2);
    CHECK(plan[0].start == 0);
    CHECK(plan[0].count == 4);
    CHECK(plan[1].start == 5);  // the same register twice (bit fields) is one read
    CHECK(plan[1].count == 1);
}

TEST_CASE("read planning keeps every request within 125 registers", "[unit][codec]") {
    DeviceProfile profile;
    profile.merge_gap = kMaxMergeGap;
    // 0..1 and 123..124 fit exactly (125 registers); 124..125 would not.
    profile.registers = {point_at(0, ValueType::Float32), point_at(123, ValueType::Float32)};
    auto plan = plan_reads(profile);
    REQUIRE(plan.size() == 1);
    CHECK(plan[0].count == kMaxRegistersPerRead);

    profile.registers[1].address = 124;
    plan = plan_reads(profile);
    REQUIRE(plan.size() == 2);
    CHECK(plan[0].count == 2);
    CHECK(plan[1].start == 124);
    CHECK(plan[1].count == 2);

    // A long run of contiguous registers is split at 125, never into a request past it.
    profile.merge_gap = 0;
    profile.registers.clear();
    for (std::uint16_t address = 0; address < 300; address += 2)
        profile.registers.push_back(point_at(address, ValueType::Float32));
    plan = plan_reads(profile);
    int covered = 0;
    for (const auto& block : plan) {
        CHECK(block.count <= kMaxRegistersPerRead);
        CHECK(block.count % 2 == 0);  // a float32 is never split across requests
        covered += block.count;
    }
    CHECK(covered == 300);
    CHECK(plan.size() == 3);
}

TEST_CASE("read planning includes decimals registers and both tables", "[unit][codec]") {
    DeviceProfile profile;
    RegisterSpec level = point_at(40, ValueType::Int16, RegisterTable::Input);
    level.decimals_register = 3;  // gap 36 from the value: its own request
    RegisterSpec flow = point_at(10, ValueType::Float32);
    RegisterSpec total = point_at(14, ValueType::Int32);
    total.decimals_register = 12;  // fills the gap between flow and total
    profile.registers = {level, flow, total};
    profile.merge_gap = 0;

    const auto plan = plan_reads(profile);
    REQUIRE(plan.size() == 4);
    CHECK(plan[0].table == RegisterTable::Holding);
    CHECK(plan[0].start == 10);
    CHECK(plan[0].count == 3);  // 10..11 flow, 12 decimals; 13 is a gap of 1 > 0
    CHECK(plan[1].table == RegisterTable::Holding);
    CHECK(plan[1].start == 14);
    CHECK(plan[1].count == 2);
    CHECK(plan[2].table == RegisterTable::Input);
    CHECK(plan[2].start == 3);
    CHECK(plan[2].count == 1);
    CHECK(plan[3].table == RegisterTable::Input);
    CHECK(plan[3].start == 40);
    CHECK(plan[3].count == 1);

    // The same profile with the default gap: one request per table would span 3..40 = 38
    // registers in the input table, but the gap is 36 > 8.
    profile.merge_gap = kDefaultMergeGap;
    const auto merged = plan_reads(profile);
    REQUIRE(merged.size() == 3);
    CHECK(merged[0].start == 10);
    CHECK(merged[0].count == 6);
}
