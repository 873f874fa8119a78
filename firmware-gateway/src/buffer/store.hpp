// SPDX-License-Identifier: Apache-2.0
// The gateway's SQLite store: the outbox (the one place that defines "not yet delivered") and
// the raw readings of windows that are still open. Synchronous and single-threaded: StoreWorker
// runs it on the database thread.
//
// Guarantees (docs/reliability.md):
//  - every outbox message gets its gateway-wide `seq` in the transaction that stores it; seqs
//    are reserved in blocks in a sidecar file, so even a database lost to corruption never
//    leads to a reused seq;
//  - open windows are persisted as their running state (count, sum, min, max, last, faults),
//    one row per sensor rewritten at each flush, not as raw readings: flash wear then depends on
//    the number of sensors and the flush interval, not on the poll rate. Raw readings are kept
//    only while the clock is untrusted (held readings, re-timed when it is known);
//  - a closed window is stored and its open state (and raw readings) deleted in one
//    transaction: after a crash a window is either still open (its state is here) or
//    published, never both;
//  - the database stays under `max_bytes`: the oldest undelivered messages are evicted (and an
//    eviction event stored), or new messages rejected, as configured; both are counted;
//  - HJ 212 frames (docs/hj212.md) are stored in the transaction of the commit that creates
//    them. At max_bytes, delivered frames kept as history are evicted first (oldest first),
//    before the outbox policy applies; undelivered frames count toward the size but are never
//    evicted, nor refused under reject_new;
//  - a database that fails its integrity check at open is moved aside and replaced.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/analytics_output.hpp"
#include "core/reading.hpp"
#include "core/window_aggregator.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace gw {

struct OutboxMessage {
    std::string topic;
    nlohmann::ordered_json body;  ///< "seq" is set when the message is committed
};

struct StoredMessage {
    std::uint64_t seq{0};
    std::string topic;
    std::string payload;
};

/// A raw reading of a window that is not closed yet, as persisted.
struct StoredReading {
    std::string sensor;
    std::string boot_id;
    std::int64_t mono_ms{0};
    std::int64_t wall_ms{0};
    ClockState clock{ClockState::Synchronised};
    double raw{0.0};
    double value{0.0};
    SampleQuality quality{SampleQuality::Good};
};

/// The running state of a sensor's open window, as persisted (one row per sensor).
struct StoredOpenWindow {
    std::string sensor;
    std::int64_t window_ms{0};  ///< the window length it was aggregated with
    OpenWindow window;
};

/// A closed window: its message goes into the outbox; its open state and its readings leave
/// the store.
struct WindowCommit {
    std::string sensor;
    std::int64_t end_ms{0};  ///< state and readings of this sensor before end_ms are deleted
    OutboxMessage message;
    std::int64_t window_ms{0};  ///< its length: only open state of this length is deleted (0: any)
};

/// A calibration record to append to the history (docs/calibration.md). The store assigns the
/// sensor's next version, adds it to the record as "version" and chains the entry.
struct CalibrationAppend {
    std::string sensor;
    std::int64_t time_ms{0};
    nlohmann::ordered_json record;
};

/// One entry of the append-only calibration history. Entries of all sensors form one chain:
/// hash = SHA-256 hex of (prev_hash + "\n" + record); the first prev_hash is 64 zeros. The
/// table refuses UPDATE and DELETE (triggers).
struct CalibrationEntry {
    std::int64_t id{0};
    std::string sensor;
    std::int64_t version{0};  ///< per sensor: 1, 2, ...
    std::int64_t time_ms{0};
    std::string record;  ///< JSON text exactly as hashed
    std::string prev_hash;
    std::string hash;
};

/// A sensor setting changed at run time (remote `set-window`, docs/mqtt.md). It is applied at
/// start over the configuration file as long as the file still gives `config_window_s`: an
/// edited file wins over an older remote change.
struct SensorSetting {
    std::string sensor;
    std::int64_t window_s{0};
    std::int64_t config_window_s{0};  ///< what the file said when the setting was made
    std::int64_t changed_ms{0};
    std::string origin;  ///< who asked ("from" of the request, or "configuration")
    bool remove{false};  ///< delete the sensor's setting (back to the file's value)
};

/// An HJ 212 upload to keep for one platform (docs/hj212.md).
struct Hj212FrameAppend {
    std::string platform;          ///< platform name from the configuration
    std::string cn;                ///< "2011", "2051", "2061", "2031"
    std::int64_t data_time_ms{0};  ///< the frame's DataTime as Unix ms
    std::string qn;                ///< QN given at creation; re-sent unchanged
    std::string cp;                ///< the CP data area, without "CP=&&" and "&&"
    bool keep_as_history{true};    ///< false (2011): deleted once delivered
};

/// An HJ 212 frame as stored: pending until its platform acknowledges it, then history (kept
/// until hj212_prune, or evicted first when the database needs room).
struct StoredHj212Frame {
    std::int64_t id{0};
    std::string platform, cn, qn, cp;
    std::int64_t data_time_ms{0};
    std::int64_t created_ms{0};
    std::optional<std::int64_t> delivered_ms;  ///< empty: not acknowledged yet
};

/// Everything one flush stores, in one transaction.
struct CommitBatch {
    std::vector<StoredReading> readings;         ///< held readings (clock not trusted yet)
    std::vector<StoredOpenWindow> open_windows;  ///< replace the sensor's stored state
    std::vector<WindowCommit> windows;
    std::vector<OutboxMessage> events;
    std::vector<CalibrationAppend> calibrations;
    std::vector<SensorSetting> settings;  ///< saved (or removed) with the event announcing them
    std::vector<AnalyticsStateRow> analytics_state;  ///< replaced (or deleted) per key
    /// HJ 212 frames to keep (created_ms = the commit's wall-clock time).
    std::vector<Hj212FrameAppend> hj212_frames;
    /// HJ 212 frames their platform acknowledged (9014) since the last commit: marked delivered
    /// (real-time ones deleted) in this transaction, so acknowledgements cost no fsync of their
    /// own.
    std::vector<std::int64_t> hj212_delivered;
    /// Rows the broker acknowledged since the last ack: deleted first, before any eviction.
    std::vector<std::uint64_t> acks;
    bool empty() const {
        return readings.empty() && open_windows.empty() && windows.empty() && events.empty() &&
               calibrations.empty() && settings.empty() && analytics_state.empty() &&
               hj212_frames.empty() && hj212_delivered.empty() && acks.empty();
    }
    std::size_t message_count() const { return windows.size() + events.size(); }
};

struct Eviction {
    std::uint64_t count{0};
    std::uint64_t first_seq{0};
    std::uint64_t last_seq{0};
};

struct CommitResult {
    std::vector<std::uint64_t> seqs;  ///< seqs of the stored messages (windows, then events)
    std::optional<Eviction> evicted;  ///< oldest messages dropped to make room (drop_oldest)
    std::uint64_t rejected{0};        ///< new messages refused for lack of room (reject_new)
    std::vector<CalibrationEntry> calibrations;  ///< as appended
    std::int64_t hj212_last_id{0};               ///< highest HJ 212 frame id inserted, 0 if none
};

struct StoreStats {
    std::uint64_t depth{0};             ///< outbox rows not yet acknowledged
    std::int64_t oldest_created_ms{0};  ///< commit time of the oldest row, 0 when empty
    std::uint64_t bytes_used{0};        ///< pages in use × page size (main database file)
    std::uint64_t max_bytes{0};
    std::uint64_t evicted_total{0};   ///< persisted across restarts
    std::uint64_t rejected_total{0};  ///< persisted across restarts
    std::uint64_t last_seq{0};        ///< highest seq ever assigned
    std::uint64_t readings{0};        ///< raw readings kept (held until the clock is known)
    std::uint64_t open_windows{0};    ///< sensors whose open window is persisted
    std::uint64_t hj212_pending{0};   ///< HJ 212 frames not acknowledged yet (all platforms)
    std::uint64_t hj212_history{0};   ///< HJ 212 frames delivered and kept as history
};

/// What happened when the store was opened; reported as alarms by the gateway.
struct OpenReport {
    std::string moved_aside_to;          ///< non-empty if a corrupt database was replaced
    std::string corruption;              ///< why it was considered corrupt
    std::uint64_t seq_resumed_after{0};  ///< after a replacement: seqs up to this may be lost
};

struct StoreOptions {
    SyncMode synchronous{SyncMode::Full};
    std::uint64_t max_bytes{128u << 20};
    WhenFull when_full{WhenFull::DropOldest};
    /// Where eviction events go, and the fields every event carries (v, town_id, gateway_id).
    std::string events_topic;
    nlohmann::ordered_json event_base = nlohmann::ordered_json::object();
};

class StoreError : public std::runtime_error {
public:
    StoreError(const std::string& what, int sqlite_code)
        : std::runtime_error(what), sqlite_code_(sqlite_code) {}
    int sqlite_code() const { return sqlite_code_; }
    /// SQLITE_FULL or an I/O error: storage is exhausted or failing, not our logic.
    bool is_storage_failure() const;

private:
    int sqlite_code_;
};

class Store {
public:
    /// Opens (creating if needed) the database; ":memory:" works for tests. A database that is
    /// not one, or fails its integrity check, is moved aside (see open_report()). Throws
    /// StoreError when even a fresh database cannot be created.
    Store(const std::string& path, const StoreOptions& options);
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    const OpenReport& open_report() const { return open_report_; }

    /// Stores readings, closed windows and events in one transaction, assigning seqs, and
    /// keeps the database under max_bytes. Throws StoreError (nothing stored) on failure.
    CommitResult commit(CommitBatch batch);
    /// Up to `limit` messages with after_seq < seq < before_seq, in seq order.
    std::vector<StoredMessage> peek(std::uint64_t after_seq, std::uint64_t before_seq,
                                    std::size_t limit);
    /// Deletes acknowledged messages (unknown seqs are ignored: acks may repeat).
    void ack(const std::vector<std::uint64_t>& seqs);
    /// Readings of open windows in the given clock state, ordered by sensor and time.
    std::vector<StoredReading> load_readings(ClockState state);
    /// The persisted open windows, ordered by sensor.
    std::vector<StoredOpenWindow> load_open_windows();
    /// Calibration history in append order: one sensor's, or every sensor's when empty.
    std::vector<CalibrationEntry> calibration_history(const std::string& sensor = {});
    /// Settings changed at run time, ordered by sensor.
    std::vector<SensorSetting> load_sensor_settings();
    /// The analytics' persisted state, ordered by key.
    std::vector<AnalyticsStateRow> load_analytics_state();
    /// Re-times the held readings of boot `boot_id` (wall = mono + offset_ms), marks every held
    /// reading as Corrected (this boot) or Unsynchronised (older boots, cannot be corrected)
    /// and returns them in time order for aggregation.
    std::vector<StoredReading> release_held(const std::string& boot_id,
                                            std::optional<std::int64_t> offset_ms);
    StoreStats stats();

    // HJ 212 frames (docs/hj212.md). Undelivered frames count toward max_bytes but are never
    // evicted to make room; delivered frames kept as history are evicted first, oldest first.

    /// Up to `limit` undelivered frames of `platform` with id > after_id, in id order.
    std::vector<StoredHj212Frame> hj212_pending(const std::string& platform, std::int64_t after_id,
                                                std::size_t limit);
    /// Marks frames acknowledged by their platform, in one transaction: frames kept as history
    /// get delivered_ms (the first acknowledgement's), the others (2011) are deleted. Unknown
    /// ids are ignored.
    void hj212_delivered(const std::vector<std::int64_t>& ids, std::int64_t delivered_ms);
    /// Up to `limit` frames of `platform` and `cn`, delivered or not, with
    /// begin_ms <= data_time_ms <= end_ms, ordered by data_time_ms then id (frames sharing a
    /// data time are all returned).
    std::vector<StoredHj212Frame> hj212_history(const std::string& platform, const std::string& cn,
                                                std::int64_t begin_ms, std::int64_t end_ms,
                                                std::size_t limit);
    /// Deletes delivered frames with data_time_ms < data_time_before_ms; returns how many.
    /// Undelivered frames are never deleted.
    std::uint64_t hj212_prune(std::int64_t data_time_before_ms);

    /// PRAGMA quick_check result ("ok" when sound).
    std::string quick_check();

private:
    void open(const std::string& path);
    void close();
    void configure();
    void exec(const char* sql);
    sqlite3_stmt* prepare(const char* sql);
    /// Steps a prepared query, hands each row to `on_row`, finalizes it; fails with `what`.
    void for_each_row(sqlite3_stmt* stmt, const std::string& what,
                      const std::function<void(sqlite3_stmt*)>& on_row);
    void migrate();
    [[noreturn]] void fail(const std::string& what);
    std::uint64_t query_u64(const char* sql);
    std::uint64_t next_seq();
    void reserve_seqs(std::uint64_t up_to);
    std::optional<Eviction> make_room(std::uint64_t needed_bytes, std::uint64_t& rejected,
                                      std::size_t incoming);
    void save_counter(const char* key, std::uint64_t value);
    void save_open_window(const StoredOpenWindow& window);
    CalibrationEntry append_calibration(const CalibrationAppend& append);
    void save_sensor_setting(const SensorSetting& setting);
    /// Deletes acknowledged rows inside the caller's transaction.
    void delete_delivered(const std::vector<std::uint64_t>& seqs);
    void save_analytics_state(const AnalyticsStateRow& row);
    /// Deletes the oldest delivered HJ 212 frames until `fits()` or none is left.
    void evict_hj212_history(std::uint64_t needed_bytes, const std::function<bool()>& fits);
    /// hj212_delivered's work, inside the caller's transaction.
    void mark_hj212_delivered(const std::vector<std::int64_t>& ids, std::int64_t delivered_ms);

    std::string path_;
    StoreOptions options_;
    OpenReport open_report_;
    sqlite3* db_{nullptr};
    sqlite3_stmt* insert_message_{nullptr};
    sqlite3_stmt* insert_reading_{nullptr};
    sqlite3_stmt* delete_readings_{nullptr};
    sqlite3_stmt* save_open_window_{nullptr};
    sqlite3_stmt* delete_open_windows_{nullptr};
    sqlite3_stmt* delete_aggregated_readings_{nullptr};
    sqlite3_stmt* peek_{nullptr};
    sqlite3_stmt* delete_message_{nullptr};
    sqlite3_stmt* save_meta_{nullptr};
    sqlite3_stmt* insert_hj212_{nullptr};
    std::uint64_t last_seq_{0};
    std::uint64_t reserved_seq_{0};  ///< seqs up to here are recorded in the sidecar file
    std::uint64_t depth_{0};
    /// Number of a boot id in the boots table (readings store the number, not the uuid).
    std::int64_t boot_number(const std::string& boot_id);
    std::string cached_boot_id_;
    std::int64_t cached_boot_number_{0};
    std::uint64_t evicted_total_{0};
    std::uint64_t rejected_total_{0};
    std::uint64_t page_size_{4096};
    bool created_fresh_{false};                 ///< the schema was created by this open
    std::uint64_t eviction_span_first_{0};      ///< first seq evicted since the last report
    std::uint64_t eviction_span_count_{0};      ///< messages evicted since the last report
    std::uint64_t last_eviction_event_seq_{0};  ///< seq of the newest eviction event
};

/// Size a message takes in the outbox, for quota accounting (payload + topic + row overhead).
std::uint64_t stored_size(const std::string& topic, const std::string& payload);

}  // namespace gw
