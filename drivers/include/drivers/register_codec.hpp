// SPDX-License-Identifier: Apache-2.0
// Sans-I/O Modbus register codec: device profiles (register maps) and the decoding of register
// words into engineering values. No libmodbus here, so it is unit-testable and reusable.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw::modbus {

enum class RegisterTable : std::uint8_t { Holding, Input };  ///< FC03 / FC04
enum class ValueType : std::uint8_t { Int16, Uint16, Int32, Uint32, Float32, Float64 };

/// Byte order of a multi-register value, named by where bytes A (most significant) .. D land.
/// ABCD: big-endian words and bytes (Modbus "natural"); CDAB: low word first (word-swapped);
/// BADC: words in order, bytes swapped inside each word; DCBA: fully little-endian.
/// For 64-bit values the same rule extends to four words.
enum class WordOrder : std::uint8_t { ABCD, CDAB, BADC, DCBA };

/// Largest number of registers one FC03/FC04 request may read (Modbus spec).
inline constexpr int kMaxRegistersPerRead = 125;

struct RegisterSpec {
    std::string name;  ///< point name, unique within a profile ("ph", "flow")
    RegisterTable table{RegisterTable::Holding};
    std::uint16_t address{0};  ///< 0-based PDU address
    ValueType type{ValueType::Uint16};
    WordOrder word_order{WordOrder::ABCD};
    double scale{1.0};
    double offset{0.0};
    /// Address (same table) of a register holding the number of decimals of this value, read
    /// on every poll: engineering = raw / 10^decimals * scale + offset.
    std::optional<std::uint16_t> decimals_register;
    std::string unit;
    std::string metric;
};

struct DeviceProfile {
    std::string model;
    std::string description;
    std::vector<RegisterSpec> registers;
};

/// One FC03/FC04 request: registers [start, start + count) of one table.
struct ReadBlock {
    RegisterTable table{RegisterTable::Holding};
    std::uint16_t start{0};
    std::uint16_t count{0};
};

int register_count(ValueType type);

std::optional<ValueType> parse_value_type(std::string_view text);
std::optional<WordOrder> parse_word_order(std::string_view text);
std::optional<RegisterTable> parse_register_table(std::string_view text);
const char* to_string(ValueType type);
const char* to_string(WordOrder order);

/// Decodes `register_count(type)` words (as received, one 16-bit register each) into the raw
/// numeric value. Integers up to 32 bits are exact in a double.
double decode_raw(const std::uint16_t* words, ValueType type, WordOrder order);

/// Scales a raw value to engineering units with the register's scale, offset and decimals.
double to_engineering(double raw, const RegisterSpec& spec, int decimals);

/// Plans the requests that read every register (and decimals register) of a profile: one
/// request per table when the span fits in one read, otherwise one request per register.
std::vector<ReadBlock> plan_reads(const DeviceProfile& profile);

/// Register words read for one poll, addressable by table and address.
class RegisterImage {
public:
    void store(const ReadBlock& block, const std::uint16_t* words);
    /// Pointer to `count` consecutive words starting at `address`, or nullptr if not read.
    const std::uint16_t* find(RegisterTable table, std::uint16_t address, int count) const;

private:
    struct Stored {
        ReadBlock block;
        std::vector<std::uint16_t> words;
    };
    std::vector<Stored> blocks_;
};

/// Result of decoding one register of a profile from a register image.
struct DecodedPoint {
    bool ok{false};
    double raw{0.0};    ///< decoded integer/float before scaling
    double value{0.0};  ///< engineering value
    std::string error;  ///< why decoding failed (missing words, bad decimals, NaN)
};

DecodedPoint decode_point(const RegisterImage& image, const RegisterSpec& spec);

}  // namespace gw::modbus
