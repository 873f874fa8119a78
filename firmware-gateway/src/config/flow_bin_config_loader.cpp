// SPDX-License-Identifier: Apache-2.0
// "analytics.flow_meters", "analytics.outfalls" and "analytics.bins" (docs/analytics.md,
// "Sewage flow" and "Waste bins"). Called at the end of parse_analytics, after the sites, so
// sensor ids resolve and alarm subjects can be checked against the site ids.
#include <cctype>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "analytics/metric_names.hpp"
#include "analytics/sensor_units.hpp"
#include "config/config_checker.hpp"

namespace gw::config_detail {

namespace {

std::string number_text(double v) {
    std::ostringstream out;
    out << v;
    return out.str();
}

/// A number in [min, max] (or (min, max] with `min_open`); the error states the range.
bool number_in(Checker& check, const json& obj, const std::string& key, const Pointer& p,
               double& out, double min, double max, bool min_open, bool required) {
    const json* v = check.member(obj, key, p, required);
    if (v == nullptr) return false;
    const std::string range = "must be a number " + std::string(min_open ? "> " : ">= ") +
                              number_text(min) + " and <= " + number_text(max);
    if (!v->is_number()) {
        check.error(p / key, range);
        return false;
    }
    const double value = v->get<double>();
    if (!std::isfinite(value) || (min_open ? value <= min : value < min) || value > max) {
        check.error(p / key, range + ", got " + number_text(value));
        return false;
    }
    out = value;
    return true;
}

bool seconds_into_ms(Checker& check, const json& obj, const std::string& key, const Pointer& p,
                     std::int64_t& out_ms, std::int64_t min_s, std::int64_t max_s) {
    std::int64_t seconds = 0;
    if (!check.integer(obj, key, p, seconds, min_s, max_s, false)) return false;
    out_ms = seconds * 1000;
    return true;
}

/// Ids of the sensors `fits` accepts, for error messages.
template <typename Fits>
std::string sensors_that(const std::vector<SensorConfig>& sensors, Fits fits) {
    std::vector<std::string> ids;
    for (const auto& s : sensors) {
        if (fits(s)) ids.push_back(s.id);
    }
    return plain_list(ids);
}

/// A sensor reference of one kind: resolved through sensor_ref, then checked with `fits`. An
/// unknown id or a sensor of the wrong kind is reported with the sensors that would fit.
template <typename Fits>
std::optional<std::size_t> typed_sensor(const json& obj, const std::string& key, const Pointer& p,
                                        Checker& check, const Config& config, bool required,
                                        const std::string& kind, Fits fits) {
    const auto& sensors = config.sensors;
    const auto it = obj.find(key);
    if (it != obj.end() && it->is_string() && !it->get_ref<const std::string&>().empty() &&
        std::none_of(sensors.begin(), sensors.end(),
                     [&](const SensorConfig& s) { return s.id == it->get<std::string>(); })) {
        check.error(p / key, "no sensor has id " + it->dump() + " (" + kind +
                                 " sensors: " + sensors_that(sensors, fits) + ")");
        return std::nullopt;
    }
    const auto index = sensor_ref(obj, key, p, check, sensors, required);
    if (!index) return std::nullopt;
    const SensorConfig& sensor = sensors[*index];
    if (!fits(sensor)) {
        check.error(p / key, "sensor \"" + sensor.id + "\" (metric \"" + sensor.metric +
                                 "\", unit \"" + sensor.unit + "\") is not a " + kind +
                                 " sensor (" + kind + " sensors: " + sensors_that(sensors, fits) +
                                 ")");
        return std::nullopt;
    }
    return index;
}

bool is_flow_sensor(const SensorConfig& s) {
    return analytics::volume_flow_factor_to_m3_h(s.unit).has_value();
}

bool is_totaliser_sensor(const SensorConfig& s) {
    return analytics::is_volume_m3(s.unit);
}

const std::string kFlowKind =
    "volume-flow (unit " + plain_list(analytics::volume_flow_units()) + ")";
const std::string kTotaliserKind = "totaliser (unit m3)";

/// An array member, or nullptr (absent, or not an array: an error).
const json* array_member(Checker& check, const json& obj, const std::string& key, const Pointer& p,
                         const std::string& what) {
    const json* list = check.member(obj, key, p, false);
    if (list == nullptr) return nullptr;
    if (!list->is_array()) {
        check.error(p / key, "must be an array of " + what);
        return nullptr;
    }
    return list;
}

/// Outfalls, bins and the sensors' limit alarms share the topic …/alarm/{subject}, where a
/// sensor's subject is its id: one id, one subject (else their retained states overwrite each
/// other). `analytics` is the pointer of the "analytics" object.
std::map<std::string, std::string> alarm_subjects(const Config& config, const Pointer& analytics) {
    std::map<std::string, std::string> taken;
    for (std::size_t i = 0; i < config.sensors.size(); ++i)
        taken.emplace(config.sensors[i].id, "/sensors/" + std::to_string(i));
    const auto& a = config.analytics;
    for (std::size_t i = 0; i < a.outfalls.size(); ++i)
        taken.emplace(a.outfalls[i].id, pointer_text(analytics / "outfalls" / i));
    for (std::size_t i = 0; i < a.bins.size(); ++i)
        taken.emplace(a.bins[i].id, pointer_text(analytics / "bins" / i));
    return taken;
}

/// `item` is the pointer of the outfall or bin, two levels below "analytics".
void check_subject_unique(Checker& check, const Config& config, const std::string& id,
                          const Pointer& item) {
    if (id.empty()) return;
    const auto taken = alarm_subjects(config, item.parent_pointer().parent_pointer());
    if (const auto it = taken.find(id); it != taken.end())
        check.error(item / "id", "id \"" + id + "\" is already used at " + it->second +
                                     " (sensors, outfalls and bins share the alarm topic "
                                     "…/alarm/{id}, so their ids must all differ)");
}

void parse_night_minimum(const json& j, const Pointer& p, Checker& check, std::int32_t tz_min,
                         analytics::NightMinimumConfig& night) {
    if (!check.object(j, p)) return;
    check.only_keys(j, p, {"start_hour", "end_hour"});
    night.tz_offset_min = tz_min;
    check.integer_into(j, "start_hour", p, night.start_hour, 0, 23, false);
    check.integer_into(j, "end_hour", p, night.end_hour, 1, 24, false);
    if (night.start_hour >= night.end_hour)
        check.error(p / "end_hour",
                    "must be after start_hour (" + std::to_string(night.start_hour) +
                        "): the night period [start_hour, end_hour) lies within one local day, "
                        "got " +
                        std::to_string(night.end_hour));
}

void parse_flow_meter(const json& j, const Pointer& p, Checker& check, const Config& config,
                      FlowMeterConfig& meter) {
    if (!check.object(j, p)) return;
    check.only_keys(j, p,
                    {"id", "flow_sensor", "totaliser_sensor", "window_s", "max_gap_s",
                     "rollover_at_m3", "max_flow_m3_h", "night_minimum"});
    check.id(j, "id", p, meter.id, true);
    meter.flow_sensor =
        typed_sensor(j, "flow_sensor", p, check, config, false, kFlowKind, is_flow_sensor);
    meter.totaliser_sensor = typed_sensor(j, "totaliser_sensor", p, check, config, false,
                                          kTotaliserKind, is_totaliser_sensor);
    if (!j.contains("flow_sensor") && !j.contains("totaliser_sensor"))
        check.error(p,
                    "needs \"flow_sensor\" (a volume flow, e.g. m3/h) and/or "
                    "\"totaliser_sensor\" (m3)");

    auto& volume = meter.volume;
    volume.window_ms = analytics::kMsPerHour;
    std::int64_t window_s = 0;
    if (check.integer(j, "window_s", p, window_s, 1, 86400, false)) {
        if (const auto why = window_length_error(window_s); !why.empty())
            check.error(p / "window_s", why);
        else
            volume.window_ms = window_s * 1000;
    }
    volume.max_gap_ms = std::min(volume.max_gap_ms, volume.window_ms);
    std::int64_t gap_s = 0;
    if (check.integer(j, "max_gap_s", p, gap_s, 1, 86400, false)) {
        if (gap_s * 1000 > volume.window_ms)
            check.error(p / "max_gap_s", "must be between 1 and window_s (" +
                                             std::to_string(volume.window_ms / 1000) + "), got " +
                                             std::to_string(gap_s));
        else
            volume.max_gap_ms = gap_s * 1000;
    }
    number_in(check, j, "rollover_at_m3", p, volume.totaliser.rollover_at_m3, 0.0, 1e15, false,
              false);
    number_in(check, j, "max_flow_m3_h", p, volume.totaliser.max_flow_m3_h, 0.0, 1e9, false, false);
    if (const json* night = check.member(j, "night_minimum", p, false)) {
        analytics::NightMinimumConfig night_config;
        parse_night_minimum(*night, p / "night_minimum", check, config.analytics.utc_offset_min,
                            night_config);
        if (!j.contains("flow_sensor"))
            check.error(p / "night_minimum",
                        "needs a \"flow_sensor\": the night minimum is "
                        "taken over the instantaneous flow");
        meter.night_minimum = night_config;
    }
}

void parse_outfall(const json& j, const Pointer& p, Checker& check, const Config& config,
                   OutfallConfig& outfall) {
    if (!check.object(j, p)) return;
    check.only_keys(j, p,
                    {"id", "flow_sensor", "rain_sensor", "raise_flow_m3_h", "clear_flow_m3_h",
                     "raise_after_s", "clear_after_s", "rain_lookback_h", "dry_rain_mm"});
    if (check.id(j, "id", p, outfall.id, true)) check_subject_unique(check, config, outfall.id, p);
    if (const auto flow =
            typed_sensor(j, "flow_sensor", p, check, config, true, kFlowKind, is_flow_sensor))
        outfall.flow_sensor = *flow;
    outfall.rain_sensor =
        typed_sensor(j, "rain_sensor", p, check, config, false,
                     "rain (metric rain, rainfall or precipitation; unit mm per sample)",
                     [](const SensorConfig& s) { return analytics::is_rain(s.metric, s.unit); });

    auto& d = outfall.discharge;
    number_in(check, j, "raise_flow_m3_h", p, d.raise_flow_m3_h, 0.0, 1e9, true, false);
    // Without its own clear level, half the raise level (the default pair is 0.5 / 0.25).
    d.clear_flow_m3_h = d.raise_flow_m3_h / 2.0;
    if (number_in(check, j, "clear_flow_m3_h", p, d.clear_flow_m3_h, 0.0, 1e9, false, false) &&
        d.clear_flow_m3_h > d.raise_flow_m3_h)
        check.error(p / "clear_flow_m3_h", "must be a number >= 0 and <= raise_flow_m3_h (" +
                                               number_text(d.raise_flow_m3_h) + "), got " +
                                               number_text(d.clear_flow_m3_h));
    seconds_into_ms(check, j, "raise_after_s", p, d.raise_after_ms, 0, 86400);
    seconds_into_ms(check, j, "clear_after_s", p, d.clear_after_ms, 0, 86400);
    check.integer_into(j, "rain_lookback_h", p, d.rain_lookback_hours, 1,
                       static_cast<std::int64_t>(analytics::kRainHistoryHours), false);
    number_in(check, j, "dry_rain_mm", p, d.dry_rain_mm, 0.0, 1000.0, false, false);
}

/// "HH:MM" local, 00:00 to 23:59.
bool parse_cutoff(const json& j, const Pointer& p, Checker& check, std::int32_t& minute_of_day) {
    std::string text;
    if (!check.string(j, "cutoff", p, text, false)) return false;
    auto digit = [&](std::size_t i) { return std::isdigit(static_cast<unsigned char>(text[i])); };
    const bool shape =
        text.size() == 5 && text[2] == ':' && digit(0) && digit(1) && digit(3) && digit(4);
    const int hours = shape ? (text[0] - '0') * 10 + (text[1] - '0') : 99;
    const int minutes = shape ? (text[3] - '0') * 10 + (text[4] - '0') : 99;
    if (hours > 23 || minutes > 59) {
        check.error(
            p / "cutoff",
            "must be a local time \"HH:MM\" from \"00:00\" to \"23:59\", got \"" + text + "\"");
        return false;
    }
    minute_of_day = hours * 60 + minutes;
    return true;
}

void parse_bin(const json& j, const Pointer& p, Checker& check, const Config& config,
               BinConfig& bin) {
    if (!check.object(j, p)) return;
    check.only_keys(
        j, p,
        {"id", "fill_sensor", "temperature_sensor", "tilt_sensor", "collect_at_pct", "cutoff",
         "emptying_drop_pct", "fire_limit_degC", "fire_rise_degC_per_min", "tilt_after_s"});
    if (check.id(j, "id", p, bin.id, true)) {
        if (bin.id == "collect")
            check.error(p / "id",
                        "\"collect\" is reserved (the collection list is published "
                        "on …/bins/collect); choose another bin id");
        else
            check_subject_unique(check, config, bin.id, p);
    }
    if (const auto fill =
            typed_sensor(j, "fill_sensor", p, check, config, true,
                         "fill_level (metric fill_level, %)", [](const SensorConfig& s) {
                             return s.metric == analytics::metric::kFillLevel && s.unit == "%";
                         }))
        bin.fill_sensor = *fill;
    bin.temperature_sensor =
        typed_sensor(j, "temperature_sensor", p, check, config, false, "temperature (unit degC)",
                     [](const SensorConfig& s) { return analytics::is_degC(s.unit); });
    bin.tilt_sensor = typed_sensor(j, "tilt_sensor", p, check, config, false,
                                   "tilt (metric tilt: a 0/1 flag, or an angle with unit deg)",
                                   [](const SensorConfig& s) {
                                       return s.metric == "tilt" || analytics::is_angle_deg(s.unit);
                                   });

    bin.collect.tz_offset_min = config.analytics.utc_offset_min;
    number_in(check, j, "collect_at_pct", p, bin.collect.collect_threshold_pct, 0.0, 100.0, true,
              false);
    parse_cutoff(j, p, check, bin.collect.cutoff_minute_of_day);
    number_in(check, j, "emptying_drop_pct", p, bin.fill.emptying_drop_pct, 0.0, 100.0, true,
              false);
    if (number_in(check, j, "fire_limit_degC", p, bin.fire.limit_degC, 0.0, 200.0, true, false))
        bin.fire.clear_below_degC = bin.fire.limit_degC - 10.0;  // keeps the 10 degC hysteresis
    number_in(check, j, "fire_rise_degC_per_min", p, bin.fire.rise_degC_per_min, 0.0, 100.0, true,
              false);
    seconds_into_ms(check, j, "tilt_after_s", p, bin.tilt.raise_after_ms, 0, 86400);
}

}  // namespace

void parse_flow_meters(const json& analytics, const Pointer& p, Checker& check, Config& config) {
    const json* list = array_member(check, analytics, "flow_meters", p, "flow meters");
    if (list == nullptr) return;
    std::map<std::string, std::size_t> ids;
    for (std::size_t i = 0; i < list->size(); ++i) {
        FlowMeterConfig meter;
        const Pointer item = p / "flow_meters" / i;
        parse_flow_meter((*list)[i], item, check, config, meter);
        if (!meter.id.empty() && !ids.emplace(meter.id, i).second)
            check.error(item / "id", "duplicate flow meter id \"" + meter.id + "\" (also at " +
                                         pointer_text(p / "flow_meters" / ids[meter.id]) + ")");
        config.analytics.flow_meters.push_back(std::move(meter));
    }
}

void parse_outfalls(const json& analytics, const Pointer& p, Checker& check, Config& config) {
    const json* list = array_member(check, analytics, "outfalls", p, "outfalls");
    if (list == nullptr) return;
    for (std::size_t i = 0; i < list->size(); ++i) {
        OutfallConfig outfall;
        parse_outfall((*list)[i], p / "outfalls" / i, check, config, outfall);
        config.analytics.outfalls.push_back(std::move(outfall));
    }
}

void parse_bins(const json& analytics, const Pointer& p, Checker& check, Config& config) {
    const json* list = array_member(check, analytics, "bins", p, "bins");
    if (list == nullptr) return;
    for (std::size_t i = 0; i < list->size(); ++i) {
        BinConfig bin;
        parse_bin((*list)[i], p / "bins" / i, check, config, bin);
        config.analytics.bins.push_back(std::move(bin));
    }
}

}  // namespace gw::config_detail
