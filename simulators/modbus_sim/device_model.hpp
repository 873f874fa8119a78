// SPDX-License-Identifier: Apache-2.0
// One simulated Modbus device: its register tables (a libmodbus mapping that modbus_reply
// serves from) and the live waveforms behind each point. No I/O; time is passed in, so tests
// can drive it in-process.
#pragma once

#include <modbus/modbus.h>

#include <cstdint>
#include <memory>
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

    /// Recomputes every point that overlaps [address, address + count) of `table` at `now`
    /// and rewrites its registers (and decimals registers). Returns the points lying wholly
    /// inside the range, i.e. the values a master reading that range can decode.
    std::vector<ServedValue> refresh(RegisterTable table, int address, int count,
                                     const SimInstant& now, std::mt19937_64& rng);

private:
    void write_point(std::size_t index, const SimInstant& now, std::mt19937_64& rng,
                     double* served);
    std::uint16_t* table_words(RegisterTable table);

    struct MappingDeleter {
        void operator()(modbus_mapping_t* m) const { modbus_mapping_free(m); }
    };

    DeviceConfig config_;
    std::vector<Waveform> waveforms_;  ///< parallel to config_.profile.points; never resized
    std::unique_ptr<modbus_mapping_t, MappingDeleter> mapping_;
};

}  // namespace gw::sim
