// SPDX-License-Identifier: Apache-2.0
#include "drivers/modbus_tcp_client.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gw::modbus {

namespace {

constexpr std::size_t kHeaderBytes = 7;  // transaction, protocol, length, unit

void put_u16(std::vector<std::uint8_t>& out, std::uint16_t value) {
    out.push_back(static_cast<std::uint8_t>(value >> 8));
    out.push_back(static_cast<std::uint8_t>(value & 0xFF));
}

std::uint16_t get_u16(const std::uint8_t* p) {
    return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

/// MBAP header + function code; the length field is patched in by finish().
std::vector<std::uint8_t> start_frame(std::uint16_t transaction, std::uint8_t unit,
                                      std::uint8_t function) {
    std::vector<std::uint8_t> out;
    out.reserve(kHeaderBytes + 6);
    put_u16(out, transaction);
    put_u16(out, 0);  // protocol id: Modbus
    put_u16(out, 0);  // length, patched
    out.push_back(unit);
    out.push_back(function);
    return out;
}

std::vector<std::uint8_t> finish(std::vector<std::uint8_t> frame) {
    const auto length = static_cast<std::uint16_t>(frame.size() - 6);  // unit id onwards
    frame[4] = static_cast<std::uint8_t>(length >> 8);
    frame[5] = static_cast<std::uint8_t>(length & 0xFF);
    return frame;
}

std::chrono::steady_clock::time_point deadline_after(std::chrono::milliseconds timeout) {
    return std::chrono::steady_clock::now() + timeout;
}

int remaining_ms(std::chrono::steady_clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

}  // namespace

std::vector<std::uint8_t> encode_read_request(std::uint16_t transaction, std::uint8_t unit,
                                              RegisterTable table, std::uint16_t start,
                                              std::uint16_t count) {
    auto frame = start_frame(transaction, unit, table == RegisterTable::Holding ? 0x03 : 0x04);
    put_u16(frame, start);
    put_u16(frame, count);
    return finish(std::move(frame));
}

std::vector<std::uint8_t> encode_write_single(std::uint16_t transaction, std::uint8_t unit,
                                              std::uint16_t address, std::uint16_t value) {
    auto frame = start_frame(transaction, unit, 0x06);
    put_u16(frame, address);
    put_u16(frame, value);
    return finish(std::move(frame));
}

std::vector<std::uint8_t> encode_write_multiple(std::uint16_t transaction, std::uint8_t unit,
                                                std::uint16_t address,
                                                const std::vector<std::uint16_t>& values) {
    auto frame = start_frame(transaction, unit, 0x10);
    put_u16(frame, address);
    put_u16(frame, static_cast<std::uint16_t>(values.size()));
    frame.push_back(static_cast<std::uint8_t>(values.size() * 2));
    for (std::uint16_t v : values) put_u16(frame, v);
    return finish(std::move(frame));
}

std::optional<TcpFrame> parse_tcp_frame(const std::uint8_t* buffer, std::size_t size,
                                        std::size_t& used, bool& malformed) {
    used = 0;
    malformed = false;
    if (size < kHeaderBytes) return std::nullopt;
    const std::uint16_t protocol = get_u16(buffer + 2);
    const std::uint16_t length = get_u16(buffer + 4);  // unit id + PDU
    // A PDU is at most 253 bytes (Modbus Application Protocol §4.1), plus the unit id.
    if (protocol != 0 || length < 2 || length > 254) {
        malformed = true;
        return std::nullopt;
    }
    const std::size_t total = 6 + std::size_t{length};
    if (size < total) return std::nullopt;
    TcpFrame frame;
    frame.transaction = get_u16(buffer);
    frame.unit = buffer[6];
    frame.function = buffer[7];
    frame.data.assign(buffer + 8, buffer + total);
    used = total;
    return frame;
}

ModbusTcpClient::ModbusTcpClient(std::string host, std::uint16_t port)
    : host_(std::move(host)), port_(port) {}

ModbusTcpClient::~ModbusTcpClient() {
    close();
}

void ModbusTcpClient::close() {
    if (fd_ != -1) ::close(fd_);
    fd_ = -1;
    buffer_.clear();
}

bool ModbusTcpClient::connect(std::chrono::milliseconds timeout, std::string& error) {
    close();
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const std::string port = std::to_string(port_);
    if (const int rc = getaddrinfo(host_.c_str(), port.c_str(), &hints, &found); rc != 0) {
        error = "resolve " + host_ + ": " + gai_strerror(rc);
        return false;
    }
    std::string last_error = "no address";
    for (addrinfo* ai = found; ai != nullptr && fd_ == -1; ai = ai->ai_next) {
        const int fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd == -1) continue;
        int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc == -1 && errno == EINPROGRESS) {
            // Bounded: a host that does not answer must not hold the bus thread for minutes.
            pollfd p{fd, POLLOUT, 0};
            rc = poll(&p, 1, static_cast<int>(timeout.count()));
            int so_error = rc == 1 ? 0 : ETIMEDOUT;
            socklen_t len = sizeof so_error;
            if (rc == 1) getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
            rc = so_error == 0 ? 0 : -1;
            errno = so_error;
        }
        if (rc == -1) {
            last_error = std::strerror(errno);
            ::close(fd);
            continue;
        }
        const int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fd_ = fd;
    }
    freeaddrinfo(found);
    if (fd_ == -1) {
        error = "connect tcp:" + host_ + ":" + port + ": " + last_error;
        return false;
    }
    return true;
}

ModbusTcpClient::Result ModbusTcpClient::fail(Status status, std::string error) {
    if (status == Status::Disconnected || status == Status::Malformed) close();
    return {status, 0, std::move(error)};
}

ModbusTcpClient::Result ModbusTcpClient::transact(const std::vector<std::uint8_t>& request,
                                                  std::uint16_t transaction, std::uint8_t function,
                                                  std::chrono::milliseconds timeout,
                                                  TcpFrame& answer) {
    if (fd_ == -1) return fail(Status::Disconnected, "not connected");
    const auto deadline = deadline_after(timeout);
    std::size_t sent = 0;
    while (sent < request.size()) {
        const ssize_t n = send(fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<std::size_t>(n);
        } else if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pollfd p{fd_, POLLOUT, 0};
            if (poll(&p, 1, remaining_ms(deadline)) != 1)
                return fail(Status::Timeout, "Connection timed out (sending)");
        } else if (n == -1 && errno == EINTR) {
            continue;
        } else {
            return fail(Status::Disconnected, std::string("send: ") + std::strerror(errno));
        }
    }
    while (true) {
        std::size_t used = 0;
        bool malformed = false;
        while (auto frame = parse_tcp_frame(buffer_.data(), buffer_.size(), used, malformed)) {
            buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(used));
            if (frame->transaction != transaction) {
                ++stale_frames_;  // a late answer to an earlier request: not ours
                continue;
            }
            if ((frame->function & 0x7F) != function)
                return fail(Status::Malformed, "answer with function " +
                                                   std::to_string(frame->function) + " to " +
                                                   std::to_string(function));
            answer = std::move(*frame);
            if (answer.function & 0x80) {
                const int code = answer.data.empty() ? 0 : answer.data[0];
                return {Status::Exception, code, "Modbus exception " + std::to_string(code)};
            }
            return {};
        }
        if (malformed) return fail(Status::Malformed, "not a Modbus TCP frame");
        pollfd p{fd_, POLLIN, 0};
        const int ready = poll(&p, 1, remaining_ms(deadline));
        if (ready == 0) return {Status::Timeout, 0, "Connection timed out"};
        if (ready == -1 && errno == EINTR) continue;
        if (ready == -1) return fail(Status::Disconnected, std::strerror(errno));
        std::uint8_t chunk[1024];
        const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
        if (n == 0) return fail(Status::Disconnected, "Connection reset by peer");
        if (n == -1) {
            if (errno == EAGAIN || errno == EINTR) continue;
            return fail(Status::Disconnected, std::strerror(errno));
        }
        buffer_.insert(buffer_.end(), chunk, chunk + n);
    }
}

ModbusTcpClient::Result ModbusTcpClient::read_registers(std::uint8_t unit, RegisterTable table,
                                                        std::uint16_t start, std::uint16_t count,
                                                        std::uint16_t* out,
                                                        std::chrono::milliseconds timeout) {
    const std::uint16_t transaction = next_transaction_++;
    TcpFrame answer;
    const std::uint8_t function = table == RegisterTable::Holding ? 0x03 : 0x04;
    Result r = transact(encode_read_request(transaction, unit, table, start, count), transaction,
                        function, timeout, answer);
    if (r.status != Status::Ok) return r;
    if (answer.data.size() != 1 + 2u * count || answer.data[0] != 2 * count)
        return fail(Status::Malformed, "answer with " + std::to_string(answer.data.size()) +
                                           " bytes for " + std::to_string(count) + " registers");
    for (std::uint16_t i = 0; i < count; ++i) out[i] = get_u16(answer.data.data() + 1 + 2 * i);
    return r;
}

ModbusTcpClient::Result ModbusTcpClient::write_register(std::uint8_t unit, std::uint16_t address,
                                                        std::uint16_t value,
                                                        std::chrono::milliseconds timeout) {
    const std::uint16_t transaction = next_transaction_++;
    TcpFrame answer;
    return transact(encode_write_single(transaction, unit, address, value), transaction, 0x06,
                    timeout, answer);
}

ModbusTcpClient::Result ModbusTcpClient::write_registers(std::uint8_t unit, std::uint16_t address,
                                                         const std::vector<std::uint16_t>& values,
                                                         std::chrono::milliseconds timeout) {
    const std::uint16_t transaction = next_transaction_++;
    TcpFrame answer;
    return transact(encode_write_multiple(transaction, unit, address, values), transaction, 0x10,
                    timeout, answer);
}

}  // namespace gw::modbus
