// SPDX-License-Identifier: Apache-2.0
#include "drivers/register_codec.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

namespace gw::modbus {

int register_count(ValueType type) {
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

int bit_width(ValueType type) {
    return 16 * register_count(type);
}

bool is_integer(ValueType type) {
    return type != ValueType::Float32 && type != ValueType::Float64;
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

const char* to_string(ValueType type) {
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

const char* to_string(WordOrder order) {
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

namespace {

std::uint16_t swap_bytes(std::uint16_t word) {
    return static_cast<std::uint16_t>((word << 8) | (word >> 8));
}

/// Assembles n words into a big-endian unsigned integer, undoing the device's word order.
std::uint64_t assemble(const std::uint16_t* words, int n, WordOrder order) {
    const bool words_reversed = order == WordOrder::CDAB || order == WordOrder::DCBA;
    const bool bytes_swapped = order == WordOrder::BADC || order == WordOrder::DCBA;
    std::uint64_t value = 0;
    for (int i = 0; i < n; ++i) {
        std::uint16_t word = words[words_reversed ? n - 1 - i : i];
        if (bytes_swapped) word = swap_bytes(word);
        value = (value << 16) | word;
    }
    return value;
}

}  // namespace

double decode_raw(const std::uint16_t* words, ValueType type, WordOrder order) {
    const std::uint64_t bits = assemble(words, register_count(type), order);
    switch (type) {
        case ValueType::Int16:
            return static_cast<std::int16_t>(static_cast<std::uint16_t>(bits));
        case ValueType::Uint16:
            return static_cast<std::uint16_t>(bits);
        case ValueType::Int32:
            return static_cast<std::int32_t>(static_cast<std::uint32_t>(bits));
        case ValueType::Uint32:
            return static_cast<std::uint32_t>(bits);
        case ValueType::Float32: {
            const auto narrow = static_cast<std::uint32_t>(bits);
            float f = 0;
            std::memcpy(&f, &narrow, sizeof f);
            return f;
        }
        case ValueType::Float64: {
            double d = 0;
            std::memcpy(&d, &bits, sizeof d);
            return d;
        }
    }
    return 0.0;
}

double decode_bit_field(const std::uint16_t* words, ValueType type, WordOrder order,
                        BitField field) {
    const std::uint64_t bits = assemble(words, register_count(type), order);
    const std::uint64_t mask =
        field.count >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << field.count) - 1;
    return static_cast<double>((bits >> field.offset) & mask);
}

double to_engineering(double raw, const RegisterSpec& spec, int decimals) {
    const double divided = decimals == 0 ? raw : raw / std::pow(10.0, decimals);
    return divided * spec.scale + spec.offset;
}

std::vector<ReadBlock> plan_reads(const DeviceProfile& profile) {
    std::vector<ReadBlock> blocks;
    for (RegisterTable table : {RegisterTable::Holding, RegisterTable::Input}) {
        // Every [first, last] register range this table needs, in address order.
        std::vector<std::pair<int, int>> ranges;
        for (const auto& spec : profile.registers) {
            if (spec.table != table) continue;
            ranges.emplace_back(spec.address, spec.address + register_count(spec.type) - 1);
            if (spec.decimals_register)
                ranges.emplace_back(*spec.decimals_register, *spec.decimals_register);
        }
        if (ranges.empty()) continue;
        std::sort(ranges.begin(), ranges.end());
        // Greedy: extend the current block while the gap and the request size allow it.
        int block_first = ranges.front().first;
        int block_last = ranges.front().second;
        auto close_block = [&] {
            blocks.push_back({table, static_cast<std::uint16_t>(block_first),
                              static_cast<std::uint16_t>(block_last - block_first + 1)});
        };
        for (const auto& [first, last] : ranges) {
            const int unused_between = first - block_last - 1;  // negative when overlapping
            const int merged_last = std::max(block_last, last);
            if (unused_between <= profile.merge_gap &&
                merged_last - block_first + 1 <= kMaxRegistersPerRead) {
                block_last = merged_last;
                continue;
            }
            close_block();
            block_first = first;
            block_last = last;
        }
        close_block();
    }
    return blocks;
}

void RegisterImage::store(const ReadBlock& block, const std::uint16_t* words) {
    blocks_.push_back({block, std::vector<std::uint16_t>(words, words + block.count)});
}

const std::uint16_t* RegisterImage::find(RegisterTable table, std::uint16_t address,
                                         int count) const {
    for (const auto& stored : blocks_) {
        const ReadBlock& b = stored.block;
        if (b.table != table || address < b.start) continue;
        const int first = address - b.start;
        if (first + count <= b.count) return stored.words.data() + first;
    }
    return nullptr;
}

namespace {

/// Shortest readable form of a number for messages: 7.9, 0.001, 14.
std::string number_text(double value) {
    std::ostringstream out;
    out << value;
    return out.str();
}

DecodedPoint decode_failure(std::string error) {
    DecodedPoint point;
    point.fault = drivers::PointFault::Decode;
    point.error = std::move(error);
    return point;
}

}  // namespace

DecodedPoint decode_point(const RegisterImage& image, const RegisterSpec& spec) {
    const std::uint16_t* words = image.find(spec.table, spec.address, register_count(spec.type));
    if (words == nullptr)
        return decode_failure("register " + std::to_string(spec.address) + " was not read");
    int decimals = 0;
    if (spec.decimals_register) {
        const std::uint16_t* dec = image.find(spec.table, *spec.decimals_register, 1);
        if (dec == nullptr)
            return decode_failure("decimals register " + std::to_string(*spec.decimals_register) +
                                  " was not read");
        // Real transmitters use 0..4; anything else is a garbled register, not a scale.
        if (*dec > 6)
            return decode_failure("decimals register " + std::to_string(*spec.decimals_register) +
                                  " holds " + std::to_string(*dec) + " (expected 0..6)");
        decimals = *dec;
    }
    DecodedPoint point;
    point.raw = spec.bit_field
                    ? decode_bit_field(words, spec.type, spec.word_order, *spec.bit_field)
                    : decode_raw(words, spec.type, spec.word_order);
    if (!std::isfinite(point.raw)) {
        point.fault = drivers::PointFault::Decode;
        point.error = "register " + std::to_string(spec.address) + " holds a non-finite float";
        return point;
    }
    point.value = to_engineering(point.raw, spec, decimals);
    if (spec.range && (point.value < spec.range->min || point.value > spec.range->max)) {
        // Still carried: an over-range reading says more than none (e.g. a saturated probe).
        const std::string unit = spec.unit.empty() ? "" : " " + spec.unit;
        point.fault = drivers::PointFault::OverRange;
        point.error = number_text(point.value) + unit +
                      (point.value < spec.range->min ? " below" : " above") +
                      " the measuring range " + number_text(spec.range->min) + ".." +
                      number_text(spec.range->max) + unit;
        return point;
    }
    point.fault = drivers::PointFault::None;
    point.ok = true;
    return point;
}

}  // namespace gw::modbus
