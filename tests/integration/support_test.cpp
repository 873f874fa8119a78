// SPDX-License-Identifier: Apache-2.0
// Self-tests of the gw::test fixtures, so that an end-to-end failure can be trusted to be the
// gateway's and not the harness's: exit statuses are decoded, children are reaped, a private
// broker carries messages, and it comes back on the same port after stop().
#include "support.hpp"

#include <mqtt/async_client.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <csignal>

using namespace std::chrono_literals;
using namespace gw::test;

namespace {

/// Publishes one message (QoS 1) and waits for the PUBACK.
void publish_one(const std::string& uri, const std::string& topic, const std::string& payload,
                 bool retained) {
    mqtt::async_client client(uri, "towngw-test-pub-" + std::to_string(::getpid()));
    auto opts = mqtt::connect_options_builder().clean_session(true).finalize();
    REQUIRE(client.connect(opts)->wait_for(10s));
    REQUIRE(client.publish(topic, payload.data(), payload.size(), 1, retained)->wait_for(10s));
    client.disconnect()->wait_for(5s);
}

}  // namespace

TEST_CASE("ChildProcess reports exit codes and signals and reaps its child",
          "[integration][support]") {
    TempDir dir;
    {
        ChildProcess p({"/bin/sh", "-c", "echo hello; echo oops >&2; exit 3"}, dir / "a.log");
        const auto st = p.wait_exit(10s);
        REQUIRE(st);
        CHECK(st->exited_with(3));
        CHECK(p.log_text() == "hello\noops\n");
    }
    {
        ChildProcess p({"/bin/sh", "-c", "exec sleep 60"}, dir / "b.log");
        CHECK(p.running());
        p.signal(SIGKILL);
        const auto st = p.wait_exit(10s);
        REQUIRE(st);
        CHECK(st->signaled);
        CHECK(st->signal == SIGKILL);
    }
    pid_t ignoring_pid = -1;
    {
        // Ignores SIGTERM: the destructor must escalate to SIGKILL and reap.
        ChildProcess p({"/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done"}, dir / "c.log");
        ignoring_pid = p.pid();
        const auto t0 = std::chrono::steady_clock::now();
        const auto st = p.stop(300ms);
        CHECK(st.signaled);
        CHECK(std::chrono::steady_clock::now() - t0 < 5s);
    }
    // Reaped: no zombie with that pid is left for us to wait for.
    CHECK(::waitpid(ignoring_pid, nullptr, WNOHANG) == -1);

    CHECK_THROWS(ChildProcess({"/nonexistent/towngw-binary"}, dir / "d.log"));

    const auto r = run_command({"/bin/sh", "-c", "echo out; echo err >&2; exit 5"}, dir.path());
    REQUIRE(r.status);
    CHECK(r.status->exited_with(5));
    CHECK(r.out == "out\n");
    CHECK(r.err == "err\n");
}

TEST_CASE("wait_until polls until the condition holds or the deadline passes",
          "[integration][support]") {
    int calls = 0;
    CHECK(wait_until([&] { return ++calls >= 3; }, 2s, 1ms));
    CHECK(calls == 3);
    const auto t0 = std::chrono::steady_clock::now();
    CHECK_FALSE(wait_until([] { return false; }, 100ms));
    CHECK(std::chrono::steady_clock::now() - t0 >= 100ms);
}

TEST_CASE("parse_utc reads RFC 3339 UTC timestamps", "[integration][support]") {
    CHECK(parse_utc("1970-01-01T00:00:00Z") == 0);
    CHECK(parse_utc("2026-11-28T23:40:00Z") == 1795909200);
    CHECK(parse_utc("2026-11-28T23:40:00.250Z") == 1795909200);
    CHECK_FALSE(parse_utc("2026-11-28 23:40:00"));
}

TEST_CASE("MosquittoBroker carries retained messages and restarts on the same port",
          "[integration][support]") {
    TempDir dir;
    MosquittoBroker broker(dir.path());
    INFO("broker log:\n" << broker.log_text());
    REQUIRE(broker.running());
    REQUIRE(tcp_port_accepts(broker.port()));

    {
        MqttCollector live(broker.uri(), "selftest/#");
        publish_one(broker.uri(), "selftest/a", R"({"x":1})", true);
        REQUIRE(live.wait_for([](const MessageList& m) { return !m.empty(); }, 10s));
        const auto msgs = live.messages();
        CHECK(msgs[0].topic == "selftest/a");
        REQUIRE(msgs[0].json);
        CHECK((*msgs[0].json)["x"] == 1);
        CHECK_FALSE(msgs[0].retained);  // delivered live, not from the retained store

        MqttCollector late(broker.uri(), "selftest/#");
        REQUIRE(late.wait_for([](const MessageList& m) { return !m.empty(); }, 10s));
        CHECK(late.messages()[0].retained);
    }

    const auto port = broker.port();
    broker.stop();
    CHECK_FALSE(broker.running());
    CHECK_FALSE(tcp_port_accepts(port));
    broker.start();
    CHECK(broker.port() == port);
    CHECK(tcp_port_accepts(port));
    MqttCollector again(broker.uri(), "selftest/#");
    CHECK(again.connected());
}
