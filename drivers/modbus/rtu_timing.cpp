// SPDX-License-Identifier: Apache-2.0
#include "drivers/rtu_timing.hpp"

namespace gw::modbus {

int bits_per_character(const LineFraming& line) {
    return 1 + line.data_bits + (line.parity == 'N' ? 0 : 1) + line.stop_bits;
}

double character_time_us(const LineFraming& line) {
    return 1e6 * bits_per_character(line) / static_cast<double>(line.baud);
}

double t3_5_us(const LineFraming& line) {
    // The spec fixes t3.5 at 1.75 ms above 19200 baud so fast lines need no µs timers.
    if (line.baud > 19200) return 1750.0;
    return 3.5 * character_time_us(line);
}

double frame_time_us(const LineFraming& line, int bytes) {
    return bytes * character_time_us(line);
}

double read_cycle_us(const LineFraming& line, int registers, double turnaround_us) {
    return frame_time_us(line, kReadRequestBytes + read_response_bytes(registers)) +
           2.0 * t3_5_us(line) + turnaround_us;
}

}  // namespace gw::modbus
