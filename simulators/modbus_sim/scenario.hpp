// SPDX-License-Identifier: Apache-2.0
// Scenario and device-profile files: parsing and validation. Every error names the file and
// the JSON Pointer of the offending value, e.g.
//   demo.json: /devices/1/signals/flow/kind: unknown kind "sine" (expected one of ...)
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "modbus_sim/faults.hpp"
#include "modbus_sim/register_encoder.hpp"
#include "modbus_sim/rtu_timing.hpp"
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
    std::optional<BitField> bits;                    ///< "bit_offset"/"bit_count"
    std::optional<std::pair<double, double>> range;  ///< "range": measuring range (not enforced)
    std::string unit;
    std::string metric;
};

/// Measurement trigger of Aqualabo/PONSEL-style probes (DOMAIN.md §3.1): writing to holding
/// register `address` starts a measurement that completes `wait_ms` later.
struct TriggerSpec {
    std::uint16_t address{0};  ///< 0-based PDU address (after "addressing")
    std::uint16_t value{0};    ///< the measurement mask the master is expected to write
    std::optional<std::uint16_t> wait_register;  ///< holding register where the probe keeps wait_ms
    int wait_ms{500};                            ///< default measurement time
};

struct DeviceProfile {
    std::string path;
    std::string model;
    std::string description;
    std::vector<PointSpec> points;
    std::optional<TriggerSpec> trigger;
    bool one_based{false};  ///< "addressing": "1-based" (already subtracted from addresses)
    int merge_gap{0};       ///< "merge_gap": a gateway polling hint, ignored here
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
    int wait_ms{0};  ///< trigger devices: measurement time (profile default or "wait_ms")
};

/// One simulated LoRaWAN bin sensor (Milesight EM310-UDL) behind a ChirpStack v4 network server.
struct LorawanDeviceConfig {
    std::string id;        ///< deviceInfo.deviceName, served-log "device", fault target
    std::string dev_eui;   ///< 16 lower-case hex digits
    std::string dev_addr;  ///< 8 lower-case hex digits
    std::string device_profile_id;
    std::string device_profile_name;
    std::map<std::string, std::string> tags;
    double interval_ms{600'000.0};  ///< uplink period (wall clock)
    double offset_ms{0.0};          ///< first uplink this long after start
    int f_port{85};
    std::uint32_t f_cnt_start{0};
    SignalSpec distance{BinFillSignal{}};      ///< mm
    SignalSpec battery{ConstantSignal{92.0}};  ///< %
    bool tilt{false};
    bool adr{true};
    bool confirmed{false};
    int spreading_factor{7};
    std::uint64_t frequency_hz{486'300'000};  ///< CN470 uplink channel
    double rssi_dbm{-82.0};
    double snr_db{7.5};
};

struct LorawanConfig {
    std::string tenant_id;
    std::string tenant_name;
    std::string application_id;
    std::string application_name;
    std::string gateway_id;  ///< 16 hex digits
    std::vector<LorawanDeviceConfig> devices;
};

struct Scenario {
    std::string path;
    std::vector<DeviceConfig> devices;
    std::optional<double> start_hour;  ///< simulated local hour at start; default: wall clock
    RtuLineSettings rtu_line;
    std::vector<FaultSpec> faults;  ///< "faults": scheduled injections
    LorawanConfig lorawan;
};

/// Parses a profile document (already JSON) that came from `file`.
DeviceProfile parse_profile(const nlohmann::json& doc, const std::string& file);

/// Reads and parses a profile file (JSON with // comments).
DeviceProfile load_profile(const std::string& path);

/// Reads a scenario file and every profile it references (relative to the scenario's folder).
Scenario load_scenario(const std::string& path);

/// Reads a JSON file with comments; ConfigError on a missing file or invalid JSON.
nlohmann::json read_json_file(const std::string& path);

/// Parses one fault object ({"device", "kind", "from_s", "until_s", "code", "delay_ms",
/// "probability", "back"}) found at `pointer` of `file`; ConfigError on a bad key or value.
/// Does not check that the device exists (see fault_target_problem).
FaultSpec parse_fault_object(const nlohmann::json& object, const std::string& file,
                             const std::string& pointer);

/// Why `spec` cannot be applied in `scenario` (unknown device, kind not for that device);
/// empty when it can.
std::string fault_target_problem(const Scenario& scenario, const FaultSpec& spec);

}  // namespace gw::sim
