// SPDX-License-Identifier: Apache-2.0
#include "modbus_sim/slave_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <ctime>
#include <fstream>
#include <stdexcept>
#include <system_error>

namespace gw::sim {
namespace {

constexpr int kListenBacklog = 64;
constexpr std::size_t kMaxTcpClients = 200;
/// An RTU frame whose length cannot be told from its function code ends after this much
/// silence. A pty has no character timing, so this is generous compared with t3.5.
constexpr auto kRtuSilence = std::chrono::milliseconds(50);
/// A reply still unread in the pty after this long belongs to a client that went away.
constexpr auto kRtuStaleAfter = std::chrono::milliseconds(1000);
/// Pause after an unexpected pty read error, so a persistent error cannot spin the loop.
constexpr auto kRtuErrorBackoff = std::chrono::milliseconds(50);
constexpr std::size_t kRtuRxLimit = 1024;
/// Bounds how long modbus_receive() may block on a client that sent half a frame.
constexpr std::uint32_t kTcpByteTimeout_us = 50'000;
/// libmodbus sleeps for the response timeout before some exception replies; keep it tiny.
constexpr std::uint32_t kReplySleep_us = 1'000;
constexpr auto kStatsFilePeriod = std::chrono::seconds(1);
constexpr auto kMqttConnectTimeout = std::chrono::seconds(10);
constexpr auto kMqttDrainTimeout = std::chrono::seconds(2);

constexpr int kFcReadHolding = 0x03;
constexpr int kFcReadInput = 0x04;
constexpr int kFcWriteSingleRegister = 0x06;
constexpr int kFcWriteMultipleRegisters = 0x10;
constexpr int kFcReadWriteMultiple = 0x17;
constexpr std::uint8_t kExceptionBit = 0x80;

[[noreturn]] void throw_errno(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

void set_nonblocking(int fd) {
    const int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        throw_errno("fcntl(O_NONBLOCK)");
    }
}

/// CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF), sent low byte first.
std::uint16_t crc16_modbus(const std::uint8_t* data, std::size_t length) {
    std::uint16_t crc = 0xFFFF;
    for (std::size_t i = 0; i < length; ++i) {
        crc = static_cast<std::uint16_t>(crc ^ data[i]);
        for (int bit = 0; bit < 8; ++bit) {
            const bool lsb = (crc & 1U) != 0;
            crc = static_cast<std::uint16_t>(crc >> 1);
            if (lsb) {
                crc = static_cast<std::uint16_t>(crc ^ 0xA001U);
            }
        }
    }
    return crc;
}

bool rtu_crc_ok(const std::uint8_t* frame, std::size_t length) {
    if (length < 4) {
        return false;
    }
    const std::uint16_t received =
        static_cast<std::uint16_t>(frame[length - 2] | (frame[length - 1] << 8));
    return crc16_modbus(frame, length - 2) == received;
}

/// Length of the RTU request at the start of `buf` (address + PDU + CRC), from its function
/// code. std::nullopt: not enough bytes yet to tell. 0: function unknown here, the frame ends
/// at the next silence.
std::optional<std::size_t> rtu_request_length(const std::uint8_t* buf, std::size_t have) {
    if (have < 2) {
        return std::nullopt;
    }
    switch (buf[1]) {
        case 0x01:  // read coils
        case 0x02:  // read discrete inputs
        case 0x03:  // read holding registers
        case 0x04:  // read input registers
        case 0x05:  // write single coil
        case 0x06:  // write single register
            return 8;
        case 0x07:  // read exception status
        case 0x0B:  // comm event counter
        case 0x0C:  // comm event log
        case 0x11:  // report server id
            return 4;
        case 0x0F:  // write multiple coils: addr fc start(2) qty(2) bytes(1) data crc(2)
        case 0x10:  // write multiple registers
            if (have < 7) return std::nullopt;
            return std::size_t{9} + buf[6];
        case 0x16:  // mask write register
            return 10;
        case 0x17:  // read/write multiple registers: ... write bytes at offset 10
            if (have < 11) return std::nullopt;
            return std::size_t{13} + buf[10];
        default:
            return 0;
    }
}

std::int64_t unix_ms(std::chrono::system_clock::time_point at) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count();
}

double local_hour_now() {
    const std::time_t now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    return local.tm_hour + local.tm_min / 60.0 + local.tm_sec / 3600.0;
}

std::string unit_list(const std::map<int, DeviceModel*>& units) {
    std::string text;
    for (const auto& [unit, device] : units) {
        text += (text.empty() ? "" : ", ") + std::to_string(unit) + "=" + device->id();
    }
    return text;
}

using Clock = std::chrono::steady_clock;

Clock::duration from_ms(double ms) {
    return std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double, std::milli>(ms));
}

double to_ms(Clock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
}

speed_t termios_speed(int baud) {
    switch (baud) {
        case 1200:
            return B1200;
        case 2400:
            return B2400;
        case 4800:
            return B4800;
        case 19200:
            return B19200;
        case 38400:
            return B38400;
        case 57600:
            return B57600;
        case 115200:
            return B115200;
        default:
            return B9600;  // a pty ignores the speed anyway
    }
}

/// Closes a TCP connection with a reset instead of an orderly FIN, like a device that drops
/// off the network.
void reset_connection(int fd) {
    const linger abort_on_close{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
}

nlohmann::ordered_json counters_json(const DeviceCounters& c, bool trigger) {
    nlohmann::ordered_json j;
    j["requests"] = c.requests;
    j["replies"] = c.replies;
    j["faulted"] = c.faulted;
    j["early_reads"] = c.early_reads;
    if (trigger) j["triggers"] = c.triggers;
    return j;
}

}  // namespace

/// One accepted Modbus TCP connection with its own libmodbus context.
struct SlaveServer::TcpClient {
    struct Pending {
        Clock::time_point due;
        std::vector<std::uint8_t> bytes;
        DeviceModel* device{nullptr};  ///< null for a 0x0B reply to an unknown unit
        std::vector<ServedValue> served;
        std::optional<double> measured_s;
    };
    int fd{-1};
    modbus_t* ctx{nullptr};
    std::deque<Pending> pending;  ///< replies in request order (slow faults delay them)
    std::vector<int> units;       ///< unit ids this connection has addressed
    TcpClient() = default;
    TcpClient(const TcpClient&) = delete;
    TcpClient& operator=(const TcpClient&) = delete;
    ~TcpClient() {
        if (ctx != nullptr) {
            modbus_free(ctx);  // does not close the socket we own
        }
        if (fd >= 0) {
            ::close(fd);
        }
    }
};

/// One way onto the simulated RTU line: the pty, or one RTU-over-TCP connection.
struct SlaveServer::RtuPort {
    std::uint64_t id{0};
    int fd{-1};
    bool is_pty{false};  ///< the pty master fd is owned by the server, not the port
    std::vector<std::uint8_t> rx;
    Clock::time_point last_rx{};
    RtuPort() = default;
    RtuPort(const RtuPort&) = delete;
    RtuPort& operator=(const RtuPort&) = delete;
    ~RtuPort() {
        if (!is_pty && fd >= 0) ::close(fd);
    }
};

/// A complete, CRC-checked request waiting for the line.
struct SlaveServer::RtuFrame {
    std::uint64_t port_id{0};
    std::vector<std::uint8_t> bytes;
    Clock::time_point received{};
};

/// The one reply the half-duplex line may have in flight.
struct SlaveServer::PendingRtuReply {
    std::uint64_t port_id{0};
    std::vector<std::uint8_t> bytes;
    Clock::time_point due{};
    DeviceModel* device{nullptr};
    std::vector<ServedValue> served;
    std::optional<double> measured_s;
};

struct SlaveServer::CapturedReply {
    std::vector<std::uint8_t> bytes;  ///< empty: no reply (broadcast) or an error
    std::vector<ServedValue> served;
    std::optional<double> measured_s;
};

SlaveServer::SlaveServer(const Scenario& scenario, ServerOptions options)
    : scenario_(scenario),
      options_(std::move(options)),
      rtu_line_(scenario.rtu_line),
      rng_(options_.seed),
      faults_(options_.seed) {
    sim_clock_.time_scale = options_.time_scale;
    sim_clock_.start_hour_of_day = scenario.start_hour.value_or(local_hour_now());
    if (!options_.lorawan_only) {
        for (const auto& config : scenario.devices) {
            devices_.push_back(std::make_unique<DeviceModel>(config, options_.seed));
            DeviceModel* device = devices_.back().get();
            (device->transport() == Transport::Tcp ? tcp_units_ : rtu_units_)[device->unit_id()] =
                device;
            device_counters_[device->id()] = DeviceCounters{};
        }
    }
    if (!scenario.lorawan.devices.empty()) {
        lorawan_ = std::make_unique<LorawanFleet>(scenario.lorawan, options_.seed);
    }
    for (const auto& fault : scenario.faults) {
        faults_.add(fault);
    }
    next_fault_edge_s_ = faults_.next_edge_after(0.0);
}

SlaveServer::~SlaveServer() {
    clients_.clear();
    rtu_ports_.clear();
    for (const int fd : {listen_fd_, rtu_listen_fd_, capture_read_fd_, capture_write_fd_}) {
        if (fd >= 0) ::close(fd);
    }
    if (rtu_ctx_ != nullptr) {
        // Not modbus_close(): it would tcsetattr() settings that modbus_connect() never saved
        // (we never connect) and close the capture fd, which we own.
        modbus_free(rtu_ctx_);
    }
    if (pty_master_fd_ >= 0) {
        ::close(pty_master_fd_);
    }
    if (pty_slave_fd_ >= 0) {
        ::close(pty_slave_fd_);
    }
    if (pty_link_created_) {
        // Remove the link only if it still points at our pty.
        std::array<char, 256> target{};
        const ssize_t n = ::readlink(options_.pty_link.c_str(), target.data(), target.size() - 1);
        if (n > 0 && std::string(target.data(), static_cast<std::size_t>(n)) == pty_slave_path_) {
            ::unlink(options_.pty_link.c_str());
        }
    }
    if (served_log_ != nullptr) {
        std::fclose(served_log_);
    }
}

void SlaveServer::add_fault(FaultSpec spec) {
    faults_.add(std::move(spec));
    next_fault_edge_s_ = faults_.next_edge_after(elapsed_s(Clock::now()));
}

void SlaveServer::open() {
    if (!options_.served_log_path.empty()) {
        served_log_ = std::fopen(options_.served_log_path.c_str(), "ae");
        if (served_log_ == nullptr) {
            throw_errno("cannot open served log " + options_.served_log_path);
        }
    }
    int capture[2] = {-1, -1};
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, capture) < 0) {
        throw_errno("socketpair");
    }
    capture_read_fd_ = capture[0];
    capture_write_fd_ = capture[1];
    if (!tcp_units_.empty()) {
        open_tcp();
    }
    if (!rtu_units_.empty()) {
        open_rtu_pty();
        if (options_.rtu_tcp_port) {
            open_rtu_tcp();
        }
    }
    if (!options_.control_socket_path.empty()) {
        control_ = std::make_unique<ControlSocket>(options_.control_socket_path);
        control_->open();
    }
    if (lorawan_) {
        mqtt_ = std::make_unique<MqttPublisher>(options_.broker_uri,
                                                "towngw-sim-" + std::to_string(::getpid()));
        mqtt_->connect(kMqttConnectTimeout);
    }
    // Time zero (fault windows, uplink slots, waveforms) is when everything is up, not when
    // the MQTT connection started.
    started_ = Clock::now();
    started_wall_ = std::chrono::system_clock::now();
    next_stats_write_ = started_;
}

void SlaveServer::open_tcp() {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(options_.tcp_port);
    if (inet_pton(AF_INET, options_.tcp_host.c_str(), &addr.sin_addr) != 1) {
        throw std::runtime_error("--tcp-host: not an IPv4 address: " + options_.tcp_host);
    }
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) {
        throw_errno("socket");
    }
    const int on = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    // libmodbus' modbus_tcp_listen() cannot bind port 0, hence our own socket.
    if (::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0) {
        throw_errno("bind " + options_.tcp_host + ":" + std::to_string(options_.tcp_port));
    }
    if (::listen(listen_fd_, kListenBacklog) < 0) {
        throw_errno("listen");
    }
    sockaddr_in bound{};
    socklen_t len = sizeof bound;
    if (::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len) < 0) {
        throw_errno("getsockname");
    }
    bound_port_ = ntohs(bound.sin_port);
}

void SlaveServer::open_rtu_tcp() {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(*options_.rtu_tcp_port);
    if (inet_pton(AF_INET, options_.tcp_host.c_str(), &addr.sin_addr) != 1) {
        throw std::runtime_error("--tcp-host: not an IPv4 address: " + options_.tcp_host);
    }
    rtu_listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (rtu_listen_fd_ < 0) {
        throw_errno("socket");
    }
    const int on = 1;
    ::setsockopt(rtu_listen_fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (::bind(rtu_listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0) {
        throw_errno("bind " + options_.tcp_host + ":" + std::to_string(*options_.rtu_tcp_port));
    }
    if (::listen(rtu_listen_fd_, kListenBacklog) < 0) {
        throw_errno("listen");
    }
    sockaddr_in bound{};
    socklen_t len = sizeof bound;
    if (::getsockname(rtu_listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len) < 0) {
        throw_errno("getsockname");
    }
    rtu_bound_port_ = ntohs(bound.sin_port);
}

void SlaveServer::open_rtu_pty() {
    pty_master_fd_ = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (pty_master_fd_ < 0) {
        throw_errno("posix_openpt");
    }
    if (::grantpt(pty_master_fd_) < 0 || ::unlockpt(pty_master_fd_) < 0) {
        throw_errno("grantpt/unlockpt");
    }
    std::array<char, 128> name{};
    if (::ptsname_r(pty_master_fd_, name.data(), name.size()) != 0) {
        throw_errno("ptsname_r");
    }
    pty_slave_path_ = name.data();
    // Keep one slave fd for our whole life: without it the master reads EIO and polls HUP
    // whenever no client has the pty open (between gateway restarts, reconnects...).
    pty_slave_fd_ = ::open(pty_slave_path_.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (pty_slave_fd_ < 0) {
        throw_errno("open " + pty_slave_path_);
    }
    termios tio{};
    if (::tcgetattr(pty_slave_fd_, &tio) < 0) {
        throw_errno("tcgetattr " + pty_slave_path_);
    }
    ::cfmakeraw(&tio);  // no echo, no CR/LF mangling: binary frames pass untouched
    ::cfsetispeed(&tio, termios_speed(rtu_line_.baud));
    ::cfsetospeed(&tio, termios_speed(rtu_line_.baud));
    if (::tcsetattr(pty_slave_fd_, TCSANOW, &tio) < 0) {
        throw_errno("tcsetattr " + pty_slave_path_);
    }
    set_nonblocking(pty_master_fd_);

    // A libmodbus RTU context used only to build replies. It writes them into the capture
    // socket; the line decides when they reach the pty. No modbus_connect(): that would open
    // and reconfigure the slave path like a client.
    rtu_ctx_ = modbus_new_rtu(pty_slave_path_.c_str(), rtu_line_.baud, rtu_line_.parity,
                              rtu_line_.data_bits, rtu_line_.stop_bits);
    if (rtu_ctx_ == nullptr) {
        throw_errno("modbus_new_rtu");
    }
    modbus_set_socket(rtu_ctx_, capture_write_fd_);
    modbus_set_response_timeout(rtu_ctx_, 0, kReplySleep_us);

    auto port = std::make_unique<RtuPort>();
    port->id = next_port_id_++;
    port->fd = pty_master_fd_;
    port->is_pty = true;
    rtu_ports_.push_back(std::move(port));

    if (!options_.pty_link.empty()) {
        struct stat st {};
        if (::lstat(options_.pty_link.c_str(), &st) == 0) {
            if (!S_ISLNK(st.st_mode)) {
                throw std::runtime_error("--pty-link: " + options_.pty_link +
                                         " exists and is not a symlink");
            }
            ::unlink(options_.pty_link.c_str());  // stale link from an earlier run
        }
        if (::symlink(pty_slave_path_.c_str(), options_.pty_link.c_str()) < 0) {
            throw_errno("symlink " + options_.pty_link);
        }
        pty_link_created_ = true;
    }
}

std::optional<std::uint16_t> SlaveServer::tcp_port() const {
    if (listen_fd_ < 0) return std::nullopt;
    return bound_port_;
}

std::optional<std::uint16_t> SlaveServer::rtu_tcp_port() const {
    if (rtu_listen_fd_ < 0) return std::nullopt;
    return rtu_bound_port_;
}

std::optional<std::string> SlaveServer::rtu_pty() const {
    if (pty_master_fd_ < 0) return std::nullopt;
    return pty_slave_path_;
}

std::vector<std::string> SlaveServer::describe_listeners() const {
    std::vector<std::string> lines;
    if (listen_fd_ >= 0) {
        lines.push_back("modbus-tcp " + options_.tcp_host + ":" + std::to_string(bound_port_) +
                        " units " + unit_list(tcp_units_));
    }
    if (pty_master_fd_ >= 0) {
        std::string line = "modbus-rtu " + pty_slave_path_;
        if (pty_link_created_) {
            line += " (link " + options_.pty_link + ")";
        }
        std::array<char, 32> turnaround{};
        std::snprintf(turnaround.data(), turnaround.size(), "%g", rtu_line_.turnaround_ms);
        lines.push_back(line + " " + describe(rtu_line_) + ", turnaround " + turnaround.data() +
                        " ms, wire delay " + (rtu_line_.wire_delay ? "on" : "off") + ", slaves " +
                        unit_list(rtu_units_));
    }
    if (rtu_listen_fd_ >= 0) {
        lines.push_back("modbus-rtu-over-tcp " + options_.tcp_host + ":" +
                        std::to_string(rtu_bound_port_) + " (same RTU line)");
    }
    if (control_) {
        lines.push_back("control socket " + control_->path());
    }
    if (lorawan_) {
        lines.push_back("lorawan " + std::to_string(lorawan_->size()) +
                        " device(s) -> ChirpStack v4 uplinks on " + options_.broker_uri);
    }
    return lines;
}

double SlaveServer::elapsed_s(Clock::time_point at) const {
    return std::chrono::duration<double>(at - started_).count();
}

SimInstant SlaveServer::sim_now() const {
    return sim_clock_.at(elapsed_s(Clock::now()));
}

DeviceCounters& SlaveServer::counters(const DeviceModel& device) {
    return device_counters_[device.id()];
}

void SlaveServer::run(int stop_fd) {
    while (poll_once(stop_fd, -1)) {
    }
}

std::optional<SlaveServer::Clock::time_point> SlaveServer::next_deadline() const {
    std::optional<Clock::time_point> deadline;
    const auto earliest = [&](Clock::time_point t) {
        if (!deadline || t < *deadline) deadline = t;
    };
    for (const auto& port : rtu_ports_) {
        if (!port->rx.empty()) earliest(port->last_rx + kRtuSilence);
    }
    if (rtu_pending_) {
        earliest(rtu_pending_->due);
    } else if (!rtu_queue_.empty()) {
        earliest(std::max(rtu_queue_.front().received, rtu_line_free_at_));
    }
    for (const auto& client : clients_) {
        if (!client->pending.empty()) earliest(client->pending.front().due);
    }
    if (rtu_tx_unchecked_) earliest(rtu_last_tx_ + kRtuStaleAfter);
    if (rtu_backoff_until_ > Clock::now()) earliest(rtu_backoff_until_);
    if (next_fault_edge_s_) earliest(started_ + from_ms(*next_fault_edge_s_ * 1000.0));
    if (lorawan_ && mqtt_) {
        if (const auto due = lorawan_->next_due_s()) earliest(started_ + from_ms(*due * 1000.0));
    }
    if (!options_.stats_file_path.empty()) earliest(next_stats_write_);
    return deadline;
}

bool SlaveServer::poll_once(int stop_fd, int timeout_ms) {
    std::vector<pollfd> fds;
    fds.push_back({stop_fd, POLLIN, 0});
    const std::size_t listen_index = fds.size();
    if (listen_fd_ >= 0) fds.push_back({listen_fd_, POLLIN, 0});
    const std::size_t rtu_listen_index = fds.size();
    if (rtu_listen_fd_ >= 0) fds.push_back({rtu_listen_fd_, POLLIN, 0});
    const bool pty_active = Clock::now() >= rtu_backoff_until_;
    const std::size_t ports_index = fds.size();
    for (const auto& port : rtu_ports_) {
        // A port that is not polled still takes a slot, so indices line up.
        fds.push_back({port->is_pty && !pty_active ? -1 : port->fd, POLLIN, 0});
    }
    const std::size_t polled_ports = rtu_ports_.size();
    const std::size_t clients_index = fds.size();
    for (const auto& client : clients_) fds.push_back({client->fd, POLLIN, 0});
    const std::size_t polled_clients = clients_.size();
    if (control_) control_->add_poll_fds(fds);

    // ppoll: reply times are computed to the microsecond, poll() would round to 1 ms.
    std::optional<Clock::duration> wait;
    if (const auto deadline = next_deadline()) {
        wait = std::max(Clock::duration::zero(), *deadline - Clock::now());
    }
    if (timeout_ms >= 0) {
        const Clock::duration limit = std::chrono::milliseconds(timeout_ms);
        wait = wait ? std::min(*wait, limit) : limit;
    }
    timespec wait_ts{};
    if (wait) {
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(*wait).count();
        wait_ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
        wait_ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    }
    const int rc = ::ppoll(fds.data(), fds.size(), wait ? &wait_ts : nullptr, nullptr);
    if (rc < 0) {
        if (errno == EINTR) return true;
        throw_errno("poll");
    }
    if (fds[0].revents != 0) {
        return false;
    }
    if (listen_fd_ >= 0 && (fds[listen_index].revents & POLLIN) != 0) {
        accept_clients();
    }
    for (std::size_t i = 0; i < polled_ports; ++i) {
        if (fds[ports_index + i].revents == 0) continue;
        if (!read_rtu_port(*rtu_ports_[i])) {
            rtu_ports_[i].reset();  // an RTU-over-TCP client went away
        }
    }
    rtu_ports_.erase(std::remove(rtu_ports_.begin(), rtu_ports_.end(), nullptr), rtu_ports_.end());
    if (rtu_listen_fd_ >= 0 && (fds[rtu_listen_index].revents & POLLIN) != 0) {
        accept_rtu_tcp_clients();
    }
    // Serve clients in the order polled; closed ones are removed afterwards. New clients
    // accepted above sit past the polled range and are picked up next time.
    for (std::size_t i = 0; i < polled_clients; ++i) {
        if (fds[clients_index + i].revents == 0 || !clients_[i]) continue;
        if (!serve_tcp_client(*clients_[i])) {
            clients_[i].reset();
        }
    }
    clients_.erase(std::remove(clients_.begin(), clients_.end(), nullptr), clients_.end());
    if (control_) {
        control_->handle(fds, [this](const std::string& line) { return handle_control(line); });
    }
    run_timers(Clock::now());
    return true;
}

void SlaveServer::run_timers(Clock::time_point now) {
    for (auto& port : rtu_ports_) {
        if (!port->rx.empty() && now - port->last_rx >= kRtuSilence) {
            frame_rtu_input(*port, /*silence_elapsed=*/true);
        }
    }
    pump_rtu_line(now);
    for (auto& client : clients_) {
        if (!flush_tcp_replies(*client, now)) client.reset();
    }
    clients_.erase(std::remove(clients_.begin(), clients_.end(), nullptr), clients_.end());
    if (rtu_tx_unchecked_ && now - rtu_last_tx_ >= kRtuStaleAfter) {
        check_stale_rtu_output();
    }
    const double elapsed = elapsed_s(now);
    if (next_fault_edge_s_ && elapsed >= *next_fault_edge_s_) {
        apply_disconnect_faults();
        next_fault_edge_s_ = faults_.next_edge_after(elapsed);
    }
    if (lorawan_ && mqtt_) {
        if (const auto due = lorawan_->next_due_s(); due && *due <= elapsed) {
            lorawan_->run_due(
                elapsed, std::chrono::system_clock::now(), sim_clock_, faults_,
                [this](const std::string& topic, const std::string& payload) {
                    return mqtt_->publish(topic, payload);
                },
                [this](const LorawanDeviceConfig& device, const Uplink& uplink,
                       std::string_view kind) { log_uplink(device, uplink, kind); });
        }
    }
    if (!options_.stats_file_path.empty() && now >= next_stats_write_) {
        write_stats_file();
        next_stats_write_ = now + kStatsFilePeriod;
    }
}

void SlaveServer::accept_clients() {
    for (;;) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            return;  // EAGAIN, or EMFILE & co: try again on the next readiness
        }
        // modbus_receive() select()s on the socket: an fd >= FD_SETSIZE would overflow fd_set.
        if (clients_.size() >= kMaxTcpClients || fd >= FD_SETSIZE) {
            ::close(fd);
            ++stats_.clients_rejected;
            continue;
        }
        const int on = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        auto client = std::make_unique<TcpClient>();
        client->fd = fd;
        client->ctx = modbus_new_tcp(nullptr, 0);
        if (client->ctx == nullptr) {
            continue;  // ~TcpClient closes fd
        }
        modbus_set_socket(client->ctx, fd);
        modbus_set_indication_timeout(client->ctx, 0, kTcpByteTimeout_us);
        modbus_set_byte_timeout(client->ctx, 0, kTcpByteTimeout_us);
        modbus_set_response_timeout(client->ctx, 0, kReplySleep_us);
        clients_.push_back(std::move(client));
        ++stats_.clients_accepted;
    }
}

void SlaveServer::accept_rtu_tcp_clients() {
    for (;;) {
        const int fd = ::accept4(rtu_listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            return;
        }
        if (rtu_ports_.size() >= kMaxTcpClients) {
            ::close(fd);
            ++stats_.clients_rejected;
            continue;
        }
        const int on = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        auto port = std::make_unique<RtuPort>();
        port->id = next_port_id_++;
        port->fd = fd;
        rtu_ports_.push_back(std::move(port));
        ++stats_.clients_accepted;
    }
}

std::vector<std::uint8_t> SlaveServer::take_captured() {
    std::vector<std::uint8_t> bytes;
    std::array<std::uint8_t, 512> chunk{};
    for (;;) {
        const ssize_t n = ::read(capture_read_fd_, chunk.data(), chunk.size());
        if (n > 0) {
            bytes.insert(bytes.end(), chunk.begin(), chunk.begin() + n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        return bytes;
    }
}

SlaveServer::CapturedReply SlaveServer::build_reply(modbus_t* ctx, DeviceModel& device,
                                                    const std::uint8_t* request, int length,
                                                    const ModbusFaultEffect& effect) {
    CapturedReply out;
    const double wall_s = elapsed_s(Clock::now());
    const bool trigger = device.has_trigger();
    if (trigger) {
        device.complete_due_measurement(wall_s, sim_clock_, rng_, effect.stuck);
    }
    take_captured();  // nothing stale may precede this reply
    if (effect.exception_code) {
        if (modbus_reply_exception(ctx, request, static_cast<unsigned>(*effect.exception_code)) <
            0) {
            ++stats_.reply_errors;
        }
        out.bytes = take_captured();
        return out;
    }
    const int header = modbus_get_header_length(ctx);
    const bool rtu_broadcast = header == 1 && request[0] == MODBUS_BROADCAST_ADDRESS;
    std::vector<ServedValue> served;
    // Refresh the registers a read will return; only plain reads are logged (FC23 writes
    // after our refresh, and a broadcast is never answered).
    if (length >= header + 5 && !rtu_broadcast) {
        const int function = request[header];
        const int address = (request[header + 1] << 8) | request[header + 2];
        const int count = (request[header + 3] << 8) | request[header + 4];
        const bool read_holding = function == kFcReadHolding || function == kFcReadWriteMultiple;
        if ((read_holding || function == kFcReadInput) && count <= MODBUS_MAX_READ_REGISTERS) {
            const RegisterTable table =
                read_holding ? RegisterTable::Holding : RegisterTable::Input;
            if (device.covers(table, address, count)) {
                if (trigger && device.measurement_pending() &&
                    device.overlaps_points(table, address, count)) {
                    ++counters(device).early_reads;  // the master did not wait long enough
                }
                served = device.refresh(table, address, count, sim_now(), rng_,
                                        /*resample=*/!effect.stuck && !trigger);
                if (function == kFcReadWriteMultiple) served.clear();
            }
        }
    }
    if (modbus_reply(ctx, request, length, device.mapping()) < 0) {
        ++stats_.reply_errors;
        take_captured();
        return out;
    }
    out.bytes = take_captured();
    const bool normal_reply = out.bytes.size() > static_cast<std::size_t>(header) &&
                              (out.bytes[static_cast<std::size_t>(header)] & kExceptionBit) == 0;
    if (trigger && (normal_reply || rtu_broadcast) && length >= header + 5) {
        const int function = request[header];
        int address = (request[header + 1] << 8) | request[header + 2];
        int count = 0;
        if (function == kFcWriteSingleRegister) {
            count = 1;
        } else if (function == kFcWriteMultipleRegisters) {
            count = (request[header + 3] << 8) | request[header + 4];
        } else if (function == kFcReadWriteMultiple && length >= header + 9) {
            address = (request[header + 5] << 8) | request[header + 6];
            count = (request[header + 7] << 8) | request[header + 8];
        }
        if (count > 0 && device.write_hits_trigger(address, count)) {
            device.start_measurement(wall_s);
            ++counters(device).triggers;
        }
    }
    if (trigger) {
        device.restore_read_only_registers();
        out.measured_s = device.last_measurement_s();
    }
    out.served = std::move(served);
    return out;
}

bool SlaveServer::serve_tcp_client(TcpClient& client) {
    std::array<std::uint8_t, MODBUS_TCP_MAX_ADU_LENGTH> request{};
    const int length = modbus_receive(client.ctx, request.data());
    if (length < 0) {
        const int error = errno;
        if (error == EMBBADDATA || error == ETIMEDOUT || error == EMBBADCRC || error == EMBMDATA) {
            // Truncated or garbled frame: count it, drop whatever else is queued, keep going.
            ++stats_.malformed;
            modbus_flush(client.ctx);
            return true;
        }
        return false;  // ECONNRESET (peer closed) or another socket error
    }
    if (length == 0) {
        return true;
    }
    const auto now = Clock::now();
    constexpr int kUnitIdOffset = 6;  // MBAP: transaction(2) protocol(2) length(2) unit(1)
    const auto unit = static_cast<int>(request[kUnitIdOffset]);
    const auto it = tcp_units_.find(unit);
    // Replies leave in request order, never before an earlier (slow) one.
    const auto queue_reply = [&](TcpClient::Pending pending) {
        if (!client.pending.empty()) pending.due = std::max(pending.due, client.pending.back().due);
        client.pending.push_back(std::move(pending));
    };
    modbus_set_socket(client.ctx, capture_write_fd_);
    if (it == tcp_units_.end()) {
        ++stats_.unknown_unit;
        take_captured();
        if (modbus_reply_exception(client.ctx, request.data(), MODBUS_EXCEPTION_GATEWAY_TARGET) <
            0) {
            ++stats_.reply_errors;
        }
        TcpClient::Pending pending;
        pending.due = now;
        pending.bytes = take_captured();
        modbus_set_socket(client.ctx, client.fd);
        queue_reply(std::move(pending));
        return flush_tcp_replies(client, now);
    }
    DeviceModel& device = *it->second;
    if (std::find(client.units.begin(), client.units.end(), unit) == client.units.end()) {
        client.units.push_back(unit);
    }
    ++stats_.requests;
    ++counters(device).requests;
    const ModbusFaultEffect effect = faults_.modbus_effect(device.id(), false, elapsed_s(now));
    if (effect.hit) ++counters(device).faulted;
    if (effect.disconnect) {
        modbus_set_socket(client.ctx, client.fd);
        ++stats_.disconnects;
        reset_connection(client.fd);
        return false;
    }
    if (effect.no_reply) {
        modbus_set_socket(client.ctx, client.fd);
        return true;
    }
    CapturedReply reply = build_reply(client.ctx, device, request.data(), length, effect);
    modbus_set_socket(client.ctx, client.fd);
    if (reply.bytes.empty()) {
        return true;
    }
    TcpClient::Pending pending;
    pending.due = now + from_ms(effect.extra_delay_ms);
    pending.bytes = std::move(reply.bytes);
    pending.device = &device;
    pending.served = std::move(reply.served);
    pending.measured_s = reply.measured_s;
    queue_reply(std::move(pending));
    return flush_tcp_replies(client, now);
}

bool SlaveServer::flush_tcp_replies(TcpClient& client, Clock::time_point now) {
    while (!client.pending.empty() && client.pending.front().due <= now) {
        TcpClient::Pending& reply = client.pending.front();
        const ssize_t n =
            ::send(client.fd, reply.bytes.data(), reply.bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n != static_cast<ssize_t>(reply.bytes.size())) {
            ++stats_.reply_errors;  // a Modbus reply is tiny: anything short means trouble
            return false;
        }
        if (reply.device != nullptr) {
            ++counters(*reply.device).replies;
            log_served(*reply.device, reply.served, reply.measured_s);
        }
        client.pending.pop_front();
    }
    return true;
}

void SlaveServer::apply_disconnect_faults() {
    const double elapsed = elapsed_s(Clock::now());
    for (const auto& [unit, device] : tcp_units_) {
        if (!faults_.any_active(device->id(), FaultKind::Disconnect, elapsed)) continue;
        for (auto& client : clients_) {
            if (client && std::find(client->units.begin(), client->units.end(), unit) !=
                              client->units.end()) {
                ++stats_.disconnects;
                reset_connection(client->fd);
                client.reset();
            }
        }
    }
    clients_.erase(std::remove(clients_.begin(), clients_.end(), nullptr), clients_.end());
}

bool SlaveServer::read_rtu_port(RtuPort& port) {
    std::array<std::uint8_t, 512> chunk{};
    for (;;) {
        const ssize_t n = ::read(port.fd, chunk.data(), chunk.size());
        if (n > 0) {
            if (port.rx.size() + static_cast<std::size_t>(n) > kRtuRxLimit) {
                ++stats_.malformed;  // a stream of garbage with no silence in it
                port.rx.clear();
            }
            port.rx.insert(port.rx.end(), chunk.begin(), chunk.begin() + n);
            port.last_rx = Clock::now();
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (!port.is_pty) {
            return false;  // the RTU-over-TCP client closed the connection
        }
        // EIO / EOF: only possible if the slave side lost every opener; we keep one, so this
        // is unexpected. Back off instead of spinning on a readable-with-error fd.
        rtu_backoff_until_ = Clock::now() + kRtuErrorBackoff;
        break;
    }
    frame_rtu_input(port, /*silence_elapsed=*/false);
    return true;
}

void SlaveServer::frame_rtu_input(RtuPort& port, bool silence_elapsed) {
    auto& rx = port.rx;
    while (!rx.empty()) {
        const auto needed = rtu_request_length(rx.data(), rx.size());
        std::size_t length = needed.value_or(0);
        if (!needed || length == 0) {
            // Unknown length: wait for the end-of-frame silence, then take all of it.
            if (!silence_elapsed) return;
            length = rx.size();
        }
        if (length > MODBUS_RTU_MAX_ADU_LENGTH) {
            ++stats_.malformed;
            rx.clear();
            return;
        }
        if (rx.size() < length) {
            if (silence_elapsed) {  // truncated frame
                ++stats_.malformed;
                rx.clear();
            }
            return;
        }
        if (!rtu_crc_ok(rx.data(), length)) {
            // Like a real slave: discard the whole burst and wait for the master to retry.
            ++stats_.malformed;
            rx.clear();
            return;
        }
        RtuFrame frame;
        frame.port_id = port.id;
        frame.bytes.assign(rx.begin(), rx.begin() + static_cast<std::ptrdiff_t>(length));
        frame.received = port.last_rx;
        rtu_queue_.push_back(std::move(frame));
        rx.erase(rx.begin(), rx.begin() + static_cast<std::ptrdiff_t>(length));
    }
}

void SlaveServer::pump_rtu_line(Clock::time_point now) {
    for (;;) {
        if (rtu_pending_) {
            if (now < rtu_pending_->due) return;
            deliver_rtu_reply();
            continue;
        }
        if (rtu_queue_.empty()) return;
        // Half duplex: a request queued behind a reply is "sent" once the line is quiet.
        const Clock::time_point start = std::max(rtu_queue_.front().received, rtu_line_free_at_);
        if (start > now) return;
        const RtuFrame frame = std::move(rtu_queue_.front());
        rtu_queue_.pop_front();
        process_rtu_frame(frame, start);
    }
}

void SlaveServer::process_rtu_frame(const RtuFrame& frame, Clock::time_point start) {
    const double request_ms = wire_time_ms(frame.bytes.size(), rtu_line_);
    const double silence_ms = frame_silence_ms(rtu_line_);
    const auto line_quiet_after = [&](double busy_ms) {
        rtu_line_free_at_ = rtu_line_.wire_delay ? start + from_ms(busy_ms + silence_ms) : start;
    };
    ++rtu_stats_.requests;
    rtu_stats_.busy_ms += request_ms;  // the request occupies the line whatever happens next
    const std::uint8_t* request = frame.bytes.data();
    const int length = static_cast<int>(frame.bytes.size());
    const int address = request[0];
    const double elapsed = elapsed_s(start);

    if (address == MODBUS_BROADCAST_ADDRESS) {
        // Broadcast writes reach every slave on the line; nobody answers.
        for (auto& [unit, device] : rtu_units_) {
            ++stats_.requests;
            ++counters(*device).requests;
            const ModbusFaultEffect effect = faults_.modbus_effect(device->id(), true, elapsed);
            if (effect.hit) ++counters(*device).faulted;
            if (effect.no_reply) continue;  // an unplugged slave hears nothing either
            modbus_set_slave(rtu_ctx_, unit);
            build_reply(rtu_ctx_, *device, request, length, effect);
        }
        line_quiet_after(request_ms);
        return;
    }
    const auto it = rtu_units_.find(address);
    if (it == rtu_units_.end()) {
        ++stats_.other_slave;  // someone else's address: stay silent, as on a real bus
        line_quiet_after(request_ms);
        return;
    }
    DeviceModel& device = *it->second;
    ++stats_.requests;
    ++counters(device).requests;
    const ModbusFaultEffect effect = faults_.modbus_effect(device.id(), true, elapsed);
    if (effect.hit) ++counters(device).faulted;
    if (effect.no_reply) {
        line_quiet_after(request_ms);
        return;
    }
    modbus_set_slave(rtu_ctx_, address);
    CapturedReply reply = build_reply(rtu_ctx_, device, request, length, effect);
    if (reply.bytes.empty()) {
        line_quiet_after(request_ms);
        return;
    }
    if (effect.corrupt_crc) {
        reply.bytes.back() ^= 0xFFU;  // the frame still goes out, but no master may accept it
        reply.served.clear();
    }
    const double gap_ms = reply_gap_ms(rtu_line_) + effect.extra_delay_ms;
    const double reply_ms = wire_time_ms(reply.bytes.size(), rtu_line_);
    rtu_stats_.busy_ms += gap_ms + reply_ms;
    // The pty delivered the request at once, so its own wire time is added here: the reply's
    // last byte leaves when the whole exchange would have ended on a real line.
    const double delay_ms =
        rtu_line_.wire_delay ? request_ms + gap_ms + reply_ms : effect.extra_delay_ms;
    auto pending = std::make_unique<PendingRtuReply>();
    pending->port_id = frame.port_id;
    pending->bytes = std::move(reply.bytes);
    pending->due = start + from_ms(delay_ms);
    pending->device = &device;
    pending->served = std::move(reply.served);
    pending->measured_s = reply.measured_s;
    rtu_pending_ = std::move(pending);
}

void SlaveServer::deliver_rtu_reply() {
    const std::unique_ptr<PendingRtuReply> reply = std::move(rtu_pending_);
    rtu_line_free_at_ = reply->due + (rtu_line_.wire_delay ? from_ms(frame_silence_ms(rtu_line_))
                                                           : Clock::duration{});
    const auto port = std::find_if(rtu_ports_.begin(), rtu_ports_.end(),
                                   [&](const auto& p) { return p->id == reply->port_id; });
    if (port == rtu_ports_.end()) {
        return;  // the RTU-over-TCP client that asked has gone
    }
    const ssize_t n = (*port)->is_pty
                          ? ::write((*port)->fd, reply->bytes.data(), reply->bytes.size())
                          : ::send((*port)->fd, reply->bytes.data(), reply->bytes.size(),
                                   MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n != static_cast<ssize_t>(reply->bytes.size())) {
        ++stats_.reply_errors;
        return;
    }
    ++rtu_stats_.replies;
    ++counters(*reply->device).replies;
    if ((*port)->is_pty) {
        rtu_last_tx_ = Clock::now();
        rtu_tx_unchecked_ = true;
    }
    log_served(*reply->device, reply->served, reply->measured_s);
}

void SlaveServer::check_stale_rtu_output() {
    rtu_tx_unchecked_ = false;
    // Our own slave fd keeps the tty alive, so a reply written after its client closed stays
    // queued and would be the first thing the next client reads. Nobody reads it any more
    // after this long, so discard it. (We never read from our slave fd: that would steal.)
    int pending = 0;
    if (::ioctl(pty_slave_fd_, FIONREAD, &pending) == 0 && pending > 0) {
        ::tcflush(pty_slave_fd_, TCIFLUSH);
        ++stats_.stale_rtu_flushes;
    }
}

void SlaveServer::log_served(const DeviceModel& device, const std::vector<ServedValue>& values,
                             std::optional<double> measured_s) {
    if (served_log_ == nullptr || values.empty()) {
        return;
    }
    const std::int64_t t_ms = unix_ms(std::chrono::system_clock::now());
    for (const auto& served : values) {
        nlohmann::ordered_json line;
        line["t_ms"] = t_ms;
        line["device"] = device.id();
        line["unit_id"] = device.unit_id();
        line["point"] = served.point->name;
        line["value"] = served.value;  // NaN (nothing measured yet) is written as null
        if (device.has_trigger()) {
            line["measured_t_ms"] =
                measured_s ? nlohmann::ordered_json(unix_ms(
                                 started_wall_ +
                                 std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                     std::chrono::duration<double>(*measured_s))))
                           : nlohmann::ordered_json(nullptr);
        }
        const std::string text = line.dump() + "\n";
        std::fwrite(text.data(), 1, text.size(), served_log_);
    }
    std::fflush(served_log_);  // tests read the log live
}

void SlaveServer::log_uplink(const LorawanDeviceConfig& device, const Uplink& uplink,
                             std::string_view kind) {
    if (served_log_ == nullptr) {
        return;
    }
    const std::int64_t t_ms = unix_ms(std::chrono::system_clock::now());
    const auto write_line = [&](const char* point, std::optional<int> value) {
        nlohmann::ordered_json line;
        line["t_ms"] = t_ms;
        line["device"] = device.id;
        line["dev_eui"] = device.dev_eui;
        line["f_cnt"] = uplink.f_cnt;
        line["dedup_id"] = uplink.dedup_id;
        line["point"] = point != nullptr ? nlohmann::ordered_json(point) : nullptr;
        line["value"] = value ? nlohmann::ordered_json(*value) : nullptr;
        line["kind"] = kind;
        if (uplink.garbage) line["garbage"] = true;
        const std::string text = line.dump() + "\n";
        std::fwrite(text.data(), 1, text.size(), served_log_);
    };
    if (uplink.garbage) {
        write_line(nullptr, std::nullopt);  // published, but carries no decodable value
    } else {
        write_line("battery", uplink.reading.battery_pct);
        write_line("distance", uplink.reading.distance_mm);
        write_line("position", uplink.reading.position);
    }
    std::fflush(served_log_);
}

nlohmann::ordered_json SlaveServer::stats_json() const {
    const auto now = Clock::now();
    const double elapsed_ms = to_ms(now - started_);
    nlohmann::ordered_json j;
    j["elapsed_ms"] = elapsed_ms;
    nlohmann::ordered_json rtu;
    rtu["line"] = describe(rtu_line_);
    rtu["turnaround_ms"] = rtu_line_.turnaround_ms;
    rtu["wire_delay"] = rtu_line_.wire_delay;
    rtu["busy_ms"] = rtu_stats_.busy_ms;
    rtu["elapsed_ms"] = elapsed_ms;
    rtu["requests"] = rtu_stats_.requests;
    rtu["replies"] = rtu_stats_.replies;
    rtu["utilisation_pct"] = elapsed_ms > 0.0 ? 100.0 * rtu_stats_.busy_ms / elapsed_ms : 0.0;
    j["rtu"] = rtu;
    nlohmann::ordered_json devices = nlohmann::ordered_json::object();
    for (const auto& device : devices_) {
        devices[device->id()] =
            counters_json(device_counters_.at(device->id()), device->has_trigger());
    }
    if (lorawan_) {
        for (std::size_t i = 0; i < lorawan_->size(); ++i) {
            const UplinkCounters& c = lorawan_->counters(i);
            devices[lorawan_->device(i).id] = {{"uplinks", c.uplinks},
                                               {"published", c.published},
                                               {"faulted", c.faulted},
                                               {"publish_errors", c.publish_errors}};
        }
    }
    j["devices"] = devices;
    j["server"] = {{"requests", stats_.requests},
                   {"reply_errors", stats_.reply_errors},
                   {"unknown_unit", stats_.unknown_unit},
                   {"other_slave", stats_.other_slave},
                   {"malformed", stats_.malformed},
                   {"clients_accepted", stats_.clients_accepted},
                   {"clients_rejected", stats_.clients_rejected},
                   {"stale_rtu_flushes", stats_.stale_rtu_flushes},
                   {"disconnects", stats_.disconnects}};
    return j;
}

void SlaveServer::write_stats_file() const {
    if (options_.stats_file_path.empty()) return;
    const std::string temp = options_.stats_file_path + ".tmp";
    {
        std::ofstream out(temp, std::ios::trunc);
        out << stats_json().dump() << "\n";
        if (!out) return;  // a full disk must not stop the simulation
    }
    std::rename(temp.c_str(), options_.stats_file_path.c_str());
}

std::string SlaveServer::handle_control(const std::string& line) {
    using nlohmann::ordered_json;
    const auto error = [](const std::string& message) {
        return ordered_json{{"ok", false}, {"error", message}}.dump();
    };
    const auto request = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (request.is_discarded() || !request.is_object() || request.size() != 1) {
        return error(
            "expected one JSON object with one key: fault, clear, stats, list_faults or immerse");
    }
    const double elapsed = elapsed_s(Clock::now());
    if (const auto it = request.find("fault"); it != request.end()) {
        FaultSpec spec;
        try {
            spec = parse_fault_object(*it, "control", "/fault");
        } catch (const ConfigError& e) {
            return error(std::string(e.what()).substr(e.file().size() + 2));  // drop "control: "
        }
        if (const std::string problem = fault_target_problem(scenario_, spec); !problem.empty()) {
            return error(problem);
        }
        add_fault(std::move(spec));
        apply_disconnect_faults();
        return ordered_json{{"ok", true}, {"elapsed_s", elapsed}}.dump();
    }
    if (const auto it = request.find("clear"); it != request.end()) {
        if (!it->is_string()) return error("clear: expected a device id or \"*\"");
        const std::string device = it->get<std::string>();
        if (device != "*") {
            FaultSpec probe;
            probe.device = device;
            probe.kind = FaultKind::Stuck;  // allowed for every family: only the id is checked
            if (const std::string problem = fault_target_problem(scenario_, probe);
                !problem.empty()) {
                return error("clear: " + problem);
            }
        }
        const std::size_t cleared = faults_.clear(device);
        next_fault_edge_s_ = faults_.next_edge_after(elapsed);
        return ordered_json{{"ok", true}, {"cleared", cleared}, {"elapsed_s", elapsed}}.dump();
    }
    if (const auto it = request.find("immerse"); it != request.end()) {
        // {"immerse": {"device": "water1", "point": "ph", "value": 6.91, "noise_sd": 0.002}};
        // "value": null takes the probe out of the standard again.
        const auto& in = *it;
        if (!in.is_object() || !in.contains("device") || !in["device"].is_string() ||
            !in.contains("point") || !in["point"].is_string() || !in.contains("value") ||
            !(in["value"].is_number() || in["value"].is_null()))
            return error(
                "immerse: expected {\"device\": ID, \"point\": NAME, \"value\": "
                "NUMBER or null, \"noise_sd\": NUMBER (optional)}");
        const std::string device = in["device"].get<std::string>();
        const auto model = std::find_if(devices_.begin(), devices_.end(),
                                        [&](const auto& d) { return d->id() == device; });
        if (model == devices_.end()) return error("immerse: no device \"" + device + "\"");
        std::optional<double> value;
        if (in["value"].is_number()) value = in["value"].get<double>();
        const double noise = in.value("noise_sd", 0.0);
        if (!(*model)->immerse(in["point"].get<std::string>(), value, noise))
            return error("immerse: device \"" + device + "\" has no point \"" +
                         in["point"].get<std::string>() + "\"");
        return ordered_json{{"ok", true}, {"elapsed_s", elapsed}}.dump();
    }
    if (request.contains("stats")) {
        return ordered_json{{"ok", true}, {"stats", stats_json()}}.dump();
    }
    if (request.contains("list_faults")) {
        ordered_json list = ordered_json::array();
        for (const auto& f : faults_.all()) {
            ordered_json entry{{"device", f.device},
                               {"kind", to_string(f.kind)},
                               {"active", f.active_at(elapsed)},
                               {"probability", f.probability},
                               {"from_s", f.from_s}};
            if (f.until_s) entry["until_s"] = *f.until_s;
            if (f.kind == FaultKind::Exception) entry["code"] = f.exception_code;
            if (f.kind == FaultKind::Slow) entry["delay_ms"] = f.delay_ms;
            if (f.kind == FaultKind::Replay) entry["back"] = f.replay_back;
            list.push_back(entry);
        }
        return ordered_json{{"ok", true}, {"faults", list}, {"elapsed_s", elapsed}}.dump();
    }
    return error("unknown request " + request.begin().key() +
                 " (expected fault, clear, stats, list_faults or immerse)");
}

void SlaveServer::shut_down() {
    write_stats_file();
    if (mqtt_) {
        mqtt_->disconnect(kMqttDrainTimeout);
    }
}

}  // namespace gw::sim
