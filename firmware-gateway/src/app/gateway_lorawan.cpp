// SPDX-License-Identifier: Apache-2.0
// The Gateway's LoRaWAN part: one ChirpstackSource per broker, and its counters in
// `towngw status` / health. Kept apart from gateway.cpp so the Modbus and LoRaWAN wiring can
// change independently.
#include <map>

#include "app/gateway.hpp"
#include "core/log.hpp"

namespace gw {

namespace {

/// Seconds since `when`, or null if it never happened.
nlohmann::json age_s(const std::optional<std::chrono::steady_clock::time_point>& when) {
    if (!when) return nullptr;
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() -
                                                            *when)
        .count();
}

template <typename T>
nlohmann::json optional_json(const std::optional<T>& value) {
    return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

}  // namespace

void Gateway::build_chirpstack_sources() {
    // One source (one MQTT connection) per broker; the config loader made sure devices on one
    // broker agree on credentials and client id.
    std::map<std::string, std::vector<std::size_t>> devices_of_broker;
    std::vector<std::string> broker_order;
    for (std::size_t i = 0; i < config_.devices.size(); ++i) {
        const auto& device = config_.devices[i];
        if (device.kind != SourceKind::Chirpstack) continue;
        if (devices_of_broker.count(device.chirpstack.broker) == 0)
            broker_order.push_back(device.chirpstack.broker);
        devices_of_broker[device.chirpstack.broker].push_back(i);
    }
    lorawan_of_device_.resize(config_.devices.size());
    for (const auto& broker_uri : broker_order) {
        const auto& device_indices = devices_of_broker[broker_uri];
        const ChirpstackTransport& first = config_.devices[device_indices.front()].chirpstack;
        lorawan::ChirpstackBroker broker;
        broker.uri = broker_uri;
        broker.client_id = first.client_id;
        broker.username = first.username;
        broker.password = first.password;
        broker.keepalive_s = config_.mqtt.keepalive_s;
        broker.reconnect_min_s = config_.mqtt.reconnect_min_s;
        broker.reconnect_max_s = config_.mqtt.reconnect_max_s;

        std::vector<lorawan::LorawanDevice> devices;
        for (std::size_t i : device_indices) {
            const DeviceConfig& d = config_.devices[i];
            lorawan::LorawanDevice device;
            device.id = d.id;
            device.dev_eui = d.chirpstack.dev_eui;
            device.application_id = d.chirpstack.application_id;
            device.codec = lorawan::find_codec(d.codec);
            device.stale_after = d.stale_after;
            device.interval = d.uplink_interval;
            devices.push_back(device);
        }
        // Runs on the source's threads; the log facade is thread-safe.
        auto log = [](lorawan::LogLine::Level level, const std::string& text) {
            switch (level) {
                case lorawan::LogLine::Level::Debug:
                    GW_LOG_DEBUG("lorawan", text);
                    break;
                case lorawan::LogLine::Level::Info:
                    GW_LOG_INFO("lorawan", text);
                    break;
                case lorawan::LogLine::Level::Warn:
                    GW_LOG_WARN("lorawan", text);
                    break;
            }
        };
        auto source = std::make_unique<lorawan::ChirpstackSource>(
            broker, std::move(devices), post_samples_to(device_indices), log);
        for (std::size_t local = 0; local < device_indices.size(); ++local)
            lorawan_of_device_[device_indices[local]] = {source.get(), local};
        GW_LOG_INFO("gateway", "source " << source->describe() << " (client id " << broker.client_id
                                         << "): " << device_indices.size() << " LoRaWAN device(s)");
        chirpstack_sources_.push_back(source.get());
        sources_.push_back(std::move(source));
    }
}

void Gateway::add_lorawan_fields(std::size_t device_index, nlohmann::json& entry) const {
    if (device_index >= lorawan_of_device_.size()) return;
    const LorawanSlot& slot = lorawan_of_device_[device_index];
    if (slot.source == nullptr) return;
    const DeviceConfig& device = config_.devices[device_index];
    const lorawan::DeviceCounters c = slot.source->device_counters(slot.local);
    entry["endpoint"] = slot.source->describe();
    entry["dev_eui"] = device.chirpstack.dev_eui;
    entry["codec"] = device.codec;
    entry["uplinks"] = c.uplinks;
    entry["duplicates"] = c.duplicates;
    entry["replays"] = c.replays;
    entry["decode_errors"] = c.decode_errors;
    entry["fcnt_resets"] = c.fcnt_resets;
    entry["joins"] = c.joins;
    entry["last_fcnt"] = optional_json(c.last_f_cnt);
    entry["last_rssi"] = optional_json(c.last_rssi);
    entry["last_snr"] = optional_json(c.last_snr);
    entry["last_uplink_age_s"] = age_s(c.last_uplink_at);
    entry["stale"] = c.stale;
    entry["stale_samples"] = c.stale_samples;
    entry["last_uplink_error"] = c.last_error;
}

nlohmann::json Gateway::lorawan_json() const {
    nlohmann::json sources = nlohmann::json::array();
    for (const auto* source : chirpstack_sources_) {
        const lorawan::ChirpstackStatus status = source->status();
        sources.push_back({{"endpoint", source->describe()},
                           {"connected", status.connected},
                           {"connects", status.connects},
                           {"connection_losses", status.connection_losses},
                           {"messages", status.counters.messages},
                           {"unknown_devices", status.counters.unknown_devices},
                           {"unattributed_errors", status.counters.unattributed_errors}});
    }
    return sources;
}

}  // namespace gw
