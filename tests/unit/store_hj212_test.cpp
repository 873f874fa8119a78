// SPDX-License-Identifier: Apache-2.0
// The store's HJ 212 frames (docs/hj212.md): pending per platform in id order, history after
// delivery (except real-time frames), pruning, migration and the size cap.
#include <sqlite3.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "buffer/store.hpp"
#include "buffer/store_worker.hpp"
#include "store_test_support.hpp"

using namespace gw;

namespace {

using Hj212TempDir = test::StoreTempDir;

StoreOptions hj_options(std::uint64_t max_bytes = 128u << 20,
                        WhenFull when_full = WhenFull::DropOldest) {
    return test::store_options(max_bytes, when_full);
}

Hj212FrameAppend frame(const std::string& platform, const std::string& cn,
                       std::int64_t data_time_ms, const std::string& cp = "w01018-Avg=7.2",
                       bool keep = true) {
    Hj212FrameAppend f;
    f.platform = platform;
    f.cn = cn;
    f.data_time_ms = data_time_ms;
    f.qn = "20260101000000" + std::to_string(data_time_ms % 1000000);
    f.cp = cp;
    f.keep_as_history = keep;
    return f;
}

OutboxMessage hj_message(int i, std::size_t padding = 0) {
    nlohmann::ordered_json body;
    body["v"] = 1;
    body["seq"] = nullptr;
    body["i"] = i;
    if (padding > 0) body["pad"] = std::string(padding, 'x');
    return {"t/data/x", body};
}

std::vector<std::int64_t> ids_of(const std::vector<StoredHj212Frame>& frames) {
    std::vector<std::int64_t> ids;
    for (const auto& f : frames) ids.push_back(f.id);
    return ids;
}

std::int64_t user_version(const std::string& path) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    sqlite3_stmt* q = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(q) == SQLITE_ROW);
    const std::int64_t v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

void exec_on(const std::string& path, const char* sql) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    char* message = nullptr;
    const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &message);
    INFO((message != nullptr ? message : ""));
    sqlite3_free(message);
    sqlite3_close(db);
    REQUIRE(rc == SQLITE_OK);
}

}  // namespace

TEST_CASE("store hj212: frames are pending per platform in id order", "[store][hj212]") {
    Store store(":memory:", hj_options());
    CommitBatch batch;
    batch.hj212_frames = {frame("p1", "2051", 600'000), frame("p2", "2051", 600'000),
                          frame("p1", "2061", 3'600'000), frame("p1", "2011", 630'000, "x", false)};
    const std::int64_t before = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count();
    const auto result = store.commit(batch);
    CHECK(result.hj212_last_id == 4);
    CHECK(result.seqs.empty());

    const auto p1 = store.hj212_pending("p1", 0, 100);
    REQUIRE(p1.size() == 3);
    CHECK(ids_of(p1) == std::vector<std::int64_t>{1, 3, 4});
    CHECK(p1[0].platform == "p1");
    CHECK(p1[0].cn == "2051");
    CHECK(p1[0].data_time_ms == 600'000);
    CHECK(p1[0].qn == batch.hj212_frames[0].qn);
    CHECK(p1[0].cp == "w01018-Avg=7.2");
    CHECK(p1[0].created_ms >= before);
    CHECK_FALSE(p1[0].delivered_ms.has_value());
    CHECK(p1[1].cn == "2061");
    CHECK(p1[2].cn == "2011");
    CHECK(p1[2].cp == "x");

    const auto p2 = store.hj212_pending("p2", 0, 100);
    REQUIRE(p2.size() == 1);
    CHECK(p2[0].id == 2);
    CHECK(p2[0].platform == "p2");
    CHECK(store.hj212_pending("p3", 0, 100).empty());

    // after_id and limit page through the pending frames.
    CHECK(ids_of(store.hj212_pending("p1", 1, 100)) == std::vector<std::int64_t>{3, 4});
    CHECK(ids_of(store.hj212_pending("p1", 0, 2)) == std::vector<std::int64_t>{1, 3});
    CHECK(store.hj212_pending("p1", 4, 100).empty());

    // A commit without frames reports no id; a later commit continues the ids.
    CommitBatch events;
    events.events.push_back(hj_message(1));
    CHECK(store.commit(events).hj212_last_id == 0);
    CommitBatch more;
    more.hj212_frames = {frame("p2", "2051", 1'200'000)};
    CHECK(store.commit(more).hj212_last_id == 5);
    CHECK(ids_of(store.hj212_pending("p2", 0, 100)) == std::vector<std::int64_t>{2, 5});
}

TEST_CASE("store hj212: delivery keeps history frames and deletes real-time ones",
          "[store][hj212]") {
    Store store(":memory:", hj_options());
    CommitBatch batch;
    batch.hj212_frames = {frame("p1", "2051", 600'000), frame("p1", "2011", 630'000, "rt", false),
                          frame("p1", "2061", 3'600'000),
                          frame("p2", "2011", 630'000, "rt", false)};
    store.commit(batch);
    CHECK(store.stats().hj212_pending == 4);
    CHECK(store.stats().hj212_history == 0);

    store.hj212_delivered({1, 2, 999}, 5'000);  // 999 is unknown: ignored
    CHECK(ids_of(store.hj212_pending("p1", 0, 100)) == std::vector<std::int64_t>{3});
    CHECK(ids_of(store.hj212_pending("p2", 0, 100)) == std::vector<std::int64_t>{4});

    // Frame 1 is history, delivered at 5 000; the real-time frame 2 is gone.
    const auto h51 = store.hj212_history("p1", "2051", 0, 10'000'000, 100);
    REQUIRE(h51.size() == 1);
    CHECK(h51[0].id == 1);
    REQUIRE(h51[0].delivered_ms.has_value());
    CHECK(*h51[0].delivered_ms == 5'000);
    CHECK(store.hj212_history("p1", "2011", 0, 10'000'000, 100).empty());

    // A repeated acknowledgement keeps the first delivery time.
    store.hj212_delivered({1}, 9'000);
    CHECK(*store.hj212_history("p1", "2051", 0, 10'000'000, 100).at(0).delivered_ms == 5'000);
    store.hj212_delivered({}, 9'000);  // nothing to do

    const auto stats = store.stats();
    CHECK(stats.hj212_pending == 2);
    CHECK(stats.hj212_history == 1);

    store.hj212_delivered({3, 4}, 7'000);
    CHECK(store.hj212_pending("p1", 0, 100).empty());
    CHECK(store.hj212_pending("p2", 0, 100).empty());
    CHECK(store.stats().hj212_pending == 0);
    CHECK(store.stats().hj212_history == 2);  // frames 1 and 3; 4 was real-time
}

TEST_CASE("store hj212: history is an inclusive range of one platform and cn, in time order",
          "[store][hj212]") {
    Store store(":memory:", hj_options());
    CommitBatch batch;
    // Inserted out of data-time order, with two frames sharing a data time.
    batch.hj212_frames = {
        frame("p1", "2051", 1'800'000, "c"),   // id 1
        frame("p1", "2051", 600'000, "a"),     // id 2
        frame("p1", "2051", 1'200'000, "b"),   // id 3
        frame("p1", "2051", 2'400'000, "d"),   // id 4
        frame("p1", "2061", 1'200'000, "h"),   // id 5: other cn
        frame("p2", "2051", 1'200'000, "o"),   // id 6: other platform
        frame("p1", "2051", 1'200'000, "b2"),  // id 7: same data time as id 3
        frame("p1", "2051", 0, "z"),           // id 8
    };
    store.commit(batch);
    store.hj212_delivered({3}, 1'000);  // delivered or not, both are history

    const auto h = store.hj212_history("p1", "2051", 600'000, 1'800'000, 100);
    REQUIRE(h.size() == 4);
    CHECK(ids_of(h) == std::vector<std::int64_t>{2, 3, 7, 1});
    CHECK(h[0].data_time_ms == 600'000);  // begin included
    CHECK(h[0].cp == "a");
    CHECK(h[1].cp == "b");
    CHECK(h[1].delivered_ms.value_or(0) == 1'000);
    CHECK(h[2].cp == "b2");
    CHECK_FALSE(h[2].delivered_ms.has_value());
    CHECK(h[3].data_time_ms == 1'800'000);  // end included

    CHECK(ids_of(store.hj212_history("p1", "2051", 600'001, 1'799'999, 100)) ==
          std::vector<std::int64_t>{3, 7});
    CHECK(ids_of(store.hj212_history("p1", "2051", 0, 10'000'000, 2)) ==
          std::vector<std::int64_t>{8, 2});
    CHECK(ids_of(store.hj212_history("p1", "2061", 0, 10'000'000, 100)) ==
          std::vector<std::int64_t>{5});
    CHECK(ids_of(store.hj212_history("p2", "2051", 0, 10'000'000, 100)) ==
          std::vector<std::int64_t>{6});
    CHECK(store.hj212_history("p1", "2031", 0, 10'000'000, 100).empty());
    CHECK(store.hj212_history("p1", "2051", 2'400'001, 9'000'000, 100).empty());
}

TEST_CASE("store hj212: prune deletes only delivered frames before the cutoff", "[store][hj212]") {
    Store store(":memory:", hj_options());
    CommitBatch batch;
    batch.hj212_frames = {frame("p1", "2051", 1'000),   // 1: delivered, old  -> pruned
                          frame("p1", "2051", 2'000),   // 2: pending, old    -> kept
                          frame("p2", "2061", 1'500),   // 3: delivered, old  -> pruned
                          frame("p1", "2051", 3'000),   // 4: delivered, at the cutoff -> kept
                          frame("p1", "2051", 4'000)};  // 5: delivered, new  -> kept
    store.commit(batch);
    store.hj212_delivered({1, 3, 4, 5}, 10'000);
    CHECK(store.hj212_prune(3'000) == 2);
    CHECK(ids_of(store.hj212_history("p1", "2051", 0, 100'000, 100)) ==
          std::vector<std::int64_t>{2, 4, 5});
    CHECK(store.hj212_history("p2", "2061", 0, 100'000, 100).empty());
    CHECK(ids_of(store.hj212_pending("p1", 0, 100)) == std::vector<std::int64_t>{2});
    CHECK(store.hj212_prune(3'000) == 0);
    // Even a cutoff after everything keeps the pending frame.
    CHECK(store.hj212_prune(1'000'000) == 2);
    const auto stats = store.stats();
    CHECK(stats.hj212_pending == 1);
    CHECK(stats.hj212_history == 0);
    CHECK(ids_of(store.hj212_pending("p1", 0, 100)) == std::vector<std::int64_t>{2});
}

TEST_CASE("store hj212: frames survive a close and reopen, ids are not reused", "[store][hj212]") {
    Hj212TempDir dir;
    std::int64_t created = 0;
    {
        Store store(dir.db(), hj_options());
        CommitBatch batch;
        batch.hj212_frames = {frame("p1", "2051", 600'000, "a=1"), frame("p1", "2061", 3'600'000),
                              frame("p1", "2051", 1'200'000, "a=3")};
        CHECK(store.commit(batch).hj212_last_id == 3);
        store.hj212_delivered({1}, 42'000);
        created = store.hj212_pending("p1", 0, 1).at(0).created_ms;
        // The newest frame leaves (pruned after delivery): its id must not come back.
        store.hj212_delivered({3}, 43'000);
        CHECK(store.hj212_prune(2'000'000) == 2);
    }
    CHECK(user_version(dir.db()) == 9);
    Store store(dir.db(), hj_options());
    const auto pending = store.hj212_pending("p1", 0, 100);
    REQUIRE(pending.size() == 1);
    CHECK(pending[0].id == 2);
    CHECK(pending[0].cn == "2061");
    CHECK(pending[0].created_ms == created);
    CHECK(store.stats().hj212_pending == 1);
    CHECK(store.stats().hj212_history == 0);
    CommitBatch next;
    next.hj212_frames = {frame("p1", "2051", 1'800'000)};
    CHECK(store.commit(next).hj212_last_id == 4);
}

TEST_CASE("store hj212: frames are committed atomically with the batch's windows",
          "[store][hj212]") {
    Hj212TempDir dir;
    {
        Store store(dir.db(), hj_options());
        CommitBatch first;
        first.hj212_frames = {frame("p1", "2051", 600'000)};
        first.events.push_back(hj_message(0));
        store.commit(first);
    }
    // A trigger (another connection) makes the frame insert fail after the windows are stored.
    exec_on(dir.db(),
            "CREATE TRIGGER hj212_boom BEFORE INSERT ON hj212_frames WHEN NEW.platform = 'boom'"
            " BEGIN SELECT RAISE(ABORT, 'boom'); END;");
    Store store(dir.db(), hj_options());
    CommitBatch open;
    StoredOpenWindow w;
    w.sensor = "a";
    w.window_ms = 60'000;
    w.window.start_ms = 0;
    w.window.count = 3;
    open.open_windows = {w};
    store.commit(open);
    const auto before = store.stats();

    CommitBatch failing;
    failing.windows.push_back({"a", 60'000, hj_message(1), 60'000});
    failing.hj212_frames = {frame("p1", "2051", 1'200'000), frame("boom", "2051", 1'200'000)};
    CHECK_THROWS_AS(store.commit(failing), StoreError);
    // Nothing of the batch is stored: no window message, the open window is still there, and
    // neither frame (not even the one before the failing insert).
    const auto after = store.stats();
    CHECK(after.depth == before.depth);
    CHECK(after.last_seq == before.last_seq);
    CHECK(after.open_windows == 1);
    CHECK(store.load_open_windows().size() == 1);
    CHECK(ids_of(store.hj212_pending("p1", 0, 100)) == std::vector<std::int64_t>{1});
    CHECK(after.hj212_pending == 1);

    // The same batch without the failing frame stores both.
    failing.hj212_frames.pop_back();
    const auto ok = store.commit(failing);
    CHECK(ok.seqs == std::vector<std::uint64_t>{before.last_seq + 1});
    CHECK(store.load_open_windows().empty());
    const auto pending = store.hj212_pending("p1", 0, 100);
    REQUIRE(pending.size() == 2);
    CHECK(pending[1].id == ok.hj212_last_id);
    CHECK(pending[1].data_time_ms == 1'200'000);
}

TEST_CASE("store hj212: a database of schema version 8 keeps its outbox and gains the frames",
          "[store][hj212]") {
    Hj212TempDir dir;
    {
        Store store(dir.db(), hj_options());
        CommitBatch batch;
        for (int i = 0; i < 3; ++i) batch.events.push_back(hj_message(i));
        CHECK(store.commit(batch).seqs == std::vector<std::uint64_t>{1, 2, 3});
    }
    // Back to version 8 as released: migration 9 only added the table and its indexes (the
    // empty sqlite_sequence table left behind is what any AUTOINCREMENT table would create).
    exec_on(dir.db(), "DROP TABLE hj212_frames; PRAGMA user_version=8;");
    REQUIRE(user_version(dir.db()) == 8);

    Store store(dir.db(), hj_options());
    CHECK(user_version(dir.db()) == 9);
    const auto rows = store.peek(0, UINT64_MAX, 100);
    REQUIRE(rows.size() == 3);
    CHECK(rows[0].seq == 1);
    CHECK(nlohmann::json::parse(rows[2].payload).at("i") == 2);
    CHECK(store.stats().depth == 3);
    CHECK(store.stats().hj212_pending == 0);
    CHECK(store.stats().hj212_history == 0);
    CommitBatch frames;
    frames.hj212_frames = {frame("p1", "2051", 600'000)};
    CHECK(store.commit(frames).hj212_last_id == 1);
    CHECK(store.hj212_pending("p1", 0, 10).size() == 1);
    CHECK(store.commit(CommitBatch{}).hj212_last_id == 0);
    CommitBatch more;
    more.events.push_back(hj_message(3));
    CHECK(store.commit(more).seqs == std::vector<std::uint64_t>{4});
}

namespace {
/// Fills a store with 250 delivered history frames and 20 pending ones (~190 KB in pages).
void fill_hj212(Store& store) {
    const std::string cp(400, 'c');
    for (int round = 0; round < 25; ++round) {
        CommitBatch batch;
        for (int i = 0; i < 10; ++i)
            batch.hj212_frames.push_back(frame("p1", "2051", (round * 10 + i) * 600'000, cp));
        const auto last = store.commit(batch).hj212_last_id;
        std::vector<std::int64_t> ids;
        for (std::int64_t id = last - 9; id <= last; ++id) ids.push_back(id);
        store.hj212_delivered(ids, 1'000);
    }
    CommitBatch pending;
    for (int i = 0; i < 20; ++i)
        pending.hj212_frames.push_back(frame("p2", "2011", 1'000'000'000 + i, cp, false));
    store.commit(pending);
}
}  // namespace

TEST_CASE("store hj212: at max_bytes delivered history goes before any outbox message",
          "[store][hj212]") {
    const std::uint64_t cap = 256 * 1024;
    const WhenFull policy = GENERATE(WhenFull::DropOldest, WhenFull::RejectNew);
    Store store(":memory:", hj_options(cap, policy));
    fill_hj212(store);
    const auto filled = store.stats();
    REQUIRE(filled.hj212_history == 250);
    REQUIRE(filled.hj212_pending == 20);
    REQUIRE(filled.bytes_used > cap / 2);

    // Messages that need room: history is evicted first; no message is lost while it lasts.
    std::uint64_t committed = 0;
    std::uint64_t history = filled.hj212_history;
    int rounds = 0;
    while (history == filled.hj212_history && rounds++ < 500) {
        CommitBatch batch;
        for (int i = 0; i < 10; ++i) batch.events.push_back(hj_message(i, 300));
        const auto result = store.commit(batch);
        CHECK_FALSE(result.evicted);
        CHECK(result.rejected == 0);
        committed += result.seqs.size();
        history = store.stats().hj212_history;
    }
    REQUIRE(history < filled.hj212_history);
    auto stats = store.stats();
    CHECK(stats.depth == committed);
    CHECK(stats.evicted_total == 0);
    CHECK(stats.rejected_total == 0);
    CHECK(stats.hj212_pending == 20);
    CHECK(stats.bytes_used <= cap);
    // The oldest history went first: what is left is the newest.
    const auto left = store.hj212_history("p1", "2051", 0, INT64_MAX, 1000);
    REQUIRE(left.size() == history);
    if (!left.empty()) CHECK(left.back().data_time_ms == 249 * 600'000);
    if (!left.empty()) CHECK(left.front().id == 251 - static_cast<std::int64_t>(history));

    // Only once the history is gone does the configured policy apply to the outbox; the
    // pending frames are never evicted.
    bool policy_applied = false;
    for (int round = 0; round < 500 && !policy_applied; ++round) {
        CommitBatch batch;
        for (int i = 0; i < 10; ++i) batch.events.push_back(hj_message(i, 300));
        const auto before_history = store.stats().hj212_history;
        const auto result = store.commit(batch);
        policy_applied = result.evicted.has_value() || result.rejected > 0;
        if (policy_applied) CHECK(before_history == 0);
    }
    CHECK(policy_applied);
    stats = store.stats();
    CHECK(stats.hj212_history == 0);
    CHECK(stats.hj212_pending == 20);
    const auto pending = store.hj212_pending("p2", 0, 100);
    REQUIRE(pending.size() == 20);
    CHECK(pending.front().data_time_ms == 1'000'000'000);
    CHECK(pending.back().cp == std::string(400, 'c'));
    if (policy == WhenFull::DropOldest) {
        CHECK(stats.evicted_total > 0);
        CHECK(stats.rejected_total == 0);
    } else {
        CHECK(stats.rejected_total > 0);
        CHECK(stats.evicted_total == 0);
    }
}

TEST_CASE("store hj212: the worker's calls reach the store and post results back",
          "[store][hj212]") {
    Hj212TempDir dir;
    boost::asio::io_context io;
    // Keeps run_one() waiting for the database thread's results instead of returning at once.
    auto guard = boost::asio::make_work_guard(io);
    StoreWorker worker(dir.db(), hj_options(), io.get_executor());
    CommitBatch batch;
    batch.hj212_frames = {frame("p1", "2051", 600'000), frame("p1", "2011", 630'000, "rt", false),
                          frame("p1", "2051", 1'200'000)};
    std::int64_t last_id = 0;
    worker.async_commit(batch, [&](Outcome<CommitResult> r) {
        REQUIRE(r.ok());
        last_id = r.value.hj212_last_id;
    });
    std::vector<std::int64_t> pending;
    worker.async_hj212_pending("p1", 0, 10, [&](Outcome<std::vector<StoredHj212Frame>> r) {
        REQUIRE(r.ok());
        pending = ids_of(r.value);
    });
    // Acknowledgements travel with the next commit (the link hands them to the gateway's).
    CommitBatch acks;
    acks.hj212_delivered = {1, 2};
    bool delivered = false;
    worker.async_commit(acks, [&](Outcome<CommitResult> r) {
        REQUIRE(r.ok());
        delivered = true;
    });
    std::vector<StoredHj212Frame> history;
    worker.async_hj212_history("p1", "2051", 0, 10'000'000, 10,
                               [&](Outcome<std::vector<StoredHj212Frame>> r) {
                                   REQUIRE(r.ok());
                                   history = r.value;
                               });
    std::uint64_t pruned = 99;
    worker.async_hj212_prune(700'000, [&](Outcome<std::uint64_t> r) {
        REQUIRE(r.ok());
        pruned = r.value;
    });
    // The jobs run in order on the database thread; wait for the five results.
    int results = 0;
    while (results < 5) results += static_cast<int>(io.run_one());
    guard.reset();
    CHECK(last_id == 3);
    CHECK(pending == std::vector<std::int64_t>{1, 2, 3});
    CHECK(delivered);
    REQUIRE(history.size() == 2);
    CHECK(history[0].delivered_ms.has_value());  // the commit's time
    CHECK_FALSE(history[1].delivered_ms.has_value());
    CHECK(pruned == 1);
    CHECK(worker.stats_now().hj212_pending == 1);
    CHECK(worker.stats_now().hj212_history == 0);
    worker.stop();
}
