// SPDX-License-Identifier: Apache-2.0
#include "buffer/outbox.hpp"

#include <sqlite3.h>

#include <chrono>

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
};

/// Finalises a statement's bindings and cursor on scope exit.
struct StatementReset {
    sqlite3_stmt* stmt;
    ~StatementReset() {
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
    }
};

}  // namespace

Outbox::Outbox(const std::string& path, SyncMode sync) {
    if (sqlite3_open_v2(path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK) {
        const std::string why = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
        sqlite3_close(db_);
        db_ = nullptr;
        throw OutboxError("cannot open outbox " + path + ": " + why);
    }
    sqlite3_busy_timeout(db_, 5000);
    try {
        exec("PRAGMA journal_mode=WAL");
        exec(sync == SyncMode::Full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
        migrate();
        insert_ = prepare("INSERT INTO outbox(seq, topic, payload, created_ms) VALUES (?,?,?,?)");
        peek_ =
            prepare("SELECT seq, topic, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?");
        delete_ = prepare("DELETE FROM outbox WHERE seq = ?");
        save_seq_ = prepare("UPDATE meta SET value = ? WHERE key = 'last_seq'");

        sqlite3_stmt* q = prepare(
            "SELECT (SELECT COUNT(*) FROM outbox),"
            " (SELECT value FROM meta WHERE key = 'last_seq'),"
            " (SELECT IFNULL(MAX(seq), 0) FROM outbox)");
        if (sqlite3_step(q) == SQLITE_ROW) {
            stats_.depth = static_cast<std::uint64_t>(sqlite3_column_int64(q, 0));
            // The counter can never be below a stored row, whatever happened to meta.
            stats_.last_seq = static_cast<std::uint64_t>(
                std::max(sqlite3_column_int64(q, 1), sqlite3_column_int64(q, 2)));
        }
        sqlite3_finalize(q);
    } catch (...) {
        close();
        throw;
    }
}

Outbox::~Outbox() {
    close();
}

void Outbox::close() {
    for (sqlite3_stmt* s : {insert_, peek_, delete_, save_seq_}) sqlite3_finalize(s);
    insert_ = peek_ = delete_ = save_seq_ = nullptr;
    if (db_ != nullptr) sqlite3_close(db_);
    db_ = nullptr;
}

void Outbox::fail(const std::string& what) {
    throw OutboxError(what + ": " + sqlite3_errmsg(db_));
}

void Outbox::exec(const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
        std::string why = message != nullptr ? message : "unknown error";
        sqlite3_free(message);
        throw OutboxError(std::string("sqlite: ") + why + " in: " + sql);
    }
}

sqlite3_stmt* Outbox::prepare(const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr) != SQLITE_OK)
        fail(std::string("prepare ") + sql);
    return stmt;
}

void Outbox::migrate() {
    sqlite3_stmt* q = prepare("PRAGMA user_version");
    int version = 0;
    if (sqlite3_step(q) == SQLITE_ROW) version = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    constexpr int latest = static_cast<int>(std::size(kMigrations));
    if (version > latest)
        throw OutboxError("outbox schema version " + std::to_string(version) +
                          " is newer than this towngwd understands (" + std::to_string(latest) +
                          "); refusing to touch it");
    for (int v = version; v < latest; ++v) {
        exec("BEGIN IMMEDIATE");
        try {
            exec(kMigrations[v]);
            exec(("PRAGMA user_version=" + std::to_string(v + 1)).c_str());
            exec("COMMIT");
        } catch (...) {
            sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
            throw;
        }
    }
}

std::vector<std::uint64_t> Outbox::enqueue(std::vector<OutboxMessage> messages) {
    std::vector<std::uint64_t> seqs;
    if (messages.empty()) return seqs;
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    exec("BEGIN IMMEDIATE");
    std::uint64_t seq = stats_.last_seq;
    try {
        for (auto& message : messages) {
            ++seq;
            message.body["seq"] = seq;
            const std::string payload = message.body.dump();
            StatementReset reset{insert_};
            sqlite3_bind_int64(insert_, 1, static_cast<sqlite3_int64>(seq));
            sqlite3_bind_text(insert_, 2, message.topic.data(),
                              static_cast<int>(message.topic.size()), SQLITE_TRANSIENT);
            sqlite3_bind_text(insert_, 3, payload.data(), static_cast<int>(payload.size()),
                              SQLITE_TRANSIENT);
            sqlite3_bind_int64(insert_, 4, now_ms);
            if (sqlite3_step(insert_) != SQLITE_DONE) fail("insert into outbox");
            seqs.push_back(seq);
        }
        StatementReset reset{save_seq_};
        sqlite3_bind_int64(save_seq_, 1, static_cast<sqlite3_int64>(seq));
        if (sqlite3_step(save_seq_) != SQLITE_DONE) fail("save last_seq");
        exec("COMMIT");
    } catch (...) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
    stats_.last_seq = seq;
    stats_.depth += seqs.size();
    return seqs;
}

std::vector<StoredMessage> Outbox::peek(std::uint64_t after_seq, std::size_t limit) {
    std::vector<StoredMessage> out;
    StatementReset reset{peek_};
    sqlite3_bind_int64(peek_, 1, static_cast<sqlite3_int64>(after_seq));
    sqlite3_bind_int64(peek_, 2, static_cast<sqlite3_int64>(limit));
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(peek_)) == SQLITE_ROW) {
        StoredMessage m;
        m.seq = static_cast<std::uint64_t>(sqlite3_column_int64(peek_, 0));
        m.topic.assign(reinterpret_cast<const char*>(sqlite3_column_text(peek_, 1)),
                       static_cast<std::size_t>(sqlite3_column_bytes(peek_, 1)));
        m.payload.assign(reinterpret_cast<const char*>(sqlite3_column_text(peek_, 2)),
                         static_cast<std::size_t>(sqlite3_column_bytes(peek_, 2)));
        out.push_back(std::move(m));
    }
    if (rc != SQLITE_DONE) fail("peek outbox");
    return out;
}

void Outbox::ack(const std::vector<std::uint64_t>& seqs) {
    if (seqs.empty()) return;
    exec("BEGIN IMMEDIATE");
    std::uint64_t deleted = 0;
    try {
        for (std::uint64_t seq : seqs) {
            StatementReset reset{delete_};
            sqlite3_bind_int64(delete_, 1, static_cast<sqlite3_int64>(seq));
            if (sqlite3_step(delete_) != SQLITE_DONE) fail("delete from outbox");
            deleted += static_cast<std::uint64_t>(sqlite3_changes(db_));
        }
        exec("COMMIT");
    } catch (...) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
    stats_.depth -= std::min(deleted, stats_.depth);
}

}  // namespace gw
