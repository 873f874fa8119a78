// SPDX-License-Identifier: Apache-2.0
// The composition root: owns the buses, the per-sensor windows, the store, the uplink and the
// control socket, and wires them together on the one main io_context.
//
//   bus threads --post--> on_poll_result --+--> pending readings --(flush)--+
//   (libmodbus)                            |                                v
//                                          +--> WindowAggregator --closed--> StoreWorker
//                                                                       (SQLite thread)
//                                            Uplink <--peek/ack-- StoreWorker
//                                              |--publish QoS 1--> PahoPublisher --> broker
//
// Raw readings are committed every flush interval and closed windows at once, each batch in
// one transaction; a closed window and the deletion of its readings commit together.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "app/alarm_engine.hpp"
#include "app/calibration_service.hpp"
#include "app/control_server.hpp"
#include "app/flow_bin_analytics.hpp"
#include "app/remote_commands.hpp"
#include "buffer/store_worker.hpp"
#include "config/config.hpp"
#include "core/clock.hpp"
#include "core/reading.hpp"
#include "core/stuck_detector.hpp"
#include "core/window_aggregator.hpp"
#include "drivers/lorawan/chirpstack_source.hpp"
#include "drivers/modbus_bus.hpp"
#include "hj212/reporter.hpp"
#include "uplink/hj212_link.hpp"
#include "uplink/paho_publisher.hpp"
#include "uplink/uplink.hpp"

namespace gw {

/// How one point of a device sample counts (device failure is data: a quality, not silence).
SampleQuality sample_quality(const drivers::DeviceSample& sample,
                             const drivers::PointSample& point);

class Gateway {
public:
    Gateway(Config config, boost::asio::io_context& io,
            std::unique_ptr<ClockSource> clock = std::make_unique<SystemClockSource>());
    ~Gateway();

    /// Opens the store (recovering open windows) and the control socket (throws on failure),
    /// then starts polling and the uplink.
    void start();

    /// Graceful stop: polling ends, pending readings and open windows are stored, the broker
    /// gets the retained offline status with `reason` ("shutdown", "reload"; bounded by a
    /// deadline), the database thread drains, and run() on the io_context returns. Once only.
    void stop(const char* reason);
    bool stopping() const { return stopping_; }

private:
    struct SensorState {
        WindowAggregator window;
        std::optional<Reading> last;
        StuckDetector stuck;
        std::string last_error;            ///< why the last sample was not good; empty when it was
        bool last_sample_answered{false};  ///< the device answered (point faults are ours to log)
        std::uint64_t stored_version{0};   ///< window.version() when its state was last stored
        /// Hourly and daily aggregates of the window means (none when the window is as long).
        std::optional<WindowAggregator> hourly;
        std::optional<WindowAggregator> daily;
        std::uint64_t hourly_stored_version{0};
        std::uint64_t daily_stored_version{0};
    };
    struct DeviceState {
        std::uint64_t polls{0};
        std::uint64_t failures{0};
        std::uint64_t skipped{0};  ///< periods not polled because of back-off
        std::uint64_t timeouts{0};
        std::uint64_t crc_errors{0};
        std::map<int, std::uint64_t> exceptions;  ///< Modbus exception code -> count
        double last_round_trip_ms{0};
        bool backed_off{false};
        std::uint64_t consecutive_failures{0};
        std::string last_error;
    };

    void recover_open_windows();
    /// Queues the state of every open window that changed since it was last stored.
    void store_open_windows();
    void build_sources();
    /// Wraps a source's sample handler: translates its device index to ours and posts the
    /// sample onto the io_context.
    drivers::SampleHandler post_samples_to(std::vector<std::size_t> device_indices);
    void on_sample(std::size_t device_index, drivers::DeviceSample sample);
    void aggregate(const Reading& reading);
    /// Feeds a stored reading back into its window; false if its sensor is not configured.
    bool replay(const StoredReading& stored);
    void schedule_tick();
    void on_tick();
    void release_held(std::optional<std::int64_t> offset_ms);
    void schedule_flush();
    void commit();
    void on_committed(Outcome<CommitResult> outcome);
    void raise_alarm(const std::string& name, const std::string& message, bool storable = true);
    void clear_alarm(const std::string& name, const std::string& message);
    nlohmann::ordered_json message_base() const;  ///< v, town_id, gateway_id
    OutboxMessage event_message(const char* type) const;
    /// The stored message of a closed window; `kind` "data" (the sensor's windows), "hourly"
    /// or "daily" (its aggregates), also the topic level.
    WindowCommit window_commit(std::size_t sensor_index, const WindowSummary& window,
                               const char* kind = "data") const;
    nlohmann::json sensor_list() const;
    std::string birth_payload() const;
    /// Re-sends the retained birth (remote `rebirth`, a changed sensor setting).
    void rebirth();
    /// The running configuration for `get-config`: no password, no key material.
    nlohmann::ordered_json redacted_config() const;
    std::string offline_payload(const char* reason) const;
    nlohmann::json devices_json() const;  ///< per-device poll statistics
    nlohmann::json buses_json() const;    ///< per-bus line utilisation
    nlohmann::json health_json(const StoreStats& stats) const;
    void publish_health();
    void schedule_health();
    void handle_request(const nlohmann::json& request, ControlServer::Reply reply);

    // --- Remote commands that touch sensors, and the process's own usage (gateway_commands.cpp)
    /// `read-now`: an extra read of the sensor's device on its bus (Modbus), or the latest
    /// reading with its age (LoRaWAN and IIO devices, which cannot be asked on demand).
    void read_now(const std::string& sensor_id, std::function<void(nlohmann::ordered_json)> done);
    /// Answers the `read-now` requests that wait for this extra read of a device.
    void answer_read_now(std::size_t device_index, const drivers::DeviceSample& sample);
    /// `set-window`: closes the open window, continues with the new length, persists the
    /// change (with a `window_changed` event) and re-sends the birth.
    void set_window(const std::string& sensor_id, std::int64_t window_s, const std::string& origin,
                    std::function<void(nlohmann::ordered_json)> done);
    /// At start: window lengths set at run time replace the file's while the file still says
    /// what it said when they were set.
    void apply_sensor_settings();
    /// Resident memory and CPU (averaged since the last health message).
    nlohmann::json process_json() const;
    /// Size and free space of the file system holding the outbox.
    nlohmann::json disk_json() const;
    /// Samples CPU time for process_json()'s average; called once per health message.
    void sample_cpu();

    // --- Edge analytics (gateway_analytics.cpp)
    /// A window of a sensor closed: stored, fed to the hourly and daily aggregates and to the
    /// alarms. Every window close goes through here.
    void window_closed(std::size_t sensor_index, const WindowSummary& window);
    /// An hourly or daily aggregate closed.
    void rollup_closed(std::size_t sensor_index, analytics::Averaging basis,
                       const WindowSummary& rollup);
    /// (Re)creates a sensor's hourly and daily aggregates for its window length, keeping what
    /// they hold.
    void reset_rollups(std::size_t sensor_index);
    /// Closes the hourly and daily aggregates that are due at `now`.
    void close_due_rollups(std::chrono::system_clock::time_point now);
    /// Stored messages go into the next commit; retained ones are published at once.
    void route(std::vector<AnalyticsMessage> messages);
    /// Alarm, quality-check and flow/bin counters for health.
    nlohmann::json analytics_json() const;
    /// The analytics' retained state, after each connect.
    void publish_analytics_state();
    /// Open rollups and analytics state that changed, for the next flush.
    void store_analytics_state();
    /// A stored open window whose key names a rollup ("water1.ph@hourly"): resumed; false if
    /// the key is not a rollup of a configured sensor.
    bool recover_rollup(const StoredOpenWindow& stored);
    /// Quality checks of a good live sample (may turn it into a spike or stuck sample).
    void check_quality(Reading& reading);
    /// Every reading with a trusted (or finally corrected) time, to the flow and bin analytics.
    void feed_flow_bins(const Reading& reading);

    // --- HJ 212 reporting (gateway_hj212.cpp)
    hj212::ReporterConfig reporter_config(const Hj212PlatformConfig& platform) const;
    /// A reporter (resumed from `stored_state`) and a link per configured platform.
    void build_hj212(const std::vector<AnalyticsStateRow>& stored_state);
    void start_hj212();
    void stop_hj212();
    /// Every reading with a trusted (or finally corrected) time.
    void feed_hj212(const Reading& reading);
    /// Frames due at `now_ms` into the next commit; prunes old history hourly.
    void tick_hj212(std::int64_t now_ms);
    /// Reporter state that changed, for the next flush.
    void store_hj212_state();
    /// Acknowledged frames into the next commit (at each flush, and with any other commit).
    void take_hj212_delivered();
    /// A commit succeeded: acknowledgements are stored, new frames are there to send.
    void hj212_committed(const CommitResult& result, const CommitBatch& batch);
    /// A stored `hj212` event of platform `index` (docs/mqtt.md).
    OutboxMessage hj212_event(std::size_t index, const char* action) const;
    /// A platform changed an interval (1062/1064): logged, announced as an event, persisted.
    void hj212_setting_changed(std::size_t index, const char* setting, int value);
    nlohmann::json hj212_json(const StoreStats& stats) const;

    // --- Maintenance mode (gateway_maintenance.cpp)
    /// `maintenance` on the control socket: start or extend (minutes, technician, reason), end,
    /// or list (no sensor).
    void maintenance_request(const nlohmann::json& request, ControlServer::Reply reply);
    bool under_maintenance(std::size_t sensor, std::int64_t t_ms) const;
    nlohmann::json maintenance_json(std::size_t sensor) const;  ///< null when not under it
    void restore_maintenance(const std::vector<AnalyticsStateRow>& rows);
    /// Ends the maintenance periods whose time is up (once a second).
    void end_due_maintenance(std::int64_t now_ms);
    /// Stores the sensor's maintenance state (or its end) with an event saying `state`.
    void maintenance_changed(std::size_t sensor, const char* state, const std::string& why);

    // --- LoRaWAN (gateway_lorawan.cpp)
    void build_chirpstack_sources();
    /// Adds a ChirpStack device's uplink counters to its `devices` entry.
    void add_lorawan_fields(std::size_t device_index, nlohmann::json& entry) const;
    nlohmann::json lorawan_json() const;  ///< per-broker connection and unknown-device counts

    Config config_;
    boost::asio::io_context& io_;
    std::unique_ptr<ClockSource> clock_;
    WallClockTracker tracker_;
    boost::asio::steady_timer tick_timer_;
    boost::asio::steady_timer flush_timer_;
    boost::asio::steady_timer health_timer_;
    boost::asio::steady_timer stop_deadline_;
    std::chrono::system_clock::time_point started_at_;
    std::chrono::steady_clock::time_point started_steady_;

    std::vector<SensorState> sensors_;
    std::map<std::string, std::size_t> sensor_index_;
    std::vector<std::vector<std::size_t>> sensors_of_device_;
    std::vector<DeviceState> devices_;
    std::vector<std::unique_ptr<drivers::Source>> sources_;
    std::vector<modbus::ModbusBus*> buses_;  ///< the Modbus sources, for bus statistics
    struct BusSlot {
        modbus::ModbusBus* bus{nullptr};  ///< nullptr: not a Modbus device
        std::size_t local{0};             ///< the device's index on its bus
    };
    std::vector<BusSlot> bus_of_device_;  ///< per device
    // --- LoRaWAN sources, for their counters in status and health.
    struct LorawanSlot {
        lorawan::ChirpstackSource* source{nullptr};  ///< nullptr if not a LoRaWAN device
        std::size_t local{0};                        ///< the device's index in its source
    };
    std::vector<lorawan::ChirpstackSource*> chirpstack_sources_;
    std::vector<LorawanSlot> lorawan_of_device_;  ///< per device

    std::unique_ptr<StoreWorker> store_;
    std::unique_ptr<PahoPublisher> publisher_;
    std::unique_ptr<Uplink> uplink_;
    std::unique_ptr<CalibrationService> calibration_;
    std::unique_ptr<RemoteCommands> commands_;
    std::unique_ptr<AlarmEngine> analytics_;
    std::unique_ptr<FlowBinAnalytics> flow_bins_;  ///< nullptr when none is configured
    std::unique_ptr<ControlServer> control_;
    struct Hj212Platform {
        const Hj212PlatformConfig* config{nullptr};  ///< in config_
        std::unique_ptr<hj212::Reporter> reporter;
        std::unique_ptr<Hj212Link> link;
        std::uint64_t stored_version{0};  ///< reporter->version() when its state was last stored
    };
    std::vector<Hj212Platform> hj212_;
    struct Maintenance {
        std::int64_t since_ms{0};
        std::int64_t until_ms{0};
        std::string technician;
        std::string reason;
    };
    std::map<std::size_t, Maintenance> maintenance_;  ///< sensor index -> active period
    std::int64_t last_qn_ms_{0};                      ///< creation instant of the last QN given
    std::int64_t hj212_pruned_at_ms_{0};              ///< last pruning of delivered history

    CommitBatch pending_;                   ///< not yet handed to the store
    std::optional<CommitBatch> in_flight_;  ///< handed over, outcome not known yet
    bool replaying_{false};                 ///< held readings are being released
    std::vector<Reading> live_during_replay_;
    std::map<std::string, std::string> alarms_;  ///< active alarm -> message
    struct ReadNowWaiter {
        std::size_t sensor_index{0};
        std::function<void(nlohmann::ordered_json)> done;
    };
    std::map<std::size_t, std::vector<ReadNowWaiter>> read_now_waiting_;  ///< per device
    std::vector<std::int64_t> file_window_s_;  ///< window_s of each sensor in the config file
    double cpu_s_at_sample_{0};
    std::chrono::steady_clock::time_point cpu_sampled_at_{};
    double cpu_pct_{0};  ///< over the last health interval
    std::uint64_t write_failures_{0};
    std::uint64_t unstored_dropped_{0};  ///< dropped from memory while storage kept failing
    bool stopping_{false};
};

}  // namespace gw
