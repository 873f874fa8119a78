// SPDX-License-Identifier: Apache-2.0
#include "drivers/register_codec.hpp"

#include <catch2/catch.hpp>
#include <cmath>

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
