// SPDX-License-Identifier: Apache-2.0
#include "drivers/register_codec.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

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

double to_engineering(double raw, const RegisterSpec& spec, int decimals) {
    const double divided = decimals == 0 ? raw : raw / std::pow(10.0, decimals);
    return divided * spec.scale + spec.offset;
}

std::vector<ReadBlock> plan_reads(const DeviceProfile& profile) {
    std::vector<ReadBlock> blocks;
    for (RegisterTable table : {RegisterTable::Holding, RegisterTable::Input}) {
        // Every [first, last] register range this table needs.
        std::vector<std::pair<int, int>> ranges;
        for (const auto& spec : profile.registers) {
            if (spec.table != table) continue;
            ranges.emplace_back(spec.address, spec.address + register_count(spec.type) - 1);
            if (spec.decimals_register)
                ranges.emplace_back(*spec.decimals_register, *spec.decimals_register);
        }
        if (ranges.empty()) continue;
        int lowest = ranges.front().first;
        int highest = ranges.front().second;
        for (const auto& [first, last] : ranges) {
            lowest = std::min(lowest, first);
            highest = std::max(highest, last);
        }
        if (highest - lowest + 1 <= kMaxRegistersPerRead) {
            blocks.push_back({table, static_cast<std::uint16_t>(lowest),
                              static_cast<std::uint16_t>(highest - lowest + 1)});
            continue;
        }
        std::sort(ranges.begin(), ranges.end());
        ranges.erase(std::unique(ranges.begin(), ranges.end()), ranges.end());
        for (const auto& [first, last] : ranges)
            blocks.push_back({table, static_cast<std::uint16_t>(first),
                              static_cast<std::uint16_t>(last - first + 1)});
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

DecodedPoint decode_point(const RegisterImage& image, const RegisterSpec& spec) {
    DecodedPoint point;
    const std::uint16_t* words = image.find(spec.table, spec.address, register_count(spec.type));
    if (words == nullptr) {
        point.error = "register " + std::to_string(spec.address) + " was not read";
        return point;
    }
    int decimals = 0;
    if (spec.decimals_register) {
        const std::uint16_t* dec = image.find(spec.table, *spec.decimals_register, 1);
        if (dec == nullptr) {
            point.error =
                "decimals register " + std::to_string(*spec.decimals_register) + " was not read";
            return point;
        }
        // Real transmitters use 0..4; anything else is a garbled register, not a scale.
        if (*dec > 6) {
            point.error = "decimals register " + std::to_string(*spec.decimals_register) +
                          " holds " + std::to_string(*dec) + " (expected 0..6)";
            return point;
        }
        decimals = *dec;
    }
    point.raw = decode_raw(words, spec.type, spec.word_order);
    if (!std::isfinite(point.raw)) {
        point.error = "register " + std::to_string(spec.address) + " holds a non-finite float";
        return point;
    }
    point.value = to_engineering(point.raw, spec, decimals);
    point.ok = true;
    return point;
}

}  // namespace gw::modbus
