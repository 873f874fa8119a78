// SPDX-License-Identifier: Apache-2.0
#include "drivers/iio/analog_mapping.hpp"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace gw::iio {

namespace {

std::string number_text(double value) {
    std::ostringstream out;
    out << value;
    return out.str();
}

drivers::PointSample fault(drivers::PointSample point, drivers::PointFault kind,
                           std::string error) {
    point.ok = false;
    point.fault = kind;
    point.error = std::move(error);
    return point;
}

}  // namespace

std::optional<double> parse_sysfs_number(std::string_view text) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
        text.remove_suffix(1);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
        text.remove_prefix(1);
    if (text.empty()) return std::nullopt;
    const std::string copy(text);  // strtod needs a terminated string
    char* end = nullptr;
    errno = 0;
    const double value = std::strtod(copy.c_str(), &end);
    if (end != copy.c_str() + copy.size() || errno == ERANGE || !std::isfinite(value))
        return std::nullopt;
    return value;
}

double millivolts_from_raw(double raw, double offset, double scale) {
    return (raw + offset) * scale;
}

drivers::PointSample map_signal(double millivolts, const ChannelMapping& mapping,
                                const std::string& unit) {
    const bool is_current = mapping.mode == SignalMode::Current;
    const Span signal = is_current ? mapping.milliamps : mapping.volts;
    const char* signal_unit = is_current ? "mA" : "V";
    drivers::PointSample point;
    // mV / ohm = mA.
    point.raw = is_current ? millivolts / mapping.shunt_ohm : millivolts / 1000.0;
    const double fraction = (point.raw - signal.min) / (signal.max - signal.min);
    point.value = mapping.range.min + fraction * (mapping.range.max - mapping.range.min);

    const std::string signal_text = number_text(point.raw) + " " + signal_unit;
    const bool is_ne43_loop = is_current && signal.min == 4.0 && signal.max == 20.0;
    if (is_ne43_loop) {
        const std::string loop = "loop current " + signal_text;
        if (point.raw < ne43::kFailureBelowMilliamps)
            return fault(point, drivers::PointFault::Instrument,
                         loop + ": broken wire or sensor fault");
        if (point.raw > ne43::kFailureAboveMilliamps)
            return fault(point, drivers::PointFault::Instrument, loop + ": sensor fault (> 21 mA)");
        // Between the failure levels and the measuring band NE 43 defines no measurement: a
        // transmitter saturates at 3.8 / 20.5 mA, so this is a failure signal, not a value.
        if (point.raw < ne43::kMeasuringBandMinMilliamps ||
            point.raw > ne43::kMeasuringBandMaxMilliamps)
            return fault(point, drivers::PointFault::Instrument,
                         loop + ": outside the NE 43 measuring band 3.8..20.5 mA, sensor fault");
    }
    const double tolerance = kSignalToleranceOfSpan * (signal.max - signal.min);
    const bool below = point.raw < signal.min - tolerance;
    const bool above = point.raw > signal.max + tolerance;
    if (below || above) {
        const std::string unit_text = unit.empty() ? "" : " " + unit;
        return fault(point, drivers::PointFault::OverRange,
                     number_text(point.value) + unit_text + (below ? " below" : " above") +
                         " the measuring range " + number_text(mapping.range.min) + ".." +
                         number_text(mapping.range.max) + unit_text + " (signal " + signal_text +
                         ", span " + number_text(signal.min) + ".." + number_text(signal.max) +
                         " " + signal_unit + ")");
    }
    point.ok = true;
    point.fault = drivers::PointFault::None;
    return point;
}

}  // namespace gw::iio
