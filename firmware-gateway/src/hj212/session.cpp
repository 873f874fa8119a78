// SPDX-License-Identifier: Apache-2.0
#include "hj212/session.hpp"

#include <cstdio>
#include <ctime>
#include <stdexcept>

namespace gw::hj212 {

namespace {

constexpr std::string_view kCpClose = "&&";

/// The header of a segment up to and including "CP=&&" (format_segment checks every field).
std::string header(const Identity& identity, std::string_view st, std::string_view qn,
                   std::string_view cn, int flag, std::optional<int> pnum = std::nullopt,
                   std::optional<int> pno = std::nullopt) {
    Packet packet;
    packet.qn = std::string(qn);
    packet.st = std::string(st);
    packet.cn = std::string(cn);
    packet.pw = identity.pw;
    packet.mn = identity.mn;
    packet.flag = flag;
    packet.pnum = pnum;
    packet.pno = pno;
    std::string out = format_segment(packet);  // "...;CP=&&&&"
    out.resize(out.size() - kCpClose.size());
    return out;
}

void check_cp(std::string_view cp) {
    for (char c : cp) {
        const auto b = static_cast<unsigned char>(c);
        if (b < 0x20 || b >= 0x7F)
            throw std::invalid_argument("hj212: CP area holds a control or non-ASCII byte");
    }
    if (cp.find("&&") != std::string_view::npos)
        throw std::invalid_argument("hj212: CP area holds \"&&\"");
}

}  // namespace

std::vector<std::string> upload_segments(const Identity& identity, std::string_view qn,
                                         std::string_view cn, std::string_view cp,
                                         bool reply_requested) {
    check_cp(cp);
    const int flag = make_flag(identity.version, reply_requested, false);
    std::string whole = header(identity, identity.st, qn, cn, flag);
    whole.append(cp).append(kCpClose);
    if (whole.size() <= kStandardMaxSegmentBytes) return {whole};

    // Split: every packet repeats the first item (DataTime) and takes whole items after it.
    std::vector<std::string_view> items;
    for (std::size_t start = 0; start <= cp.size();) {
        const auto pos = cp.find(';', start);
        const auto stop = pos == std::string_view::npos ? cp.size() : pos;
        items.push_back(cp.substr(start, stop - start));
        if (pos == std::string_view::npos) break;
        start = pos + 1;
    }
    const std::string_view first = items.front();
    const int split_flag = make_flag(identity.version, reply_requested, true);
    // The header with the widest PNUM/PNO the packet count can reach (9999 packets).
    const std::size_t room = kStandardMaxSegmentBytes -
                             header(identity, identity.st, qn, cn, split_flag, 9999, 9999).size() -
                             kCpClose.size();
    std::vector<std::string> bodies;
    std::string body(first);
    if (body.size() >= room) throw std::invalid_argument("hj212: CP first item too long to split");
    for (std::size_t i = 1; i < items.size(); ++i) {
        if (first.size() + 1 + items[i].size() > room)
            throw std::invalid_argument("hj212: CP item too long for one packet");
        if (body.size() + 1 + items[i].size() > room) {
            bodies.push_back(std::move(body));
            body = std::string(first);
        }
        body.append(";").append(items[i]);
    }
    bodies.push_back(std::move(body));
    std::vector<std::string> out;
    const int count = static_cast<int>(bodies.size());
    for (int i = 0; i < count; ++i) {
        std::string segment = header(identity, identity.st, qn, cn, split_flag, count, i + 1);
        segment.append(bodies[static_cast<std::size_t>(i)]).append(kCpClose);
        out.push_back(std::move(segment));
    }
    return out;
}

std::string reply_segment(const Identity& identity, std::string_view st, std::string_view qn,
                          std::string_view cn, std::string_view cp) {
    check_cp(cp);
    std::string out = header(identity, st, qn, cn, make_flag(identity.version, false, false));
    out.append(cp).append(kCpClose);
    return out;
}

std::string make_qn(std::int64_t unix_ms, std::int32_t utc_offset_min) {
    const std::int64_t local_ms = unix_ms + std::int64_t{utc_offset_min} * 60'000;
    std::int64_t seconds = local_ms / 1000;
    std::int64_t millis = local_ms % 1000;
    if (millis < 0) {
        millis += 1000;
        --seconds;
    }
    const auto t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];  // room for any int the compiler cannot rule out
    std::snprintf(buf, sizeof buf, "%04d%02d%02d%02d%02d%02d%03d", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(millis));
    return buf;
}

}  // namespace gw::hj212
