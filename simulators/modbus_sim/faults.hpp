// SPDX-License-Identifier: Apache-2.0
// Injected device faults: what can go wrong with one simulated device, when, and how often.
// Faults come from the command line (--fault), the scenario ("faults": [...]) and the control
// socket; all three end up as FaultSpec entries on one FaultBoard. Pure code: the caller passes
// the time (seconds since the simulator started) and the random generator.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace gw::sim {

enum class FaultKind : std::uint8_t {
    // Modbus devices
    Timeout,     ///< no answer at all, as if unplugged
    BadCrc,      ///< RTU only: the reply goes out with its last byte flipped
    Exception,   ///< answer with exception `exception_code`
    Slow,        ///< reply `delay_ms` late
    Stuck,       ///< values freeze (Modbus and LoRaWAN)
    Disconnect,  ///< TCP: close the connection; RTU: same as timeout
    // LoRaWAN devices
    Duplicate,  ///< the same event published twice (an MQTT redelivery)
    Replay,     ///< an earlier uplink published again with a new deduplicationId
    Silent,     ///< no uplinks: the sensor went quiet
    Tilt,       ///< position = 1 (tilted)
    Garbage,    ///< a payload that is not a valid TLV
};

/// What kind of device a fault is aimed at; decides which kinds are allowed.
enum class DeviceFamily : std::uint8_t { ModbusRtu, ModbusTcp, Lorawan };

inline constexpr int kDefaultFaultExceptionCode = 4;  ///< slave device failure
inline constexpr int kMinExceptionCode = 1;
inline constexpr int kMaxExceptionCode = 11;  ///< gateway target device failed to respond

struct FaultSpec {
    std::string device;  ///< device id
    FaultKind kind{FaultKind::Timeout};
    int exception_code{kDefaultFaultExceptionCode};  ///< exception
    double delay_ms{0.0};                            ///< slow
    double probability{1.0};                         ///< fraction of requests/uplinks hit
    int replay_back{1};             ///< replay: re-send the uplink this many uplinks back
    double from_s{0.0};             ///< active from this many seconds after start
    std::optional<double> until_s;  ///< ... until this many seconds (exclusive); none = forever

    bool active_at(double elapsed_s) const {
        return elapsed_s >= from_s && (!until_s || elapsed_s < *until_s);
    }
};

std::optional<FaultKind> parse_fault_kind(std::string_view text);
std::string_view to_string(FaultKind kind);
std::string_view to_string(DeviceFamily family);

/// Why `kind` cannot be applied to a device of `family`; empty when it can.
std::string fault_kind_problem(FaultKind kind, DeviceFamily family);

/// "DEVICE:KIND[:key=value,...]" from --fault. Throws std::invalid_argument with a message that
/// does not repeat the option name. Keys: code, delay_ms, probability, back.
FaultSpec parse_fault_argument(const std::string& text);

/// Checks the per-kind keys (code only for exception, delay_ms required for slow, ...).
/// Returns the problem as "key: message", or empty.
std::string fault_parameter_problem(const FaultSpec& spec);

/// What the faults of one device do to one Modbus request.
struct ModbusFaultEffect {
    bool hit{false};                    ///< at least one fault applied
    bool no_reply{false};               ///< timeout (and disconnect on RTU)
    bool disconnect{false};             ///< TCP: drop the connection
    std::optional<int> exception_code;  ///< reply with this exception instead
    bool corrupt_crc{false};            ///< flip the reply's last byte
    double extra_delay_ms{0.0};         ///< slow
    bool stuck{false};                  ///< serve the current values without resampling
};

/// What the faults of one LoRaWAN device do to one uplink.
struct UplinkFaultEffect {
    bool hit{false};
    bool silent{false};
    bool duplicate{false};
    std::optional<int> replay_back;
    bool tilt{false};
    bool garbage{false};
    bool stuck{false};
};

/// All injected faults, with one seeded generator for the probability rolls so that runs are
/// reproducible.
class FaultBoard {
public:
    explicit FaultBoard(std::uint64_t seed);

    void add(FaultSpec spec) { faults_.push_back(std::move(spec)); }
    /// Removes every fault of `device` ("*" = all devices). Returns how many were removed.
    std::size_t clear(const std::string& device);

    const std::vector<FaultSpec>& all() const { return faults_; }
    bool any_active(const std::string& device, FaultKind kind, double elapsed_s) const;

    /// Rolls each active fault of `device` once (probability) and combines the results.
    ModbusFaultEffect modbus_effect(const std::string& device, bool is_rtu, double elapsed_s);
    UplinkFaultEffect uplink_effect(const std::string& device, double elapsed_s);

    /// Earliest from_s/until_s strictly after `elapsed_s`, for timers that act on a window edge.
    std::optional<double> next_edge_after(double elapsed_s) const;

private:
    bool roll(const FaultSpec& spec);

    std::vector<FaultSpec> faults_;
    std::mt19937_64 rng_;
};

}  // namespace gw::sim
