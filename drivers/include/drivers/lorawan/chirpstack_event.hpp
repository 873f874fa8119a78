// SPDX-License-Identifier: Apache-2.0
// ChirpStack v4 MQTT integration, JSON marshaler (DOMAIN.md §3.3): the event topic and the
// `up` / `join` event bodies, parsed into plain structs. Sans-I/O.
//
//   topic:   application/{applicationId}/device/{devEui}/event/{up|join|status|...}
//   up:      {"deduplicationId", "time", "deviceInfo": {"applicationId", "devEui", ...},
//             "fCnt", "fPort", "data": base64 FRMPayload, "rxInfo": [{"rssi", "snr"}, ...]}
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gw::lorawan {

/// A DevEUI in canonical form: 16 lower-case hex digits. nullopt unless `text` is exactly 16
/// hex digits (either case).
std::optional<std::string> normalize_dev_eui(std::string_view text);

struct EventTopic {
    std::string application_id;
    std::string dev_eui;  ///< as in the topic (not normalised)
    std::string event;    ///< "up", "join", ...
};

/// Splits application/{app}/device/{devEui}/event/{event}; nullopt for any other shape.
std::optional<EventTopic> parse_event_topic(std::string_view topic);

/// Subscription filter for one event type of one application ("+" = every application).
std::string event_topic_filter(std::string_view application_id, std::string_view event);

/// The fields of an `up` event the gateway uses.
struct UplinkEvent {
    std::string deduplication_id;
    std::string application_id;  ///< deviceInfo.applicationId (may be empty)
    std::string dev_eui;         ///< deviceInfo.devEui, normalised
    std::string device_name;     ///< deviceInfo.deviceName (for logs only)
    /// Uplink frame counter. ChirpStack 4.0.x omitted zero-valued fields from its JSON
    /// (chirpstack#43), so a missing fCnt is the first uplink of a session: 0.
    std::uint32_t f_cnt{0};
    std::uint8_t f_port{0};
    std::string time;           ///< RFC 3339 as sent; kept for logs, not used for windows
    std::string data_base64;    ///< raw FRMPayload, still base64 (empty when absent or null)
    std::optional<int> rssi;    ///< dBm, of the gateway that heard it best
    std::optional<double> snr;  ///< dB, of that same gateway
};

struct ParsedUplink {
    std::optional<UplinkEvent> event;  ///< set when the envelope is usable
    std::string error;                 ///< why not, e.g. "deviceInfo.devEui is missing"
};

/// Parses the JSON body of an `up` event. Never throws. The payload bytes are not decoded
/// here, so that an uplink whose `data` is broken can still be deduplicated and counted.
ParsedUplink parse_uplink_event(std::string_view json_text);

/// The fields of a `join` event the gateway uses: a (re)join restarts the frame counter.
struct JoinEvent {
    std::string deduplication_id;
    std::string dev_eui;  ///< normalised
};

struct ParsedJoin {
    std::optional<JoinEvent> event;
    std::string error;
};

ParsedJoin parse_join_event(std::string_view json_text);

}  // namespace gw::lorawan
