// SPDX-License-Identifier: Apache-2.0
// The Modbus slave side of the simulator: one poll() loop, one thread, serving
//   * Modbus TCP on one listening port for several unit ids (like an RS-485-to-Ethernet
//     gateway): the MBAP unit id selects the device, an unknown unit gets exception 0x0B;
//   * Modbus RTU on a pseudo-terminal for several slave addresses on one "line": unknown
//     addresses stay silent, as on a real bus.
// libmodbus builds every reply (modbus_reply / modbus_reply_exception), so the simulator is
// an implementation independent of the gateway's own codec.
//
// libmodbus 3.1.6 caveats this file works around (see slave_server.cpp for details):
//   * RTU: modbus_receive() drops requests whose address != ctx->slave and then treats the
//     NEXT frame on the line as the other slave's answer and throws it away, so on a pty
//     (where no other slave answers) it would eat a valid request. RTU requests are therefore
//     framed and CRC-checked here, then handed to modbus_reply() with modbus_set_slave().
//   * Exceptions "illegal data value" sleep for the response timeout before flushing, so the
//     serving contexts use a 1 ms response timeout to keep the loop responsive.
//   * modbus_receive() uses select(), so client sockets must stay below FD_SETSIZE.
#pragma once

#include <modbus/modbus.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "modbus_sim/device_model.hpp"
#include "modbus_sim/scenario.hpp"
#include "modbus_sim/waveform.hpp"

namespace gw::sim {

struct ServerOptions {
    std::string tcp_host{"127.0.0.1"};  ///< IPv4 address to listen on
    std::uint16_t tcp_port{0};          ///< 0 = pick a free port
    std::string pty_link;               ///< symlink to the RTU pty slave; empty = none
    std::string served_log_path;        ///< JSON lines of served values; empty = none
    double time_scale{1.0};             ///< simulated seconds per wall-clock second
    std::uint64_t seed{1};
};

struct ServerStats {
    std::uint64_t requests{0};      ///< frames handed to modbus_reply
    std::uint64_t reply_errors{0};  ///< modbus_reply / write failures
    std::uint64_t unknown_unit{0};  ///< TCP: answered 0x0B
    std::uint64_t other_slave{0};   ///< RTU: frame for an address we do not serve (silent)
    std::uint64_t malformed{0};     ///< bad CRC, truncated frame, bad MBAP, timeouts
    std::uint64_t clients_accepted{0};
    std::uint64_t clients_rejected{0};   ///< over the client limit
    std::uint64_t stale_rtu_flushes{0};  ///< replies nobody read (client gone), discarded
};

class SlaveServer {
public:
    SlaveServer(const Scenario& scenario, ServerOptions options);
    ~SlaveServer();
    SlaveServer(const SlaveServer&) = delete;
    SlaveServer& operator=(const SlaveServer&) = delete;

    /// Opens the TCP listener (if any device is TCP), the pty (if any device is RTU), the pty
    /// link and the served log. Throws std::system_error / std::runtime_error.
    void open();

    std::optional<std::uint16_t> tcp_port() const;
    std::optional<std::string> rtu_pty() const;

    /// Human-readable one-liners, one per listener.
    std::vector<std::string> describe_listeners() const;

    /// Serves until `stop_fd` becomes readable.
    void run(int stop_fd);

    /// One poll iteration of at most `timeout_ms` (-1 = until something happens).
    /// Returns false once `stop_fd` is readable. For running the server in-process in tests.
    bool poll_once(int stop_fd, int timeout_ms);

    const ServerStats& stats() const { return stats_; }

private:
    struct TcpClient;
    using Clock = std::chrono::steady_clock;

    void open_tcp();
    void open_rtu();
    void accept_clients();
    bool serve_tcp_client(TcpClient& client);  // false = close it
    void read_rtu();
    void process_rtu_buffer(bool silence_elapsed);
    void dispatch_rtu_frame(const std::uint8_t* frame, int length);
    void check_stale_rtu_output();
    void serve(modbus_t* ctx, DeviceModel& device, const std::uint8_t* request, int length);
    void log_served(const DeviceModel& device, const std::vector<ServedValue>& values);
    int next_timeout_ms(int limit_ms) const;
    SimInstant sim_now() const;

    ServerOptions options_;
    std::vector<std::unique_ptr<DeviceModel>> devices_;
    std::map<int, DeviceModel*> tcp_units_;
    std::map<int, DeviceModel*> rtu_units_;
    SimClock sim_clock_;
    Clock::time_point started_{Clock::now()};
    std::mt19937_64 rng_;
    ServerStats stats_;

    // TCP
    int listen_fd_{-1};
    std::uint16_t bound_port_{0};
    std::vector<std::unique_ptr<TcpClient>> clients_;

    // RTU
    int pty_master_fd_{-1};
    int pty_slave_fd_{-1};  ///< kept open so the master never sees EIO/HUP between clients
    std::string pty_slave_path_;
    bool pty_link_created_{false};
    modbus_t* rtu_ctx_{nullptr};
    std::vector<std::uint8_t> rtu_rx_;
    Clock::time_point rtu_last_rx_{};
    Clock::time_point rtu_last_tx_{};
    bool rtu_tx_unchecked_{false};
    Clock::time_point rtu_backoff_until_{};

    std::FILE* served_log_{nullptr};
};

}  // namespace gw::sim
