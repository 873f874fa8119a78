// SPDX-License-Identifier: Apache-2.0
// Field calibration on the running daemon (docs/calibration.md, docs/control-protocol.md).
// Applies each sensor's coefficients in force to its readings, keeps the sessions technicians
// open with `towngw calibrate` (their sensors' data is flagged C), computes fits with the pure
// models of calibration/models.hpp and appends committed calibrations to the hash-chained
// history. Runs on the gateway's io_context only; the database work goes through StoreWorker.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "buffer/store_worker.hpp"
#include "calibration/models.hpp"
#include "config/config.hpp"
#include "core/reading.hpp"

namespace gw {

/// The calibration in force for one sensor.
struct AppliedCalibration {
    calibration::Linear linear;     ///< measured -> value (all models but bin)
    std::optional<FillLevel> fill;  ///< bin: distances replacing the configured ones
    std::int64_t version{0};        ///< 0: never calibrated in the field ("factory")
    std::int64_t calibrated_ms{0};
    std::int64_t due_ms{0};
    /// What the latest record replaced ("before"), for a rollback; null when nothing.
    nlohmann::ordered_json previous;
};

class CalibrationService {
public:
    using Reply = std::function<void(nlohmann::json response)>;
    /// Stores a batch (calibration record + its event) and tells the uplink about new seqs.
    using CommitFn =
        std::function<void(CommitBatch batch, std::function<void(Outcome<CommitResult>)> done)>;
    /// A seq-less event message with the gateway's common fields (v, ids, time, type).
    using EventFn = std::function<OutboxMessage(const std::string& type)>;

    CalibrationService(const Config& config, StoreWorker& store, CommitFn commit, EventFn event);

    /// At start: the coefficients in force, from the history (latest record of each sensor).
    void load(const std::vector<CalibrationEntry>& history);

    /// The hot path: `measured` is the sensor's engineering value before field calibration.
    /// Sets reading.measured, reading.value (calibrated; for bins the fill %) and
    /// reading.calibrating, and (when `live`, not a replayed stored reading) keeps the sample
    /// for `sensors` and for `read` when someone watches the sensor.
    void apply(std::size_t sensor, double measured, Reading& reading, bool live = true);

    bool handles(const std::string& cmd) const;
    void handle(const std::string& cmd, const nlohmann::json& request, Reply reply);
    /// Once a second: ends idle sessions and drops idle read buffers.
    void on_tick(std::int64_t now_ms);

    bool calibrating(std::size_t sensor) const { return !session_of_[sensor].empty(); }
    /// {"model", "version", "state" (factory|valid|expired), "calibrated_at", "due_at", gain and
    /// offset or empty_mm and full_mm}
    nlohmann::ordered_json calibration_json(std::size_t sensor, std::int64_t now_ms) const;
    /// "factory", "valid" or "expired".
    const char* state(std::size_t sensor, std::int64_t now_ms) const;
    std::int64_t version(std::size_t sensor) const { return applied_[sensor].version; }

private:
    struct Sample {
        std::int64_t time_ms{0};
        double measured{0};
        double value{0};
        SampleQuality quality{SampleQuality::Good};
    };
    struct LiveBuffer {
        std::deque<Sample> samples;
        std::int64_t last_request_ms{0};
    };
    struct Point {
        double reference{0};
        double raw{0};
        std::size_t samples{0};
        double drift_per_min{0};
        bool stable{false};
        std::optional<double> temperature_degc;
        nlohmann::ordered_json standard;  ///< what identifies the standard, as recorded
        std::string buffer;               ///< pH
        std::string position;             ///< bin: "empty" or "full"
        bool zero{false};                 ///< turbidity/DO zero point
        std::optional<double> pressure_kpa, salinity_g_kg;
    };
    struct Session {
        std::string id;
        std::size_t sensor{0};
        std::string technician, unix_user, reason, probe_serial, buffers;
        std::int64_t started_ms{0};
        std::int64_t last_request_ms{0};
        std::vector<Point> points;
        nlohmann::ordered_json verification;  ///< null until calibration.verify
    };
    /// What a commit would store.
    struct Fit {
        calibration::Verdict verdict{calibration::Verdict::Pass};
        std::vector<std::string> reasons;
        calibration::Linear linear;
        std::optional<FillLevel> fill;
        nlohmann::ordered_json details;  ///< model-specific numbers for the record and preview
    };
    struct Stability {
        double drift_per_min{0};
        double span_s{0};
        bool stable{false};
        double limit_per_min{0};
    };

    void sensors_request(Reply& reply);
    void read(const nlohmann::json& request, Reply& reply);
    void begin(const nlohmann::json& request, Reply& reply);
    void point(const nlohmann::json& request, Reply& reply);
    void verify(const nlohmann::json& request, Reply& reply);
    void commit(const nlohmann::json& request, Reply& reply);
    void abort(const nlohmann::json& request, Reply& reply);
    void show(const nlohmann::json& request, Reply& reply);
    void history(const nlohmann::json& request, Reply& reply, bool export_entries);
    void rollback(const nlohmann::json& request, Reply& reply);

    /// Sensor index named by request["sensor"], or replies unknown_sensor/bad_request.
    std::optional<std::size_t> sensor_of(const nlohmann::json& request, Reply& reply) const;
    Session* session_of(const nlohmann::json& request, Reply& reply);
    void end_session(std::size_t sensor);
    LiveBuffer& watch(std::size_t sensor, std::int64_t now_ms);
    Stability stability(std::size_t sensor, std::int64_t now_ms) const;
    /// Mean of the good measured samples of the last `average_s`; nullopt when fewer than 3.
    std::optional<std::pair<double, std::size_t>> recent_mean(std::size_t sensor,
                                                              std::int64_t now_ms,
                                                              double average_s) const;
    /// Fit of the session's points for its sensor's model; throws std::invalid_argument with
    /// a technician's message when the points cannot make one.
    Fit fit(const Session& session, const nlohmann::json& commit_request) const;
    nlohmann::ordered_json coefficients_json(std::size_t sensor,
                                             const AppliedCalibration& applied) const;
    void apply_record(std::size_t sensor, const CalibrationEntry& entry);
    calibration::BufferTable buffer_table(const Session& session) const;
    double stability_limit(std::size_t sensor, double reading) const;
    void store_record(std::size_t sensor, nlohmann::ordered_json record, const std::string& action,
                      Reply reply);

    const Config& config_;
    StoreWorker& store_;
    CommitFn commit_;
    EventFn event_;
    std::vector<AppliedCalibration> applied_;
    std::vector<std::string> session_of_;  ///< sensor -> open session id ("" = none)
    std::map<std::string, Session> sessions_;
    std::map<std::size_t, LiveBuffer> live_;
    std::vector<std::optional<Sample>> last_;  ///< latest sample of each sensor
    std::uint64_t next_session_{1};
    std::int64_t now_ms_{0};
};

}  // namespace gw
