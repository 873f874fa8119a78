// SPDX-License-Identifier: Apache-2.0
// Modbus RTU line timing (Modbus over Serial Line V1.02 §2.5.1.1; DOMAIN.md §5): character
// time, the t3.5 inter-frame silence, and the wire time of FC03/FC04 transactions. Pure, so the
// bus scheduler, the status output and the benchmarks agree on one set of numbers.
#pragma once

#include <chrono>

namespace gw::modbus {

struct LineFraming {
    int baud{9600};
    char parity{'N'};
    int data_bits{8};
    int stop_bits{1};
};

/// Bits on the wire per character: start + data + parity (if any) + stop.
int bits_per_character(const LineFraming& line);

/// Time of one character, in microseconds.
double character_time_us(const LineFraming& line);

/// The silence that separates frames: 3.5 characters, fixed at 1750 us above 19200 baud.
double t3_5_us(const LineFraming& line);

/// Wire time of a frame of `bytes` bytes, in microseconds.
double frame_time_us(const LineFraming& line, int bytes);

/// FC03/FC04 request: 8 bytes; response: 5 + 2N bytes (DOMAIN.md §5.2).
inline constexpr int kReadRequestBytes = 8;
inline int read_response_bytes(int registers) {
    return 5 + 2 * registers;
}

/// One read of `registers` registers with zero slave and host latency plus `turnaround_us`:
/// (13 + 2N) Tc + 2 t3.5 + turnaround (DOMAIN.md §5.3).
double read_cycle_us(const LineFraming& line, int registers, double turnaround_us = 0.0);

}  // namespace gw::modbus
