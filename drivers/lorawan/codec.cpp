// SPDX-License-Identifier: Apache-2.0
#include "drivers/lorawan/codec.hpp"

#include <algorithm>
#include <cstdio>

namespace gw::lorawan {

namespace {

using drivers::PointFault;
using drivers::PointSample;

// ------------------------------------------------------------------ Milesight TLV family
// Payload = records [channel][type][data]; the data length depends on (channel, type), so a
// record this codec does not know cannot be skipped: decoding stops there (as Milesight's own
// decoders do). Sources: Milesight-IoT/SensorDecoders em-series/em310-udl, em400-udl.

enum class Field : std::uint8_t {
    Uint8,          ///< 1 byte unsigned
    Uint16Le,       ///< 2 bytes little-endian unsigned
    Int16LeTenths,  ///< 2 bytes little-endian signed, x0.1
    Skip,           ///< known length, not a point (device info, alarm status, location)
};

struct Record {
    std::uint8_t channel;
    std::uint8_t type;
    std::uint8_t length;  ///< data bytes after channel and type
    Field field;
    int point;  ///< index into the codec's points; -1 for Skip
};

/// Device-info and downlink-response records (channels 0xFF / 0xFE) both models may send,
/// e.g. after power-on or after a configuration downlink. Lengths from the vendor decoders.
constexpr Record kInfoRecords[] = {
    {0xFF, 0x01, 1, Field::Skip, -1},  // IPSO version
    {0xFF, 0x09, 2, Field::Skip, -1},  // hardware version
    {0xFF, 0x0A, 2, Field::Skip, -1},  // firmware version
    {0xFF, 0xFF, 2, Field::Skip, -1},  // TSL version
    {0xFF, 0x16, 8, Field::Skip, -1},  // serial number
    {0xFF, 0x0F, 1, Field::Skip, -1},  // LoRaWAN class
    {0xFF, 0xFE, 1, Field::Skip, -1},  // reset event
    {0xFF, 0x0B, 1, Field::Skip, -1},  // device status (power on)
    // Downlink responses (0xFE or 0xFF): reboot, collection/report interval, alarm config.
    {0xFF, 0x10, 1, Field::Skip, -1},
    {0xFE, 0x10, 1, Field::Skip, -1},
    {0xFF, 0x02, 2, Field::Skip, -1},
    {0xFE, 0x02, 2, Field::Skip, -1},
    {0xFF, 0x03, 2, Field::Skip, -1},
    {0xFE, 0x03, 2, Field::Skip, -1},
    {0xFF, 0x06, 9, Field::Skip, -1},
    {0xFE, 0x06, 9, Field::Skip, -1},
};

struct TlvLayout {
    std::vector<Record> records;  ///< the model's own records (measurements and extras)
    int distance_point;           ///< faulted with Instrument when the sensor is tilted
    int tilt_point;               ///< position: 0 normal, 1 tilt
};

std::string hex_byte(std::uint8_t byte) {
    char text[5];
    std::snprintf(text, sizeof text, "0x%02X", byte);
    return text;
}

const Record* find_record(const TlvLayout& layout, std::uint8_t channel, std::uint8_t type) {
    const auto matches = [&](const Record& r) { return r.channel == channel && r.type == type; };
    auto own = std::find_if(layout.records.begin(), layout.records.end(), matches);
    if (own != layout.records.end()) return &*own;
    auto info = std::find_if(std::begin(kInfoRecords), std::end(kInfoRecords), matches);
    return info != std::end(kInfoRecords) ? info : nullptr;
}

double read_field(Field field, const std::uint8_t* data) {
    switch (field) {
        case Field::Uint8:
            return data[0];
        case Field::Uint16Le:
            return static_cast<double>(data[0] | (data[1] << 8));
        case Field::Int16LeTenths:
            return static_cast<std::int16_t>(static_cast<std::uint16_t>(data[0] | (data[1] << 8))) /
                   10.0;
        case Field::Skip:
            break;
    }
    return 0.0;
}

CodecResult fail(CodecResult result, std::string error) {
    result.ok = false;
    result.measured = false;
    result.error = std::move(error);
    for (auto& point : result.points) {
        point = PointSample{};
        point.fault = PointFault::Decode;
        point.error = result.error;
    }
    return result;
}

CodecResult decode_tlv(const TlvLayout& layout, std::size_t point_count,
                       const std::vector<std::uint8_t>& payload) {
    CodecResult result;
    result.points.resize(point_count);
    for (auto& point : result.points) {
        point.fault = PointFault::Decode;
        point.error = "not in this uplink";
    }
    if (payload.empty()) return fail(std::move(result), "empty payload");

    std::size_t at = 0;
    while (at < payload.size()) {
        if (at + 2 > payload.size())
            return fail(std::move(result), "truncated record header at byte " + std::to_string(at));
        const std::uint8_t channel = payload[at];
        const std::uint8_t type = payload[at + 1];
        const Record* record = find_record(layout, channel, type);
        if (record == nullptr) {
            const std::string where = "record " + hex_byte(channel) + "/" + hex_byte(type) +
                                      " at byte " + std::to_string(at);
            // The length of an unknown record is unknown: stop. What came before is good.
            if (!result.measured) return fail(std::move(result), "unknown " + where);
            result.note = "stopped at unknown " + where;
            break;
        }
        const std::size_t left = payload.size() - at - 2;
        if (left < record->length)
            return fail(std::move(result), "record " + hex_byte(channel) + "/" + hex_byte(type) +
                                               " at byte " + std::to_string(at) + " needs " +
                                               std::to_string(record->length) + " bytes, " +
                                               std::to_string(left) + " left");
        if (record->field != Field::Skip) {
            PointSample& point = result.points.at(static_cast<std::size_t>(record->point));
            point.raw = point.value = read_field(record->field, &payload[at + 2]);
            point.ok = true;
            point.fault = PointFault::None;
            point.error.clear();
            result.measured = true;
        }
        at += 2 + record->length;
    }
    result.ok = true;

    // A tilted sensor measures to a wall, not to the waste: its distance is garbage.
    PointSample& tilt = result.points.at(static_cast<std::size_t>(layout.tilt_point));
    PointSample& distance = result.points.at(static_cast<std::size_t>(layout.distance_point));
    if (tilt.ok && tilt.raw != 0.0 && tilt.raw != 1.0) {
        tilt.ok = false;
        tilt.fault = PointFault::Decode;
        tilt.error = "position byte " + std::to_string(static_cast<int>(tilt.raw)) +
                     " is neither 0 (normal) nor 1 (tilt)";
    } else if (tilt.ok && tilt.raw == 1.0 && distance.ok) {
        distance.ok = false;
        distance.fault = PointFault::Instrument;
        distance.error = "sensor tilted";
    }
    return result;
}

// EM310-UDL points: distance, battery, tilt.
const TlvLayout kEm310Layout{{
                                 {0x01, 0x75, 1, Field::Uint8, 1},     // battery %
                                 {0x03, 0x82, 2, Field::Uint16Le, 0},  // distance mm
                                 {0x04, 0x00, 1, Field::Uint8, 2},     // position
                             },
                             /*distance_point=*/0,
                             /*tilt_point=*/2};

// EM400-UDL points: distance, temperature, battery, tilt.
const TlvLayout kEm400Layout{{
                                 {0x01, 0x75, 1, Field::Uint8, 2},          // battery %
                                 {0x03, 0x67, 2, Field::Int16LeTenths, 1},  // temperature
                                 {0x04, 0x82, 2, Field::Uint16Le, 0},       // distance mm
                                 {0x05, 0x00, 1, Field::Uint8, 3},          // position
                                 // Alarm reports: value + 1 alarm status byte (not a point).
                                 {0x83, 0x67, 3, Field::Int16LeTenths, 1},
                                 {0x84, 0x82, 3, Field::Uint16Le, 0},
                                 {0x06, 0x88, 9, Field::Skip, -1},  // NB-IoT location
                                 // Further downlink responses of this model.
                                 {0xFF, 0x13, 1, Field::Skip, -1},
                                 {0xFF, 0x1C, 2, Field::Skip, -1},
                                 {0xFF, 0x28, 1, Field::Skip, -1},
                                 {0xFF, 0x3E, 1, Field::Skip, -1},
                                 {0xFF, 0x4A, 1, Field::Skip, -1},
                                 {0xFF, 0x56, 1, Field::Skip, -1},
                                 {0xFF, 0x70, 2, Field::Skip, -1},
                                 {0xFF, 0x71, 1, Field::Skip, -1},
                             },
                             /*distance_point=*/0,
                             /*tilt_point=*/3};

CodecResult decode_em310_udl(const std::vector<std::uint8_t>& payload, std::uint8_t /*f_port*/) {
    return decode_tlv(kEm310Layout, 3, payload);
}

CodecResult decode_em400_udl(const std::vector<std::uint8_t>& payload, std::uint8_t /*f_port*/) {
    return decode_tlv(kEm400Layout, 4, payload);
}

const std::vector<Codec>& registry() {
    static const std::vector<Codec> codecs{
        {"milesight-em310-udl",
         "Milesight EM310-UDL ultrasonic distance sensor (LoRaWAN): distance mm, battery %, tilt",
         {{"distance", "mm", "distance"}, {"battery", "%", "battery"}, {"tilt", "", "tilt"}},
         decode_em310_udl},
        {"milesight-em400-udl",
         "Milesight EM400-UDL ultrasonic distance sensor (LoRaWAN): distance mm, temperature "
         "degC, battery %, tilt",
         {{"distance", "mm", "distance"},
          {"temperature", "degC", "bin_temperature"},
          {"battery", "%", "battery"},
          {"tilt", "", "tilt"}},
         decode_em400_udl},
    };
    return codecs;
}

}  // namespace

const Codec* find_codec(std::string_view name) {
    for (const auto& codec : registry())
        if (codec.name == name) return &codec;
    return nullptr;
}

std::vector<std::string> codec_names() {
    std::vector<std::string> names;
    for (const auto& codec : registry()) names.push_back(codec.name);
    return names;
}

int point_index(const Codec& codec, std::string_view name) {
    for (std::size_t i = 0; i < codec.points.size(); ++i)
        if (codec.points[i].name == name) return static_cast<int>(i);
    return -1;
}

}  // namespace gw::lorawan
