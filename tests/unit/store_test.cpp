// SPDX-License-Identifier: Apache-2.0
#include "buffer/store.hpp"

#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include "core/sha256.hpp"
#include "store_test_support.hpp"

using namespace gw;

namespace {

OutboxMessage message(int i, std::size_t padding = 0) {
    nlohmann::ordered_json body;
    body["v"] = 1;
    body["seq"] = nullptr;
    body["i"] = i;
    if (padding > 0) body["pad"] = std::string(padding, 'x');
    return {"t/data/x", body};
}

CommitBatch events(int n, std::size_t padding = 0) {
    CommitBatch batch;
    for (int i = 0; i < n; ++i) batch.events.push_back(message(i, padding));
    return batch;
}

StoredReading reading(const std::string& sensor, std::int64_t wall_ms,
                      ClockState clock = ClockState::Synchronised, double value = 1.0) {
    StoredReading r;
    r.sensor = sensor;
    r.boot_id = "boot-a";
    r.mono_ms = wall_ms - 1'000'000;
    r.wall_ms = wall_ms;
    r.clock = clock;
    r.value = value;
    return r;
}

using TempDir = test::StoreTempDir;

StoreOptions options(std::uint64_t max_bytes = 128u << 20,
                     WhenFull when_full = WhenFull::DropOldest) {
    return test::store_options(max_bytes, when_full);
}

}  // namespace

TEST_CASE("store: commit assigns consecutive seqs and peek returns them in order",
          "[unit][store]") {
    Store store(":memory:", options());
    auto result = store.commit(events(3));
    CHECK(result.seqs == std::vector<std::uint64_t>{1, 2, 3});
    CHECK(store.stats().depth == 3);

    auto peeked = store.peek(0, UINT64_MAX, 10);
    REQUIRE(peeked.size() == 3);
    CHECK(peeked[0].seq == 1);
    CHECK(peeked[2].seq == 3);
    CHECK(peeked[0].topic == "t/data/x");
    // The seq is written into the payload at commit, in the placeholder's position.
    CHECK(peeked[1].payload == R"({"v":1,"seq":2,"i":1})");
    CHECK(store.peek(2, UINT64_MAX, 10).size() == 1);
    CHECK(store.peek(0, 3, 10).size() == 2);  // before_seq is exclusive
    CHECK(store.peek(0, UINT64_MAX, 2).size() == 2);
}

TEST_CASE("store: ack deletes only what was acknowledged and repeats are harmless",
          "[unit][store]") {
    Store store(":memory:", options());
    store.commit(events(4));
    store.ack({1, 3});
    CHECK(store.stats().depth == 2);
    auto left = store.peek(0, UINT64_MAX, 10);
    REQUIRE(left.size() == 2);
    CHECK(left[0].seq == 2);
    CHECK(left[1].seq == 4);
    store.ack({1, 3, 99});
    CHECK(store.stats().depth == 2);
}

TEST_CASE("store: seq is never reused after a restart, even when all was delivered",
          "[unit][store]") {
    TempDir tmp;
    {
        Store store(tmp.db(), options());
        store.commit(events(5));
        store.ack({1, 2, 3, 4, 5});
        CHECK(store.stats().depth == 0);
    }
    {
        Store store(tmp.db(), options());
        CHECK(store.stats().last_seq >= 5);
        const auto seqs = store.commit(events(1)).seqs;
        REQUIRE(seqs.size() == 1);
        CHECK(seqs[0] > 5);
    }
}

TEST_CASE("store: a closed window stores its message and drops its readings atomically",
          "[unit][store]") {
    Store store(":memory:", options());
    CommitBatch batch;
    for (int i = 0; i < 5; ++i) batch.readings.push_back(reading("a", 1000 + i * 1000));
    batch.readings.push_back(reading("b", 1500));
    batch.readings.push_back(reading("a", 2500, ClockState::Held));
    store.commit(batch);
    CHECK(store.stats().readings == 7);

    CommitBatch close;
    close.windows.push_back({"a", 4000, message(0)});  // readings of "a" before 4000 ms
    store.commit(close);
    const auto left = store.load_readings(ClockState::Synchronised);
    REQUIRE(left.size() == 3);
    CHECK(left[0].sensor == "a");
    CHECK(left[0].wall_ms == 4000);
    CHECK(left[2].sensor == "b");
    // A held reading waits for the clock, whatever its (untrusted) time says.
    CHECK(store.load_readings(ClockState::Held).size() == 1);
    CHECK(store.stats().depth == 1);
}

TEST_CASE("store: held readings are re-timed for this boot, flagged for older boots",
          "[unit][store]") {
    Store store(":memory:", options());
    CommitBatch batch;
    auto mine = reading("a", 5000, ClockState::Held);
    mine.mono_ms = 700;
    auto older = reading("a", 6000, ClockState::Held);
    older.boot_id = "boot-old";
    batch.readings = {mine, older};
    store.commit(batch);

    const auto released = store.release_held("boot-a", 1'795'824'000'000);
    REQUIRE(released.size() == 2);
    CHECK(released[0].clock == ClockState::Unsynchronised);  // boot-old keeps its time
    CHECK(released[0].wall_ms == 6000);
    CHECK(released[1].clock == ClockState::Corrected);
    CHECK(released[1].wall_ms == 1'795'824'000'700);
    CHECK(store.load_readings(ClockState::Held).empty());
    CHECK(store.load_readings(ClockState::Corrected).size() == 1);
}

TEST_CASE("store: at max_bytes the oldest messages are evicted, counted and reported",
          "[unit][store]") {
    TempDir tmp;
    const std::uint64_t cap = 256 * 1024;
    std::uint64_t evicted_total = 0;
    std::set<std::uint64_t> evicted_seqs;
    {
        Store store(tmp.db(), options(cap));
        for (int round = 0; round < 200; ++round) {
            auto result = store.commit(events(10, 300));
            if (result.evicted) {
                CHECK(result.evicted->last_seq - result.evicted->first_seq + 1 ==
                      result.evicted->count);
                for (auto s = result.evicted->first_seq; s <= result.evicted->last_seq; ++s)
                    evicted_seqs.insert(s);
                evicted_total += result.evicted->count;
            }
            CHECK(store.stats().bytes_used <= cap);
        }
        const auto stats = store.stats();
        CHECK(evicted_total > 0);
        CHECK(stats.evicted_total == evicted_total);
        // Everything committed is either still there or was evicted: nothing else vanished.
        CHECK(stats.depth + evicted_total == stats.last_seq);
        // Nothing was delivered, so the newest eviction event covers every eviction: its range
        // holds every evicted seq and its count is the total (earlier events may be evicted).
        const auto rows = store.peek(0, UINT64_MAX, 100000);
        std::optional<nlohmann::json> newest;
        for (const auto& row : rows) {
            auto body = nlohmann::json::parse(row.payload);
            if (body.value("type", "") == "eviction") newest = body;
            CHECK(evicted_seqs.count(row.seq) == 0);
        }
        REQUIRE(newest);
        CHECK((*newest)["evicted"].get<std::uint64_t>() == evicted_total);
        CHECK((*newest)["evicted_total"].get<std::uint64_t>() == evicted_total);
        CHECK((*newest)["first_seq"].get<std::uint64_t>() == *evicted_seqs.begin());
        CHECK((*newest)["last_seq"].get<std::uint64_t>() == *evicted_seqs.rbegin());
        // Once that event is delivered, the next eviction starts a new span.
        store.ack({(*newest)["seq"].get<std::uint64_t>()});
        std::optional<Eviction> next;
        while (!next) next = store.commit(events(10, 300)).evicted;
        const auto after = store.peek(0, UINT64_MAX, 100000);
        auto body = nlohmann::json::parse(after.back().payload);
        if (body.value("type", "") != "eviction") {
            for (const auto& row : after) {
                auto b = nlohmann::json::parse(row.payload);
                if (b.value("type", "") == "eviction") body = b;
            }
        }
        CHECK(body["evicted"].get<std::uint64_t>() == next->count);
        CHECK(body["first_seq"].get<std::uint64_t>() == next->first_seq);
        evicted_total += next->count;
    }
    Store reopened(tmp.db(), options(cap));
    CHECK(reopened.stats().evicted_total == evicted_total);  // persisted
}

TEST_CASE("store: reject_new refuses new messages at max_bytes and counts them", "[unit][store]") {
    Store store(":memory:", options(128 * 1024, WhenFull::RejectNew));
    std::uint64_t rejected = 0;
    for (int round = 0; round < 100; ++round) rejected += store.commit(events(10, 300)).rejected;
    const auto stats = store.stats();
    CHECK(rejected > 0);
    CHECK(stats.rejected_total == rejected);
    CHECK(stats.evicted_total == 0);
    CHECK(stats.depth + rejected == 1000);
    // The oldest are kept: seq 1 is still there.
    CHECK(store.peek(0, UINT64_MAX, 1).at(0).seq == 1);
}

TEST_CASE("store: a corrupt database is moved aside and seqs continue above the old ones",
          "[unit][store]") {
    TempDir tmp;
    std::uint64_t last = 0;
    {
        Store store(tmp.db(), options());
        last = store.commit(events(20)).seqs.back();
    }
    {
        // Overwrite the header and the first pages with garbage.
        std::fstream f(tmp.db(), std::ios::in | std::ios::out | std::ios::binary);
        const std::string garbage(8192, '\x5a');
        f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
    }
    Store store(tmp.db(), options());
    const auto& report = store.open_report();
    CHECK_FALSE(report.moved_aside_to.empty());
    CHECK(std::filesystem::exists(report.moved_aside_to));
    CHECK(report.seq_resumed_after >= last);
    CHECK(store.stats().depth == 0);
    const auto seqs = store.commit(events(1)).seqs;
    CHECK(seqs.at(0) > last);
    CHECK(store.quick_check() == "ok");
}

TEST_CASE("store: an unusable path is a clear error", "[unit][store]") {
    TempDir tmp;
    const auto path = (tmp.dir / "missing-dir" / "outbox.db").string();
    CHECK_THROWS_WITH(Store(path, options()), Catch::Contains("cannot open database"));
}

TEST_CASE("store: windows closed at one boundary drop only their own sensors' readings",
          "[unit][store]") {
    Store store(":memory:", options());
    CommitBatch batch;
    for (const char* sensor : {"a", "b", "c"})
        for (int i = 0; i < 3; ++i) batch.readings.push_back(reading(sensor, 1000 + i * 1000));
    batch.readings.push_back(reading("a", 500, ClockState::Corrected));
    store.commit(batch);
    CommitBatch close;
    close.windows.push_back({"a", 3000, message(0)});
    close.windows.push_back({"b", 3000, message(1)});
    close.windows.push_back({"c", 2000, message(2)});
    store.commit(close);
    std::multiset<std::pair<std::string, std::int64_t>> left;
    for (const auto& r : store.load_readings(ClockState::Synchronised))
        left.insert({r.sensor, r.wall_ms});
    CHECK(left == std::multiset<std::pair<std::string, std::int64_t>>{
                      {"a", 3000}, {"b", 3000}, {"c", 2000}, {"c", 3000}});
    CHECK(store.load_readings(ClockState::Corrected).empty());  // a's, before 3000 ms
    CHECK(store.stats().depth == 3);
}

TEST_CASE("store: a database of the previous schema keeps its open readings when upgraded",
          "[unit][store]") {
    TempDir dir;
    {
        // Schema version 3 as released: readings with the boot id inline and a raw column.
        sqlite3* db = nullptr;
        REQUIRE(sqlite3_open(dir.db().c_str(), &db) == SQLITE_OK);
        const char* v3 =
            "PRAGMA journal_mode=WAL;"
            "CREATE TABLE outbox (seq INTEGER PRIMARY KEY, topic TEXT NOT NULL,"
            " payload TEXT NOT NULL, created_ms INTEGER NOT NULL);"
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
            "INSERT INTO meta(key, value) VALUES ('last_seq', 7);"
            "CREATE TABLE readings (id INTEGER PRIMARY KEY, sensor TEXT NOT NULL,"
            " boot_id TEXT NOT NULL, mono_ms INTEGER NOT NULL, wall_ms INTEGER NOT NULL,"
            " clock INTEGER NOT NULL, raw REAL NOT NULL, value REAL NOT NULL,"
            " quality INTEGER NOT NULL);"
            "CREATE INDEX readings_by_sensor_time ON readings(sensor, wall_ms);"
            "INSERT INTO meta(key, value) VALUES ('evicted_total', 0), ('rejected_total', 0);"
            "INSERT INTO meta(key, value) VALUES ('eviction_span_first', 0),"
            " ('eviction_span_count', 0), ('last_eviction_event_seq', 0);"
            "INSERT INTO readings VALUES (1, 'a', 'boot-old', 10, 1000, 1, 720, 7.2, 0);"
            "INSERT INTO readings VALUES (2, 'a', 'boot-new', 20, 2000, 0, 730, 7.3, 0);"
            "PRAGMA user_version=3;";
        REQUIRE(sqlite3_exec(db, v3, nullptr, nullptr, nullptr) == SQLITE_OK);
        sqlite3_close(db);
    }
    Store store(dir.db(), options());
    const auto synced = store.load_readings(ClockState::Synchronised);
    REQUIRE(synced.size() == 1);
    CHECK(synced[0].boot_id == "boot-old");
    CHECK(synced[0].value == Approx(7.2));
    CHECK(synced[0].wall_ms == 1000);
    // The held reading of "boot-new" is still re-timed by its boot id.
    const auto released = store.release_held("boot-new", 5000);
    REQUIRE(released.size() == 1);
    CHECK(released[0].wall_ms == 5020);
    CHECK(released[0].clock == ClockState::Corrected);
    // New readings of the same boot reuse its number; seqs continue.
    CommitBatch batch;
    batch.readings.push_back(reading("b", 3000));
    store.commit(batch);
    CHECK(store.stats().readings == 3);
    CHECK(store.stats().last_seq == 7);
}

namespace {
StoredOpenWindow open_window(const std::string& sensor, std::int64_t start_ms, std::uint32_t count,
                             double sum) {
    StoredOpenWindow w;
    w.sensor = sensor;
    w.window_ms = 60'000;
    w.window.start_ms = start_ms;
    w.window.count = count;
    w.window.failed = 2;
    w.window.sum = sum;
    w.window.min = 1.5;
    w.window.max = 9.25;
    w.window.last = 4.0;
    w.window.clock = ClockState::Corrected;
    w.window.faults[static_cast<std::size_t>(SampleQuality::CommError)] = 1;
    w.window.faults[static_cast<std::size_t>(SampleQuality::Stuck)] = 1;
    return w;
}
}  // namespace

TEST_CASE("store: an open window's state survives a restart, one row per sensor", "[unit][store]") {
    TempDir dir;
    {
        Store store(dir.db(), options());
        CommitBatch first;
        first.open_windows = {open_window("a", 60'000, 3, 12.0), open_window("b", 60'000, 1, 2.0)};
        store.commit(first);
        CommitBatch second;  // the next flush replaces a's state
        second.open_windows = {open_window("a", 60'000, 8, 40.0)};
        store.commit(second);
        CHECK(store.stats().open_windows == 2);
    }
    Store store(dir.db(), options());
    const auto loaded = store.load_open_windows();
    REQUIRE(loaded.size() == 2);
    CHECK(loaded[0].sensor == "a");
    CHECK(loaded[0].window_ms == 60'000);
    CHECK(loaded[0].window.start_ms == 60'000);
    CHECK(loaded[0].window.count == 8);
    CHECK(loaded[0].window.failed == 2);
    CHECK(loaded[0].window.sum == 40.0);
    CHECK(loaded[0].window.min == 1.5);
    CHECK(loaded[0].window.max == 9.25);
    CHECK(loaded[0].window.last == 4.0);
    CHECK(loaded[0].window.clock == ClockState::Corrected);
    CHECK(loaded[0].window.faults == open_window("a", 0, 0, 0).window.faults);
    CHECK(loaded[1].sensor == "b");
    CHECK(loaded[1].window.count == 1);
}

TEST_CASE("store: an open window's deviation, first value and integral survive a restart",
          "[unit][store]") {
    TempDir dir;
    StoredOpenWindow w = open_window("a", 60'000, 3, 12.0);
    w.window.m2 = 2.5;
    w.window.first = 3.25;
    w.window.first_ms = 61'000;
    w.window.last_ms = 79'000;
    w.window.integral = 72'000.5;
    w.window.covered_ms = 18'000;
    {
        Store store(dir.db(), options());
        CommitBatch batch;
        batch.open_windows = {w};
        store.commit(batch);
    }
    Store store(dir.db(), options());
    const auto loaded = store.load_open_windows();
    REQUIRE(loaded.size() == 1);
    CHECK(loaded[0].window.m2 == 2.5);
    CHECK(loaded[0].window.first == 3.25);
    CHECK(loaded[0].window.first_ms == 61'000);
    CHECK(loaded[0].window.last_ms == 79'000);
    CHECK(loaded[0].window.integral == 72'000.5);
    CHECK(loaded[0].window.covered_ms == 18'000);
}

TEST_CASE("store: closing a window removes its stored state in the same transaction",
          "[unit][store]") {
    Store store(":memory:", options());
    CommitBatch batch;
    batch.open_windows = {open_window("a", 60'000, 3, 12.0), open_window("b", 60'000, 3, 9.0)};
    store.commit(batch);

    // One batch with a's state saved at the flush and a's window closing: never both stored.
    CommitBatch close;
    close.open_windows = {open_window("a", 60'000, 5, 20.0)};
    close.windows.push_back({"a", 120'000, message(0)});
    store.commit(close);
    auto left = store.load_open_windows();
    REQUIRE(left.size() == 1);
    CHECK(left[0].sensor == "b");
    CHECK(store.stats().depth == 1);

    // The next window's state is kept by a close of the previous one.
    CommitBatch next;
    next.open_windows = {open_window("b", 120'000, 1, 1.0)};
    next.windows.push_back({"b", 120'000, message(1)});
    store.commit(next);
    left = store.load_open_windows();
    REQUIRE(left.size() == 1);
    CHECK(left[0].window.start_ms == 120'000);
}

TEST_CASE("store: saving a window's state drops the re-timed raw readings it aggregated",
          "[unit][store]") {
    Store store(":memory:", options());
    CommitBatch batch;
    batch.readings = {reading("a", 61'000, ClockState::Corrected),
                      reading("a", 62'000, ClockState::Held),
                      reading("b", 61'000, ClockState::Corrected)};
    store.commit(batch);
    CommitBatch flush;
    flush.open_windows = {open_window("a", 60'000, 1, 1.0)};
    store.commit(flush);
    // a's corrected reading is in the state now; its held one still waits for the clock; b's
    // corrected reading is not in any stored state yet.
    CHECK(store.load_readings(ClockState::Corrected).size() == 1);
    CHECK(store.load_readings(ClockState::Corrected)[0].sensor == "b");
    CHECK(store.load_readings(ClockState::Held).size() == 1);
}

TEST_CASE("store: calibration records are versioned per sensor and hash-chained",
          "[unit][store][calibration]") {
    TempDir dir;
    {
        Store store(dir.db(), options());
        CommitBatch first;
        first.calibrations.push_back(
            {"ph1", 1000, {{"action", "calibration"}, {"after", {{"gain", 1.01}}}}});
        first.calibrations.push_back({"do1", 2000, {{"action", "calibration"}}});
        const auto result = store.commit(first);
        REQUIRE(result.calibrations.size() == 2);
        CHECK(result.calibrations[0].version == 1);
        CHECK(result.calibrations[0].prev_hash == std::string(64, '0'));
        CHECK(result.calibrations[1].prev_hash == result.calibrations[0].hash);
        CommitBatch second;
        second.calibrations.push_back({"ph1", 3000, {{"action", "rollback"}}});
        CHECK(store.commit(second).calibrations.at(0).version == 2);
    }
    Store store(dir.db(), options());
    const auto all = store.calibration_history();
    REQUIRE(all.size() == 3);
    CHECK(all[2].prev_hash == all[1].hash);
    CHECK(all[2].hash == sha256_hex(all[2].prev_hash + "\n" + all[2].record));
    CHECK(nlohmann::json::parse(all[2].record).at("version") == 2);
    const auto ph = store.calibration_history("ph1");
    REQUIRE(ph.size() == 2);
    CHECK(ph[1].sensor == "ph1");
}

TEST_CASE("store: the calibration history cannot be altered or deleted",
          "[unit][store][calibration]") {
    TempDir dir;
    {
        Store store(dir.db(), options());
        CommitBatch batch;
        batch.calibrations.push_back({"ph1", 1000, {{"action", "calibration"}}});
        store.commit(batch);
    }
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(dir.db().c_str(), &db) == SQLITE_OK);
    char* message = nullptr;
    CHECK(sqlite3_exec(db, "UPDATE calibrations SET record = '{}'", nullptr, nullptr, &message) !=
          SQLITE_OK);
    REQUIRE(message != nullptr);
    CHECK(std::string(message).find("append-only") != std::string::npos);
    sqlite3_free(message);
    CHECK(sqlite3_exec(db, "DELETE FROM calibrations", nullptr, nullptr, nullptr) != SQLITE_OK);
    sqlite3_close(db);
    Store store(dir.db(), options());
    CHECK(store.calibration_history().size() == 1);
}

TEST_CASE("store: a window closed early keeps the state of the new-length window",
          "[unit][store]") {
    // set-window 60 -> 300 s at 10:01:30: the 60 s window [60 000, 120 000) closes early and
    // the 300 s window opened at 0 must not be taken for it, even in the same batch.
    Store store(":memory:", options());
    CommitBatch batch;
    StoredOpenWindow longer = open_window("a", 0, 2, 5.0);
    longer.window_ms = 300'000;
    batch.open_windows = {longer};
    WindowCommit closed{"a", 120'000, message(0), 60'000};
    batch.windows.push_back(closed);
    store.commit(batch);
    const auto left = store.load_open_windows();
    REQUIRE(left.size() == 1);
    CHECK(left[0].window_ms == 300'000);
}

TEST_CASE("store: sensor settings are saved with their batch, replaced and removed",
          "[unit][store]") {
    TempDir dir;
    {
        Store store(dir.db(), options());
        CommitBatch batch = events(1);
        SensorSetting setting;
        setting.sensor = "water1.ph";
        setting.window_s = 300;
        setting.config_window_s = 60;
        setting.changed_ms = 1'700'000'000'000;
        setting.origin = "remote command from ops";
        batch.settings.push_back(setting);
        SensorSetting other = setting;
        other.sensor = "flow1.flow";
        other.window_s = 600;
        batch.settings.push_back(other);
        store.commit(batch);
        CommitBatch again;  // a later change of the same sensor replaces its row
        setting.window_s = 900;
        again.settings.push_back(setting);
        store.commit(again);
    }
    Store store(dir.db(), options());
    auto loaded = store.load_sensor_settings();
    REQUIRE(loaded.size() == 2);
    CHECK(loaded[0].sensor == "flow1.flow");
    CHECK(loaded[1].sensor == "water1.ph");
    CHECK(loaded[1].window_s == 900);
    CHECK(loaded[1].config_window_s == 60);
    CHECK(loaded[1].changed_ms == 1'700'000'000'000);
    CHECK(loaded[1].origin == "remote command from ops");

    CommitBatch removal;
    SensorSetting remove;
    remove.sensor = "water1.ph";
    remove.remove = true;
    removal.settings.push_back(remove);
    CHECK_FALSE(removal.empty());
    store.commit(removal);
    loaded = store.load_sensor_settings();
    REQUIRE(loaded.size() == 1);
    CHECK(loaded[0].sensor == "flow1.flow");
}

TEST_CASE("store: rows acknowledged in the same commit are deleted before anything is evicted",
          "[unit][store]") {
    // A full outbox while the uplink drains it: the rows the broker already has must leave as
    // delivered, not be counted (and announced) as evicted.
    TempDir tmp;
    const std::uint64_t cap = 256 * 1024;
    Store store(tmp.db(), options(cap));
    while (!store.commit(events(10, 300)).evicted) {
    }
    const auto before = store.stats();
    // The oldest rows left were "delivered": acknowledge them with the next commit, which needs
    // about as much room as they free.
    std::vector<std::uint64_t> delivered;
    for (const auto& row : store.peek(0, UINT64_MAX, 10)) delivered.push_back(row.seq);
    REQUIRE(delivered.size() == 10);
    CommitBatch batch = events(10, 300);
    batch.acks = delivered;
    const auto result = store.commit(batch);
    const auto after = store.stats();
    CHECK(after.evicted_total - before.evicted_total ==
          (result.evicted ? result.evicted->count : 0));
    if (result.evicted)  // anything still evicted is newer than what was delivered
        CHECK(result.evicted->first_seq > delivered.back());
    for (const auto& row : store.peek(0, UINT64_MAX, 100000))
        CHECK(std::find(delivered.begin(), delivered.end(), row.seq) == delivered.end());
    CHECK(after.depth == before.depth - delivered.size() + 10 + (result.evicted ? 1 : 0) -
                             (result.evicted ? result.evicted->count : 0));
}
