// SPDX-License-Identifier: Apache-2.0
#include "app/gateway.hpp"

#include <boost/asio/post.hpp>
#include <cmath>
#include <filesystem>
#include <mutex>

#include "core/fill_level.hpp"
#include "core/log.hpp"
#include "core/time_format.hpp"
#include "drivers/iio/iio_source.hpp"
#include "towngw/version.hpp"
#include "uplink/ha_discovery.hpp"

namespace gw {

namespace asio = boost::asio;
using ordered_json = nlohmann::ordered_json;

namespace {
/// Windows close this long after their wall-clock end, so a poll answered just before the
/// boundary (and still being posted) lands in the window it belongs to.
constexpr auto kCloseGrace = std::chrono::milliseconds(150);
constexpr auto kStopDeadline = std::chrono::seconds(5);
/// While storage keeps failing, at most this much waits in memory; the oldest goes first.
constexpr std::size_t kMaxUnstoredWindows = 20000;
constexpr std::size_t kMaxUnstoredReadings = 200000;

template <typename T>
void prepend(std::vector<T>& into, std::vector<T>&& front) {
    front.insert(front.end(), std::make_move_iterator(into.begin()),
                 std::make_move_iterator(into.end()));
    into = std::move(front);
}

/// Home Assistant discovery configs (docs/dashboards.md), retained; none when disabled.
void publish_ha_discovery(Uplink& uplink, const Config& config) {
    for (const auto& message : ha::discovery_messages(config, kVersion))
        uplink.publish_direct(message.topic, message.payload, true);
}
}  // namespace

Gateway::Gateway(Config config, asio::io_context& io, std::unique_ptr<ClockSource> clock)
    : config_(std::move(config)),
      io_(io),
      clock_(std::move(clock)),
      tracker_(config_.clock.trust, config_.clock.max_hold),
      tick_timer_(io),
      flush_timer_(io),
      health_timer_(io),
      stop_deadline_(io),
      started_at_(std::chrono::system_clock::now()),
      started_steady_(std::chrono::steady_clock::now()) {
    sensors_of_device_.resize(config_.devices.size());
    devices_.resize(config_.devices.size());
    for (std::size_t i = 0; i < config_.sensors.size(); ++i) {
        const auto& sensor = config_.sensors[i];
        const auto& device = config_.devices[sensor.device_index];
        sensors_.push_back(
            {WindowAggregator(sensor.window, device.poll_period, sensor.coverage_threshold),
             std::nullopt, StuckDetector(sensor.stuck_after_samples), std::string(), false, 0,
             std::nullopt, std::nullopt, 0, 0});
        sensors_of_device_[sensor.device_index].push_back(i);
        sensor_index_[sensor.id] = i;
        reset_rollups(i);
    }
}

Gateway::~Gateway() {
    for (auto& source : sources_) source->stop();
}

void Gateway::start() {
    namespace fs = std::filesystem;
    std::error_code ignored;
    const fs::path db_dir = fs::path(config_.storage.path).parent_path();
    if (!db_dir.empty()) fs::create_directories(db_dir, ignored);

    StoreOptions options;
    options.synchronous = config_.storage.synchronous;
    options.max_bytes = config_.storage.max_bytes;
    options.when_full = config_.storage.when_full;
    options.events_topic = config_.topic_root() + "/events";
    options.event_base = message_base();
    store_ = std::make_unique<StoreWorker>(config_.storage.path, options, io_.get_executor());
    const OpenReport& report = store_->open_report();
    if (!report.moved_aside_to.empty()) {
        GW_LOG_ERROR("store", "database was corrupt (" << report.corruption << "); moved to "
                                                       << report.moved_aside_to);
        raise_alarm("outbox_corrupt", "database failed its integrity check (" + report.corruption +
                                          ") and was moved to " + report.moved_aside_to +
                                          "; messages it held are lost, seqs up to " +
                                          std::to_string(report.seq_resumed_after) +
                                          " may be missing");
    }
    control_ = std::make_unique<ControlServer>(
        io_, config_.control.socket, config_.control.group,
        [this](const nlohmann::json& request, ControlServer::Reply reply) {
            handle_request(request, std::move(reply));
        });

    const std::string status_topic = config_.topic_root() + "/status";
    publisher_ = std::make_unique<PahoPublisher>(
        config_.mqtt, status_topic, offline_payload("connection_lost"), io_.get_executor());
    uplink_ = std::make_unique<Uplink>(config_.mqtt, io_.get_executor(), *store_, *publisher_,
                                       status_topic);
    calibration_ = std::make_unique<CalibrationService>(
        config_, *store_,
        [this](CommitBatch batch, std::function<void(Outcome<CommitResult>)> done) {
            // Not through pending_: the technician waits for this record, not for a flush.
            store_->async_commit(std::move(batch),
                                 [this, done = std::move(done)](Outcome<CommitResult> outcome) {
                                     if (outcome.ok() && !outcome.value.seqs.empty())
                                         uplink_->notify_committed(outcome.value.seqs.back());
                                     done(std::move(outcome));
                                 });
        },
        [this](const std::string& type) { return event_message(type.c_str()); });
    calibration_->load(store_->calibration_history_now());

    // Decide whether the wall clock can be believed before the first reading arrives.
    on_tick();
    apply_sensor_settings();  // before the open windows: they resume with their length
    analytics_ = std::make_unique<AlarmEngine>(config_, [this] { return message_base(); });
    const auto analytics_state = store_->analytics_state_now();
    analytics_->restore(analytics_state);
    flow_bins_ = std::make_unique<FlowBinAnalytics>(config_, [this] { return message_base(); });
    if (flow_bins_->empty())
        flow_bins_.reset();
    else
        flow_bins_->restore(analytics_state);
    build_hj212(analytics_state);
    restore_maintenance(analytics_state);
    recover_open_windows();
    control_->start();
    RemoteCommands::Hooks hooks;
    hooks.message_base = [this] { return message_base(); };
    hooks.publish = [this](const std::string& topic, const std::string& payload,
                           const PublishProperties& properties) {
        uplink_->publish_direct(topic, payload, false, properties);
    };
    hooks.ping = [this] {
        return ordered_json{{"version", kVersion},
                            {"uptime_s", std::chrono::duration_cast<std::chrono::seconds>(
                                             std::chrono::steady_clock::now() - started_steady_)
                                             .count()}};
    };
    hooks.rebirth = [this] { rebirth(); };
    hooks.config = [this] { return redacted_config(); };
    hooks.read_now = [this](const std::string& sensor, std::function<void(ordered_json)> done) {
        read_now(sensor, std::move(done));
    };
    hooks.set_window = [this](const std::string& sensor, std::int64_t window_s,
                              const std::string& origin, std::function<void(ordered_json)> done) {
        set_window(sensor, window_s, origin, std::move(done));
    };
    hooks.buffer_stats = [this](std::function<void(ordered_json)> done) {
        store_->async_stats([done = std::move(done)](Outcome<StoreStats> stats) {
            if (!stats.ok()) return done({{"error", "cannot read the store: " + stats.error}});
            const auto& s = stats.value;
            done({{"depth", s.depth},
                  {"oldest_created_at", s.oldest_created_ms
                                            ? ordered_json(format_rfc3339_utc(s.oldest_created_ms))
                                            : ordered_json(nullptr)},
                  {"bytes_used", s.bytes_used},
                  {"max_bytes", s.max_bytes},
                  {"evicted_total", s.evicted_total},
                  {"rejected_total", s.rejected_total},
                  {"last_seq", s.last_seq},
                  {"open_windows", s.open_windows}});
        });
    };
    commands_ = std::make_unique<RemoteCommands>(config_.topic_root(), std::move(hooks));
    uplink_->set_command_handler(config_.topic_root() + "/cmd/+", [this](IncomingMessage message) {
        commands_->on_message(message, std::chrono::steady_clock::now());
    });
    uplink_->start(
        store_->stats_now().last_seq, [this] { return birth_payload(); },
        [this] {
            publish_health();
            publish_ha_discovery(*uplink_, config_);
            publish_analytics_state();
        });
    build_sources();
    for (auto& source : sources_) source->start();
    start_hj212();
    schedule_tick();
    schedule_flush();
    schedule_health();
    GW_LOG_INFO("gateway", "towngwd " << kVersion << " started: " << config_.devices.size()
                                      << " devices on " << sources_.size() << " sources, "
                                      << config_.sensors.size() << " sensors, topics under "
                                      << config_.topic_root() << "/");
}

void Gateway::recover_open_windows() {
    // Windows that were open when the daemon stopped (or crashed) resume from their stored
    // state, so they are completed, not lost and not counted twice.
    std::size_t resumed = 0, dropped = 0;
    for (const auto& stored : store_->load_open_windows_now()) {
        if (recover_rollup(stored)) {
            ++resumed;
            continue;
        }
        auto it = sensor_index_.find(stored.sensor);
        SensorState* state = it == sensor_index_.end() ? nullptr : &sensors_[it->second];
        if (state != nullptr && stored.window_ms == state->window.window_ms() &&
            state->window.restore(stored.window)) {
            state->stored_version = state->window.version();  // already in the database
            ++resumed;
        } else {
            ++dropped;  // sensor no longer configured, or its window length changed
        }
    }
    if (resumed + dropped > 0)
        GW_LOG_INFO("gateway", "resumed " << resumed << " window(s) open at the last stop"
                                          << (dropped ? " (" + std::to_string(dropped) +
                                                            " no longer match the configuration)"
                                                      : std::string()));
    // Raw readings of open windows written by version 4 of the schema (before open windows
    // were stored as state): replay them once.
    std::vector<StoredReading> stored;
    for (ClockState state :
         {ClockState::Synchronised, ClockState::Corrected, ClockState::Unsynchronised}) {
        auto part = store_->load_readings_now(state);
        stored.insert(stored.end(), std::make_move_iterator(part.begin()),
                      std::make_move_iterator(part.end()));
    }
    std::stable_sort(stored.begin(), stored.end(),
                     [](const StoredReading& a, const StoredReading& b) {
                         return a.sensor != b.sensor ? a.sensor < b.sensor : a.wall_ms < b.wall_ms;
                     });
    std::size_t unknown = 0;
    for (const auto& s : stored) {
        if (!replay(s)) ++unknown;
    }
    if (!stored.empty())
        GW_LOG_INFO("gateway", "recovered " << stored.size() - unknown
                                            << " reading(s) of windows open at the last stop"
                                            << (unknown ? " (" + std::to_string(unknown) +
                                                              " of sensors no longer configured)"
                                                        : std::string()));
}

namespace {
/// {"11": 3}: Modbus exception code (decimal) -> count.
nlohmann::json exceptions_json(const std::map<int, std::uint64_t>& exceptions) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [code, count] : exceptions) out[std::to_string(code)] = count;
    return out;
}
}  // namespace

bool Gateway::replay(const StoredReading& stored) {
    auto it = sensor_index_.find(stored.sensor);
    if (it == sensor_index_.end()) return false;  // sensor no longer configured
    Reading r;
    r.sensor_index = it->second;
    r.raw = stored.raw;
    r.value = stored.value;
    r.quality = stored.quality;
    r.sampled_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(stored.wall_ms));
    r.mono_ms = stored.mono_ms;
    r.clock = stored.clock;
    // Stored readings hold the value before field calibration (and, for bins, the distance).
    calibration_->apply(it->second, stored.value, r, /*live=*/false);
    feed_flow_bins(r);
    feed_hj212(r);
    aggregate(r);
    return true;
}

double flow_rate_unit_ms(const std::string& unit) {
    if (unit == "m3/h" || unit == "L/h") return 3'600'000.0;
    if (unit == "m3/min" || unit == "L/min") return 60'000.0;
    if (unit == "m3/s" || unit == "L/s") return 1'000.0;
    return 0.0;
}

double volume_unit_m3(const std::string& unit) {
    return unit.rfind("L/", 0) == 0 ? 0.001 : 1.0;
}

SampleQuality sample_quality(const drivers::DeviceSample& sample,
                             const drivers::PointSample& point) {
    if (!sample.ok) return sample.stale ? SampleQuality::Stale : SampleQuality::CommError;
    if (point.ok) return SampleQuality::Good;
    switch (point.fault) {
        case drivers::PointFault::None:  // not ok without a reason: treat as undecodable
        case drivers::PointFault::Decode:
            return SampleQuality::DecodeError;
        case drivers::PointFault::Comm:
            return SampleQuality::CommError;
        case drivers::PointFault::Instrument:
            return SampleQuality::InstrumentFault;
        case drivers::PointFault::OverRange:
            return SampleQuality::OverRange;
        case drivers::PointFault::Stale:
            return SampleQuality::Stale;
    }
    return SampleQuality::DecodeError;
}

drivers::SampleHandler Gateway::post_samples_to(std::vector<std::size_t> device_indices) {
    // Runs on the source's thread: translate the source-local index and queue the sample. Only
    // the first sample into an empty queue posts a drain, so a burst of samples (a bus polls
    // the devices due at one moment back to back) wakes the main loop once.
    struct Inbox {
        std::mutex mutex;
        std::vector<std::pair<std::size_t, drivers::DeviceSample>> samples;
    };
    auto inbox = std::make_shared<Inbox>();
    return [this, inbox, device_indices = std::move(device_indices)](drivers::DeviceSample sample) {
        const std::size_t device_index = device_indices.at(sample.device_index);
        bool first = false;
        {
            std::lock_guard lock(inbox->mutex);
            first = inbox->samples.empty();
            inbox->samples.emplace_back(device_index, std::move(sample));
        }
        if (!first) return;
        asio::post(io_, [this, inbox] {
            std::vector<std::pair<std::size_t, drivers::DeviceSample>> batch;
            {
                std::lock_guard lock(inbox->mutex);
                batch.swap(inbox->samples);
            }
            for (auto& [index, queued] : batch) on_sample(index, std::move(queued));
        });
    };
}

void Gateway::build_sources() {
    // --- Modbus: one bus per serial port or TCP endpoint; devices sharing a line are polled
    // by one thread, which serialises every transaction on it.
    std::map<std::string, std::vector<std::size_t>> devices_of_bus;
    std::vector<std::string> bus_order;
    for (std::size_t i = 0; i < config_.devices.size(); ++i) {
        if (config_.devices[i].kind != SourceKind::Modbus) continue;
        const std::string key = modbus::bus_key(config_.devices[i].endpoint);
        if (devices_of_bus.count(key) == 0) bus_order.push_back(key);
        devices_of_bus[key].push_back(i);
    }
    for (const auto& key : bus_order) {
        const auto& device_indices = devices_of_bus[key];
        std::vector<modbus::PolledDevice> polled;
        for (std::size_t i : device_indices) {
            const auto& d = config_.devices[i];
            modbus::PolledDevice polled_device;
            polled_device.id = d.id;
            polled_device.unit_id = d.unit_id;
            polled_device.poll_period = d.poll_period;
            polled_device.response_timeout = d.response_timeout;
            polled_device.profile = d.profile;
            polled_device.retries = d.retries;
            polled_device.backoff_after_failures = d.backoff_after_failures;
            polled_device.backoff = d.backoff;
            polled.push_back(std::move(polled_device));
        }
        const auto& endpoint = config_.devices[device_indices.front()].endpoint;
        auto bus = std::make_unique<modbus::ModbusBus>(endpoint, std::move(polled),
                                                       post_samples_to(device_indices));
        bus_of_device_.resize(config_.devices.size());
        for (std::size_t local = 0; local < device_indices.size(); ++local)
            bus_of_device_[device_indices[local]] = {bus.get(), local};
        GW_LOG_INFO("gateway",
                    "bus " << bus->describe() << ": " << device_indices.size() << " device(s)");
        buses_.push_back(bus.get());
        sources_.push_back(std::move(bus));
    }

    // --- IIO ADC inputs: one thread for all of them (sysfs reads are short; a slow ADC driver
    // delays only the other analog inputs, never a Modbus line).
    std::vector<iio::IioDevice> iio_devices;
    std::vector<std::size_t> iio_device_indices;
    for (std::size_t i = 0; i < config_.devices.size(); ++i) {
        const auto& d = config_.devices[i];
        if (d.kind != SourceKind::Iio) continue;
        iio::IioDevice device;
        device.id = d.id;
        device.directory = d.iio_directory;
        device.poll_period = d.poll_period;
        device.channels = d.iio_channels;
        iio_devices.push_back(std::move(device));
        iio_device_indices.push_back(i);
    }
    if (!iio_devices.empty()) {
        auto source = std::make_unique<iio::IioSource>(std::move(iio_devices),
                                                       post_samples_to(iio_device_indices));
        GW_LOG_INFO("gateway", "analog inputs " << source->describe() << ": "
                                                << iio_device_indices.size() << " device(s)");
        sources_.push_back(std::move(source));
    }

    // --- LoRaWAN through ChirpStack's MQTT integration: one source per broker.
    build_chirpstack_sources();
}

void Gateway::on_sample(std::size_t device_index, drivers::DeviceSample result) {
    if (stopping_) return;
    if (result.on_demand) {  // remote `read-now`: answered, not part of any window
        answer_read_now(device_index, result);
        return;
    }
    DeviceState& device = devices_[device_index];
    const std::string& device_id = config_.devices[device_index].id;
    ++device.polls;
    if (result.backed_off) ++device.skipped;
    if (result.timed_out) ++device.timeouts;
    if (result.crc_error) ++device.crc_errors;
    if (result.exception_code != 0) ++device.exceptions[result.exception_code];
    if (result.ok)
        device.last_round_trip_ms = static_cast<double>(result.round_trip.count()) / 1000.0;
    device.backed_off = result.backed_off;
    // LoRaWAN sources log their own state changes (stale, back again).
    const bool log_state = config_.devices[device_index].kind != SourceKind::Chirpstack;
    const char* log_tag = config_.devices[device_index].kind == SourceKind::Iio ? "iio" : "modbus";
    if (!result.ok) {
        ++device.failures;
        // Log the change of state, not every failed poll.
        if (device.consecutive_failures++ == 0 && log_state)
            GW_LOG_WARN(log_tag, "device " << device_id << ": " << result.error);
        // A back-off tick repeats no news; keep the error that caused the back-off.
        if (!result.backed_off || device.last_error.empty()) device.last_error = result.error;
    } else if (device.consecutive_failures > 0) {
        if (log_state)
            GW_LOG_INFO(log_tag, "device " << device_id << " answers again after "
                                           << device.consecutive_failures << " failed poll(s)");
        device.consecutive_failures = 0;
    }

    const ClockState clock_state = tracker_.reading_state();
    for (std::size_t sensor_index : sensors_of_device_[device_index]) {
        const SensorConfig& sensor = config_.sensors[sensor_index];
        const drivers::PointSample& point = result.points.at(sensor.register_index);
        Reading reading;
        reading.sensor_index = sensor_index;
        reading.sampled_at = result.sampled_at;
        reading.mono_ms = monotonic_ms(result.sampled_mono);
        reading.clock = clock_state;
        reading.raw = point.raw;
        reading.value = point.value;
        reading.quality = sample_quality(result, point);
        SensorState& state = sensors_[sensor_index];
        if (reading.quality == SampleQuality::Good && state.stuck.observe(point.raw))
            reading.quality = SampleQuality::Stuck;
        // A point fault of an answering device (over range, broken loop, tilt, NaN): log when
        // it starts or changes, not on every poll; the device-level error is logged above.
        std::string point_error = reading.quality == SampleQuality::Stuck
                                      ? "value unchanged for " +
                                            std::to_string(sensor.stuck_after_samples) +
                                            " samples or more (stuck)"
                                  : reading.quality == SampleQuality::Good ? std::string()
                                  : point.error.empty()                    ? result.error
                                                                           : point.error;
        if (result.ok && !point_error.empty() && point_error != state.last_error)
            GW_LOG_WARN("gateway", "sensor " << sensor.id << ": " << point_error);
        else if (result.ok && point_error.empty() && !state.last_error.empty() &&
                 state.last_sample_answered)
            GW_LOG_INFO("gateway", "sensor " << sensor.id << " good again");
        state.last_error = std::move(point_error);
        state.last_sample_answered = result.ok;
        // Field calibration (or the bin's fill %), the C flag while a technician calibrates.
        calibration_->apply(sensor_index, point.value, reading);
        reading.maintenance = under_maintenance(sensor_index, unix_ms(reading.sampled_at));
        check_quality(reading);
        sensors_[sensor_index].last = reading;

        if (clock_state != ClockState::Held) {
            if (replaying_) {
                live_during_replay_.push_back(reading);
                continue;
            }
            feed_flow_bins(reading);
            feed_hj212(reading);
            aggregate(reading);  // persisted as the window's state at the next flush
            continue;
        }
        // The clock is not trusted yet: keep the raw reading until it can be re-timed.
        StoredReading stored;
        stored.sensor = sensor.id;
        stored.boot_id = clock_->boot_id();
        stored.mono_ms = reading.mono_ms;
        stored.wall_ms = unix_ms(reading.sampled_at);
        stored.clock = reading.clock;
        stored.raw = reading.raw;
        // Before field calibration: the coefficients are applied when it is aggregated.
        stored.value = reading.measured.value_or(reading.value);
        stored.quality = reading.quality;
        pending_.readings.push_back(std::move(stored));
    }
}

void Gateway::store_open_windows() {
    for (std::size_t i = 0; i < sensors_.size(); ++i) {
        SensorState& state = sensors_[i];
        const auto version = state.window.version();
        if (version == state.stored_version) continue;
        state.stored_version = version;
        const auto& open = state.window.open_window();
        // An empty window has nothing to lose; a closed one already went out with its message.
        if (!open || open->empty()) continue;
        pending_.open_windows.push_back({config_.sensors[i].id, state.window.window_ms(), *open});
    }
    store_analytics_state();
}

void Gateway::aggregate(const Reading& reading) {
    if (auto window = sensors_[reading.sensor_index].window.add(reading)) {
        window_closed(reading.sensor_index, *window);
        commit();
    }
}

void Gateway::schedule_tick() {
    // Wake just after each whole second: windows are whole seconds long.
    const auto now = std::chrono::system_clock::now();
    const auto into_second = now.time_since_epoch() % std::chrono::seconds(1);
    tick_timer_.expires_after(std::chrono::seconds(1) - into_second + kCloseGrace);
    tick_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec || stopping_) return;
        on_tick();
        schedule_tick();
    });
}

void Gateway::on_tick() {
    const ClockSample sample = clock_->sample();
    const auto update = tracker_.observe(sample);
    if (update.step_ms) {
        // A stepped clock would put new samples into old windows (or skip many): close what is
        // open as partial and start afresh at the new time.
        GW_LOG_WARN("clock", "system clock stepped by " << *update.step_ms << " ms");
        for (std::size_t i = 0; i < sensors_.size(); ++i)
            if (auto window = sensors_[i].window.close_now()) window_closed(i, *window);
        auto event = event_message("clock_step");
        event.body["step_ms"] = *update.step_ms;
        pending_.events.push_back(std::move(event));
        commit();
    }
    if (update.became_trusted) {
        clear_alarm("clock_unsynchronised", "system clock synchronised");
        release_held(tracker_.offset_ms());
    } else if (update.hold_expired) {
        GW_LOG_WARN("clock", "clock still unsynchronised after "
                                 << config_.clock.max_hold.count()
                                 << " s: publishing readings flagged");
        release_held(std::nullopt);
    }
    if (!tracker_.trusted() && alarms_.count("clock_unsynchronised") == 0)
        raise_alarm("clock_unsynchronised",
                    tracker_.holding() ? "system clock not synchronised: holding readings"
                                       : "system clock not synchronised: readings are flagged");

    calibration_->on_tick(sample.wall_ms);
    end_due_maintenance(sample.wall_ms);
    if (replaying_) return;
    const auto now =
        std::chrono::system_clock::time_point(std::chrono::milliseconds(sample.wall_ms)) -
        kCloseGrace;
    bool closed_any = false;
    for (std::size_t i = 0; i < sensors_.size(); ++i) {
        if (auto window = sensors_[i].window.close_due(now)) {
            window_closed(i, *window);
            closed_any = true;
        }
    }
    close_due_rollups(now);
    if (flow_bins_) {
        std::vector<AnalyticsMessage> out;
        flow_bins_->on_tick(sample.wall_ms, out);
        route(std::move(out));
    }
    tick_hj212(sample.wall_ms);
    if (closed_any || !pending_.windows.empty() || !pending_.events.empty() ||
        !pending_.hj212_frames.empty())
        commit();
}

void Gateway::release_held(std::optional<std::int64_t> offset_ms) {
    // Readings still waiting for a trustworthy clock: stored ones first (pending ones are
    // stored before the release runs, in order, on the database thread).
    replaying_ = true;
    commit();
    store_->async_release_held(
        clock_->boot_id(), offset_ms, [this](Outcome<std::vector<StoredReading>> outcome) {
            if (!outcome.ok())
                GW_LOG_ERROR("clock", "releasing held readings failed: " << outcome.error);
            for (const auto& s : outcome.value) replay(s);
            if (!outcome.value.empty())
                GW_LOG_INFO("clock", "released " << outcome.value.size() << " held reading(s)");
            replaying_ = false;
            for (const auto& r : live_during_replay_) {
                feed_flow_bins(r);
                feed_hj212(r);
                aggregate(r);
            }
            live_during_replay_.clear();
        });
}

void Gateway::schedule_flush() {
    flush_timer_.expires_after(config_.storage.flush_interval);
    flush_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec || stopping_) return;
        store_open_windows();
        commit();
        schedule_flush();
    });
}

void Gateway::commit() {
    // One batch at a time, so that seqs follow the order in which windows closed.
    if (in_flight_ || pending_.empty()) return;
    if (uplink_) {
        auto acks = uplink_->take_acks();
        pending_.acks.insert(pending_.acks.end(), acks.begin(), acks.end());
    }
    take_hj212_delivered();
    in_flight_ = std::move(pending_);
    pending_ = CommitBatch{};
    store_->async_commit(
        *in_flight_, [this](Outcome<CommitResult> outcome) { on_committed(std::move(outcome)); });
}

void Gateway::on_committed(Outcome<CommitResult> outcome) {
    CommitBatch batch = std::move(*in_flight_);
    in_flight_.reset();
    if (!outcome.ok()) {
        ++write_failures_;
        if (outcome.storage_failure) {
            raise_alarm("disk_full", "cannot write the database: " + outcome.error,
                        /*storable=*/false);
        } else {
            GW_LOG_ERROR("store", "commit failed: " << outcome.error);
        }
        // Keep it for the next flush (in front of what came since), within bounds.
        prepend(pending_.readings, std::move(batch.readings));
        prepend(pending_.windows, std::move(batch.windows));
        prepend(pending_.events, std::move(batch.events));
        prepend(pending_.settings, std::move(batch.settings));
        prepend(pending_.acks, std::move(batch.acks));
        prepend(pending_.hj212_frames, std::move(batch.hj212_frames));
        prepend(pending_.hj212_delivered, std::move(batch.hj212_delivered));
        if (pending_.readings.size() > kMaxUnstoredReadings) {
            const auto excess = pending_.readings.size() - kMaxUnstoredReadings;
            pending_.readings.erase(
                pending_.readings.begin(),
                pending_.readings.begin() + static_cast<std::ptrdiff_t>(excess));
        }
        if (pending_.windows.size() > kMaxUnstoredWindows) {
            const auto excess = pending_.windows.size() - kMaxUnstoredWindows;
            unstored_dropped_ += excess;
            pending_.windows.erase(pending_.windows.begin(),
                                   pending_.windows.begin() + static_cast<std::ptrdiff_t>(excess));
        }
        return;  // retried by the flush timer, not in a hot loop
    }
    const CommitResult& result = outcome.value;
    if (result.evicted)
        GW_LOG_WARN("store", "outbox full: evicted "
                                 << result.evicted->count << " oldest message(s), seq "
                                 << result.evicted->first_seq << ".." << result.evicted->last_seq);
    if (result.rejected > 0)
        GW_LOG_WARN("store", "outbox full: rejected " << result.rejected << " new message(s)");
    if (alarms_.count("disk_full")) clear_alarm("disk_full", "database writes succeed again");
    if (!result.seqs.empty()) uplink_->notify_committed(result.seqs.back());
    hj212_committed(result, batch);
    if (!pending_.windows.empty() || !pending_.events.empty() || !pending_.hj212_frames.empty())
        commit();
}

void Gateway::raise_alarm(const std::string& name, const std::string& message, bool storable) {
    if (alarms_.count(name)) return;
    alarms_[name] = message;
    GW_LOG_WARN("alarm", name << " raised: " << message);
    auto event = event_message("alarm");
    event.body["alarm"] = name;
    event.body["state"] = "raised";
    event.body["message"] = message;
    if (storable) {
        pending_.events.push_back(std::move(event));
        commit();
    } else if (uplink_) {
        // Storage is what failed: say it directly, without a seq.
        uplink_->publish_direct(event.topic, event.body.dump(), false);
    }
}

void Gateway::clear_alarm(const std::string& name, const std::string& message) {
    if (alarms_.erase(name) == 0) return;
    GW_LOG_INFO("alarm", name << " cleared: " << message);
    auto event = event_message("alarm");
    event.body["alarm"] = name;
    event.body["state"] = "cleared";
    event.body["message"] = message;
    pending_.events.push_back(std::move(event));
    commit();
}

ordered_json Gateway::message_base() const {
    ordered_json body;
    body["v"] = 1;
    body["town_id"] = config_.gateway.town_id;
    body["gateway_id"] = config_.gateway.gateway_id;
    return body;
}

OutboxMessage Gateway::event_message(const char* type) const {
    ordered_json body = message_base();
    body["seq"] = nullptr;  // assigned by the store at commit
    body["type"] = type;
    body["time"] = format_rfc3339_utc(unix_ms(std::chrono::system_clock::now()));
    return {config_.topic_root() + "/events", std::move(body)};
}

WindowCommit Gateway::window_commit(std::size_t sensor_index, const WindowSummary& w,
                                    const char* kind) const {
    const SensorConfig& sensor = config_.sensors[sensor_index];
    auto optional_number = [](const std::optional<double>& v) {
        return v ? ordered_json(*v) : ordered_json(nullptr);
    };
    ordered_json body = message_base();
    body["seq"] = nullptr;  // assigned by the store at commit
    body["sensor"] = sensor.id;
    body["device"] = sensor.device_id;
    body["metric"] = sensor.metric;
    body["unit"] = sensor.unit;
    body["window_start"] = format_rfc3339_utc(w.start_ms);
    body["window_end"] = format_rfc3339_utc(w.end_ms);
    body["window_s"] = (w.end_ms - w.start_ms) / 1000;
    body["count"] = w.count;
    body["expected"] = w.expected;
    body["failed"] = w.failed;
    body["min"] = optional_number(w.min);
    body["max"] = optional_number(w.max);
    body["mean"] = optional_number(w.mean);
    body["last"] = optional_number(w.last);
    body["first"] = optional_number(w.first);
    body["stddev"] = optional_number(w.stddev);
    body["time_weighted_mean"] = optional_number(w.time_weighted_mean);
    body["coverage"] = std::round(w.coverage * 1000.0) / 1000.0;
    // A flow rate's integral over the window is the volume that passed (v1.3).
    if (const double ms_per_unit_time = flow_rate_unit_ms(sensor.unit); ms_per_unit_time > 0)
        body["volume"] = {
            {"integrated_m3", w.integral / ms_per_unit_time * volume_unit_m3(sensor.unit)},
            {"covered_s", static_cast<double>(w.covered_ms) / 1000.0}};
    // Before the field calibration: a platform can recompute history after a bad one.
    body["measured"] = {{"min", optional_number(w.measured_min)},
                        {"max", optional_number(w.measured_max)},
                        {"mean", optional_number(w.measured_mean)},
                        {"last", optional_number(w.measured_last)}};
    const auto now_ms = unix_ms(std::chrono::system_clock::now());
    body["calibration"] = {{"version", calibration_->version(sensor_index)},
                           {"state", calibration_->state(sensor_index, now_ms)}};
    body["quality"] = to_string(w.quality);
    body["flag"] = std::string(1, w.flag);
    ordered_json faults = ordered_json::object();
    for (int q = 1; q < kSampleQualityCount; ++q)
        faults[to_string(static_cast<SampleQuality>(q))] = w.faults[static_cast<std::size_t>(q)];
    body["faults"] = faults;
    body["clock"] = to_string(w.clock);
    body["historical"] = !(uplink_ && uplink_->connected());
    const bool own_window = std::string(kind) == "data";
    return {own_window ? sensor.id : sensor.id + "@" + kind,
            w.end_ms,
            {config_.topic_root() + "/" + kind + "/" + sensor.id, std::move(body)},
            w.end_ms - w.start_ms};
}

nlohmann::json Gateway::sensor_list() const {
    nlohmann::json list = nlohmann::json::array();
    const auto now_ms = unix_ms(std::chrono::system_clock::now());
    for (std::size_t i = 0; i < config_.sensors.size(); ++i) {
        const auto& s = config_.sensors[i];
        list.push_back(
            {{"id", s.id},
             {"device", s.device_id},
             {"metric", s.metric},
             {"unit", s.unit},
             {"window_s", s.window.count()},
             {"calibration",
              {{"version", calibration_->version(i)}, {"state", calibration_->state(i, now_ms)}}}});
    }
    return list;
}

ordered_json Gateway::redacted_config() const {
    const auto& m = config_.mqtt;
    ordered_json mqtt = {{"broker", m.broker},
                         {"client_id", m.client_id},
                         {"topic_prefix", m.topic_prefix},
                         {"username", m.username},
                         {"password", m.password.empty() ? "" : "(set, not shown)"},
                         {"keepalive_s", m.keepalive_s},
                         {"reconnect_min_s", m.reconnect_min_s},
                         {"reconnect_max_s", m.reconnect_max_s},
                         {"max_inflight", m.max_inflight},
                         {"backlog_rate", m.backlog_rate}};
    mqtt["protocol_version"] = m.protocol_version == MqttVersion::V5 ? "5" : "3.1.1";
    if (m.tls)
        mqtt["tls"] = {{"ca_file", m.tls->ca_file},
                       {"cert_file", m.tls->cert_file},
                       {"key_file", m.tls->key_file.empty() ? "" : "(set, not shown)"},
                       {"verify_hostname", m.tls->verify_hostname}};
    ordered_json devices = ordered_json::array();
    for (const auto& d : config_.devices)
        devices.push_back({{"id", d.id},
                           {"source", d.kind == SourceKind::Modbus       ? "modbus"
                                      : d.kind == SourceKind::Chirpstack ? "chirpstack"
                                                                         : "iio"},
                           {"poll_ms", d.poll_period.count()}});
    ordered_json sensors = ordered_json::array();
    for (const auto& s : config_.sensors)
        sensors.push_back({{"id", s.id},
                           {"device", s.device_id},
                           {"register", s.register_name},
                           {"window_s", s.window.count()},
                           {"metric", s.metric},
                           {"unit", s.unit},
                           {"calibration_model", s.calibration.model}});
    return {{"gateway",
             {{"town_id", config_.gateway.town_id},
              {"gateway_id", config_.gateway.gateway_id},
              {"health_interval_s", config_.gateway.health_interval.count()}}},
            {"mqtt", mqtt},
            {"storage",
             {{"path", config_.storage.path},
              {"max_bytes", config_.storage.max_bytes},
              {"flush_interval_ms", config_.storage.flush_interval.count()}}},
            {"home_assistant",
             {{"enabled", config_.home_assistant.enabled},
              {"discovery_prefix", config_.home_assistant.discovery_prefix}}},
            {"devices", devices},
            {"sensors", sensors}};
}

std::string Gateway::birth_payload() const {
    ordered_json body = message_base();
    body["state"] = "online";
    body["version"] = kVersion;
    body["started_at"] = format_rfc3339_utc(unix_ms(started_at_));
    body["sensors"] = sensor_list();
    return body.dump();
}

void Gateway::rebirth() {
    uplink_->publish_direct(config_.topic_root() + "/status", birth_payload(), true);
    publish_ha_discovery(*uplink_, config_);  // windows may have changed: expire_after follows
}

std::string Gateway::offline_payload(const char* reason) const {
    ordered_json body = message_base();
    body["state"] = "offline";
    body["reason"] = reason;
    body["started_at"] = format_rfc3339_utc(unix_ms(started_at_));
    return body.dump();
}

nlohmann::json Gateway::devices_json() const {
    nlohmann::json devices = nlohmann::json::array();
    for (std::size_t i = 0; i < config_.devices.size(); ++i) {
        const auto& d = devices_[i];
        const auto& device = config_.devices[i];
        nlohmann::json entry = {{"id", device.id},
                                {"polls", d.polls},
                                {"failures", d.failures},
                                {"online", d.polls > 0 && d.consecutive_failures == 0},
                                {"last_error", d.last_error}};
        if (device.kind == SourceKind::Modbus) {
            entry["endpoint"] = modbus::describe(device.endpoint);
            entry["unit_id"] = device.unit_id;
            entry["skipped_backoff"] = d.skipped;
            entry["timeouts"] = d.timeouts;
            entry["crc_errors"] = d.crc_errors;
            entry["exceptions"] = exceptions_json(d.exceptions);
            entry["last_round_trip_ms"] = d.last_round_trip_ms;
            entry["backed_off"] = d.backed_off;
            if (i < bus_of_device_.size() && bus_of_device_[i].bus != nullptr) {
                const auto& [bus, local] = bus_of_device_[i];
                const auto share = bus->device_stats(local);
                const auto bus_stats = bus->stats();
                entry["transactions"] = share.transactions;
                entry["bus_time_pct"] = bus_stats.elapsed_ms > 0
                                            ? 100.0 * share.busy_ms_total / bus_stats.elapsed_ms
                                            : 0.0;
            }
        }
        if (device.kind == SourceKind::Chirpstack) add_lorawan_fields(i, entry);
        devices.push_back(std::move(entry));
    }
    return devices;
}

nlohmann::json Gateway::buses_json() const {
    nlohmann::json buses = nlohmann::json::array();
    for (const auto* bus : buses_) {
        const auto stats = bus->stats();
        nlohmann::json ids = nlohmann::json::array();
        for (const auto& device : bus->devices()) ids.push_back(device.id);
        nlohmann::json entry = {{"endpoint", bus->describe()},
                                {"devices", ids},
                                {"transactions", stats.transactions},
                                {"reconnects", stats.reconnects},
                                {"utilisation_pct", stats.utilisation_pct},
                                {"utilisation_pct_total", stats.utilisation_pct_total},
                                {"busy_ms_total", stats.busy_ms_total},
                                {"elapsed_ms", stats.elapsed_ms}};
        if (const auto line = modbus::line_framing(bus->endpoint()))
            entry["t3_5_ms"] = modbus::t3_5_us(*line) / 1000.0;
        buses.push_back(std::move(entry));
    }
    return buses;
}

nlohmann::json Gateway::health_json(const StoreStats& stats) const {
    const auto now_ms = unix_ms(std::chrono::system_clock::now());
    const UplinkStats& up = uplink_->stats();
    nlohmann::json alarms = nlohmann::json::array();
    for (const auto& [name, message] : alarms_) alarms.push_back(name);
    return {
        {"uptime_s", std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::steady_clock::now() - started_steady_)
                         .count()},
        {"outbox",
         {{"depth", stats.depth},
          {"oldest_age_s",
           stats.oldest_created_ms == 0
               ? 0
               : std::max<std::int64_t>(0, (now_ms - stats.oldest_created_ms) / 1000)},
          {"bytes_used", stats.bytes_used},
          {"max_bytes", stats.max_bytes},
          {"evicted_total", stats.evicted_total},
          {"rejected_total", stats.rejected_total},
          {"last_seq", stats.last_seq},
          {"open_window_readings", stats.readings},
          {"open_windows", stats.open_windows},
          {"write_failures", write_failures_},
          {"unstored_dropped", unstored_dropped_}}},
        {"mqtt",
         {{"connected", up.connected},
          {"broker", uplink_->broker()},
          {"connects", up.connects},
          {"connection_losses", up.connection_losses},
          {"published", up.published},
          {"publish_failures", up.publish_failures},
          {"inflight", up.inflight},
          {"last_error", up.last_error}}},
        {"process", process_json()},
        {"disk", disk_json()},
        {"alarms", alarms},
        {"clock", {{"trusted", tracker_.trusted()}, {"holding", tracker_.holding()}}},
        {"devices", devices_json()},
        {"buses", buses_json()},
        {"lorawan", lorawan_json()},
        {"commands", commands_ ? nlohmann::json::parse(commands_->stats_json().dump())
                               : nlohmann::json::object()},
        {"analytics", analytics_json()},
        {"hj212", hj212_json(stats)},
    };
}

void Gateway::publish_health() {
    sample_cpu();
    store_->async_stats([this](Outcome<StoreStats> stats) {
        if (!stats.ok() || stopping_) return;
        ordered_json body = message_base();
        body["time"] = format_rfc3339_utc(unix_ms(std::chrono::system_clock::now()));
        nlohmann::json health = health_json(stats.value);
        for (auto& [key, value] : health.items()) body[key] = std::move(value);
        // MQTT 5: a health message still queued for an offline subscriber after two intervals
        // is stale (a newer one exists): the broker drops it (ignored with 3.1.1).
        PublishProperties properties;
        properties.message_expiry_s =
            static_cast<std::uint32_t>(2 * config_.gateway.health_interval.count());
        uplink_->publish_direct(config_.topic_root() + "/health", body.dump(), false, properties);
    });
}

void Gateway::schedule_health() {
    health_timer_.expires_after(config_.gateway.health_interval);
    health_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec || stopping_) return;
        publish_health();
        schedule_health();
    });
}

void Gateway::handle_request(const nlohmann::json& request, ControlServer::Reply reply) {
    const auto cmd = request.find("cmd");
    if (cmd == request.end() || !cmd->is_string()) {
        reply({{"ok", false}, {"error", "missing \"cmd\" (a string)"}});
        return;
    }
    if (*cmd == "maintenance") {
        maintenance_request(request, std::move(reply));
        return;
    }
    if (*cmd != "status") {
        calibration_->handle(cmd->get<std::string>(), request, std::move(reply));
        return;
    }
    store_->async_stats([this, reply = std::move(reply)](Outcome<StoreStats> stats) {
        if (!stats.ok()) {
            reply({{"ok", false}, {"error", "cannot read the store: " + stats.error}});
            return;
        }
        nlohmann::json status = health_json(stats.value);
        status["version"] = kVersion;
        status["town_id"] = config_.gateway.town_id;
        status["gateway_id"] = config_.gateway.gateway_id;
        status["started_at"] = format_rfc3339_utc(unix_ms(started_at_));
        nlohmann::json alarm_details = nlohmann::json::object();
        for (const auto& [name, message] : alarms_) alarm_details[name] = message;
        status["alarm_messages"] = alarm_details;
        nlohmann::json sensors = nlohmann::json::array();
        for (std::size_t i = 0; i < config_.sensors.size(); ++i) {
            const auto& s = config_.sensors[i];
            const auto& last = sensors_[i].last;
            nlohmann::json entry = {{"id", s.id},           {"device", s.device_id},
                                    {"metric", s.metric},   {"unit", s.unit},
                                    {"last", nullptr},      {"quality", "no_data"},
                                    {"updated_at", nullptr}};
            if (last) {
                if (last->quality == SampleQuality::Good) entry["last"] = last->value;
                entry["quality"] = to_string(last->quality);
                if (!sensors_[i].last_error.empty()) entry["error"] = sensors_[i].last_error;
                entry["updated_at"] = format_rfc3339_utc(unix_ms(last->sampled_at));
            }
            entry["calibrating"] = calibration_->calibrating(i);
            entry["maintenance"] = maintenance_json(i);
            entry["calibration"] =
                calibration_->state(i, unix_ms(std::chrono::system_clock::now()));
            sensors.push_back(std::move(entry));
        }
        status["sensors"] = std::move(sensors);
        // Moved, not copied: at 200 sensors the document is ~0.3 MB and every copy of it was
        // part of the daemon's peak RSS (docs/benchmarks.md, memory).
        nlohmann::json response = nlohmann::json::object();
        response["ok"] = true;
        response["status"] = std::move(status);
        reply(std::move(response));
    });
}

void Gateway::stop(const char* reason) {
    if (stopping_) return;
    stopping_ = true;
    tick_timer_.cancel();
    flush_timer_.cancel();
    health_timer_.cancel();
    // Bus threads finish their current transaction (bounded by the response timeout).
    for (auto& source : sources_) source->stop();
    stop_hj212();  // unacknowledged frames stay in the store and go out after the restart
    // Open windows stay open: their state is stored and they resume at the next start.
    // The database thread runs every queued job before it exits, so this last batch lands.
    store_open_windows();
    if (!pending_.empty()) {
        store_->async_commit(std::move(pending_), [](Outcome<CommitResult> outcome) {
            if (!outcome.ok()) GW_LOG_ERROR("store", "final commit failed: " << outcome.error);
        });
        pending_ = CommitBatch{};
    }
    auto finished = std::make_shared<bool>(false);
    auto finish = [this, finished] {
        if (*finished) return;
        *finished = true;
        stop_deadline_.cancel();
        control_->stop();
        store_->stop();  // drains queued writes, then joins the database thread
        GW_LOG_INFO("gateway", "stopped");
        io_.stop();
    };
    stop_deadline_.expires_after(kStopDeadline);
    stop_deadline_.async_wait([this, finish](const boost::system::error_code& ec) {
        if (ec) return;
        GW_LOG_WARN("gateway", "broker did not confirm the offline status in time");
        finish();
    });
    uplink_->shutdown(offline_payload(reason), finish);
}

}  // namespace gw
