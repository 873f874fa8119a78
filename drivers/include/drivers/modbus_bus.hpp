// SPDX-License-Identifier: Apache-2.0
// A Modbus bus worker: one thread owns one physical line (a serial port) or one TCP endpoint
// (e.g. an RS-485-to-Ethernet gateway) and polls every device on it in turn. libmodbus is
// blocking, so it never runs on the gateway's main io_context; results leave through a callback
// that the owner turns into a post() onto its executor.
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "drivers/device_sample.hpp"
#include "drivers/register_codec.hpp"
#include "drivers/rtu_timing.hpp"

namespace gw::modbus {

class ModbusTcpClient;

/// How the RS-485 transceiver's driver is switched between sending and receiving.
enum class Rs485Mode : std::uint8_t {
    Auto,    ///< the adapter does it itself (most USB-RS485 adapters, auto-direction boards)
    Kernel,  ///< the UART driver does it: TIOCSRS485 (on-board UARTs of i.MX, AM335x, RK...)
    Rts,     ///< libmodbus raises/lowers RTS around each request
};

struct RtuEndpoint {
    std::string port;  ///< e.g. /dev/serial/by-id/usb-FTDI_..., /dev/ttyUSB0, /dev/pts/5
    int baud{9600};
    char parity{'N'};  ///< 'N', 'E' or 'O'
    int data_bits{8};
    int stop_bits{1};
    Rs485Mode rs485{Rs485Mode::Auto};
    bool rts_active_high{true};  ///< Rts mode: RTS level while sending
    int rts_delay_us{-1};        ///< Rts mode: settle time around a request; -1 = one character
    /// Silence the master adds after every transaction on top of t3.5 (slow slaves, JUMO's t2).
    std::chrono::milliseconds inter_frame_delay{0};
    /// Largest gap allowed between two bytes of one response; 0 = libmodbus default (500 ms).
    std::chrono::milliseconds byte_timeout{0};
};

struct TcpEndpoint {
    std::string host;
    std::uint16_t port{502};
};

/// RTU frames (with CRC) over a TCP stream: transparent serial servers ("RTU over TCP").
struct RtuOverTcpEndpoint {
    std::string host;
    std::uint16_t port{502};
    LineFraming line;  ///< framing of the serial side, for t3.5 and utilisation
    std::chrono::milliseconds inter_frame_delay{0};
};

using Endpoint = std::variant<RtuEndpoint, TcpEndpoint, RtuOverTcpEndpoint>;

/// Human-readable endpoint, e.g. "rtu:/dev/ttyUSB0@9600/8N1" or "tcp:10.0.0.5:502".
std::string describe(const Endpoint& endpoint);

/// Devices with the same key share one bus (one thread, one transaction at a time): the serial
/// port for RTU, host:port otherwise.
std::string bus_key(const Endpoint& endpoint);

/// Serial framing of a line, if the endpoint has one (RTU, RTU over TCP).
std::optional<LineFraming> line_framing(const Endpoint& endpoint);

struct PolledDevice {
    std::string id;
    int unit_id{1};
    std::chrono::milliseconds poll_period{1000};
    std::chrono::milliseconds response_timeout{500};
    DeviceProfile profile;
    int retries{1};  ///< extra attempts of a timed-out request within one poll
    /// After this many failed polls in a row the device is backed off: not polled for
    /// `backoff`, then probed once. One dead slave thus costs bounded bus time.
    int backoff_after_failures{3};
    std::chrono::milliseconds backoff{30000};
};

/// What one poll of one device produced. On failure every point carries the error.
using DevicePollResult = drivers::DeviceSample;

struct BusStats {
    std::uint64_t polls{0};
    std::uint64_t failures{0};
    std::uint64_t reconnects{0};
    std::uint64_t transactions{0};  ///< requests put on the line (reads, trigger writes, retries)
    double busy_ms_total{0};        ///< time inside transactions since start
    double elapsed_ms{0};           ///< since the bus started
    /// Share of the last minute the line was inside a transaction (request out to response in
    /// or timeout), plus the t3.5 silence each transaction needs on RTU.
    double utilisation_pct{0};
    double utilisation_pct_total{0};  ///< same, since start
};

/// Per-device share of the bus, for `towngw status`.
struct DeviceBusStats {
    double busy_ms_total{0};
    std::uint64_t transactions{0};
};

class ModbusBus : public drivers::Source {
public:
    using ResultHandler = drivers::SampleHandler;

    /// `on_result` runs on the bus thread; it must only hand the result over (e.g. post()).
    ModbusBus(Endpoint endpoint, std::vector<PolledDevice> devices, ResultHandler on_result);
    ~ModbusBus() override;
    ModbusBus(const ModbusBus&) = delete;
    ModbusBus& operator=(const ModbusBus&) = delete;

    void start() override;
    /// Stops polling and joins the thread; returns within one response timeout.
    void stop() override;
    std::string describe() const override { return modbus::describe(endpoint_); }

    /// Asks for one extra read of a device as soon as the line is free (remote `read-now`).
    /// The result arrives through the ResultHandler with `on_demand` set; the schedule, the
    /// poll counters and the back-off state are untouched. Requests for a device that is
    /// already waiting are merged. Thread-safe.
    void request_read(std::size_t device_index);

    const Endpoint& endpoint() const { return endpoint_; }
    const std::vector<PolledDevice>& devices() const { return devices_; }
    BusStats stats() const;
    DeviceBusStats device_stats(std::size_t device_index) const;

private:
    using Clock = std::chrono::steady_clock;
    struct Schedule;  // per-device scheduling state, bus thread only

    void run();
    /// Reads every register of the device's read plan (one transaction per block).
    DevicePollResult read_device(std::size_t device_index);
    /// Writes the measurement trigger; returns the wait before the results may be read.
    /// `probe_wait` caches the probe's own wait time (read from its wait register).
    std::optional<std::chrono::milliseconds> trigger(
        std::size_t device_index, std::optional<std::chrono::milliseconds>& probe_wait,
        DevicePollResult& failure);
    DevicePollResult failed_result(std::size_t device_index, std::string error) const;
    /// Classifies a failed libmodbus call into `result` and recovers the link as needed.
    DevicePollResult transaction_failed(std::size_t device_index, const std::string& what, int got,
                                        int err);
    bool ensure_connected(std::string& error);
    /// Sets the unit id and response timeout for the next requests (libmodbus only).
    bool address(const PolledDevice& device, std::string& error);
    /// One request on whichever transport this bus uses, in libmodbus's convention: the count
    /// done, or -1 with `err` an errno value (MODBUS_ENOBASE + code for an exception).
    int read_words(const PolledDevice& device, RegisterTable table, std::uint16_t start,
                   std::uint16_t count, std::uint16_t* out, int& err);
    int write_trigger(const PolledDevice& device, const TriggerSpec& spec, int& err);
    bool connect_rtu_over_tcp(const RtuOverTcpEndpoint& endpoint, std::string& error);
    bool apply_serial_options(const RtuEndpoint& rtu, std::string& error);
    void disconnect();
    /// Waits out the inter-frame silence before the next request goes out.
    void wait_line_silence();
    /// Books one transaction's line time to the bus and the device.
    void account(std::size_t device_index, Clock::time_point started);

    Endpoint endpoint_;
    std::vector<PolledDevice> devices_;
    std::vector<std::vector<ReadBlock>> read_plans_;  ///< per device
    ResultHandler on_result_;
    std::chrono::microseconds frame_gap_{0};  ///< t3.5 + configured inter-frame delay

    struct Context;  // libmodbus context, only touched by the bus thread
    Context* context_{nullptr};
    /// Modbus TCP endpoints use our own client (one poll+recv per answer, transaction ids).
    std::unique_ptr<ModbusTcpClient> tcp_;
    std::chrono::milliseconds connect_timeout_{500};
    Clock::time_point last_transaction_end_{};

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_{false};
    std::vector<std::size_t> on_demand_;  ///< devices waiting for an extra read
    BusStats stats_;
    std::vector<DeviceBusStats> device_stats_;
    Clock::time_point started_at_{};
    static constexpr int kUtilisationBuckets = 60;  ///< one per second: the last minute
    std::array<double, kUtilisationBuckets> busy_ms_per_second_{};
    std::int64_t current_second_{0};
    std::thread thread_;
};

}  // namespace gw::modbus
