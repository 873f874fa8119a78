// SPDX-License-Identifier: Apache-2.0
// The SQLite outbox: the one place that defines "not yet delivered". Every message gets its
// gateway-wide `seq` when it is committed here; a row is deleted only after the broker's PUBACK.
// Synchronous and single-threaded: OutboxWorker runs it on the database thread.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.hpp"

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

struct OutboxStats {
    std::uint64_t depth{0};     ///< rows not yet acknowledged
    std::uint64_t last_seq{0};  ///< highest seq ever assigned (persisted)
};

class OutboxError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class Outbox {
public:
    /// Opens (creating if needed) the database; ":memory:" works for tests. Throws OutboxError.
    Outbox(const std::string& path, SyncMode sync);
    ~Outbox();
    Outbox(const Outbox&) = delete;
    Outbox& operator=(const Outbox&) = delete;

    /// Commits all messages in one transaction, assigning consecutive seqs; returns them.
    std::vector<std::uint64_t> enqueue(std::vector<OutboxMessage> messages);
    /// Oldest messages with seq > after_seq, in seq order.
    std::vector<StoredMessage> peek(std::uint64_t after_seq, std::size_t limit);
    /// Deletes acknowledged messages (unknown seqs are ignored: acks may repeat).
    void ack(const std::vector<std::uint64_t>& seqs);
    OutboxStats stats() const { return stats_; }

private:
    void close();
    void exec(const char* sql);
    sqlite3_stmt* prepare(const char* sql);
    void migrate();
    [[noreturn]] void fail(const std::string& what);

    sqlite3* db_{nullptr};
    sqlite3_stmt* insert_{nullptr};
    sqlite3_stmt* peek_{nullptr};
    sqlite3_stmt* delete_{nullptr};
    sqlite3_stmt* save_seq_{nullptr};
    OutboxStats stats_;
};

}  // namespace gw
