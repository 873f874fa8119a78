// SPDX-License-Identifier: Apache-2.0
// towngw hj212 decode|encode|check: HJ 212 frames for technicians debugging the link to the
// environmental bureau's platform. Pure local work on the codec (src/hj212/codec.hpp); no daemon.
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "cli_common.hpp"
#include "commands.hpp"
#include "hj212/codec.hpp"

namespace gw::cli {

const char* const kHj212Usage =
    R"(usage: towngw hj212 decode [--json] [FRAME...]
       towngw hj212 encode SEGMENT
       towngw hj212 check FRAME
       towngw hj212 listen --port N [--bind ADDR] [--seconds N] [--no-reply] [--json]

HJ 212 frames (##LLLL<data segment>CRC<CR><LF>) of the link to the environmental
bureau's platform, checked and taken apart locally (towngwd is not needed).

  decode   OK or INVALID (naming the culprit), the warnings (lower-case CRC,
           missing CRLF, length mismatch, ...), the length and CRC, then QN, ST,
           CN, PW, MN, Flag (version, A = reply requested, D = split packet),
           PNUM/PNO, unknown fields and the CP items, one per line. Without
           FRAME, frames are read from stdin, one per line (CRLF or LF).
           --json  one JSON object per frame, one per line
  encode   the full frame of a data segment: ##, length, segment, CRC, CRLF
  check    a yes/no for scripts: valid means the CRC matches and the length
           field is right; prints the CRC computed and the CRC received
  listen   play the bureau's platform: accept a gateway's connection on
           ADDR:N (default 127.0.0.1; 0.0.0.0 for every interface; port 0
           picks a free one, --ready-file PATH writes it), print each frame on
           one line and answer uploads that ask for it with 9014 (unless
           --no-reply); until Ctrl-C or --seconds N

Exit codes: 0 ok / valid; 1 a frame is invalid (the reason is printed);
64 bad command line or a segment that cannot be framed (non-ASCII, CR, LF,
longer than 9999 bytes).

  e.g. towngw hj212 decode '##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&1C80'
       grep -o '##.*' uplink.log | towngw hj212 decode --json
       towngw hj212 encode 'QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&'
       towngw hj212 check "$frame" >/dev/null || echo "bad frame"
       towngw hj212 listen --bind 0.0.0.0 --port 9001
)";

namespace {

std::string hex4(std::uint16_t value) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04X", static_cast<unsigned>(value));
    return buf;
}

/// The CRC of the data segment, when parse_frame got as far as finding one.
std::optional<std::uint16_t> computed_crc(const hj212::FrameParse& frame) {
    if (frame.data_segment.empty() && !frame.crc_received) return std::nullopt;
    return hj212::crc16(frame.data_segment);
}

std::string version_name(int version) {
    switch (version) {
        case hj212::kVersion2005:
            return "HJ/T 212-2005";
        case hj212::kVersion2017:
            return "HJ 212-2017";
        case hj212::kVersion2025:
            return "HJ 212-2025";
        default:
            return "unknown version";
    }
}

std::string flag_text(int flag) {
    return std::to_string(flag) + ": version " + std::to_string(hj212::flag_version(flag)) + " (" +
           version_name(hj212::flag_version(flag)) +
           "), A=" + (hj212::flag_reply_requested(flag) ? "1 reply requested" : "0 no reply") +
           ", D=" + (hj212::flag_split_packet(flag) ? "1 split packet" : "0 single packet");
}

std::string cp_item_text(const hj212::CpItem& item) {
    std::string text;
    for (const auto& [key, value] : item) {
        if (!text.empty()) text += ',';
        text += key + '=' + value;
    }
    return text;
}

/// The frame and, when a data segment was found, the segment: what decode reports.
struct Decoded {
    hj212::FrameParse frame;
    std::optional<hj212::SegmentParse> segment;
    bool ok() const { return frame.ok && segment && segment->ok; }
    std::string error() const {
        if (!frame.error.empty()) return frame.error;
        if (segment && !segment->ok) return segment->error;
        return {};
    }
    std::vector<std::string> warnings() const {
        std::vector<std::string> all = frame.warnings;
        if (segment) all.insert(all.end(), segment->warnings.begin(), segment->warnings.end());
        return all;
    }
};

Decoded decode(std::string_view text) {
    Decoded d;
    d.frame = hj212::parse_frame(text);
    if (!d.frame.data_segment.empty()) d.segment = hj212::parse_segment(d.frame.data_segment);
    return d;
}

/// One stdin line as a frame: the line break was the CRLF (or a bare LF) that ended it.
std::string line_to_frame(std::string line) {
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
    return line + "\r\n";
}

int decode_command(const std::vector<std::string>& frames, bool as_json, std::istream& in,
                   std::ostream& out, std::ostream& err) {
    bool all_ok = true;
    std::size_t count = 0;
    const auto report = [&](std::string_view frame) {
        if (as_json) {
            const json j = hj212_decode_json(frame);
            all_ok = all_ok && j.value("ok", false);
            out << j.dump() << "\n";
        } else {
            if (count > 0) out << "\n";
            all_ok = all_ok && decode(frame).ok();
            out << hj212_decode_text(frame);
        }
        ++count;
    };
    if (!frames.empty()) {
        for (const auto& frame : frames) report(frame);
    } else {
        std::string line;
        while (std::getline(in, line)) {
            if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank line
            report(line_to_frame(line));
        }
        if (count == 0) {
            err << "towngw: hj212 decode: no frame on stdin\n";
            return kExitRefused;
        }
    }
    return all_ok ? kExitOk : kExitRefused;
}

int encode_command(const std::string& segment, std::ostream& out, std::ostream& err) {
    if (segment.empty()) throw UsageError("hj212 encode: SEGMENT is empty");
    std::string frame;
    try {
        frame = hj212::encode_frame(segment);
    } catch (const std::invalid_argument& e) {
        throw UsageError(std::string("hj212 encode: bad SEGMENT: ") + e.what());
    }
    const auto parsed = hj212::parse_segment(segment);
    if (!parsed.ok) err << "towngw: hj212 encode: warning: " << parsed.error << "\n";
    for (const auto& warning : parsed.warnings)
        err << "towngw: hj212 encode: warning: " << warning << "\n";
    out << frame;
    return kExitOk;
}

int check_command(const std::string& text, std::ostream& out, std::ostream& err) {
    const auto frame = hj212::parse_frame(text);
    const auto computed = computed_crc(frame);
    out << "CRC computed " << (computed ? hex4(*computed) : std::string("-")) << ", received "
        << (frame.crc_received ? hex4(*frame.crc_received) : std::string("-")) << "\n";
    if (frame.declared_length)
        out << "length declared " << *frame.declared_length << ", data segment "
            << frame.data_segment.size() << " bytes\n";
    std::string reason;
    if (!frame.ok)
        reason = frame.error;
    else if (frame.length_mismatch)
        reason = "length field says " + std::to_string(frame.declared_length.value_or(0)) +
                 ", data segment is " + std::to_string(frame.data_segment.size()) + " bytes";
    if (reason.empty()) {
        out << "OK\n";
        return kExitOk;
    }
    out << "INVALID: " << reason << "\n";
    err << "towngw: hj212 check: INVALID: " << reason << "\n";
    return kExitRefused;
}

}  // namespace

std::string hj212_decode_text(std::string_view frame_text) {
    const Decoded d = decode(frame_text);
    std::ostringstream out;
    out << (d.ok() ? std::string("OK") : "INVALID: " + d.error()) << "\n";
    for (const auto& warning : d.warnings()) out << "  warning: " << warning << "\n";
    const auto& f = d.frame;
    if (f.declared_length)
        out << "  length  " << f.data_segment.size() << " bytes (declared " << *f.declared_length
            << ")\n";
    const auto computed = computed_crc(f);
    if (f.crc_received || computed)
        out << "  CRC     " << (f.crc_received ? hex4(*f.crc_received) : std::string("-"))
            << " (computed " << (computed ? hex4(*computed) : std::string("-")) << ")\n";
    if (!d.segment) return out.str();
    const auto& p = d.segment->packet;
    const auto field = [&out](const char* name, const std::string& value) {
        out << "  " << name << std::string(8 - std::string_view(name).size(), ' ')
            << (value.empty() ? "(absent)" : value) << "\n";
    };
    field("QN", p.qn);
    field("ST", p.st);
    field("CN", p.cn);
    field("PW", p.pw);
    field("MN", p.mn);
    field("Flag", p.flag ? flag_text(*p.flag) : "");
    if (p.pnum || p.pno || (p.flag && hj212::flag_split_packet(*p.flag))) {
        field("PNUM", p.pnum ? std::to_string(*p.pnum) : "");
        field("PNO", p.pno ? std::to_string(*p.pno) : "");
    }
    for (const auto& [key, value] : p.extra) field("field", key + "=" + value + "  (unknown)");
    out << "  CP      " << p.cp.size() << " item(s)\n";
    for (const auto& item : p.cp) out << "          " << cp_item_text(item) << "\n";
    return out.str();
}

json hj212_decode_json(std::string_view frame_text) {
    const Decoded d = decode(frame_text);
    const auto& f = d.frame;
    json j;
    j["ok"] = d.ok();
    j["error"] = d.ok() ? json() : json(d.error());
    j["warnings"] = d.warnings();
    j["length"] = {
        {"declared", f.declared_length ? json(*f.declared_length) : json()},
        {"segment", f.data_segment.size()},
    };
    const auto computed = computed_crc(f);
    j["crc"] = {
        {"computed", computed ? json(hex4(*computed)) : json()},
        {"received", f.crc_received ? json(hex4(*f.crc_received)) : json()},
    };
    j["segment"] = f.data_segment;
    if (!d.segment) return j;
    const auto& p = d.segment->packet;
    json fields = json::object();
    const auto put = [&fields](const char* name, const std::string& value) {
        if (!value.empty()) fields[name] = value;
    };
    put("QN", p.qn);
    put("ST", p.st);
    put("CN", p.cn);
    put("PW", p.pw);
    put("MN", p.mn);
    if (p.flag) fields["Flag"] = *p.flag;
    if (p.pnum) fields["PNUM"] = *p.pnum;
    if (p.pno) fields["PNO"] = *p.pno;
    j["fields"] = fields;
    if (p.flag)
        j["flag"] = {
            {"value", *p.flag},
            {"version", hj212::flag_version(*p.flag)},
            {"version_name", version_name(hj212::flag_version(*p.flag))},
            {"reply_requested", hj212::flag_reply_requested(*p.flag)},
            {"split_packet", hj212::flag_split_packet(*p.flag)},
        };
    json extra = json::array();
    for (const auto& [key, value] : p.extra) extra.push_back({{"key", key}, {"value", value}});
    j["unknown_fields"] = extra;
    json cp = json::array();
    for (const auto& item : p.cp) {
        json entry = json::array();
        for (const auto& [key, value] : item) entry.push_back({{"key", key}, {"value", value}});
        cp.push_back(entry);
    }
    j["cp"] = cp;
    return j;
}

int run_hj212(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
              std::ostream& err) {
    if (!args.empty() && args[0] == "listen") {
        const auto listen = parse_hj212_listen_args({args.begin() + 1, args.end()});
        if (listen.help) {
            out << kHj212Usage;
            return kExitOk;
        }
        return hj212_listen(listen, out, err);
    }
    std::string action;
    std::vector<std::string> operands;
    bool as_json = false;
    bool options_done = false;
    for (const auto& arg : args) {
        if (!options_done && (arg == "--help" || arg == "-h")) {
            out << kHj212Usage;
            return kExitOk;
        }
        if (!options_done && arg == "--json") {
            as_json = true;
        } else if (!options_done && arg == "--") {
            options_done = true;
        } else if (!options_done && arg.size() > 1 && arg[0] == '-') {
            throw UsageError("hj212: unknown option \"" + arg + "\"");
        } else if (action.empty()) {
            action = arg;
        } else {
            operands.push_back(arg);
        }
    }
    if (action.empty())
        throw UsageError("hj212: an action is required: decode, encode, check or listen");
    if (action != "decode" && as_json)
        throw UsageError("hj212 " + action + ": --json is only for decode");
    if (action == "decode") return decode_command(operands, as_json, in, out, err);
    if (action == "encode") {
        if (operands.size() != 1)
            throw UsageError("hj212 encode: exactly one SEGMENT expected, got " +
                             std::to_string(operands.size()));
        return encode_command(operands[0], out, err);
    }
    if (action == "check") {
        if (operands.size() != 1)
            throw UsageError("hj212 check: exactly one FRAME expected, got " +
                             std::to_string(operands.size()));
        return check_command(operands[0], out, err);
    }
    throw UsageError("hj212: unknown action \"" + action +
                     "\" (expected decode, encode, check or listen)");
}

int cmd_hj212(const std::vector<std::string>& args) {
    return run_hj212(args, std::cin, std::cout, std::cerr);
}

}  // namespace gw::cli
