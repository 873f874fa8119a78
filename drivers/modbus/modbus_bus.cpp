// SPDX-License-Identifier: Apache-2.0
#include "drivers/modbus_bus.hpp"

#include <fcntl.h>
#include <modbus/modbus.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "drivers/modbus_tcp_client.hpp"

namespace gw::modbus {

namespace {
/// Longest a finished poll's result waits for the rest of its burst on a line that never idles.
constexpr auto kMaxHandOverDelay = std::chrono::milliseconds(50);

std::string framing_text(const LineFraming& line) {
    return std::to_string(line.baud) + "/" + std::to_string(line.data_bits) + line.parity +
           std::to_string(line.stop_bits);
}

double to_ms(std::chrono::steady_clock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
}
}  // namespace

std::string describe(const Endpoint& endpoint) {
    if (const auto* rtu = std::get_if<RtuEndpoint>(&endpoint))
        return "rtu:" + rtu->port + "@" +
               framing_text({rtu->baud, rtu->parity, rtu->data_bits, rtu->stop_bits});
    if (const auto* over = std::get_if<RtuOverTcpEndpoint>(&endpoint))
        return "rtu-over-tcp:" + over->host + ":" + std::to_string(over->port) + "@" +
               framing_text(over->line);
    const auto& tcp = std::get<TcpEndpoint>(endpoint);
    return "tcp:" + tcp.host + ":" + std::to_string(tcp.port);
}

std::string bus_key(const Endpoint& endpoint) {
    if (const auto* rtu = std::get_if<RtuEndpoint>(&endpoint)) return "rtu:" + rtu->port;
    if (const auto* over = std::get_if<RtuOverTcpEndpoint>(&endpoint))
        return "rtu-over-tcp:" + over->host + ":" + std::to_string(over->port);
    return describe(endpoint);
}

std::optional<LineFraming> line_framing(const Endpoint& endpoint) {
    if (const auto* rtu = std::get_if<RtuEndpoint>(&endpoint))
        return LineFraming{rtu->baud, rtu->parity, rtu->data_bits, rtu->stop_bits};
    if (const auto* over = std::get_if<RtuOverTcpEndpoint>(&endpoint)) return over->line;
    return std::nullopt;
}

struct ModbusBus::Context {
    modbus_t* ctx{nullptr};
    bool connected{false};
    int own_socket{-1};  ///< RTU over TCP: our socket, closed by us (libmodbus would tcsetattr)
};

/// Where a device is in its poll cycle. Trigger probes take two steps: the trigger write, then
/// (after the probe's wait, during which the bus serves others) the read.
struct ModbusBus::Schedule {
    Clock::time_point next_due;   ///< when the next step runs
    Clock::time_point slot;       ///< the fixed-rate slot of the current cycle
    bool awaiting_result{false};  ///< trigger written, results not read yet
    int failures_in_row{0};
    Clock::time_point backoff_until{};
    std::optional<std::chrono::milliseconds> probe_wait;  ///< from the wait register, per link
};

ModbusBus::ModbusBus(Endpoint endpoint, std::vector<PolledDevice> devices, ResultHandler on_result)
    : endpoint_(std::move(endpoint)),
      devices_(std::move(devices)),
      on_result_(std::move(on_result)),
      context_(new Context),
      device_stats_(devices_.size()) {
    for (const auto& device : devices_) {
        read_plans_.push_back(plan_reads(device.profile));
        connect_timeout_ = std::max(connect_timeout_, device.response_timeout);
    }
    if (const auto* tcp = std::get_if<TcpEndpoint>(&endpoint_))
        tcp_ = std::make_unique<ModbusTcpClient>(tcp->host, tcp->port);
    std::chrono::milliseconds extra{0};
    if (const auto* rtu = std::get_if<RtuEndpoint>(&endpoint_)) extra = rtu->inter_frame_delay;
    if (const auto* over = std::get_if<RtuOverTcpEndpoint>(&endpoint_))
        extra = over->inter_frame_delay;
    const auto line = line_framing(endpoint_);
    frame_gap_ =
        std::chrono::microseconds(line ? static_cast<std::int64_t>(std::ceil(t3_5_us(*line))) : 0) +
        extra;
}

ModbusBus::~ModbusBus() {
    stop();
    disconnect();
    if (context_->ctx != nullptr) modbus_free(context_->ctx);
    delete context_;
}

void ModbusBus::start() {
    started_at_ = Clock::now();
    thread_ = std::thread([this] {
        pthread_setname_np(pthread_self(), "towngw-bus");  // visible in top -H, ps -L
        run();
    });
}

void ModbusBus::request_read(std::size_t device_index) {
    {
        std::lock_guard lock(mutex_);
        if (device_index >= devices_.size() ||
            std::find(on_demand_.begin(), on_demand_.end(), device_index) != on_demand_.end())
            return;
        on_demand_.push_back(device_index);
    }
    wake_.notify_all();
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
    BusStats out = stats_;
    const auto now = Clock::now();
    out.elapsed_ms = to_ms(now - started_at_);
    if (out.elapsed_ms > 0) out.utilisation_pct_total = 100.0 * out.busy_ms_total / out.elapsed_ms;
    // The last full minute (or less, just after start), excluding the running second.
    const auto second = std::chrono::duration_cast<std::chrono::seconds>(now - started_at_).count();
    double busy = 0;
    int seconds = 0;
    for (std::int64_t s = second - 1; s >= 0 && s >= second - kUtilisationBuckets; --s) {
        // Buckets older than the last written second are stale unless refreshed.
        if (s <= current_second_ && current_second_ - s < kUtilisationBuckets)
            busy += busy_ms_per_second_[static_cast<std::size_t>(s % kUtilisationBuckets)];
        ++seconds;
    }
    out.utilisation_pct = seconds > 0 ? busy / (10.0 * seconds) : 0.0;
    return out;
}

DeviceBusStats ModbusBus::device_stats(std::size_t device_index) const {
    std::lock_guard lock(mutex_);
    return device_stats_.at(device_index);
}

void ModbusBus::account(std::size_t device_index, Clock::time_point started) {
    const auto ended = Clock::now();
    last_transaction_end_ = ended;
    // The line is also unusable for the t3.5 that must follow the frame.
    const double busy_ms = to_ms(ended - started) + to_ms(frame_gap_);
    std::lock_guard lock(mutex_);
    ++stats_.transactions;
    stats_.busy_ms_total += busy_ms;
    auto& device = device_stats_[device_index];
    ++device.transactions;
    device.busy_ms_total += busy_ms;
    const auto second =
        std::chrono::duration_cast<std::chrono::seconds>(ended - started_at_).count();
    while (current_second_ < second) {
        ++current_second_;
        busy_ms_per_second_[static_cast<std::size_t>(current_second_ % kUtilisationBuckets)] = 0;
    }
    busy_ms_per_second_[static_cast<std::size_t>(second % kUtilisationBuckets)] += busy_ms;
}

void ModbusBus::wait_line_silence() {
    if (frame_gap_.count() == 0) return;
    const auto free_at = last_transaction_end_ + frame_gap_;
    const auto now = Clock::now();
    if (now < free_at) std::this_thread::sleep_for(free_at - now);
}

void ModbusBus::run() {
    std::vector<Schedule> schedule(devices_.size());
    for (auto& s : schedule) s.next_due = s.slot = Clock::now();

    // Results are handed over in bursts: devices due at the same moment are polled back to
    // back and their samples leave together when the line goes idle (or after a bounded delay
    // on a saturated line), so the main loop wakes once per burst, not once per poll.
    std::vector<DevicePollResult> ready;
    Clock::time_point oldest_ready{};
    auto hand_over = [&] {
        for (auto& result : ready) on_result_(std::move(result));
        ready.clear();
    };
    auto keep = [&](DevicePollResult result) {
        if (ready.empty()) oldest_ready = Clock::now();
        ready.push_back(std::move(result));
    };

    while (true) {
        const auto due = std::min_element(
            schedule.begin(), schedule.end(),
            [](const Schedule& a, const Schedule& b) { return a.next_due < b.next_due; });
        const auto now = Clock::now();
        const bool idle = due->next_due > now;
        if (!ready.empty() && (idle || now - oldest_ready >= kMaxHandOverDelay)) hand_over();
        std::vector<std::size_t> demanded;
        {
            std::unique_lock lock(mutex_);
            if (stopping_) break;
            // Only sleep when nothing is due: a wait with a past deadline is still a syscall.
            if (idle && on_demand_.empty())
                wake_.wait_until(lock, due->next_due,
                                 [this] { return stopping_ || !on_demand_.empty(); });
            if (stopping_) break;
            demanded.swap(on_demand_);
        }
        if (!demanded.empty()) {
            // Extra reads go out between two scheduled transactions, one attempt each; what
            // is due is looked at again afterwards.
            hand_over();
            for (const std::size_t index : demanded) {
                DevicePollResult result = read_device(index);
                result.on_demand = true;
                on_result_(std::move(result));
            }
            continue;
        }
        const auto index = static_cast<std::size_t>(due - schedule.begin());
        Schedule& s = *due;
        const PolledDevice& device = devices_[index];

        if (!s.awaiting_result && Clock::now() < s.backoff_until) {
            // Still a reading every period (quality: failed), but no bus time spent on it.
            auto result = failed_result(index, "not polled: backing off after " +
                                                   std::to_string(s.failures_in_row) +
                                                   " failed polls in a row");
            result.backed_off = true;
            keep(std::move(result));
        } else {
            std::optional<DevicePollResult> result;
            if (device.profile.trigger && !s.awaiting_result) {
                DevicePollResult failure;
                if (auto wait = trigger(index, s.probe_wait, failure)) {
                    // Release the bus while the probe measures: others are polled meanwhile.
                    s.awaiting_result = true;
                    s.next_due = Clock::now() + *wait;
                    continue;
                }
                result = std::move(failure);
            } else {
                s.awaiting_result = false;
                result = read_device(index);
                for (int attempt = 0; attempt < device.retries && !result->ok && result->timed_out;
                     ++attempt)
                    result = read_device(index);
            }
            if (result->ok) {
                s.failures_in_row = 0;
            } else {
                s.probe_wait.reset();  // re-read after a failure: the probe may be a new one
                if (++s.failures_in_row >= device.backoff_after_failures) {
                    // Probed again once the back-off has passed; a failed probe backs off again.
                    s.backoff_until = Clock::now() + device.backoff;
                }
            }
            {
                std::lock_guard lock(mutex_);
                ++stats_.polls;
                if (!result->ok) ++stats_.failures;
            }
            keep(std::move(*result));
        }

        // Fixed-rate schedule: the next cycle starts one period after this cycle's slot.
        s.slot += device.poll_period;
        // Fell behind (slow bus, long timeouts): skip missed slots instead of bursting.
        if (s.slot < Clock::now()) s.slot = Clock::now() + device.poll_period;
        s.next_due = s.slot;
    }
    hand_over();
}

bool ModbusBus::apply_serial_options(const RtuEndpoint& rtu, std::string& error) {
    modbus_t* ctx = context_->ctx;
    if (rtu.rs485 == Rs485Mode::Kernel && modbus_rtu_set_serial_mode(ctx, MODBUS_RTU_RS485) == -1) {
        error = rtu.port +
                " does not support kernel RS-485 mode (TIOCSRS485): " + modbus_strerror(errno) +
                "; use \"rs485\": \"auto\" for adapters that switch direction themselves "
                "(most USB-RS485 adapters) or \"rts\"";
        return false;
    }
    if (rtu.rs485 == Rs485Mode::Rts) {
        if (modbus_rtu_set_rts(
                ctx, rtu.rts_active_high ? MODBUS_RTU_RTS_UP : MODBUS_RTU_RTS_DOWN) == -1) {
            error = rtu.port + ": cannot use RTS direction control: " + modbus_strerror(errno);
            return false;
        }
        if (rtu.rts_delay_us >= 0 && modbus_rtu_set_rts_delay(ctx, rtu.rts_delay_us) == -1) {
            error = rtu.port + ": cannot set the RTS delay: " + modbus_strerror(errno);
            return false;
        }
    }
    if (rtu.byte_timeout.count() > 0) {
        const auto ms = rtu.byte_timeout.count();
        modbus_set_byte_timeout(ctx, static_cast<std::uint32_t>(ms / 1000),
                                static_cast<std::uint32_t>((ms % 1000) * 1000));
    }
    return true;
}

bool ModbusBus::connect_rtu_over_tcp(const RtuOverTcpEndpoint& endpoint, std::string& error) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const std::string port = std::to_string(endpoint.port);
    if (const int rc = getaddrinfo(endpoint.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
        error = "resolve " + endpoint.host + ": " + gai_strerror(rc);
        return false;
    }
    int fd = -1;
    int last_errno = 0;
    for (addrinfo* ai = found; ai != nullptr && fd == -1; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd == -1) continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
            last_errno = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(found);
    if (fd == -1) {
        error = "connect " + modbus::describe(endpoint_) + ": " + std::strerror(last_errno);
        return false;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // libmodbus's RTU backend only read()s, write()s and select()s on the descriptor, so a
    // TCP socket carries RTU frames unchanged; we never modbus_connect() this context.
    modbus_set_socket(context_->ctx, fd);
    context_->own_socket = fd;
    return true;
}

bool ModbusBus::ensure_connected(std::string& error) {
    if (tcp_) {
        if (tcp_->connected()) return true;
        if (!tcp_->connect(connect_timeout_, error)) return false;
        std::lock_guard lock(mutex_);
        ++stats_.reconnects;
        return true;
    }
    if (context_->connected) return true;
    if (context_->ctx == nullptr) {
        if (const auto* rtu = std::get_if<RtuEndpoint>(&endpoint_)) {
            context_->ctx = modbus_new_rtu(rtu->port.c_str(), rtu->baud, rtu->parity,
                                           rtu->data_bits, rtu->stop_bits);
        } else {
            // RTU over TCP: libmodbus's RTU framing on our own socket (Modbus TCP endpoints use
            // ModbusTcpClient and never get here).
            const auto& over = std::get<RtuOverTcpEndpoint>(endpoint_);
            context_->ctx = modbus_new_rtu(over.host.c_str(), over.line.baud, over.line.parity,
                                           over.line.data_bits, over.line.stop_bits);
        }
        if (context_->ctx == nullptr) {
            error = std::string("cannot create modbus context: ") + modbus_strerror(errno);
            return false;
        }
    }
    if (const auto* over = std::get_if<RtuOverTcpEndpoint>(&endpoint_)) {
        if (!connect_rtu_over_tcp(*over, error)) return false;
    } else {
        if (modbus_connect(context_->ctx) == -1) {
            error = "connect " + modbus::describe(endpoint_) + ": " + modbus_strerror(errno);
            return false;
        }
        if (const auto* rtu = std::get_if<RtuEndpoint>(&endpoint_)) {
            if (!apply_serial_options(*rtu, error)) {
                modbus_close(context_->ctx);
                return false;
            }
        }
    }
    context_->connected = true;
    std::lock_guard lock(mutex_);
    ++stats_.reconnects;
    return true;
}

void ModbusBus::disconnect() {
    if (tcp_) {
        tcp_->close();
        return;
    }
    if (context_->own_socket != -1) {
        modbus_set_socket(context_->ctx, -1);
        close(context_->own_socket);
        context_->own_socket = -1;
    } else if (context_->ctx != nullptr && context_->connected) {
        modbus_close(context_->ctx);
    }
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
    for (auto& point : result.points) {
        point.fault = drivers::PointFault::Comm;
        point.error = result.error;
    }
    return result;
}

DevicePollResult ModbusBus::transaction_failed(std::size_t device_index, const std::string& what,
                                               int got, int err) {
    const std::string text = what + ": " + (got == -1 ? modbus_strerror(err) : "short response");
    // A broken TCP connection or a vanished serial device needs a fresh connect; a timeout or
    // a Modbus exception does not, but stale bytes of a late answer must not be taken for the
    // next one.
    if (err == ECONNRESET || err == EPIPE || err == EBADF || err == EIO || err == ENOTCONN ||
        err == ECONNREFUSED) {
        disconnect();
    } else if (tcp_) {
        // Nothing to flush: a late answer carries an old transaction id and is dropped.
    } else if (context_->own_socket != -1) {
        char sink[256];
        while (recv(context_->own_socket, sink, sizeof sink, MSG_DONTWAIT) > 0) {
        }
    } else {
        modbus_flush(context_->ctx);
    }
    auto failed = failed_result(device_index, text);
    failed.timed_out = got == -1 && err == ETIMEDOUT;
    failed.crc_error = got == -1 && err == EMBBADCRC;
    if (got == -1 && err > MODBUS_ENOBASE && err < EMBXGTAR + 1)
        failed.exception_code = err - MODBUS_ENOBASE;
    return failed;
}

bool ModbusBus::address(const PolledDevice& device, std::string& error) {
    if (tcp_) return true;  // the unit id and timeout travel with each request
    modbus_t* ctx = context_->ctx;
    // Never poll the previously addressed unit by mistake.
    if (modbus_set_slave(ctx, device.unit_id) == -1) {
        error =
            "cannot address unit " + std::to_string(device.unit_id) + ": " + modbus_strerror(errno);
        return false;
    }
    const auto timeout_ms = device.response_timeout.count();
    modbus_set_response_timeout(ctx, static_cast<std::uint32_t>(timeout_ms / 1000),
                                static_cast<std::uint32_t>((timeout_ms % 1000) * 1000));
    return true;
}

namespace {
/// Our TCP client's outcome in libmodbus's convention (count, or -1 and an errno value), so
/// one classification serves both transports.
int as_libmodbus(const ModbusTcpClient::Result& r, int count, int& err) {
    using Status = ModbusTcpClient::Status;
    switch (r.status) {
        case Status::Ok:
            return count;
        case Status::Timeout:
            err = ETIMEDOUT;
            break;
        case Status::Exception:
            err = MODBUS_ENOBASE + r.exception_code;
            break;
        case Status::Disconnected:
            err = ECONNRESET;
            break;
        case Status::Malformed:
            err = EMBBADDATA;
            break;
    }
    return -1;
}
}  // namespace

int ModbusBus::read_words(const PolledDevice& device, RegisterTable table, std::uint16_t start,
                          std::uint16_t count, std::uint16_t* out, int& err) {
    if (tcp_)
        return as_libmodbus(tcp_->read_registers(static_cast<std::uint8_t>(device.unit_id), table,
                                                 start, count, out, device.response_timeout),
                            count, err);
    const int got = table == RegisterTable::Holding
                        ? modbus_read_registers(context_->ctx, start, count, out)
                        : modbus_read_input_registers(context_->ctx, start, count, out);
    err = errno;
    return got;
}

int ModbusBus::write_trigger(const PolledDevice& device, const TriggerSpec& spec, int& err) {
    const bool single = spec.function == TriggerSpec::Function::WriteSingle;
    if (tcp_) {
        const auto unit = static_cast<std::uint8_t>(device.unit_id);
        return as_libmodbus(
            single
                ? tcp_->write_register(unit, spec.address, spec.value, device.response_timeout)
                : tcp_->write_registers(unit, spec.address, {spec.value}, device.response_timeout),
            1, err);
    }
    const int got = single ? modbus_write_register(context_->ctx, spec.address, spec.value)
                           : modbus_write_registers(context_->ctx, spec.address, 1, &spec.value);
    err = errno;
    return got;
}

std::optional<std::chrono::milliseconds> ModbusBus::trigger(
    std::size_t device_index, std::optional<std::chrono::milliseconds>& probe_wait,
    DevicePollResult& failure) {
    const PolledDevice& device = devices_[device_index];
    const TriggerSpec& spec = *device.profile.trigger;
    std::string error;
    if (!ensure_connected(error)) {
        failure = failed_result(device_index, error);
        return std::nullopt;
    }
    if (!address(device, error)) {
        failure = failed_result(device_index, error);
        return std::nullopt;
    }
    const std::chrono::milliseconds fallback(spec.wait_ms);
    std::chrono::milliseconds wait = probe_wait.value_or(fallback);
    if (spec.wait_register && !probe_wait) {
        // The probe knows its own measuring time (it depends on averaging settings).
        std::uint16_t wait_word = 0;
        wait_line_silence();
        const auto started = Clock::now();
        int err = 0;
        const int got =
            read_words(device, RegisterTable::Holding, *spec.wait_register, 1, &wait_word, err);
        account(device_index, started);
        if (got != 1) {
            failure = transaction_failed(device_index,
                                         "FC03 unit " + std::to_string(device.unit_id) + " @" +
                                             std::to_string(*spec.wait_register) +
                                             "+1 (measurement wait time)",
                                         got, err);
            return std::nullopt;
        }
        wait = std::min(std::chrono::milliseconds(wait_word), fallback);
        probe_wait = wait;
    }
    wait_line_silence();
    const auto started = Clock::now();
    int err = 0;
    const int got = write_trigger(device, spec, err);
    account(device_index, started);
    if (got != 1) {
        failure = transaction_failed(
            device_index,
            std::string(spec.function == TriggerSpec::Function::WriteSingle ? "FC06" : "FC16") +
                " unit " + std::to_string(device.unit_id) + " @" + std::to_string(spec.address) +
                " (measurement trigger)",
            got, err);
        return std::nullopt;
    }
    return wait;
}

DevicePollResult ModbusBus::read_device(std::size_t device_index) {
    const PolledDevice& device = devices_[device_index];
    DevicePollResult result;
    result.device_index = device_index;

    std::string error;
    if (!ensure_connected(error)) return failed_result(device_index, error);

    if (!address(device, error)) return failed_result(device_index, error);

    RegisterImage image;
    std::vector<std::uint16_t> words;
    std::chrono::steady_clock::duration on_line{0};
    for (const ReadBlock& block : read_plans_[device_index]) {
        words.assign(block.count, 0);
        wait_line_silence();
        const auto started = Clock::now();
        int err = 0;
        const int got =
            read_words(device, block.table, block.start, block.count, words.data(), err);
        account(device_index, started);
        on_line += Clock::now() - started;
        if (got != block.count) {
            return transaction_failed(
                device_index,
                std::string(block.table == RegisterTable::Holding ? "FC03" : "FC04") + " unit " +
                    std::to_string(device.unit_id) + " @" + std::to_string(block.start) + "+" +
                    std::to_string(block.count),
                got, err);
        }
        image.store(block, words.data());
    }

    result.sampled_at = std::chrono::system_clock::now();
    result.sampled_mono = std::chrono::steady_clock::now();
    result.round_trip = std::chrono::duration_cast<std::chrono::microseconds>(on_line);
    result.ok = true;
    for (const auto& spec : device.profile.registers)
        result.points.push_back(decode_point(image, spec));
    return result;
}

}  // namespace gw::modbus
