// SPDX-License-Identifier: Apache-2.0
// Modbus TCP framing (sans-I/O) and the client's transaction-id matching, against a scripted
// server on 127.0.0.1.
#include "drivers/modbus_tcp_client.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <thread>

using namespace gw::modbus;
using Bytes = std::vector<std::uint8_t>;

TEST_CASE("Modbus TCP requests are framed as the spec's examples", "[unit][modbus][tcp]") {
    // Read holding registers 107..109 of unit 17 (Modbus Application Protocol 6.3 example),
    // transaction 1: MBAP 0001 0000 0006 11, PDU 03 006B 0003.
    CHECK(encode_read_request(1, 0x11, RegisterTable::Holding, 0x006B, 3) ==
          Bytes{0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x11, 0x03, 0x00, 0x6B, 0x00, 0x03});
    CHECK(encode_read_request(0x1234, 1, RegisterTable::Input, 8, 1)[7] == 0x04);
    CHECK(encode_write_single(2, 1, 1, 15) ==
          Bytes{0x00, 0x02, 0x00, 0x00, 0x00, 0x06, 0x01, 0x06, 0x00, 0x01, 0x00, 0x0F});
    CHECK(encode_write_multiple(3, 1, 1, {15}) == Bytes{0x00, 0x03, 0x00, 0x00, 0x00, 0x09, 0x01,
                                                        0x10, 0x00, 0x01, 0x00, 0x01, 0x02, 0x00,
                                                        0x0F});
}

TEST_CASE("Modbus TCP answers are parsed whole, in pieces, and rejected when not Modbus",
          "[unit][modbus][tcp]") {
    const Bytes answer{0x00, 0x01, 0x00, 0x00, 0x00, 0x09, 0x11, 0x03,
                       0x06, 0x02, 0x2B, 0x00, 0x00, 0x00, 0x64};
    std::size_t used = 0;
    bool malformed = false;
    for (std::size_t cut = 0; cut < answer.size(); ++cut) {
        INFO("first " << cut << " bytes");
        CHECK_FALSE(parse_tcp_frame(answer.data(), cut, used, malformed));
        CHECK_FALSE(malformed);
    }
    auto frame = parse_tcp_frame(answer.data(), answer.size(), used, malformed);
    REQUIRE(frame);
    CHECK(used == answer.size());
    CHECK(frame->transaction == 1);
    CHECK(frame->unit == 0x11);
    CHECK(frame->function == 0x03);
    CHECK(frame->data == Bytes{0x06, 0x02, 0x2B, 0x00, 0x00, 0x00, 0x64});

    const Bytes not_modbus{0x00, 0x01, 0x00, 0x07, 0x00, 0x03, 0x01, 0x03, 0x00};  // protocol 7
    CHECK_FALSE(parse_tcp_frame(not_modbus.data(), not_modbus.size(), used, malformed));
    CHECK(malformed);
    const Bytes too_long{0x00, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x03};  // length 256
    CHECK_FALSE(parse_tcp_frame(too_long.data(), too_long.size(), used, malformed));
    CHECK(malformed);
}

namespace {
/// A one-connection server on 127.0.0.1 that answers each request with `script(request)`.
struct ScriptedServer {
    int listen_fd{-1};
    std::uint16_t port{0};
    std::thread thread;

    explicit ScriptedServer(std::function<Bytes(const Bytes&)> script) {
        listen_fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(bind(listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        socklen_t len = sizeof addr;
        getsockname(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len);
        port = ntohs(addr.sin_port);
        listen(listen_fd, 1);
        thread = std::thread([this, script] {
            const int fd = accept(listen_fd, nullptr, nullptr);
            std::uint8_t buf[260];
            ssize_t n = 0;
            while ((n = recv(fd, buf, sizeof buf, 0)) > 0) {
                const Bytes reply = script(Bytes(buf, buf + n));
                if (!reply.empty()) send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
            }
            close(fd);
        });
    }
    ~ScriptedServer() {
        shutdown(listen_fd, SHUT_RDWR);
        close(listen_fd);
        thread.join();
    }
};

Bytes read_answer(std::uint16_t transaction, std::uint16_t value) {
    return {static_cast<std::uint8_t>(transaction >> 8),
            static_cast<std::uint8_t>(transaction & 0xFF),
            0x00,
            0x00,
            0x00,
            0x05,
            0x01,
            0x03,
            0x02,
            static_cast<std::uint8_t>(value >> 8),
            static_cast<std::uint8_t>(value & 0xFF)};
}
}  // namespace

TEST_CASE("a late answer to an earlier request is dropped, not taken for the current one",
          "[unit][modbus][tcp]") {
    int requests = 0;
    ScriptedServer server([&](const Bytes& request) {
        const auto transaction = static_cast<std::uint16_t>((request[0] << 8) | request[1]);
        ++requests;
        if (requests == 1) return Bytes{};  // first request: no answer (times out)
        // Second request: first the stale answer to request 1, then the right one.
        Bytes both = read_answer(static_cast<std::uint16_t>(transaction - 1), 111);
        const Bytes current = read_answer(transaction, 222);
        both.insert(both.end(), current.begin(), current.end());
        return both;
    });
    ModbusTcpClient client("127.0.0.1", server.port);
    std::string error;
    REQUIRE(client.connect(std::chrono::milliseconds(500), error));
    std::uint16_t word = 0;
    auto first = client.read_registers(1, RegisterTable::Holding, 0, 1, &word,
                                       std::chrono::milliseconds(100));
    CHECK(first.status == ModbusTcpClient::Status::Timeout);
    auto second = client.read_registers(1, RegisterTable::Holding, 0, 1, &word,
                                        std::chrono::milliseconds(1000));
    REQUIRE(second.status == ModbusTcpClient::Status::Ok);
    CHECK(word == 222);
    CHECK(client.stale_frames() == 1);
    client.close();
}

TEST_CASE("exception answers carry their code", "[unit][modbus][tcp]") {
    ScriptedServer server([](const Bytes& request) {
        return Bytes{request[0], request[1], 0x00, 0x00, 0x00, 0x03, request[6], 0x83, 0x0B};
    });
    ModbusTcpClient client("127.0.0.1", server.port);
    std::string error;
    REQUIRE(client.connect(std::chrono::milliseconds(500), error));
    std::uint16_t word = 0;
    auto r = client.read_registers(9, RegisterTable::Holding, 0, 1, &word,
                                   std::chrono::milliseconds(1000));
    CHECK(r.status == ModbusTcpClient::Status::Exception);
    CHECK(r.exception_code == 0x0B);
    CHECK(client.connected());  // an exception is an answer: the connection stays
    client.close();
}

TEST_CASE("a refused connection is an error naming the endpoint", "[unit][modbus][tcp]") {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    const auto port = ntohs(addr.sin_port);
    close(fd);  // nobody listens there now
    ModbusTcpClient client("127.0.0.1", port);
    std::string error;
    CHECK_FALSE(client.connect(std::chrono::milliseconds(500), error));
    CHECK_THAT(error, Catch::Contains("127.0.0.1:" + std::to_string(port)));
    CHECK_THAT(error, Catch::Contains("refused"));
}
