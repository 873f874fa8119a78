// SPDX-License-Identifier: Apache-2.0
// The "hj212" section of the configuration (docs/configuration.md, docs/hj212.md): the
// environmental-authority platforms the gateway reports to over HJ 212, and which sensor is
// reported under which factor code. Parsed after the sensors, so every sensor reference
// resolves to an index (and its unit is checked against the code's) or is an error naming its
// pointer.
#include <map>
#include <set>

#include "config/config_checker.hpp"
#include "hj212/codes.hpp"

namespace gw::config_detail {

namespace {

/// "mn" and "pw" go into the `;`-separated data segment as `MN=…`/`PW=…`, so none of the
/// segment's separators may appear in them.
bool segment_safe(const std::string& value, bool allow_space) {
    return std::all_of(value.begin(), value.end(), [&](char c) {
        const auto u = static_cast<unsigned char>(c);
        if (u == ' ') return allow_space;
        return u > 0x20 && u < 0x7f && c != ';' && c != ',' && c != '=' && c != '&';
    });
}

/// "w01018", "e10101", "a34004": one letter, then 3 to 9 letters or digits.
bool code_syntax_ok(const std::string& code) {
    if (code.size() < 4 || code.size() > 10) return false;
    if (!std::isalpha(static_cast<unsigned char>(code[0]))) return false;
    return std::all_of(code.begin() + 1, code.end(),
                       [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; });
}

/// A string, or a non-negative integer taken as its digits: ST, PW and MN are often all digits,
/// and "--set …/pw=654321" arrives as a JSON number.
bool text_or_digits(const json& obj, const std::string& key, const Pointer& p, Checker& check,
                    std::string& out, bool required) {
    const json* v = check.member(obj, key, p, required);
    if (v == nullptr) return false;
    if (v->is_number_unsigned()) {
        out = std::to_string(v->get<std::uint64_t>());
        return true;
    }
    return check.string(obj, key, p, out, required);
}

bool boolean(const json& obj, const std::string& key, const Pointer& p, Checker& check, bool& out) {
    const json* v = check.member(obj, key, p, false);
    if (v == nullptr) return false;
    if (!v->is_boolean()) {
        check.error(p / key, "must be true or false");
        return false;
    }
    out = v->get<bool>();
    return true;
}

void parse_send(const json& j, const Pointer& p, Checker& check, Hj212PlatformConfig& platform) {
    const json* v = check.member(j, "send", p, false);
    if (v == nullptr) return;
    const std::vector<std::string> kinds = {"realtime", "minute", "hourly", "daily"};
    if (!v->is_array() || v->empty()) {
        check.error(p / "send", "must be a non-empty array of " + quoted_list(kinds));
        return;
    }
    platform.send_realtime = platform.send_minute = platform.send_hourly = platform.send_daily =
        false;
    std::set<std::string> seen;
    for (std::size_t i = 0; i < v->size(); ++i) {
        const json& item = (*v)[i];
        const std::string kind = item.is_string() ? item.get<std::string>() : std::string{};
        if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) {
            check.error(p / "send" / i, "must be one of " + quoted_list(kinds));
            continue;
        }
        if (!seen.insert(kind).second) {
            check.error(p / "send" / i, "\"" + kind + "\" is listed twice");
            continue;
        }
        if (kind == "realtime") platform.send_realtime = true;
        if (kind == "minute") platform.send_minute = true;
        if (kind == "hourly") platform.send_hourly = true;
        if (kind == "daily") platform.send_daily = true;
    }
}

/// False when "edition" is given but is neither 2017 nor 2025.
bool parse_edition(const json& j, const Pointer& p, Checker& check, Hj212PlatformConfig& platform) {
    const json* v = check.member(j, "edition", p, false);
    if (v == nullptr) return true;
    // "--set …/edition=2025" arrives as a JSON number, so numbers are accepted too.
    const std::string text = v->is_string()           ? v->get<std::string>()
                             : v->is_number_integer() ? std::to_string(v->get<std::int64_t>())
                                                      : std::string{};
    if (text == "2017") {
        platform.edition = Hj212Edition::V2017;
    } else if (text == "2025") {
        platform.edition = Hj212Edition::V2025;
    } else {
        check.error(p / "edition", "must be one of \"2017\",\"2025\" (the HJ 212 edition)");
        return false;
    }
    return true;
}

void parse_pollutant(const json& j, const Pointer& p, Checker& check, const Config& config,
                     Hj212PollutantConfig& pollutant) {
    if (!check.object(j, p)) return;
    check.only_keys(j, p, {"code", "sensor", "decimals"});
    const hj212::FactorCode* factor = nullptr;
    if (check.string(j, "code", p, pollutant.code, true)) {
        if (!code_syntax_ok(pollutant.code)) {
            check.error(p / "code",
                        "must be a factor code: one letter, then 3 to 9 letters or digits "
                        "(like w01018), got \"" +
                            pollutant.code + "\"");
            pollutant.code.clear();
        } else {
            factor = hj212::find_factor(pollutant.code);
        }
    }
    pollutant.decimals = factor != nullptr ? factor->decimals : 3;
    check.integer_into(j, "decimals", p, pollutant.decimals, 0, 6, false);
    const auto sensor = sensor_ref(j, "sensor", p, check, config.sensors, true);
    if (sensor) pollutant.sensor_index = *sensor;
    if (factor == nullptr) return;  // unknown code: sent in the sensor's unit, scale 1
    pollutant.is_flow = factor->cou_unit == "m3";
    if (!sensor) return;
    const SensorConfig& s = config.sensors[*sensor];
    if (const auto scale = hj212::unit_scale(*factor, s.unit)) {
        pollutant.scale = *scale;
    } else {
        check.error(p / "sensor", "sensor \"" + s.id + "\" has unit \"" + s.unit + "\", code " +
                                      std::string(factor->code) + " reports " +
                                      std::string(factor->unit.empty() ? "no unit" : factor->unit));
    }
}

void parse_platform(const json& j, const Pointer& p, Checker& check, const Config& config,
                    Hj212PlatformConfig& platform) {
    if (!check.object(j, p)) return;
    check.only_keys(
        j, p,
        {"name", "host", "port", "mn", "pw", "st", "edition", "reply_requested", "reply_timeout_s",
         "retries", "realtime_interval_s", "minute_interval_min", "send", "history_days",
         "reconnect_min_s", "reconnect_max_s", "heartbeat_s", "pollutants"});
    check.id(j, "name", p, platform.name, true);
    check.string(j, "host", p, platform.host, true);
    check.integer_into(j, "port", p, platform.port, 1, 65535, true);

    if (text_or_digits(j, "mn", p, check, platform.mn, true) &&
        (platform.mn.size() > 24 || !segment_safe(platform.mn, false))) {
        check.error(p / "mn",
                    "must be 1 to 24 printable ASCII characters without spaces or ; , = & "
                    "(the platform's device id, usually 24 hex digits), got \"" +
                        platform.mn + "\"");
    }
    // The password is never echoed in an error message.
    if (text_or_digits(j, "pw", p, check, platform.pw, false) &&
        (platform.pw.size() > 16 || !segment_safe(platform.pw, true))) {
        check.error(p / "pw",
                    "must be 1 to 16 printable ASCII characters without ; , = & (the "
                    "standard's is 6)");
    }
    if (text_or_digits(j, "st", p, check, platform.st, false) &&
        !(platform.st.size() == 2 &&
          std::all_of(platform.st.begin(), platform.st.end(),
                      [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'); }))) {
        check.error(p / "st",
                    "must be a system code of 2 characters 0-9 A-Z (21 surface water, 32 "
                    "sewage outfall, 52 process), got \"" +
                        platform.st + "\"");
    }
    const bool edition_ok = parse_edition(j, p, check, platform);
    boolean(j, "reply_requested", p, check, platform.reply_requested);
    check.integer_into(j, "reply_timeout_s", p, platform.reply_timeout_s, 1, 99, false);
    check.integer_into(j, "retries", p, platform.retries, 0, 99, false);
    check.integer_into(j, "realtime_interval_s", p, platform.realtime_interval_s, 30, 3600, false);
    check.int_one_of(j, "minute_interval_min", p, platform.minute_interval_min,
                     {1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30}, false);
    parse_send(j, p, check, platform);
    check.integer_into(j, "history_days", p, platform.history_days, 1, 400, false);
    const bool min_ok =
        !j.contains("reconnect_min_s") ||
        check.integer_into(j, "reconnect_min_s", p, platform.reconnect_min_s, 1, 3600, false);
    const bool max_ok =
        !j.contains("reconnect_max_s") ||
        check.integer_into(j, "reconnect_max_s", p, platform.reconnect_max_s, 1, 3600, false);
    if (min_ok && max_ok && platform.reconnect_max_s < platform.reconnect_min_s)
        check.error(p / (j.contains("reconnect_max_s") ? "reconnect_max_s" : "reconnect_min_s"),
                    "reconnect_max_s (" + std::to_string(platform.reconnect_max_s) +
                        ") must be at least reconnect_min_s (" +
                        std::to_string(platform.reconnect_min_s) + ")");
    if (j.contains("heartbeat_s") && edition_ok && platform.edition == Hj212Edition::V2017) {
        check.error(p / "heartbeat_s",
                    "only the 2025 edition has a heartbeat (9015); this platform speaks 2017 "
                    "(set \"edition\": \"2025\" or remove heartbeat_s)");
    } else if (check.integer_into(j, "heartbeat_s", p, platform.heartbeat_s, 0, 3600, false) &&
               platform.heartbeat_s > 0 && platform.heartbeat_s < 10) {
        check.error(p / "heartbeat_s", "must be 0 (off) or between 10 and 3600, got " +
                                           std::to_string(platform.heartbeat_s));
    }
    if (platform.edition == Hj212Edition::V2017) platform.heartbeat_s = 0;  // 2017 has none

    const Pointer list_ptr = p / "pollutants";
    const json* list = check.member(j, "pollutants", p, true);
    if (list == nullptr) return;
    if (!list->is_array() || list->empty()) {
        check.error(list_ptr, "must be a non-empty array of {\"code\", \"sensor\"}");
        return;
    }
    std::map<std::string, std::size_t> codes;
    std::optional<std::size_t> flow;
    for (std::size_t i = 0; i < list->size(); ++i) {
        Hj212PollutantConfig pollutant;
        parse_pollutant((*list)[i], list_ptr / i, check, config, pollutant);
        const bool duplicate = !pollutant.code.empty() && !codes.emplace(pollutant.code, i).second;
        if (duplicate)
            check.error(list_ptr / i / "code", "duplicate code " + pollutant.code + " (also at " +
                                                   pointer_text(list_ptr / codes[pollutant.code]) +
                                                   ")");
        if (pollutant.is_flow && !duplicate) {
            if (flow)
                check.error(list_ptr / i / "code", "a platform reports one flow; " +
                                                       pollutant.code + " is also at " +
                                                       pointer_text(list_ptr / *flow));
            else
                flow = i;
        }
        platform.pollutants.push_back(std::move(pollutant));
    }
    if (flow) {
        for (auto& pollutant : platform.pollutants) {
            const auto* factor = hj212::find_factor(pollutant.code);
            pollutant.has_load = factor != nullptr && factor->cou_unit == "kg";
        }
    }
}

}  // namespace

void parse_hj212(const json& root, Checker& check, Config& config) {
    const Pointer p = Pointer{} / "hj212";
    const json* j = check.member(root, "hj212", Pointer{}, false);
    if (j == nullptr || !check.object(*j, p)) return;
    check.only_keys(*j, p, {"platforms"});
    const Pointer list_ptr = p / "platforms";
    const json* list = check.member(*j, "platforms", p, true);
    if (list == nullptr) return;
    if (!list->is_array()) {
        check.error(list_ptr, "must be an array of platforms");
        return;
    }
    std::map<std::string, std::size_t> names;
    for (std::size_t i = 0; i < list->size(); ++i) {
        Hj212PlatformConfig platform;
        parse_platform((*list)[i], list_ptr / i, check, config, platform);
        if (!platform.name.empty() && !names.emplace(platform.name, i).second)
            check.error(list_ptr / i / "name",
                        "duplicate platform name \"" + platform.name + "\" (also at " +
                            pointer_text(list_ptr / names[platform.name]) + ")");
        config.hj212.push_back(std::move(platform));
    }
}

}  // namespace gw::config_detail
