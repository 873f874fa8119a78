// SPDX-License-Identifier: Apache-2.0
#include "buffer/outbox.hpp"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>

using namespace gw;

namespace {

std::vector<OutboxMessage> messages(int n, const std::string& topic = "t/data/x") {
    std::vector<OutboxMessage> out;
    for (int i = 0; i < n; ++i) {
        nlohmann::ordered_json body;
        body["v"] = 1;
        body["seq"] = nullptr;
        body["i"] = i;
        out.push_back({topic, body});
    }
    return out;
}

struct TempDb {
    std::filesystem::path dir;
    TempDb() {
        std::string tmpl =
            (std::filesystem::temp_directory_path() / "towngw-outbox-XXXXXX").string();
        dir = ::mkdtemp(tmpl.data());
    }
    ~TempDb() { std::filesystem::remove_all(dir); }
    std::string path() const { return (dir / "outbox.db").string(); }
};

}  // namespace

TEST_CASE("outbox: enqueue assigns consecutive seqs and peek returns them in order",
          "[unit][outbox]") {
    Outbox box(":memory:", SyncMode::Normal);
    auto seqs = box.enqueue(messages(3));
    CHECK(seqs == std::vector<std::uint64_t>{1, 2, 3});
    CHECK(box.stats().depth == 3);

    auto peeked = box.peek(0, 10);
    REQUIRE(peeked.size() == 3);
    CHECK(peeked[0].seq == 1);
    CHECK(peeked[2].seq == 3);
    CHECK(peeked[0].topic == "t/data/x");
    // The seq is written into the payload at commit, in the placeholder's position.
    CHECK(peeked[1].payload == R"({"v":1,"seq":2,"i":1})");

    CHECK(box.peek(2, 10).size() == 1);
    CHECK(box.peek(0, 2).size() == 2);
}

TEST_CASE("outbox: ack deletes only what was acknowledged, repeats are harmless",
          "[unit][outbox]") {
    Outbox box(":memory:", SyncMode::Normal);
    box.enqueue(messages(4));
    box.ack({1, 3});
    CHECK(box.stats().depth == 2);
    auto left = box.peek(0, 10);
    REQUIRE(left.size() == 2);
    CHECK(left[0].seq == 2);
    CHECK(left[1].seq == 4);
    box.ack({1, 3, 99});
    CHECK(box.stats().depth == 2);
}

TEST_CASE("outbox: seq is never reused after a restart, even when everything was delivered",
          "[unit][outbox]") {
    TempDb tmp;
    {
        Outbox box(tmp.path(), SyncMode::Full);
        box.enqueue(messages(5));
        box.ack({1, 2, 3, 4, 5});
        CHECK(box.stats().depth == 0);
    }
    {
        Outbox box(tmp.path(), SyncMode::Normal);
        CHECK(box.stats().last_seq == 5);
        CHECK(box.enqueue(messages(1)) == std::vector<std::uint64_t>{6});
    }
    {
        Outbox box(tmp.path(), SyncMode::Normal);
        auto left = box.peek(0, 10);
        REQUIRE(left.size() == 1);
        CHECK(left[0].seq == 6);
        CHECK(box.stats().depth == 1);
    }
}

TEST_CASE("outbox: an unreadable database is a clear error", "[unit][outbox]") {
    TempDb tmp;
    const auto path = (tmp.dir / "missing-dir" / "outbox.db").string();
    CHECK_THROWS_WITH(Outbox(path, SyncMode::Normal), Catch::Contains("cannot open outbox"));
}
