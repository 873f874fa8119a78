// SPDX-License-Identifier: Apache-2.0
// Sans-I/O Modbus register codec: device profiles (register maps) and the decoding of register
// words into engineering values. No libmodbus here, so it is unit-testable and reusable.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/device_sample.hpp"

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

/// Default of a profile's "merge_gap": reading up to 8 unused registers costs 16 bytes (about
/// 17 ms at 9600 baud), far less than a second request's frame overhead and turnaround.
inline constexpr int kDefaultMergeGap = 8;
/// Largest useful merge gap: two registers further apart never fit into one request.
inline constexpr int kMaxMergeGap = kMaxRegistersPerRead - 1;

/// A bit field inside an integer register: (raw bits >> offset) & (2^count - 1), taken from the
/// unsigned bit pattern even for signed types (status words, alarm flags).
struct BitField {
    int offset{0};  ///< lowest bit, 0 = least significant
    int count{1};   ///< number of bits
};

/// The sensor's measuring range in engineering units; values outside it are still reported,
/// but flagged OverRange (HJ 212 flag "T").
struct MeasuringRange {
    double min{0.0};
    double max{0.0};
};

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
    /// Only these bits of an integer register are the value (several points may share it).
    std::optional<BitField> bit_field;
    std::optional<MeasuringRange> range;
    std::string unit;
    std::string metric;
};

/// A measurement trigger (Aqualabo/PONSEL style probes, DOMAIN.md §3.1): write `value` to
/// holding register `address`, wait, then read the results.
struct TriggerSpec {
    enum class Function : std::uint8_t { WriteSingle, WriteMultiple };  ///< FC06 / FC16
    /// 0-based holding register (profiles with "addressing": "1-based" are converted on load).
    std::uint16_t address{0};
    std::uint16_t value{0};
    Function function{Function::WriteSingle};
    /// Holding register with the probe's own wait time in ms (read once per connection).
    std::optional<std::uint16_t> wait_register;
    std::uint32_t wait_ms{500};  ///< wait when there is no wait register; upper bound otherwise
};

struct DeviceProfile {
    std::string model;
    std::string description;
    std::vector<RegisterSpec> registers;
    std::optional<TriggerSpec> trigger;
    /// Registers of one table are read in one request when at most this many unused registers
    /// lie between them; 0 reads only contiguous registers together (for devices that answer
    /// exception 02 when a request touches an undefined register).
    int merge_gap{kDefaultMergeGap};
};

/// One FC03/FC04 request: registers [start, start + count) of one table.
struct ReadBlock {
    RegisterTable table{RegisterTable::Holding};
    std::uint16_t start{0};
    std::uint16_t count{0};
};

int register_count(ValueType type);
/// Width of the type in bits (16, 32 or 64).
int bit_width(ValueType type);
bool is_integer(ValueType type);

std::optional<ValueType> parse_value_type(std::string_view text);
std::optional<WordOrder> parse_word_order(std::string_view text);
std::optional<RegisterTable> parse_register_table(std::string_view text);
const char* to_string(ValueType type);
const char* to_string(WordOrder order);

/// Decodes `register_count(type)` words (as received, one 16-bit register each) into the raw
/// numeric value. Integers up to 32 bits are exact in a double.
double decode_raw(const std::uint16_t* words, ValueType type, WordOrder order);

/// The bit field of an integer register's unsigned bit pattern, e.g. bits 4..6 of a status word.
double decode_bit_field(const std::uint16_t* words, ValueType type, WordOrder order,
                        BitField field);

/// Scales a raw value to engineering units with the register's scale, offset and decimals.
double to_engineering(double raw, const RegisterSpec& spec, int decimals);

/// Plans the requests that read every register (and decimals register) of a profile. Per
/// table, registers sorted by address are merged into one request while the unused registers
/// between them number at most `profile.merge_gap` and the request stays within
/// kMaxRegistersPerRead; otherwise a new request starts. Holding blocks come before input ones.
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
using DecodedPoint = drivers::PointSample;

/// Decodes one point. `fault` says why it is not ok: Decode (words not read, non-finite float,
/// implausible decimals register) or OverRange (outside `spec.range`; `value` still carries the
/// reading); None when ok.
DecodedPoint decode_point(const RegisterImage& image, const RegisterSpec& spec);

}  // namespace gw::modbus
