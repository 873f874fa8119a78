// SPDX-License-Identifier: Apache-2.0
#include "core/sd_notify.hpp"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "core/log.hpp"

namespace gw::sd {

namespace {
template <typename Int>
std::optional<Int> parse_positive(const char* text) {
    if (text == nullptr || *text == '\0') return std::nullopt;
    const std::string_view s(text);
    Int value{};
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc() || end != s.data() + s.size() || value <= 0) return std::nullopt;
    return value;
}
}  // namespace

std::optional<NotifyAddress> parse_notify_socket(std::string_view value) {
    if (value.size() < 2 || (value.front() != '/' && value.front() != '@')) return std::nullopt;
    NotifyAddress result;
    result.address.sun_family = AF_UNIX;
    // A path needs its terminating NUL inside sun_path; an abstract name does not.
    const std::size_t room = sizeof(result.address.sun_path) - (value.front() == '/' ? 1 : 0);
    if (value.size() > room) return std::nullopt;
    std::memcpy(result.address.sun_path, value.data(), value.size());
    if (value.front() == '@') result.address.sun_path[0] = '\0';
    result.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + value.size() +
                                           (value.front() == '/' ? 1 : 0));
    return result;
}

std::optional<std::chrono::microseconds> watchdog_interval(const char* watchdog_usec,
                                                           const char* watchdog_pid, pid_t self) {
    const auto usec = parse_positive<long long>(watchdog_usec);
    if (!usec) return std::nullopt;
    if (watchdog_pid != nullptr && *watchdog_pid != '\0') {
        const auto pid = parse_positive<pid_t>(watchdog_pid);
        if (!pid || *pid != self) return std::nullopt;
    }
    return std::chrono::microseconds(*usec);
}

Notifier::Notifier(const NotifyAddress& address) : address_(address) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) GW_LOG_WARN("systemd", "notify socket: " << std::strerror(errno));
}

Notifier Notifier::from_environment() {
    Notifier notifier;
    const char* socket = std::getenv("NOTIFY_SOCKET");
    if (socket != nullptr && *socket != '\0') {
        if (const auto address = parse_notify_socket(socket)) {
            notifier = Notifier(*address);
        } else {
            GW_LOG_WARN("systemd", "NOTIFY_SOCKET \"" << socket
                                                      << "\" is not an absolute or abstract "
                                                         "socket address; not notifying");
        }
    }
    notifier.watchdog_ =
        watchdog_interval(std::getenv("WATCHDOG_USEC"), std::getenv("WATCHDOG_PID"), ::getpid());
    return notifier;
}

Notifier::~Notifier() {
    if (fd_ >= 0) ::close(fd_);
}

Notifier::Notifier(Notifier&& other) noexcept
    : fd_(other.fd_), address_(other.address_), watchdog_(other.watchdog_) {
    other.fd_ = -1;
}

Notifier& Notifier::operator=(Notifier&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = other.fd_;
        address_ = other.address_;
        watchdog_ = other.watchdog_;
        other.fd_ = -1;
    }
    return *this;
}

bool Notifier::notify(const std::string& state) const {
    if (fd_ < 0) return false;
    const ssize_t sent =
        ::sendto(fd_, state.data(), state.size(), MSG_NOSIGNAL,
                 reinterpret_cast<const sockaddr*>(&address_.address), address_.length);
    if (sent < 0) {
        GW_LOG_DEBUG("systemd", "notify \"" << state.substr(0, state.find('\n'))
                                            << "\": " << std::strerror(errno));
        return false;
    }
    return true;
}

std::string monotonic_usec_field() {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    const long long usec = static_cast<long long>(now.tv_sec) * 1000000LL + now.tv_nsec / 1000;
    return "MONOTONIC_USEC=" + std::to_string(usec);
}

}  // namespace gw::sd
