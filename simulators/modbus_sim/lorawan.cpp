// SPDX-License-Identifier: Apache-2.0
#include "modbus_sim/lorawan.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace gw::sim {
namespace {

constexpr std::size_t kReplayHistory = 64;
constexpr std::uint32_t kLoraBandwidth_hz = 125'000;
constexpr int kMaxSpreadingFactor = 12;  ///< DR0 = SF12 ... DR5 = SF7 (CN470 / EU868)

int clamp_round(double value, int lo, int hi) {
    if (std::isnan(value)) return lo;
    return static_cast<int>(
        std::clamp(std::round(value), static_cast<double>(lo), static_cast<double>(hi)));
}

}  // namespace

Em310Reading make_em310_reading(double battery_pct, double distance_mm, bool tilt) {
    return {clamp_round(battery_pct, 0, 100), clamp_round(distance_mm, 0, 65535), tilt ? 1 : 0};
}

std::vector<std::uint8_t> encode_em310_udl(const Em310Reading& reading) {
    const auto distance = static_cast<std::uint16_t>(reading.distance_mm);
    return {0x01,
            0x75,
            static_cast<std::uint8_t>(reading.battery_pct),
            0x03,
            0x82,
            static_cast<std::uint8_t>(distance & 0xFFU),
            static_cast<std::uint8_t>(distance >> 8),
            0x04,
            0x00,
            static_cast<std::uint8_t>(reading.position)};
}

std::vector<std::uint8_t> garbage_em310_udl(const Em310Reading& reading) {
    std::vector<std::uint8_t> payload = encode_em310_udl(reading);
    payload.resize(6);  // 01 75 bb 03 82 lo: the distance's high byte is missing
    return payload;
}

std::string base64_encode(const std::vector<std::uint8_t>& bytes) {
    static constexpr std::string_view kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
        const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
        std::uint32_t group = static_cast<std::uint32_t>(bytes[i]) << 16;
        if (n > 1) group |= static_cast<std::uint32_t>(bytes[i + 1]) << 8;
        if (n > 2) group |= bytes[i + 2];
        for (std::size_t k = 0; k < 4; ++k) {
            out += k <= n ? kAlphabet[(group >> (18 - 6 * k)) & 0x3FU] : '=';
        }
    }
    return out;
}

std::string uuid_v4(std::mt19937_64& rng) {
    std::array<std::uint8_t, 16> b{};
    const std::uint64_t hi = rng();
    const std::uint64_t lo = rng();
    for (std::size_t i = 0; i < 8; ++i) {
        b[i] = static_cast<std::uint8_t>(hi >> (8 * i));
        b[8 + i] = static_cast<std::uint8_t>(lo >> (8 * i));
    }
    b[6] = static_cast<std::uint8_t>((b[6] & 0x0FU) | 0x40U);  // version 4
    b[8] = static_cast<std::uint8_t>((b[8] & 0x3FU) | 0x80U);  // RFC 4122 variant
    std::array<char, 37> text{};
    std::snprintf(text.data(), text.size(),
                  "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                  b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
                  b[14], b[15]);
    return text.data();
}

std::string rfc3339_utc(std::chrono::system_clock::time_point time) {
    const auto since_epoch = time.time_since_epoch();
    const auto seconds = std::chrono::floor<std::chrono::seconds>(since_epoch);
    const auto micros =
        std::chrono::duration_cast<std::chrono::microseconds>(since_epoch - seconds).count();
    const std::time_t t = static_cast<std::time_t>(seconds.count());
    std::tm utc{};
    gmtime_r(&t, &utc);
    std::array<char, 128> text{};  // room for any int the compiler can imagine
    std::snprintf(text.data(), text.size(), "%04d-%02d-%02dT%02d:%02d:%02d.%06lld+00:00",
                  utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                  utc.tm_sec, static_cast<long long>(micros));
    return text.data();
}

std::string uplink_topic(const LorawanConfig& config, const LorawanDeviceConfig& device) {
    return "application/" + config.application_id + "/device/" + device.dev_eui + "/event/up";
}

nlohmann::ordered_json uplink_event_json(const LorawanConfig& config,
                                         const LorawanDeviceConfig& device, const Uplink& uplink) {
    using nlohmann::ordered_json;
    ordered_json tags = ordered_json::object();
    for (const auto& [key, value] : device.tags) tags[key] = value;

    ordered_json event;
    event["deduplicationId"] = uplink.dedup_id;
    event["time"] = rfc3339_utc(uplink.time);
    event["deviceInfo"] = {{"tenantId", config.tenant_id},
                           {"tenantName", config.tenant_name},
                           {"applicationId", config.application_id},
                           {"applicationName", config.application_name},
                           {"deviceProfileId", device.device_profile_id},
                           {"deviceProfileName", device.device_profile_name},
                           {"deviceName", device.id},
                           {"devEui", device.dev_eui},
                           {"deviceClassEnabled", "CLASS_A"},
                           {"tags", tags}};
    event["devAddr"] = device.dev_addr;
    event["adr"] = device.adr;
    event["dr"] = kMaxSpreadingFactor - device.spreading_factor;
    event["fCnt"] = uplink.f_cnt;
    event["fPort"] = device.f_port;
    event["confirmed"] = device.confirmed;
    event["data"] = base64_encode(uplink.payload);
    ordered_json rx;
    rx["gatewayId"] = config.gateway_id;
    rx["uplinkId"] = uplink.uplink_id;
    rx["nsTime"] = rfc3339_utc(uplink.time);
    rx["rssi"] = static_cast<int>(std::lround(device.rssi_dbm));
    rx["snr"] = device.snr_db;
    rx["channel"] = 2;
    rx["context"] = "AAAAAA==";
    rx["metadata"] = {{"region_config_id", "cn470_10"}, {"region_common_name", "CN470"}};
    rx["crcStatus"] = "CRC_OK";
    event["rxInfo"] = ordered_json::array({rx});
    event["txInfo"] = {{"frequency", device.frequency_hz},
                       {"modulation",
                        {{"lora",
                          {{"bandwidth", kLoraBandwidth_hz},
                           {"spreadingFactor", device.spreading_factor},
                           {"codeRate", "CR_4_5"}}}}}};
    return event;
}

LorawanFleet::LorawanFleet(LorawanConfig config, std::uint64_t seed)
    : config_(std::move(config)), noise_rng_(seed ^ 0x10CA1A0ULL), id_rng_(std::random_device{}()) {
    for (const auto& device : config_.devices) {
        devices_.push_back(
            DeviceState{Waveform(device.distance, phase_from_seed(seed, device.id + "/distance")),
                        Waveform(device.battery),
                        device.f_cnt_start,
                        0,
                        std::nullopt,
                        {},
                        UplinkCounters{}});
    }
}

double LorawanFleet::slot_time_s(std::size_t index) const {
    const auto& device = config_.devices[index];
    return (device.offset_ms + static_cast<double>(devices_[index].slot) * device.interval_ms) /
           1000.0;
}

std::optional<double> LorawanFleet::next_due_s() const {
    std::optional<double> next;
    for (std::size_t i = 0; i < devices_.size(); ++i) {
        const double due = slot_time_s(i);
        if (!next || due < *next) next = due;
    }
    return next;
}

void LorawanFleet::run_due(double wall_s, std::chrono::system_clock::time_point now,
                           const SimClock& clock, FaultBoard& faults, const Publish& publish,
                           const OnPublished& on_published) {
    for (std::size_t i = 0; i < devices_.size(); ++i) {
        // One uplink per call even if several slots were missed (a stalled simulator does not
        // make a sensor burst); the slot index then skips ahead.
        if (slot_time_s(i) > wall_s) continue;
        run_slot(i, now, clock.at(wall_s), faults, wall_s, publish, on_published);
        auto& state = devices_[i];
        while (slot_time_s(i) <= wall_s) ++state.slot;
    }
}

void LorawanFleet::run_slot(std::size_t index, std::chrono::system_clock::time_point now,
                            const SimInstant& sim_now, FaultBoard& faults, double wall_s,
                            const Publish& publish, const OnPublished& on_published) {
    const auto& device = config_.devices[index];
    auto& state = devices_[index];
    ++state.counters.uplinks;
    const UplinkFaultEffect effect = faults.uplink_effect(device.id, wall_s);
    if (effect.hit) ++state.counters.faulted;
    if (effect.silent) {
        return;  // the sensor sends nothing, so its frame counter does not move either
    }
    Em310Reading reading;
    if (effect.stuck && state.last_reading) {
        reading = *state.last_reading;
    } else {
        reading = make_em310_reading(state.battery.sample(sim_now, noise_rng_),
                                     state.distance.sample(sim_now, noise_rng_), false);
    }
    state.last_reading = reading;
    reading.position = device.tilt || effect.tilt ? 1 : 0;

    Uplink uplink;
    uplink.dedup_id = uuid_v4(id_rng_);
    uplink.time = now;
    uplink.f_cnt = state.next_f_cnt++;
    uplink.reading = reading;
    uplink.garbage = effect.garbage;
    uplink.payload = effect.garbage ? garbage_em310_udl(reading) : encode_em310_udl(reading);
    uplink.uplink_id = static_cast<std::uint32_t>(id_rng_());

    const std::string topic = uplink_topic(config_, device);
    const auto send = [&](const Uplink& message, std::string_view kind) {
        if (publish(topic, uplink_event_json(config_, device, message).dump())) {
            ++state.counters.published;
            on_published(device, message, kind);
        } else {
            ++state.counters.publish_errors;
        }
    };
    send(uplink, "uplink");
    if (effect.duplicate) {
        send(uplink, "duplicate");  // identical event, as an MQTT redelivery
    }
    if (effect.replay_back &&
        state.history.size() >= static_cast<std::size_t>(*effect.replay_back)) {
        Uplink old =
            state.history[state.history.size() - static_cast<std::size_t>(*effect.replay_back)];
        old.dedup_id = uuid_v4(id_rng_);  // a new reception of an old frame
        old.time = now;
        old.uplink_id = static_cast<std::uint32_t>(id_rng_());
        send(old, "replay");
    }
    state.history.push_back(std::move(uplink));
    if (state.history.size() > kReplayHistory) state.history.pop_front();
}

}  // namespace gw::sim
