// SPDX-License-Identifier: Apache-2.0
#include "app/calibration_service.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include "calibration/standards.hpp"
#include "core/fill_level.hpp"
#include "core/log.hpp"
#include "core/sha256.hpp"
#include "core/time_format.hpp"

namespace gw {

namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;
using calibration::Verdict;

constexpr std::int64_t kSessionIdleMs = 30 * 60 * 1000;  ///< a forgotten session ends
constexpr std::int64_t kReadIdleMs = 5 * 60 * 1000;      ///< nobody reads: drop the buffer
constexpr std::size_t kLiveSamples = 120;
constexpr std::int64_t kStabilityWindowMs = 60'000;
constexpr std::int64_t kMinStabilitySpanMs = 10'000;
constexpr std::int64_t kDayMs = 86'400'000;

std::int64_t now_unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

json error(const std::string& code, const std::string& text) {
    return {{"ok", false}, {"code", code}, {"error", text}};
}

/// A finite number at request[key], or nullopt; `bad` gets the reason when present but wrong.
std::optional<double> number_at(const json& request, const char* key, std::string& bad) {
    const auto it = request.find(key);
    if (it == request.end() || it->is_null()) return std::nullopt;
    if (!it->is_number() || !std::isfinite(it->get<double>())) {
        bad = std::string("\"") + key + "\" must be a number, got " + it->dump();
        return std::nullopt;
    }
    return it->get<double>();
}

std::string string_at(const json& request, const char* key) {
    const auto it = request.find(key);
    return it != request.end() && it->is_string() ? it->get<std::string>() : std::string();
}

ordered_json number_or_null(const std::optional<double>& v) {
    return v ? ordered_json(*v) : ordered_json(nullptr);
}

ordered_json messages_json(const std::vector<std::string>& messages) {
    ordered_json out = ordered_json::array();
    for (const auto& m : messages) out.push_back(m);
    return out;
}

ordered_json residuals_json(const calibration::FitResult& r) {
    ordered_json out = ordered_json::array();
    for (double v : r.residuals) out.push_back(v);
    return out;
}

/// Appends `from`'s verdict and messages to a fit.
template <typename Result>
void take_verdict(const Result& from, Verdict& verdict, std::vector<std::string>& reasons) {
    if (static_cast<int>(from.verdict) > static_cast<int>(verdict)) verdict = from.verdict;
    reasons.insert(reasons.end(), from.messages.begin(), from.messages.end());
}

}  // namespace

CalibrationService::CalibrationService(const Config& config, StoreWorker& store, CommitFn commit,
                                       EventFn event)
    : config_(config),
      store_(store),
      commit_(std::move(commit)),
      event_(std::move(event)),
      applied_(config.sensors.size()),
      session_of_(config.sensors.size()),
      last_(config.sensors.size()) {}

void CalibrationService::load(const std::vector<CalibrationEntry>& history) {
    for (const auto& entry : history) {
        const auto it = std::find_if(config_.sensors.begin(), config_.sensors.end(),
                                     [&](const SensorConfig& s) { return s.id == entry.sensor; });
        if (it == config_.sensors.end()) continue;  // sensor no longer configured
        apply_record(static_cast<std::size_t>(it - config_.sensors.begin()), entry);
    }
}

void CalibrationService::apply_record(std::size_t sensor, const CalibrationEntry& entry) {
    const auto record = ordered_json::parse(entry.record, nullptr, false);
    if (record.is_discarded() || !record.contains("after")) {
        GW_LOG_ERROR("calibration", "history entry " << entry.id << " of " << entry.sensor
                                                     << " is not readable; ignored");
        return;
    }
    AppliedCalibration applied;
    const auto& after = record["after"];
    if (after.contains("empty_mm")) {
        FillLevel fill;
        fill.empty_mm = after.value("empty_mm", 0.0);
        fill.full_mm = after.value("full_mm", 0.0);
        if (fill.empty_mm > fill.full_mm) applied.fill = fill;
    } else {
        applied.linear.gain = after.value("gain", 1.0);
        applied.linear.offset = after.value("offset", 0.0);
    }
    // A rollback to the factory state leaves version > 0 but an identity correction.
    applied.version = entry.version;
    applied.calibrated_ms = entry.time_ms;
    applied.due_ms = record.value("due_ms", entry.time_ms + record.value("valid_days", 0) * kDayMs);
    applied.previous = record.value("before", ordered_json(nullptr));
    applied_[sensor] = std::move(applied);
}

void CalibrationService::apply(std::size_t sensor, double measured, Reading& reading, bool live) {
    const AppliedCalibration& applied = applied_[sensor];
    const SensorConfig& config = config_.sensors[sensor];
    reading.measured = measured;
    if (reading.quality == SampleQuality::Good) {
        if (config.fill_level) {
            const FillLevel fill = applied.fill.value_or(*config.fill_level);
            reading.value = fill_percent(measured, fill.empty_mm, fill.full_mm);
        } else {
            reading.value = applied.linear.apply(measured);
        }
    }
    reading.calibrating = calibrating(sensor);
    if (!live) return;
    Sample sample;
    sample.time_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(reading.sampled_at.time_since_epoch())
            .count();
    sample.measured = measured;
    sample.value = reading.value;
    sample.quality = reading.quality;
    last_[sensor] = sample;
    const auto watched = live_.find(sensor);
    if (watched == live_.end()) return;
    watched->second.samples.push_back(sample);
    while (watched->second.samples.size() > kLiveSamples) watched->second.samples.pop_front();
}

bool CalibrationService::handles(const std::string& cmd) const {
    return cmd == "sensors" || cmd == "read" || cmd.rfind("calibration.", 0) == 0;
}

void CalibrationService::handle(const std::string& cmd, const json& request, Reply reply) {
    now_ms_ = now_unix_ms();
    if (cmd == "sensors") return sensors_request(reply);
    if (cmd == "read") return read(request, reply);
    if (cmd == "calibration.begin") return begin(request, reply);
    if (cmd == "calibration.point") return point(request, reply);
    if (cmd == "calibration.verify") return verify(request, reply);
    if (cmd == "calibration.commit") return commit(request, reply);
    if (cmd == "calibration.abort") return abort(request, reply);
    if (cmd == "calibration.show") return show(request, reply);
    if (cmd == "calibration.history") return history(request, reply, false);
    if (cmd == "calibration.export") return history(request, reply, true);
    if (cmd == "calibration.rollback") return rollback(request, reply);
    reply(error("unknown_command",
                "unknown command \"" + cmd +
                    "\" (known: status, sensors, read, calibration.begin, calibration.point, "
                    "calibration.verify, calibration.commit, calibration.abort, "
                    "calibration.show, calibration.history, calibration.export, "
                    "calibration.rollback)"));
}

void CalibrationService::on_tick(std::int64_t now_ms) {
    for (auto it = sessions_.begin(); it != sessions_.end();) {
        if (now_ms - it->second.last_request_ms > kSessionIdleMs) {
            GW_LOG_WARN("calibration", "session " << it->first << " on sensor "
                                                  << config_.sensors[it->second.sensor].id
                                                  << " idle for 30 min: ended, nothing recorded");
            session_of_[it->second.sensor].clear();
            it = sessions_.erase(it);
        } else {
            ++it;
        }
    }
    for (auto it = live_.begin(); it != live_.end();) {
        if (!calibrating(it->first) && now_ms - it->second.last_request_ms > kReadIdleMs)
            it = live_.erase(it);
        else
            ++it;
    }
}

const char* CalibrationService::state(std::size_t sensor, std::int64_t now_ms) const {
    const auto& a = applied_[sensor];
    if (a.version == 0) return "factory";
    return now_ms > a.due_ms ? "expired" : "valid";
}

ordered_json CalibrationService::coefficients_json(std::size_t sensor,
                                                   const AppliedCalibration& applied) const {
    const SensorConfig& config = config_.sensors[sensor];
    if (config.fill_level) {
        const FillLevel fill = applied.fill.value_or(*config.fill_level);
        return {{"empty_mm", fill.empty_mm}, {"full_mm", fill.full_mm}};
    }
    return {{"gain", applied.linear.gain}, {"offset", applied.linear.offset}};
}

ordered_json CalibrationService::calibration_json(std::size_t sensor, std::int64_t now_ms) const {
    const auto& a = applied_[sensor];
    ordered_json out = {
        {"model", config_.sensors[sensor].calibration.model},
        {"version", a.version},
        {"state", state(sensor, now_ms)},
        {"calibrated_at",
         a.version ? ordered_json(format_rfc3339_utc(a.calibrated_ms)) : ordered_json(nullptr)},
        {"due_at", a.version ? ordered_json(format_rfc3339_utc(a.due_ms)) : ordered_json(nullptr)}};
    const ordered_json coefficients = coefficients_json(sensor, a);
    for (const auto& [key, value] : coefficients.items()) out[key] = value;
    return out;
}

// --- requests -------------------------------------------------------------------------------

std::optional<std::size_t> CalibrationService::sensor_of(const json& request, Reply& reply) const {
    const std::string id = string_at(request, "sensor");
    if (id.empty()) {
        reply(error("bad_request", "missing \"sensor\" (a sensor id, see `towngw sensors`)"));
        return std::nullopt;
    }
    for (std::size_t i = 0; i < config_.sensors.size(); ++i)
        if (config_.sensors[i].id == id) return i;
    std::string known;
    for (const auto& s : config_.sensors) known += (known.empty() ? "" : ", ") + s.id;
    reply(error("unknown_sensor", "no sensor \"" + id + "\" (sensors: " + known + ")"));
    return std::nullopt;
}

CalibrationService::Session* CalibrationService::session_of(const json& request, Reply& reply) {
    const std::string id = string_at(request, "session");
    const auto it = sessions_.find(id);
    if (id.empty() || it == sessions_.end()) {
        reply(error("no_session", id.empty() ? "missing \"session\" (from calibration.begin)"
                                             : "no open calibration session \"" + id +
                                                   "\" (it ended, expired after 30 min "
                                                   "idle, or the daemon restarted)"));
        return nullptr;
    }
    it->second.last_request_ms = now_ms_;
    watch(it->second.sensor, now_ms_);
    return &it->second;
}

void CalibrationService::end_session(std::size_t sensor) {
    sessions_.erase(session_of_[sensor]);
    session_of_[sensor].clear();
}

CalibrationService::LiveBuffer& CalibrationService::watch(std::size_t sensor, std::int64_t now_ms) {
    LiveBuffer& live = live_[sensor];
    live.last_request_ms = now_ms;
    if (live.samples.empty() && last_[sensor]) live.samples.push_back(*last_[sensor]);
    return live;
}

double CalibrationService::stability_limit(std::size_t sensor, double reading) const {
    const auto& c = config_.sensors[sensor].calibration;
    if (c.stability_per_min > 0) return c.stability_per_min;
    if (c.model == "ph") return 0.05;  // HJ 1147-2020: < 0.05 pH in one minute
    return std::max(std::abs(reading) * 0.01, 1e-6);
}

CalibrationService::Stability CalibrationService::stability(std::size_t sensor,
                                                            std::int64_t now_ms) const {
    Stability s;
    const auto it = live_.find(sensor);
    std::vector<std::pair<double, double>> points;  // (minutes, measured)
    if (it != live_.end())
        for (const auto& sample : it->second.samples)
            if (sample.quality == SampleQuality::Good &&
                sample.time_ms >= now_ms - kStabilityWindowMs)
                points.emplace_back(static_cast<double>(sample.time_ms) / 60000.0, sample.measured);
    const double last = points.empty() ? 0.0 : points.back().second;
    s.limit_per_min = stability_limit(sensor, last);
    if (points.size() < 3) return s;
    s.span_s = (points.back().first - points.front().first) * 60.0;
    // Least-squares slope of measured against time: drift per minute.
    double mean_t = 0, mean_v = 0;
    for (const auto& [t, v] : points) {
        mean_t += t;
        mean_v += v;
    }
    mean_t /= static_cast<double>(points.size());
    mean_v /= static_cast<double>(points.size());
    double stt = 0, stv = 0;
    for (const auto& [t, v] : points) {
        stt += (t - mean_t) * (t - mean_t);
        stv += (t - mean_t) * (v - mean_v);
    }
    s.drift_per_min = stt > 0 ? stv / stt : 0.0;
    s.stable =
        s.span_s * 1000 >= kMinStabilitySpanMs && std::abs(s.drift_per_min) <= s.limit_per_min;
    return s;
}

std::optional<std::pair<double, std::size_t>> CalibrationService::recent_mean(
    std::size_t sensor, std::int64_t now_ms, double average_s) const {
    const auto it = live_.find(sensor);
    if (it == live_.end()) return std::nullopt;
    double sum = 0;
    std::size_t n = 0;
    for (const auto& sample : it->second.samples) {
        if (sample.quality != SampleQuality::Good) continue;
        if (sample.time_ms < now_ms - static_cast<std::int64_t>(average_s * 1000)) continue;
        sum += sample.measured;
        ++n;
    }
    if (n < 3) return std::nullopt;
    return std::make_pair(sum / static_cast<double>(n), n);
}

void CalibrationService::sensors_request(Reply& reply) {
    ordered_json sensors = ordered_json::array();
    for (std::size_t i = 0; i < config_.sensors.size(); ++i) {
        const auto& s = config_.sensors[i];
        ordered_json entry = {{"id", s.id},           {"device", s.device_id},
                              {"metric", s.metric},   {"unit", s.unit},
                              {"last", nullptr},      {"measured", nullptr},
                              {"quality", "no_data"}, {"updated_at", nullptr}};
        if (const auto& last = last_[i]) {
            if (last->quality == SampleQuality::Good) {
                entry["last"] = last->value;
                entry["measured"] = last->measured;
            }
            entry["quality"] = to_string(last->quality);
            entry["updated_at"] = format_rfc3339_utc(last->time_ms);
        }
        entry["calibrating"] = calibrating(i);
        entry["calibration"] = calibration_json(i, now_ms_);
        sensors.push_back(std::move(entry));
    }
    json response = json::object();
    response["ok"] = true;
    response["sensors"] = json::parse(sensors.dump());
    reply(std::move(response));
}

void CalibrationService::read(const json& request, Reply& reply) {
    const auto sensor = sensor_of(request, reply);
    if (!sensor) return;
    std::string bad;
    const auto asked = number_at(request, "samples", bad);
    if (!bad.empty() || (asked && (*asked < 1 || *asked > 120))) {
        reply(error("bad_request", bad.empty() ? "\"samples\" must be 1..120" : bad));
        return;
    }
    const auto wanted = static_cast<std::size_t>(asked.value_or(10));
    const LiveBuffer& live = watch(*sensor, now_ms_);
    json samples = json::array();
    const std::size_t from = live.samples.size() > wanted ? live.samples.size() - wanted : 0;
    for (std::size_t i = from; i < live.samples.size(); ++i) {
        const auto& s = live.samples[i];
        samples.push_back({{"time", format_rfc3339_utc(s.time_ms)},
                           {"measured", s.measured},
                           {"value", s.value},
                           {"quality", to_string(s.quality)}});
    }
    const auto st = stability(*sensor, now_ms_);
    const auto& config = config_.sensors[*sensor];
    const auto& device = config_.devices[config.device_index];
    // Stability and points are on the measured value: for a bin that is the distance.
    const std::string measured_unit = config.register_index < device.profile.registers.size()
                                          ? device.profile.registers[config.register_index].unit
                                          : config.unit;
    reply({{"ok", true},
           {"sensor", config.id},
           {"unit", config.unit},
           {"measured_unit", measured_unit},
           {"poll_ms", config_.devices[config.device_index].poll_period.count()},
           {"calibrating", calibrating(*sensor)},
           {"samples", samples},
           {"stability",
            {{"drift_per_min", st.drift_per_min},
             {"limit_per_min", st.limit_per_min},
             {"span_s", st.span_s},
             {"min_span_s", kMinStabilitySpanMs / 1000},
             {"stable", st.stable}}}});
}

calibration::BufferTable CalibrationService::buffer_table(const Session& session) const {
    const std::string& name = session.buffers.empty()
                                  ? config_.sensors[session.sensor].calibration.ph_buffers
                                  : session.buffers;
    if (name == "nist") return calibration::BufferTable::Nist;
    if (name == "technical") return calibration::BufferTable::Technical;
    return calibration::BufferTable::ChineseGb;
}

void CalibrationService::begin(const json& request, Reply& reply) {
    const auto sensor = sensor_of(request, reply);
    if (!sensor) return;
    const std::string technician = string_at(request, "technician");
    if (technician.empty()) {
        reply(error("bad_request", "missing \"technician\": every calibration names who did it"));
        return;
    }
    const std::string buffers = string_at(request, "buffers");
    if (!buffers.empty() && buffers != "gb" && buffers != "nist" && buffers != "technical") {
        reply(error("bad_request",
                    "\"buffers\" must be gb (4.00/6.86/9.18), nist or "
                    "technical (4.01/7.00/10.01), got \"" +
                        buffers + "\""));
        return;
    }
    if (calibrating(*sensor)) {
        const Session& other = sessions_.at(session_of_[*sensor]);
        if (!request.value("takeover", false)) {
            reply(error("busy", "sensor " + config_.sensors[*sensor].id +
                                    " is being calibrated by " + other.technician + " since " +
                                    format_rfc3339_utc(other.started_ms) + " (session " + other.id +
                                    "; \"takeover\": true ends it)"));
            return;
        }
        GW_LOG_WARN("calibration", "session " << other.id << " of " << other.technician
                                              << " taken over by " << technician);
        end_session(*sensor);
    }
    Session session;
    session.id = "c-" + std::to_string(next_session_++);
    session.sensor = *sensor;
    session.technician = technician;
    session.unix_user = string_at(request, "unix_user");
    session.reason = string_at(request, "reason");
    session.probe_serial = string_at(request, "probe_serial");
    if (session.probe_serial.empty())
        session.probe_serial = config_.sensors[*sensor].calibration.probe_serial;
    session.buffers = buffers;
    session.started_ms = now_ms_;
    session.last_request_ms = now_ms_;
    const std::string& model = config_.sensors[*sensor].calibration.model;
    json steps = json::array();
    if (model == "ph")
        steps = {"neutral buffer first (6.86 or 7.00), then 4.00/4.01 or 9.18/10.01",
                 "each point: buffer name and its temperature",
                 "verify: re-read the first buffer (within 0.05 pH)", "commit"};
    else if (model == "turbidity")
        steps = {"zero water (reference 0)", "optionally a formazin standard (reference NTU)",
                 "commit"};
    else if (model == "dissolved_oxygen")
        steps = {"air-saturated water: temperature and local pressure",
                 "optionally a sulfite zero (\"zero\": true)", "commit"};
    else if (model == "conductivity")
        steps = {"KCl standard (1413, 12880 or 146.5) and its temperature", "commit"};
    else if (model == "bin")
        steps = {"empty bin: position empty", "full line: position full (or full_mm at commit)",
                 "commit"};
    else
        steps = {"one point per standard (reference)", "commit"};
    GW_LOG_INFO("calibration", "session " << session.id << ": " << technician << " calibrates "
                                          << config_.sensors[*sensor].id << " (" << model
                                          << "); its data is flagged C");
    session_of_[*sensor] = session.id;
    watch(*sensor, now_ms_);
    const std::string id = session.id;
    sessions_.emplace(id, std::move(session));
    json response = {{"ok", true},     {"session", id},  {"sensor", config_.sensors[*sensor].id},
                     {"model", model}, {"steps", steps}, {"expires_in_s", kSessionIdleMs / 1000}};
    if (model == "ph") {
        const auto table = buffer_table(sessions_.at(id));
        response["buffers"] = table == calibration::BufferTable::Nist        ? "nist"
                              : table == calibration::BufferTable::Technical ? "technical"
                                                                             : "gb";
        response["buffer_names"] = calibration::buffer_names(table);
    }
    reply(std::move(response));
}

void CalibrationService::point(const json& request, Reply& reply) {
    Session* session = session_of(request, reply);
    if (session == nullptr) return;
    const std::size_t sensor = session->sensor;
    const std::string& model = config_.sensors[sensor].calibration.model;
    std::string bad;
    Point p;
    p.temperature_degc = number_at(request, "temperature_degc", bad);
    p.pressure_kpa = number_at(request, "pressure_kpa", bad);
    p.salinity_g_kg = number_at(request, "salinity_g_kg", bad);
    const auto reference = number_at(request, "reference", bad);
    const auto standard_us_cm = number_at(request, "standard_us_cm", bad);
    const auto average = number_at(request, "average_s", bad);
    if (!bad.empty()) {
        reply(error("bad_request", bad));
        return;
    }
    if (request.contains("standard") && request["standard"].is_object())
        p.standard = ordered_json::parse(request["standard"].dump());
    else
        p.standard = ordered_json::object();
    try {
        if (model == "ph") {
            p.buffer = string_at(request, "buffer");
            if (p.buffer.empty() || !p.temperature_degc)
                throw std::invalid_argument(
                    "a pH point needs \"buffer\" (e.g. \"6.86\") and \"temperature_degc\"");
            const auto table = buffer_table(*session);
            p.reference = calibration::ph_buffer_value(table, p.buffer, *p.temperature_degc);
            p.standard["buffer"] = p.buffer;
            p.standard["table"] = calibration::table_name(table);
            p.standard["value_at_temperature"] = p.reference;
        } else if (model == "dissolved_oxygen") {
            p.zero = request.value("zero", false);
            if (!p.zero && !p.temperature_degc)
                throw std::invalid_argument(
                    "an air-saturation point needs \"temperature_degc\" (and \"pressure_kpa\", "
                    "default 101.325)");
            p.reference = p.zero ? 0.0
                                 : calibration::do_saturation_mg_l(
                                       *p.temperature_degc,
                                       p.pressure_kpa.value_or(calibration::kStandardPressureKpa),
                                       p.salinity_g_kg.value_or(0.0));
        } else if (model == "conductivity") {
            const std::string kcl = string_at(request, "kcl");
            if (kcl.empty() && !standard_us_cm)
                throw std::invalid_argument(
                    "a conductivity point needs \"kcl\" (1413, 12880 or 146.5) or "
                    "\"standard_us_cm\" (its value at 25 °C)");
            p.reference = standard_us_cm ? *standard_us_cm : calibration::kcl_standard_us_cm(kcl);
            if (!kcl.empty()) p.standard["kcl"] = kcl;
            p.standard["value_at_25_us_cm"] = p.reference;
        } else if (model == "bin") {
            p.position = string_at(request, "position");
            if (p.position != "empty" && p.position != "full")
                throw std::invalid_argument(
                    "a bin point needs \"position\": \"empty\" (empty bin) or \"full\" (a target "
                    "at the full line)");
        } else if (model == "turbidity") {
            p.zero = reference.value_or(0.0) == 0.0;
            p.reference = reference.value_or(0.0);
        } else if (model == "zero") {
            p.reference = 0.0;
        } else {  // level, linear, offset
            if (!reference)
                throw std::invalid_argument("this point needs \"reference\": the true value (" +
                                            config_.sensors[sensor].unit + ")");
            p.reference = *reference;
        }
    } catch (const std::invalid_argument& e) {
        reply(error("bad_request", e.what()));
        return;
    }
    const auto st = stability(sensor, now_ms_);
    const auto mean = recent_mean(sensor, now_ms_, average.value_or(10.0));
    if (!mean) {
        reply(error("not_enough_data", "fewer than 3 good readings of " +
                                           config_.sensors[sensor].id + " in the last " +
                                           std::to_string(static_cast<int>(average.value_or(10))) +
                                           " s; wait and try again (towngw read shows them)"));
        return;
    }
    p.raw = mean->first;
    p.samples = mean->second;
    p.drift_per_min = st.drift_per_min;
    p.stable = st.stable;
    if (!p.stable && !request.value("force", false)) {
        reply(error("not_stable", "the reading is not stable: drift " +
                                      std::to_string(st.drift_per_min) + " per min over " +
                                      std::to_string(static_cast<int>(st.span_s)) + " s, limit " +
                                      std::to_string(st.limit_per_min) +
                                      " (wait, or \"force\": true)"));
        return;
    }
    session->points.push_back(p);
    ordered_json point_json = {{"index", session->points.size()},
                               {"reference", p.reference},
                               {"raw", p.raw},
                               {"samples", p.samples},
                               {"drift_per_min", p.drift_per_min},
                               {"stable", p.stable},
                               {"temperature_degc", number_or_null(p.temperature_degc)}};
    if (!p.position.empty()) point_json["position"] = p.position;
    json response = {{"ok", true}, {"point", json::parse(point_json.dump())}};
    try {
        const Fit f = fit(*session, json::object());
        ordered_json preview = f.details;
        preview["verdict"] = calibration::to_string(f.verdict);
        preview["reasons"] = messages_json(f.reasons);
        response["preview"] = json::parse(preview.dump());
    } catch (const std::invalid_argument&) {
        // Not enough points for a fit yet.
    }
    reply(std::move(response));
}

CalibrationService::Fit CalibrationService::fit(const Session& session,
                                                const json& commit_request) const {
    const std::size_t sensor = session.sensor;
    const CalibrationConfig& c = config_.sensors[sensor].calibration;
    const auto& points = session.points;
    Fit f;
    auto from_result = [&](const calibration::FitResult& r) {
        f.linear = r.coefficients;
        take_verdict(r, f.verdict, f.reasons);
        f.details = {{"gain", r.coefficients.gain},
                     {"offset", r.coefficients.offset},
                     {"residuals", residuals_json(r)},
                     {"max_abs_residual", r.max_abs_residual},
                     {"r_squared", number_or_null(r.r_squared)}};
    };
    if (points.empty()) throw std::invalid_argument("no point recorded yet");
    if (c.model == "ph") {
        if (points.size() == 1) {
            from_result(calibration::fit_offset({points[0].reference, points[0].raw, {}}));
        } else {
            std::vector<calibration::PhPoint> ph;
            for (const auto& p : points) ph.push_back({p.buffer, *p.temperature_degc, p.raw});
            const auto r = calibration::fit_ph(ph, buffer_table(session), {}, c.raw_is_mv);
            from_result(r);
            f.details["slope_pct_of_nernst"] = r.slope_pct_of_nernst;
            f.details["slope_mv_per_ph"] = r.slope_mv_per_ph;
            f.details["offset_mv"] = r.offset_mv;
            f.details["mean_temperature_degc"] = r.mean_temperature_degc;
            f.details["table"] = r.table;
        }
    } else if (c.model == "turbidity") {
        const auto zero =
            std::find_if(points.begin(), points.end(), [](const Point& p) { return p.zero; });
        const auto span =
            std::find_if(points.begin(), points.end(), [](const Point& p) { return !p.zero; });
        if (zero == points.end())
            throw std::invalid_argument("turbidity needs a zero-water point (reference 0) first");
        std::optional<calibration::TurbiditySpan> s;
        if (span != points.end()) s = calibration::TurbiditySpan{span->reference, span->raw};
        from_result(calibration::fit_turbidity_zero_span(zero->raw, s));
    } else if (c.model == "dissolved_oxygen") {
        const auto air =
            std::find_if(points.begin(), points.end(), [](const Point& p) { return !p.zero; });
        const auto zero =
            std::find_if(points.begin(), points.end(), [](const Point& p) { return p.zero; });
        if (air == points.end())
            throw std::invalid_argument("dissolved oxygen needs an air-saturation point");
        std::optional<double> zero_raw;
        if (zero != points.end()) zero_raw = zero->raw;
        const auto r = calibration::fit_do_saturation(
            air->raw, *air->temperature_degc,
            air->pressure_kpa.value_or(calibration::kStandardPressureKpa),
            air->salinity_g_kg.value_or(0.0), zero_raw);
        from_result(r);
        f.details["saturation_mg_l"] = r.saturation_mg_l;
    } else if (c.model == "conductivity") {
        const auto& p = points.back();
        const auto r = calibration::fit_conductivity_cell(
            p.reference, p.raw, p.temperature_degc.value_or(25.0),
            calibration::kDefaultAlphaPerDegc, /*raw_is_compensated_to_25=*/true);
        from_result(r);
        f.details["reference_us_cm"] = r.reference_us_cm;
    } else if (c.model == "zero") {
        from_result(calibration::fit_zero(points.back().raw));
    } else if (c.model == "level") {
        std::vector<calibration::CalibrationPoint> cps;
        for (const auto& p : points) cps.push_back({p.reference, p.raw, {}});
        from_result(calibration::fit_level(cps));
    } else if (c.model == "bin") {
        std::optional<double> empty, full;
        for (const auto& p : points) (p.position == "empty" ? empty : full) = p.raw;
        std::string bad;
        if (const auto given = number_at(commit_request, "full_mm", bad)) full = *given;
        if (!empty) throw std::invalid_argument("a bin needs the empty-bin distance first");
        if (!full)
            throw std::invalid_argument(
                "a bin needs the full line: a \"full\" point or \"full_mm\" at commit");
        const auto r = calibration::fit_bin(*empty, *full);
        if (r.verdict != Verdict::Reject) f.fill = FillLevel{r.empty_mm, r.full_mm};
        take_verdict(r, f.verdict, f.reasons);
        f.details = {{"empty_mm", r.empty_mm}, {"full_mm", r.full_mm}};
    } else if (c.model == "offset" || points.size() == 1) {
        from_result(calibration::fit_offset({points[0].reference, points[0].raw, {}}));
    } else {
        std::vector<calibration::CalibrationPoint> cps;
        for (const auto& p : points) cps.push_back({p.reference, p.raw, {}});
        from_result(calibration::fit_least_squares(cps));
    }
    return f;
}

void CalibrationService::verify(const json& request, Reply& reply) {
    Session* session = session_of(request, reply);
    if (session == nullptr) return;
    const std::size_t sensor = session->sensor;
    std::string bad;
    const auto temperature = number_at(request, "temperature_degc", bad);
    const auto reference_given = number_at(request, "reference", bad);
    const auto average = number_at(request, "average_s", bad);
    if (!bad.empty()) {
        reply(error("bad_request", bad));
        return;
    }
    Fit f;
    double reference = 0;
    double tolerance = 0;
    try {
        f = fit(*session, request);
        if (config_.sensors[sensor].calibration.model == "ph") {
            const std::string buffer = string_at(request, "buffer");
            if (buffer.empty() || !temperature)
                throw std::invalid_argument(
                    "verify needs \"buffer\" and \"temperature_degc\" (the first buffer again)");
            reference = calibration::ph_buffer_value(buffer_table(*session), buffer, *temperature);
            tolerance = calibration::PhLimits{}.recheck_tolerance_ph;
        } else {
            if (!reference_given)
                throw std::invalid_argument("verify needs \"reference\": the standard's value");
            reference = *reference_given;
            tolerance = std::max(std::abs(reference) * 0.02, stability_limit(sensor, reference));
        }
    } catch (const std::invalid_argument& e) {
        reply(error("bad_request", e.what()));
        return;
    }
    const auto st = stability(sensor, now_ms_);
    if (!st.stable && !request.value("force", false)) {
        reply(error("not_stable", "the reading is not stable yet: drift " +
                                      std::to_string(st.drift_per_min) + " per min, limit " +
                                      std::to_string(st.limit_per_min) +
                                      " (wait, or \"force\": true)"));
        return;
    }
    const auto mean = recent_mean(sensor, now_ms_, average.value_or(10.0));
    if (!mean) {
        reply(error("not_enough_data", "fewer than 3 good readings in the last " +
                                           std::to_string(static_cast<int>(average.value_or(10))) +
                                           " s"));
        return;
    }
    const double calibrated = f.linear.apply(mean->first);
    const double deviation = calibrated - reference;
    ordered_json v = {{"reference", reference},
                      {"raw", mean->first},
                      {"calibrated", calibrated},
                      {"deviation", deviation},
                      {"tolerance", tolerance},
                      {"passed", std::abs(deviation) <= tolerance},
                      {"temperature_degc", number_or_null(temperature)},
                      {"at", format_rfc3339_utc(now_ms_)}};
    session->verification = v;
    reply({{"ok", true}, {"verification", json::parse(v.dump())}});
}

void CalibrationService::commit(const json& request, Reply& reply) {
    Session* session = session_of(request, reply);
    if (session == nullptr) return;
    const std::size_t sensor = session->sensor;
    const SensorConfig& config = config_.sensors[sensor];
    Fit f;
    try {
        f = fit(*session, request);
    } catch (const std::invalid_argument& e) {
        reply(error("bad_request", std::string("cannot commit: ") + e.what()));
        return;
    }
    if (!session->verification.is_null() && !session->verification.value("passed", false)) {
        f.verdict = Verdict::Reject;
        f.reasons.push_back("verification failed: deviation " +
                            session->verification["deviation"].dump() + " exceeds " +
                            session->verification["tolerance"].dump());
    }
    if (f.verdict == Verdict::Reject) {
        json response = error(
            "rejected", "calibration rejected: " +
                            (f.reasons.empty() ? std::string("see reasons") : f.reasons.front()));
        response["reasons"] = json::parse(messages_json(f.reasons).dump());
        reply(std::move(response));
        return;
    }
    AppliedCalibration after = applied_[sensor];
    after.linear = f.linear;
    if (f.fill) after.fill = f.fill;
    ordered_json standards = ordered_json::array();
    ordered_json points = ordered_json::array();
    for (const auto& p : session->points) {
        if (!p.standard.empty()) standards.push_back(p.standard);
        ordered_json pj = {
            {"reference", p.reference}, {"raw", p.raw},
            {"samples", p.samples},     {"drift_per_min", p.drift_per_min},
            {"stable", p.stable},       {"temperature_degc", number_or_null(p.temperature_degc)}};
        if (!p.buffer.empty()) pj["buffer"] = p.buffer;
        if (!p.position.empty()) pj["position"] = p.position;
        if (p.zero) pj["zero"] = true;
        if (p.pressure_kpa) pj["pressure_kpa"] = *p.pressure_kpa;
        if (p.salinity_g_kg) pj["salinity_g_kg"] = *p.salinity_g_kg;
        points.push_back(std::move(pj));
    }
    ordered_json fit_details = f.details;
    fit_details["reasons"] = messages_json(f.reasons);
    ordered_json record = {
        {"action", "calibration"},
        {"sensor", config.id},
        {"device", config.device_id},
        {"metric", config.metric},
        {"unit", config.unit},
        {"model", config.calibration.model},
        {"town_id", config_.gateway.town_id},
        {"gateway_id", config_.gateway.gateway_id},
        {"technician", session->technician},
        {"unix_user", session->unix_user},
        {"reason", session->reason},
        {"probe_serial", session->probe_serial},
        {"started_at", format_rfc3339_utc(session->started_ms)},
        {"committed_at", format_rfc3339_utc(now_ms_)},
        {"flagged_c_from", format_rfc3339_utc(session->started_ms)},
        {"flagged_c_until", format_rfc3339_utc(now_ms_)},
        {"standards", standards},
        {"points", points},
        {"before", coefficients_json(sensor, applied_[sensor])},
        {"after", coefficients_json(sensor, after)},
        {"fit", fit_details},
        {"verdict", calibration::to_string(f.verdict)},
        {"verification", session->verification},
        {"valid_days", config.calibration.valid_days},
        {"due_at", format_rfc3339_utc(now_ms_ + config.calibration.valid_days * kDayMs)},
        {"due_ms", now_ms_ + config.calibration.valid_days * kDayMs},
        {"note", string_at(request, "note")}};
    store_record(sensor, std::move(record), "calibration", std::move(reply));
}

void CalibrationService::store_record(std::size_t sensor, ordered_json record,
                                      const std::string& action, Reply reply) {
    const SensorConfig& config = config_.sensors[sensor];
    CommitBatch batch;
    batch.calibrations.push_back({config.id, now_ms_, record});
    OutboxMessage event = event_("calibration");
    event.body["action"] = action;
    event.body["sensor"] = config.id;
    event.body["model"] = config.calibration.model;
    event.body["technician"] = record["technician"];
    event.body["verdict"] = record["verdict"];
    event.body["before"] = record["before"];
    event.body["after"] = record["after"];
    event.body["due_at"] = record["due_at"];
    batch.events.push_back(std::move(event));
    const std::string session_id = session_of_[sensor];
    commit_(std::move(batch), [this, sensor, session_id, action,
                               reply = std::move(reply)](Outcome<CommitResult> outcome) {
        if (!outcome.ok() || outcome.value.calibrations.empty()) {
            reply(error("store_failed", "the calibration could not be stored (" + outcome.error +
                                            "); nothing changed, try again"));
            return;
        }
        const CalibrationEntry& entry = outcome.value.calibrations.front();
        apply_record(sensor, entry);
        if (!session_id.empty() && session_of_[sensor] == session_id) end_session(sensor);
        GW_LOG_INFO("calibration", config_.sensors[sensor].id
                                       << ": " << action << " stored as version " << entry.version
                                       << " (history entry " << entry.id << ")");
        json response = {{"ok", true},
                         {"version", entry.version},
                         {"hash", entry.hash},
                         {"record", json::parse(entry.record)}};
        reply(std::move(response));
    });
}

void CalibrationService::abort(const json& request, Reply& reply) {
    Session* session = session_of(request, reply);
    if (session == nullptr) return;
    GW_LOG_INFO("calibration", "session " << session->id << " aborted; nothing recorded");
    end_session(session->sensor);
    reply({{"ok", true}});
}

void CalibrationService::show(const json& request, Reply& reply) {
    const auto sensor = sensor_of(request, reply);
    if (!sensor) return;
    const std::string id = config_.sensors[*sensor].id;
    store_.async_calibration_history(id, [this, sensor = *sensor, reply = std::move(reply)](
                                             Outcome<std::vector<CalibrationEntry>> outcome) {
        if (!outcome.ok()) {
            reply(error("store_failed", "cannot read the history: " + outcome.error));
            return;
        }
        json response = {{"ok", true},
                         {"sensor", config_.sensors[sensor].id},
                         {"calibrating", calibrating(sensor)},
                         {"calibration", json::parse(calibration_json(sensor, now_ms_).dump())},
                         {"latest", nullptr}};
        if (!outcome.value.empty()) response["latest"] = json::parse(outcome.value.back().record);
        reply(std::move(response));
    });
}

void CalibrationService::history(const json& request, Reply& reply, bool export_entries) {
    std::string only;
    if (!export_entries || request.contains("sensor")) {
        const auto sensor = sensor_of(request, reply);
        if (!sensor) return;
        only = config_.sensors[*sensor].id;
    }
    // The chain spans every sensor: read all of it and verify it before filtering.
    store_.async_calibration_history({}, [only, export_entries, reply = std::move(reply)](
                                             Outcome<std::vector<CalibrationEntry>> outcome) {
        if (!outcome.ok()) {
            reply(error("store_failed", "cannot read the history: " + outcome.error));
            return;
        }
        json chain = {{"ok", true}, {"entries", outcome.value.size()}};
        std::string prev(64, '0');
        for (const auto& e : outcome.value) {
            std::string problem;
            if (e.prev_hash != prev)
                problem = "its prev_hash does not match the hash of the entry before";
            else if (sha256_hex(e.prev_hash + "\n" + e.record) != e.hash)
                problem = "its record does not match its hash (altered)";
            if (!problem.empty()) {
                chain = {{"ok", false},
                         {"entries", outcome.value.size()},
                         {"first_bad_id", e.id},
                         {"problem", "entry " + std::to_string(e.id) + ": " + problem}};
                break;
            }
            prev = e.hash;
        }
        json records = json::array();
        for (const auto& e : outcome.value) {
            if (!only.empty() && e.sensor != only) continue;
            if (export_entries) {
                records.push_back({{"id", e.id},
                                   {"sensor", e.sensor},
                                   {"version", e.version},
                                   {"time", format_rfc3339_utc(e.time_ms)},
                                   {"prev_hash", e.prev_hash},
                                   {"hash", e.hash},
                                   {"record", e.record}});
            } else {
                auto record = json::parse(e.record, nullptr, false);
                if (record.is_discarded()) record = e.record;
                records.push_back(std::move(record));
            }
        }
        json response = {{"ok", true}, {"chain", chain}};
        response[export_entries ? "entries" : "records"] = std::move(records);
        if (!only.empty()) response["sensor"] = only;
        reply(std::move(response));
    });
}

void CalibrationService::rollback(const json& request, Reply& reply) {
    const auto sensor = sensor_of(request, reply);
    if (!sensor) return;
    const std::string technician = string_at(request, "technician");
    if (technician.empty()) {
        reply(error("bad_request", "missing \"technician\": a rollback is recorded too"));
        return;
    }
    const AppliedCalibration& current = applied_[*sensor];
    if (current.version == 0 || current.previous.is_null()) {
        reply(error("bad_request",
                    "sensor " + config_.sensors[*sensor].id + " has no calibration to roll back"));
        return;
    }
    if (calibrating(*sensor)) {
        reply(error("busy", "sensor " + config_.sensors[*sensor].id +
                                " is being calibrated (session " + session_of_[*sensor] +
                                "): finish or abort it first"));
        return;
    }
    const SensorConfig& config = config_.sensors[*sensor];
    ordered_json record = {{"action", "rollback"},
                           {"sensor", config.id},
                           {"device", config.device_id},
                           {"metric", config.metric},
                           {"unit", config.unit},
                           {"model", config.calibration.model},
                           {"town_id", config_.gateway.town_id},
                           {"gateway_id", config_.gateway.gateway_id},
                           {"technician", technician},
                           {"unix_user", string_at(request, "unix_user")},
                           {"reason", string_at(request, "reason")},
                           {"committed_at", format_rfc3339_utc(now_ms_)},
                           {"rolled_back_version", current.version},
                           {"before", coefficients_json(*sensor, current)},
                           {"after", current.previous},
                           {"verdict", "pass"},
                           {"valid_days", config.calibration.valid_days},
                           // The restored coefficients keep the due date they had.
                           {"due_at", format_rfc3339_utc(current.due_ms)},
                           {"due_ms", current.due_ms}};
    store_record(*sensor, std::move(record), "rollback", std::move(reply));
}

}  // namespace gw
