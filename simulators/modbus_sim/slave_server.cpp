// SPDX-License-Identifier: Apache-2.0
#include "modbus_sim/slave_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
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
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <system_error>

namespace gw::sim {
namespace {

constexpr int kListenBacklog = 64;
constexpr std::size_t kMaxTcpClients = 200;
/// An incomplete RTU frame is dropped after this much silence (a pty has no character
/// timing, so this is generous compared with t3.5 = 4 ms at 9600 baud).
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

constexpr int kFcReadHolding = 0x03;
constexpr int kFcReadInput = 0x04;
constexpr int kFcReadWriteMultiple = 0x17;

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

std::int64_t unix_ms_now() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
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

}  // namespace

/// One accepted Modbus TCP connection with its own libmodbus context.
struct SlaveServer::TcpClient {
    int fd{-1};
    modbus_t* ctx{nullptr};
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

SlaveServer::SlaveServer(const Scenario& scenario, ServerOptions options)
    : options_(std::move(options)), rng_(options_.seed) {
    sim_clock_.time_scale = options_.time_scale;
    sim_clock_.start_hour_of_day = scenario.start_hour.value_or(local_hour_now());
    for (const auto& config : scenario.devices) {
        devices_.push_back(std::make_unique<DeviceModel>(config, options_.seed));
        DeviceModel* device = devices_.back().get();
        (device->transport() == Transport::Tcp ? tcp_units_ : rtu_units_)[device->unit_id()] =
            device;
    }
}

SlaveServer::~SlaveServer() {
    clients_.clear();
    if (listen_fd_ >= 0) {
        ::close(listen_fd_);
    }
    if (rtu_ctx_ != nullptr) {
        // Not modbus_close(): it would tcsetattr() saved settings that modbus_connect() never
        // saved (we never connect) and close the master fd, which we own.
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

void SlaveServer::open() {
    if (!options_.served_log_path.empty()) {
        served_log_ = std::fopen(options_.served_log_path.c_str(), "ae");
        if (served_log_ == nullptr) {
            throw_errno("cannot open served log " + options_.served_log_path);
        }
    }
    if (!tcp_units_.empty()) {
        open_tcp();
    }
    if (!rtu_units_.empty()) {
        open_rtu();
    }
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

void SlaveServer::open_rtu() {
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
    ::cfsetispeed(&tio, B9600);
    ::cfsetospeed(&tio, B9600);
    if (::tcsetattr(pty_slave_fd_, TCSANOW, &tio) < 0) {
        throw_errno("tcsetattr " + pty_slave_path_);
    }
    set_nonblocking(pty_master_fd_);

    // A libmodbus RTU context used only to build and write replies on the master fd. No
    // modbus_connect(): that would open and reconfigure the slave path like a client.
    rtu_ctx_ = modbus_new_rtu(pty_slave_path_.c_str(), 9600, 'N', 8, 1);
    if (rtu_ctx_ == nullptr) {
        throw_errno("modbus_new_rtu");
    }
    modbus_set_socket(rtu_ctx_, pty_master_fd_);
    modbus_set_response_timeout(rtu_ctx_, 0, kReplySleep_us);

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
        lines.push_back(line + " 9600 8N1 slaves " + unit_list(rtu_units_));
    }
    return lines;
}

SimInstant SlaveServer::sim_now() const {
    return sim_clock_.at(std::chrono::duration<double>(Clock::now() - started_).count());
}

void SlaveServer::run(int stop_fd) {
    while (poll_once(stop_fd, -1)) {
    }
}

int SlaveServer::next_timeout_ms(int limit_ms) const {
    std::optional<Clock::time_point> deadline;
    const auto earliest = [&](Clock::time_point t) {
        if (!deadline || t < *deadline) deadline = t;
    };
    if (!rtu_rx_.empty()) earliest(rtu_last_rx_ + kRtuSilence);
    if (rtu_tx_unchecked_) earliest(rtu_last_tx_ + kRtuStaleAfter);
    if (rtu_backoff_until_ > Clock::now()) earliest(rtu_backoff_until_);
    if (!deadline) return limit_ms;
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(*deadline - Clock::now());
    const int wait_ms = static_cast<int>(std::max<std::int64_t>(0, wait.count()));
    return limit_ms < 0 ? wait_ms : std::min(limit_ms, wait_ms);
}

bool SlaveServer::poll_once(int stop_fd, int timeout_ms) {
    std::vector<pollfd> fds;
    fds.push_back({stop_fd, POLLIN, 0});
    const std::size_t listen_index = fds.size();
    if (listen_fd_ >= 0) fds.push_back({listen_fd_, POLLIN, 0});
    const std::size_t pty_index = fds.size();
    const bool pty_active = pty_master_fd_ >= 0 && Clock::now() >= rtu_backoff_until_;
    if (pty_active) fds.push_back({pty_master_fd_, POLLIN, 0});
    const std::size_t clients_index = fds.size();
    for (const auto& client : clients_) fds.push_back({client->fd, POLLIN, 0});

    const int rc = ::poll(fds.data(), fds.size(), next_timeout_ms(timeout_ms));
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
    if (pty_active && fds[pty_index].revents != 0) {
        read_rtu();
    }
    // Serve clients in the order polled; closed ones are removed afterwards. New clients
    // accepted above sit past the polled range and are picked up next time.
    const std::size_t polled = fds.size() - clients_index;
    for (std::size_t i = 0; i < polled; ++i) {
        const short revents = fds[clients_index + i].revents;
        if (revents == 0) continue;
        if (!serve_tcp_client(*clients_[i])) {
            clients_[i].reset();
        }
    }
    clients_.erase(std::remove(clients_.begin(), clients_.end(), nullptr), clients_.end());

    // Timers: RTU silence (drop or frame partial input), stale replies, error back-off.
    const auto now = Clock::now();
    if (!rtu_rx_.empty() && now - rtu_last_rx_ >= kRtuSilence) {
        process_rtu_buffer(/*silence_elapsed=*/true);
    }
    if (rtu_tx_unchecked_ && now - rtu_last_tx_ >= kRtuStaleAfter) {
        check_stale_rtu_output();
    }
    return true;
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
    constexpr int kUnitIdOffset = 6;  // MBAP: transaction(2) protocol(2) length(2) unit(1)
    const auto unit = static_cast<int>(request[kUnitIdOffset]);
    const auto it = tcp_units_.find(unit);
    if (it == tcp_units_.end()) {
        ++stats_.unknown_unit;
        if (modbus_reply_exception(client.ctx, request.data(), MODBUS_EXCEPTION_GATEWAY_TARGET) <
            0) {
            ++stats_.reply_errors;
        }
        return true;
    }
    serve(client.ctx, *it->second, request.data(), length);
    return true;
}

void SlaveServer::read_rtu() {
    std::array<std::uint8_t, 512> chunk{};
    for (;;) {
        const ssize_t n = ::read(pty_master_fd_, chunk.data(), chunk.size());
        if (n > 0) {
            if (rtu_rx_.size() + static_cast<std::size_t>(n) > kRtuRxLimit) {
                ++stats_.malformed;  // a stream of garbage with no silence in it
                rtu_rx_.clear();
            }
            rtu_rx_.insert(rtu_rx_.end(), chunk.begin(), chunk.begin() + n);
            rtu_last_rx_ = Clock::now();
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        // EIO / EOF: only possible if the slave side lost every opener; we keep one, so this
        // is unexpected. Back off instead of spinning on a readable-with-error fd.
        rtu_backoff_until_ = Clock::now() + kRtuErrorBackoff;
        break;
    }
    process_rtu_buffer(/*silence_elapsed=*/false);
}

void SlaveServer::process_rtu_buffer(bool silence_elapsed) {
    while (!rtu_rx_.empty()) {
        const auto needed = rtu_request_length(rtu_rx_.data(), rtu_rx_.size());
        std::size_t length = needed.value_or(0);
        if (!needed || length == 0) {
            // Unknown length: wait for the end-of-frame silence, then take all of it.
            if (!silence_elapsed) return;
            length = rtu_rx_.size();
        }
        if (length > MODBUS_RTU_MAX_ADU_LENGTH) {
            ++stats_.malformed;
            rtu_rx_.clear();
            return;
        }
        if (rtu_rx_.size() < length) {
            if (silence_elapsed) {  // truncated frame
                ++stats_.malformed;
                rtu_rx_.clear();
            }
            return;
        }
        if (!rtu_crc_ok(rtu_rx_.data(), length)) {
            // Like a real slave: discard the whole burst and wait for the master to retry.
            ++stats_.malformed;
            rtu_rx_.clear();
            return;
        }
        dispatch_rtu_frame(rtu_rx_.data(), static_cast<int>(length));
        rtu_rx_.erase(rtu_rx_.begin(), rtu_rx_.begin() + static_cast<std::ptrdiff_t>(length));
    }
}

void SlaveServer::dispatch_rtu_frame(const std::uint8_t* frame, int length) {
    const int address = frame[0];
    if (address == MODBUS_BROADCAST_ADDRESS) {
        // Broadcast writes reach every slave on the line; modbus_reply() sends nothing back.
        for (auto& [unit, device] : rtu_units_) {
            modbus_set_slave(rtu_ctx_, unit);
            serve(rtu_ctx_, *device, frame, length);
        }
        return;
    }
    const auto it = rtu_units_.find(address);
    if (it == rtu_units_.end()) {
        ++stats_.other_slave;  // someone else's address: stay silent, as on a real bus
        return;
    }
    modbus_set_slave(rtu_ctx_, address);
    serve(rtu_ctx_, *it->second, frame, length);
    rtu_last_tx_ = Clock::now();
    rtu_tx_unchecked_ = true;
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

void SlaveServer::serve(modbus_t* ctx, DeviceModel& device, const std::uint8_t* request,
                        int length) {
    const int header = modbus_get_header_length(ctx);
    std::vector<ServedValue> served;
    // Refresh the registers a read will return; only plain reads are logged (FC23 writes
    // after our refresh, and a broadcast is never answered).
    const bool rtu_broadcast = header == 1 && request[0] == MODBUS_BROADCAST_ADDRESS;
    if (length >= header + 5 && !rtu_broadcast) {
        const int function = request[header];
        const int address = (request[header + 1] << 8) | request[header + 2];
        const int count = (request[header + 3] << 8) | request[header + 4];
        const bool read_holding = function == kFcReadHolding || function == kFcReadWriteMultiple;
        if ((read_holding || function == kFcReadInput) && count <= MODBUS_MAX_READ_REGISTERS) {
            const RegisterTable table =
                read_holding ? RegisterTable::Holding : RegisterTable::Input;
            if (device.covers(table, address, count)) {
                served = device.refresh(table, address, count, sim_now(), rng_);
                if (function == kFcReadWriteMultiple) served.clear();
            }
        }
    }
    ++stats_.requests;
    if (modbus_reply(ctx, request, length, device.mapping()) < 0) {
        ++stats_.reply_errors;
        return;
    }
    log_served(device, served);
}

void SlaveServer::log_served(const DeviceModel& device, const std::vector<ServedValue>& values) {
    if (served_log_ == nullptr || values.empty()) {
        return;
    }
    const std::int64_t t_ms = unix_ms_now();
    for (const auto& served : values) {
        nlohmann::ordered_json line;
        line["t_ms"] = t_ms;
        line["device"] = device.id();
        line["unit_id"] = device.unit_id();
        line["point"] = served.point->name;
        line["value"] = served.value;
        const std::string text = line.dump() + "\n";
        std::fwrite(text.data(), 1, text.size(), served_log_);
    }
    std::fflush(served_log_);  // tests read the log live
}

}  // namespace gw::sim
