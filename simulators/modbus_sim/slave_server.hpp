// SPDX-License-Identifier: Apache-2.0
// The serving side of the simulator: one poll loop, one thread, serving
//   * Modbus TCP on one listening port for several unit ids (like an RS-485-to-Ethernet
//     gateway): the MBAP unit id selects the device, an unknown unit gets exception 0x0B;
//   * one simulated RS-485 line with the RTU devices, reachable through a pseudo-terminal and,
//     optionally, as raw RTU frames over TCP (a transparent serial server). Unknown addresses
//     stay silent, as on a real bus. The line is half-duplex and timing-faithful: a reply
//     leaves when the request, the turnaround and the reply itself would have taken on the
//     wire at the configured baud rate (rtu_timing.hpp);
//   * LoRaWAN bin sensors, published as ChirpStack v4 MQTT uplink events (lorawan.hpp);
//   * a control socket to inject and clear faults at run time and read statistics.
// libmodbus builds every Modbus reply (modbus_reply / modbus_reply_exception) into a capture
// socket, so replies can be delayed, corrupted or dropped without blocking the loop.
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
#include <poll.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "modbus_sim/control_socket.hpp"
#include "modbus_sim/device_model.hpp"
#include "modbus_sim/faults.hpp"
#include "modbus_sim/lorawan.hpp"
#include "modbus_sim/mqtt_publisher.hpp"
#include "modbus_sim/rtu_timing.hpp"
#include "modbus_sim/scenario.hpp"
#include "modbus_sim/waveform.hpp"

namespace gw::sim {

struct ServerOptions {
    std::string tcp_host{"127.0.0.1"};          ///< IPv4 address to listen on
    std::uint16_t tcp_port{0};                  ///< 0 = pick a free port
    std::optional<std::uint16_t> rtu_tcp_port;  ///< RTU frames over TCP; 0 = free port
    std::string pty_link;                       ///< symlink to the RTU pty slave; empty = none
    std::string served_log_path;                ///< JSON lines of served values; empty = none
    std::string control_socket_path;            ///< Unix socket for faults/stats; empty = none
    std::string stats_file_path;  ///< stats JSON, rewritten every second; empty = none
    std::string broker_uri;       ///< MQTT broker for LoRaWAN uplinks
    bool lorawan_only{false};     ///< serve only the scenario's "lorawan" section
    double time_scale{1.0};       ///< simulated seconds per wall-clock second
    std::uint64_t seed{1};
};

struct ServerStats {
    std::uint64_t requests{0};      ///< Modbus requests for a simulated device
    std::uint64_t reply_errors{0};  ///< modbus_reply / write failures
    std::uint64_t unknown_unit{0};  ///< TCP: answered 0x0B
    std::uint64_t other_slave{0};   ///< RTU: frame for an address we do not serve (silent)
    std::uint64_t malformed{0};     ///< bad CRC, truncated frame, bad MBAP, timeouts
    std::uint64_t clients_accepted{0};
    std::uint64_t clients_rejected{0};   ///< over the client limit
    std::uint64_t stale_rtu_flushes{0};  ///< replies nobody read (client gone), discarded
    std::uint64_t disconnects{0};        ///< TCP connections closed by a disconnect fault
};

/// Per-device counters, as in the stats file. Faulted requests count as requests too.
struct DeviceCounters {
    std::uint64_t requests{0};
    std::uint64_t replies{0};      ///< frames actually sent (including exceptions, bad CRCs)
    std::uint64_t faulted{0};      ///< requests where at least one fault applied
    std::uint64_t early_reads{0};  ///< trigger devices: result reads during a measurement
    std::uint64_t triggers{0};     ///< trigger devices: measurements started
};

/// The simulated RS-485 line's accounting.
struct RtuLineStats {
    double busy_ms{0.0};
    std::uint64_t requests{0};  ///< CRC-valid frames on the line, any address
    std::uint64_t replies{0};
};

class SlaveServer {
public:
    SlaveServer(const Scenario& scenario, ServerOptions options);
    ~SlaveServer();
    SlaveServer(const SlaveServer&) = delete;
    SlaveServer& operator=(const SlaveServer&) = delete;

    /// Injects a fault (already validated against the scenario).
    void add_fault(FaultSpec spec);

    /// Opens every listener, the pty, the control socket, the served log and the MQTT
    /// connection. Throws std::system_error / std::runtime_error.
    void open();

    std::optional<std::uint16_t> tcp_port() const;
    std::optional<std::uint16_t> rtu_tcp_port() const;
    std::optional<std::string> rtu_pty() const;

    /// Human-readable one-liners, one per listener.
    std::vector<std::string> describe_listeners() const;

    /// Serves until `stop_fd` becomes readable.
    void run(int stop_fd);

    /// One poll iteration of at most `timeout_ms` (-1 = until something happens).
    /// Returns false once `stop_fd` is readable. For running the server in-process in tests.
    bool poll_once(int stop_fd, int timeout_ms);

    /// Writes the stats file now (if configured) and disconnects MQTT cleanly.
    void shut_down();

    const ServerStats& stats() const { return stats_; }
    const RtuLineStats& rtu_line_stats() const { return rtu_stats_; }
    /// The stats document of the control socket and --stats-file.
    nlohmann::ordered_json stats_json() const;
    /// Handles one control-socket request line; returns the reply line.
    std::string handle_control(const std::string& line);

private:
    struct TcpClient;
    struct RtuPort;
    struct RtuFrame;
    struct PendingRtuReply;
    struct CapturedReply;
    using Clock = std::chrono::steady_clock;

    void open_tcp();
    void open_rtu_pty();
    void open_rtu_tcp();
    void accept_clients();
    void accept_rtu_tcp_clients();
    bool serve_tcp_client(TcpClient& client);                          // false = close it
    bool flush_tcp_replies(TcpClient& client, Clock::time_point now);  // false = close it
    bool read_rtu_port(RtuPort& port);                                 // false = port closed
    void frame_rtu_input(RtuPort& port, bool silence_elapsed);
    void pump_rtu_line(Clock::time_point now);
    void process_rtu_frame(const RtuFrame& frame, Clock::time_point start);
    void deliver_rtu_reply();
    void check_stale_rtu_output();
    CapturedReply build_reply(modbus_t* ctx, DeviceModel& device, const std::uint8_t* request,
                              int length, const ModbusFaultEffect& effect);
    std::vector<std::uint8_t> take_captured();
    void apply_disconnect_faults();
    void run_timers(Clock::time_point now);
    void log_served(const DeviceModel& device, const std::vector<ServedValue>& values,
                    std::optional<double> measured_s);
    void log_uplink(const LorawanDeviceConfig& device, const Uplink& uplink, std::string_view kind);
    void write_stats_file() const;
    std::optional<Clock::time_point> next_deadline() const;
    double elapsed_s(Clock::time_point at) const;
    SimInstant sim_now() const;
    DeviceCounters& counters(const DeviceModel& device);

    Scenario scenario_;
    ServerOptions options_;
    RtuLineSettings rtu_line_;
    std::vector<std::unique_ptr<DeviceModel>> devices_;
    std::map<int, DeviceModel*> tcp_units_;
    std::map<int, DeviceModel*> rtu_units_;
    std::map<std::string, DeviceCounters> device_counters_;
    SimClock sim_clock_;
    Clock::time_point started_{Clock::now()};
    std::chrono::system_clock::time_point started_wall_{std::chrono::system_clock::now()};
    std::mt19937_64 rng_;
    FaultBoard faults_;
    ServerStats stats_;
    RtuLineStats rtu_stats_;

    // Reply capture: libmodbus writes replies into one end, we read them from the other.
    int capture_write_fd_{-1};
    int capture_read_fd_{-1};

    // Modbus TCP
    int listen_fd_{-1};
    std::uint16_t bound_port_{0};
    std::vector<std::unique_ptr<TcpClient>> clients_;

    // The RTU line and its ports (the pty, RTU-over-TCP connections)
    int pty_master_fd_{-1};
    int pty_slave_fd_{-1};  ///< kept open so the master never sees EIO/HUP between clients
    std::string pty_slave_path_;
    bool pty_link_created_{false};
    int rtu_listen_fd_{-1};
    std::uint16_t rtu_bound_port_{0};
    modbus_t* rtu_ctx_{nullptr};
    std::vector<std::unique_ptr<RtuPort>> rtu_ports_;  ///< the pty first, if any
    std::uint64_t next_port_id_{0};
    std::deque<RtuFrame> rtu_queue_;  ///< complete requests waiting for the line
    std::unique_ptr<PendingRtuReply> rtu_pending_;
    Clock::time_point rtu_line_free_at_{};
    Clock::time_point rtu_last_tx_{};
    bool rtu_tx_unchecked_{false};
    Clock::time_point rtu_backoff_until_{};

    // Faults, control, stats, LoRaWAN
    std::optional<double> next_fault_edge_s_;
    std::unique_ptr<ControlSocket> control_;
    Clock::time_point next_stats_write_{};
    std::unique_ptr<LorawanFleet> lorawan_;
    std::unique_ptr<MqttPublisher> mqtt_;

    std::FILE* served_log_{nullptr};
};

}  // namespace gw::sim
