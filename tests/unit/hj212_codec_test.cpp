// SPDX-License-Identifier: Apache-2.0
// HJ 212-2017 codec (DOMAIN.md §1.2-1.6): Appendix A CRC against its check value and the
// standard's own example frame, frame and segment round trips, the tolerant parser's
// diagnostics on malformed frames, and the strict generator's refusals.
#include <catch2/catch.hpp>
#include <stdexcept>
#include <string>

#include "hj212/codec.hpp"

using namespace gw::hj212;

namespace {

// The standard's example (Appendix A): 101 bytes, CRC 1C80.
const std::string kExampleSegment =
    "QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;"
    "CP=&&RtdInterval=30&&";
const std::string kExampleFrame = "##0101" + kExampleSegment + "1C80\r\n";

bool has_warning_containing(const std::vector<std::string>& warnings, const std::string& text) {
    for (const auto& w : warnings)
        if (w.find(text) != std::string::npos) return true;
    return false;
}

}  // namespace

TEST_CASE("hj212 crc16 matches the Appendix A check value, not Modbus", "[unit][hj212]") {
    CHECK(crc16("123456789") == 0x2F80);
    CHECK(crc16("123456789") != 0x4B37);  // CRC-16/MODBUS of the same string
    CHECK(crc16("") == 0xFFFF);
}

TEST_CASE("hj212 crc16 low byte is always one of the eight possible values", "[unit][hj212]") {
    // Only the high byte carries forward (DOMAIN.md §1.6), so the low byte is in this set.
    const std::string samples[] = {"a", "QN=1", "CP=&&&&", kExampleSegment, "xyz;ST=21"};
    for (const auto& s : samples) {
        const unsigned low = crc16(s) & 0xFFU;
        const bool allowed = low == 0x00 || low == 0x01 || low == 0x40 || low == 0x41 ||
                             low == 0x80 || low == 0x81 || low == 0xC0 || low == 0xC1;
        CHECK(allowed);
    }
}

TEST_CASE("hj212 standard example encodes to the exact published frame", "[unit][hj212]") {
    REQUIRE(kExampleSegment.size() == 101);
    CHECK(crc16(kExampleSegment) == 0x1C80);
    CHECK(encode_frame(kExampleSegment) == kExampleFrame);
}

TEST_CASE("hj212 encode_frame zero-pads the length and handles an empty segment", "[unit][hj212]") {
    CHECK(encode_frame("") == "##0000FFFF\r\n");
    const std::string frame = encode_frame("CN=9014");
    CHECK(frame.substr(0, 6) == "##0007");
    CHECK(frame.size() == 2 + 4 + 7 + 4 + 2);
}

TEST_CASE("hj212 encode_frame refuses oversize, CR, LF and non-ASCII", "[unit][hj212]") {
    CHECK_NOTHROW(encode_frame(std::string(9999, 'a')));
    CHECK_THROWS_WITH(encode_frame(std::string(10000, 'a')), Catch::Contains("9999"));
    CHECK_THROWS_WITH(encode_frame("CN=2011\r"), Catch::Contains("CR/LF"));
    CHECK_THROWS_WITH(encode_frame("CN=2011\nx"), Catch::Contains("CR/LF"));
    CHECK_THROWS_WITH(encode_frame("MN=\xE6\xB0\xB4"), Catch::Contains("non-ASCII"));
    CHECK_THROWS_AS(encode_frame("a\nb"), std::invalid_argument);
}

TEST_CASE("hj212 parse_frame accepts the standard example cleanly", "[unit][hj212]") {
    const auto r = parse_frame(kExampleFrame);
    REQUIRE(r.ok);
    CHECK(r.error.empty());
    CHECK(r.data_segment == kExampleSegment);
    CHECK(r.warnings.empty());
    CHECK(r.declared_length == std::optional<std::size_t>(101));
    CHECK(r.crc_received == std::optional<std::uint16_t>(0x1C80));
    CHECK(r.crc_expected == 0x1C80);
    CHECK(r.consumed_bytes == kExampleFrame.size());
    CHECK_FALSE(r.length_mismatch);
    CHECK_FALSE(r.crc_lower_case);
    CHECK_FALSE(r.missing_crlf);
    CHECK_FALSE(r.trailing_bytes);
}

TEST_CASE("hj212 encode then parse round trips", "[unit][hj212]") {
    const std::string segments[] = {"", "CN=9014", kExampleSegment,
                                    std::string(1500, 'x') + ";CN=2011"};
    for (const auto& seg : segments) {
        const auto r = parse_frame(encode_frame(seg));
        REQUIRE(r.ok);
        CHECK(r.data_segment == seg);
        CHECK(r.oversize == (seg.size() > kStandardMaxSegmentBytes));
    }
}

TEST_CASE("hj212 parse_frame flags a length mismatch but keeps the segment", "[unit][hj212]") {
    const auto r = parse_frame("##0100" + kExampleSegment + "1C80\r\n");
    CHECK(r.ok);  // the CRC still vouches for the segment
    CHECK(r.length_mismatch);
    CHECK(r.data_segment == kExampleSegment);
    CHECK(has_warning_containing(r.warnings, "length field says 100"));
}

TEST_CASE("hj212 parse_frame rejects a CRC mismatch naming expected and received",
          "[unit][hj212]") {
    const auto r = parse_frame("##0101" + kExampleSegment + "1C08\r\n");  // the PDF misprint
    CHECK_FALSE(r.ok);
    CHECK(r.crc_mismatch);
    CHECK(r.crc_expected == 0x1C80);
    CHECK(r.crc_received == std::optional<std::uint16_t>(0x1C08));
    CHECK(r.error == "CRC mismatch: expected 1C80, received 1C08");
    CHECK(r.data_segment == kExampleSegment);  // kept for logging
}

TEST_CASE("hj212 parse_frame accepts a lower-case CRC but flags it", "[unit][hj212]") {
    const auto r = parse_frame("##0101" + kExampleSegment + "1c80\r\n");
    CHECK(r.ok);
    CHECK(r.crc_lower_case);
    CHECK(r.crc_received == std::optional<std::uint16_t>(0x1C80));
    CHECK(has_warning_containing(r.warnings, "lower-case CRC"));
}

TEST_CASE("hj212 parse_frame accepts a missing CRLF using the declared length", "[unit][hj212]") {
    const auto r = parse_frame("##0101" + kExampleSegment + "1C80");
    CHECK(r.ok);
    CHECK(r.missing_crlf);
    CHECK(r.data_segment == kExampleSegment);
    CHECK(has_warning_containing(r.warnings, "missing CRLF"));
}

TEST_CASE("hj212 parse_frame skips and flags garbage before the header", "[unit][hj212]") {
    const std::string garbage(
        "\x00\xFF"
        "noise",
        7);
    const auto g = parse_frame(garbage + kExampleFrame);
    REQUIRE(g.ok);
    CHECK(g.skipped_bytes == 7);
    CHECK(g.consumed_bytes == 7 + kExampleFrame.size());
    CHECK(has_warning_containing(g.warnings, "skipped 7 byte(s)"));
}

TEST_CASE("hj212 parse_frame flags bytes after the frame", "[unit][hj212]") {
    const auto r = parse_frame(kExampleFrame + "##00");
    CHECK(r.ok);
    CHECK(r.trailing_bytes);
    CHECK(r.consumed_bytes == kExampleFrame.size());
}

TEST_CASE("hj212 parse_frame reports unusable frames without throwing", "[unit][hj212]") {
    SECTION("empty input") {
        const auto r = parse_frame("");
        CHECK_FALSE(r.ok);
        CHECK(r.error == "empty input");
    }
    SECTION("no header") {
        const auto r = parse_frame("0101QN=1");
        CHECK_FALSE(r.ok);
        CHECK_THAT(r.error, Catch::Contains("no '##' header"));
    }
    SECTION("## only") {
        const auto r = parse_frame("##");
        CHECK_FALSE(r.ok);
        CHECK_THAT(r.error, Catch::Contains("length field needs 4 digits"));
    }
    SECTION("non-digit length") {
        const auto r = parse_frame("##01a1" + kExampleSegment + "1C80\r\n");
        CHECK_FALSE(r.ok);
        CHECK(r.error == "length field '01a1' is not 4 decimal digits");
    }
    SECTION("truncated without CRLF") {
        const auto r = parse_frame(kExampleFrame.substr(0, 60));
        CHECK_FALSE(r.ok);
        CHECK_THAT(r.error, Catch::Contains("truncated") && Catch::Contains("101"));
    }
    SECTION("no room for the CRC") {
        const auto r = parse_frame("##0000AB\r\n");
        CHECK_FALSE(r.ok);
        CHECK_THAT(r.error, Catch::Contains("no room for the 4-digit CRC"));
    }
    SECTION("CRC not hex") {
        const auto r = parse_frame("##0007CN=9014ZZZZ\r\n");
        CHECK_FALSE(r.ok);
        CHECK(r.error == "CRC field 'ZZZZ' is not 4 hex digits");
    }
    SECTION("oversize length field") {
        const auto r = parse_frame("##9999" + kExampleSegment + "1C80");
        CHECK_FALSE(r.ok);
        CHECK_THAT(r.error, Catch::Contains("truncated") && Catch::Contains("9999"));
    }
}

TEST_CASE("hj212 parse_frame survives every prefix of a frame", "[unit][hj212]") {
    // A cheap stand-in for fuzzing: no prefix may crash, and only the full one is clean.
    for (std::size_t n = 0; n <= kExampleFrame.size(); ++n) {
        const auto r = parse_frame(std::string_view(kExampleFrame).substr(0, n));
        CHECK(r.ok == (n >= kExampleFrame.size() - 2));  // CRLF-less still usable
        CHECK(r.ok == r.error.empty());
    }
}

TEST_CASE("hj212 parse_segment reads the standard example field by field", "[unit][hj212]") {
    const auto r = parse_segment(kExampleSegment);
    REQUIRE(r.ok);
    CHECK(r.warnings.empty());
    const Packet& p = r.packet;
    CHECK(p.qn == "20160801085857223");
    CHECK(p.st == "32");
    CHECK(p.cn == "1062");
    CHECK(p.pw == "100000");
    CHECK(p.mn == "010000A8900016F000169DC0");
    REQUIRE(p.flag);
    CHECK(*p.flag == 5);
    CHECK(flag_version(*p.flag) == kVersion2017);
    CHECK(flag_reply_requested(*p.flag));
    CHECK_FALSE(flag_split_packet(*p.flag));
    CHECK_FALSE(p.pnum);
    CHECK_FALSE(p.pno);
    CHECK(p.extra.empty());
    REQUIRE(p.cp.size() == 1);
    REQUIRE(p.cp[0].size() == 1);
    CHECK(p.cp[0][0] == Field{"RtdInterval", "30"});
}

TEST_CASE("hj212 parse_segment splits a CP area with several items and flags", "[unit][hj212]") {
    const std::string seg =
        "QN=20160801085857223;ST=32;CN=2011;PW=123456;MN=010000A8900016F000169DC0;Flag=4;"
        "CP=&&DataTime=20160801085857;w01018-Rtd=166.0,w01018-Flag=N;"
        "w21003-Rtd=1.2,w21003-Flag=C;w00000-Rtd=12.5,w00000-Flag=D&&";
    const auto r = parse_segment(seg);
    REQUIRE(r.ok);
    const auto& cp = r.packet.cp;
    REQUIRE(cp.size() == 4);
    CHECK(cp[0] == CpItem{{"DataTime", "20160801085857"}});
    CHECK(cp[1] == CpItem{{"w01018-Rtd", "166.0"}, {"w01018-Flag", "N"}});
    CHECK(cp[2] == CpItem{{"w21003-Rtd", "1.2"}, {"w21003-Flag", "C"}});
    CHECK(cp_value(r.packet, "w00000-Rtd") == std::optional<std::string>("12.5"));
    CHECK(cp_value(r.packet, "w00000-Flag") == std::optional<std::string>("D"));
    CHECK_FALSE(cp_value(r.packet, "w01018-rtd"));  // names are case-sensitive
    for (const auto* key : {"w01018-Flag", "w21003-Flag", "w00000-Flag"})
        CHECK(is_data_flag(*cp_value(r.packet, key)));
    CHECK_FALSE(is_data_flag("X"));
    CHECK_FALSE(is_data_flag("NN"));
    CHECK(format_segment(r.packet) == seg);
}

TEST_CASE("hj212 parse_segment tolerates 2005-style segments and unknown fields", "[unit][hj212]") {
    const auto r = parse_segment(
        "ST=32;CN=2011;PW=123456;MN=DXCBZ000000005;PNO=0002;PNUM=0002;"
        "Vendor=x;CP=&&DataTime=20210409101112&&");
    REQUIRE(r.ok);
    CHECK(r.missing_qn);
    CHECK(r.missing_flag);
    CHECK(has_warning_containing(r.warnings, "no QN"));
    CHECK(r.packet.pno == std::optional<int>(2));
    CHECK(r.packet.pnum == std::optional<int>(2));
    REQUIRE(r.packet.extra.size() == 1);
    CHECK(r.packet.extra[0] == Field{"Vendor", "x"});
    CHECK(cp_value(r.packet, "DataTime") == std::optional<std::string>("20210409101112"));
}

TEST_CASE("hj212 parse_segment flags bad fields and rejects a segment without CN",
          "[unit][hj212]") {
    const auto bad_flag = parse_segment("CN=2011;Flag=abc;CP=&&a=1");
    CHECK(bad_flag.ok);
    CHECK(bad_flag.missing_flag);
    CHECK(has_warning_containing(bad_flag.warnings, "Flag is not an integer"));
    CHECK(has_warning_containing(bad_flag.warnings, "not closed"));
    CHECK(cp_value(bad_flag.packet, "a") == std::optional<std::string>("1"));

    const auto no_cp = parse_segment("CN=9014;QN=1");
    CHECK(no_cp.ok);
    CHECK(no_cp.missing_cp);

    const auto no_cn = parse_segment("QN=1;ST=32;CP=&&&&");
    CHECK_FALSE(no_cn.ok);
    CHECK_THAT(no_cn.error, Catch::Contains("no CN"));

    const auto empty = parse_segment("");
    CHECK_FALSE(empty.ok);
    CHECK(empty.error == "empty data segment");
}

TEST_CASE("hj212 format_segment writes the strict field order and round trips", "[unit][hj212]") {
    Packet p;
    p.qn = "20160801085857223";
    p.st = "32";
    p.cn = "2011";
    p.pw = "123456";
    p.mn = "010000A8900016F000169DC0";
    p.flag = make_flag(kVersion2017, true, true);
    p.pnum = 2;
    p.pno = 1;
    p.cp = {{{"DataTime", "20160801085857"}}, {{"w01018-Rtd", "166.0"}, {"w01018-Flag", "N"}}};
    const std::string seg = format_segment(p);
    CHECK(seg ==
          "QN=20160801085857223;ST=32;CN=2011;PW=123456;MN=010000A8900016F000169DC0;Flag=7;"
          "PNUM=2;PNO=1;CP=&&DataTime=20160801085857;w01018-Rtd=166.0,w01018-Flag=N&&");

    const auto frame = parse_frame(encode_frame(seg));
    REQUIRE(frame.ok);
    const auto back = parse_segment(frame.data_segment);
    REQUIRE(back.ok);
    CHECK(back.warnings.empty());
    CHECK(back.packet.qn == p.qn);
    CHECK(back.packet.flag == p.flag);
    CHECK(back.packet.pnum == p.pnum);
    CHECK(back.packet.pno == p.pno);
    CHECK(back.packet.cp == p.cp);
    CHECK(format_segment(back.packet) == seg);

    // The example segment itself survives parse -> format byte for byte.
    CHECK(format_segment(parse_segment(kExampleSegment).packet) == kExampleSegment);
}

TEST_CASE("hj212 format_segment refuses packets that would break the framing", "[unit][hj212]") {
    Packet p;
    p.st = "32";
    p.cn = "2011";
    p.flag = 4;
    CHECK(format_segment(p) == "ST=32;CN=2011;PW=;MN=;Flag=4;CP=&&&&");

    Packet no_cn = p;
    no_cn.cn.clear();
    CHECK_THROWS_WITH(format_segment(no_cn), Catch::Contains("CN is empty"));

    Packet split_without_d = p;
    split_without_d.pnum = 2;
    split_without_d.pno = 1;
    CHECK_THROWS_WITH(format_segment(split_without_d), Catch::Contains("Flag.D"));

    Packet d_without_pnum = p;
    d_without_pnum.flag = 6;
    CHECK_THROWS_WITH(format_segment(d_without_pnum), Catch::Contains("PNUM/PNO absent"));

    Packet bad_value = p;
    bad_value.cp = {{{"w01018-Rtd", "1;2"}}};
    CHECK_THROWS_WITH(format_segment(bad_value), Catch::Contains("';'"));

    Packet amp = p;
    amp.cp = {{{"k", "a&&b"}}};
    CHECK_THROWS_WITH(format_segment(amp), Catch::Contains("'&&'"));

    Packet crlf = p;
    crlf.mn = "AB\r\n";
    CHECK_THROWS_WITH(format_segment(crlf), Catch::Contains("control or non-ASCII"));

    Packet big_flag = p;
    big_flag.flag = 256;
    CHECK_THROWS_AS(format_segment(big_flag), std::invalid_argument);
}

TEST_CASE("hj212 flag helpers follow V5..V0 D A", "[unit][hj212]") {
    CHECK(make_flag(kVersion2017, false, false) == 4);
    CHECK(make_flag(kVersion2017, true, false) == 5);
    CHECK(make_flag(kVersion2017, false, true) == 6);
    CHECK(make_flag(kVersion2017, true, true) == 7);
    CHECK(make_flag(kVersion2025, false, false) == 8);
    CHECK(flag_version(8) == kVersion2025);
    CHECK(flag_version(0) == kVersion2005);
    CHECK(flag_split_packet(7));
    CHECK_FALSE(flag_reply_requested(6));
    static_assert(make_flag(kVersion2017, true, false) == 5, "constexpr");
}
