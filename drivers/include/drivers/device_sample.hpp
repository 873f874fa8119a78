// SPDX-License-Identifier: Apache-2.0
// What every southbound source (Modbus bus, LoRaWAN integration, IIO ADC) hands to the gateway:
// one DeviceSample per poll / uplink / staleness tick, with one PointSample per point of the
// device's profile, in profile order. Device failure is data: a failed poll is a sample too.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace gw::drivers {

/// Why one point of a sample is not a usable value. Fault kinds map onto HJ 212 data flags
/// (DOMAIN.md §1.9): Comm/Stale -> "B", Decode/Instrument/Stuck -> "D", OverRange -> "T".
enum class PointFault : std::uint8_t {
    None,
    Comm,        ///< no answer, CRC error, exception, disconnected (whole device)
    Decode,      ///< answered, but the words are not a value (NaN, bad decimals register)
    Instrument,  ///< the device itself reports a fault (tilted bin sensor, loop current < 3.6 mA)
    OverRange,   ///< outside the sensor's measuring range (value still reported in `value`)
    Stale,       ///< a push source (LoRaWAN) has not reported for too long
};

struct PointSample {
    bool ok{false};
    double raw{0.0};    ///< decoded value before scaling
    double value{0.0};  ///< engineering value
    PointFault fault{PointFault::Comm};
    std::string error;  ///< why it is not ok
};

struct DeviceSample {
    std::size_t device_index{0};  ///< index into the source's own device list
    std::chrono::system_clock::time_point sampled_at;
    std::chrono::steady_clock::time_point sampled_mono;  ///< same instant, monotonic
    bool ok{false};          ///< the device answered (points may still carry faults)
    bool backed_off{false};  ///< not polled: the device is in back-off
    bool timed_out{false};   ///< no answer within the response timeout
    bool crc_error{false};   ///< an answer arrived with a bad CRC
    bool stale{false};       ///< push source silent for longer than allowed
    bool on_demand{false};   ///< an extra read asked for (remote `read-now`), not a scheduled poll
    int exception_code{0};   ///< Modbus exception code of the answer, 0 if none
    std::chrono::microseconds round_trip{0};  ///< request to last response byte, when ok
    std::string error;                        ///< transport/protocol error when !ok
    std::vector<PointSample> points;          ///< one per profile point, in profile order
};

using SampleHandler = std::function<void(DeviceSample)>;

/// A southbound source owning its own thread(s). `start` may be called once; `stop` joins and
/// must return promptly. The SampleHandler runs on the source's thread and must only hand the
/// sample over (the gateway posts it onto its io_context).
class Source {
public:
    virtual ~Source() = default;
    virtual void start() = 0;
    virtual void stop() = 0;
    /// Human-readable description for logs ("rtu:/dev/ttyUSB0@9600/8N1", "chirpstack:tcp://...").
    virtual std::string describe() const = 0;
};

}  // namespace gw::drivers
