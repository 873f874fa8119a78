// SPDX-License-Identifier: Apache-2.0
// The Gateway's HJ 212 reporting (docs/hj212.md): per platform a Reporter that turns readings
// into real-time, minute, hourly and daily frames, stored with the rest of the commit, and a
// Hj212Link that sends them. Frames reach a platform only from the store.
#include "app/gateway.hpp"
#include "core/log.hpp"
#include "core/time_format.hpp"

namespace gw {

namespace {
constexpr const char* kLog = "hj212";
constexpr std::int64_t kPruneEveryMs = 3'600'000;
constexpr std::int64_t kMsPerDay = 86'400'000;

std::string state_key(const std::string& platform) {
    return "hj212/" + platform;
}
}  // namespace

hj212::ReporterConfig Gateway::reporter_config(const Hj212PlatformConfig& platform) const {
    hj212::ReporterConfig out;
    for (const auto& p : platform.pollutants) {
        hj212::ReportPollutant pollutant;
        pollutant.code = p.code;
        pollutant.sensor_index = p.sensor_index;
        pollutant.scale = p.scale;
        pollutant.decimals = p.decimals;
        pollutant.is_flow = p.is_flow;
        pollutant.has_load = p.has_load;
        // Samples further apart than three poll periods (LoRaWAN devices: uplink intervals, which
        // poll_period holds for them) are a gap.
        const DeviceConfig& device = config_.devices[config_.sensors[p.sensor_index].device_index];
        const auto period = device.poll_period;
        pollutant.max_slice_ms = std::max<std::int64_t>(15'000, 3 * period.count());
        out.pollutants.push_back(std::move(pollutant));
    }
    out.realtime_interval_s = platform.send_realtime ? platform.realtime_interval_s : 0;
    out.minute_interval_min = platform.minute_interval_min;
    out.minute = platform.send_minute;
    out.hourly = platform.send_hourly;
    out.daily = platform.send_daily;
    out.utc_offset_min = config_.analytics.utc_offset_min;
    return out;
}

void Gateway::build_hj212(const std::vector<AnalyticsStateRow>& stored_state) {
    for (const auto& platform : config_.hj212) {
        Hj212Platform entry;
        entry.config = &platform;
        entry.reporter = std::make_unique<hj212::Reporter>(reporter_config(platform));
        for (const auto& row : stored_state) {
            if (row.key != state_key(platform.name)) continue;
            std::string error;
            const auto state = nlohmann::json::parse(row.state, nullptr, false);
            if (state.is_discarded() || !entry.reporter->restore(state, error))
                GW_LOG_WARN(kLog, "platform " << platform.name
                                              << ": stored report state not resumed: "
                                              << (state.is_discarded() ? "not JSON" : error));
        }
        entry.stored_version = entry.reporter->version();
        const std::size_t index = hj212_.size();
        Hj212Link::Hooks hooks;
        hooks.now_ms = [] { return unix_ms(std::chrono::system_clock::now()); };
        hooks.realtime_interval_s = [this, index] {
            return hj212_[index].reporter->realtime_interval_s();
        };
        hooks.minute_interval_min = [this, index] {
            return hj212_[index].reporter->minute_interval_min();
        };
        hooks.set_realtime_interval_s = [this, index](int seconds) {
            if (!hj212_[index].reporter->set_realtime_interval_s(seconds)) return false;
            hj212_setting_changed(index, "realtime_interval_s", seconds);
            return true;
        };
        hooks.set_minute_interval_min = [this, index](int minutes) {
            if (!hj212_[index].reporter->set_minute_interval_min(minutes)) return false;
            hj212_setting_changed(index, "minute_interval_min", minutes);
            return true;
        };
        hooks.time_set = [this, index](std::int64_t offset_ms) {
            GW_LOG_INFO(kLog, "platform " << hj212_[index].config->name
                                          << " set the time: its clock is " << offset_ms
                                          << " ms ahead of ours (recorded; the gateway never "
                                          << "steps its clock, NTP keeps it)");
            auto event = hj212_event(index, "time_set");
            event.body["offset_ms"] = offset_ms;
            pending_.events.push_back(std::move(event));
            commit();
        };
        entry.link = std::make_unique<Hj212Link>(platform, config_.analytics.utc_offset_min,
                                                 io_.get_executor(), *store_, std::move(hooks));
        hj212_.push_back(std::move(entry));
    }
}

OutboxMessage Gateway::hj212_event(std::size_t index, const char* action) const {
    auto event = event_message("hj212");
    event.body["platform"] = hj212_[index].config->name;
    event.body["action"] = action;
    return event;
}

void Gateway::hj212_setting_changed(std::size_t index, const char* setting, int value) {
    GW_LOG_INFO(kLog,
                "platform " << hj212_[index].config->name << " set " << setting << " to " << value);
    auto event = hj212_event(index, "setting");
    event.body["setting"] = setting;
    event.body["value"] = value;
    pending_.events.push_back(std::move(event));
    store_hj212_state();  // the new interval survives a restart from the next flush
    commit();
}

void Gateway::start_hj212() {
    for (auto& platform : hj212_) platform.link->start();
}

void Gateway::stop_hj212() {
    for (auto& platform : hj212_) platform.link->stop();
}

void Gateway::feed_hj212(const Reading& reading) {
    for (auto& platform : hj212_) platform.reporter->on_reading(reading);
}

void Gateway::tick_hj212(std::int64_t now_ms) {
    // Intervals close on a trusted clock only: their DataTime is what the bureau files them by.
    if (hj212_.empty() || !tracker_.trusted()) return;
    for (auto& platform : hj212_) {
        for (auto& frame : platform.reporter->on_tick(now_ms)) {
            Hj212FrameAppend append;
            append.platform = platform.config->name;
            append.cn = frame.cn;
            append.data_time_ms = frame.data_time_ms;
            // QNs are creation instants; two frames made in one millisecond get two.
            last_qn_ms_ = std::max(now_ms, last_qn_ms_ + 1);
            append.qn = hj212::make_qn(last_qn_ms_, config_.analytics.utc_offset_min);
            append.cp = std::move(frame.cp);
            append.keep_as_history = frame.cn != "2011";  // real-time data has no history request
            pending_.hj212_frames.push_back(std::move(append));
        }
    }
    // Delivered frames older than the longest history any platform keeps leave the store.
    if (now_ms - hj212_pruned_at_ms_ >= kPruneEveryMs) {
        hj212_pruned_at_ms_ = now_ms;
        int days = 0;
        for (const auto& platform : config_.hj212) days = std::max(days, platform.history_days);
        store_->async_hj212_prune(now_ms - days * kMsPerDay, [](Outcome<std::uint64_t> outcome) {
            if (!outcome.ok())
                GW_LOG_ERROR(kLog, "pruning old frames failed: " << outcome.error);
            else if (outcome.value > 0)
                GW_LOG_INFO(kLog, "pruned " << outcome.value << " delivered frame(s) past their "
                                            << "history retention");
        });
    }
}

void Gateway::store_hj212_state() {
    take_hj212_delivered();
    for (auto& platform : hj212_) {
        if (platform.reporter->version() == platform.stored_version) continue;
        platform.stored_version = platform.reporter->version();
        pending_.analytics_state.push_back(
            {state_key(platform.config->name), platform.reporter->state().dump()});
    }
}

void Gateway::take_hj212_delivered() {
    for (auto& platform : hj212_) {
        const auto ids = platform.link->take_delivered();
        pending_.hj212_delivered.insert(pending_.hj212_delivered.end(), ids.begin(), ids.end());
    }
}

void Gateway::hj212_committed(const CommitResult& result, const CommitBatch& batch) {
    for (auto& platform : hj212_) {
        if (!batch.hj212_delivered.empty()) platform.link->delivered_stored(batch.hj212_delivered);
        if (result.hj212_last_id > 0) platform.link->notify_committed();
    }
}

nlohmann::json Gateway::hj212_json(const StoreStats& stats) const {
    nlohmann::json platforms = nlohmann::json::array();
    for (const auto& platform : hj212_) {
        const Hj212LinkStats& s = platform.link->stats();
        platforms.push_back({
            {"name", platform.config->name},
            {"server", platform.config->host + ":" + std::to_string(platform.config->port)},
            {"connected", s.connected},
            {"connects", s.connects},
            {"connection_losses", s.connection_losses},
            {"frames_sent", s.frames_sent},
            {"frames_resent", s.frames_resent},
            {"frames_delivered", s.frames_delivered},
            {"reply_timeouts", s.reply_timeouts},
            {"requests", s.requests},
            {"refused", s.refused},
            {"bad_frames", s.bad_frames},
            {"realtime_interval_s", platform.reporter->realtime_interval_s()},
            {"minute_interval_min", platform.reporter->minute_interval_min()},
            {"late_readings", platform.reporter->late_readings()},
            {"clock_offset_ms",
             s.clock_offset_ms ? nlohmann::json(*s.clock_offset_ms) : nlohmann::json(nullptr)},
            {"last_error", s.last_error},
        });
    }
    return {{"pending", stats.hj212_pending},
            {"history", stats.hj212_history},
            {"platforms", std::move(platforms)}};
}

}  // namespace gw
