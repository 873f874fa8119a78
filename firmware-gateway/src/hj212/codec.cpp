// SPDX-License-Identifier: Apache-2.0
#include "hj212/codec.hpp"

#include <charconv>
#include <stdexcept>

namespace gw::hj212 {

namespace {

constexpr std::string_view kHeader = "##";
constexpr std::string_view kCrlf = "\r\n";
constexpr std::string_view kCpOpen = "CP=&&";
constexpr std::string_view kCpClose = "&&";
constexpr std::size_t kLengthDigits = 4;
constexpr std::size_t kCrcDigits = 4;

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

std::string hex4(std::uint16_t v) {
    static constexpr char kDigits[] = "0123456789ABCDEF";
    std::string out(4, '0');
    for (int i = 3; i >= 0; --i) {
        out[static_cast<std::size_t>(i)] = kDigits[v & 0x0F];
        v = static_cast<std::uint16_t>(v >> 4);
    }
    return out;
}

// Printable for error messages: control and non-ASCII bytes as \xNN, capped in length.
std::string quoted(std::string_view s, std::size_t max_chars = 16) {
    std::string out = "'";
    for (std::size_t i = 0; i < s.size() && i < max_chars; ++i) {
        const auto b = static_cast<unsigned char>(s[i]);
        if (b >= 0x20 && b < 0x7F) {
            out += static_cast<char>(b);
        } else {
            static constexpr char kDigits[] = "0123456789ABCDEF";
            out += "\\x";
            out += kDigits[b >> 4];
            out += kDigits[b & 0x0F];
        }
    }
    if (s.size() > max_chars) out += "...";
    return out + "'";
}

std::optional<int> parse_int(std::string_view s) {
    if (s.empty()) return std::nullopt;
    int v = 0;
    const auto* end = s.data() + s.size();
    const auto [ptr, ec] = std::from_chars(s.data(), end, v);
    if (ec != std::errc() || ptr != end) return std::nullopt;
    return v;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    while (start <= s.size()) {
        const auto pos = s.find(sep, start);
        const auto stop = pos == std::string_view::npos ? s.size() : pos;
        out.push_back(s.substr(start, stop - start));
        if (pos == std::string_view::npos) break;
        start = pos + 1;
    }
    return out;
}

Field split_field(std::string_view item) {
    const auto eq = item.find('=');
    if (eq == std::string_view::npos) return {std::string(item), std::string()};
    return {std::string(item.substr(0, eq)), std::string(item.substr(eq + 1))};
}

// Anything that could break the `##`/CRLF framing or the `;`/`,`/`&&` structure.
void check_token(std::string_view what, std::string_view s, bool is_key) {
    for (const char c : s) {
        const auto b = static_cast<unsigned char>(c);
        if (b < 0x20 || b >= 0x7F)
            throw std::invalid_argument("hj212: " + std::string(what) +
                                        " holds a control or non-ASCII byte: " + quoted(s));
        if (c == ';' || c == ',' || (is_key && c == '='))
            throw std::invalid_argument("hj212: " + std::string(what) + " holds '" +
                                        std::string(1, c) + "': " + quoted(s));
    }
    if (s.find("&&") != std::string_view::npos)
        throw std::invalid_argument("hj212: " + std::string(what) + " holds '&&': " + quoted(s));
    if (is_key && s.empty()) throw std::invalid_argument("hj212: empty " + std::string(what));
}

}  // namespace

std::uint16_t crc16(std::string_view data) {
    std::uint16_t reg = 0xFFFF;
    for (const char c : data) {
        // Appendix A XORs the byte into the *high* byte and drops the low one; that is what
        // distinguishes it from CRC-16/MODBUS (reg ^= byte).
        reg = static_cast<std::uint16_t>((reg >> 8) ^ static_cast<unsigned char>(c));
        for (int bit = 0; bit < 8; ++bit) {
            const bool lsb = (reg & 1U) != 0;
            reg = static_cast<std::uint16_t>(reg >> 1);
            if (lsb) reg = static_cast<std::uint16_t>(reg ^ 0xA001U);
        }
    }
    return reg;
}

std::string encode_frame(std::string_view data_segment) {
    if (data_segment.size() > kMaxSegmentBytes)
        throw std::invalid_argument("hj212: data segment is " +
                                    std::to_string(data_segment.size()) +
                                    " bytes; the 4-digit length field allows at most 9999");
    for (std::size_t i = 0; i < data_segment.size(); ++i) {
        const auto b = static_cast<unsigned char>(data_segment[i]);
        if (b == '\r' || b == '\n')
            throw std::invalid_argument("hj212: data segment holds CR/LF at byte " +
                                        std::to_string(i));
        if (b >= 0x80)
            throw std::invalid_argument("hj212: data segment holds a non-ASCII byte at byte " +
                                        std::to_string(i));
    }
    std::string length = std::to_string(data_segment.size());
    length.insert(0, kLengthDigits - length.size(), '0');

    std::string out;
    out.reserve(kHeader.size() + kLengthDigits + data_segment.size() + kCrcDigits + kCrlf.size());
    out.append(kHeader).append(length).append(data_segment);
    out.append(hex4(crc16(data_segment))).append(kCrlf);
    return out;
}

FrameParse parse_frame(std::string_view bytes) {
    FrameParse r;
    const auto fail = [&r](std::string message) {
        r.ok = false;
        r.error = std::move(message);
        return r;
    };

    const auto start = bytes.find(kHeader);
    if (start == std::string_view::npos)
        return fail(bytes.empty() ? "empty input" : "no '##' header in " + quoted(bytes));
    if (start > 0) {
        r.skipped_bytes = start;
        r.warnings.push_back("skipped " + std::to_string(start) + " byte(s) before '##'");
    }

    const auto after_header = bytes.substr(start + kHeader.size());
    if (after_header.size() < kLengthDigits)
        return fail("truncated: length field needs 4 digits, got " + quoted(after_header));
    const auto length_text = after_header.substr(0, kLengthDigits);
    for (const char c : length_text)
        if (!is_digit(c))
            return fail("length field " + quoted(length_text) + " is not 4 decimal digits");
    std::size_t declared = 0;
    for (const char c : length_text) declared = declared * 10 + static_cast<std::size_t>(c - '0');
    r.declared_length = declared;

    // Body = segment + CRC, delimited by the first CRLF (the segment may not hold one); without
    // a CRLF, fall back to the declared length.
    const auto rest = after_header.substr(kLengthDigits);
    const std::size_t body_offset = start + kHeader.size() + kLengthDigits;
    std::string_view body;
    const auto crlf = rest.find(kCrlf);
    if (crlf != std::string_view::npos) {
        body = rest.substr(0, crlf);
        r.consumed_bytes = body_offset + crlf + kCrlf.size();
    } else {
        r.missing_crlf = true;
        if (rest.size() < declared + kCrcDigits)
            return fail("truncated: length field says " + std::to_string(declared) +
                        " segment bytes + 4 CRC, only " + std::to_string(rest.size()) +
                        " byte(s) follow and no CRLF");
        body = rest.substr(0, declared + kCrcDigits);
        r.consumed_bytes = body_offset + body.size();
        r.warnings.push_back("missing CRLF after the CRC");
    }
    if (r.consumed_bytes < bytes.size()) {
        r.trailing_bytes = true;
        r.warnings.push_back(std::to_string(bytes.size() - r.consumed_bytes) +
                             " byte(s) after the frame");
    }

    if (body.size() < kCrcDigits)
        return fail("truncated: " + std::to_string(body.size()) +
                    " byte(s) between length field and CRLF, no room for the 4-digit CRC");
    const auto segment = body.substr(0, body.size() - kCrcDigits);
    const auto crc_text = body.substr(body.size() - kCrcDigits);
    r.data_segment = std::string(segment);

    if (segment.size() != declared) {
        r.length_mismatch = true;
        r.warnings.push_back("length field says " + std::to_string(declared) +
                             ", data segment is " + std::to_string(segment.size()) + " bytes");
    }
    if (segment.size() > kStandardMaxSegmentBytes) {
        r.oversize = true;
        r.warnings.push_back("data segment is " + std::to_string(segment.size()) +
                             " bytes, over the standard's 1024");
    }

    unsigned received = 0;
    for (const char c : crc_text) {
        const int v = hex_value(c);
        if (v < 0) return fail("CRC field " + quoted(crc_text) + " is not 4 hex digits");
        if (c >= 'a' && c <= 'f') r.crc_lower_case = true;
        received = (received << 4) | static_cast<unsigned>(v);
    }
    if (r.crc_lower_case) r.warnings.push_back("lower-case CRC " + quoted(crc_text));
    r.crc_received = static_cast<std::uint16_t>(received);
    r.crc_expected = crc16(segment);
    if (*r.crc_received != r.crc_expected) {
        r.crc_mismatch = true;
        return fail("CRC mismatch: expected " + hex4(r.crc_expected) + ", received " +
                    std::string(crc_text));
    }
    r.ok = true;
    return r;
}

std::optional<std::string> cp_value(const Packet& packet, std::string_view key) {
    for (const auto& item : packet.cp)
        for (const auto& [k, v] : item)
            if (k == key) return v;
    return std::nullopt;
}

SegmentParse parse_segment(std::string_view segment) {
    SegmentParse r;
    if (segment.empty()) {
        r.error = "empty data segment";
        return r;
    }

    // CP first: its data area may hold ';' and must not be split with the header fields.
    std::string_view header = segment;
    const auto cp_pos = segment.find(kCpOpen);
    if (cp_pos == std::string_view::npos) {
        r.missing_cp = true;
        r.warnings.push_back("no CP=&&...&& data area");
    } else {
        header = segment.substr(0, cp_pos);
        auto area = segment.substr(cp_pos + kCpOpen.size());
        const auto close = area.rfind(kCpClose);
        if (close == std::string_view::npos) {
            r.warnings.push_back("CP data area not closed by '&&'");
        } else {
            if (close + kCpClose.size() != area.size())
                r.warnings.push_back("bytes after the CP data area: " +
                                     quoted(area.substr(close + kCpClose.size())));
            area = area.substr(0, close);
        }
        for (const auto item_text : split(area, ';')) {
            if (item_text.empty()) continue;
            CpItem item;
            for (const auto pair_text : split(item_text, ',')) {
                if (pair_text.empty()) continue;
                if (pair_text.find('=') == std::string_view::npos)
                    r.warnings.push_back("CP entry without '=': " + quoted(pair_text));
                item.push_back(split_field(pair_text));
            }
            if (!item.empty()) r.packet.cp.push_back(std::move(item));
        }
    }

    Packet& p = r.packet;
    bool has_cn = false;
    const auto set_int = [&r](std::optional<int>& slot, const Field& f, int lo, int hi) {
        const auto v = parse_int(f.second);
        if (!v || *v < lo || *v > hi) {
            r.warnings.push_back(f.first + " is not an integer in " + std::to_string(lo) + ".." +
                                 std::to_string(hi) + ": " + quoted(f.second));
            return;
        }
        slot = v;
    };
    for (const auto text : split(header, ';')) {
        if (text.empty()) continue;
        Field f = split_field(text);
        if (f.first == "QN") {
            p.qn = f.second;
        } else if (f.first == "ST") {
            p.st = f.second;
        } else if (f.first == "CN") {
            p.cn = f.second;
            has_cn = true;
        } else if (f.first == "PW") {
            p.pw = f.second;
        } else if (f.first == "MN") {
            p.mn = f.second;
        } else if (f.first == "Flag") {
            set_int(p.flag, f, 0, 255);
        } else if (f.first == "PNUM") {
            set_int(p.pnum, f, 0, 9999);
        } else if (f.first == "PNO") {
            set_int(p.pno, f, 0, 9999);
        } else {
            p.extra.push_back(std::move(f));
        }
    }
    if (p.qn.empty()) {
        r.missing_qn = true;
        r.warnings.push_back("no QN");
    }
    if (!p.flag) {
        r.missing_flag = true;
        r.warnings.push_back("no (valid) Flag");
    }
    if (!has_cn || p.cn.empty()) {
        r.error = "no CN (command code) in data segment " + quoted(segment, 40);
        return r;
    }
    r.ok = true;
    return r;
}

std::string format_segment(const Packet& packet) {
    if (packet.st.empty()) throw std::invalid_argument("hj212: ST is empty");
    if (packet.cn.empty()) throw std::invalid_argument("hj212: CN is empty");
    if (packet.flag && (*packet.flag < 0 || *packet.flag > 255))
        throw std::invalid_argument("hj212: Flag " + std::to_string(*packet.flag) +
                                    " outside 0..255");
    if (packet.pnum.has_value() != packet.pno.has_value())
        throw std::invalid_argument("hj212: PNUM and PNO must both be present or both absent");
    if (packet.pnum && !(packet.flag && flag_split_packet(*packet.flag)))
        throw std::invalid_argument("hj212: PNUM/PNO present but Flag.D (split packet) is clear");
    if (packet.flag && flag_split_packet(*packet.flag) && !packet.pnum)
        throw std::invalid_argument("hj212: Flag.D (split packet) set but PNUM/PNO absent");

    std::string out;
    const auto add = [&out](std::string_view key, std::string_view value) {
        check_token(key, value, false);
        out.append(key).append("=").append(value).append(";");
    };
    if (!packet.qn.empty()) add("QN", packet.qn);
    add("ST", packet.st);
    add("CN", packet.cn);
    add("PW", packet.pw);
    add("MN", packet.mn);
    if (packet.flag) add("Flag", std::to_string(*packet.flag));
    if (packet.pnum) {
        add("PNUM", std::to_string(*packet.pnum));
        add("PNO", std::to_string(*packet.pno));
    }
    for (const auto& [k, v] : packet.extra) {
        check_token("header field name", k, true);
        if (k == "CP") throw std::invalid_argument("hj212: extra field named CP");
        add(k, v);
    }
    out.append(kCpOpen);
    bool first_item = true;
    for (const auto& item : packet.cp) {
        if (item.empty()) continue;
        if (!first_item) out += ';';
        first_item = false;
        bool first_pair = true;
        for (const auto& [k, v] : item) {
            check_token("CP key", k, true);
            check_token("CP value of " + k, v, false);
            if (!first_pair) out += ',';
            first_pair = false;
            out.append(k).append("=").append(v);
        }
    }
    out.append(kCpClose);
    return out;
}

bool is_data_flag(std::string_view value) {
    return value.size() == 1 &&
           std::string_view("NFMSDCTB").find(value[0]) != std::string_view::npos;
}

}  // namespace gw::hj212
