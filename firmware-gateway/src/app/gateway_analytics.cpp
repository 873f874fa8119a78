// SPDX-License-Identifier: Apache-2.0
// The Gateway's edge analytics (docs/analytics.md): hourly and daily aggregates of the window
// means, the quality checks of live samples, and the alarms fed by windows and aggregates. Kept
// apart from gateway.cpp, which wires the data path; every window close comes through here.
#include "app/gateway.hpp"
#include "core/log.hpp"
#include "core/time_format.hpp"

namespace gw {

namespace {
constexpr std::chrono::seconds kHour{3600};
constexpr std::chrono::seconds kDay{86400};
constexpr const char* kHourly = "hourly";
constexpr const char* kDaily = "daily";
}  // namespace

void Gateway::reset_rollups(std::size_t i) {
    const SensorConfig& sensor = config_.sensors[i];
    SensorState& state = sensors_[i];
    // An aggregate's samples are the window means: one per window.
    const auto sample_period = std::chrono::duration_cast<std::chrono::milliseconds>(sensor.window);
    const auto local_day = std::chrono::minutes(config_.analytics.utc_offset_min);
    auto remake = [&](std::optional<WindowAggregator>& rollup, std::chrono::seconds length,
                      std::chrono::milliseconds offset) {
        const auto open = rollup ? rollup->open_window() : std::nullopt;
        rollup.reset();
        if (sensor.window >= length) return;  // the window is already that long
        rollup.emplace(length, sample_period, sensor.coverage_threshold, offset);
        if (open) rollup->restore(*open);  // a new window length keeps the running hour/day
    };
    remake(state.hourly, kHour, std::chrono::milliseconds(0));
    remake(state.daily, kDay, local_day);
}

void Gateway::window_closed(std::size_t i, const WindowSummary& window) {
    pending_.windows.push_back(window_commit(i, window));
    std::vector<AnalyticsMessage> out;
    if (analytics_) analytics_->on_aggregate(i, analytics::Averaging::Instantaneous, window, out);
    route(std::move(out));
    // The window's mean is one sample of its hour and day (a window without a good sample, or
    // taken during a calibration, is a failed one: it lowers their coverage, not their mean).
    Reading mean;
    mean.sensor_index = i;
    mean.sampled_at =
        std::chrono::system_clock::time_point(std::chrono::milliseconds(window.start_ms));
    mean.clock = window.clock;
    const bool usable = window.mean && window.quality != WindowQuality::Calibrating;
    mean.quality = usable ? SampleQuality::Good : SampleQuality::CommError;
    mean.value = window.mean.value_or(0.0);
    if (window.measured_mean) mean.measured = *window.measured_mean;
    SensorState& state = sensors_[i];
    if (state.hourly)
        if (auto hour = state.hourly->add(mean))
            rollup_closed(i, analytics::Averaging::Hourly, *hour);
    if (state.daily)
        if (auto day = state.daily->add(mean)) rollup_closed(i, analytics::Averaging::Daily, *day);
}

void Gateway::rollup_closed(std::size_t i, analytics::Averaging basis,
                            const WindowSummary& rollup) {
    pending_.windows.push_back(
        window_commit(i, rollup, basis == analytics::Averaging::Hourly ? kHourly : kDaily));
    std::vector<AnalyticsMessage> out;
    if (analytics_) analytics_->on_aggregate(i, basis, rollup, out);
    route(std::move(out));
}

void Gateway::close_due_rollups(std::chrono::system_clock::time_point now) {
    for (std::size_t i = 0; i < sensors_.size(); ++i) {
        SensorState& state = sensors_[i];
        if (state.hourly)
            if (auto hour = state.hourly->close_due(now))
                rollup_closed(i, analytics::Averaging::Hourly, *hour);
        if (state.daily)
            if (auto day = state.daily->close_due(now))
                rollup_closed(i, analytics::Averaging::Daily, *day);
    }
}

void Gateway::route(std::vector<AnalyticsMessage> messages) {
    for (auto& message : messages) {
        if (message.route == AnalyticsMessage::Route::Stored) {
            pending_.events.push_back({std::move(message.topic), std::move(message.body)});
        } else if (uplink_) {
            // The current state: whoever connects later gets it retained; after a reconnect
            // publish_analytics_state() sends it again.
            uplink_->publish_direct(message.topic, message.body.dump(), true);
        }
    }
}

void Gateway::publish_analytics_state() {
    if (analytics_) route(analytics_->retained());
    if (flow_bins_) route(flow_bins_->retained());
}

void Gateway::feed_flow_bins(const Reading& reading) {
    if (!flow_bins_) return;
    std::vector<AnalyticsMessage> out;
    flow_bins_->on_reading(reading, out);
    route(std::move(out));
}

nlohmann::json Gateway::analytics_json() const {
    if (!analytics_) return nlohmann::json::object();
    nlohmann::json out = nlohmann::json::parse(analytics_->stats_json().dump());
    if (flow_bins_) out["flow_bins"] = nlohmann::json::parse(flow_bins_->stats_json().dump());
    return out;
}

void Gateway::store_analytics_state() {
    auto store_rollup = [&](const std::string& id, const std::optional<WindowAggregator>& rollup,
                            std::uint64_t& stored_version, const char* kind) {
        if (!rollup || rollup->version() == stored_version) return;
        stored_version = rollup->version();
        const auto& open = rollup->open_window();
        if (!open || open->empty()) return;
        pending_.open_windows.push_back({id + "@" + kind, rollup->window_ms(), *open});
    };
    for (std::size_t i = 0; i < sensors_.size(); ++i) {
        SensorState& state = sensors_[i];
        store_rollup(config_.sensors[i].id, state.hourly, state.hourly_stored_version, kHourly);
        store_rollup(config_.sensors[i].id, state.daily, state.daily_stored_version, kDaily);
    }
    if (analytics_)
        for (auto& row : analytics_->take_changed_state())
            pending_.analytics_state.push_back(std::move(row));
    if (flow_bins_)
        for (auto& row : flow_bins_->take_changed_state())
            pending_.analytics_state.push_back(std::move(row));
    store_hj212_state();
}

bool Gateway::recover_rollup(const StoredOpenWindow& stored) {
    const auto at = stored.sensor.rfind('@');
    if (at == std::string::npos) return false;
    const auto it = sensor_index_.find(stored.sensor.substr(0, at));
    if (it == sensor_index_.end()) return false;
    const std::string kind = stored.sensor.substr(at + 1);
    SensorState& state = sensors_[it->second];
    std::optional<WindowAggregator>& rollup = kind == kHourly ? state.hourly : state.daily;
    if ((kind != kHourly && kind != kDaily) || !rollup || rollup->window_ms() != stored.window_ms ||
        !rollup->restore(stored.window))
        return false;
    (kind == kHourly ? state.hourly_stored_version : state.daily_stored_version) =
        rollup->version();
    return true;
}

void Gateway::check_quality(Reading& reading) {
    if (!analytics_ || reading.quality != SampleQuality::Good || reading.calibrating) return;
    if (const auto quality = analytics_->check_sample(reading.sensor_index, reading.value,
                                                      unix_ms(reading.sampled_at))) {
        reading.quality = *quality;
        GW_LOG_DEBUG("gateway", "sensor " << config_.sensors[reading.sensor_index].id << ": "
                                          << reading.value << " flagged " << to_string(*quality));
    }
}

}  // namespace gw
