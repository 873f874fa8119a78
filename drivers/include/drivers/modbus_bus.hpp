// SPDX-License-Identifier: Apache-2.0
// A Modbus bus worker: one thread owns one physical line (a serial port) or one TCP endpoint
// (e.g. an RS-485-to-Ethernet gateway) and polls every device on it in turn. libmodbus is
// blocking, so it never runs on the gateway's main io_context; results leave through a callback
// that the owner turns into a post() onto its executor.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "drivers/register_codec.hpp"

namespace gw::modbus {

struct RtuEndpoint {
    std::string port;  ///< e.g. /dev/serial/by-id/usb-FTDI_..., /dev/ttyUSB0, /dev/pts/5
    int baud{9600};
    char parity{'N'};  ///< 'N', 'E' or 'O'
    int data_bits{8};
    int stop_bits{1};
};

struct TcpEndpoint {
    std::string host;
    std::uint16_t port{502};
};

using Endpoint = std::variant<RtuEndpoint, TcpEndpoint>;

/// Human-readable endpoint, e.g. "rtu:/dev/ttyUSB0@9600/8N1" or "tcp:10.0.0.5:502".
std::string describe(const Endpoint& endpoint);

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
struct DevicePollResult {
    std::size_t device_index{0};  ///< index into the bus's device list
    std::chrono::system_clock::time_point sampled_at;
    std::chrono::steady_clock::time_point sampled_mono;  ///< same instant, monotonic
    bool ok{false};
    bool backed_off{false};                   ///< not polled: the device is in back-off
    bool timed_out{false};                    ///< no answer within the response timeout
    bool crc_error{false};                    ///< an answer arrived with a bad CRC
    int exception_code{0};                    ///< Modbus exception code of the answer, 0 if none
    std::chrono::microseconds round_trip{0};  ///< request to last response byte, when ok
    std::string error;                        ///< transport/protocol error when !ok
    std::vector<DecodedPoint> points;         ///< one per profile register, in profile order
};

struct BusStats {
    std::uint64_t polls{0};
    std::uint64_t failures{0};
    std::uint64_t reconnects{0};
};

class ModbusBus {
public:
    using ResultHandler = std::function<void(DevicePollResult)>;

    /// `on_result` runs on the bus thread; it must only hand the result over (e.g. post()).
    ModbusBus(Endpoint endpoint, std::vector<PolledDevice> devices, ResultHandler on_result);
    ~ModbusBus();
    ModbusBus(const ModbusBus&) = delete;
    ModbusBus& operator=(const ModbusBus&) = delete;

    void start();
    /// Stops polling and joins the thread; returns within one response timeout.
    void stop();

    const Endpoint& endpoint() const { return endpoint_; }
    const std::vector<PolledDevice>& devices() const { return devices_; }
    BusStats stats() const;

private:
    void run();
    DevicePollResult poll(std::size_t device_index);
    DevicePollResult failed_result(std::size_t device_index, std::string error) const;
    bool ensure_connected(std::string& error);
    void disconnect();

    Endpoint endpoint_;
    std::vector<PolledDevice> devices_;
    std::vector<std::vector<ReadBlock>> read_plans_;  ///< per device
    ResultHandler on_result_;

    struct Context;  // libmodbus context, only touched by the bus thread
    Context* context_{nullptr};

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_{false};
    BusStats stats_;
    std::thread thread_;
};

}  // namespace gw::modbus
