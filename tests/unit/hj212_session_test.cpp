// SPDX-License-Identifier: Apache-2.0
// HJ 212 session segments (hj212/session.hpp): uploads, their split into PNUM/PNO packets when
// they outgrow 1024 characters, the interaction replies, and QNs.
#include <catch2/catch.hpp>
#include <string>

#include "hj212/codec.hpp"
#include "hj212/session.hpp"

using namespace gw::hj212;

namespace {
Identity identity(int version = kVersion2017) {
    return {"32", "123456", "010000A8900016F000169DC0", version};
}
}  // namespace

TEST_CASE("hj212 session: an upload that fits is one segment", "[unit][hj212]") {
    const auto segments = upload_segments(identity(), "20261129210000123", "2051",
                                          "DataTime=20261129205000;w01001-Avg=7.20,w01001-Flag=N",
                                          /*reply_requested=*/true);
    REQUIRE(segments.size() == 1);
    CHECK(segments[0] ==
          "QN=20261129210000123;ST=32;CN=2051;PW=123456;MN=010000A8900016F000169DC0;Flag=5;"
          "CP=&&DataTime=20261129205000;w01001-Avg=7.20,w01001-Flag=N&&");
    // Without a reply wanted: Flag 4. Edition 2025: version bits 000010, Flag 9 / 8.
    CHECK(upload_segments(identity(), "1", "2011", "DataTime=20261129205000", false)[0].find(
              ";Flag=4;") != std::string::npos);
    CHECK(upload_segments(identity(kVersion2025), "1", "2011", "DataTime=20261129205000", true)[0]
              .find(";Flag=9;") != std::string::npos);
}

TEST_CASE("hj212 session: a long upload is split into packets that each carry DataTime",
          "[unit][hj212]") {
    // 40 items of 46 characters: ~1,900 characters; with the header (~100) and DataTime repeated
    // in each packet, 1024-character packets hold 19 items at most: three packets.
    std::string cp = "DataTime=20261129205000";
    std::vector<std::string> items;
    for (int i = 0; i < 40; ++i) {
        char item[96];
        std::snprintf(item, sizeof item, "w%05d-Min=1.00,w%05d-Avg=2.00,w%05d-Flag=N", i, i, i);
        items.emplace_back(item);
        cp += ";" + items.back();
    }
    const auto segments = upload_segments(identity(), "20261129210000123", "2051", cp, true);
    REQUIRE(segments.size() == 3);
    std::vector<std::string> seen;
    for (std::size_t i = 0; i < segments.size(); ++i) {
        INFO(segments[i]);
        CHECK(segments[i].size() <= kStandardMaxSegmentBytes);
        const SegmentParse parsed = parse_segment(segments[i]);
        REQUIRE(parsed.ok);
        CHECK(parsed.packet.qn == "20261129210000123");  // one QN for every packet
        CHECK(parsed.packet.flag == 7);                  // 2017, split, reply wanted
        CHECK(parsed.packet.pnum == 3);
        CHECK(parsed.packet.pno == static_cast<int>(i) + 1);
        CHECK(cp_value(parsed.packet, "DataTime") == std::string("20261129205000"));
        for (std::size_t k = 1; k < parsed.packet.cp.size(); ++k) {
            std::string text;
            for (const auto& [key, value] : parsed.packet.cp[k])
                text += (text.empty() ? "" : ",") + key + "=" + value;
            seen.push_back(text);
        }
        // The framing takes it, within the standard's limit.
        CHECK_FALSE(parse_frame(encode_frame(segments[i])).oversize);
    }
    CHECK(seen == items);  // every item once, in order
}

TEST_CASE("hj212 session: replies and QNs", "[unit][hj212]") {
    CHECK(reply_segment(identity(), kInteractionSt, "20160801085857223", "9011", "QnRtn=1") ==
          "QN=20160801085857223;ST=91;CN=9011;PW=123456;MN=010000A8900016F000169DC0;Flag=4;"
          "CP=&&QnRtn=1&&");
    CHECK(reply_segment(identity(), kInteractionSt, "1", "9015", "") ==
          "QN=1;ST=91;CN=9015;PW=123456;MN=010000A8900016F000169DC0;Flag=4;CP=&&&&");
    // 2026-11-29T13:00:00.123Z is 21:00:00.123 in China Standard Time.
    CHECK(make_qn(1795957200123, 480) == "20261129210000123");
    CHECK(make_qn(1795957200123, 0) == "20261129130000123");
    // Nothing the framing cannot carry leaves the gateway.
    CHECK_THROWS_AS(upload_segments(identity(), "1", "2011", "DataTime=1\r\n", true),
                    std::invalid_argument);
    CHECK_THROWS_AS(
        reply_segment(identity(), kInteractionSt, "2026\xe6\xb5\x8b", "9011", "QnRtn=1"),
        std::invalid_argument);
    CHECK_THROWS_AS(upload_segments(identity(), "1", "2011", "a&&b", true), std::invalid_argument);
}
