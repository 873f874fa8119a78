// SPDX-License-Identifier: Apache-2.0
// Store-and-forward you can trust (issue #3): integration tests with a real mosquitto, towngw-sim
// and towngwd, each test case with its own rig (ports, scratch directory). Every check is made
// from the outside, the way the platform sees the gateway: a durable MQTT subscriber (persistent
// broker session, clean_session=false) on `…/data/#` and `…/events/#` is the ground truth of what
// was delivered, `towngw status --json` and `…/health` are what the gateway says about itself.
//
//   - repeated broker outages: every seq from 1 to the last one arrives, duplicates are
//     identical, what was committed while disconnected is `historical`, and after each
//     reconnect live windows go out before the (rate-capped) backlog has drained;
//   - kill -9 at random moments under load, 10 times: no seq gap, no seq reused, no window
//     published twice, `PRAGMA integrity_check` ok;
//   - quota: a tiny storage.max_bytes and a long outage: the seqs that never arrive are exactly
//     the evicted ranges the eviction events announce, counted exactly in status and health;
//   - disk full (a tmpfs filled up, or RLIMIT_FSIZE): the daemon survives, raises and clears
//     the disk_full alarm, and loses neither a seq nor a window;
//   - corrupt database at start: moved aside untouched, an outbox_corrupt alarm, data flows,
//     and every new seq is above every old one.
#include <sqlite3.h>
#include <sys/resource.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "demo_rig.hpp"
#include "tmpfs_mount.hpp"

using namespace std::chrono_literals;
using namespace gw::test;
using namespace gw::test::demo;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// --- what the gateway published --------------------------------------------------------------

bool topic_ends_with(const ReceivedMessage& m, const std::string& suffix) {
    return m.topic.size() >= suffix.size() &&
           m.topic.compare(m.topic.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_event(const ReceivedMessage& m) {
    return topic_ends_with(m, "/events") || m.topic.find("/events/") != std::string::npos;
}

bool is_health(const ReceivedMessage& m) {
    return topic_ends_with(m, "/health");
}

std::string str_field(const ReceivedMessage& m, const char* key) {
    return m.json && m.json->is_object() && m.json->contains(key) && (*m.json)[key].is_string()
               ? (*m.json)[key].get<std::string>()
               : std::string();
}

bool is_alarm(const ReceivedMessage& m, const std::string& alarm, const std::string& state) {
    return is_event(m) && str_field(m, "type") == "alarm" && str_field(m, "alarm") == alarm &&
           str_field(m, "state") == state;
}

bool is_eviction(const ReceivedMessage& m) {
    return is_event(m) && str_field(m, "type") == "eviction";
}

/// `"historical"` of a data message: 1 true, 0 false, -1 missing.
int historical_of(const ReceivedMessage& m) {
    if (!m.json || !m.json->contains("historical") || !(*m.json)["historical"].is_boolean()) {
        return -1;
    }
    return (*m.json)["historical"].get<bool>() ? 1 : 0;
}

/// Everything with an integer seq that a subscriber received, by seq.
struct Ledger {
    std::map<std::int64_t, std::string> payload;      ///< seq -> first payload
    std::map<std::int64_t, std::size_t> first_index;  ///< seq -> index of its first arrival
    std::vector<std::string> conflicts;               ///< same seq, different payload
    std::size_t duplicates = 0;
    std::int64_t max_seq = 0;

    bool has(std::int64_t seq) const { return payload.count(seq) != 0; }
};

Ledger ledger_of(const MessageList& all) {
    Ledger l;
    for (std::size_t i = 0; i < all.size(); ++i) {
        const auto seq = seq_of(all[i]);
        if (seq < 0 || !(is_data(all[i]) || is_event(all[i]))) {
            continue;
        }
        const auto [it, inserted] = l.payload.emplace(seq, all[i].payload);
        if (inserted) {
            l.first_index[seq] = i;
            l.max_seq = std::max(l.max_seq, seq);
        } else {
            ++l.duplicates;
            if (it->second != all[i].payload) {
                l.conflicts.push_back("seq " + std::to_string(seq) + ":\n    first  " + it->second +
                                      "\n    again  " + all[i].payload);
            }
        }
    }
    return l;
}

std::vector<std::int64_t> missing_seqs(const Ledger& l, std::int64_t from, std::int64_t to) {
    std::vector<std::int64_t> out;
    for (std::int64_t s = from; s <= to; ++s) {
        if (!l.has(s)) {
            out.push_back(s);
        }
    }
    return out;
}

/// "1-5, 8, 10-12" for a sorted list of seqs.
template <typename Seqs>
std::string ranges_text(const Seqs& seqs) {
    std::ostringstream out;
    bool first = true;
    auto it = seqs.begin();
    while (it != seqs.end()) {
        const std::int64_t lo = *it;
        std::int64_t hi = lo;
        ++it;
        while (it != seqs.end() && *it == hi + 1) {
            hi = *it;
            ++it;
        }
        out << (first ? "" : ", ") << lo;
        if (hi != lo) {
            out << "-" << hi;
        }
        first = false;
    }
    return first ? std::string("none") : out.str();
}

/// A durable subscriber: the broker keeps its session (and queues QoS 1 messages for it) across
/// the broker's own restarts, so what it received is exactly what the gateway delivered.
std::unique_ptr<MqttCollector> durable_subscriber(DemoRig& rig, bool health = false,
                                                  bool status = false) {
    std::vector<std::string> filters{rig.topic_base() + "data/#", rig.topic_base() + "events/#"};
    if (health) {
        filters.push_back(rig.topic_base() + "health");
    }
    if (status) {
        filters.push_back(rig.topic_base() + "status");
    }
    auto sub =
        std::make_unique<MqttCollector>(rig.broker().uri(), filters,
                                        /*clean_session=*/false, "durable-" + rig.gateway_id());
    MqttCollector* raw = sub.get();
    rig.add_diagnostics([raw] {
        const auto all = raw->messages();
        const auto l = ledger_of(all);
        std::string out = "--- durable subscriber: " + std::to_string(all.size()) + " messages, " +
                          std::to_string(l.payload.size()) + " distinct seqs, max seq " +
                          std::to_string(l.max_seq) + ", " + std::to_string(l.duplicates) +
                          " duplicates, missing in 1.." + std::to_string(l.max_seq) + ": " +
                          ranges_text(missing_seqs(l, 1, l.max_seq)) + "\n";
        for (const auto& m : all) {
            if (is_event(m)) {
                out += "  event " + m.payload + "\n";
            }
        }
        const std::size_t from = all.size() > 12 ? all.size() - 12 : 0;
        out += "  last messages:\n";
        for (std::size_t i = from; i < all.size(); ++i) {
            out += "  " + all[i].topic + " " + all[i].payload + "\n";
        }
        return out;
    });
    return sub;
}

// --- what the gateway says about itself ----------------------------------------------------

/// Polls `towngw status --json` until pred holds (then `out` is that status) or the deadline
/// passes (then `out` is the last status seen, for the failure message).
bool wait_status(DemoRig& rig, const std::function<bool(const json&)>& pred,
                 std::chrono::milliseconds timeout, json& out) {
    return wait_until(
        [&] {
            const auto s = daemon_status(rig);
            if (!s) {
                return false;
            }
            out = *s;
            return pred(out);
        },
        timeout, 200ms);
}

bool connected(const json& s) {
    return bool_at(s, "/mqtt/connected", false);
}

bool has_alarm(const json& s, const std::string& alarm) {
    const json::json_pointer p("/alarms");
    if (!s.contains(p) || !s[p].is_array()) {
        return false;
    }
    return std::any_of(s[p].begin(), s[p].end(), [&](const json& a) {
        return (a.is_string() && a.get<std::string>() == alarm) ||
               (a.is_object() && a.value("alarm", a.value("name", "")) == alarm);
    });
}

std::int64_t last_seq(const json& s) {
    return int_at(s, "/outbox/last_seq");
}

/// Waits until the subscriber has every seq in [1, last] (seqs in `excused`, e.g. announced
/// evictions, need not arrive), or until nothing more can come: the daemon is connected with an
/// empty outbox, i.e. the broker acknowledged everything (then a short grace lets the broker's
/// last forwards arrive). Returns true when every seq is accounted for, so a lost seq fails in
/// seconds, and the caller reports exactly which ones are missing.
bool wait_delivered(DemoRig& rig, MqttCollector& sub, std::int64_t last,
                    std::chrono::milliseconds timeout,
                    const std::function<std::set<std::int64_t>(const MessageList&)>& excused = {}) {
    auto accounted = [&](const MessageList& all) {
        const auto l = ledger_of(all);
        const auto ok = excused ? excused(all) : std::set<std::int64_t>{};
        for (std::int64_t s = 1; s <= last; ++s) {
            if (!l.has(s) && ok.count(s) == 0) {
                return false;
            }
        }
        return true;
    };
    bool complete = false;
    wait_until(
        [&] {
            complete = accounted(sub.messages());
            if (complete) {
                return true;
            }
            const auto s = daemon_status(rig);
            return s && connected(*s) && int_at(*s, "/outbox/depth", 1) == 0;
        },
        timeout, 200ms);
    return complete || sub.wait_for(accounted, 3s);
}

/// `PRAGMA integrity_check` of a database file no process has open, opened read-only.
std::string integrity_check(const fs::path& db) {
    sqlite3* h = nullptr;
    if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
        std::string why = h != nullptr ? sqlite3_errmsg(h) : "out of memory";
        sqlite3_close(h);
        return "cannot open " + db.string() + ": " + why;
    }
    std::string result;
    char* error = nullptr;
    const int rc = sqlite3_exec(
        h, "PRAGMA integrity_check",
        [](void* out, int n, char** values, char**) {
            auto& text = *static_cast<std::string*>(out);
            for (int i = 0; i < n; ++i) {
                text += (text.empty() ? "" : "\n") + std::string(values[i] ? values[i] : "NULL");
            }
            return 0;
        },
        &result, &error);
    if (rc != SQLITE_OK) {
        result += std::string("\nsqlite error: ") + (error ? error : sqlite3_errmsg(h));
    }
    sqlite3_free(error);
    sqlite3_close(h);
    return result;
}

/// Folds the WAL of a stopped daemon's database into the main file (so that overwriting pages
/// of the main file is not masked by newer copies in the WAL). Returns an error text or "".
std::string checkpoint(const fs::path& db) {
    sqlite3* h = nullptr;
    std::string error;
    if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK ||
        sqlite3_exec(h, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr) !=
            SQLITE_OK) {
        error = h != nullptr ? sqlite3_errmsg(h) : "out of memory";
    }
    sqlite3_close(h);
    return error;
}

std::string read_bytes(const fs::path& p) {
    return read_file(p);
}

void write_bytes_at(const fs::path& p, std::uint64_t offset, const std::string& bytes) {
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    REQUIRE(f);
    f.seekp(static_cast<std::streamoff>(offset));
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(f);
}

std::string random_bytes(std::mt19937_64& rng, std::size_t n) {
    std::string out(n, '\0');
    for (auto& c : out) {
        c = static_cast<char>(rng() & 0xFF);
    }
    return out;
}

std::uint64_t test_seed() {
    if (const char* s = std::getenv("TOWNGW_TEST_SEED"); s != nullptr && *s != '\0') {
        return std::strtoull(s, nullptr, 10);
    }
    return std::random_device{}();
}

}  // namespace

// =============================================================================================

TEST_CASE("repeated broker outages: no seq gap, backlog historical, live data first",
          "[integration][reliability][outage]") {
    constexpr int kCycles = 3;
    RigOptions options;
    options.persistent_broker = true;
    options.window_s = 1;  // 7 messages/s live
    options.poll_ms = 500;
    // Each outage leaves a backlog of 20-30 messages (>= 2 windows of all sensors, plus the
    // windows of the reconnect delay); at 5 messages/s that takes several seconds to drain, so
    // live windows (one per second) must overtake it.
    options.overrides = {{"/mqtt/backlog_rate", "5"}, {"/mqtt/reconnect_max_s", "2"}};
    DemoRig rig("outages", options);
    auto durable = durable_subscriber(rig, /*health=*/true);
    rig.start_gateway();
    REQUIRE(rig.wait_for_windows(2, 20s));

    struct Cycle {
        std::int64_t live_from = 0, live_to = 0;  ///< (from, to] committed while connected
        std::int64_t hist_from = 0, hist_to = 0;  ///< (from, to] committed while disconnected
        std::size_t mark = 0;                     ///< durable's size when the broker came back
    };
    std::vector<Cycle> cycles;

    json st;
    REQUIRE(wait_status(rig, connected, 10s, st));
    std::int64_t connected_since = last_seq(st);
    for (int k = 0; k < kCycles; ++k) {
        INFO("outage cycle " << k + 1 << " of " << kCycles);
        Cycle c;
        c.live_from = connected_since;
        // At least one window committed during this connected stretch.
        REQUIRE(wait_status(
            rig, [&](const json& s) { return connected(s) && last_seq(s) > c.live_from; }, 10s,
            st));
        c.live_to = last_seq(st);
        const std::int64_t depth_before = int_at(st, "/outbox/depth", 0);

        rig.broker().stop();
        REQUIRE(wait_status(
            rig, [](const json& s) { return !connected(s); }, 15s, st));
        c.hist_from = last_seq(st);
        INFO("status when the loss was noticed: " << st.dump());
        REQUIRE(wait_status(
            rig,
            [&](const json& s) {
                return !connected(s) &&
                       int_at(s, "/outbox/depth", 0) >= depth_before + 2 * kSensorCount;
            },
            20s, st));
        c.hist_to = last_seq(st);
        const std::int64_t connects_before = int_at(st, "/mqtt/connects", 0);
        INFO("status before the broker came back: " << st.dump());

        c.mark = durable->size();
        rig.broker().start();
        REQUIRE(wait_status(
            rig,
            [&](const json& s) {
                return connected(s) && int_at(s, "/mqtt/connects", 0) > connects_before;
            },
            15s, st));
        connected_since = last_seq(st);

        // The whole backlog arrives, and live windows resume.
        CHECK(wait_delivered(rig, *durable, c.hist_to, 30s));
        REQUIRE(durable->wait_for(
            [&](const MessageList& all) {
                for (std::size_t i = c.mark; i < all.size(); ++i) {
                    if (is_data(all[i]) && historical_of(all[i]) == 0 &&
                        seq_of(all[i]) > c.hist_to) {
                        return true;
                    }
                }
                return false;
            },
            15s));
        cycles.push_back(c);
    }

    // Drained: everything up to the last seq the daemon reports has arrived.
    REQUIRE(wait_status(
        rig,
        [](const json& s) {
            return connected(s) && int_at(s, "/outbox/depth", 99) <= kSensorCount;
        },
        30s, st));
    const std::int64_t last = last_seq(st);
    CHECK(wait_delivered(rig, *durable, last, 30s));
    CHECK(int_at(st, "/mqtt/connection_losses", 0) >= kCycles);
    CHECK(int_at(st, "/mqtt/connects", 0) >= kCycles + 1);

    const auto all = durable->messages();
    const auto ledger = ledger_of(all);
    std::cout << "outages: last seq " << last << ", " << ledger.payload.size()
              << " distinct seqs and " << ledger.duplicates << " duplicates received\n"
              << std::flush;
    INFO("last seq " << last << "; durable subscriber: " << ledger.payload.size()
                     << " distinct seqs, " << ledger.duplicates
                     << " duplicates; missing: " << ranges_text(missing_seqs(ledger, 1, last)));
    CHECK(missing_seqs(ledger, 1, last).empty());
    for (const auto& conflict : ledger.conflicts) {
        FAIL_CHECK("a re-delivery differs from the first delivery, " << conflict);
    }

    std::map<std::int64_t, const ReceivedMessage*> data_by_seq;
    for (const auto& m : all) {
        if (is_data(m) && seq_of(m) > 0) {
            data_by_seq.emplace(seq_of(m), &m);
        }
    }
    std::size_t clock_checked = 0;
    for (const auto& [seq, m] : data_by_seq) {
        INFO("seq " << seq << ": " << m->payload);
        const auto clock = str_field(*m, "clock");
        // config/demo.json trusts the system clock (CI machines have no NTP).
        CHECK(clock == "synchronised");
        ++clock_checked;
        CHECK(historical_of(*m) != -1);
    }
    CHECK(clock_checked > 0);

    for (std::size_t k = 0; k < cycles.size(); ++k) {
        const Cycle& c = cycles[k];
        INFO("cycle " << k + 1 << ": committed while connected (" << c.live_from << ", "
                      << c.live_to << "], while disconnected (" << c.hist_from << ", " << c.hist_to
                      << "]");
        CHECK(c.hist_to > c.hist_from);
        std::size_t hist_count = 0;
        std::size_t live_count = 0;
        for (const auto& [seq, m] : data_by_seq) {
            if (seq > c.hist_from && seq <= c.hist_to) {
                INFO("committed while disconnected: " << m->payload);
                CHECK(historical_of(*m) == 1);
                ++hist_count;
            } else if (seq > c.live_from && seq <= c.live_to) {
                INFO("committed while connected: " << m->payload);
                CHECK(historical_of(*m) == 0);
                ++live_count;
            }
        }
        CHECK(hist_count > 0);
        CHECK(live_count > 0);

        // Live data resumes at once: the first fresh window after the reconnect arrives before
        // the last message of the backlog does.
        std::size_t first_live = all.size();
        for (std::size_t i = c.mark; i < all.size(); ++i) {
            if (is_data(all[i]) && historical_of(all[i]) == 0 && seq_of(all[i]) > c.hist_to) {
                first_live = i;
                break;
            }
        }
        std::size_t backlog_done = 0;
        for (std::int64_t s = c.hist_from + 1; s <= c.hist_to; ++s) {
            const auto it = ledger.first_index.find(s);
            if (it != ledger.first_index.end()) {
                backlog_done = std::max(backlog_done, it->second);
            }
        }
        INFO("arrival index of the first live window after the reconnect: "
             << first_live << " (" << (first_live < all.size() ? all[first_live].payload : "-")
             << "); of the last backlog message: " << backlog_done << " ("
             << all[backlog_done].payload << ")");
        CHECK(first_live < backlog_done);
        if (first_live < all.size() && backlog_done < all.size() && c.mark < all.size()) {
            const auto ms = [&](std::size_t i) {
                return std::chrono::duration_cast<std::chrono::milliseconds>(
                           all[i].received_at - all[c.mark].received_at)
                    .count();
            };
            std::cout << "outage cycle " << k + 1 << ": " << c.hist_to - c.hist_from
                      << " messages committed while disconnected; after the reconnect the first "
                         "live window arrived as message #"
                      << first_live - c.mark << " (+" << ms(first_live)
                      << " ms), the backlog was complete at #" << backlog_done - c.mark << " (+"
                      << ms(backlog_done) << " ms)\n"
                      << std::flush;
        }
    }

    // …/health goes out right after every (re)connect.
    std::vector<json> health;
    for (const auto& m : all) {
        if (is_health(m) && m.json) {
            health.push_back(*m.json);
        }
    }
    INFO(health.size() << " health messages");
    CHECK(health.size() >= static_cast<std::size_t>(kCycles + 1));
    if (!health.empty()) {
        INFO("last health " << health.back().dump());
        CHECK(int_at(health.back(), "/mqtt/connection_losses", 0) >= kCycles);
        CHECK(int_at(health.back(), "/outbox/depth", -1) >= 0);
    }
}

// =============================================================================================

TEST_CASE("kill -9 at random moments under load loses no seq and keeps the database sound",
          "[integration][reliability][crash]") {
    constexpr int kRounds = 10;
    const std::uint64_t seed = test_seed();
    std::cout << "kill -9 test: seed " << seed << " (TOWNGW_TEST_SEED=" << seed
              << " repeats the kill times)\n"
              << std::flush;
    RigOptions options;
    options.persistent_broker = true;
    options.window_s = 1;
    options.poll_ms = 200;  // 5 readings/s per device, 7 windows/s
    options.overrides = {{"/mqtt/reconnect_max_s", "2"}};
    DemoRig rig("kill9", options);
    std::vector<int> delays;
    rig.add_diagnostics([&] {
        std::string out = "--- kill -9 seed " + std::to_string(seed) + ", delays (ms):";
        for (int d : delays) {
            out += " " + std::to_string(d);
        }
        return out + "\n";
    });
    auto durable = durable_subscriber(rig, /*health=*/false, /*status=*/true);

    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int> delay_ms(300, 2500);
    for (int round = 1; round <= kRounds; ++round) {
        INFO("round " << round << " of " << kRounds << ", seed " << seed);
        rig.start_gateway();  // same scratch dir: same outbox.db and seq sidecar
        const int d = delay_ms(rng);
        delays.push_back(d);
        // Not a wait for a condition: the kill lands at a random moment on purpose.
        std::this_thread::sleep_for(std::chrono::milliseconds(d));
        REQUIRE(rig.gateway().process().running());
        rig.gateway().process().signal(SIGKILL);
        const auto st = rig.gateway().process().wait_exit(10s);
        REQUIRE(st);
        CHECK(st->signaled);
        CHECK(st->signal == SIGKILL);
    }
    std::cout << "kill -9 test: delays (ms)";
    for (int d : delays) {
        std::cout << " " << d;
    }
    std::cout << "\n" << std::flush;
    const std::size_t seen_during_kills = ledger_of(durable->messages()).payload.size();

    // A last run delivers everything, then stops cleanly.
    rig.start_gateway();
    json st;
    REQUIRE(wait_status(
        rig,
        [](const json& s) {
            return connected(s) && last_seq(s) > 0 &&
                   int_at(s, "/outbox/depth", 99) <= kSensorCount;
        },
        30s, st));
    const std::int64_t last = last_seq(st);
    wait_delivered(rig, *durable, last, 30s);  // judged below, with the missing seqs named

    const std::size_t mark = durable->size();
    rig.gateway().process().signal(SIGTERM);
    const auto exit = rig.gateway().process().wait_exit(15s);
    REQUIRE(exit);
    INFO("last towngwd " << exit->describe());
    CHECK(exit->exited_with(0));
    REQUIRE(durable->wait_for(
        [&](const MessageList& all) {
            for (std::size_t i = mark; i < all.size(); ++i) {
                if (status_is(rig.status_topic(), "offline", "shutdown")(all[i])) {
                    return true;
                }
            }
            return false;
        },
        15s));

    const auto all = durable->messages();
    const auto ledger = ledger_of(all);
    std::cout << "kill -9 test: max seq " << ledger.max_seq << ", " << ledger.payload.size()
              << " distinct seqs and " << ledger.duplicates << " duplicates received\n"
              << std::flush;
    INFO("seed " << seed << "; last seq reported " << last << "; max seq seen " << ledger.max_seq
                 << "; " << ledger.payload.size() << " distinct seqs, " << ledger.duplicates
                 << " duplicates");
    CHECK(seen_during_kills > 0);  // the kills hit a daemon that was committing and publishing
    CHECK(ledger.max_seq >= last);
    const auto missing = missing_seqs(ledger, 1, ledger.max_seq);
    INFO("missing seqs: " << ranges_text(missing));
    CHECK(missing.empty());
    for (const auto& conflict : ledger.conflicts) {
        FAIL_CHECK("seq reused or re-delivery changed, " << conflict);
    }

    // A window is either still open at a crash (its readings are in the database) or published,
    // never both: no (sensor, window_start) goes out under two different seqs.
    std::map<std::pair<std::string, std::string>, std::set<std::int64_t>> seqs_of_window;
    for (const auto& m : all) {
        if (is_data(m) && seq_of(m) > 0) {
            seqs_of_window[{sensor_of(m), str_field(m, "window_start")}].insert(seq_of(m));
        }
    }
    for (const auto& [window, seqs] : seqs_of_window) {
        if (seqs.size() > 1) {
            FAIL_CHECK("window " << window.first << " @ " << window.second
                                 << " published under seqs " << ranges_text(seqs));
        }
    }

    const auto check = integrity_check(rig.dir() / "outbox.db");
    INFO("PRAGMA integrity_check of " << (rig.dir() / "outbox.db").string());
    CHECK(check == "ok");
}

// =============================================================================================

TEST_CASE("quota: a tiny max_bytes evicts the oldest, and every eviction is counted exactly",
          "[integration][reliability][quota]") {
    constexpr std::int64_t kMaxBytes = 131072;  // the smallest storage.max_bytes accepted
    RigOptions options;
    options.persistent_broker = true;
    options.window_s = 1;
    options.poll_ms = 500;
    options.overrides = {{"/storage/max_bytes", std::to_string(kMaxBytes)},
                         {"/gateway/health_interval_s", "5"},
                         {"/mqtt/reconnect_max_s", "2"}};
    DemoRig rig("quota", options);
    auto durable = durable_subscriber(rig, /*health=*/true);
    rig.start_gateway();
    REQUIRE(rig.wait_for_windows(1, 20s));
    json st;
    REQUIRE(wait_status(rig, connected, 10s, st));

    rig.broker().stop();
    // The outbox fills up and starts evicting; keep the broker away until evicted_total has
    // grown several times.
    std::set<std::int64_t> evicted_values;
    std::int64_t max_bytes_used = 0;
    const bool evicting = wait_status(
        rig,
        [&](const json& s) {
            max_bytes_used = std::max(max_bytes_used, int_at(s, "/outbox/bytes_used", 0));
            const auto ev = int_at(s, "/outbox/evicted_total", 0);
            if (!connected(s) && ev > 0) {
                evicted_values.insert(ev);
            }
            return evicted_values.size() >= 3;
        },
        90s, st);
    INFO("status: " << st.dump());
    REQUIRE(evicting);
    CHECK(int_at(st, "/outbox/max_bytes") == kMaxBytes);
    CHECK(max_bytes_used <= kMaxBytes);
    std::cout << "quota test: outbox.db is " << fs::file_size(rig.dir() / "outbox.db")
              << " bytes with max_bytes " << kMaxBytes << ", max bytes_used seen " << max_bytes_used
              << ", evicted_total " << int_at(st, "/outbox/evicted_total") << "\n"
              << std::flush;

    rig.broker().start();
    REQUIRE(wait_status(
        rig,
        [](const json& s) {
            return connected(s) && int_at(s, "/outbox/depth", 99) <= kSensorCount;
        },
        30s, st));
    const std::int64_t last = last_seq(st);

    /// Union of the announced eviction ranges (eviction events de-duplicated by seq).
    auto evicted_ranges = [](const MessageList& all) {
        std::map<std::int64_t, json> events;
        for (const auto& m : all) {
            if (is_eviction(m) && m.json && seq_of(m) > 0) {
                events.emplace(seq_of(m), *m.json);
            }
        }
        return events;
    };
    // Every seq up to `last` is either delivered or announced as evicted.
    const bool accounted = wait_delivered(rig, *durable, last, 30s, [&](const MessageList& all) {
        std::set<std::int64_t> evicted;
        for (const auto& [seq, e] : evicted_ranges(all)) {
            for (auto s = e.value("first_seq", std::int64_t{0});
                 s <= e.value("last_seq", std::int64_t{-1}); ++s) {
                evicted.insert(s);
            }
        }
        return evicted;
    });
    const auto all = durable->messages();
    const auto ledger = ledger_of(all);
    const auto events = evicted_ranges(all);
    INFO("last seq " << last << "; missing at the subscriber: "
                     << ranges_text(missing_seqs(ledger, 1, last)) << "; " << events.size()
                     << " eviction events");
    CHECK(accounted);  // the exact comparison below says which seqs are unaccounted for
    REQUIRE_FALSE(events.empty());

    // Now that the backlog is gone nothing is evicted any more: the counters are final.
    REQUIRE(wait_status(rig, connected, 10s, st));
    const std::int64_t evicted_total = int_at(st, "/outbox/evicted_total");
    INFO("final status " << st.dump());

    std::int64_t previous_first = 0;
    std::int64_t previous_last = 0;
    std::int64_t previous_total = 0;
    std::set<std::int64_t> announced;
    for (const auto& [seq, e] : events) {
        INFO("eviction event " << e.dump());
        const auto k = e.value("evicted", std::int64_t{-1});
        const auto a = e.value("first_seq", std::int64_t{-1});
        const auto b = e.value("last_seq", std::int64_t{-1});
        const auto total = e.value("evicted_total", std::int64_t{-1});
        CHECK(k >= 1);
        CHECK(a >= 1);
        CHECK(a <= b);
        CHECK(b < seq);  // what was evicted is older than the event itself
        if (a > previous_last) {
            // drop_oldest: a new range, after the previous one; the running total adds it.
            CHECK(total == previous_total + k);
        } else {
            // The previous event had not reached the broker when this one was made: this one
            // restates its range and extends it (docs/mqtt.md, eviction) and supersedes it.
            CHECK(a <= previous_first);
            CHECK(b > previous_last);
            CHECK(total > previous_total);
        }
        for (auto s = a; s <= b; ++s) {
            announced.insert(s);
        }
        previous_first = a;
        previous_last = b;
        previous_total = total;
        CHECK(e.value("time", "").size() >= 20);  // RFC 3339
    }
    CHECK(previous_total == evicted_total);

    std::set<std::int64_t> missing;
    for (const auto s : missing_seqs(ledger, 1, last)) {
        missing.insert(s);
    }
    // Seqs announced beyond `last` cannot exist; the subscriber must not have them either.
    for (const auto s : announced) {
        if (s > last) {
            missing.insert(s);
        }
    }
    INFO("never received: " << ranges_text(missing)
                            << "\nannounced as evicted: " << ranges_text(announced));
    std::cout << "quota test: " << events.size() << " eviction events announced "
              << ranges_text(announced) << " (" << announced.size() << " seqs), evicted_total "
              << evicted_total << ", never received " << missing.size() << ", " << ledger.duplicates
              << " duplicates\n"
              << std::flush;
    CHECK(missing == announced);
    CHECK(static_cast<std::int64_t>(missing.size()) == evicted_total);
    for (const auto& conflict : ledger.conflicts) {
        FAIL_CHECK("a re-delivery differs from the first delivery, " << conflict);
    }

    // …/health says the same.
    const std::size_t mark = durable->size();
    json health;
    const bool health_ok = durable->wait_for(
        [&](const MessageList& msgs) {
            for (std::size_t i = mark; i < msgs.size(); ++i) {
                if (is_health(msgs[i]) && msgs[i].json) {
                    health = *msgs[i].json;
                    return true;
                }
            }
            return false;
        },
        15s);
    INFO("health " << health.dump());
    REQUIRE(health_ok);
    CHECK(int_at(health, "/outbox/evicted_total") == evicted_total);
    CHECK(int_at(health, "/outbox/max_bytes") == kMaxBytes);
    CHECK(int_at(health, "/outbox/bytes_used", kMaxBytes + 1) <= kMaxBytes);
}

// =============================================================================================

TEST_CASE("disk full: the daemon survives, raises and clears the alarm, and loses nothing",
          "[integration][reliability][diskfull]") {
    RigOptions options;
    options.persistent_broker = true;
    options.window_s = 1;
    options.poll_ms = 500;
    options.overrides = {{"/mqtt/reconnect_max_s", "2"}};
    DemoRig rig("diskfull", options);
    const fs::path store_dir = rig.dir() / "store";
    const fs::path db = store_dir / "outbox.db";

    // A 2 MiB tmpfs as the storage (root), or else a file-size limit on the daemon.
    std::string why_not_tmpfs;
    std::unique_ptr<TmpfsMount> tmpfs;
    const char* force = std::getenv("TOWNGW_TEST_DISK_FULL");
    if (force != nullptr && std::string(force) == "fsize") {
        why_not_tmpfs = "TOWNGW_TEST_DISK_FULL=fsize";
        fs::create_directories(store_dir);
    } else {
        tmpfs = TmpfsMount::try_mount(store_dir, 2u << 20, why_not_tmpfs);
    }
    const bool use_tmpfs = tmpfs != nullptr;
    std::cout << "disk-full test: exhausting storage with "
              << (use_tmpfs ? "a 2 MiB tmpfs filled by a filler file"
                            : "RLIMIT_FSIZE on the daemon (prlimit), because tmpfs is not "
                              "possible: " +
                                  why_not_tmpfs)
              << "\n"
              << std::flush;
    rig.add_diagnostics([&] {
        return std::string("--- disk full by ") + (use_tmpfs ? "tmpfs" : "RLIMIT_FSIZE") +
               "; free on " + store_dir.string() + ": " + std::to_string(free_bytes(store_dir)) +
               " bytes\n";
    });

    auto durable = durable_subscriber(rig);
    rig.start_gateway({{"/storage/path", db.string()}});
    const pid_t pid = rig.gateway().pid();
    REQUIRE(rig.wait_for_windows(2, 20s));
    json st;
    REQUIRE(wait_status(rig, connected, 10s, st));
    const std::int64_t seq_before = last_seq(st);

    // Exhaust the storage.
    const fs::path filler = store_dir / "filler";
    rlimit saved{};
    if (use_tmpfs) {
        const auto bytes = fill_until_full(filler);
        std::cout << "disk-full test: filler took " << bytes << " bytes, " << free_bytes(store_dir)
                  << " left\n"
                  << std::flush;
    } else {
        REQUIRE(::prlimit(pid, RLIMIT_FSIZE, nullptr, &saved) == 0);
        rlimit tiny = saved;
        tiny.rlim_cur = 4096;  // no write beyond the first page of any file
        REQUIRE(::prlimit(pid, RLIMIT_FSIZE, &tiny, nullptr) == 0);
    }

    const bool alarmed = wait_status(
        rig,
        [](const json& s) {
            return has_alarm(s, "disk_full") && int_at(s, "/outbox/write_failures", 0) > 0;
        },
        30s, st);
    {
        INFO("last status answered: " << st.dump());
        INFO("towngwd " << (rig.gateway().process().running()
                                ? std::string("is running")
                                : rig.gateway().process().exit_status()->describe()));
        REQUIRE(alarmed);
        REQUIRE(rig.gateway().process().running());
        CHECK(connected(st));
    }
    // The raised alarm cannot be stored, so it is published directly, without a seq.
    REQUIRE(durable->wait_for(
        [](const MessageList& all) {
            return std::any_of(all.begin(), all.end(), [](const ReceivedMessage& m) {
                return is_alarm(m, "disk_full", "raised");
            });
        },
        15s));
    {
        const auto all = durable->messages();
        const auto raised = *std::find_if(all.begin(), all.end(), [](const ReceivedMessage& m) {
            return is_alarm(m, "disk_full", "raised");
        });
        INFO("raised: " << raised.payload);
        REQUIRE(raised.json);
        CHECK(raised.json->contains("seq"));
        CHECK((*raised.json)["seq"].is_null());
        CHECK(raised.json->value("gateway_id", "") == rig.gateway_id());
        CHECK_FALSE(str_field(raised, "time").empty());
    }
    // Stay full for a few retries: windows pile up in memory meanwhile.
    const auto failures = int_at(st, "/outbox/write_failures", 0);
    REQUIRE(wait_status(
        rig, [&](const json& s) { return int_at(s, "/outbox/write_failures", 0) >= failures + 2; },
        15s, st));
    REQUIRE(rig.gateway().process().running());
    CHECK(has_alarm(st, "disk_full"));

    // Space returns.
    if (use_tmpfs) {
        fs::remove(filler);
    } else {
        REQUIRE(::prlimit(pid, RLIMIT_FSIZE, &saved, nullptr) == 0);
    }
    REQUIRE(durable->wait_for(
        [](const MessageList& all) {
            return std::any_of(all.begin(), all.end(), [](const ReceivedMessage& m) {
                return is_alarm(m, "disk_full", "cleared");
            });
        },
        20s));
    std::int64_t cleared_seq = -1;
    {
        const auto all = durable->messages();
        const auto cleared = *std::find_if(all.begin(), all.end(), [](const ReceivedMessage& m) {
            return is_alarm(m, "disk_full", "cleared");
        });
        INFO("cleared: " << cleared.payload);
        cleared_seq = seq_of(cleared);
        CHECK(cleared_seq > seq_before);  // a stored event, in the gateway-wide sequence
    }
    // Data flows again after the recovery: a full round of windows above the cleared event.
    REQUIRE(durable->wait_for(
        [&](const MessageList& all) {
            return std::count_if(all.begin(), all.end(), [&](const ReceivedMessage& m) {
                       return is_data(m) && seq_of(m) > cleared_seq;
                   }) >= kSensorCount;
        },
        15s));
    REQUIRE(wait_status(
        rig,
        [](const json& s) {
            return connected(s) && !has_alarm(s, "disk_full") &&
                   int_at(s, "/outbox/depth", 99) <= kSensorCount;
        },
        20s, st));
    const std::int64_t last = last_seq(st);
    wait_delivered(rig, *durable, last, 20s);

    const auto all = durable->messages();
    const auto ledger = ledger_of(all);
    std::cout << "disk-full test: last seq " << last << ", " << ledger.payload.size()
              << " distinct seqs and " << ledger.duplicates << " duplicates received\n"
              << std::flush;
    INFO("last seq " << last << "; missing: " << ranges_text(missing_seqs(ledger, 1, last)));
    CHECK(missing_seqs(ledger, 1, last).empty());
    for (const auto& conflict : ledger.conflicts) {
        FAIL_CHECK("a re-delivery differs from the first delivery, " << conflict);
    }
    // No window was lost while the disk was full: every sensor's windows are contiguous.
    for (const auto& [sensor, msgs] : by_sensor(all)) {
        std::set<std::int64_t> starts;
        for (const auto& m : msgs) {
            if (const auto t = parse_utc(str_field(m, "window_start"))) {
                starts.insert(*t);
            }
        }
        std::vector<std::int64_t> holes;
        for (auto it = starts.begin(); it != starts.end() && std::next(it) != starts.end(); ++it) {
            for (auto t = *it + rig.window_s(); t < *std::next(it); t += rig.window_s()) {
                holes.push_back(t);
            }
        }
        INFO("sensor " << sensor << ": windows missing at unix times " << ranges_text(holes));
        CHECK(holes.empty());
    }

    rig.gateway().process().signal(SIGTERM);
    const auto exit = rig.gateway().process().wait_exit(15s);
    REQUIRE(exit);
    CHECK(exit->exited_with(0));
    CHECK(integrity_check(db) == "ok");
    if (tmpfs) {
        CHECK(tmpfs->unmount());
    }
}

// =============================================================================================

TEST_CASE("a corrupt database at start is moved aside and seq continues above the old ones",
          "[integration][reliability][corrupt]") {
    const std::uint64_t seed = test_seed();
    RigOptions options;
    options.persistent_broker = true;
    options.window_s = 1;
    options.poll_ms = 500;
    DemoRig rig("corrupt", options);
    auto durable = durable_subscriber(rig, /*health=*/false, /*status=*/true);
    rig.start_gateway();
    REQUIRE(rig.wait_for_windows(2, 20s));

    std::size_t mark = durable->size();
    rig.gateway().process().signal(SIGTERM);
    auto exit = rig.gateway().process().wait_exit(15s);
    REQUIRE(exit);
    REQUIRE(exit->exited_with(0));
    REQUIRE(durable->wait_for(
        [&](const MessageList& all) {
            for (std::size_t i = mark; i < all.size(); ++i) {
                if (status_is(rig.status_topic(), "offline", "shutdown")(all[i])) {
                    return true;
                }
            }
            return false;
        },
        15s));
    const std::int64_t max_before = ledger_of(durable->messages()).max_seq;
    REQUIRE(max_before > 0);

    const fs::path db = rig.dir() / "outbox.db";
    REQUIRE(checkpoint(db).empty());
    const std::uint64_t size = fs::file_size(db);
    constexpr std::uint64_t kPage = 4096;
    const std::uint64_t pages = size / kPage;
    INFO("outbox.db: " << size << " bytes, seed " << seed);
    REQUIRE(pages >= 2);
    std::mt19937_64 rng(seed);

    SECTION("header and a middle page overwritten: not a database any more") {
        write_bytes_at(db, 0, random_bytes(rng, kPage));
        write_bytes_at(db, (pages / 2) * kPage, random_bytes(rng, kPage));
    }
    SECTION("every page but the header overwritten: fails the integrity check") {
        for (std::uint64_t p = 1; p < pages; ++p) {
            write_bytes_at(db, p * kPage, random_bytes(rng, kPage));
        }
    }
    fs::remove(fs::path(db.string() + "-wal"));
    fs::remove(fs::path(db.string() + "-shm"));
    const std::string corrupted = read_bytes(db);

    mark = durable->size();
    rig.start_gateway();

    // Moved aside, untouched, for forensics.
    std::vector<fs::path> aside;
    for (const auto& entry : fs::directory_iterator(rig.dir().path())) {
        const auto name = entry.path().filename().string();
        if (name.rfind("outbox.db.corrupt-", 0) == 0 && name.find("-wal") == std::string::npos &&
            name.find("-shm") == std::string::npos) {
            aside.push_back(entry.path());
        }
    }
    REQUIRE(aside.size() == 1);
    INFO("moved aside to " << aside.front().string());
    CHECK(read_bytes(aside.front()) == corrupted);

    // The alarm arrives, in the sequence, above every seq the old database issued.
    REQUIRE(durable->wait_for(
        [&](const MessageList& all) {
            for (std::size_t i = mark; i < all.size(); ++i) {
                if (is_alarm(all[i], "outbox_corrupt", "raised")) {
                    return true;
                }
            }
            return false;
        },
        15s));
    // Data flows on the fresh database.
    REQUIRE(durable->wait_for(
        [&](const MessageList& all) {
            std::size_t n = 0;
            for (std::size_t i = mark; i < all.size(); ++i) {
                n += is_data(all[i]) && seq_of(all[i]) > max_before ? 1 : 0;
            }
            return n >= static_cast<std::size_t>(kSensorCount);
        },
        15s));
    const auto all = durable->messages();
    for (std::size_t i = mark; i < all.size(); ++i) {
        const auto& m = all[i];
        if (is_alarm(m, "outbox_corrupt", "raised")) {
            INFO("alarm " << m.payload);
            CHECK(seq_of(m) > max_before);
            CHECK_FALSE(str_field(m, "message").empty());
        }
        if ((is_data(m) || is_event(m)) && seq_of(m) >= 0) {
            INFO("max seq before the corruption " << max_before << "; after: " << m.payload);
            CHECK(seq_of(m) > max_before);
        }
    }
    json st;
    REQUIRE(wait_status(rig, connected, 10s, st));
    CHECK(last_seq(st) > max_before);

    rig.gateway().process().signal(SIGTERM);
    exit = rig.gateway().process().wait_exit(15s);
    REQUIRE(exit);
    CHECK(exit->exited_with(0));
    CHECK(integrity_check(db) == "ok");
}
