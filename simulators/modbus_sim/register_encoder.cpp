// SPDX-License-Identifier: Apache-2.0
#include "modbus_sim/register_encoder.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>

namespace gw::sim {
namespace {

/// 10^d for d in [0, kMaxDecimals]; exact in a double.
double power_of_ten(int decimals) {
    static constexpr std::array<double, kMaxDecimals + 1> kPowers{1e0, 1e1, 1e2, 1e3, 1e4,
                                                                  1e5, 1e6, 1e7, 1e8, 1e9};
    return kPowers[static_cast<std::size_t>(std::clamp(decimals, 0, kMaxDecimals))];
}

/// Real raw value -> integer in [lo, hi]. Floor tolerates representation error (12.3 / 0.1
/// is 122.99999999999999 in binary and must still count as 123).
std::int64_t to_integer(double raw, double lo, double hi, Rounding rounding) {
    if (std::isnan(raw)) {
        return 0;
    }
    double integral = std::round(raw);
    if (rounding == Rounding::Floor) {
        const double tolerance = 1e-9 * std::max(1.0, std::abs(raw));
        if (std::abs(raw - integral) > tolerance) {
            integral = std::floor(raw);
        }
    }
    return static_cast<std::int64_t>(std::clamp(integral, lo, hi));
}

/// Big-endian 16-bit words of the value's bit pattern (word 0 holds bytes A and B).
std::array<std::uint16_t, kMaxPointRegisters> big_endian_words(std::uint64_t bits,
                                                               std::size_t count) {
    std::array<std::uint16_t, kMaxPointRegisters> words{};
    for (std::size_t k = 0; k < count; ++k) {
        const auto shift = static_cast<unsigned>(16 * (count - 1 - k));
        words[k] = static_cast<std::uint16_t>((bits >> shift) & 0xFFFFu);
    }
    return words;
}

std::uint64_t bits_from_big_endian_words(const std::array<std::uint16_t, kMaxPointRegisters>& w,
                                         std::size_t count) {
    std::uint64_t bits = 0;
    for (std::size_t k = 0; k < count; ++k) {
        bits = (bits << 16) | w[k];
    }
    return bits;
}

bool reverses_words(WordOrder order) {
    return order == WordOrder::CDAB || order == WordOrder::DCBA;
}
bool swaps_bytes(WordOrder order) {
    return order == WordOrder::BADC || order == WordOrder::DCBA;
}

std::uint16_t swap_bytes(std::uint16_t word) {
    return static_cast<std::uint16_t>((word << 8) | (word >> 8));
}

/// Big-endian words <-> wire order. The mapping is its own inverse for every order.
std::array<std::uint16_t, kMaxPointRegisters> reorder(
    const std::array<std::uint16_t, kMaxPointRegisters>& in, std::size_t count, WordOrder order) {
    std::array<std::uint16_t, kMaxPointRegisters> out{};
    for (std::size_t i = 0; i < count; ++i) {
        const std::uint16_t word = in[reverses_words(order) ? count - 1 - i : i];
        out[i] = swaps_bytes(order) ? swap_bytes(word) : word;
    }
    return out;
}

}  // namespace

std::size_t register_count(ValueType type) {
    switch (type) {
        case ValueType::Int16:
        case ValueType::Uint16:
            return 1;
        case ValueType::Int32:
        case ValueType::Uint32:
        case ValueType::Float32:
            return 2;
        case ValueType::Float64:
            return 4;
    }
    return 1;
}

EncodedPoint encode_point(const PointFormat& format, double engineering, int decimals,
                          Rounding rounding) {
    const double raw = (engineering - format.offset) / format.scale * power_of_ten(decimals);
    std::uint64_t bits = 0;
    switch (format.type) {
        case ValueType::Int16: {
            const auto value =
                static_cast<std::int16_t>(to_integer(raw, -32768.0, 32767.0, rounding));
            bits = static_cast<std::uint16_t>(value);
            break;
        }
        case ValueType::Uint16:
            bits = static_cast<std::uint64_t>(to_integer(raw, 0.0, 65535.0, rounding));
            break;
        case ValueType::Int32: {
            const auto value =
                static_cast<std::int32_t>(to_integer(raw, -2147483648.0, 2147483647.0, rounding));
            bits = static_cast<std::uint32_t>(value);
            break;
        }
        case ValueType::Uint32:
            bits = static_cast<std::uint64_t>(to_integer(raw, 0.0, 4294967295.0, rounding));
            break;
        case ValueType::Float32: {
            const double bounded = std::isnan(raw) ? raw
                                                   : std::clamp(raw, -static_cast<double>(FLT_MAX),
                                                                static_cast<double>(FLT_MAX));
            const auto narrow = static_cast<float>(bounded);
            std::uint32_t pattern = 0;
            std::memcpy(&pattern, &narrow, sizeof pattern);
            bits = pattern;
            break;
        }
        case ValueType::Float64:
            std::memcpy(&bits, &raw, sizeof bits);
            break;
    }
    EncodedPoint encoded;
    encoded.word_count = register_count(format.type);
    encoded.words =
        reorder(big_endian_words(bits, encoded.word_count), encoded.word_count, format.word_order);
    encoded.decoded_engineering = decode_point(format, encoded.words.data(), decimals);
    return encoded;
}

double decode_point(const PointFormat& format, const std::uint16_t* words, int decimals) {
    const std::size_t count = register_count(format.type);
    std::array<std::uint16_t, kMaxPointRegisters> wire{};
    std::copy(words, words + count, wire.begin());
    const std::uint64_t bits =
        bits_from_big_endian_words(reorder(wire, count, format.word_order), count);
    double raw = 0.0;
    switch (format.type) {
        case ValueType::Int16:
            raw = static_cast<std::int16_t>(static_cast<std::uint16_t>(bits));
            break;
        case ValueType::Uint16:
            raw = static_cast<double>(bits);
            break;
        case ValueType::Int32:
            raw = static_cast<std::int32_t>(static_cast<std::uint32_t>(bits));
            break;
        case ValueType::Uint32:
            raw = static_cast<double>(bits);
            break;
        case ValueType::Float32: {
            const auto pattern = static_cast<std::uint32_t>(bits);
            float value = 0.0F;
            std::memcpy(&value, &pattern, sizeof value);
            raw = value;
            break;
        }
        case ValueType::Float64:
            std::memcpy(&raw, &bits, sizeof raw);
            break;
    }
    return raw / power_of_ten(decimals) * format.scale + format.offset;
}

bool is_integer_type(ValueType type) {
    return type != ValueType::Float32 && type != ValueType::Float64;
}

namespace {

std::uint64_t field_mask(const BitField& field) {
    return field.count >= 64 ? ~std::uint64_t{0} : ((std::uint64_t{1} << field.count) - 1U);
}

/// The point's integer bit pattern (as if ABCD) from wire-order words.
std::uint64_t integer_bits(const PointFormat& format, const std::uint16_t* words) {
    const std::size_t count = register_count(format.type);
    std::array<std::uint16_t, kMaxPointRegisters> wire{};
    std::copy(words, words + count, wire.begin());
    return bits_from_big_endian_words(reorder(wire, count, format.word_order), count);
}

}  // namespace

EncodedPoint encode_bit_field(const PointFormat& format, const BitField& field, double engineering,
                              int decimals, const std::uint16_t* current_words, Rounding rounding) {
    const double raw = (engineering - format.offset) / format.scale * power_of_ten(decimals);
    const double largest = std::ldexp(1.0, static_cast<int>(field.count)) - 1.0;
    const auto value = static_cast<std::uint64_t>(to_integer(raw, 0.0, largest, rounding));
    const std::uint64_t mask = field_mask(field) << field.offset;
    const std::uint64_t bits =
        (integer_bits(format, current_words) & ~mask) | ((value << field.offset) & mask);
    EncodedPoint encoded;
    encoded.word_count = register_count(format.type);
    encoded.words =
        reorder(big_endian_words(bits, encoded.word_count), encoded.word_count, format.word_order);
    encoded.decoded_engineering = decode_bit_field(format, field, encoded.words.data(), decimals);
    return encoded;
}

double decode_bit_field(const PointFormat& format, const BitField& field,
                        const std::uint16_t* words, int decimals) {
    const std::uint64_t value = (integer_bits(format, words) >> field.offset) & field_mask(field);
    return static_cast<double>(value) / power_of_ten(decimals) * format.scale + format.offset;
}

std::optional<ValueType> parse_value_type(std::string_view text) {
    if (text == "int16") return ValueType::Int16;
    if (text == "uint16") return ValueType::Uint16;
    if (text == "int32") return ValueType::Int32;
    if (text == "uint32") return ValueType::Uint32;
    if (text == "float32") return ValueType::Float32;
    if (text == "float64") return ValueType::Float64;
    return std::nullopt;
}

std::optional<WordOrder> parse_word_order(std::string_view text) {
    if (text == "ABCD") return WordOrder::ABCD;
    if (text == "CDAB") return WordOrder::CDAB;
    if (text == "BADC") return WordOrder::BADC;
    if (text == "DCBA") return WordOrder::DCBA;
    return std::nullopt;
}

std::optional<RegisterTable> parse_register_table(std::string_view text) {
    if (text == "holding") return RegisterTable::Holding;
    if (text == "input") return RegisterTable::Input;
    return std::nullopt;
}

std::string_view to_string(ValueType type) {
    switch (type) {
        case ValueType::Int16:
            return "int16";
        case ValueType::Uint16:
            return "uint16";
        case ValueType::Int32:
            return "int32";
        case ValueType::Uint32:
            return "uint32";
        case ValueType::Float32:
            return "float32";
        case ValueType::Float64:
            return "float64";
    }
    return "?";
}

std::string_view to_string(WordOrder order) {
    switch (order) {
        case WordOrder::ABCD:
            return "ABCD";
        case WordOrder::CDAB:
            return "CDAB";
        case WordOrder::BADC:
            return "BADC";
        case WordOrder::DCBA:
            return "DCBA";
    }
    return "?";
}

std::string_view to_string(RegisterTable table) {
    return table == RegisterTable::Holding ? "holding" : "input";
}

}  // namespace gw::sim
