// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for the HJ 212 codec parsers (firmware-gateway/src/hj212/codec.hpp). The
// parsers promise never to throw and never to read past their input; on top of what ASan/UBSan
// catch, this checks the codec's own invariants and traps when one breaks:
//   - parse_frame: ok == error.empty(); consumed_bytes <= input size; when ok,
//     skipped_bytes <= consumed_bytes, crc16(data_segment) == crc_expected == crc_received,
//     the flags agree with the data (length_mismatch, oversize, trailing_bytes, crc_lower_case);
//   - a frame that parses ok re-encodes (encode_frame, unless it refuses with
//     std::invalid_argument) to a frame that parses back to the same segment, no crc_mismatch;
//   - parse_segment: ok == error.empty(); when ok, format_segment (unless it refuses) gives a
//     segment that parses ok again and formats to the identical text (idempotent round trip);
//   - parsing a stream frame by frame (advancing by consumed_bytes) always makes progress.
// Only std::invalid_argument from the strict generators is expected; anything else escaping is
// a bug and reaches libFuzzer as an uncaught exception (abort).
// Run: see docs/testing.md "Fuzzing".
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>

#include "hj212/codec.hpp"

namespace {

using namespace gw::hj212;

[[noreturn]] void invariant_failed(const char* what, int line) {
    std::fprintf(stderr, "hj212_parse_fuzz: invariant broken (line %d): %s\n", line, what);
    std::fflush(stderr);
    __builtin_trap();
}

#define FUZZ_CHECK(cond)                                \
    do {                                                \
        if (!(cond)) invariant_failed(#cond, __LINE__); \
    } while (false)

bool is_hex_lower(char c) {
    return c >= 'a' && c <= 'f';
}

void check_segment(std::string_view segment) {
    const SegmentParse s = parse_segment(segment);
    FUZZ_CHECK(s.ok == s.error.empty());
    if (segment.empty()) FUZZ_CHECK(!s.ok);
    if (!s.ok) return;
    FUZZ_CHECK(!s.packet.cn.empty());
    FUZZ_CHECK(s.missing_qn == s.packet.qn.empty());
    FUZZ_CHECK(s.missing_flag == !s.packet.flag.has_value());
    if (s.packet.flag) FUZZ_CHECK(*s.packet.flag >= 0 && *s.packet.flag <= 255);
    for (const auto& item : s.packet.cp) FUZZ_CHECK(!item.empty());

    std::string formatted;
    try {
        formatted = format_segment(s.packet);
    } catch (const std::invalid_argument&) {
        return;  // the strict generator refuses what the tolerant parser accepted: fine
    }
    const SegmentParse again = parse_segment(formatted);
    FUZZ_CHECK(again.ok);
    FUZZ_CHECK(!again.missing_cp);
    // format_segment drops nothing it accepted, so the packet comes back field for field.
    FUZZ_CHECK(again.packet.qn == s.packet.qn && again.packet.st == s.packet.st);
    FUZZ_CHECK(again.packet.cn == s.packet.cn && again.packet.pw == s.packet.pw);
    FUZZ_CHECK(again.packet.mn == s.packet.mn && again.packet.flag == s.packet.flag);
    FUZZ_CHECK(again.packet.pnum == s.packet.pnum && again.packet.pno == s.packet.pno);
    FUZZ_CHECK(again.packet.extra == s.packet.extra);
    FUZZ_CHECK(again.packet.cp == s.packet.cp);
    // format_segment on the re-parsed packet must not throw: it came from a valid format.
    const std::string formatted_again = format_segment(again.packet);
    FUZZ_CHECK(formatted_again == formatted);

    // A formatted segment is framable unless it is too long or not ASCII (format_segment
    // refuses control and non-ASCII bytes, so only the length can stop encode_frame).
    if (formatted.size() <= kMaxSegmentBytes) {
        const FrameParse f = parse_frame(encode_frame(formatted));
        FUZZ_CHECK(f.ok && !f.crc_mismatch && f.data_segment == formatted);
    }
}

// One frame at the start of `bytes`; returns consumed_bytes (0 when nothing usable was found).
std::size_t check_frame(std::string_view bytes) {
    const FrameParse r = parse_frame(bytes);
    FUZZ_CHECK(r.ok == r.error.empty());
    FUZZ_CHECK(r.consumed_bytes <= bytes.size());
    FUZZ_CHECK(r.skipped_bytes <= bytes.size());
    if (r.crc_mismatch) FUZZ_CHECK(!r.ok);
    if (!r.ok) return 0;

    FUZZ_CHECK(r.skipped_bytes <= r.consumed_bytes);
    FUZZ_CHECK(r.consumed_bytes > 0);
    FUZZ_CHECK(bytes.substr(r.skipped_bytes, 2) == "##");
    FUZZ_CHECK(r.declared_length.has_value());
    FUZZ_CHECK(r.crc_received.has_value() && *r.crc_received == r.crc_expected);
    FUZZ_CHECK(crc16(r.data_segment) == r.crc_expected);
    FUZZ_CHECK(r.length_mismatch == (*r.declared_length != r.data_segment.size()));
    FUZZ_CHECK(r.oversize == (r.data_segment.size() > kStandardMaxSegmentBytes));
    FUZZ_CHECK(r.trailing_bytes == (r.consumed_bytes < bytes.size()));
    // The segment is the input right after `##LLLL`, followed by the 4 CRC digits.
    const std::size_t seg_at = r.skipped_bytes + 6;
    FUZZ_CHECK(seg_at + r.data_segment.size() + 4 <= r.consumed_bytes);
    FUZZ_CHECK(bytes.substr(seg_at, r.data_segment.size()) == r.data_segment);
    const auto crc_text = bytes.substr(seg_at + r.data_segment.size(), 4);
    bool lower = false;
    for (const char c : crc_text) lower = lower || is_hex_lower(c);
    FUZZ_CHECK(r.crc_lower_case == lower);
    if (!r.missing_crlf) FUZZ_CHECK(bytes.substr(r.consumed_bytes - 2, 2) == "\r\n");

    std::string reencoded;
    try {
        reencoded = encode_frame(r.data_segment);
    } catch (const std::invalid_argument&) {
        reencoded.clear();
    }
    if (!reencoded.empty()) {
        const FrameParse back = parse_frame(reencoded);
        FUZZ_CHECK(back.ok && !back.crc_mismatch);
        FUZZ_CHECK(back.data_segment == r.data_segment);
        FUZZ_CHECK(back.warnings.empty() == !back.oversize);
        FUZZ_CHECK(back.consumed_bytes == reencoded.size());
    }

    check_segment(r.data_segment);
    return r.consumed_bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);

    // A receive buffer holding several frames: each ok parse must make progress.
    std::string_view rest = bytes;
    for (int frames = 0; !rest.empty() && frames < 64; ++frames) {
        const std::size_t consumed = check_frame(rest);
        if (consumed == 0) break;
        FUZZ_CHECK(consumed <= rest.size());
        rest.remove_prefix(consumed);
    }

    // The raw bytes as a data segment too (the parsers are used on segments from other paths).
    check_segment(bytes);
    return 0;
}
