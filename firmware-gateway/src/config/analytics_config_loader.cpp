// SPDX-License-Identifier: Apache-2.0
// The "analytics" section of the configuration (docs/analytics.md, docs/configuration.md):
// sites judged against a standard, flow meters, outfalls and bins. Parsed after the sensors,
// so every sensor reference resolves to an index or is an error naming its pointer.
#include <set>

#include "config/config_checker.hpp"

namespace gw::config_detail {

namespace {

/// A key whose value is one of an enum's names, through the analytics parse function.
template <typename T, typename Parse>
bool parsed_key(const json& obj, const std::string& key, const Pointer& p, Checker& check,
                Parse parse, T& out) {
    std::string text;
    if (!check.string(obj, key, p, text, false)) return false;
    const auto parsed = parse(text);
    if (!parsed) {
        check.error(p / key, parsed.error);
        return false;
    }
    out = *parsed.value;
    return true;
}

void parse_custom_limit(const json& j, const Pointer& p, Checker& check,
                        const std::set<std::string>& site_metrics, analytics::Limit& limit) {
    if (!check.object(j, p)) return;
    check.only_keys(j, p, {"metric", "min", "max", "unit", "basis", "source"});
    check.string(j, "metric", p, limit.metric, true);
    double bound = 0;
    if (check.number(j, "min", p, bound, false)) limit.min = bound;
    if (check.number(j, "max", p, bound, false)) limit.max = bound;
    check.string(j, "unit", p, limit.unit, false);
    limit.basis = analytics::Averaging::Instantaneous;
    parsed_key(j, "basis", p, check, analytics::parse_averaging, limit.basis);
    if (!check.string(j, "source", p, limit.source, false) || limit.source.empty())
        limit.source = "custom limit (configuration)";
    if (const auto why = analytics::validate_limit(limit); !why.empty()) check.error(p, why);
    if (!limit.metric.empty() && site_metrics.count(limit.metric) == 0)
        check.error(p / "metric", "no sensor of this site measures \"" + limit.metric + "\"");
}

void parse_site(const json& j, const Pointer& p, Checker& check, const Config& config,
                SiteConfig& site) {
    if (!check.object(j, p)) return;
    check.only_keys(j, p,
                    {"id", "standard", "class", "water_body", "supply_point", "small_supply",
                     "disinfectant", "built_before_2006", "sensors", "temperature_sensor",
                     "hysteresis", "raise_after_s", "clear_after_s", "custom_limits"});
    check.id(j, "id", p, site.id, true);
    auto& standard = site.standard;
    if (!parsed_key(j, "standard", p, check, analytics::parse_standard_id, standard.standard) &&
        !j.contains("standard"))
        check.error(p / "standard", "is required (gb3838, gb5749, gb18918 or custom)");
    check.string(j, "class", p, standard.class_name, false);
    parsed_key(j, "water_body", p, check, analytics::parse_water_body, standard.water_body);
    parsed_key(j, "supply_point", p, check, analytics::parse_supply_point, standard.supply_point);
    parsed_key(j, "disinfectant", p, check, analytics::parse_disinfectant, standard.disinfectant);
    if (const json* v = check.member(j, "small_supply", p, false)) {
        if (v->is_boolean())
            standard.small_supply = v->get<bool>();
        else
            check.error(p / "small_supply", "must be true or false");
    }
    if (const json* v = check.member(j, "built_before_2006", p, false)) {
        if (v->is_boolean())
            standard.built_before_2006 = v->get<bool>();
        else
            check.error(p / "built_before_2006", "must be true or false");
    }

    std::set<std::string> metrics;
    if (const json* list = check.member(j, "sensors", p, true)) {
        if (!list->is_array() || list->empty()) {
            check.error(p / "sensors", "must be a non-empty array of sensor ids");
        } else {
            for (std::size_t i = 0; i < list->size(); ++i) {
                const Pointer item = p / "sensors" / i;
                const json& id = (*list)[i];
                const auto found =
                    id.is_string() ? std::find_if(config.sensors.begin(), config.sensors.end(),
                                                  [&](const SensorConfig& s) { return s.id == id; })
                                   : config.sensors.end();
                if (found == config.sensors.end()) {
                    check.error(item, "no sensor has id " + id.dump());
                    continue;
                }
                site.sensors.push_back(static_cast<std::size_t>(found - config.sensors.begin()));
                metrics.insert(found->metric);
            }
        }
    }
    site.temperature_sensor = sensor_ref(j, "temperature_sensor", p, check, config.sensors, false);

    if (const json* h = check.member(j, "hysteresis", p, false)) {
        if (!h->is_object()) {
            check.error(p / "hysteresis", "must be an object: metric -> absolute hysteresis");
        } else {
            for (const auto& [metric, value] : h->items()) {
                if (!value.is_number() || value.get<double>() < 0)
                    check.error(p / "hysteresis" / metric,
                                "must be a number >= 0 in the metric's unit");
                else
                    site.hysteresis[metric] = value.get<double>();
            }
        }
    }
    std::int64_t seconds = 0;
    if (check.integer(j, "raise_after_s", p, seconds, 0, 7 * 86400, false))
        site.raise_after = std::chrono::seconds(seconds);
    if (check.integer(j, "clear_after_s", p, seconds, 0, 7 * 86400, false))
        site.clear_after = std::chrono::seconds(seconds);

    if (const json* limits = check.member(j, "custom_limits", p, false)) {
        if (!limits->is_array()) {
            check.error(p / "custom_limits", "must be an array of limits");
        } else {
            for (std::size_t i = 0; i < limits->size(); ++i) {
                analytics::Limit limit;
                parse_custom_limit((*limits)[i], p / "custom_limits" / i, check, metrics, limit);
                standard.custom_limits.push_back(std::move(limit));
            }
        }
    }
    if (const auto why = analytics::validate_site_standard(standard); !why.empty())
        check.error(j.contains("class") ? p / "class" : p, why);
}

}  // namespace

std::optional<std::size_t> sensor_ref(const json& obj, const std::string& key, const Pointer& p,
                                      Checker& check, const std::vector<SensorConfig>& sensors,
                                      bool required) {
    std::string id;
    if (!check.string(obj, key, p, id, required)) return std::nullopt;
    const auto found = std::find_if(sensors.begin(), sensors.end(),
                                    [&](const SensorConfig& s) { return s.id == id; });
    if (found == sensors.end()) {
        check.error(p / key, "no sensor has id \"" + id + "\"");
        return std::nullopt;
    }
    return static_cast<std::size_t>(found - sensors.begin());
}

void parse_analytics(const json& root, Checker& check, Config& config) {
    const Pointer p = Pointer{} / "analytics";
    const json* j = check.member(root, "analytics", Pointer{}, false);
    if (j == nullptr || !check.object(*j, p)) return;
    check.only_keys(*j, p, {"utc_offset_min", "sites", "flow_meters", "outfalls", "bins"});
    AnalyticsConfig& analytics = config.analytics;
    check.integer_into(*j, "utc_offset_min", p, analytics.utc_offset_min, -720, 840, false);
    std::set<std::string> ids;
    if (const json* sites = check.member(*j, "sites", p, false)) {
        if (!sites->is_array()) {
            check.error(p / "sites", "must be an array of sites");
        } else {
            for (std::size_t i = 0; i < sites->size(); ++i) {
                SiteConfig site;
                parse_site((*sites)[i], p / "sites" / i, check, config, site);
                if (!site.id.empty() && !ids.insert(site.id).second)
                    check.error(p / "sites" / i / "id", "duplicate site id \"" + site.id + "\"");
                analytics.sites.push_back(std::move(site));
            }
        }
    }
    parse_flow_meters(*j, p, check, config);
    parse_outfalls(*j, p, check, config);
    parse_bins(*j, p, check, config);
}

}  // namespace gw::config_detail
