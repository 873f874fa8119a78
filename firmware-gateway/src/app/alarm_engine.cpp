// SPDX-License-Identifier: Apache-2.0
#include "app/alarm_engine.hpp"

#include <cmath>

#include "app/flow_bin_analytics.hpp"  // flow_bin_state: the AlarmState codec
#include "core/log.hpp"
#include "core/time_format.hpp"

namespace gw {

namespace {
using ordered_json = nlohmann::ordered_json;
using analytics::Averaging;

const char* basis_name(Averaging basis) {
    switch (basis) {
        case Averaging::Instantaneous:
            return "window";
        case Averaging::Hourly:
            return "hourly";
        case Averaging::Daily:
            return "daily";
    }
    return "window";
}

/// The averaging a standard defines a limit on ("instantaneous", "hourly", "daily").
const char* limit_basis_name(Averaging basis) {
    return basis == Averaging::Instantaneous ? "instantaneous" : basis_name(basis);
}

ordered_json optional_number(const std::optional<double>& v) {
    return v ? ordered_json(*v) : ordered_json(nullptr);
}

bool same_state(const analytics::AlarmState& a, const analytics::AlarmState& b) {
    return a.phase == b.phase && a.side == b.side && a.excursion_since_ms == b.excursion_since_ms &&
           a.clearing_since_ms == b.clearing_since_ms && a.extreme == b.extreme &&
           a.has_last_good == b.has_last_good && a.last_good_ms == b.last_good_ms;
}

std::string state_text(const analytics::AlarmState& s) {
    return flow_bin_state::encode(s).dump();
}

std::optional<analytics::AlarmState> parse_state(const std::string& text) {
    const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    analytics::AlarmState s;
    if (j.is_discarded() || !flow_bin_state::decode(j, s)) return std::nullopt;
    return s;
}

SampleQuality quality_of(const analytics::QualityFlags& flags) {
    using analytics::QualityFlag;
    if (flags.has(QualityFlag::Invalid)) return SampleQuality::DecodeError;
    if (flags.has(QualityFlag::OutOfRange)) return SampleQuality::OverRange;
    if (flags.has(QualityFlag::FlatLine)) return SampleQuality::Stuck;
    return SampleQuality::Spike;  // spike or rate of change
}
}  // namespace

AlarmEngine::AlarmEngine(const Config& config, std::function<ordered_json()> message_base)
    : config_(config), message_base_(std::move(message_base)) {
    for (const auto& sensor : config_.sensors) {
        if (!sensor.quality.enabled) {
            checkers_.emplace_back();
            continue;
        }
        analytics::QualityParams params = sensor.quality.params;
        params.expected_period_ms = 0;  // a polled sensor always yields samples; no staleness
        checkers_.emplace_back(analytics::QualityChecker(params));
    }
    for (std::size_t site_index = 0; site_index < config_.analytics.sites.size(); ++site_index) {
        const SiteConfig& site = config_.analytics.sites[site_index];
        for (const std::size_t sensor : site.sensors) {
            const std::string& metric = config_.sensors[sensor].metric;
            const auto limits = limits_of(site_index, metric, Averaging::Instantaneous);
            for (std::size_t li = 0; li < limits.size(); ++li) {
                // Every limit is watched on the window means; a limit on hourly or daily means
                // is also watched, formally, on those.
                std::vector<Averaging> inputs{Averaging::Instantaneous};
                if (limits[li].basis != Averaging::Instantaneous)
                    inputs.push_back(limits[li].basis);
                for (const Averaging input : inputs) {
                    Watch watch;
                    watch.sensor = sensor;
                    watch.site = site_index;
                    watch.limit_index = li;
                    watch.input = input;
                    watch.limit = limits[li];
                    watch.rule = std::make_unique<analytics::AlarmRule>(
                        rule_config(site, limits[li], input));
                    watch.key = "alarm/" + config_.sensors[sensor].id + "/" + site.id + "/" +
                                metric + "/" + std::to_string(li) + "/" + basis_name(input);
                    watches_.push_back(std::move(watch));
                }
            }
        }
    }
}

analytics::AlarmRuleConfig AlarmEngine::rule_config(const SiteConfig& site,
                                                    const analytics::Limit& limit,
                                                    Averaging input) const {
    const auto hysteresis = site.hysteresis.find(limit.metric);
    // A window mean must stay out for raise_after_s before it is an alarm (a single odd window
    // is not); an hourly or daily mean is the standard's own figure: at once.
    const std::int64_t raise_ms =
        input == Averaging::Instantaneous ? site.raise_after.count() * 1000 : 0;
    analytics::AlarmRuleConfig rule = analytics::rule_for(
        limit, input, hysteresis == site.hysteresis.end() ? 0.0 : hysteresis->second, raise_ms);
    if (input == Averaging::Instantaneous && site.clear_after)
        rule.clear_after_ms = site.clear_after->count() * 1000;
    else if (input != Averaging::Instantaneous)
        rule.clear_after_ms = 0;
    return rule;
}

std::vector<analytics::Limit> AlarmEngine::limits_of(std::size_t site, const std::string& metric,
                                                     Averaging basis) const {
    const SiteConfig& config = config_.analytics.sites[site];
    analytics::LimitContext context;
    if (config.temperature_sensor) {
        const auto t = latest_.find({*config.temperature_sensor, basis});
        if (t != latest_.end()) context.water_temperature_degc = t->second;
    }
    std::vector<analytics::Limit> out;
    for (auto& limit : analytics::limits_for(config.standard, context))
        if (limit.metric == metric) out.push_back(std::move(limit));
    return out;
}

std::optional<SampleQuality> AlarmEngine::check_sample(std::size_t sensor, double value,
                                                       std::int64_t time_ms) {
    if (sensor >= checkers_.size() || !checkers_[sensor]) return std::nullopt;
    const auto flags = checkers_[sensor]->check(value, time_ms);
    if (flags.ok()) return std::nullopt;
    return quality_of(flags);
}

void AlarmEngine::on_aggregate(std::size_t sensor, Averaging basis, const WindowSummary& w,
                               std::vector<AnalyticsMessage>& out) {
    // Calibration windows are buffer readings, windows without a good sample have no value:
    // neither raises nor clears anything.
    if (!w.mean || w.quality == WindowQuality::Calibrating) return;
    const double mean = *w.mean;
    latest_[{sensor, basis}] = mean;
    bool state_changed = false;
    for (auto& watch : watches_) {
        if (watch.sensor != sensor || watch.input != basis) continue;
        // GB 18918's NH3-N limit depends on the water temperature of the same period.
        const auto limits = limits_of(watch.site, watch.limit.metric, basis);
        if (watch.limit_index < limits.size() &&
            (limits[watch.limit_index].min != watch.limit.min ||
             limits[watch.limit_index].max != watch.limit.max)) {
            watch.limit = limits[watch.limit_index];
            const auto state = watch.rule->state();
            watch.rule = std::make_unique<analytics::AlarmRule>(
                rule_config(config_.analytics.sites[watch.site], watch.limit, basis));
            watch.rule->restore(state);
        }
        const auto before = watch.rule->state();
        const auto transition = watch.rule->update(mean, w.end_ms, true);
        if (!same_state(before, watch.rule->state())) watch.changed = true;
        if (!transition) continue;
        out.push_back(alarm_event(watch, *transition));
        state_changed = true;
        GW_LOG_INFO("alarm", config_.sensors[sensor].id << ": " << to_string(transition->event)
                                                        << " (" << watch.limit.source << ", "
                                                        << basis_name(basis) << " mean " << mean
                                                        << ", limit " << transition->limit << ")");
    }
    if (state_changed) out.push_back(alarm_state(sensor));
    if (basis != Averaging::Instantaneous) return;
    for (std::size_t site = 0; site < config_.analytics.sites.size(); ++site) {
        const SiteConfig& s = config_.analytics.sites[site];
        if (s.standard.standard != analytics::StandardId::Gb3838) continue;
        if (std::find(s.sensors.begin(), s.sensors.end(), sensor) == s.sensors.end()) continue;
        if (auto message = classify(site)) out.push_back(std::move(*message));
    }
}

AnalyticsMessage AlarmEngine::alarm_event(const Watch& watch,
                                          const analytics::AlarmTransition& t) const {
    const SensorConfig& sensor = config_.sensors[watch.sensor];
    const SiteConfig& site = config_.analytics.sites[watch.site];
    ordered_json body = message_base_();
    body["time"] = format_rfc3339_utc(t.at_ms);
    body["subject"] = sensor.id;
    body["alarm"] = "limit";
    body["state"] = t.event == analytics::AlarmEvent::Raised ? "raised" : "cleared";
    body["value"] = t.value;
    body["limit"] = t.limit;
    body["bound"] = t.side == analytics::BoundSide::AboveMax ? "max" : "min";
    body["since"] = format_rfc3339_utc(t.since_ms);
    body["indicative"] = t.indicative;
    body["basis"] = basis_name(watch.input);
    body["detail"] = {{"site", site.id},
                      {"standard", analytics::to_string(site.standard.standard)},
                      {"class", site.standard.class_name},
                      {"metric", sensor.metric},
                      {"unit", sensor.unit},
                      {"source", watch.limit.source},
                      {"limit_basis", limit_basis_name(watch.limit.basis)},
                      {"extreme", t.extreme}};
    return {config_.topic_root() + "/alarm/" + sensor.id, std::move(body),
            AnalyticsMessage::Route::Stored};
}

AnalyticsMessage AlarmEngine::alarm_state(std::size_t sensor) const {
    ordered_json active = ordered_json::array();
    for (const auto& watch : watches_) {
        if (watch.sensor != sensor || !watch.rule->active()) continue;
        const auto& state = watch.rule->state();
        const bool above = state.side == analytics::BoundSide::AboveMax;
        const SiteConfig& site = config_.analytics.sites[watch.site];
        active.push_back({{"alarm", "limit"},
                          {"since", format_rfc3339_utc(state.excursion_since_ms)},
                          {"value", state.extreme},
                          {"limit", optional_number(above ? watch.limit.max : watch.limit.min)},
                          {"bound", above ? "max" : "min"},
                          {"detail",
                           {{"site", site.id},
                            {"standard", analytics::to_string(site.standard.standard)},
                            {"class", site.standard.class_name},
                            {"metric", config_.sensors[sensor].metric},
                            {"source", watch.limit.source},
                            {"basis", basis_name(watch.input)},
                            {"indicative", watch.rule->indicative()}}}});
    }
    ordered_json body = message_base_();
    body["time"] = format_rfc3339_utc(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
    body["subject"] = config_.sensors[sensor].id;
    body["active"] = std::move(active);
    return {config_.topic_root() + "/alarm/" + config_.sensors[sensor].id + "/state",
            std::move(body), AnalyticsMessage::Route::Retained};
}

std::optional<AnalyticsMessage> AlarmEngine::classify(std::size_t site) {
    const SiteConfig& s = config_.analytics.sites[site];
    std::map<std::string, double> latest;
    for (const std::size_t sensor : s.sensors) {
        const auto it = latest_.find({sensor, Averaging::Instantaneous});
        if (it != latest_.end()) latest[config_.sensors[sensor].metric] = it->second;
    }
    auto result = analytics::classify_gb3838(latest, s.standard.water_body);
    const auto previous = classes_.find(site);
    const bool changed = previous == classes_.end() ||
                         previous->second.water_class != result.water_class ||
                         previous->second.worst_factors != result.worst_factors;
    classes_[site] = std::move(result);
    if (!changed || classes_[site].water_class == 0) return std::nullopt;
    return class_message(site);
}

AnalyticsMessage AlarmEngine::class_message(std::size_t site) const {
    const SiteConfig& s = config_.analytics.sites[site];
    const auto& c = classes_.at(site);
    const auto target = analytics::parse_gb3838_class(s.standard.class_name);
    ordered_json factors = ordered_json::array();
    for (const auto& f : c.factors)
        factors.push_back({{"metric", f.metric},
                           {"value", f.value},
                           {"water_class", f.water_class},
                           {"label", analytics::gb3838_class_label(f.water_class)}});
    ordered_json body = message_base_();
    body["time"] = format_rfc3339_utc(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
    body["site"] = s.id;
    body["standard"] = "gb3838";
    body["water_class"] = c.water_class;
    body["label"] = analytics::gb3838_class_label(c.water_class);
    body["target_class"] = s.standard.class_name;
    body["meets_target"] = target && c.water_class <= *target.value;
    body["worst_factors"] = c.worst_factors;
    body["factors"] = std::move(factors);
    body["basis"] = "window";
    return {config_.topic_root() + "/class/" + s.id, std::move(body),
            AnalyticsMessage::Route::Retained};
}

std::vector<AnalyticsMessage> AlarmEngine::retained() const {
    std::vector<AnalyticsMessage> out;
    std::vector<std::size_t> sensors;
    for (const auto& watch : watches_)
        if (std::find(sensors.begin(), sensors.end(), watch.sensor) == sensors.end())
            sensors.push_back(watch.sensor);
    for (const std::size_t sensor : sensors) out.push_back(alarm_state(sensor));
    for (const auto& [site, c] : classes_)
        if (c.water_class != 0) out.push_back(class_message(site));
    return out;
}

std::vector<AnalyticsStateRow> AlarmEngine::take_changed_state() {
    std::vector<AnalyticsStateRow> rows;
    for (auto& watch : watches_) {
        if (!watch.changed) continue;
        watch.changed = false;
        // Normal with no history is the default: nothing to remember.
        const auto& state = watch.rule->state();
        rows.push_back(
            {watch.key, state.phase == analytics::AlarmPhase::Normal && !state.has_last_good
                            ? std::string()
                            : state_text(state)});
    }
    return rows;
}

void AlarmEngine::restore(const std::vector<AnalyticsStateRow>& rows) {
    for (const auto& row : rows) {
        if (row.key.rfind("alarm/", 0) != 0) continue;
        const auto watch = std::find_if(watches_.begin(), watches_.end(),
                                        [&](const Watch& w) { return w.key == row.key; });
        if (watch == watches_.end()) continue;  // the site or its limits changed
        const auto state = parse_state(row.state);
        if (!state || !watch->rule->restore(*state)) {
            GW_LOG_WARN("alarm", "stored state of " << row.key << " does not fit its rule: reset");
            watch->changed = true;  // overwrite the unusable row
        }
    }
}

std::size_t AlarmEngine::active_alarms() const {
    return static_cast<std::size_t>(std::count_if(watches_.begin(), watches_.end(),
                                                  [](const Watch& w) { return w.rule->active(); }));
}

ordered_json AlarmEngine::stats_json() const {
    ordered_json checks = ordered_json::object();
    for (std::size_t i = 0; i < checkers_.size(); ++i) {
        if (!checkers_[i]) continue;
        const auto& counters = checkers_[i]->counters();
        ordered_json entry = {{"samples", counters.samples}};
        for (const auto flag : {analytics::QualityFlag::Invalid, analytics::QualityFlag::OutOfRange,
                                analytics::QualityFlag::Spike, analytics::QualityFlag::RateOfChange,
                                analytics::QualityFlag::FlatLine})
            entry[analytics::to_string(flag)] = counters.flagged[analytics::flag_index(flag)];
        checks[config_.sensors[i].id] = std::move(entry);
    }
    return {{"alarm_rules", watches_.size()},
            {"active_alarms", active_alarms()},
            {"quality_checks", std::move(checks)}};
}

}  // namespace gw
