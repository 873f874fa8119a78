// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace gw {

/// Quality of one sample. Device failure is data: a failed poll still produces a reading.
enum class SampleQuality : std::uint8_t {
    Good,
    CommError,    ///< no answer, CRC error, Modbus exception, connection refused
    DecodeError,  ///< answered, but the registers do not hold a usable value
};

const char* to_string(SampleQuality quality);

/// One sample of one configured sensor, after decoding and derivation.
struct Reading {
    std::size_t sensor_index{0};  ///< index into Config::sensors
    double raw{0.0};              ///< register value as decoded, before scaling
    double value{0.0};            ///< engineering value in the sensor's unit
    SampleQuality quality{SampleQuality::Good};
    std::chrono::system_clock::time_point sampled_at;
};

}  // namespace gw
