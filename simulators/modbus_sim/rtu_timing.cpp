// SPDX-License-Identifier: Apache-2.0
#include "modbus_sim/rtu_timing.hpp"

#include <algorithm>

namespace gw::sim {
namespace {

/// Modbus over Serial Line V1.02 §2.5.1.1: above 19200 baud t3.5 is a fixed 1.75 ms.
constexpr int kFixedTimingAboveBaud = 19200;
constexpr double kFixedFrameSilence_ms = 1.75;
constexpr double kSilenceCharacters = 3.5;

}  // namespace

int bits_per_character(const RtuLineSettings& line) {
    const int parity_bits = line.parity == 'N' ? 0 : 1;
    return 1 + line.data_bits + parity_bits + line.stop_bits;
}

double character_time_ms(const RtuLineSettings& line) {
    return 1000.0 * bits_per_character(line) / line.baud;
}

double wire_time_ms(std::size_t byte_count, const RtuLineSettings& line) {
    return static_cast<double>(byte_count) * character_time_ms(line);
}

double frame_silence_ms(const RtuLineSettings& line) {
    if (line.baud > kFixedTimingAboveBaud) {
        return kFixedFrameSilence_ms;
    }
    return kSilenceCharacters * character_time_ms(line);
}

double reply_gap_ms(const RtuLineSettings& line) {
    return std::max(line.turnaround_ms, frame_silence_ms(line));
}

std::string describe(const RtuLineSettings& line) {
    return std::to_string(line.baud) + " " + std::to_string(line.data_bits) + line.parity +
           std::to_string(line.stop_bits);
}

}  // namespace gw::sim
