// SPDX-License-Identifier: Apache-2.0
// A small blocking Modbus TCP client for the bus thread, used instead of libmodbus for Modbus TCP
// endpoints. Why our own: libmodbus reads a TCP answer in three select()+recv() rounds, which
// made syscalls most of the gateway's CPU per poll; here one poll()+recv() usually takes the
// whole answer. And answers are matched by transaction id, so a late answer to a request that
// already timed out is recognised and dropped instead of being taken for the next one.
// The framing is sans-I/O (encode_*/parse_tcp_frame) and unit-tested on its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "drivers/register_codec.hpp"

namespace gw::modbus {

// --- framing (Modbus Messaging on TCP/IP Implementation Guide V1.0b, §3.1.3) ------------------

std::vector<std::uint8_t> encode_read_request(std::uint16_t transaction, std::uint8_t unit,
                                              RegisterTable table, std::uint16_t start,
                                              std::uint16_t count);
std::vector<std::uint8_t> encode_write_single(std::uint16_t transaction, std::uint8_t unit,
                                              std::uint16_t address, std::uint16_t value);
std::vector<std::uint8_t> encode_write_multiple(std::uint16_t transaction, std::uint8_t unit,
                                                std::uint16_t address,
                                                const std::vector<std::uint16_t>& values);

struct TcpFrame {
    std::uint16_t transaction{0};
    std::uint8_t unit{0};
    std::uint8_t function{0};        ///< with bit 7 set for an exception
    std::vector<std::uint8_t> data;  ///< the PDU after the function code
};

/// Parses the first complete frame of `buffer`. Returns the frame and the number of bytes it
/// used; nullopt with `used` 0 when more bytes are needed. A header that cannot be Modbus
/// (protocol id != 0, length 0 or > 254) sets `malformed`.
std::optional<TcpFrame> parse_tcp_frame(const std::uint8_t* buffer, std::size_t size,
                                        std::size_t& used, bool& malformed);

// --- blocking client --------------------------------------------------------------------------

class ModbusTcpClient {
public:
    enum class Status : std::uint8_t { Ok, Timeout, Exception, Disconnected, Malformed };
    struct Result {
        Status status{Status::Ok};
        int exception_code{0};
        std::string error;  ///< empty when ok
    };

    ModbusTcpClient(std::string host, std::uint16_t port);
    ~ModbusTcpClient();
    ModbusTcpClient(const ModbusTcpClient&) = delete;
    ModbusTcpClient& operator=(const ModbusTcpClient&) = delete;

    bool connect(std::chrono::milliseconds timeout, std::string& error);
    void close();
    bool connected() const { return fd_ != -1; }

    /// FC03/FC04: `out` receives `count` registers.
    Result read_registers(std::uint8_t unit, RegisterTable table, std::uint16_t start,
                          std::uint16_t count, std::uint16_t* out,
                          std::chrono::milliseconds timeout);
    /// FC06
    Result write_register(std::uint8_t unit, std::uint16_t address, std::uint16_t value,
                          std::chrono::milliseconds timeout);
    /// FC16
    Result write_registers(std::uint8_t unit, std::uint16_t address,
                           const std::vector<std::uint16_t>& values,
                           std::chrono::milliseconds timeout);

    std::uint64_t stale_frames() const { return stale_frames_; }

private:
    /// Sends `request` and waits for the answer with its transaction id.
    Result transact(const std::vector<std::uint8_t>& request, std::uint16_t transaction,
                    std::uint8_t function, std::chrono::milliseconds timeout, TcpFrame& answer);
    Result fail(Status status, std::string error);

    std::string host_;
    std::uint16_t port_;
    int fd_{-1};
    std::uint16_t next_transaction_{1};
    std::vector<std::uint8_t> buffer_;  ///< received, not yet parsed
    std::uint64_t stale_frames_{0};
};

}  // namespace gw::modbus
