// SPDX-License-Identifier: Apache-2.0
// HJ 212 end to end (docs/hj212.md): the real daemon, the demo simulators and mosquitto, and a
// bureau platform played by Hj212PlatformStub on 127.0.0.1. Before the daemon starts, the test
// puts into its store what a gateway holds after an outage: minute frames never acknowledged,
// and yesterday's hourly frames, delivered long ago and kept as history. Then it checks that
//  - the backlog goes out oldest first with its original QN and DataTime, each after the 9014
//    of the one before; the link dies in the middle of it, and after the reconnect exactly the
//    frame without a 9014 is sent again, and then the rest;
//  - live real-time (2011) and minute (2051) data arrive with flags and Appendix D volumes;
//  - the platform's requests are answered: 1011/1012 (the offset is recorded, the clock is not
//    stepped), 1061/1062 and 1063/1064 with range checks, 2061 history from the stored frames,
//    a wrong password;
//  - a sensor put under maintenance with `towngw maintenance` is flagged M, and the start and
//    the end are events on MQTT.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <functional>

#include "buffer/store.hpp"
#include "core/time_format.hpp"
#include "demo_rig.hpp"
#include "hj212/reporter.hpp"
#include "hj212/session.hpp"
#include "hj212_platform.hpp"

using namespace std::chrono_literals;
using namespace gw::test;
using namespace gw::test::demo;
using nlohmann::json;
using Frames = Hj212PlatformStub::Frames;

namespace {

constexpr const char* kMn = "010000A8900016F000169DC0";
constexpr const char* kPw = "123456";
constexpr std::int32_t kUtcOffsetMin = 480;  // demo.json: China Standard Time
constexpr std::int64_t kMinuteMs = 60'000;
constexpr std::int64_t kHourMs = 3'600'000;

std::int64_t now_ms() {
    return gw::unix_ms(std::chrono::system_clock::now());
}

std::string platform_config(std::uint16_t port) {
    json platform = {
        {"name", "bureau"},
        {"host", "127.0.0.1"},
        {"port", port},
        {"mn", kMn},
        {"pw", kPw},
        {"st", "32"},
        {"reply_timeout_s", 2},
        {"retries", 1},
        {"realtime_interval_s", 30},
        {"minute_interval_min", 1},
        {"pollutants", json::array({{{"code", "w01001"}, {"sensor", "water1.ph"}},
                                    {{"code", "w01010"}, {"sensor", "water1.temperature"}},
                                    {{"code", "w01003"}, {"sensor", "water1.turbidity"}},
                                    {{"code", "w00000"}, {"sensor", "flow1.flow"}}})}};
    return json{{"platforms", json::array({platform})}}.dump();
}

/// A request from the platform: ST 32, the gateway's MN, Flag=5 (2017, reply wanted).
std::string request(const std::string& qn, const std::string& cn, const std::string& cp,
                    const std::string& pw = kPw) {
    return "QN=" + qn + ";ST=32;CN=" + cn + ";PW=" + pw + ";MN=" + kMn + ";Flag=5;CP=&&" + cp +
           "&&";
}

std::vector<const Hj212PlatformStub::Frame*> with(const Frames& frames, const std::string& cn,
                                                  const std::string& qn = {}) {
    std::vector<const Hj212PlatformStub::Frame*> out;
    for (const auto& f : frames)
        if (f.ok() && f.packet().cn == cn && (qn.empty() || f.packet().qn == qn)) out.push_back(&f);
    return out;
}

std::string cp_of(const Hj212PlatformStub::Frame& f, const std::string& key) {
    return gw::hj212::cp_value(f.packet(), key).value_or("");
}

/// 9011 QnRtn and 9012 ExeRtn for a request QN (empty while not received).
std::string qn_rtn(const Frames& frames, const std::string& qn) {
    const auto found = with(frames, "9011", qn);
    return found.empty() ? "" : cp_of(*found.front(), "QnRtn");
}
std::string exe_rtn(const Frames& frames, const std::string& qn) {
    const auto found = with(frames, "9012", qn);
    return found.empty() ? "" : cp_of(*found.front(), "ExeRtn");
}

/// Stores `count` frames of platform "bureau", CN `cn`, one `step_ms` apart from `first_ms`, in
/// the daemon's store before it starts (as a gateway holds them after an outage); `items(i)`
/// is the CP after DataTime. Delivered ones are history. Returns their QNs, oldest first.
std::vector<std::string> seed_frames(const std::filesystem::path& db, const std::string& cn,
                                     std::int64_t first_ms, std::int64_t step_ms, int count,
                                     const std::function<std::string(int)>& items,
                                     bool delivered = false) {
    gw::Store store(db.string(), gw::StoreOptions{});
    gw::CommitBatch batch;
    std::vector<std::string> qns;
    for (int i = 0; i < count; ++i) {
        const std::int64_t start = first_ms + i * step_ms;
        qns.push_back(gw::hj212::make_qn(start + step_ms, kUtcOffsetMin));
        batch.hj212_frames.push_back(
            {"bureau", cn, start, qns.back(),
             "DataTime=" + gw::hj212::format_data_time(start, kUtcOffsetMin) + ";" + items(i),
             true});
    }
    const auto result = store.commit(batch);
    if (delivered) {
        std::vector<std::int64_t> ids;
        for (std::int64_t id = result.hj212_last_id - count + 1; id <= result.hj212_last_id; ++id)
            ids.push_back(id);
        store.hj212_delivered(ids, now_ms());
    }
    return qns;
}

}  // namespace

TEST_CASE("HJ 212: backlog re-sent after a drop, live data, platform requests answered",
          "[integration][hj212]") {
    Hj212PlatformStub platform;
    DemoRig rig("hj212");
    rig.add_diagnostics([&] { return platform.describe(); });
    const std::filesystem::path db = rig.dir().path() / "outbox.db";

    // --- what the store holds after an outage
    const std::int64_t t0 = now_ms();
    const std::int64_t first_minute = (t0 / kMinuteMs - 30) * kMinuteMs;  // 30 minutes ago
    const std::int64_t yesterday = (t0 + kUtcOffsetMin * kMinuteMs) / 86'400'000 * 86'400'000 -
                                   kUtcOffsetMin * kMinuteMs - 86'400'000;  // local midnight
    seed_frames(
        db, "2061", yesterday, kHourMs, 24,
        [](int) { return "w01001-Min=7.00,w01001-Avg=7.20,w01001-Max=7.40,w01001-Flag=N"; },
        /*delivered=*/true);
    const std::vector<std::string> backlog_qns =
        seed_frames(db, "2051", first_minute, kMinuteMs, 12, [](int m) {
            return "w01001-Min=7.00,w01001-Avg=7.10,w01001-Max=7.20,w01001-Flag=N;w00000-Cou=" +
                   std::to_string(m) + ".000,w00000-Flag=N";
        });
    // The link dies after five of them are acknowledged: the sixth gets no 9014.
    platform.drop_after_acks(5);
    rig.start_gateway({{"/hj212", platform_config(platform.port())}});
    // The turbidity probe is being cleaned: its HJ 212 data says M while the rest says N.
    const auto maintenance = [&](std::vector<std::string> args) {
        args.insert(args.begin(), {TOWNGW_CLI_BIN, "maintenance"});
        args.insert(args.end(), {"--socket", rig.gateway().control_socket().string()});
        return run_command(args, rig.dir().path());
    };
    {
        const auto r = maintenance({"start", "water1.turbidity", "--minutes", "30", "--technician",
                                    "test", "--reason", "probe cleaning"});
        INFO(r.out << r.err);
        REQUIRE(r.status);
        CHECK(r.status->exited_with(0));
        CHECK_THAT(r.out, Catch::Contains("water1.turbidity: under maintenance for 30 min"));
        const auto unknown = maintenance({"start", "water9.ph", "--technician", "test"});
        REQUIRE(unknown.status);
        CHECK(unknown.status->exited_with(1));
        CHECK_THAT(unknown.err, Catch::Contains("no sensor \"water9.ph\""));
    }

    {
        INFO("the backlog is delivered in order, the unacknowledged frame once more");
        REQUIRE(platform.wait_for(
            [&](const Frames& frames) {
                for (const auto& qn : backlog_qns) {
                    const auto sent = with(frames, "2051", qn);
                    if (sent.empty() || !sent.back()->acked) return false;
                }
                return true;
            },
            40s));
        const Frames frames = platform.frames();
        CHECK(platform.connections() >= 2);
        std::vector<std::string> order;
        for (const auto& f : frames)
            if (f.ok() && f.packet().cn == "2051" &&
                std::find(backlog_qns.begin(), backlog_qns.end(), f.packet().qn) !=
                    backlog_qns.end())
                order.push_back(f.packet().qn);
        // 1..5 acked on the first connection, 6 unanswered (the drop), then 6..12.
        std::vector<std::string> expected(backlog_qns.begin(), backlog_qns.begin() + 6);
        expected.insert(expected.end(), backlog_qns.begin() + 5, backlog_qns.end());
        CHECK(order == expected);
        const auto sixth = with(frames, "2051", backlog_qns[5]);
        REQUIRE(sixth.size() == 2);
        CHECK(sixth[0]->connection == 1);
        CHECK_FALSE(sixth[0]->acked);
        CHECK(sixth[1]->connection == 2);
        CHECK(sixth[1]->acked);
        // Re-sent as it was made: same data time and values (only nothing else differs).
        CHECK(sixth[0]->frame.data_segment == sixth[1]->frame.data_segment);
        CHECK(cp_of(*sixth[1], "DataTime") ==
              gw::hj212::format_data_time(first_minute + 5 * kMinuteMs, kUtcOffsetMin));
        CHECK(cp_of(*sixth[1], "w00000-Cou") == "5.000");
        for (const auto* f : with(frames, "2051")) {
            CHECK(f->packet().mn == kMn);
            CHECK(f->packet().pw == kPw);
            CHECK(f->packet().st == "32");
            CHECK(f->packet().flag == 5);  // HJ 212-2017, reply requested
        }
    }

    // --- live data: a real-time frame, then a minute frame
    const auto maintained = [](const Hj212PlatformStub::Frame* f) {
        return cp_of(*f, "w01003-Flag") == "M";
    };
    REQUIRE(platform.wait_for(
        [&](const Frames& frames) {
            const auto rtd = with(frames, "2011");
            return std::any_of(rtd.begin(), rtd.end(), maintained);
        },
        75s));
    {
        const Frames live = platform.frames();  // with() points into it
        const auto all_rtd = with(live, "2011");
        const auto rtd = *std::find_if(all_rtd.begin(), all_rtd.end(), maintained);
        CHECK(rtd->acked);
        const std::string data_time = cp_of(*rtd, "DataTime");
        REQUIRE(data_time.size() == 14);
        CHECK(std::stoi(data_time.substr(12, 2)) % 30 == 0);  // a 30 s boundary
        CHECK(cp_of(*rtd, "w01001-Flag") == "N");
        CHECK(cp_of(*rtd, "w01003-Flag") == "M");
        const double ph = std::stod(cp_of(*rtd, "w01001-Rtd"));
        CHECK(ph > 5.0);
        CHECK(ph < 10.0);
        CHECK(cp_of(*rtd, "w00000-Flag") == "N");
        CHECK(std::stod(cp_of(*rtd, "w00000-Rtd")) > 0.0);  // L/s
    }
    REQUIRE(platform.wait_for(
        [&](const Frames& frames) {
            for (const auto* f : with(frames, "2051"))
                if (std::find(backlog_qns.begin(), backlog_qns.end(), f->packet().qn) ==
                    backlog_qns.end())
                    return true;
            return false;
        },
        80s));
    {
        const Frames live = platform.frames();  // with() points into it
        const Hj212PlatformStub::Frame* minute = nullptr;
        for (const auto* f : with(live, "2051"))
            if (std::find(backlog_qns.begin(), backlog_qns.end(), f->packet().qn) ==
                backlog_qns.end())
                minute = f;
        REQUIRE(minute);
        const std::string data_time = cp_of(*minute, "DataTime");
        CHECK(data_time.substr(12, 2) == "00");  // the start of a whole minute
        const double lo = std::stod(cp_of(*minute, "w01001-Min"));
        const double avg = std::stod(cp_of(*minute, "w01001-Avg"));
        const double hi = std::stod(cp_of(*minute, "w01001-Max"));
        CHECK(lo <= avg);
        CHECK(avg <= hi);
        // The first minute after the start is partial (a poll failing at start-up would make
        // it B: water rule); the volume is the flow integrated over the minute (m3).
        CHECK(gw::hj212::is_data_flag(cp_of(*minute, "w01001-Flag")));
        CHECK(cp_of(*minute, "w01003-Flag") == "M");  // under maintenance all along
        CHECK(std::stod(cp_of(*minute, "w00000-Cou")) > 0.0);
    }

    // --- requests from the platform
    REQUIRE(platform.send(request("20261129120000001", "1011", "")));
    REQUIRE(platform.send(
        request("20261129120000002", "1012",
                "SystemTime=" + gw::hj212::format_data_time(now_ms() + kHourMs, kUtcOffsetMin))));
    REQUIRE(platform.send(request("20261129120000003", "1062", "RtdInterval=45")));
    REQUIRE(platform.send(request("20261129120000004", "1061", "")));
    REQUIRE(platform.send(request("20261129120000005", "1062", "RtdInterval=5")));
    REQUIRE(platform.send(request("20261129120000006", "1064", "MinInterval=7")));
    REQUIRE(platform.send(request("20261129120000007", "1063", "")));
    REQUIRE(platform.send(request(
        "20261129120000008", "2061",
        "BeginTime=" + gw::hj212::format_data_time(yesterday, kUtcOffsetMin) +
            ";EndTime=" + gw::hj212::format_data_time(yesterday + 23 * kHourMs, kUtcOffsetMin))));
    REQUIRE(platform.send(
        request("20261129120000009", "2061", "BeginTime=20200101000000;EndTime=20200102000000")));
    REQUIRE(platform.send(request("20261129120000010", "1011", "", "654321")));
    REQUIRE(platform.wait_for(
        [](const Frames& frames) {
            for (int i = 1; i <= 9; ++i) {
                char qn[32];
                std::snprintf(qn, sizeof qn, "202611291200000%02d", i);
                if (exe_rtn(frames, qn).empty()) return false;
            }
            return !qn_rtn(frames, "20261129120000010").empty();
        },
        20s));
    const Frames frames = platform.frames();
    // 1011: 9011 ready, the time, 9012 success.
    CHECK(qn_rtn(frames, "20261129120000001") == "1");
    const auto time_upload = with(frames, "1011", "20261129120000001");
    REQUIRE(time_upload.size() == 1);
    const auto gateway_time =
        gw::hj212::parse_data_time(cp_of(*time_upload.front(), "SystemTime"), kUtcOffsetMin);
    REQUIRE(gateway_time);
    CHECK(std::llabs(*gateway_time - now_ms()) < 30'000);
    CHECK(exe_rtn(frames, "20261129120000001") == "1");
    // 1012: accepted and recorded, the clock untouched.
    CHECK(exe_rtn(frames, "20261129120000002") == "1");
    // 1062 then 1061: the new real-time interval reads back; 5 s is out of range (30..3600).
    CHECK(exe_rtn(frames, "20261129120000003") == "1");
    const auto interval = with(frames, "1061", "20261129120000004");
    REQUIRE(interval.size() == 1);
    CHECK(cp_of(*interval.front(), "RtdInterval") == "45");
    CHECK(exe_rtn(frames, "20261129120000005") == "3");
    // 1064 with 7 minutes: not a divisor of the hour the standard allows; 1063 still says 1.
    CHECK(exe_rtn(frames, "20261129120000006") == "3");
    const auto minutes = with(frames, "1063", "20261129120000007");
    REQUIRE(minutes.size() == 1);
    CHECK(cp_of(*minutes.front(), "MinInterval") == "1");
    // 2061 history: the 24 stored hours, with the request's QN, no reply asked, then 9012.
    const auto history = with(frames, "2061", "20261129120000008");
    REQUIRE(history.size() == 24);
    for (int h = 0; h < 24; ++h) {
        CHECK(cp_of(*history[static_cast<std::size_t>(h)], "DataTime") ==
              gw::hj212::format_data_time(yesterday + h * kHourMs, kUtcOffsetMin));
        CHECK(history[static_cast<std::size_t>(h)]->packet().flag == 4);
    }
    CHECK(cp_of(*history.front(), "w01001-Avg") == "7.20");
    CHECK(exe_rtn(frames, "20261129120000008") == "1");
    CHECK(exe_rtn(frames, "20261129120000009") == "100");  // nothing stored then
    CHECK(qn_rtn(frames, "20261129120000010") == "3");     // wrong password
    CHECK(with(frames, "1011", "20261129120000010").empty());

    // Bad input from the platform: noise, a request with a wrong CRC (answered QnRtn=9), a
    // request whose QN holds UTF-8 bytes (framed correctly: the gateway cannot echo that QN, so
    // it does not answer, and carries on), then a good request, answered.
    REQUIRE(platform.send_raw("noise without a frame\r\n"));
    {
        const std::string bad_crc = request("20261129120000011", "1011", "");
        char length[8];
        std::snprintf(length, sizeof length, "%04zu", bad_crc.size());
        REQUIRE(platform.send_raw("##" + std::string(length) + bad_crc + "0000\r\n"));
        const std::string utf8_qn = request("2026\xe6\xb5\x8b", "1011", "");
        char crc[8];
        std::snprintf(length, sizeof length, "%04zu", utf8_qn.size());
        std::snprintf(crc, sizeof crc, "%04X", gw::hj212::crc16(utf8_qn));
        REQUIRE(platform.send_raw("##" + std::string(length) + utf8_qn + crc + "\r\n"));
    }
    REQUIRE(platform.send(request("20261129120000012", "1063", "")));
    REQUIRE(platform.wait_for(
        [](const Frames& all) { return !exe_rtn(all, "20261129120000012").empty(); }, 10s));
    {
        const Frames after = platform.frames();
        CHECK(qn_rtn(after, "20261129120000011") == "9");
        CHECK(exe_rtn(after, "20261129120000011").empty());
        CHECK(exe_rtn(after, "20261129120000012") == "1");
        CHECK(bool_at(daemon_status(rig).value_or(json::object()), "/hj212/platforms/0/connected"));
        CHECK(int_at(daemon_status(rig).value_or(json::object()),
                     "/hj212/platforms/0/bad_frames") >= 3);
    }

    // Maintenance ends: status shows none, and both ends reached MQTT as events.
    {
        const auto r = maintenance({"end", "water1.turbidity", "--technician", "test"});
        INFO(r.out << r.err);
        REQUIRE(r.status);
        CHECK(r.status->exited_with(0));
        CHECK_THAT(r.out, Catch::Contains("maintenance ended") &&
                              Catch::Contains("no sensor is under maintenance"));
        const auto again = maintenance({"end", "water1.turbidity", "--technician", "test"});
        REQUIRE(again.status);
        CHECK(again.status->exited_with(1));
        CHECK_THAT(again.err, Catch::Contains("not under maintenance"));
        const auto status = daemon_status(rig);
        REQUIRE(status);
        CHECK((*status)["sensors"][2]["id"] == "water1.turbidity");
        CHECK((*status)["sensors"][2]["maintenance"].is_null());
    }
    CHECK(rig.collector().wait_for(
        [&](const MessageList& all) {
            bool started = false, ended = false;
            for (const auto& m : all)
                if (m.topic == rig.topic_base() + "events" && m.json &&
                    m.json->value("type", "") == "maintenance" &&
                    m.json->value("sensor", "") == "water1.turbidity") {
                    started |= m.json->value("state", "") == "started" &&
                               m.json->value("reason", "") == "probe cleaning";
                    ended |= m.json->value("state", "") == "ended";
                }
            return started && ended;
        },
        10s));

    // The gateway reports the offset and the platform's settings in its status, and the time
    // set reached MQTT as an event.
    REQUIRE(wait_until(
        [&] {
            const auto status = daemon_status(rig);
            return status &&
                   std::llabs(int_at(*status, "/hj212/platforms/0/clock_offset_ms", 0) - kHourMs) <
                       30'000 &&
                   int_at(*status, "/hj212/platforms/0/realtime_interval_s") == 45 &&
                   bool_at(*status, "/hj212/platforms/0/connected");
        },
        10s));
    CHECK(rig.collector().wait_for(
        [&](const MessageList& all) {
            for (const auto& m : all)
                if (m.topic == rig.topic_base() + "events" && m.json &&
                    m.json->value("type", "") == "hj212" &&
                    m.json->value("action", "") == "time_set")
                    return true;
            return false;
        },
        10s));
}

TEST_CASE("towngw hj212 listen plays the platform: prints frames and answers 9014",
          "[integration][hj212]") {
    TempDir dir("towngw-hj212-listen-");
    const auto ready = dir.path() / "listen.ready";
    ChildProcess listen({TOWNGW_CLI_BIN, "hj212", "listen", "--port", "0", "--ready-file",
                         ready.string(), "--seconds", "30"},
                        dir.path() / "listen.out", dir.path() / "listen.err");
    int port = 0;
    REQUIRE(wait_until(
        [&] {
            const auto j = json::parse(read_file(ready), nullptr, false);
            if (!j.is_object() || !j.contains("port")) return false;
            port = j["port"].get<int>();
            return port > 0;
        },
        10s));
    INFO("listen stderr: " << listen.stderr_text());

    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    // An upload asking for a reply, one that does not, and noise.
    const std::string upload = gw::hj212::encode_frame(
        "QN=20261129210000123;ST=32;CN=2011;PW=123456;MN=010000A8900016F000169DC0;Flag=5;"
        "CP=&&DataTime=20261129210000;w01001-Rtd=7.23,w01001-Flag=N&&");
    const std::string no_reply = gw::hj212::encode_frame(
        "QN=20261129210000124;ST=32;CN=2011;PW=123456;MN=010000A8900016F000169DC0;Flag=4;"
        "CP=&&DataTime=20261129210030;w01001-Rtd=7.24,w01001-Flag=N&&");
    const std::string sent = upload + no_reply + "garbage\r\n";
    REQUIRE(::send(fd, sent.data(), sent.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(sent.size()));
    // Exactly one 9014, for the first QN.
    std::string received;
    REQUIRE(wait_until(
        [&] {
            char buf[512];
            const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) received.append(buf, static_cast<std::size_t>(n));
            return received.find("\r\n") != std::string::npos;
        },
        10s));
    ::close(fd);
    const auto reply = gw::hj212::parse_frame(received);
    REQUIRE(reply.ok);
    CHECK(reply.data_segment ==
          "QN=20261129210000123;ST=91;CN=9014;PW=123456;MN=010000A8900016F000169DC0;Flag=4;"
          "CP=&&&&");
    CHECK(reply.consumed_bytes == received.size());
    REQUIRE(
        wait_until([&] { return listen.stdout_text().find("INVALID") != std::string::npos; }, 10s));
    listen.signal(SIGINT);
    const auto status = listen.wait_exit(10s);
    REQUIRE(status);
    CHECK(status->exited_with(0));
    const std::string out = listen.stdout_text();
    INFO(out);
    CHECK_THAT(out, Catch::Contains("CN 2011  QN 20261129210000123  DataTime=20261129210000;"
                                    "w01001-Rtd=7.23,w01001-Flag=N  [9014 sent]"));
    CHECK_THAT(out, Catch::Contains("QN 20261129210000124  DataTime=20261129210030;"
                                    "w01001-Rtd=7.24,w01001-Flag=N\n"));
    CHECK_THAT(out, Catch::Contains("INVALID  no '##' header"));
}

TEST_CASE("HJ 212-2025 edition: version bits in Flag and the 9015 heartbeat",
          "[integration][hj212]") {
    Hj212PlatformStub platform;
    DemoRig rig("hj212-2025");
    rig.add_diagnostics([&] { return platform.describe(); });
    json config = json::parse(platform_config(platform.port()));
    config["platforms"][0]["edition"] = "2025";
    config["platforms"][0]["heartbeat_s"] = 10;
    config["platforms"][0]["send"] = json::array({"minute"});  // quiet link: heartbeats show
    // A platform that sends no 9014: a frame is delivered once written.
    config["platforms"][0]["reply_requested"] = false;
    const auto backlog =
        seed_frames(rig.dir().path() / "outbox.db", "2051", (now_ms() / kMinuteMs - 5) * kMinuteMs,
                    kMinuteMs, 5, [](int) { return std::string("w01001-Avg=7.10,w01001-Flag=N"); });
    rig.start_gateway({{"/hj212", config.dump()}});
    // The backlog goes out at once, in order, Flag 8 (2025, no reply wanted), and the store
    // counts it delivered.
    REQUIRE(platform.wait_for(
        [&](const Frames& frames) { return with(frames, "2051").size() >= 5; }, 20s));
    {
        const Frames sent = platform.frames();
        const auto uploads = with(sent, "2051");
        for (std::size_t i = 0; i < backlog.size(); ++i) {
            CHECK(uploads[i]->packet().qn == backlog[i]);
            CHECK(uploads[i]->packet().flag == 8);
            CHECK_FALSE(uploads[i]->acked);
        }
    }
    CHECK(wait_until(
        [&] {
            const auto status = daemon_status(rig);
            return status && int_at(*status, "/hj212/pending") == 0 &&
                   int_at(*status, "/hj212/platforms/0/frames_delivered") >= 5;
        },
        15s));
    // Nothing to send for up to a minute: after 10 s without a frame, a 9015 (ST 91, Flag 8:
    // version bits 000010, no reply wanted), and again 10 s later.
    REQUIRE(platform.wait_for([](const Frames& frames) { return with(frames, "9015").size() >= 2; },
                              40s));
    const Frames frames = platform.frames();
    const auto beats = with(frames, "9015");
    for (const auto* beat : beats) {
        CHECK(beat->packet().st == "91");
        CHECK(beat->packet().flag == 8);
        CHECK(beat->packet().mn == kMn);
        CHECK(beat->packet().qn.size() == 17);
        CHECK(beat->packet().cp.empty());
    }
    // A request is answered with the 2025 version bits too.
    REQUIRE(platform.send(request("20261129120000021", "1063", "")));
    REQUIRE(platform.wait_for(
        [](const Frames& all) { return !exe_rtn(all, "20261129120000021").empty(); }, 10s));
    const Frames answered = platform.frames();
    const auto upload = with(answered, "1063", "20261129120000021");
    REQUIRE(upload.size() == 1);
    CHECK(upload.front()->packet().flag == 8);
    CHECK(cp_of(*upload.front(), "MinInterval") == "1");
}

// Not a test: a benchmark of the stop-and-wait link (docs/hj212.md, "Delivery"), run by
// scripts/bench-hj212.sh. A backlog of minute frames is drained into the stub with the 9014
// delayed as a far platform would; it prints frames/s and asserts only that all arrived.
TEST_CASE("HJ 212 backlog drain rate", "[.][hj212-bench]") {
    for (const auto& [frames_n, delay_ms] :
         std::vector<std::pair<int, int>>{{2000, 0}, {300, 50}, {150, 100}}) {
        Hj212PlatformStub platform;
        platform.set_reply_delay(std::chrono::milliseconds(delay_ms));
        DemoRig rig("hj212-bench");
        seed_frames(rig.dir().path() / "outbox.db", "2051",
                    (now_ms() / kMinuteMs - frames_n) * kMinuteMs, kMinuteMs, frames_n, [](int) {
                        return "w01001-Min=7.00,w01001-Avg=7.10,w01001-Max=7.20,w01001-Flag=N;"
                               "w01010-Min=18.0,w01010-Avg=18.2,w01010-Max=18.4,w01010-Flag=N;"
                               "w01003-Min=1.0,w01003-Avg=1.2,w01003-Max=1.5,w01003-Flag=N;"
                               "w00000-Min=8.10,w00000-Avg=9.00,w00000-Max=9.80,w00000-Cou=5.400,"
                               "w00000-Flag=N";
                    });
        json config = json::parse(platform_config(platform.port()));
        config["platforms"][0]["send"] = json::array({"daily"});  // the backlog only
        rig.start_gateway({{"/hj212", config.dump()}});
        const auto acked = [&](const Frames& all) {
            int n = 0;
            for (const auto& f : all) n += f.acked ? 1 : 0;
            return n;
        };
        REQUIRE(platform.wait_for([&](const Frames& all) { return !all.empty(); }, 20s));
        const auto first = std::chrono::steady_clock::now();
        REQUIRE(platform.wait_for([&](const Frames& all) { return acked(all) >= frames_n; },
                                  std::chrono::seconds(30 + frames_n * (delay_ms + 20) / 1000)));
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - first).count();
        std::printf(
            "hj212 drain: %d minute frames of %zu bytes, 9014 after %d ms: %.2f s, "
            "%.1f frames/s\n",
            frames_n, platform.frames().front().raw.size(), delay_ms, seconds, frames_n / seconds);
        std::fflush(stdout);
        CHECK(acked(platform.frames()) == frames_n);
    }
}

TEST_CASE("maintenance survives a restart of the daemon and ends by command",
          "[integration][maintenance]") {
    DemoRig rig("maintenance");
    rig.start_gateway();
    const auto maintenance = [&](std::vector<std::string> args) {
        args.insert(args.begin(), {TOWNGW_CLI_BIN, "maintenance"});
        args.insert(args.end(), {"--socket", rig.gateway().control_socket().string(), "--json"});
        const auto r = run_command(args, rig.dir().path());
        INFO(r.out << r.err);
        REQUIRE(r.status);
        REQUIRE(r.status->exited_with(0));
        return json::parse(r.out);
    };
    const json started = maintenance({"start", "water1.ph", "--minutes", "45", "--technician",
                                      "li.wei", "--reason", "reagent change"});
    REQUIRE(started["maintenance"].size() == 1);
    const std::string until = started["maintenance"][0]["until"];
    CHECK(started["maintenance"][0]["technician"] == "li.wei");

    rig.gateway().process().signal(SIGTERM);
    REQUIRE(rig.gateway().process().wait_exit(15s));
    rig.start_gateway();
    // Still under maintenance after the restart, until the same time.
    const json listed = maintenance({"list"});
    REQUIRE(listed["maintenance"].size() == 1);
    CHECK(listed["maintenance"][0]["sensor"] == "water1.ph");
    CHECK(listed["maintenance"][0]["until"] == until);
    CHECK(listed["maintenance"][0]["reason"] == "reagent change");
    const auto status = daemon_status(rig);
    REQUIRE(status);
    CHECK((*status)["sensors"][0]["maintenance"]["until"] == until);

    CHECK(maintenance({"end", "water1.ph"})["maintenance"].empty());
    CHECK(maintenance({"list"})["maintenance"].empty());
}
