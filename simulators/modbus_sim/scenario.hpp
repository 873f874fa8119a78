// SPDX-License-Identifier: Apache-2.0
// Scenario and device-profile files: parsing and validation. Every error names the file and
// the JSON Pointer of the offending value, e.g.
//   demo.json: /devices/1/signals/flow/kind: unknown kind "sine" (expected one of ...)
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "modbus_sim/register_encoder.hpp"
#include "modbus_sim/waveform.hpp"

namespace gw::sim {

/// A scenario or profile problem: file + JSON Pointer + message. what() is one line.
class ConfigError : public std::runtime_error {
public:
    ConfigError(std::string file, std::string pointer, const std::string& message);
    const std::string& file() const { return file_; }
    const std::string& pointer() const { return pointer_; }

private:
    std::string file_;
    std::string pointer_;
};

/// One register-mapped value of a device profile (config/devices/*.json, registers[]).
struct PointSpec {
    std::string name;
    RegisterTable table{RegisterTable::Holding};
    std::uint16_t address{0};  ///< 0-based PDU address
    PointFormat format;
    std::optional<std::uint16_t> decimals_register;  ///< same table, uint16 holding d
    std::string unit;
    std::string metric;
};

struct DeviceProfile {
    std::string path;
    std::string model;
    std::string description;
    std::vector<PointSpec> points;
};

enum class Transport : std::uint8_t { Rtu, Tcp };

/// Default decimal count written into a point's decimals register.
inline constexpr int kDefaultDecimals = 2;
/// Default minimum size of each register table the profile uses, so that block reads a little
/// past the last mapped register succeed (many field devices answer zeros there). 0 = exact
/// size (reads past the last register get exception 02). Unused tables always have size 0.
inline constexpr int kDefaultRegistersPerTable = 16;

/// One simulated device of a scenario.
struct DeviceConfig {
    std::string id;
    DeviceProfile profile;
    Transport transport{Transport::Tcp};
    int unit_id{1};
    std::vector<SignalSpec> signals;  ///< parallel to profile.points (unlisted: constant 0)
    std::vector<int> decimals;        ///< parallel to profile.points; 0 without decimals_register
    int registers_per_table{kDefaultRegistersPerTable};
};

struct Scenario {
    std::string path;
    std::vector<DeviceConfig> devices;
    std::optional<double> start_hour;  ///< simulated local hour at start; default: wall clock
};

/// Parses a profile document (already JSON) that came from `file`.
DeviceProfile parse_profile(const nlohmann::json& doc, const std::string& file);

/// Reads and parses a profile file (JSON with // comments).
DeviceProfile load_profile(const std::string& path);

/// Reads a scenario file and every profile it references (relative to the scenario's folder).
Scenario load_scenario(const std::string& path);

/// Reads a JSON file with comments; ConfigError on a missing file or invalid JSON.
nlohmann::json read_json_file(const std::string& path);

}  // namespace gw::sim
