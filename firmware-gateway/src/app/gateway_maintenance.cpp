// SPDX-License-Identifier: Apache-2.0
// Maintenance mode (docs/hj212.md "Data flags", docs/control-protocol.md `maintenance`): a
// technician cleaning a probe or changing reagents puts its sensor under maintenance for a
// bounded time. Its readings are flagged M in the HJ 212 data, so the bureau does not take them
// for the river's water; the start and the end are stored events on MQTT. The mode survives a
// restart (analytics state) and ends by itself when its time is up.
#include "app/gateway.hpp"
#include "core/log.hpp"
#include "core/time_format.hpp"

namespace gw {

namespace {
constexpr const char* kKeyPrefix = "maintenance/";
constexpr std::int64_t kMaxMinutes = 1440;
constexpr std::int64_t kDefaultMinutes = 60;

nlohmann::json error_reply(const std::string& code, const std::string& text) {
    return {{"ok", false}, {"code", code}, {"error", text}};
}
}  // namespace

bool Gateway::under_maintenance(std::size_t sensor, std::int64_t t_ms) const {
    const auto it = maintenance_.find(sensor);
    return it != maintenance_.end() && t_ms < it->second.until_ms;
}

nlohmann::json Gateway::maintenance_json(std::size_t sensor) const {
    const auto it = maintenance_.find(sensor);
    if (it == maintenance_.end()) return nullptr;
    return {{"sensor", config_.sensors[sensor].id},
            {"since", format_rfc3339_utc(it->second.since_ms)},
            {"until", format_rfc3339_utc(it->second.until_ms)},
            {"technician", it->second.technician},
            {"reason", it->second.reason}};
}

void Gateway::restore_maintenance(const std::vector<AnalyticsStateRow>& rows) {
    const std::string prefix = kKeyPrefix;
    for (const auto& row : rows) {
        if (row.key.compare(0, prefix.size(), prefix) != 0) continue;
        const auto it = sensor_index_.find(row.key.substr(prefix.size()));
        const auto state = nlohmann::json::parse(row.state, nullptr, false);
        if (it == sensor_index_.end() || !state.is_object()) continue;  // ends at the next change
        Maintenance m;
        try {
            m.since_ms = state.value("since_ms", std::int64_t{0});
            m.until_ms = state.value("until_ms", std::int64_t{0});
            m.technician = state.value("technician", "");
            m.reason = state.value("reason", "");
        } catch (const nlohmann::json::exception&) {
            continue;  // not what this version writes: no maintenance
        }
        GW_LOG_INFO("maintenance", "sensor " << row.key.substr(prefix.size())
                                             << " still under maintenance until "
                                             << format_rfc3339_utc(m.until_ms));
        maintenance_[it->second] = std::move(m);
    }
}

void Gateway::maintenance_changed(std::size_t sensor, const char* state, const std::string& why) {
    const std::string& id = config_.sensors[sensor].id;
    auto event = event_message("maintenance");
    event.body["sensor"] = id;
    event.body["state"] = state;
    const auto it = maintenance_.find(sensor);
    if (it != maintenance_.end()) {
        event.body["until"] = format_rfc3339_utc(it->second.until_ms);
        event.body["technician"] = it->second.technician;
        event.body["reason"] = it->second.reason;
        pending_.analytics_state.push_back(
            {kKeyPrefix + id, nlohmann::json{{"since_ms", it->second.since_ms},
                                             {"until_ms", it->second.until_ms},
                                             {"technician", it->second.technician},
                                             {"reason", it->second.reason}}
                                  .dump()});
    } else {
        event.body["why"] = why;
        pending_.analytics_state.push_back({kKeyPrefix + id, ""});  // deletes the row
    }
    if (it != maintenance_.end())
        GW_LOG_INFO(
            "maintenance",
            "sensor " << id << " maintenance " << state << " until "
                      << format_rfc3339_utc(it->second.until_ms) << " by " << it->second.technician
                      << (it->second.reason.empty() ? std::string() : ": " + it->second.reason));
    else
        GW_LOG_INFO("maintenance", "sensor " << id << " maintenance ended (" << why << ")");
    pending_.events.push_back(std::move(event));
    commit();
}

void Gateway::end_due_maintenance(std::int64_t now_ms) {
    for (auto it = maintenance_.begin(); it != maintenance_.end();) {
        if (now_ms < it->second.until_ms) {
            ++it;
            continue;
        }
        const std::size_t sensor = it->first;
        it = maintenance_.erase(it);
        maintenance_changed(sensor, "ended", "time up");
    }
}

void Gateway::maintenance_request(const nlohmann::json& request, ControlServer::Reply reply) {
    auto list = [this] {
        nlohmann::json active = nlohmann::json::array();
        for (const auto& [sensor, m] : maintenance_) active.push_back(maintenance_json(sensor));
        return nlohmann::json{{"ok", true}, {"maintenance", std::move(active)}};
    };
    const auto sensor_field = request.find("sensor");
    if (sensor_field == request.end()) return reply(list());
    if (!sensor_field->is_string())
        return reply(error_reply("bad_request", "\"sensor\" must be a sensor id (a string)"));
    const auto found = sensor_index_.find(sensor_field->get<std::string>());
    if (found == sensor_index_.end()) {
        std::string known;
        for (const auto& s : config_.sensors) known += (known.empty() ? "" : ", ") + s.id;
        return reply(error_reply(
            "unknown_sensor",
            "no sensor \"" + sensor_field->get<std::string>() + "\" (sensors: " + known + ")"));
    }
    const std::size_t sensor = found->second;
    const auto end = request.find("end");
    if (end != request.end() && !end->is_boolean())
        return reply(error_reply("bad_request", "\"end\" must be true or false"));
    if (end != request.end() && end->get<bool>()) {
        if (maintenance_.erase(sensor) == 0)
            return reply(error_reply("bad_request", "sensor \"" + config_.sensors[sensor].id +
                                                        "\" is not under maintenance"));
        maintenance_changed(sensor, "ended", "ended by " + request.value("technician", "?"));
        return reply(list());
    }
    std::int64_t minutes = kDefaultMinutes;
    if (const auto it = request.find("minutes"); it != request.end()) {
        if (!it->is_number_integer() || it->get<std::int64_t>() < 1 ||
            it->get<std::int64_t>() > kMaxMinutes)
            return reply(error_reply("bad_request", "\"minutes\" must be a whole number, 1.." +
                                                        std::to_string(kMaxMinutes)));
        minutes = it->get<std::int64_t>();
    }
    const auto technician = request.find("technician");
    if (technician == request.end() || !technician->is_string() ||
        technician->get<std::string>().empty())
        return reply(
            error_reply("bad_request", "missing \"technician\": maintenance names who does it"));
    const auto reason = request.find("reason");
    if (reason != request.end() && !reason->is_string())
        return reply(error_reply("bad_request", "\"reason\" must be a string"));
    const auto now_ms = unix_ms(std::chrono::system_clock::now());
    const bool extending = maintenance_.count(sensor) > 0;
    Maintenance& m = maintenance_[sensor];
    if (!extending) m.since_ms = now_ms;
    m.until_ms = now_ms + minutes * 60'000;
    m.technician = technician->get<std::string>();
    m.reason = reason == request.end() ? std::string() : reason->get<std::string>();
    maintenance_changed(sensor, extending ? "extended" : "started", "");
    reply(list());
}

}  // namespace gw
