// SPDX-License-Identifier: Apache-2.0
// Modbus RTU line timing (DOMAIN.md §5.1/§5.2): how long a frame occupies an RS-485 line and
// how much silence separates frames. Pure functions, no clock, no I/O, so the simulator's reply
// delays and busy-time accounting can be unit-tested against the numbers in DOMAIN.md.
#pragma once

#include <cstddef>
#include <string>

namespace gw::sim {

/// Serial settings of the simulated RS-485 line plus the slaves' reply turnaround.
struct RtuLineSettings {
    int baud{9600};
    char parity{'N'};  ///< 'N', 'E' or 'O'
    int data_bits{8};
    int stop_bits{1};
    double turnaround_ms{5.0};  ///< slave think time: last request byte to first reply byte
    bool wire_delay{true};      ///< false: replies leave at once (only fault delays apply)
};

/// 1 start bit + data bits + 1 parity bit unless parity is 'N' + stop bits.
int bits_per_character(const RtuLineSettings& line);

/// Time one character occupies the line, in ms.
double character_time_ms(const RtuLineSettings& line);

/// Time `byte_count` back-to-back characters occupy the line, in ms.
double wire_time_ms(std::size_t byte_count, const RtuLineSettings& line);

/// Inter-frame silence t3.5: 3.5 character times, fixed at 1.75 ms above 19200 baud.
double frame_silence_ms(const RtuLineSettings& line);

/// Gap between the end of a request and the start of its reply: the turnaround, but never less
/// than t3.5, since a reply may not start before the request frame has ended.
double reply_gap_ms(const RtuLineSettings& line);

/// "9600 8N1".
std::string describe(const RtuLineSettings& line);

}  // namespace gw::sim
