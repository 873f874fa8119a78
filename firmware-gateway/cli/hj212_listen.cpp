// SPDX-License-Identifier: Apache-2.0
// towngw hj212 listen: a platform on a laptop (or in the demo). Accepts a gateway's HJ 212
// connection, prints each frame on one line and answers uploads that ask for it with 9014, so a
// technician can see what a gateway sends before it is pointed at the bureau.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <string>

#include "cli_common.hpp"
#include "commands.hpp"
#include "hj212/codec.hpp"
#include "hj212/session.hpp"

namespace gw::cli {

namespace {

/// Closes a descriptor on scope exit.
struct Fd {
    int fd{-1};
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

std::string utc_now() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
    return buf;
}

std::string cp_text(const hj212::Packet& packet) {
    std::string out;
    for (const auto& item : packet.cp) {
        if (!out.empty()) out += ';';
        bool first = true;
        for (const auto& [key, value] : item) {
            if (!first) out += ',';
            first = false;
            out += key + "=" + value;
        }
    }
    return out;
}

bool send_all(int fd, const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
        const ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        off += static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

Hj212ListenArgs parse_hj212_listen_args(const std::vector<std::string>& args) {
    Hj212ListenArgs out;
    ArgCursor cursor(args);
    while (!cursor.done()) {
        const std::string arg = cursor.next();
        if (arg == "--help" || arg == "-h") {
            out.help = true;
        } else if (arg == "--port" || arg == "-p") {
            out.port = static_cast<int>(
                require_integer(cursor.value(arg, "a TCP port (0: any free one)"), arg, 0, 65535));
        } else if (arg == "--bind") {
            out.bind = cursor.value(arg, "an IPv4 address, e.g. 0.0.0.0 for every interface");
            in_addr ignored{};
            if (::inet_pton(AF_INET, out.bind.c_str(), &ignored) != 1)
                throw UsageError("hj212 listen: --bind: \"" + out.bind +
                                 "\" is not an IPv4 address");
        } else if (arg == "--seconds") {
            out.seconds = static_cast<int>(
                require_integer(cursor.value(arg, "how long to listen"), arg, 1, 86400 * 365));
        } else if (arg == "--ready-file") {
            out.ready_file = cursor.value(arg, "a file to write {\"port\": N} into");
        } else if (arg == "--no-reply") {
            out.reply = false;
        } else if (arg == "--json") {
            out.json = true;
        } else {
            throw UsageError("hj212 listen: unexpected argument \"" + arg + "\"");
        }
    }
    if (!out.help && out.port < 0)
        throw UsageError("hj212 listen: --port N is required (0 picks a free port)");
    return out;
}

std::string hj212_data_reply(const hj212::Packet& packet) {
    // Uploads (data CNs 2xxx) with Flag.A get a 9014 carrying their QN (HJ 212-2017 §6.5).
    if (!packet.flag || !hj212::flag_reply_requested(*packet.flag) || packet.cn.size() != 4 ||
        packet.cn[0] != '2')
        return {};
    hj212::Identity identity;
    identity.pw = packet.pw;
    identity.mn = packet.mn;
    identity.version = hj212::flag_version(*packet.flag);
    try {
        return hj212::encode_frame(
            hj212::reply_segment(identity, hj212::kInteractionSt, packet.qn, "9014", ""));
    } catch (const std::invalid_argument&) {
        return {};  // a QN, PW or MN that cannot be echoed
    }
}

std::string hj212_listen_line(std::string_view frame_text, bool replied) {
    const hj212::FrameParse frame = hj212::parse_frame(frame_text);
    if (!frame.ok) return "INVALID  " + frame.error;
    const hj212::SegmentParse segment = hj212::parse_segment(frame.data_segment);
    if (!segment.ok) return "INVALID  " + segment.error;
    const hj212::Packet& p = segment.packet;
    std::string line = "CN " + p.cn + "  QN " + (p.qn.empty() ? "-" : p.qn) + "  " + cp_text(p);
    if (p.pnum) line += "  [packet " + std::to_string(*p.pno) + "/" + std::to_string(*p.pnum) + "]";
    if (replied) line += "  [9014 sent]";
    for (const auto& warning : frame.warnings) line += "  (" + warning + ")";
    return line;
}

int hj212_listen(const Hj212ListenArgs& args, std::ostream& out, std::ostream& err) {
    Fd listener{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (listener.fd < 0) {
        err << "towngw: hj212 listen: socket: " << std::strerror(errno) << "\n";
        return kExitRefused;
    }
    const int one = 1;
    ::setsockopt(listener.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(args.port));
    ::inet_pton(AF_INET, args.bind.c_str(), &addr.sin_addr);
    if (::bind(listener.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener.fd, 4) != 0) {
        err << "towngw: hj212 listen: cannot listen on " << args.bind << ":" << args.port << ": "
            << std::strerror(errno) << "\n";
        return kExitRefused;
    }
    socklen_t len = sizeof addr;
    ::getsockname(listener.fd, reinterpret_cast<sockaddr*>(&addr), &len);
    const int port = ntohs(addr.sin_port);
    if (!args.ready_file.empty()) std::ofstream(args.ready_file) << "{\"port\": " << port << "}\n";
    err << "towngw: listening for HJ 212 on " << args.bind << ":" << port
        << (args.reply ? " (answering 9014)" : " (no replies)") << "\n";

    install_interrupt_handler();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(args.seconds);
    Fd client;
    std::string buffer;
    while (!interrupted() && (args.seconds == 0 || std::chrono::steady_clock::now() < deadline)) {
        pollfd fds[2] = {{listener.fd, POLLIN, 0}, {client.fd, POLLIN, 0}};
        const int ready = ::poll(fds, client.fd >= 0 ? 2 : 1, 200);
        if (ready < 0 && errno != EINTR) break;
        if (ready <= 0) continue;
        if (fds[0].revents & POLLIN) {
            sockaddr_in peer{};
            socklen_t peer_len = sizeof peer;
            const int fd =
                ::accept4(listener.fd, reinterpret_cast<sockaddr*>(&peer), &peer_len, SOCK_CLOEXEC);
            if (fd >= 0) {
                if (client.fd >= 0) ::close(client.fd);  // the newest connection wins
                client.fd = fd;
                buffer.clear();
                char ip[INET_ADDRSTRLEN] = "?";
                ::inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
                err << "towngw: " << utc_now() << " gateway connected from " << ip << ":"
                    << ntohs(peer.sin_port) << "\n";
            }
        }
        if (client.fd < 0 || !(fds[1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        char chunk[4096];
        const ssize_t n = ::recv(client.fd, chunk, sizeof chunk, 0);
        if (n <= 0) {
            err << "towngw: " << utc_now() << " gateway disconnected\n";
            ::close(client.fd);
            client.fd = -1;
            continue;
        }
        buffer.append(chunk, static_cast<std::size_t>(n));
        for (std::size_t end; (end = buffer.find("\r\n")) != std::string::npos;) {
            const std::string frame = buffer.substr(0, end + 2);
            buffer.erase(0, end + 2);
            const auto parsed = hj212::parse_frame(frame);
            std::string reply;
            if (parsed.ok && args.reply) {
                const auto segment = hj212::parse_segment(parsed.data_segment);
                if (segment.ok) reply = hj212_data_reply(segment.packet);
            }
            const bool replied = !reply.empty() && send_all(client.fd, reply);
            if (args.json) {
                json j = hj212_decode_json(frame);
                j["received_at"] = utc_now();
                j["replied"] = replied;
                out << j.dump() << "\n";
            } else {
                out << utc_now() << "  " << hj212_listen_line(frame, replied) << "\n";
            }
            out.flush();
        }
        if (buffer.size() > 16384) buffer.clear();  // noise without frame ends
    }
    return kExitOk;  // Ctrl-C is how a listen normally ends
}

}  // namespace gw::cli
