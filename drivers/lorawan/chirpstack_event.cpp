// SPDX-License-Identifier: Apache-2.0
#include "drivers/lorawan/chirpstack_event.hpp"

#include <cctype>
#include <limits>
#include <nlohmann/json.hpp>

namespace gw::lorawan {

namespace {

using json = nlohmann::json;

/// Parses without exceptions; nullopt and `error` on malformed JSON or a non-object.
std::optional<json> parse_object(std::string_view text, std::string& error) {
    json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) {
        error = "malformed JSON";
        return std::nullopt;
    }
    if (!doc.is_object()) {
        error = "event is not a JSON object";
        return std::nullopt;
    }
    return doc;
}

/// A required non-empty string member; error names the dotted path.
const std::string* required_string(const json& obj, const char* key, const char* path,
                                   std::string& error) {
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
        error = std::string(path) + " is missing";
        return nullptr;
    }
    if (!it->is_string() || it->get_ref<const std::string&>().empty()) {
        error = std::string(path) + " is not a non-empty string";
        return nullptr;
    }
    return &it->get_ref<const std::string&>();
}

/// deviceInfo.devEui, normalised.
std::optional<std::string> device_eui(const json& doc, std::string& error) {
    const auto info = doc.find("deviceInfo");
    if (info == doc.end() || !info->is_object()) {
        error = "deviceInfo is missing";
        return std::nullopt;
    }
    const std::string* eui = required_string(*info, "devEui", "deviceInfo.devEui", error);
    if (eui == nullptr) return std::nullopt;
    auto normalised = normalize_dev_eui(*eui);
    if (!normalised) error = "deviceInfo.devEui \"" + *eui + "\" is not 16 hex digits";
    return normalised;
}

/// An optional unsigned integer member no larger than `max`; absent or null -> `fallback`.
bool optional_unsigned(const json& obj, const char* key, std::uint64_t max, std::uint64_t fallback,
                       std::uint64_t& out, std::string& error) {
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
        out = fallback;
        return true;
    }
    if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<std::int64_t>() >= 0)) {
        error = std::string(key) + " is not a non-negative integer";
        return false;
    }
    out = it->get<std::uint64_t>();
    if (out > max) {
        error = std::string(key) + " " + std::to_string(out) + " is out of range";
        return false;
    }
    return true;
}

/// Best reception among the gateways that heard the frame (highest RSSI).
void best_reception(const json& doc, UplinkEvent& event) {
    const auto rx = doc.find("rxInfo");
    if (rx == doc.end() || !rx->is_array()) return;
    for (const auto& gateway : *rx) {
        if (!gateway.is_object()) continue;
        const auto rssi = gateway.find("rssi");
        if (rssi == gateway.end() || !rssi->is_number()) continue;
        const int rssi_dbm = static_cast<int>(rssi->get<double>());
        if (event.rssi && *event.rssi >= rssi_dbm) continue;
        event.rssi = rssi_dbm;
        const auto snr = gateway.find("snr");
        event.snr = snr != gateway.end() && snr->is_number()
                        ? std::optional<double>(snr->get<double>())
                        : std::nullopt;
    }
}

}  // namespace

std::optional<std::string> normalize_dev_eui(std::string_view text) {
    if (text.size() != 16) return std::nullopt;
    std::string out(text);
    for (char& c : out) {
        if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

std::optional<EventTopic> parse_event_topic(std::string_view topic) {
    // application / {app} / device / {devEui} / event / {event}: exactly six levels.
    std::string_view levels[6];
    std::size_t count = 0;
    while (true) {
        const auto slash = topic.find('/');
        if (count == 6) return std::nullopt;
        levels[count++] = topic.substr(0, slash);
        if (slash == std::string_view::npos) break;
        topic.remove_prefix(slash + 1);
    }
    if (count != 6 || levels[0] != "application" || levels[2] != "device" || levels[4] != "event" ||
        levels[1].empty() || levels[3].empty() || levels[5].empty())
        return std::nullopt;
    return EventTopic{std::string(levels[1]), std::string(levels[3]), std::string(levels[5])};
}

std::string event_topic_filter(std::string_view application_id, std::string_view event) {
    return "application/" + std::string(application_id) + "/device/+/event/" + std::string(event);
}

ParsedUplink parse_uplink_event(std::string_view json_text) {
    ParsedUplink result;
    auto doc = parse_object(json_text, result.error);
    if (!doc) return result;

    UplinkEvent event;
    const std::string* dedup =
        required_string(*doc, "deduplicationId", "deduplicationId", result.error);
    if (dedup == nullptr) return result;
    event.deduplication_id = *dedup;
    auto eui = device_eui(*doc, result.error);
    if (!eui) return result;
    event.dev_eui = std::move(*eui);
    const json& info = (*doc)["deviceInfo"];
    event.application_id = info.value("applicationId", "");
    event.device_name = info.value("deviceName", "");

    std::uint64_t number = 0;
    if (!optional_unsigned(*doc, "fCnt", std::numeric_limits<std::uint32_t>::max(), 0, number,
                           result.error))
        return result;
    event.f_cnt = static_cast<std::uint32_t>(number);
    if (!optional_unsigned(*doc, "fPort", 255, 0, number, result.error)) return result;
    event.f_port = static_cast<std::uint8_t>(number);

    if (const auto time = doc->find("time"); time != doc->end() && time->is_string())
        event.time = time->get<std::string>();
    if (const auto data = doc->find("data"); data != doc->end() && !data->is_null()) {
        if (!data->is_string()) {
            result.error = "data is not a base64 string";
            return result;
        }
        event.data_base64 = data->get<std::string>();
    }
    best_reception(*doc, event);
    result.event = std::move(event);
    return result;
}

ParsedJoin parse_join_event(std::string_view json_text) {
    ParsedJoin result;
    auto doc = parse_object(json_text, result.error);
    if (!doc) return result;
    JoinEvent event;
    const auto dedup = doc->find("deduplicationId");
    if (dedup != doc->end() && dedup->is_string())
        event.deduplication_id = dedup->get<std::string>();
    auto eui = device_eui(*doc, result.error);
    if (!eui) return result;
    event.dev_eui = std::move(*eui);
    result.event = std::move(event);
    return result;
}

}  // namespace gw::lorawan
