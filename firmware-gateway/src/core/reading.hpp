// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace gw {

/// Quality of one sample. Device failure is data: a failed poll still produces a reading.
/// The numeric values are stored in the database: append, never renumber.
enum class SampleQuality : std::uint8_t {
    Good = 0,
    CommError = 1,        ///< no answer, CRC error, Modbus exception, connection refused
    DecodeError = 2,      ///< answered, but the registers do not hold a usable value
    OverRange = 3,        ///< outside the sensor's measuring range
    InstrumentFault = 4,  ///< the device reports a fault (tilted, broken current loop)
    Stuck = 5,            ///< the same raw value for too many samples in a row
    Stale = 6,            ///< a push source (LoRaWAN) stopped reporting
    /// Implausible next to its neighbours: a spike or a faster change than the metric allows
    /// (the sensor's quality checks, docs/analytics.md).
    Spike = 7,
};
inline constexpr int kSampleQualityCount = 8;

const char* to_string(SampleQuality quality);

/// HJ 212 data flag (DOMAIN.md §1.9) of a faulty sample: 'B' communication fault, 'D'
/// instrument fault, 'T' over the measuring range; 'N' for a good sample.
char hj212_flag(SampleQuality quality);

/// How far the wall-clock time of a reading can be trusted (docs/reliability.md, clock).
/// The numeric values are stored in the database.
enum class ClockState : std::uint8_t {
    Held = 0,            ///< taken while the clock was unsynchronised; not aggregated yet
    Synchronised = 1,    ///< taken while the clock was trusted
    Corrected = 2,       ///< taken while unsynchronised, re-timed after the clock synchronised
    Unsynchronised = 3,  ///< taken while unsynchronised and never corrected
};

const char* to_string(ClockState state);

/// One sample of one configured sensor, after decoding and derivation.
struct Reading {
    std::size_t sensor_index{0};  ///< index into Config::sensors
    double raw{0.0};              ///< register value as decoded, before scaling
    double value{0.0};            ///< engineering value in the sensor's unit
    /// The value before the field calibration was applied (published as "measured", so the
    /// platform can recompute history after a bad calibration); empty: none applied.
    std::optional<double> measured;
    /// Taken while a technician calibrates the sensor: the window is flagged C.
    bool calibrating{false};
    /// Taken while the sensor is under maintenance (`towngw maintenance`): HJ 212 flag M.
    bool maintenance{false};
    SampleQuality quality{SampleQuality::Good};
    std::chrono::system_clock::time_point sampled_at;  ///< wall-clock time (see `clock`)
    std::int64_t mono_ms{0};                           ///< monotonic time since boot
    ClockState clock{ClockState::Synchronised};
};

}  // namespace gw
