// SPDX-License-Identifier: Apache-2.0
#include "app/gateway.hpp"

#include <boost/asio/post.hpp>
#include <csignal>
#include <filesystem>
#include <map>

#include "core/fill_level.hpp"
#include "core/log.hpp"
#include "core/time_format.hpp"
#include "towngw/version.hpp"

namespace gw {

namespace asio = boost::asio;
using ordered_json = nlohmann::ordered_json;

namespace {
/// Windows close this long after their wall-clock end, so a poll answered just before the
/// boundary (and still being posted) lands in the window it belongs to.
constexpr auto kCloseGrace = std::chrono::milliseconds(150);
constexpr auto kStopDeadline = std::chrono::seconds(5);
}  // namespace

Gateway::Gateway(Config config, asio::io_context& io)
    : config_(std::move(config)),
      io_(io),
      signals_(io, SIGINT, SIGTERM),
      tick_timer_(io),
      stop_deadline_(io),
      started_at_(std::chrono::system_clock::now()),
      started_steady_(std::chrono::steady_clock::now()) {
    sensors_of_device_.resize(config_.devices.size());
    devices_.resize(config_.devices.size());
    for (std::size_t i = 0; i < config_.sensors.size(); ++i) {
        const auto& sensor = config_.sensors[i];
        const auto& device = config_.devices[sensor.device_index];
        sensors_.push_back({WindowAggregator(sensor.window, device.poll_period), std::nullopt});
        sensors_of_device_[sensor.device_index].push_back(i);
    }
}

Gateway::~Gateway() {
    for (auto& bus : buses_) bus->stop();
}

void Gateway::start() {
    namespace fs = std::filesystem;
    std::error_code ignored;
    const fs::path db_dir = fs::path(config_.storage.path).parent_path();
    if (!db_dir.empty()) fs::create_directories(db_dir, ignored);
    outbox_ = std::make_unique<OutboxWorker>(config_.storage.path, config_.storage.synchronous,
                                             io_.get_executor());
    control_ = std::make_unique<ControlServer>(
        io_, config_.control.socket, config_.control.group,
        [this](const nlohmann::json& request, ControlServer::Reply reply) {
            handle_request(request, std::move(reply));
        });

    const std::string status_topic = config_.topic_root() + "/status";
    publisher_ = std::make_unique<PahoPublisher>(
        config_.mqtt, status_topic, offline_payload("connection_lost"), io_.get_executor());
    uplink_ = std::make_unique<Uplink>(config_.mqtt, io_.get_executor(), *outbox_, *publisher_,
                                       status_topic);

    signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
        if (ec) return;
        GW_LOG_INFO("gateway", "signal " << signo << ": stopping");
        stop();
    });

    control_->start();
    uplink_->start([this] { return birth_payload(); });
    build_buses();
    for (auto& bus : buses_) bus->start();
    schedule_tick();
    GW_LOG_INFO("gateway", "towngwd " << kVersion << " started: " << config_.devices.size()
                                      << " devices on " << buses_.size() << " buses, "
                                      << config_.sensors.size() << " sensors, topics under "
                                      << config_.topic_root() << "/");
}

void Gateway::build_buses() {
    // One bus per serial port or TCP endpoint: devices sharing a line are polled by one thread.
    std::map<std::string, std::size_t> bus_of_key;
    for (std::size_t i = 0; i < config_.devices.size(); ++i) {
        const auto& endpoint = config_.devices[i].endpoint;
        const std::string key = std::holds_alternative<modbus::RtuEndpoint>(endpoint)
                                    ? "rtu:" + std::get<modbus::RtuEndpoint>(endpoint).port
                                    : modbus::describe(endpoint);
        auto [it, inserted] = bus_of_key.emplace(key, devices_of_bus_.size());
        if (inserted) devices_of_bus_.emplace_back();
        devices_of_bus_[it->second].push_back(i);
        devices_[i].bus_index = it->second;
    }
    for (const auto& device_indices : devices_of_bus_) {
        std::vector<modbus::PolledDevice> polled;
        for (std::size_t i : device_indices) {
            const auto& d = config_.devices[i];
            polled.push_back({d.id, d.unit_id, d.poll_period, d.response_timeout, d.profile});
        }
        const auto& endpoint = config_.devices[device_indices.front()].endpoint;
        // Runs on the bus thread: translate the bus-local index and hand over to the main loop.
        auto on_result = [this, device_indices](modbus::DevicePollResult result) {
            const std::size_t device_index = device_indices[result.device_index];
            asio::post(io_, [this, device_index, result = std::move(result)]() mutable {
                on_poll_result(device_index, std::move(result));
            });
        };
        buses_.push_back(
            std::make_unique<modbus::ModbusBus>(endpoint, std::move(polled), on_result));
        GW_LOG_INFO("gateway", "bus " << modbus::describe(endpoint) << ": " << device_indices.size()
                                      << " device(s)");
    }
}

void Gateway::on_poll_result(std::size_t device_index, modbus::DevicePollResult result) {
    if (stopping_) return;
    DeviceState& device = devices_[device_index];
    const std::string& device_id = config_.devices[device_index].id;
    ++device.polls;
    if (!result.ok) {
        ++device.failures;
        // Log the change of state, not every failed poll.
        if (device.consecutive_failures++ == 0)
            GW_LOG_WARN("modbus", "device " << device_id << ": " << result.error);
        device.last_error = result.error;
    } else if (device.consecutive_failures > 0) {
        GW_LOG_INFO("modbus", "device " << device_id << " answers again after "
                                        << device.consecutive_failures << " failed poll(s)");
        device.consecutive_failures = 0;
    }

    std::vector<OutboxMessage> closed;
    for (std::size_t sensor_index : sensors_of_device_[device_index]) {
        const SensorConfig& sensor = config_.sensors[sensor_index];
        const modbus::DecodedPoint& point = result.points.at(sensor.register_index);
        Reading reading;
        reading.sensor_index = sensor_index;
        reading.sampled_at = result.sampled_at;
        reading.raw = point.raw;
        reading.value = point.value;
        reading.quality = !result.ok ? SampleQuality::CommError
                          : point.ok ? SampleQuality::Good
                                     : SampleQuality::DecodeError;
        if (result.ok && !point.ok)
            GW_LOG_DEBUG("modbus", "sensor " << sensor.id << ": " << point.error);
        if (sensor.fill_level && reading.quality == SampleQuality::Good)
            reading.value =
                fill_percent(point.value, sensor.fill_level->empty_mm, sensor.fill_level->full_mm);
        SensorState& state = sensors_[sensor_index];
        state.last = reading;
        if (auto window = state.window.add(reading))
            closed.push_back(window_message(sensor_index, *window));
    }
    commit(std::move(closed));
}

void Gateway::schedule_tick() {
    // Wake just after each whole second: windows are whole seconds long.
    const auto now = std::chrono::system_clock::now();
    const auto into_second = now.time_since_epoch() % std::chrono::seconds(1);
    tick_timer_.expires_after(std::chrono::seconds(1) - into_second + kCloseGrace);
    tick_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec || stopping_) return;
        on_tick();
        schedule_tick();
    });
}

void Gateway::on_tick() {
    const auto now = std::chrono::system_clock::now() - kCloseGrace;
    std::vector<OutboxMessage> closed;
    for (std::size_t i = 0; i < sensors_.size(); ++i) {
        if (auto window = sensors_[i].window.close_due(now))
            closed.push_back(window_message(i, *window));
    }
    commit(std::move(closed));
}

void Gateway::commit(std::vector<OutboxMessage> messages) {
    if (messages.empty()) return;
    ++commits_pending_;
    const std::size_t count = messages.size();
    outbox_->async_enqueue(
        std::move(messages), [this, count](std::string error, std::vector<std::uint64_t>) {
            --commits_pending_;
            if (!error.empty()) {
                ++commit_failures_;
                GW_LOG_ERROR("outbox", "could not store " << count << " message(s): " << error);
                return;
            }
            uplink_->notify_new_messages();
        });
}

OutboxMessage Gateway::window_message(std::size_t sensor_index, const WindowSummary& w) const {
    const SensorConfig& sensor = config_.sensors[sensor_index];
    auto optional_number = [](const std::optional<double>& v) {
        return v ? ordered_json(*v) : ordered_json(nullptr);
    };
    ordered_json body;
    body["v"] = 1;
    body["town_id"] = config_.gateway.town_id;
    body["gateway_id"] = config_.gateway.gateway_id;
    body["seq"] = nullptr;  // assigned by the outbox at commit
    body["sensor"] = sensor.id;
    body["device"] = sensor.device_id;
    body["metric"] = sensor.metric;
    body["unit"] = sensor.unit;
    body["window_start"] = format_rfc3339_utc(w.start_ms);
    body["window_end"] = format_rfc3339_utc(w.end_ms);
    body["window_s"] = sensor.window.count();
    body["count"] = w.count;
    body["expected"] = w.expected;
    body["failed"] = w.failed;
    body["min"] = optional_number(w.min);
    body["max"] = optional_number(w.max);
    body["mean"] = optional_number(w.mean);
    body["last"] = optional_number(w.last);
    body["quality"] = to_string(w.quality);
    return {config_.topic_root() + "/data/" + sensor.id, std::move(body)};
}

nlohmann::json Gateway::sensor_list() const {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& s : config_.sensors)
        list.push_back({{"id", s.id},
                        {"device", s.device_id},
                        {"metric", s.metric},
                        {"unit", s.unit},
                        {"window_s", s.window.count()}});
    return list;
}

std::string Gateway::birth_payload() const {
    ordered_json body;
    body["v"] = 1;
    body["state"] = "online";
    body["town_id"] = config_.gateway.town_id;
    body["gateway_id"] = config_.gateway.gateway_id;
    body["version"] = kVersion;
    body["started_at"] = format_rfc3339_utc(unix_ms(started_at_));
    body["sensors"] = sensor_list();
    return body.dump();
}

std::string Gateway::offline_payload(const char* reason) const {
    ordered_json body;
    body["v"] = 1;
    body["state"] = "offline";
    body["town_id"] = config_.gateway.town_id;
    body["gateway_id"] = config_.gateway.gateway_id;
    body["reason"] = reason;
    body["started_at"] = format_rfc3339_utc(unix_ms(started_at_));
    return body.dump();
}

void Gateway::handle_request(const nlohmann::json& request, ControlServer::Reply reply) {
    const auto cmd = request.find("cmd");
    if (cmd == request.end() || !cmd->is_string()) {
        reply({{"ok", false}, {"error", "missing \"cmd\" (a string)"}});
        return;
    }
    if (*cmd != "status") {
        reply({{"ok", false},
               {"error", "unknown command \"" + cmd->get<std::string>() + "\" (known: status)"}});
        return;
    }
    outbox_->async_stats([this, reply = std::move(reply)](OutboxStats outbox) {
        nlohmann::json status;
        status["version"] = kVersion;
        status["town_id"] = config_.gateway.town_id;
        status["gateway_id"] = config_.gateway.gateway_id;
        status["started_at"] = format_rfc3339_utc(unix_ms(started_at_));
        status["uptime_s"] = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::steady_clock::now() - started_steady_)
                                 .count();
        const UplinkStats& up = uplink_->stats();
        status["mqtt"] = {{"connected", up.connected},  {"broker", uplink_->broker()},
                          {"published", up.published},  {"inflight", up.inflight},
                          {"connects", up.connects},    {"connection_losses", up.connection_losses},
                          {"last_error", up.last_error}};
        status["outbox"] = {{"depth", outbox.depth},
                            {"last_seq", outbox.last_seq},
                            {"commit_failures", commit_failures_}};
        nlohmann::json sensors = nlohmann::json::array();
        for (std::size_t i = 0; i < config_.sensors.size(); ++i) {
            const auto& s = config_.sensors[i];
            const auto& last = sensors_[i].last;
            nlohmann::json entry = {{"id", s.id},           {"device", s.device_id},
                                    {"metric", s.metric},   {"unit", s.unit},
                                    {"last", nullptr},      {"quality", "no_data"},
                                    {"updated_at", nullptr}};
            if (last) {
                if (last->quality == SampleQuality::Good) entry["last"] = last->value;
                entry["quality"] = to_string(last->quality);
                entry["updated_at"] = format_rfc3339_utc(unix_ms(last->sampled_at));
            }
            sensors.push_back(entry);
        }
        status["sensors"] = sensors;
        nlohmann::json devices = nlohmann::json::array();
        for (std::size_t i = 0; i < config_.devices.size(); ++i) {
            const auto& d = devices_[i];
            devices.push_back({{"id", config_.devices[i].id},
                               {"endpoint", modbus::describe(config_.devices[i].endpoint)},
                               {"unit_id", config_.devices[i].unit_id},
                               {"polls", d.polls},
                               {"failures", d.failures},
                               {"online", d.polls > 0 && d.consecutive_failures == 0},
                               {"last_error", d.last_error}});
        }
        status["devices"] = devices;
        reply({{"ok", true}, {"status", status}});
    });
}

void Gateway::stop() {
    if (stopping_) return;
    stopping_ = true;
    signals_.cancel();
    tick_timer_.cancel();
    // Bus threads finish their current transaction (bounded by the response timeout).
    for (auto& bus : buses_) bus->stop();
    // Open windows are committed as partial rather than lost.
    std::vector<OutboxMessage> closed;
    for (std::size_t i = 0; i < sensors_.size(); ++i)
        if (auto window = sensors_[i].window.close_now())
            closed.push_back(window_message(i, *window));
    if (!closed.empty()) {
        outbox_->async_enqueue(
            std::move(closed), [](std::string error, std::vector<std::uint64_t>) {
                if (!error.empty())
                    GW_LOG_ERROR("outbox", "could not store final windows: " << error);
            });
    }
    auto finished = std::make_shared<bool>(false);
    auto finish = [this, finished] {
        if (*finished) return;
        *finished = true;
        stop_deadline_.cancel();
        control_->stop();
        outbox_->stop();  // drains queued writes, then joins the database thread
        GW_LOG_INFO("gateway", "stopped");
        io_.stop();
    };
    stop_deadline_.expires_after(kStopDeadline);
    stop_deadline_.async_wait([this, finish](const boost::system::error_code& ec) {
        if (ec) return;
        GW_LOG_WARN("gateway", "broker did not confirm the offline status in time");
        finish();
    });
    uplink_->shutdown(offline_payload("shutdown"), finish);
}

}  // namespace gw
