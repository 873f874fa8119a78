// SPDX-License-Identifier: Apache-2.0
#include "buffer/store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/log.hpp"
#include "core/sha256.hpp"
#include "core/time_format.hpp"

namespace gw {

namespace {

/// Schema migrations, applied in order; PRAGMA user_version records how many ran.
constexpr const char* kMigrations[] = {
    // 1: outbox + persisted sequence counter.
    "CREATE TABLE outbox ("
    "  seq        INTEGER PRIMARY KEY,"
    "  topic      TEXT    NOT NULL,"
    "  payload    TEXT    NOT NULL,"
    "  created_ms INTEGER NOT NULL);"
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT INTO meta(key, value) VALUES ('last_seq', 0);",
    // 2: raw readings of open windows (crash recovery, clock correction) and loss counters.
    "CREATE TABLE readings ("
    "  id      INTEGER PRIMARY KEY,"
    "  sensor  TEXT    NOT NULL,"
    "  boot_id TEXT    NOT NULL,"
    "  mono_ms INTEGER NOT NULL,"
    "  wall_ms INTEGER NOT NULL,"
    "  clock   INTEGER NOT NULL,"
    "  raw     REAL    NOT NULL,"
    "  value   REAL    NOT NULL,"
    "  quality INTEGER NOT NULL);"
    "CREATE INDEX readings_by_sensor_time ON readings(sensor, wall_ms);"
    "INSERT INTO meta(key, value) VALUES ('evicted_total', 0), ('rejected_total', 0);",
    // 3: the span of seqs evicted since the last eviction event was delivered.
    "INSERT INTO meta(key, value) VALUES ('eviction_span_first', 0), ('eviction_span_count', 0),"
    " ('last_eviction_event_seq', 0);",
    // 4: compact readings, flash-friendly. Every flush appends one row per reading, so the
    // row is what an SD card pays per poll. The boot id moves to its own table (36 bytes ->
    // 1), the raw value is not kept (recovery and re-timing need only the engineering value),
    // and there is no index: an index on (sensor, time) took each flush's rows in as many
    // places as there are sensors (~700 bytes written per reading at 200 sensors); deleting a
    // window boundary's readings is one scan of a table that holds only open windows.
    "CREATE TABLE boots (id INTEGER PRIMARY KEY, boot_id TEXT NOT NULL UNIQUE);"
    "INSERT INTO boots(boot_id) SELECT DISTINCT boot_id FROM readings;"
    "CREATE TABLE readings_v4 ("
    "  id      INTEGER PRIMARY KEY,"
    "  sensor  TEXT    NOT NULL,"
    "  boot    INTEGER NOT NULL,"
    "  mono_ms INTEGER NOT NULL,"
    "  wall_ms INTEGER NOT NULL,"
    "  clock   INTEGER NOT NULL,"
    "  value   REAL    NOT NULL,"
    "  quality INTEGER NOT NULL);"
    "INSERT INTO readings_v4(id, sensor, boot, mono_ms, wall_ms, clock, value, quality)"
    " SELECT r.id, r.sensor, b.id, r.mono_ms, r.wall_ms, r.clock, r.value, r.quality"
    " FROM readings r JOIN boots b ON b.boot_id = r.boot_id;"
    "DROP TABLE readings;"
    "ALTER TABLE readings_v4 RENAME TO readings;",
    // 5: open windows as their running state, one row per sensor rewritten at each flush,
    // instead of one raw row per poll: at 200 sensors polled at 1 Hz the raw rows were ~190
    // bytes written to flash per poll; this is a few pages per flush whatever the poll rate.
    // Raw readings stay for held readings (untrusted clock) and for rows written by version 4,
    // which are still replayed and deleted as before. `faults`: failed samples by quality,
    // comma-separated, '' when there were none.
    "CREATE TABLE open_windows ("
    "  sensor    TEXT    PRIMARY KEY,"
    "  start_ms  INTEGER NOT NULL,"
    "  window_ms INTEGER NOT NULL,"
    "  count     INTEGER NOT NULL,"
    "  failed    INTEGER NOT NULL,"
    "  sum       REAL    NOT NULL,"
    "  min       REAL    NOT NULL,"
    "  max       REAL    NOT NULL,"
    "  last      REAL    NOT NULL,"
    "  clock     INTEGER NOT NULL,"
    "  faults    TEXT    NOT NULL) WITHOUT ROWID;",
    // 6: the calibration history (issue #6): append-only, hash-chained across sensors.
    "CREATE TABLE calibrations ("
    "  id        INTEGER PRIMARY KEY,"
    "  sensor    TEXT    NOT NULL,"
    "  version   INTEGER NOT NULL,"
    "  time_ms   INTEGER NOT NULL,"
    "  record    TEXT    NOT NULL,"
    "  prev_hash TEXT    NOT NULL,"
    "  hash      TEXT    NOT NULL,"
    "  UNIQUE (sensor, version));"
    "CREATE TRIGGER calibrations_no_update BEFORE UPDATE ON calibrations"
    " BEGIN SELECT RAISE(ABORT, 'the calibration history is append-only'); END;"
    "CREATE TRIGGER calibrations_no_delete BEFORE DELETE ON calibrations"
    " BEGIN SELECT RAISE(ABORT, 'the calibration history is append-only'); END;"
    // Open windows also carry the statistics before field calibration and the number of
    // samples taken during a calibration. Rows of version 5 had no calibration applied.
    "ALTER TABLE open_windows ADD COLUMN measured_sum REAL NOT NULL DEFAULT 0;"
    "ALTER TABLE open_windows ADD COLUMN measured_min REAL NOT NULL DEFAULT 0;"
    "ALTER TABLE open_windows ADD COLUMN measured_max REAL NOT NULL DEFAULT 0;"
    "ALTER TABLE open_windows ADD COLUMN measured_last REAL NOT NULL DEFAULT 0;"
    "ALTER TABLE open_windows ADD COLUMN calibrating INTEGER NOT NULL DEFAULT 0;"
    "UPDATE open_windows SET measured_sum = sum, measured_min = min, measured_max = max,"
    " measured_last = last;",
    // 7: sensor settings changed at run time (remote `set-window`), applied over the
    // configuration file at start while the file still says what it said when they were set.
    "CREATE TABLE sensor_settings ("
    "  sensor          TEXT    PRIMARY KEY,"
    "  window_s        INTEGER NOT NULL,"
    "  config_window_s INTEGER NOT NULL,"
    "  changed_ms      INTEGER NOT NULL,"
    "  origin          TEXT    NOT NULL) WITHOUT ROWID;"
    // Open windows also carry what the standard deviation, the first value and the
    // time-weighted mean (the integral of flow: volume) need (issue #8).
    "ALTER TABLE open_windows ADD COLUMN m2 REAL NOT NULL DEFAULT 0;"
    "ALTER TABLE open_windows ADD COLUMN first REAL NOT NULL DEFAULT 0;"
    "ALTER TABLE open_windows ADD COLUMN first_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE open_windows ADD COLUMN last_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE open_windows ADD COLUMN integral REAL NOT NULL DEFAULT 0;"
    "ALTER TABLE open_windows ADD COLUMN covered_ms INTEGER NOT NULL DEFAULT 0;"
    // Rows of version 6 resume with first = last and no integral: a window's mean and
    // extremes stay exact, only its deviation and integral miss the samples before the upgrade.
    "UPDATE open_windows SET first = last;",
    // 8: the edge analytics' own state (alarm phases, flow and bin trackers), as JSON text
    // per owner key, so a restart resumes an alarm instead of raising it again.
    "CREATE TABLE analytics_state (key TEXT PRIMARY KEY, state TEXT NOT NULL) WITHOUT ROWID;",
    // 9: HJ 212 frames per platform (docs/hj212.md): sent in id order until acknowledged, then
    // kept as history (to answer history requests) until pruned, except `keep` = 0 frames
    // (real-time data, CN 2011), deleted once delivered. AUTOINCREMENT: an id is never reused,
    // even after the newest frames are deleted.
    "CREATE TABLE hj212_frames ("
    "  id           INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  platform     TEXT    NOT NULL,"
    "  cn           TEXT    NOT NULL,"
    "  data_time_ms INTEGER NOT NULL,"
    "  qn           TEXT    NOT NULL,"
    "  cp           TEXT    NOT NULL,"
    "  keep         INTEGER NOT NULL,"
    "  created_ms   INTEGER NOT NULL,"
    "  delivered_ms INTEGER);"
    "CREATE INDEX hj212_pending_by_platform ON hj212_frames(platform, id)"
    " WHERE delivered_ms IS NULL;"
    "CREATE INDEX hj212_by_time ON hj212_frames(platform, cn, data_time_ms);",
};

/// Seqs are reserved this many at a time in the sidecar file: one fsync per block.
constexpr std::uint64_t kSeqBlock = 1000;
/// Eviction keeps the database this far below max_bytes, so one batch rarely crosses it.
constexpr double kFillTarget = 0.90;
/// Rough bytes a raw reading row takes (sensor id, times, value, cell overhead).
constexpr std::uint64_t kReadingRowBytes = 60;
/// Rough bytes an open window row takes.
constexpr std::uint64_t kOpenWindowRowBytes = 100;
/// Rough bytes an HJ 212 frame row takes besides its text (ids, times, two index entries).
constexpr std::uint64_t kHj212RowOverhead = 64;

std::uint64_t hj212_size(const Hj212FrameAppend& f) {
    return 2 * f.platform.size() + 2 * f.cn.size() + f.qn.size() + f.cp.size() + kHj212RowOverhead;
}

/// Resets a statement's bindings and cursor on scope exit.
struct StatementReset {
    sqlite3_stmt* stmt;
    ~StatementReset() {
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
    }
};

/// Runs ROLLBACK unless the transaction was committed.
struct Transaction {
    sqlite3* db;
    bool done{false};
    ~Transaction() {
        if (!done) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    }
};

std::string sidecar_path(const std::string& path) {
    return path + ".seq";
}

std::uint64_t read_reserved(const std::string& path) {
    std::ifstream in(sidecar_path(path));
    std::uint64_t value = 0;
    if (in >> value) return value;
    return 0;
}

void bind_text(sqlite3_stmt* s, int index, const std::string& text) {
    sqlite3_bind_text(s, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

std::string column_text(sqlite3_stmt* s, int index) {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s, index));
    return text == nullptr
               ? std::string()
               : std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(s, index)));
}

std::int64_t now_ms() {
    return unix_ms(std::chrono::system_clock::now());
}

}  // namespace

bool StoreError::is_storage_failure() const {
    const int primary = sqlite_code_ & 0xff;
    return primary == SQLITE_FULL || primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN ||
           primary == SQLITE_READONLY;
}

std::uint64_t stored_size(const std::string& topic, const std::string& payload) {
    return topic.size() + payload.size() + 24;
}

Store::Store(const std::string& path, const StoreOptions& options)
    : path_(path), options_(options) {
    try {
        open(path_);
        const std::string check = quick_check();
        if (check != "ok") throw StoreError("integrity check failed: " + check, SQLITE_CORRUPT);
        migrate();
        configure();
    } catch (const StoreError& e) {
        const int primary = e.sqlite_code() & 0xff;
        const bool corrupt = primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB;
        close();
        if (!corrupt || path_ == ":memory:") throw;
        // Keep the evidence, start afresh; seqs continue above anything the old file issued.
        const std::string stamp = format_rfc3339_utc(now_ms());
        open_report_.moved_aside_to = path_ + ".corrupt-" + stamp;
        open_report_.corruption = e.what();
        std::error_code ignored;
        for (const char* suffix : {"", "-wal", "-shm"}) {
            if (std::filesystem::exists(path_ + suffix))
                std::filesystem::rename(path_ + suffix, open_report_.moved_aside_to + suffix,
                                        ignored);
        }
        open(path_);
        migrate();
        configure();
    }
}

Store::~Store() {
    close();
}

void Store::open(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK) {
        const std::string why = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
        const int code = db_ != nullptr ? sqlite3_extended_errcode(db_) : SQLITE_NOMEM;
        sqlite3_close(db_);
        db_ = nullptr;
        throw StoreError("cannot open database " + path + ": " + why, code);
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, 5000);
    // WAL keeps the file consistent through crashes; a corrupt header shows up right here.
    exec("PRAGMA journal_mode=WAL");
}

void Store::configure() {
    exec(options_.synchronous == SyncMode::Full ? "PRAGMA synchronous=FULL"
                                                : "PRAGMA synchronous=NORMAL");
    // Debian builds SQLite with secure_delete on: every deleted reading and delivered message
    // would be overwritten with zeros, doubling the writes to the SD card for nothing we need.
    exec("PRAGMA secure_delete=FAST");
    // A small page cache: the hot pages are the tail of two tables; 2 MB (the default) is a
    // quarter of a 256 MB board's budget for us.
    exec("PRAGMA cache_size=-512");
    page_size_ = query_u64("PRAGMA page_size");
    // Bound the WAL too: checkpoint and truncate it at 1/16 of the cap.
    const std::uint64_t wal_pages =
        std::max<std::uint64_t>(16, options_.max_bytes / 16 / page_size_);
    exec(("PRAGMA wal_autocheckpoint=" + std::to_string(wal_pages)).c_str());
    exec(("PRAGMA journal_size_limit=" + std::to_string(wal_pages * page_size_)).c_str());

    insert_message_ =
        prepare("INSERT INTO outbox(seq, topic, payload, created_ms) VALUES (?,?,?,?)");
    insert_reading_ = prepare(
        "INSERT INTO readings(sensor, boot, mono_ms, wall_ms, clock, value, quality)"
        " VALUES (?,?,?,?,?,?,?)");
    // All windows closed at one boundary go in one statement (one scan of the readings of
    // open windows): ?1 the boundary, ?2 a JSON array of their sensors.
    delete_readings_ = prepare(
        "DELETE FROM readings WHERE wall_ms < ?1 AND clock <> 0"
        " AND sensor IN (SELECT value FROM json_each(?2))");
    save_open_window_ = prepare(
        "INSERT OR REPLACE INTO open_windows(sensor, start_ms, window_ms, count, failed, sum,"
        " min, max, last, clock, faults, measured_sum, measured_min, measured_max,"
        " measured_last, calibrating, m2, first, first_ms, last_ms, integral, covered_ms)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    delete_aggregated_readings_ = prepare(
        "DELETE FROM readings WHERE clock <> 0 AND sensor IN (SELECT value FROM json_each(?1))");
    delete_open_windows_ = prepare(
        "DELETE FROM open_windows WHERE start_ms < ?1 AND (?3 = 0 OR window_ms = ?3)"
        " AND sensor IN (SELECT value FROM json_each(?2))");
    peek_ = prepare(
        "SELECT seq, topic, payload FROM outbox WHERE seq > ? AND seq < ? ORDER BY seq LIMIT ?");
    delete_message_ = prepare("DELETE FROM outbox WHERE seq = ?");
    save_meta_ = prepare("UPDATE meta SET value = ? WHERE key = ?");
    insert_hj212_ = prepare(
        "INSERT INTO hj212_frames(platform, cn, data_time_ms, qn, cp, keep, created_ms)"
        " VALUES (?,?,?,?,?,?,?)");

    depth_ = query_u64("SELECT COUNT(*) FROM outbox");
    evicted_total_ = query_u64("SELECT value FROM meta WHERE key = 'evicted_total'");
    rejected_total_ = query_u64("SELECT value FROM meta WHERE key = 'rejected_total'");
    eviction_span_first_ = query_u64("SELECT value FROM meta WHERE key = 'eviction_span_first'");
    eviction_span_count_ = query_u64("SELECT value FROM meta WHERE key = 'eviction_span_count'");
    last_eviction_event_seq_ =
        query_u64("SELECT value FROM meta WHERE key = 'last_eviction_event_seq'");
    // The counter can never be below a stored row, whatever happened to meta.
    reserved_seq_ = path_ == ":memory:" ? 0 : read_reserved(path_);
    last_seq_ = std::max(query_u64("SELECT value FROM meta WHERE key = 'last_seq'"),
                         query_u64("SELECT IFNULL(MAX(seq), 0) FROM outbox"));
    if (created_fresh_ && reserved_seq_ > last_seq_) {
        // A new database next to the seq reservations of an old one (replaced after corruption,
        // or deleted): continue above every seq the old one may have issued.
        last_seq_ = reserved_seq_;
        open_report_.seq_resumed_after = reserved_seq_;
    }
}

void Store::close() {
    for (sqlite3_stmt* s : {insert_message_, insert_reading_, delete_readings_, save_open_window_,
                            delete_aggregated_readings_, delete_open_windows_, peek_,
                            delete_message_, save_meta_, insert_hj212_})
        sqlite3_finalize(s);
    insert_message_ = insert_reading_ = delete_readings_ = save_open_window_ =
        delete_aggregated_readings_ = delete_open_windows_ = peek_ = delete_message_ = save_meta_ =
            insert_hj212_ = nullptr;
    if (db_ != nullptr) sqlite3_close(db_);
    db_ = nullptr;
}

void Store::fail(const std::string& what) {
    throw StoreError(what + ": " + sqlite3_errmsg(db_), sqlite3_extended_errcode(db_));
}

void Store::exec(const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
        std::string why = message != nullptr ? message : "unknown error";
        sqlite3_free(message);
        throw StoreError("sqlite: " + why + " (in: " + std::string(sql).substr(0, 60) + ")",
                         sqlite3_extended_errcode(db_));
    }
}

sqlite3_stmt* Store::prepare(const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr) != SQLITE_OK)
        fail(std::string("prepare ") + sql);
    return stmt;
}

std::uint64_t Store::query_u64(const char* sql) {
    sqlite3_stmt* q = prepare(sql);
    std::uint64_t value = 0;
    const int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) value = static_cast<std::uint64_t>(sqlite3_column_int64(q, 0));
    sqlite3_finalize(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) fail(sql);
    return value;
}

void Store::for_each_row(sqlite3_stmt* stmt, const std::string& what,
                         const std::function<void(sqlite3_stmt*)>& on_row) {
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) on_row(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) fail(what);
}

std::string Store::quick_check() {
    sqlite3_stmt* stmt = prepare("PRAGMA quick_check");
    std::string result;
    for_each_row(stmt, "quick_check", [&](sqlite3_stmt* q) {
        if (!result.empty()) result += "; ";
        result += column_text(q, 0);
    });
    return result;
}

void Store::migrate() {
    int version = static_cast<int>(query_u64("PRAGMA user_version"));
    created_fresh_ = version == 0;
    constexpr int latest = static_cast<int>(std::size(kMigrations));
    if (version > latest)
        throw StoreError("database schema version " + std::to_string(version) +
                             " is newer than this towngwd understands (" + std::to_string(latest) +
                             "); refusing to touch it",
                         SQLITE_MISMATCH);
    for (int v = version; v < latest; ++v) {
        exec("BEGIN IMMEDIATE");
        Transaction tx{db_};
        exec(kMigrations[v]);
        exec(("PRAGMA user_version=" + std::to_string(v + 1)).c_str());
        exec("COMMIT");
        tx.done = true;
    }
    // An upgrade's migration is worth a line: the operator sees when the schema changed.
    if (version != 0 && version < latest)
        GW_LOG_INFO("store", path_ << ": schema v" << version << " migrated to v" << latest);
}

void Store::reserve_seqs(std::uint64_t up_to) {
    if (path_ == ":memory:") {
        reserved_seq_ = up_to;
        return;
    }
    // Write-then-rename with fsyncs: the sidecar is either the old or the new block, never torn.
    const std::string target = sidecar_path(path_);
    const std::string temp = target + ".tmp";
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    const std::string text = std::to_string(up_to) + "\n";
    const bool ok = fd >= 0 &&
                    ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                    ::fsync(fd) == 0;
    if (fd >= 0) ::close(fd);
    if (!ok || std::rename(temp.c_str(), target.c_str()) != 0)
        throw StoreError("cannot reserve seqs in " + target, SQLITE_IOERR_WRITE);
    const std::string dir = std::filesystem::path(target).parent_path().string();
    const int dir_fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
        ::fsync(dir_fd);
        ::close(dir_fd);
    }
    reserved_seq_ = up_to;
}

std::uint64_t Store::next_seq() {
    const std::uint64_t seq = last_seq_ + 1;
    if (seq > reserved_seq_) reserve_seqs(seq + kSeqBlock - 1);
    last_seq_ = seq;
    return seq;
}

void Store::save_counter(const char* key, std::uint64_t value) {
    StatementReset reset{save_meta_};
    sqlite3_bind_int64(save_meta_, 1, static_cast<sqlite3_int64>(value));
    sqlite3_bind_text(save_meta_, 2, key, -1, SQLITE_STATIC);
    if (sqlite3_step(save_meta_) != SQLITE_DONE) fail(std::string("save ") + key);
}

std::optional<Eviction> Store::make_room(std::uint64_t needed_bytes, std::uint64_t& rejected,
                                         std::size_t incoming) {
    const auto target =
        static_cast<std::uint64_t>(static_cast<double>(options_.max_bytes) * kFillTarget);
    auto used = [this] {
        return (query_u64("PRAGMA page_count") - query_u64("PRAGMA freelist_count")) * page_size_;
    };
    auto fits = [&] { return used() + needed_bytes <= target; };
    if (fits()) return std::nullopt;
    // Delivered HJ 212 frames are only history: they go first, whatever the policy. Undelivered
    // HJ 212 frames count toward the size but are never evicted here: the platform has not got
    // them, and there is no eviction event in HJ 212 to tell it.
    evict_hj212_history(needed_bytes, fits);
    if (fits()) return std::nullopt;
    if (options_.when_full == WhenFull::RejectNew) {
        rejected = incoming;
        return std::nullopt;
    }
    Eviction eviction;
    // Delete the oldest rows in chunks until the pages in use leave room for the batch.
    for (int round = 0; round < 64 && used() + needed_bytes > target && depth_ > 0; ++round) {
        const std::uint64_t want = std::max<std::uint64_t>(needed_bytes * 2, 4 * page_size_);
        sqlite3_stmt* q = prepare(
            "SELECT seq, length(topic) + length(payload) FROM outbox ORDER BY seq LIMIT 4096");
        std::uint64_t freed = 0;
        std::uint64_t upto = 0;
        std::uint64_t count = 0;
        while (freed < want && sqlite3_step(q) == SQLITE_ROW) {
            upto = static_cast<std::uint64_t>(sqlite3_column_int64(q, 0));
            freed += static_cast<std::uint64_t>(sqlite3_column_int64(q, 1)) + 24;
            if (eviction.count == 0 && count == 0) eviction.first_seq = upto;
            ++count;
        }
        sqlite3_finalize(q);
        if (count == 0) break;
        exec(("DELETE FROM outbox WHERE seq <= " + std::to_string(upto)).c_str());
        eviction.count += count;
        eviction.last_seq = upto;
        depth_ -= std::min(depth_, count);
    }
    if (eviction.count == 0) return std::nullopt;
    return eviction;
}

void Store::evict_hj212_history(std::uint64_t needed_bytes, const std::function<bool()>& fits) {
    std::uint64_t evicted = 0;
    for (int round = 0; round < 64 && !fits(); ++round) {
        const std::uint64_t want = std::max<std::uint64_t>(needed_bytes * 2, 4 * page_size_);
        sqlite3_stmt* q = prepare(
            "SELECT id, 2 * length(platform) + 2 * length(cn) + length(qn) + length(cp)"
            " FROM hj212_frames WHERE delivered_ms IS NOT NULL ORDER BY id LIMIT 4096");
        std::uint64_t freed = 0;
        std::int64_t upto = 0;
        std::uint64_t count = 0;
        int rc = SQLITE_ROW;
        while (freed < want && (rc = sqlite3_step(q)) == SQLITE_ROW) {
            upto = sqlite3_column_int64(q, 0);
            freed += static_cast<std::uint64_t>(sqlite3_column_int64(q, 1)) + kHj212RowOverhead;
            ++count;
        }
        sqlite3_finalize(q);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) fail("select HJ 212 history to evict");
        if (count == 0) break;
        exec(("DELETE FROM hj212_frames WHERE delivered_ms IS NOT NULL AND id <= " +
              std::to_string(upto))
                 .c_str());
        evicted += count;
    }
    if (evicted > 0)
        GW_LOG_INFO("store", path_ << ": " << evicted
                                   << " delivered HJ 212 frame(s) evicted from the history to"
                                      " make room");
}

CommitResult Store::commit(CommitBatch batch) {
    CommitResult result;
    if (batch.empty()) return result;
    const std::int64_t created = now_ms();

    std::uint64_t needed =
        batch.readings.size() * kReadingRowBytes + batch.open_windows.size() * kOpenWindowRowBytes;
    for (const auto& w : batch.windows)
        needed += stored_size(w.message.topic, w.message.body.dump());
    for (const auto& e : batch.events) needed += stored_size(e.topic, e.body.dump());
    for (const auto& f : batch.hj212_frames) needed += hj212_size(f);

    exec("BEGIN IMMEDIATE");
    Transaction tx{db_};
    // Save the in-memory counters to restore them if the transaction fails.
    const auto saved =
        std::make_tuple(last_seq_, depth_, evicted_total_, rejected_total_, eviction_span_first_,
                        eviction_span_count_, last_eviction_event_seq_);
    try {
        // Delivered rows go first: a row the broker already has must not be counted as evicted
        // (nor an eviction event that arrived left open).
        delete_delivered(batch.acks);
        std::uint64_t rejected = 0;
        const auto evicted = make_room(needed, rejected, batch.message_count());
        if (evicted) {
            evicted_total_ += evicted->count;
            save_counter("evicted_total", evicted_total_);
            // The event's range starts where evictions started since the last eviction event
            // that was delivered, so it also covers earlier eviction events evicted unsent.
            if (eviction_span_first_ == 0) eviction_span_first_ = evicted->first_seq;
            eviction_span_count_ += evicted->count;
            save_counter("eviction_span_first", eviction_span_first_);
            save_counter("eviction_span_count", eviction_span_count_);
            if (!options_.events_topic.empty()) {
                nlohmann::ordered_json body = options_.event_base;
                body["seq"] = nullptr;
                body["type"] = "eviction";
                body["time"] = format_rfc3339_utc(created);
                body["evicted"] = eviction_span_count_;
                body["first_seq"] = eviction_span_first_;
                body["last_seq"] = evicted->last_seq;
                body["evicted_total"] = evicted_total_;
                batch.events.insert(batch.events.begin(), {options_.events_topic, body});
            }
        }
        if (rejected > 0) {
            rejected_total_ += rejected;
            save_counter("rejected_total", rejected_total_);
        }

        for (const auto& r : batch.readings) {
            StatementReset reset{insert_reading_};
            bind_text(insert_reading_, 1, r.sensor);
            sqlite3_bind_int64(insert_reading_, 2, boot_number(r.boot_id));
            sqlite3_bind_int64(insert_reading_, 3, r.mono_ms);
            sqlite3_bind_int64(insert_reading_, 4, r.wall_ms);
            sqlite3_bind_int(insert_reading_, 5, static_cast<int>(r.clock));
            sqlite3_bind_double(insert_reading_, 6, r.value);
            sqlite3_bind_int(insert_reading_, 7, static_cast<int>(r.quality));
            if (sqlite3_step(insert_reading_) != SQLITE_DONE) fail("insert reading");
        }
        // Before the deletions below: a window that closed in this batch removes the state
        // this batch saved for it (a window is stored open or published, never both).
        for (const auto& w : batch.open_windows) save_open_window(w);
        if (!batch.open_windows.empty()) {
            // Raw readings that were re-timed (or written by schema version 4) have been
            // aggregated into the state saved just now: replaying them after a restart would
            // count them twice.
            nlohmann::json sensors = nlohmann::json::array();
            for (const auto& w : batch.open_windows) sensors.push_back(w.sensor);
            StatementReset reset{delete_aggregated_readings_};
            bind_text(delete_aggregated_readings_, 1, sensors.dump());
            if (sqlite3_step(delete_aggregated_readings_) != SQLITE_DONE)
                fail("delete aggregated readings");
        }

        auto store_message = [&](OutboxMessage& message) {
            const std::uint64_t seq = next_seq();
            message.body["seq"] = seq;
            const std::string payload = message.body.dump();
            StatementReset reset{insert_message_};
            sqlite3_bind_int64(insert_message_, 1, static_cast<sqlite3_int64>(seq));
            bind_text(insert_message_, 2, message.topic);
            bind_text(insert_message_, 3, payload);
            sqlite3_bind_int64(insert_message_, 4, created);
            if (sqlite3_step(insert_message_) != SQLITE_DONE) fail("insert into outbox");
            result.seqs.push_back(seq);
            ++depth_;
        };
        // (end, window length) -> sensors: the state of a window of another length (the
        // length changed at run time) is not the closed window's and stays.
        std::map<std::pair<std::int64_t, std::int64_t>, nlohmann::json> sensors_by_window_end;
        for (const auto& w : batch.windows)
            sensors_by_window_end[{w.end_ms, w.window_ms}].push_back(w.sensor);
        for (const auto& [end, sensors] : sensors_by_window_end) {
            const auto [end_ms, window_ms] = end;
            StatementReset reset{delete_readings_};
            sqlite3_bind_int64(delete_readings_, 1, end_ms);
            bind_text(delete_readings_, 2, sensors.dump());
            if (sqlite3_step(delete_readings_) != SQLITE_DONE) fail("delete window readings");
            StatementReset reset_windows{delete_open_windows_};
            sqlite3_bind_int64(delete_open_windows_, 1, end_ms);
            bind_text(delete_open_windows_, 2, sensors.dump());
            sqlite3_bind_int64(delete_open_windows_, 3, window_ms);
            if (sqlite3_step(delete_open_windows_) != SQLITE_DONE) fail("delete open window");
        }
        for (auto& w : batch.windows)
            if (rejected == 0) store_message(w.message);
        for (auto& e : batch.events) {
            const bool is_eviction = e.body.value("type", "") == "eviction";
            if (rejected == 0 || is_eviction) store_message(e);
            if (is_eviction) {
                last_eviction_event_seq_ = last_seq_;
                save_counter("last_eviction_event_seq", last_eviction_event_seq_);
            }
        }
        for (const auto& c : batch.calibrations)
            result.calibrations.push_back(append_calibration(c));
        for (const auto& setting : batch.settings) save_sensor_setting(setting);
        for (const auto& row : batch.analytics_state) save_analytics_state(row);
        for (const auto& f : batch.hj212_frames) {
            StatementReset reset{insert_hj212_};
            bind_text(insert_hj212_, 1, f.platform);
            bind_text(insert_hj212_, 2, f.cn);
            sqlite3_bind_int64(insert_hj212_, 3, f.data_time_ms);
            bind_text(insert_hj212_, 4, f.qn);
            bind_text(insert_hj212_, 5, f.cp);
            sqlite3_bind_int(insert_hj212_, 6, f.keep_as_history ? 1 : 0);
            sqlite3_bind_int64(insert_hj212_, 7, created);
            if (sqlite3_step(insert_hj212_) != SQLITE_DONE) fail("insert HJ 212 frame");
            result.hj212_last_id = sqlite3_last_insert_rowid(db_);
        }
        if (!batch.hj212_delivered.empty()) mark_hj212_delivered(batch.hj212_delivered, created);
        // Only when a message was stored: an unchanged counter still rewrites its page, one
        // page per flush for nothing.
        if (last_seq_ != std::get<0>(saved)) save_counter("last_seq", last_seq_);
        exec("COMMIT");
        tx.done = true;
        result.evicted = evicted;
        result.rejected = rejected;
    } catch (...) {
        std::tie(last_seq_, depth_, evicted_total_, rejected_total_, eviction_span_first_,
                 eviction_span_count_, last_eviction_event_seq_) = saved;
        cached_boot_number_ = 0;  // its insert may have been rolled back
        throw;
    }
    return result;
}

std::vector<StoredMessage> Store::peek(std::uint64_t after_seq, std::uint64_t before_seq,
                                       std::size_t limit) {
    std::vector<StoredMessage> out;
    StatementReset reset{peek_};
    sqlite3_bind_int64(peek_, 1, static_cast<sqlite3_int64>(after_seq));
    sqlite3_bind_int64(peek_, 2,
                       static_cast<sqlite3_int64>(std::min<std::uint64_t>(before_seq, INT64_MAX)));
    sqlite3_bind_int64(peek_, 3, static_cast<sqlite3_int64>(limit));
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(peek_)) == SQLITE_ROW) {
        StoredMessage m;
        m.seq = static_cast<std::uint64_t>(sqlite3_column_int64(peek_, 0));
        m.topic = column_text(peek_, 1);
        m.payload = column_text(peek_, 2);
        out.push_back(std::move(m));
    }
    if (rc != SQLITE_DONE) fail("peek outbox");
    return out;
}

void Store::ack(const std::vector<std::uint64_t>& seqs) {
    if (seqs.empty()) return;
    exec("BEGIN IMMEDIATE");
    Transaction tx{db_};
    const auto saved = std::make_tuple(depth_, eviction_span_first_, eviction_span_count_);
    try {
        delete_delivered(seqs);
        exec("COMMIT");
        tx.done = true;
    } catch (...) {
        std::tie(depth_, eviction_span_first_, eviction_span_count_) = saved;
        throw;
    }
}

void Store::delete_delivered(const std::vector<std::uint64_t>& seqs) {
    std::uint64_t deleted = 0;
    for (std::uint64_t seq : seqs) {
        StatementReset reset{delete_message_};
        sqlite3_bind_int64(delete_message_, 1, static_cast<sqlite3_int64>(seq));
        if (sqlite3_step(delete_message_) != SQLITE_DONE) fail("delete from outbox");
        deleted += static_cast<std::uint64_t>(sqlite3_changes(db_));
    }
    // The last eviction event reached the broker: the next one starts a new range.
    const bool eviction_reported =
        last_eviction_event_seq_ != 0 &&
        std::find(seqs.begin(), seqs.end(), last_eviction_event_seq_) != seqs.end();
    if (eviction_reported) {
        save_counter("eviction_span_first", 0);
        save_counter("eviction_span_count", 0);
        eviction_span_first_ = eviction_span_count_ = 0;
    }
    depth_ -= std::min(deleted, depth_);
}

std::int64_t Store::boot_number(const std::string& boot_id) {
    if (boot_id == cached_boot_id_ && cached_boot_number_ != 0) return cached_boot_number_;
    sqlite3_stmt* q = prepare(
        "INSERT INTO boots(boot_id) VALUES (?1) ON CONFLICT(boot_id) DO UPDATE SET boot_id = ?1"
        " RETURNING id");
    bind_text(q, 1, boot_id);
    const int rc = sqlite3_step(q);
    const std::int64_t number = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    sqlite3_finalize(q);
    if (rc != SQLITE_ROW) fail("boot id");
    // A rolled-back insert would leave a number that does not exist: commit() clears the
    // cache when its transaction fails.
    cached_boot_id_ = boot_id;
    cached_boot_number_ = number;
    return number;
}

std::vector<StoredReading> Store::load_readings(ClockState state) {
    std::vector<StoredReading> out;
    sqlite3_stmt* stmt = prepare(
        "SELECT r.sensor, b.boot_id, r.mono_ms, r.wall_ms, r.clock, r.value, r.quality"
        " FROM readings r JOIN boots b ON b.id = r.boot"
        " WHERE r.clock = ? ORDER BY r.sensor, r.wall_ms, r.id");
    sqlite3_bind_int(stmt, 1, static_cast<int>(state));
    for_each_row(stmt, "load readings", [&](sqlite3_stmt* q) {
        StoredReading r;
        r.sensor = column_text(q, 0);
        r.boot_id = column_text(q, 1);
        r.mono_ms = sqlite3_column_int64(q, 2);
        r.wall_ms = sqlite3_column_int64(q, 3);
        r.clock = static_cast<ClockState>(sqlite3_column_int(q, 4));
        r.value = sqlite3_column_double(q, 5);
        r.raw = r.value;  // the raw value is not stored (migration 4)
        r.quality = static_cast<SampleQuality>(sqlite3_column_int(q, 6));
        out.push_back(std::move(r));
    });
    return out;
}

namespace {
std::string faults_text(const std::array<std::uint32_t, kSampleQualityCount>& faults) {
    if (std::all_of(faults.begin(), faults.end(), [](std::uint32_t n) { return n == 0; }))
        return {};
    std::string text;
    for (std::size_t i = 0; i < faults.size(); ++i) {
        if (i > 0) text += ',';
        text += std::to_string(faults[i]);
    }
    return text;
}

/// Inverse of faults_text; a malformed value (hand-edited database) counts as no faults.
std::array<std::uint32_t, kSampleQualityCount> parse_faults(const std::string& text) {
    std::array<std::uint32_t, kSampleQualityCount> faults{};
    std::size_t i = 0;
    std::size_t pos = 0;
    while (pos < text.size() && i < faults.size()) {
        const auto comma = text.find(',', pos);
        const auto field = text.substr(pos, comma == std::string::npos ? comma : comma - pos);
        char* end = nullptr;
        const unsigned long n = std::strtoul(field.c_str(), &end, 10);
        if (field.empty() || end == nullptr || *end != '\0') return {};
        faults[i++] = static_cast<std::uint32_t>(n);
        if (comma == std::string::npos) break;
        pos = comma + 1;
    }
    return faults;
}
}  // namespace

CalibrationEntry Store::append_calibration(const CalibrationAppend& append) {
    CalibrationEntry entry;
    entry.sensor = append.sensor;
    entry.time_ms = append.time_ms;
    {
        sqlite3_stmt* q =
            prepare("SELECT IFNULL(MAX(version), 0) + 1 FROM calibrations WHERE sensor = ?");
        bind_text(q, 1, append.sensor);
        const int rc = sqlite3_step(q);
        if (rc == SQLITE_ROW) entry.version = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
        if (rc != SQLITE_ROW) fail("calibration version");
    }
    {
        sqlite3_stmt* q = prepare("SELECT hash FROM calibrations ORDER BY id DESC LIMIT 1");
        const int rc = sqlite3_step(q);
        entry.prev_hash = rc == SQLITE_ROW ? column_text(q, 0) : std::string(64, '0');
        sqlite3_finalize(q);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) fail("calibration chain");
    }
    nlohmann::ordered_json record = append.record;
    record["version"] = entry.version;
    entry.record = record.dump();
    entry.hash = sha256_hex(entry.prev_hash + "\n" + entry.record);
    sqlite3_stmt* q = prepare(
        "INSERT INTO calibrations(sensor, version, time_ms, record, prev_hash, hash)"
        " VALUES (?,?,?,?,?,?)");
    bind_text(q, 1, entry.sensor);
    sqlite3_bind_int64(q, 2, entry.version);
    sqlite3_bind_int64(q, 3, entry.time_ms);
    bind_text(q, 4, entry.record);
    bind_text(q, 5, entry.prev_hash);
    bind_text(q, 6, entry.hash);
    const int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) fail("append calibration");
    entry.id = sqlite3_last_insert_rowid(db_);
    return entry;
}

std::vector<CalibrationEntry> Store::calibration_history(const std::string& sensor) {
    std::vector<CalibrationEntry> out;
    sqlite3_stmt* stmt = prepare(
        "SELECT id, sensor, version, time_ms, record, prev_hash, hash FROM calibrations"
        " WHERE ?1 = '' OR sensor = ?1 ORDER BY id");
    bind_text(stmt, 1, sensor);
    for_each_row(stmt, "read calibration history", [&](sqlite3_stmt* q) {
        CalibrationEntry e;
        e.id = sqlite3_column_int64(q, 0);
        e.sensor = column_text(q, 1);
        e.version = sqlite3_column_int64(q, 2);
        e.time_ms = sqlite3_column_int64(q, 3);
        e.record = column_text(q, 4);
        e.prev_hash = column_text(q, 5);
        e.hash = column_text(q, 6);
        out.push_back(std::move(e));
    });
    return out;
}

void Store::save_open_window(const StoredOpenWindow& w) {
    StatementReset reset{save_open_window_};
    const OpenWindow& o = w.window;
    bind_text(save_open_window_, 1, w.sensor);
    sqlite3_bind_int64(save_open_window_, 2, o.start_ms);
    sqlite3_bind_int64(save_open_window_, 3, w.window_ms);
    sqlite3_bind_int64(save_open_window_, 4, o.count);
    sqlite3_bind_int64(save_open_window_, 5, o.failed);
    sqlite3_bind_double(save_open_window_, 6, o.sum);
    sqlite3_bind_double(save_open_window_, 7, o.min);
    sqlite3_bind_double(save_open_window_, 8, o.max);
    sqlite3_bind_double(save_open_window_, 9, o.last);
    sqlite3_bind_int(save_open_window_, 10, static_cast<int>(o.clock));
    bind_text(save_open_window_, 11, faults_text(o.faults));
    sqlite3_bind_double(save_open_window_, 12, o.measured_sum);
    sqlite3_bind_double(save_open_window_, 13, o.measured_min);
    sqlite3_bind_double(save_open_window_, 14, o.measured_max);
    sqlite3_bind_double(save_open_window_, 15, o.measured_last);
    sqlite3_bind_int64(save_open_window_, 16, o.calibrating);
    sqlite3_bind_double(save_open_window_, 17, o.m2);
    sqlite3_bind_double(save_open_window_, 18, o.first);
    sqlite3_bind_int64(save_open_window_, 19, o.first_ms);
    sqlite3_bind_int64(save_open_window_, 20, o.last_ms);
    sqlite3_bind_double(save_open_window_, 21, o.integral);
    sqlite3_bind_int64(save_open_window_, 22, o.covered_ms);
    if (sqlite3_step(save_open_window_) != SQLITE_DONE) fail("save open window");
}

void Store::save_sensor_setting(const SensorSetting& setting) {
    sqlite3_stmt* q =
        setting.remove
            ? prepare("DELETE FROM sensor_settings WHERE sensor = ?1")
            : prepare(
                  "INSERT OR REPLACE INTO sensor_settings(sensor, window_s, config_window_s,"
                  " changed_ms, origin) VALUES (?1, ?2, ?3, ?4, ?5)");
    bind_text(q, 1, setting.sensor);
    if (!setting.remove) {
        sqlite3_bind_int64(q, 2, setting.window_s);
        sqlite3_bind_int64(q, 3, setting.config_window_s);
        sqlite3_bind_int64(q, 4, setting.changed_ms);
        bind_text(q, 5, setting.origin);
    }
    const int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) fail("save the setting of sensor " + setting.sensor);
}

void Store::save_analytics_state(const AnalyticsStateRow& row) {
    sqlite3_stmt* q =
        row.state.empty()
            ? prepare("DELETE FROM analytics_state WHERE key = ?1")
            : prepare("INSERT OR REPLACE INTO analytics_state(key, state) VALUES (?1, ?2)");
    bind_text(q, 1, row.key);
    if (!row.state.empty()) bind_text(q, 2, row.state);
    const int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) fail("save analytics state " + row.key);
}

std::vector<AnalyticsStateRow> Store::load_analytics_state() {
    std::vector<AnalyticsStateRow> out;
    sqlite3_stmt* stmt = prepare("SELECT key, state FROM analytics_state ORDER BY key");
    for_each_row(stmt, "read analytics state", [&](sqlite3_stmt* q) {
        out.push_back({column_text(q, 0), column_text(q, 1)});
    });
    return out;
}

std::vector<SensorSetting> Store::load_sensor_settings() {
    std::vector<SensorSetting> out;
    sqlite3_stmt* stmt = prepare(
        "SELECT sensor, window_s, config_window_s, changed_ms, origin FROM sensor_settings"
        " ORDER BY sensor");
    for_each_row(stmt, "read sensor settings", [&](sqlite3_stmt* q) {
        SensorSetting setting;
        setting.sensor = column_text(q, 0);
        setting.window_s = sqlite3_column_int64(q, 1);
        setting.config_window_s = sqlite3_column_int64(q, 2);
        setting.changed_ms = sqlite3_column_int64(q, 3);
        setting.origin = column_text(q, 4);
        out.push_back(std::move(setting));
    });
    return out;
}

std::vector<StoredOpenWindow> Store::load_open_windows() {
    std::vector<StoredOpenWindow> out;
    sqlite3_stmt* stmt = prepare(
        "SELECT sensor, start_ms, window_ms, count, failed, sum, min, max, last, clock, faults,"
        " measured_sum, measured_min, measured_max, measured_last, calibrating,"
        " m2, first, first_ms, last_ms, integral, covered_ms"
        " FROM open_windows ORDER BY sensor");
    for_each_row(stmt, "load open windows", [&](sqlite3_stmt* q) {
        StoredOpenWindow w;
        w.sensor = column_text(q, 0);
        w.window.start_ms = sqlite3_column_int64(q, 1);
        w.window_ms = sqlite3_column_int64(q, 2);
        w.window.count = static_cast<std::uint32_t>(sqlite3_column_int64(q, 3));
        w.window.failed = static_cast<std::uint32_t>(sqlite3_column_int64(q, 4));
        w.window.sum = sqlite3_column_double(q, 5);
        w.window.min = sqlite3_column_double(q, 6);
        w.window.max = sqlite3_column_double(q, 7);
        w.window.last = sqlite3_column_double(q, 8);
        const int clock = sqlite3_column_int(q, 9);
        w.window.clock = clock >= 0 && clock <= static_cast<int>(ClockState::Unsynchronised)
                             ? static_cast<ClockState>(clock)
                             : ClockState::Unsynchronised;
        w.window.faults = parse_faults(column_text(q, 10));
        w.window.measured_sum = sqlite3_column_double(q, 11);
        w.window.measured_min = sqlite3_column_double(q, 12);
        w.window.measured_max = sqlite3_column_double(q, 13);
        w.window.measured_last = sqlite3_column_double(q, 14);
        w.window.calibrating = static_cast<std::uint32_t>(sqlite3_column_int64(q, 15));
        w.window.m2 = sqlite3_column_double(q, 16);
        w.window.first = sqlite3_column_double(q, 17);
        w.window.first_ms = sqlite3_column_int64(q, 18);
        w.window.last_ms = sqlite3_column_int64(q, 19);
        w.window.integral = sqlite3_column_double(q, 20);
        w.window.covered_ms = sqlite3_column_int64(q, 21);
        out.push_back(std::move(w));
    });
    return out;
}

std::vector<StoredReading> Store::release_held(const std::string& boot_id,
                                               std::optional<std::int64_t> offset_ms) {
    std::vector<StoredReading> held = load_readings(ClockState::Held);
    exec("BEGIN IMMEDIATE");
    Transaction tx{db_};
    if (offset_ms) {
        sqlite3_stmt* q = prepare(
            "UPDATE readings SET clock = 2, wall_ms = mono_ms + ?"
            " WHERE clock = 0 AND boot = (SELECT id FROM boots WHERE boot_id = ?)");
        sqlite3_bind_int64(q, 1, *offset_ms);
        bind_text(q, 2, boot_id);
        const int rc = sqlite3_step(q);
        sqlite3_finalize(q);
        if (rc != SQLITE_DONE) fail("correct held readings");
    }
    // Readings of earlier boots cannot be re-timed: their monotonic clock is gone.
    exec("UPDATE readings SET clock = 3 WHERE clock = 0");
    exec("COMMIT");
    tx.done = true;
    for (auto& r : held) {
        if (offset_ms && r.boot_id == boot_id) {
            r.wall_ms = r.mono_ms + *offset_ms;
            r.clock = ClockState::Corrected;
        } else {
            r.clock = ClockState::Unsynchronised;
        }
    }
    std::stable_sort(held.begin(), held.end(), [](const StoredReading& a, const StoredReading& b) {
        return a.sensor != b.sensor ? a.sensor < b.sensor : a.wall_ms < b.wall_ms;
    });
    return held;
}

StoreStats Store::stats() {
    StoreStats s;
    s.depth = depth_;
    s.oldest_created_ms = static_cast<std::int64_t>(
        query_u64("SELECT IFNULL((SELECT created_ms FROM outbox ORDER BY seq LIMIT 1), 0)"));
    s.bytes_used =
        (query_u64("PRAGMA page_count") - query_u64("PRAGMA freelist_count")) * page_size_;
    s.max_bytes = options_.max_bytes;
    s.evicted_total = evicted_total_;
    s.rejected_total = rejected_total_;
    s.last_seq = last_seq_;
    s.readings = query_u64("SELECT COUNT(*) FROM readings");
    s.open_windows = query_u64("SELECT COUNT(*) FROM open_windows");
    s.hj212_pending = query_u64("SELECT COUNT(*) FROM hj212_frames WHERE delivered_ms IS NULL");
    s.hj212_history = query_u64("SELECT COUNT(*) FROM hj212_frames") - s.hj212_pending;
    return s;
}

namespace {
constexpr const char* kHj212Columns =
    "SELECT id, platform, cn, qn, cp, data_time_ms, created_ms, delivered_ms FROM hj212_frames";

StoredHj212Frame hj212_frame(sqlite3_stmt* q) {
    StoredHj212Frame f;
    f.id = sqlite3_column_int64(q, 0);
    f.platform = column_text(q, 1);
    f.cn = column_text(q, 2);
    f.qn = column_text(q, 3);
    f.cp = column_text(q, 4);
    f.data_time_ms = sqlite3_column_int64(q, 5);
    f.created_ms = sqlite3_column_int64(q, 6);
    if (sqlite3_column_type(q, 7) != SQLITE_NULL) f.delivered_ms = sqlite3_column_int64(q, 7);
    return f;
}

sqlite3_int64 sql_limit(std::size_t limit) {
    return static_cast<sqlite3_int64>(std::min<std::uint64_t>(limit, INT64_MAX));
}
}  // namespace

std::vector<StoredHj212Frame> Store::hj212_pending(const std::string& platform,
                                                   std::int64_t after_id, std::size_t limit) {
    std::vector<StoredHj212Frame> out;
    // "delivered_ms IS NULL" spelled as in the partial index, so the index serves the query.
    sqlite3_stmt* stmt =
        prepare((std::string(kHj212Columns) +
                 " WHERE platform = ?1 AND delivered_ms IS NULL AND id > ?2 ORDER BY id LIMIT ?3")
                    .c_str());
    bind_text(stmt, 1, platform);
    sqlite3_bind_int64(stmt, 2, after_id);
    sqlite3_bind_int64(stmt, 3, sql_limit(limit));
    for_each_row(stmt, "read pending HJ 212 frames",
                 [&](sqlite3_stmt* q) { out.push_back(hj212_frame(q)); });
    return out;
}

void Store::hj212_delivered(const std::vector<std::int64_t>& ids, std::int64_t delivered_ms) {
    if (ids.empty()) return;
    exec("BEGIN IMMEDIATE");
    Transaction tx{db_};
    mark_hj212_delivered(ids, delivered_ms);
    exec("COMMIT");
    tx.done = true;
}

void Store::mark_hj212_delivered(const std::vector<std::int64_t>& ids, std::int64_t delivered_ms) {
    struct Finalize {
        sqlite3_stmt* drop{nullptr};
        sqlite3_stmt* mark{nullptr};
        ~Finalize() {
            sqlite3_finalize(drop);
            sqlite3_finalize(mark);
        }
    } stmts;
    // Real-time frames (keep = 0) leave; the others become history, keeping the time of their
    // first acknowledgement.
    sqlite3_stmt* drop = stmts.drop =
        prepare("DELETE FROM hj212_frames WHERE id = ?1 AND keep = 0");
    sqlite3_stmt* mark = stmts.mark =
        prepare("UPDATE hj212_frames SET delivered_ms = ?2 WHERE id = ?1 AND delivered_ms IS NULL");
    for (std::int64_t id : ids) {
        {
            StatementReset reset{drop};
            sqlite3_bind_int64(drop, 1, id);
            if (sqlite3_step(drop) != SQLITE_DONE) fail("delete delivered HJ 212 frame");
        }
        StatementReset reset{mark};
        sqlite3_bind_int64(mark, 1, id);
        sqlite3_bind_int64(mark, 2, delivered_ms);
        if (sqlite3_step(mark) != SQLITE_DONE) fail("mark HJ 212 frame delivered");
    }
}

std::vector<StoredHj212Frame> Store::hj212_history(const std::string& platform,
                                                   const std::string& cn, std::int64_t begin_ms,
                                                   std::int64_t end_ms, std::size_t limit) {
    std::vector<StoredHj212Frame> out;
    sqlite3_stmt* stmt = prepare((std::string(kHj212Columns) +
                                  " WHERE platform = ?1 AND cn = ?2 AND data_time_ms >= ?3"
                                  " AND data_time_ms <= ?4 ORDER BY data_time_ms, id LIMIT ?5")
                                     .c_str());
    bind_text(stmt, 1, platform);
    bind_text(stmt, 2, cn);
    sqlite3_bind_int64(stmt, 3, begin_ms);
    sqlite3_bind_int64(stmt, 4, end_ms);
    sqlite3_bind_int64(stmt, 5, sql_limit(limit));
    for_each_row(stmt, "read HJ 212 history",
                 [&](sqlite3_stmt* q) { out.push_back(hj212_frame(q)); });
    return out;
}

std::uint64_t Store::hj212_prune(std::int64_t data_time_before_ms) {
    sqlite3_stmt* q =
        prepare("DELETE FROM hj212_frames WHERE delivered_ms IS NOT NULL AND data_time_ms < ?1");
    sqlite3_bind_int64(q, 1, data_time_before_ms);
    const int rc = sqlite3_step(q);
    const auto deleted = static_cast<std::uint64_t>(sqlite3_changes(db_));
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) fail("prune HJ 212 history");
    return deleted;
}

}  // namespace gw
