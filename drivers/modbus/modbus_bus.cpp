// SPDX-License-Identifier: Apache-2.0
#include "drivers/modbus_bus.hpp"

#include <modbus/modbus.h>

#include <algorithm>
#include <cerrno>

namespace gw::modbus {

std::string describe(const Endpoint& endpoint) {
    if (const auto* rtu = std::get_if<RtuEndpoint>(&endpoint)) {
        return "rtu:" + rtu->port + "@" + std::to_string(rtu->baud) + "/" +
               std::to_string(rtu->data_bits) + rtu->parity + std::to_string(rtu->stop_bits);
    }
    const auto& tcp = std::get<TcpEndpoint>(endpoint);
    return "tcp:" + tcp.host + ":" + std::to_string(tcp.port);
}

struct ModbusBus::Context {
    modbus_t* ctx{nullptr};
    bool connected{false};
};

ModbusBus::ModbusBus(Endpoint endpoint, std::vector<PolledDevice> devices, ResultHandler on_result)
    : endpoint_(std::move(endpoint)),
      devices_(std::move(devices)),
      on_result_(std::move(on_result)),
      context_(new Context) {
    for (const auto& device : devices_) read_plans_.push_back(plan_reads(device.profile));
}

ModbusBus::~ModbusBus() {
    stop();
    disconnect();
    if (context_->ctx != nullptr) modbus_free(context_->ctx);
    delete context_;
}

void ModbusBus::start() {
    thread_ = std::thread([this] { run(); });
}

void ModbusBus::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

BusStats ModbusBus::stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

void ModbusBus::run() {
    using Clock = std::chrono::steady_clock;
    // Fixed-rate schedule per device; devices on one line are polled one after the other.
    std::vector<Clock::time_point> next_due(devices_.size(), Clock::now());
    std::vector<int> failures_in_row(devices_.size(), 0);
    std::vector<Clock::time_point> backoff_until(devices_.size(), Clock::time_point{});
    while (true) {
        const auto due = std::min_element(next_due.begin(), next_due.end());
        {
            std::unique_lock lock(mutex_);
            if (wake_.wait_until(lock, *due, [this] { return stopping_; })) break;
        }
        const auto index = static_cast<std::size_t>(due - next_due.begin());
        const PolledDevice& device = devices_[index];
        DevicePollResult result;
        if (Clock::now() < backoff_until[index]) {
            // Still a reading every period (quality: failed), but no bus time spent on it.
            result = failed_result(index, "not polled: backing off after " +
                                              std::to_string(failures_in_row[index]) +
                                              " failed polls in a row");
            result.backed_off = true;
        } else {
            result = poll(index);
            for (int attempt = 0; attempt < device.retries && !result.ok && result.timed_out;
                 ++attempt)
                result = poll(index);
            if (result.ok) {
                failures_in_row[index] = 0;
            } else if (++failures_in_row[index] >= device.backoff_after_failures) {
                // Probed again once the back-off has passed; a failed probe backs off again.
                backoff_until[index] = Clock::now() + device.backoff;
            }
            std::lock_guard lock(mutex_);
            ++stats_.polls;
            if (!result.ok) ++stats_.failures;
        }
        on_result_(std::move(result));

        const auto period = devices_[index].poll_period;
        next_due[index] += period;
        // Fell behind (slow bus, long timeouts): skip missed slots instead of bursting.
        if (next_due[index] < Clock::now()) next_due[index] = Clock::now() + period;
    }
}

bool ModbusBus::ensure_connected(std::string& error) {
    if (context_->connected) return true;
    if (context_->ctx == nullptr) {
        if (const auto* rtu = std::get_if<RtuEndpoint>(&endpoint_)) {
            context_->ctx = modbus_new_rtu(rtu->port.c_str(), rtu->baud, rtu->parity,
                                           rtu->data_bits, rtu->stop_bits);
        } else {
            const auto& tcp = std::get<TcpEndpoint>(endpoint_);
            context_->ctx = modbus_new_tcp_pi(tcp.host.c_str(), std::to_string(tcp.port).c_str());
        }
        if (context_->ctx == nullptr) {
            error = std::string("cannot create modbus context: ") + modbus_strerror(errno);
            return false;
        }
    }
    if (modbus_connect(context_->ctx) == -1) {
        error = "connect " + describe(endpoint_) + ": " + modbus_strerror(errno);
        return false;
    }
    context_->connected = true;
    std::lock_guard lock(mutex_);
    ++stats_.reconnects;
    return true;
}

void ModbusBus::disconnect() {
    if (context_->ctx != nullptr && context_->connected) modbus_close(context_->ctx);
    context_->connected = false;
}

DevicePollResult ModbusBus::failed_result(std::size_t device_index, std::string error) const {
    DevicePollResult result;
    result.device_index = device_index;
    result.sampled_at = std::chrono::system_clock::now();
    result.sampled_mono = std::chrono::steady_clock::now();
    result.ok = false;
    result.error = std::move(error);
    result.points.assign(devices_[device_index].profile.registers.size(), DecodedPoint{});
    for (auto& point : result.points) point.error = result.error;
    return result;
}

DevicePollResult ModbusBus::poll(std::size_t device_index) {
    const PolledDevice& device = devices_[device_index];
    DevicePollResult result;
    result.device_index = device_index;

    auto fail = [&](std::string error) { return failed_result(device_index, std::move(error)); };

    std::string error;
    if (!ensure_connected(error)) return fail(error);

    modbus_t* ctx = context_->ctx;
    modbus_set_slave(ctx, device.unit_id);
    const auto timeout_ms = device.response_timeout.count();
    modbus_set_response_timeout(ctx, static_cast<std::uint32_t>(timeout_ms / 1000),
                                static_cast<std::uint32_t>((timeout_ms % 1000) * 1000));

    RegisterImage image;
    std::vector<std::uint16_t> words;
    const auto started = std::chrono::steady_clock::now();
    for (const ReadBlock& block : read_plans_[device_index]) {
        words.assign(block.count, 0);
        const int got =
            block.table == RegisterTable::Holding
                ? modbus_read_registers(ctx, block.start, block.count, words.data())
                : modbus_read_input_registers(ctx, block.start, block.count, words.data());
        if (got != block.count) {
            const int err = errno;
            const std::string what =
                std::string(block.table == RegisterTable::Holding ? "FC03" : "FC04") + " unit " +
                std::to_string(device.unit_id) + " @" + std::to_string(block.start) + "+" +
                std::to_string(block.count) + ": " +
                (got == -1 ? modbus_strerror(err) : "short response");
            // A broken TCP connection or a vanished serial device needs a fresh connect; a
            // timeout or a Modbus exception does not.
            if (err == ECONNRESET || err == EPIPE || err == EBADF || err == EIO ||
                err == ENOTCONN || err == ECONNREFUSED) {
                disconnect();
            } else {
                modbus_flush(ctx);
            }
            auto failed = fail(what);
            failed.timed_out = got == -1 && err == ETIMEDOUT;
            failed.crc_error = got == -1 && err == EMBBADCRC;
            if (got == -1 && err > MODBUS_ENOBASE && err < EMBXGTAR + 1)
                failed.exception_code = err - MODBUS_ENOBASE;
            return failed;
        }
        image.store(block, words.data());
    }

    result.sampled_at = std::chrono::system_clock::now();
    result.sampled_mono = std::chrono::steady_clock::now();
    result.round_trip =
        std::chrono::duration_cast<std::chrono::microseconds>(result.sampled_mono - started);
    result.ok = true;
    for (const auto& spec : device.profile.registers)
        result.points.push_back(decode_point(image, spec));
    return result;
}

}  // namespace gw::modbus
