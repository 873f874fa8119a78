// SPDX-License-Identifier: Apache-2.0
// Sans-I/O mapping of an analog input (0-10 V, or a 4-20 mA loop across a shunt) measured by a
// Linux IIO ADC to engineering units, with NAMUR NE 43 fault detection for current loops.
// No file access here: iio_source.hpp reads sysfs and hands the millivolts to these functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "drivers/device_sample.hpp"

namespace gw::iio {

enum class SignalMode : std::uint8_t {
    Voltage,  ///< the sensor drives a voltage (0-10 V, 0-5 V, 1-5 V) straight into the ADC
    Current,  ///< a current loop (4-20 mA) through a shunt; the ADC measures the shunt voltage
};

struct Span {
    double min{0.0};
    double max{0.0};
};

/// How one analog input becomes an engineering value: the signal span maps linearly onto the
/// measuring range (signal min -> range min, signal max -> range max).
struct ChannelMapping {
    SignalMode mode{SignalMode::Voltage};
    Span volts{0.0, 10.0};      ///< Voltage: the sensor's output span
    Span milliamps{4.0, 20.0};  ///< Current: the loop's span
    double shunt_ohm{250.0};    ///< Current: 250 ohm turns 4-20 mA into 1-5 V
    Span range{0.0, 1.0};       ///< engineering value at the span's ends (e.g. 0..5 m)
};

/// NAMUR NE 43 signal levels of a 4-20 mA loop (mA).
namespace ne43 {
inline constexpr double kFailureBelowMilliamps = 3.6;      ///< at or below: failure signal
inline constexpr double kMeasuringBandMinMilliamps = 3.8;  ///< under-range still valid down to here
inline constexpr double kMeasuringBandMaxMilliamps = 20.5;  ///< over-range still valid up to here
inline constexpr double kFailureAboveMilliamps = 21.0;      ///< at or above: failure signal
}  // namespace ne43

/// Share of the signal span a reading may lie outside it and still count as in range: ADC gain
/// error and a 0.1-1 % shunt put a true 4.00 mA anywhere in about 3.96..4.04 mA.
inline constexpr double kSignalToleranceOfSpan = 0.005;

/// Parses a sysfs attribute ("1234\n", "0.001220703125\n", "-12"); nullopt unless the whole text
/// (up to trailing white space) is one finite number.
std::optional<double> parse_sysfs_number(std::string_view text);

/// IIO ABI: millivolts = (raw + offset) * scale.
double millivolts_from_raw(double raw, double offset, double scale);

/// Maps a measured voltage to a point: `raw` is the signal (V or mA), `value` the engineering
/// value. Faults: OverRange outside the signal span (value still reported); for a 4-20 mA span,
/// Instrument at NE 43 failure levels (< 3.8 mA or > 20.5 mA: broken wire, sensor fault).
/// `unit` only names the engineering unit in messages.
drivers::PointSample map_signal(double millivolts, const ChannelMapping& mapping,
                                const std::string& unit);

}  // namespace gw::iio
