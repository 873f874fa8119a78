// SPDX-License-Identifier: Apache-2.0
// Built-in LoRaWAN payload codecs, chosen per device by name (the "codec" key of a device):
// a codec names its points (name, unit, metric, in a fixed order) and turns one FRMPayload
// into one PointSample per point. Sans-I/O.
//
// Adding a codec: write a decode function (see milesight_tlv in codec.cpp for the TLV family)
// and add an entry to the registry in codec.cpp; docs/drivers.md has the checklist.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/device_sample.hpp"

namespace gw::lorawan {

struct CodecPoint {
    std::string name;    ///< what sensors refer to ("distance")
    std::string unit;    ///< "mm", "%", "degC", "" for states
    std::string metric;  ///< published metric ("distance", "battery")
};

struct CodecResult {
    /// False: the payload is not decodable at all (truncated, unknown first record, empty);
    /// `error` says why and every point carries a Decode fault.
    bool ok{false};
    /// At least one measurement is in the payload. A device-info-only uplink (Milesight
    /// channel 0xFF after power-on) is ok but not a measurement: no sample is made of it.
    bool measured{false};
    std::string error;
    /// Non-fatal remark, e.g. decoding stopped at a record this codec does not know.
    std::string note;
    std::vector<drivers::PointSample> points;  ///< one per codec point, in codec order
};

using DecodeFunction = CodecResult (*)(const std::vector<std::uint8_t>& payload,
                                       std::uint8_t f_port);

struct Codec {
    std::string name;         ///< config value, e.g. "milesight-em310-udl"
    std::string description;  ///< one line for docs and errors
    std::vector<CodecPoint> points;
    DecodeFunction decode{nullptr};
};

/// The built-in codec called `name`, or nullptr.
const Codec* find_codec(std::string_view name);

/// Names of all built-in codecs, for error messages ("known: ...").
std::vector<std::string> codec_names();

/// Index of the point called `name` in `codec`, or -1.
int point_index(const Codec& codec, std::string_view name);

}  // namespace gw::lorawan
