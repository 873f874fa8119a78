// SPDX-License-Identifier: Apache-2.0
// towngw hj212 decode|encode|check (cli/hj212_command.cpp): the standard's example frame decoded
// field by field, a bad CRC naming both CRCs, encode's exact frame, check's exit codes, stdin
// frames and the usage errors.
#include <catch2/catch.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "commands.hpp"

using namespace gw::cli;

namespace {

const std::string kSegment =
    "QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;"
    "CP=&&RtdInterval=30&&";
const std::string kFrame = "##0101" + kSegment + "1C80\r\n";

struct Run {
    int rc;
    std::string out;
    std::string err;
};

Run run(const std::vector<std::string>& args, const std::string& input = "") {
    std::istringstream in(input);
    std::ostringstream out, err;
    const int rc = run_hj212(args, in, out, err);
    return {rc, out.str(), err.str()};
}

}  // namespace

TEST_CASE("hj212 cli: the standard's example frame decodes with every field",
          "[unit][hj212][cli]") {
    const std::string text = hj212_decode_text(kFrame);
    CHECK(text.rfind("OK\n", 0) == 0);
    CHECK(text.find("warning") == std::string::npos);
    CHECK(text.find("  length  101 bytes (declared 101)\n") != std::string::npos);
    CHECK(text.find("  CRC     1C80 (computed 1C80)\n") != std::string::npos);
    CHECK(text.find("  QN      20160801085857223\n") != std::string::npos);
    CHECK(text.find("  ST      32\n") != std::string::npos);
    CHECK(text.find("  CN      1062\n") != std::string::npos);
    CHECK(text.find("  PW      100000\n") != std::string::npos);
    CHECK(text.find("  MN      010000A8900016F000169DC0\n") != std::string::npos);
    CHECK(text.find("  Flag    5: version 1 (HJ 212-2017), A=1 reply requested, D=0 single "
                    "packet\n") != std::string::npos);
    CHECK(text.find("PNUM") == std::string::npos);
    CHECK(text.find("  CP      1 item(s)\n          RtdInterval=30\n") != std::string::npos);

    const json j = hj212_decode_json(kFrame);
    CHECK(j["ok"] == true);
    CHECK(j["error"].is_null());
    CHECK(j["warnings"].empty());
    CHECK(j["crc"]["computed"] == "1C80");
    CHECK(j["crc"]["received"] == "1C80");
    CHECK(j["length"]["declared"] == 101);
    CHECK(j["fields"]["QN"] == "20160801085857223");
    CHECK(j["fields"]["ST"] == "32");
    CHECK(j["fields"]["CN"] == "1062");
    CHECK(j["fields"]["PW"] == "100000");
    CHECK(j["fields"]["MN"] == "010000A8900016F000169DC0");
    CHECK(j["fields"]["Flag"] == 5);
    CHECK(j["flag"]["version"] == 1);
    CHECK(j["flag"]["reply_requested"] == true);
    CHECK(j["flag"]["split_packet"] == false);
    REQUIRE(j["cp"].size() == 1);
    CHECK(j["cp"][0][0]["key"] == "RtdInterval");
    CHECK(j["cp"][0][0]["value"] == "30");
}

TEST_CASE("hj212 cli: warnings for a frame without CRLF and with a lower-case CRC",
          "[unit][hj212][cli]") {
    const std::string frame = "##0101" + kSegment + "1c80";
    const std::string text = hj212_decode_text(frame);
    CHECK(text.rfind("OK\n", 0) == 0);
    CHECK(text.find("  warning: missing CRLF after the CRC\n") != std::string::npos);
    CHECK(text.find("  warning: lower-case CRC") != std::string::npos);
}

TEST_CASE("hj212 cli: a bad CRC names the expected and the received CRC", "[unit][hj212][cli]") {
    const std::string bad = "##0101" + kSegment + "1C81\r\n";
    const std::string text = hj212_decode_text(bad);
    CHECK(text.rfind("INVALID: CRC mismatch: expected 1C80, received 1C81\n", 0) == 0);
    CHECK(text.find("  CN      1062\n") != std::string::npos);  // fields still shown
    const json j = hj212_decode_json(bad);
    CHECK(j["ok"] == false);
    CHECK(j["error"] == "CRC mismatch: expected 1C80, received 1C81");

    const Run r = run({"decode", bad});
    CHECK(r.rc == kExitRefused);
    const Run c = run({"check", bad});
    CHECK(c.rc == kExitRefused);
    CHECK(c.out.find("CRC computed 1C80, received 1C81\n") != std::string::npos);
    CHECK(c.err.find("CRC mismatch: expected 1C80, received 1C81") != std::string::npos);
}

TEST_CASE("hj212 cli: encode of the example segment gives the exact frame", "[unit][hj212][cli]") {
    const Run r = run({"encode", kSegment});
    CHECK(r.rc == kExitOk);
    CHECK(r.out == kFrame);
    CHECK(r.err.empty());
}

TEST_CASE("hj212 cli: encode refuses a segment that cannot be framed", "[unit][hj212][cli]") {
    CHECK_THROWS_AS(run({"encode", kSegment + "\r\n"}), UsageError);
    CHECK_THROWS_AS(run({"encode", "CN=2011;CP=&&a=\xC3\xA9&&"}), UsageError);
    CHECK_THROWS_AS(run({"encode", std::string(10000, 'A')}), UsageError);
    CHECK_THROWS_WITH(run({"encode", ""}), Catch::Contains("SEGMENT is empty"));
    CHECK_THROWS_WITH(run({"encode"}), Catch::Contains("exactly one SEGMENT"));
}

TEST_CASE("hj212 cli: check exit codes", "[unit][hj212][cli]") {
    const Run ok = run({"check", kFrame});
    CHECK(ok.rc == kExitOk);
    CHECK(ok.out ==
          "CRC computed 1C80, received 1C80\n"
          "length declared 101, data segment 101 bytes\nOK\n");

    const std::string wrong_length = "##0100" + kSegment + "1C80\r\n";
    const Run len = run({"check", wrong_length});
    CHECK(len.rc == kExitRefused);
    CHECK(len.err.find("length field says 100, data segment is 101 bytes") != std::string::npos);

    const Run garbage = run({"check", "hello"});
    CHECK(garbage.rc == kExitRefused);
    CHECK(garbage.out.rfind("CRC computed -, received -\n", 0) == 0);
    CHECK(garbage.err.find("no '##' header") != std::string::npos);
}

TEST_CASE("hj212 cli: decode reads frames from stdin, CRLF or LF", "[unit][hj212][cli]") {
    const std::string line = "##0101" + kSegment + "1C80";
    const Run r = run({"decode"}, line + "\r\n\n" + line + "\n");
    CHECK(r.rc == kExitOk);
    CHECK(r.out.find("warning") == std::string::npos);
    CHECK(r.out == hj212_decode_text(kFrame) + "\n" + hj212_decode_text(kFrame));

    const Run js = run({"decode", "--json"}, line + "\n" + line + "1\n");
    CHECK(js.rc == kExitRefused);
    std::istringstream lines(js.out);
    std::string first, second;
    REQUIRE(std::getline(lines, first));
    REQUIRE(std::getline(lines, second));
    CHECK(json::parse(first)["ok"] == true);
    CHECK(json::parse(second)["ok"] == false);

    CHECK(run({"decode"}, "\n").rc == kExitRefused);
}

TEST_CASE("hj212 cli: a bad argument gives a usage error naming it", "[unit][hj212][cli]") {
    CHECK_THROWS_WITH(run({"--frobnicate", "decode"}), Catch::Contains("\"--frobnicate\""));
    CHECK_THROWS_WITH(run({"transmogrify"}), Catch::Contains("\"transmogrify\""));
    CHECK_THROWS_WITH(run({}), Catch::Contains("decode, encode, check or listen"));
    CHECK_THROWS_WITH(run({"check", "a", "b"}), Catch::Contains("exactly one FRAME"));
    CHECK_THROWS_WITH(run({"encode", "--json", kSegment}), Catch::Contains("--json"));
    const Run help = run({"decode", "--help"});
    CHECK(help.rc == kExitOk);
    CHECK(help.out == kHj212Usage);
}

TEST_CASE("hj212 cli: listen arguments, lines and 9014 replies", "[unit][hj212][cli]") {
    const auto a = parse_hj212_listen_args(
        {"--port", "9001", "--bind", "0.0.0.0", "--seconds", "60", "--no-reply", "--json"});
    CHECK(a.port == 9001);
    CHECK(a.bind == "0.0.0.0");
    CHECK(a.seconds == 60);
    CHECK_FALSE(a.reply);
    CHECK(a.json);
    CHECK(parse_hj212_listen_args({"--port", "0"}).bind == "127.0.0.1");
    CHECK_THROWS_WITH(parse_hj212_listen_args({}), Catch::Contains("--port N is required"));
    CHECK_THROWS_WITH(parse_hj212_listen_args({"--port", "70000"}),
                      Catch::Contains("out of range"));
    CHECK_THROWS_WITH(parse_hj212_listen_args({"--port", "1", "--bind", "example.org"}),
                      Catch::Contains("not an IPv4 address"));
    CHECK_THROWS_WITH(parse_hj212_listen_args({"--port", "1", "--frob"}),
                      Catch::Contains("\"--frob\""));
    CHECK(run({"listen", "--help"}).out == kHj212Usage);

    // The standard's example is a request (CN 1062): printed, but no 9014 (not an upload).
    CHECK(hj212_listen_line(kFrame, false) == "CN 1062  QN 20160801085857223  RtdInterval=30");
    const auto example = gw::hj212::parse_segment(kSegment);
    REQUIRE(example.ok);
    CHECK(hj212_data_reply(example.packet).empty());
    // An upload with Flag=5 gets "QN=<its QN>;ST=91;CN=9014;...;Flag=4;CP=&&&&".
    const std::string upload =
        "QN=20261129210000123;ST=32;CN=2051;PW=123456;MN=010000A8900016F000169DC0;Flag=5;"
        "CP=&&DataTime=20261129205000;w01001-Avg=7.20,w01001-Flag=N&&";
    const auto parsed = gw::hj212::parse_segment(upload);
    REQUIRE(parsed.ok);
    CHECK(hj212_data_reply(parsed.packet) ==
          gw::hj212::encode_frame("QN=20261129210000123;ST=91;CN=9014;PW=123456;"
                                  "MN=010000A8900016F000169DC0;Flag=4;CP=&&&&"));
    CHECK(hj212_listen_line(gw::hj212::encode_frame(upload), true) ==
          "CN 2051  QN 20261129210000123  DataTime=20261129205000;w01001-Avg=7.20,"
          "w01001-Flag=N  [9014 sent]");
    CHECK(hj212_listen_line("##0005ABCDE0000\r\n", false).rfind("INVALID  ", 0) == 0);
}
