// SPDX-License-Identifier: Apache-2.0
// HJ 212-2017 uplink codec (DOMAIN.md §1 of the domain notes): the `##LLLL…CCCC\r\n` frame, the
// `;`-separated data segment and its `CP=&&…&&` data area. Pure: no I/O, no clocks. The parsers
// are tolerant (real devices deviate, DOMAIN.md §1.3) and never throw; the generators are strict
// and throw std::invalid_argument so a malformed uplink never leaves the gateway.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gw::hj212 {

/// The 4-digit length field's ceiling; encode_frame refuses anything larger.
inline constexpr std::size_t kMaxSegmentBytes = 9999;
/// The standard's own limit (Table 2). Real devices exceed it, so the parser only flags it.
inline constexpr std::size_t kStandardMaxSegmentBytes = 1024;

/// Appendix A "CRC16": reg = (reg >> 8) ^ byte, then 8 shifts with 0xA001. NOT CRC-16/MODBUS:
/// crc16("123456789") == 0x2F80. Covers the data segment only.
std::uint16_t crc16(std::string_view data);

/// `##` + 4-digit length + segment + 4 upper-case hex CRC + CRLF. Throws std::invalid_argument
/// when the segment is longer than 9999 bytes or holds non-ASCII, CR or LF.
std::string encode_frame(std::string_view data_segment);

/// What parse_frame found. `ok` means the segment can be used; the flags below are diagnostics
/// that do not by themselves make the frame unusable (except crc_mismatch).
struct FrameParse {
    bool ok = false;
    std::string error;  ///< empty when ok; otherwise names the culprit
    std::string data_segment;
    std::vector<std::string> warnings;  ///< one human-readable line per flag set below

    std::size_t skipped_bytes = 0;   ///< garbage before `##`
    std::size_t consumed_bytes = 0;  ///< from the start of input to the end of this frame
    std::optional<std::size_t> declared_length;
    bool length_mismatch = false;  ///< declared length != segment bytes (UTF-8 char counting?)
    bool oversize = false;         ///< segment > 1024 bytes, the standard's limit
    bool crc_mismatch = false;
    std::uint16_t crc_expected = 0;  ///< computed over data_segment
    std::optional<std::uint16_t> crc_received;
    bool crc_lower_case = false;  ///< accepted; the standard writes upper case
    bool missing_crlf = false;    ///< frame delimited by the declared length instead
    bool trailing_bytes = false;  ///< bytes after the frame (another frame, or noise)
};

/// Tolerant frame parser. Never throws and never reads past `bytes`; fuzz-safe.
FrameParse parse_frame(std::string_view bytes);

using Field = std::pair<std::string, std::string>;
/// One `;`-separated CP item: its `,`-separated key=value pairs, e.g.
/// `w01018-Rtd=166.0,w01018-Flag=N` -> {{"w01018-Rtd","166.0"},{"w01018-Flag","N"}}.
/// Kept grouped so format_segment reproduces the original `;`/`,` layout.
using CpItem = std::vector<Field>;

/// The data segment (Table 3). Empty strings / nullopt mean "absent".
struct Packet {
    std::string qn;  ///< request id, YYYYMMDDhhmmsszzz
    std::string st;  ///< system code, e.g. "32"
    std::string cn;  ///< command code, e.g. "2011"
    std::string pw;  ///< access password
    std::string mn;  ///< device id
    std::optional<int> flag;
    std::optional<int> pnum;   ///< total packets; only with Flag.D
    std::optional<int> pno;    ///< packet number; only with Flag.D
    std::vector<Field> extra;  ///< unknown header fields, kept in order
    std::vector<CpItem> cp;
};

/// First CP value under `key` (case-sensitive, §6.3.3), e.g. cp_value(p, "w01018-Rtd").
std::optional<std::string> cp_value(const Packet& packet, std::string_view key);

struct SegmentParse {
    bool ok = false;
    std::string error;  ///< empty when ok
    Packet packet;
    std::vector<std::string> warnings;
    bool missing_qn = false;    ///< 2005-era devices send none
    bool missing_flag = false;  ///< likewise
    bool missing_cp = false;
};

/// Tolerant: any header field order, QN/Flag may be missing, unknown fields kept in `extra`.
/// Unusable (ok == false) only when the segment is empty or has no CN. Never throws.
SegmentParse parse_segment(std::string_view segment);

/// Strict: QN;ST;CN;PW;MN;Flag;[PNUM;PNO;]extra…;CP=&&…&&. QN and Flag are left out when
/// absent. Throws std::invalid_argument on a missing ST/CN, PNUM without PNO (or either without
/// Flag.D), a Flag outside 0..255, or a key/value that would break the framing.
std::string format_segment(const Packet& packet);

// --- Flag byte (§1.4): V5..V0 D A, bit 7 down to bit 0 ---------------------------------------
inline constexpr int kFlagReplyRequested = 0x01;  ///< A
inline constexpr int kFlagSplitPacket = 0x02;     ///< D: PNUM/PNO present
inline constexpr int kVersion2005 = 0;            ///< HJ/T 212-2005
inline constexpr int kVersion2017 = 1;            ///< HJ 212-2017
inline constexpr int kVersion2025 = 2;            ///< HJ 212-2025 per caoyiliang/HJ212 code [S]

constexpr int make_flag(int version, bool reply_requested, bool split_packet) {
    return ((version & 0x3F) << 2) | (split_packet ? kFlagSplitPacket : 0) |
           (reply_requested ? kFlagReplyRequested : 0);
}
constexpr int flag_version(int flag) {
    return (flag >> 2) & 0x3F;
}
constexpr bool flag_reply_requested(int flag) {
    return (flag & kFlagReplyRequested) != 0;
}
constexpr bool flag_split_packet(int flag) {
    return (flag & kFlagSplitPacket) != 0;
}

/// Data flag letters of `xxxxxx-Flag` (Table 8, §1.9): N F M S D C T B.
bool is_data_flag(std::string_view value);

}  // namespace gw::hj212
