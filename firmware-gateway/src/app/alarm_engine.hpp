// SPDX-License-Identifier: Apache-2.0
// Standards-aware alarms and per-sample quality checks (docs/analytics.md), on the gateway's
// io_context. For every site (analytics.sites) each of its sensors gets the limits of the
// site's standard for its metric; each limit is watched by an AlarmRule on the window means
// (indicative when the standard averages over longer) and, when the standard's basis is hourly
// or daily, by another on the hourly or daily means (formal). GB 3838 river sites also get
// their water-quality class from the latest window means. Pure apart from the time that comes
// in with the data: the Gateway stores and publishes what comes out.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "analytics/alarm_rule.hpp"
#include "analytics/quality_checks.hpp"
#include "config/config.hpp"
#include "core/analytics_output.hpp"
#include "core/reading.hpp"
#include "core/window_aggregator.hpp"

namespace gw {

class AlarmEngine {
public:
    AlarmEngine(const Config& config, std::function<nlohmann::ordered_json()> message_base);

    /// The quality checks of a good sample: the quality it gets instead (Spike, Stuck,
    /// OverRange, DecodeError), or nullopt when it passes (or checks are off).
    std::optional<SampleQuality> check_sample(std::size_t sensor, double value,
                                              std::int64_t time_ms);

    /// A closed window (basis Instantaneous), hourly (Hourly) or daily (Daily) aggregate of a
    /// sensor: feeds the rules of that basis, and for GB 3838 sites the class.
    void on_aggregate(std::size_t sensor, analytics::Averaging basis, const WindowSummary& w,
                      std::vector<AnalyticsMessage>& out);

    /// Retained current state: `…/alarm/{sensor}/state` of every watched sensor and
    /// `…/class/{site}` of GB 3838 sites; re-sent after each connect.
    std::vector<AnalyticsMessage> retained() const;
    /// Alarm states changed since the last call.
    std::vector<AnalyticsStateRow> take_changed_state();
    /// At start, before any data: resumes alarms from the rows stored earlier (rows that are not
    /// ours are ignored; a row that no longer fits its rule is dropped with a log line).
    void restore(const std::vector<AnalyticsStateRow>& rows);

    /// For health: active alarms, quality-check counts per sensor.
    nlohmann::ordered_json stats_json() const;
    std::size_t active_alarms() const;

private:
    struct Watch {
        std::size_t sensor{0};
        std::size_t site{0};
        std::size_t limit_index{0};  ///< among the site's limits of this metric
        analytics::Averaging input{analytics::Averaging::Instantaneous};
        analytics::Limit limit;  ///< as last evaluated (NH3-N depends on the temperature)
        std::unique_ptr<analytics::AlarmRule> rule;
        std::string key;  ///< persisted state key
        bool changed{false};
    };

    analytics::AlarmRuleConfig rule_config(const SiteConfig& site, const analytics::Limit& limit,
                                           analytics::Averaging input) const;
    /// The site's limits for a metric with the context of this moment (water temperature).
    std::vector<analytics::Limit> limits_of(std::size_t site, const std::string& metric,
                                            analytics::Averaging basis) const;
    AnalyticsMessage alarm_event(const Watch& watch,
                                 const analytics::AlarmTransition& transition) const;
    AnalyticsMessage alarm_state(std::size_t sensor) const;
    /// The site's class from the latest window means; a message when it changed.
    std::optional<AnalyticsMessage> classify(std::size_t site);
    AnalyticsMessage class_message(std::size_t site) const;

    const Config& config_;
    std::function<nlohmann::ordered_json()> message_base_;
    std::vector<std::optional<analytics::QualityChecker>> checkers_;  ///< per sensor
    std::vector<Watch> watches_;
    /// Latest mean per sensor and basis (temperature for NH3-N, factors for the class).
    std::map<std::pair<std::size_t, analytics::Averaging>, double> latest_;
    std::map<std::size_t, analytics::Classification> classes_;  ///< per GB 3838 site
};

}  // namespace gw
