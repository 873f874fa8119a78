// SPDX-License-Identifier: Apache-2.0
// The Gateway's side of the remote commands that touch sensors (`read-now`, `set-window`) and
// the process's own usage in health. Kept apart from gateway.cpp, which wires the data path.
#include <cmath>
#include <filesystem>

#include "app/gateway.hpp"
#include "config/config_loader.hpp"
#include "core/log.hpp"
#include "core/process_stats.hpp"
#include "core/time_format.hpp"

namespace gw {

namespace {
using ordered_json = nlohmann::ordered_json;

ordered_json refusal(std::string reason) {
    return {{"error", std::move(reason)}};
}

ordered_json number_or_null(double value) {
    return std::isfinite(value) ? ordered_json(value) : ordered_json(nullptr);
}
}  // namespace

void Gateway::read_now(const std::string& sensor_id, std::function<void(ordered_json)> done) {
    const auto it = sensor_index_.find(sensor_id);
    if (it == sensor_index_.end())
        return done(refusal("unknown sensor \"" + sensor_id + "\" (the birth on " +
                            config_.topic_root() + "/status lists them)"));
    const std::size_t sensor_index = it->second;
    const SensorConfig& sensor = config_.sensors[sensor_index];
    const std::size_t device_index = sensor.device_index;
    const DeviceState& device = devices_[device_index];
    const BusSlot slot =
        device_index < bus_of_device_.size() ? bus_of_device_[device_index] : BusSlot{};

    if (slot.bus == nullptr) {
        // LoRaWAN devices speak when they want to (class A), IIO inputs are read every poll:
        // the latest reading is the freshest there is.
        const auto& last = sensors_[sensor_index].last;
        if (!last)
            return done(refusal("sensor \"" + sensor_id + "\" has no reading yet (device \"" +
                                sensor.device_id + "\" cannot be read on demand)"));
        const auto age_ms = unix_ms(std::chrono::system_clock::now()) - unix_ms(last->sampled_at);
        ordered_json result = {
            {"sensor", sensor.id},
            {"metric", sensor.metric},
            {"unit", sensor.unit},
            {"on_demand", false},
            {"age_s", std::max<std::int64_t>(0, age_ms / 1000)},
            {"sampled_at", format_rfc3339_utc(unix_ms(last->sampled_at))},
            {"quality", to_string(last->quality)},
            {"value", last->quality == SampleQuality::Good ? number_or_null(last->value)
                                                           : ordered_json(nullptr)},
            {"measured", last->measured ? number_or_null(*last->measured) : ordered_json(nullptr)}};
        return done(std::move(result));
    }
    if (device.backed_off)
        // A dead device would cost a full response timeout of line time per request.
        return done(refusal("device \"" + sensor.device_id + "\" is not polled after " +
                            std::to_string(device.consecutive_failures) +
                            " failed polls in a row (last error: " + device.last_error +
                            "); it is probed again automatically"));
    auto& waiting = read_now_waiting_[device_index];
    waiting.push_back({sensor_index, std::move(done)});
    // One extra read serves every request for the device's sensors that arrives meanwhile.
    if (waiting.size() == 1) slot.bus->request_read(slot.local);
}

void Gateway::answer_read_now(std::size_t device_index, const drivers::DeviceSample& sample) {
    const auto it = read_now_waiting_.find(device_index);
    if (it == read_now_waiting_.end()) return;
    std::vector<ReadNowWaiter> waiting = std::move(it->second);
    read_now_waiting_.erase(it);
    const std::string& device_id = config_.devices[device_index].id;
    for (auto& waiter : waiting) {
        if (!sample.ok) {
            waiter.done(refusal("device \"" + device_id + "\" did not answer: " + sample.error));
            continue;
        }
        const SensorConfig& sensor = config_.sensors[waiter.sensor_index];
        const drivers::PointSample& point = sample.points.at(sensor.register_index);
        Reading reading;
        reading.sensor_index = waiter.sensor_index;
        reading.sampled_at = sample.sampled_at;
        reading.raw = point.raw;
        reading.value = point.value;
        reading.quality = sample_quality(sample, point);
        // Field calibration (or the bin's fill %) as for every reading; not a session sample.
        calibration_->apply(waiter.sensor_index, point.value, reading, /*live=*/false);
        const bool good = reading.quality == SampleQuality::Good;
        ordered_json result = {
            {"sensor", sensor.id},
            {"metric", sensor.metric},
            {"unit", sensor.unit},
            {"on_demand", true},
            {"sampled_at", format_rfc3339_utc(unix_ms(sample.sampled_at))},
            {"round_trip_ms", static_cast<double>(sample.round_trip.count()) / 1000.0},
            {"quality", to_string(reading.quality)},
            {"value", good ? number_or_null(reading.value) : ordered_json(nullptr)},
            {"measured",
             reading.measured ? number_or_null(*reading.measured) : ordered_json(nullptr)},
            {"raw", number_or_null(point.raw)}};
        if (!good) result["problem"] = point.error.empty() ? sample.error : point.error;
        waiter.done(std::move(result));
    }
}

void Gateway::set_window(const std::string& sensor_id, std::int64_t window_s,
                         const std::string& origin, std::function<void(ordered_json)> done) {
    const auto it = sensor_index_.find(sensor_id);
    if (it == sensor_index_.end())
        return done(refusal("unknown sensor \"" + sensor_id + "\" (the birth on " +
                            config_.topic_root() + "/status lists them)"));
    const std::size_t index = it->second;
    SensorConfig& sensor = config_.sensors[index];
    const DeviceConfig& device = config_.devices[sensor.device_index];
    if (auto why = window_length_error(window_s); !why.empty())
        return done(refusal("window_s " + std::to_string(window_s) + " " + why));
    if (auto why = window_vs_device_error(window_s, device); !why.empty())
        return done(refusal("window_s " + std::to_string(window_s) + " " + why));
    const std::int64_t previous_s = sensor.window.count();
    ordered_json result = {{"sensor", sensor.id},
                           {"window_s", window_s},
                           {"previous_window_s", previous_s},
                           {"changed", window_s != previous_s}};
    if (window_s == previous_s) return done(std::move(result));

    // The open window ends here (reported like at a stop: partial at best); the next sample
    // opens a window of the new length, aligned to its multiples of wall-clock time.
    SensorState& state = sensors_[index];
    if (auto closed = state.window.close_now()) window_closed(index, *closed);
    sensor.window = std::chrono::seconds(window_s);
    state.window = WindowAggregator(sensor.window, device.poll_period, sensor.coverage_threshold);
    state.stored_version = state.window.version();
    reset_rollups(index);

    const auto now_ms = unix_ms(std::chrono::system_clock::now());
    const std::int64_t file_s = file_window_s_[index];
    SensorSetting setting;
    setting.sensor = sensor.id;
    setting.window_s = window_s;
    setting.config_window_s = file_s;
    setting.changed_ms = now_ms;
    setting.origin = origin;
    setting.remove = window_s == file_s;  // back to the file's value: nothing to remember
    pending_.settings.push_back(std::move(setting));
    OutboxMessage event = event_message("window_changed");
    event.body["sensor"] = sensor.id;
    event.body["window_s"] = window_s;
    event.body["previous_window_s"] = previous_s;
    event.body["origin"] = origin;
    pending_.events.push_back(std::move(event));
    commit();
    GW_LOG_INFO("gateway", "sensor " << sensor.id << ": window " << previous_s << " s -> "
                                     << window_s << " s (" << origin << ")");
    rebirth();  // the birth lists every sensor's window
    result["applies_from"] = format_rfc3339_utc(now_ms);
    done(std::move(result));
}

void Gateway::apply_sensor_settings() {
    file_window_s_.clear();
    for (const auto& sensor : config_.sensors) file_window_s_.push_back(sensor.window.count());
    for (const SensorSetting& setting : store_->sensor_settings_now()) {
        const auto it = sensor_index_.find(setting.sensor);
        if (it == sensor_index_.end()) continue;  // no longer configured: harmless, kept
        const std::size_t index = it->second;
        SensorConfig& sensor = config_.sensors[index];
        const DeviceConfig& device = config_.devices[sensor.device_index];
        const std::string when = format_rfc3339_utc(setting.changed_ms);
        if (setting.config_window_s != file_window_s_[index]) {
            // Someone edited the file since: the file is the newer word.
            GW_LOG_WARN("gateway", "sensor " << sensor.id << ": the configuration file now says "
                                             << "window_s " << file_window_s_[index]
                                             << "; the window of " << setting.window_s << " s set "
                                             << when << " by " << setting.origin
                                             << " no longer applies");
            SensorSetting removal;
            removal.sensor = setting.sensor;
            removal.remove = true;
            pending_.settings.push_back(std::move(removal));
            continue;
        }
        if (!window_length_error(setting.window_s).empty() ||
            !window_vs_device_error(setting.window_s, device).empty())
            continue;  // the device changed under it; the file's value stands
        sensor.window = std::chrono::seconds(setting.window_s);
        sensors_[index].window =
            WindowAggregator(sensor.window, device.poll_period, sensor.coverage_threshold);
        reset_rollups(index);
        GW_LOG_INFO("gateway", "sensor " << sensor.id << ": window " << setting.window_s
                                         << " s (set " << when << " by " << setting.origin
                                         << "; the file says " << file_window_s_[index] << " s)");
    }
}

void Gateway::sample_cpu() {
    const auto usage = read_process_usage();
    const auto now = std::chrono::steady_clock::now();
    if (!usage) return;
    const double cpu_s = usage->cpu_user_s + usage->cpu_system_s;
    if (cpu_sampled_at_ != std::chrono::steady_clock::time_point{})
        cpu_pct_ = cpu_percent(cpu_s_at_sample_, cpu_s,
                               std::chrono::duration<double>(now - cpu_sampled_at_).count());
    cpu_s_at_sample_ = cpu_s;
    cpu_sampled_at_ = now;
}

nlohmann::json Gateway::process_json() const {
    nlohmann::json out = nlohmann::json::object();
    if (const auto usage = read_process_usage()) {
        out["cpu_pct"] = std::round(cpu_pct_ * 100.0) / 100.0;
        out["cpu_s"] = std::round((usage->cpu_user_s + usage->cpu_system_s) * 100.0) / 100.0;
        out["rss_kib"] = usage->rss_kib;
        out["rss_peak_kib"] = usage->rss_peak_kib;
        out["threads"] = usage->threads;
    }
    return out;
}

nlohmann::json Gateway::disk_json() const {
    namespace fs = std::filesystem;
    const fs::path dir = fs::path(config_.storage.path).parent_path();
    const std::string disk_path = dir.empty() ? "." : dir.string();
    nlohmann::json disk = {{"path", disk_path}};
    if (const auto usage = read_disk_usage(disk_path)) {
        disk["total_bytes"] = usage->total_bytes;
        disk["available_bytes"] = usage->available_bytes;
        disk["available_pct"] =
            usage->total_bytes == 0
                ? 0.0
                : std::round(1000.0 * static_cast<double>(usage->available_bytes) /
                             static_cast<double>(usage->total_bytes)) /
                      10.0;
    }
    return disk;
}

}  // namespace gw
