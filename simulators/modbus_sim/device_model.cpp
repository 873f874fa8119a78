// SPDX-License-Identifier: Apache-2.0
#include "modbus_sim/device_model.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <new>

namespace gw::sim {

DeviceModel::DeviceModel(DeviceConfig config, std::uint64_t seed) : config_(std::move(config)) {
    const auto& points = config_.profile.points;
    const auto& trigger = config_.profile.trigger;
    // A table the profile never uses does not exist (reads get exception 02); a used one is
    // at least registers_per_table long, so block reads just past the last point succeed.
    int holding = 0;
    int input = 0;
    const auto need = [&](RegisterTable table, int end) {
        int& size = table == RegisterTable::Holding ? holding : input;
        size = std::max({size, config_.registers_per_table, end});
    };
    for (const auto& p : points) {
        need(p.table, static_cast<int>(p.address + register_count(p.format.type)));
        if (p.decimals_register) {
            need(p.table, *p.decimals_register + 1);
        }
    }
    if (trigger) {
        need(RegisterTable::Holding, trigger->address + 1);
        if (trigger->wait_register) {
            need(RegisterTable::Holding, *trigger->wait_register + 1);
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
    if (trigger) {
        // Nothing measured yet: floats read NaN (ABCD 7FC0 0000), integers 0.
        for (std::size_t i = 0; i < points.size(); ++i) {
            write_value(i, std::numeric_limits<double>::quiet_NaN(), Rounding::Nearest);
        }
        restore_read_only_registers();
        return;
    }
    // Initial register contents: the noise-free value at t = 0.
    std::mt19937_64 quiet_rng(seed);
    for (std::size_t i = 0; i < points.size(); ++i) {
        write_point(i, SimInstant{}, quiet_rng);
    }
}

int DeviceModel::table_size(RegisterTable table) const {
    return table == RegisterTable::Holding ? mapping_->nb_registers : mapping_->nb_input_registers;
}

bool DeviceModel::covers(RegisterTable table, int address, int count) const {
    return count >= 1 && address >= 0 && address + count <= table_size(table);
}

bool DeviceModel::overlaps_points(RegisterTable table, int address, int count) const {
    const int end = address + count;
    return std::any_of(config_.profile.points.begin(), config_.profile.points.end(),
                       [&](const PointSpec& p) {
                           const int first = p.address;
                           const int last = first + static_cast<int>(register_count(p.format.type));
                           return p.table == table && first < end && address < last;
                       });
}

std::uint16_t* DeviceModel::table_words(RegisterTable table) {
    return table == RegisterTable::Holding ? mapping_->tab_registers
                                           : mapping_->tab_input_registers;
}

void DeviceModel::write_value(std::size_t index, double engineering, Rounding rounding) {
    const PointSpec& point = config_.profile.points[index];
    const int decimals = config_.decimals[index];
    std::uint16_t* words = table_words(point.table) + point.address;
    const EncodedPoint encoded =
        point.bits
            ? encode_bit_field(point.format, *point.bits, engineering, decimals, words, rounding)
            : encode_point(point.format, engineering, decimals, rounding);
    std::copy_n(encoded.words.begin(), encoded.word_count, words);
    if (point.decimals_register) {
        table_words(point.table)[*point.decimals_register] = static_cast<std::uint16_t>(decimals);
    }
}

void DeviceModel::write_point(std::size_t index, const SimInstant& now, std::mt19937_64& rng) {
    const PointSpec& point = config_.profile.points[index];
    Waveform& waveform = waveforms_[index];
    if (index < immersed_.size() && immersed_[index]) {
        const Immersion& in = *immersed_[index];
        double value = in.value;
        if (in.noise_sd > 0) value += std::normal_distribution<double>(0.0, in.noise_sd)(rng);
        write_value(index, value, Rounding::Nearest);
        return;
    }
    // Counters only ever show whole counted units; gauges round to nearest.
    const Rounding rounding = waveform.is_counter() && is_integer_type(point.format.type)
                                  ? Rounding::Floor
                                  : Rounding::Nearest;
    write_value(index, waveform.sample(now, rng), rounding);
}

bool DeviceModel::immerse(const std::string& point, std::optional<double> value, double noise_sd) {
    const auto& points = config_.profile.points;
    immersed_.resize(points.size());
    for (std::size_t i = 0; i < points.size(); ++i) {
        if (points[i].name != point) continue;
        immersed_[i] = value ? std::optional<Immersion>(Immersion{*value, noise_sd}) : std::nullopt;
        return true;
    }
    return false;
}

double DeviceModel::read_point(std::size_t index) {
    // Decode what is now in the table, exactly as a master will.
    const PointSpec& point = config_.profile.points[index];
    const std::uint16_t* words = table_words(point.table) + point.address;
    const int decimals = config_.decimals[index];
    return point.bits ? decode_bit_field(point.format, *point.bits, words, decimals)
                      : decode_point(point.format, words, decimals);
}

std::vector<ServedValue> DeviceModel::refresh(RegisterTable table, int address, int count,
                                              const SimInstant& now, std::mt19937_64& rng,
                                              bool resample) {
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
        if (resample) {
            write_point(i, now, rng);
        }
        if (first >= address && last <= end) {
            served.push_back({&p, read_point(i)});
        }
    }
    return served;
}

bool DeviceModel::write_hits_trigger(int address, int count) const {
    const auto& trigger = config_.profile.trigger;
    return trigger && trigger->address >= address && trigger->address < address + count;
}

void DeviceModel::start_measurement(double wall_s) {
    pending_completion_s_ = wall_s + config_.wait_ms / 1000.0;
}

bool DeviceModel::complete_due_measurement(double wall_s, const SimClock& clock,
                                           std::mt19937_64& rng, bool frozen) {
    if (!pending_completion_s_ || *pending_completion_s_ > wall_s) {
        return false;
    }
    const SimInstant completed_at = clock.at(*pending_completion_s_);
    if (!frozen) {
        for (std::size_t i = 0; i < config_.profile.points.size(); ++i) {
            write_point(i, completed_at, rng);
        }
    }
    last_measurement_s_ = pending_completion_s_;
    pending_completion_s_.reset();
    return true;
}

void DeviceModel::restore_read_only_registers() {
    const auto& trigger = config_.profile.trigger;
    if (trigger && trigger->wait_register) {
        mapping_->tab_registers[*trigger->wait_register] =
            static_cast<std::uint16_t>(config_.wait_ms);
    }
}

}  // namespace gw::sim
