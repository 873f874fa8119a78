// SPDX-License-Identifier: Apache-2.0
#include "modbus_sim/device_model.hpp"

#include <algorithm>
#include <new>

namespace gw::sim {
namespace {

bool is_integer_type(ValueType type) {
    return type != ValueType::Float32 && type != ValueType::Float64;
}

}  // namespace

DeviceModel::DeviceModel(DeviceConfig config, std::uint64_t seed) : config_(std::move(config)) {
    const auto& points = config_.profile.points;
    // A table the profile never uses does not exist (reads get exception 02); a used one is
    // at least registers_per_table long, so block reads just past the last point succeed.
    int holding = 0;
    int input = 0;
    for (const auto& p : points) {
        int& size = p.table == RegisterTable::Holding ? holding : input;
        size = std::max({size, config_.registers_per_table,
                         static_cast<int>(p.address + register_count(p.format.type))});
        if (p.decimals_register) {
            size = std::max(size, *p.decimals_register + 1);
        }
    }
    mapping_.reset(modbus_mapping_new_start_address(0, 0, 0, 0, 0, holding, 0, input));
    if (!mapping_) {
        throw std::bad_alloc();
    }

    waveforms_.reserve(points.size());
    for (std::size_t i = 0; i < points.size(); ++i) {
        waveforms_.emplace_back(config_.signals[i],
                                phase_from_seed(seed, config_.id + "/" + points[i].name));
    }
    for (std::size_t i = 0; i < points.size(); ++i) {
        if (const auto* tot = std::get_if<TotaliserSignal>(&config_.signals[i])) {
            for (std::size_t j = 0; j < points.size(); ++j) {
                if (points[j].name == tot->rate_of) {
                    waveforms_[i].set_rate_source(&waveforms_[j]);
                }
            }
        }
    }
    // Initial register contents: the noise-free value at t = 0.
    std::mt19937_64 quiet_rng(seed);
    for (std::size_t i = 0; i < points.size(); ++i) {
        write_point(i, SimInstant{}, quiet_rng, nullptr);
    }
}

int DeviceModel::table_size(RegisterTable table) const {
    return table == RegisterTable::Holding ? mapping_->nb_registers : mapping_->nb_input_registers;
}

bool DeviceModel::covers(RegisterTable table, int address, int count) const {
    return count >= 1 && address >= 0 && address + count <= table_size(table);
}

std::uint16_t* DeviceModel::table_words(RegisterTable table) {
    return table == RegisterTable::Holding ? mapping_->tab_registers
                                           : mapping_->tab_input_registers;
}

void DeviceModel::write_point(std::size_t index, const SimInstant& now, std::mt19937_64& rng,
                              double* served) {
    const PointSpec& point = config_.profile.points[index];
    Waveform& waveform = waveforms_[index];
    const int decimals = config_.decimals[index];
    const double engineering = waveform.sample(now, rng);
    // Counters only ever show whole counted units; gauges round to nearest.
    const Rounding rounding = waveform.is_counter() && is_integer_type(point.format.type)
                                  ? Rounding::Floor
                                  : Rounding::Nearest;
    const EncodedPoint encoded = encode_point(point.format, engineering, decimals, rounding);
    std::uint16_t* words = table_words(point.table);
    std::copy_n(encoded.words.begin(), encoded.word_count, words + point.address);
    if (point.decimals_register) {
        words[*point.decimals_register] = static_cast<std::uint16_t>(decimals);
    }
    if (served != nullptr) {
        // Decode what is now in the table, exactly as a master will.
        *served = decode_point(point.format, words + point.address, decimals);
    }
}

std::vector<ServedValue> DeviceModel::refresh(RegisterTable table, int address, int count,
                                              const SimInstant& now, std::mt19937_64& rng) {
    std::vector<ServedValue> served;
    const int end = address + count;
    const auto& points = config_.profile.points;
    for (std::size_t i = 0; i < points.size(); ++i) {
        const PointSpec& p = points[i];
        if (p.table != table) {
            continue;
        }
        const int first = p.address;
        const int last = p.address + static_cast<int>(register_count(p.format.type));  // exclusive
        const bool overlaps = first < end && address < last;
        const bool decimals_in_range =
            p.decimals_register && *p.decimals_register >= address && *p.decimals_register < end;
        if (!overlaps && !decimals_in_range) {
            continue;
        }
        double value = 0.0;
        write_point(i, now, rng, &value);
        if (first >= address && last <= end) {
            served.push_back({&p, value});
        }
    }
    return served;
}

}  // namespace gw::sim
