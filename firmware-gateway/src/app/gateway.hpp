// SPDX-License-Identifier: Apache-2.0
// The composition root: owns the buses, the per-sensor windows, the outbox, the uplink and the
// control socket, and wires them together on the one main io_context.
//
//   bus threads --post--> on_poll_result --> WindowAggregator --closed window--> OutboxWorker
//   (libmodbus)                                                        (SQLite thread)
//                                            Uplink <--peek/ack-- OutboxWorker
//                                              |--publish QoS 1--> PahoPublisher --> broker
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "app/control_server.hpp"
#include "buffer/outbox_worker.hpp"
#include "config/config.hpp"
#include "core/reading.hpp"
#include "core/window_aggregator.hpp"
#include "drivers/modbus_bus.hpp"
#include "uplink/paho_publisher.hpp"
#include "uplink/uplink.hpp"

namespace gw {

class Gateway {
public:
    Gateway(Config config, boost::asio::io_context& io);
    ~Gateway();

    /// Opens the outbox and the control socket (throws on failure), then starts polling and
    /// the uplink. SIGINT/SIGTERM start a graceful stop; run() on the io_context returns after.
    void start();

private:
    struct SensorState {
        WindowAggregator window;
        std::optional<Reading> last;
    };
    struct DeviceState {
        std::size_t bus_index{0};
        std::uint64_t polls{0};
        std::uint64_t failures{0};
        std::uint64_t consecutive_failures{0};
        std::string last_error;
    };

    void build_buses();
    void on_poll_result(std::size_t device_index, modbus::DevicePollResult result);
    void schedule_tick();
    void on_tick();
    void commit(std::vector<OutboxMessage> messages);
    OutboxMessage window_message(std::size_t sensor_index, const WindowSummary& window) const;
    nlohmann::json sensor_list() const;
    std::string birth_payload() const;
    std::string offline_payload(const char* reason) const;
    void handle_request(const nlohmann::json& request, ControlServer::Reply reply);
    void stop();

    Config config_;
    boost::asio::io_context& io_;
    boost::asio::signal_set signals_;
    boost::asio::steady_timer tick_timer_;
    boost::asio::steady_timer stop_deadline_;
    std::chrono::system_clock::time_point started_at_;
    std::chrono::steady_clock::time_point started_steady_;

    std::vector<SensorState> sensors_;
    std::vector<std::vector<std::size_t>> sensors_of_device_;
    std::vector<DeviceState> devices_;
    std::vector<std::vector<std::size_t>> devices_of_bus_;  ///< bus -> config device indices
    std::vector<std::unique_ptr<modbus::ModbusBus>> buses_;

    std::unique_ptr<OutboxWorker> outbox_;
    std::unique_ptr<PahoPublisher> publisher_;
    std::unique_ptr<Uplink> uplink_;
    std::unique_ptr<ControlServer> control_;
    std::uint64_t commits_pending_{0};
    std::uint64_t commit_failures_{0};
    bool stopping_{false};
};

}  // namespace gw
