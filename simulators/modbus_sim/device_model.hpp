// SPDX-License-Identifier: Apache-2.0
// One simulated Modbus device: its register tables (a libmodbus mapping that modbus_reply
// serves from) and the live waveforms behind each point. No I/O; time is passed in, so tests
// can drive it in-process.
//
// Two value models:
//   * plain devices: a read recomputes the points it covers, so every answer is "now";
//   * trigger devices (Aqualabo/PONSEL style, profile "trigger"): the result registers hold the
//     last *completed* measurement. A write to the trigger register starts a measurement that
//     completes wait_ms later; the values are sampled at that completion instant. Until the
//     first measurement completes, float registers hold NaN.
#pragma once

#include <modbus/modbus.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "modbus_sim/scenario.hpp"
#include "modbus_sim/waveform.hpp"

namespace gw::sim {

/// A point value as served: the engineering value the gateway will decode from the registers.
struct ServedValue {
    const PointSpec* point{nullptr};
    double value{0.0};
};

class DeviceModel {
public:
    /// Builds the register tables and waveforms. `seed` fixes the bin_fill phases.
    DeviceModel(DeviceConfig config, std::uint64_t seed);
    DeviceModel(const DeviceModel&) = delete;
    DeviceModel& operator=(const DeviceModel&) = delete;

    const std::string& id() const { return config_.id; }
    int unit_id() const { return config_.unit_id; }
    Transport transport() const { return config_.transport; }
    const DeviceConfig& config() const { return config_; }

    /// The tables modbus_reply reads and writes (never null).
    modbus_mapping_t* mapping() { return mapping_.get(); }

    /// Number of registers in a table (addresses 0..size-1).
    int table_size(RegisterTable table) const;

    /// True when [address, address + count) lies inside the table, as libmodbus checks it.
    bool covers(RegisterTable table, int address, int count) const;

    /// True when [address, address + count) overlaps the registers of any point's value.
    bool overlaps_points(RegisterTable table, int address, int count) const;

    /// Returns the points lying wholly inside [address, address + count) of `table` with the
    /// values a master reading that range decodes. With `resample` (plain devices that are not
    /// stuck) every overlapping point is first recomputed at `now` and rewritten.
    std::vector<ServedValue> refresh(RegisterTable table, int address, int count,
                                     const SimInstant& now, std::mt19937_64& rng, bool resample);

    // --- trigger model; times are wall-clock seconds since the simulator started -------------
    bool has_trigger() const { return config_.profile.trigger.has_value(); }
    /// True when a write of [address, address + count) to the holding table covers the trigger.
    bool write_hits_trigger(int address, int count) const;
    /// Starts (or restarts) a measurement that completes wait_ms after `wall_s`.
    void start_measurement(double wall_s);
    bool measurement_pending() const { return pending_completion_s_.has_value(); }
    /// Completes a measurement that is due by `wall_s`: samples every point at its completion
    /// instant (unless `frozen`: a stuck probe repeats its last values). True if one completed.
    bool complete_due_measurement(double wall_s, const SimClock& clock, std::mt19937_64& rng,
                                  bool frozen);
    /// Completion time of the measurement the result registers hold; none before the first.
    std::optional<double> last_measurement_s() const { return last_measurement_s_; }
    /// Puts read-only registers (the wait register) back after a master wrote to them.
    void restore_read_only_registers();

    /// A technician puts the probe into a standard: from now on `point` reads `value` (what
    /// this probe shows in that standard, its own error included) plus gaussian noise of
    /// `noise_sd`, until called with nullopt (back in the water: the waveform again). False
    /// when the device has no such point.
    bool immerse(const std::string& point, std::optional<double> value, double noise_sd = 0.0);

private:
    void write_point(std::size_t index, const SimInstant& now, std::mt19937_64& rng);
    void write_value(std::size_t index, double engineering, Rounding rounding);
    double read_point(std::size_t index);
    std::uint16_t* table_words(RegisterTable table);

    struct MappingDeleter {
        void operator()(modbus_mapping_t* m) const { modbus_mapping_free(m); }
    };

    DeviceConfig config_;
    std::vector<Waveform> waveforms_;  ///< parallel to config_.profile.points; never resized
    struct Immersion {
        double value{0.0};
        double noise_sd{0.0};
    };
    std::vector<std::optional<Immersion>> immersed_;  ///< parallel to the points
    std::unique_ptr<modbus_mapping_t, MappingDeleter> mapping_;
    std::optional<double> pending_completion_s_;
    std::optional<double> last_measurement_s_;
};

}  // namespace gw::sim
