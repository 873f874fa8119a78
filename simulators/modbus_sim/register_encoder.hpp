// SPDX-License-Identifier: Apache-2.0
// Engineering value -> Modbus registers, the exact inverse of the gateway's decoder.
//
// The gateway decodes   engineering = decoded_raw / 10^d * scale + offset
// so the simulator encodes raw = (engineering - offset) / scale * 10^d, rounds integer types
// to nearest (or down, for counters) and clamps to the type's range, then lays the raw value
// out in registers according to the word order. This is written independently of the
// gateway's codec on purpose, so that the two cross-check each other in integration tests.
// Pure code: no I/O, no libmodbus.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace gw::sim {

enum class RegisterTable : std::uint8_t { Holding, Input };  ///< FC03 / FC04
enum class ValueType : std::uint8_t { Int16, Uint16, Int32, Uint32, Float32, Float64 };

/// Byte order of the value on the wire, letters = big-endian bytes of the value (A = MSB).
/// ABCD big-endian; CDAB words reversed (low word first); BADC bytes swapped in each word;
/// DCBA fully little-endian. For 16-bit types only the byte order within the word matters.
enum class WordOrder : std::uint8_t { ABCD, CDAB, BADC, DCBA };

/// How an engineering value becomes an integer raw value.
enum class Rounding : std::uint8_t {
    Nearest,  ///< gauges: round half away from zero
    Floor,    ///< counters/totalisers: never show more than has been counted
};

/// Everything needed to turn an engineering value into register words and back.
struct PointFormat {
    ValueType type{ValueType::Uint16};
    WordOrder word_order{WordOrder::ABCD};
    double scale{1.0};   ///< engineering units per raw unit (after the 10^d division)
    double offset{0.0};  ///< engineering units
};

inline constexpr std::size_t kMaxPointRegisters = 4;  ///< float64 = 4 registers

/// Result of encoding one point: the register words in wire order plus the value the
/// gateway will decode from them (after rounding, clamping and float narrowing).
struct EncodedPoint {
    std::array<std::uint16_t, kMaxPointRegisters> words{};
    std::size_t word_count{};
    double decoded_engineering{};
};

/// Number of 16-bit registers a value type occupies (1, 2 or 4).
std::size_t register_count(ValueType type);

/// Largest decimal count accepted from a decimals register (10^9 still fits a double exactly).
inline constexpr int kMaxDecimals = 9;

/// Engineering value -> register words. `decimals` is the d of the decimals register (0 if
/// the point has none). Integer types are clamped to their range; float32 to +-FLT_MAX.
EncodedPoint encode_point(const PointFormat& format, double engineering, int decimals,
                          Rounding rounding = Rounding::Nearest);

/// Register words in wire order -> engineering value, computed the way the gateway does:
/// decoded_raw / 10^d * scale + offset. `words` must hold register_count(format.type) words.
double decode_point(const PointFormat& format, const std::uint16_t* words, int decimals);

/// A value that occupies only some bits of an integer register (or register pair): bits
/// [offset, offset + count) of the integer assembled in the point's word order. Several bit
/// fields may share one register; encoding one leaves the other bits untouched. The field is
/// always an unsigned number, even in a signed type (status words), as the gateway reads it.
struct BitField {
    unsigned offset{0};
    unsigned count{1};
};

/// Encodes `engineering` into the bits of `field` within `current_words` (register_count(type)
/// words in wire order, the register's present contents) and returns all the words, with the
/// decoded field value. The field is clamped to its range. Integer types only.
EncodedPoint encode_bit_field(const PointFormat& format, const BitField& field, double engineering,
                              int decimals, const std::uint16_t* current_words,
                              Rounding rounding = Rounding::Nearest);

/// The field's engineering value: field / 10^d * scale + offset.
double decode_bit_field(const PointFormat& format, const BitField& field,
                        const std::uint16_t* words, int decimals);

/// True for int16/uint16/int32/uint32.
bool is_integer_type(ValueType type);

/// Parsers for the profile strings; std::nullopt for an unknown name.
std::optional<ValueType> parse_value_type(std::string_view text);
std::optional<WordOrder> parse_word_order(std::string_view text);
std::optional<RegisterTable> parse_register_table(std::string_view text);

std::string_view to_string(ValueType type);
std::string_view to_string(WordOrder order);
std::string_view to_string(RegisterTable table);

}  // namespace gw::sim
