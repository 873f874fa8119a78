// SPDX-License-Identifier: Apache-2.0
// The service manager's notification protocol (sd_notify(3)), written here rather than linked
// from libsystemd: it is one datagram of "KEY=VALUE" lines to the Unix socket named by
// NOTIFY_SOCKET, a stable interface systemd documents for reimplementation, and the daemon also
// runs where libsystemd is absent (containers, tests). Without NOTIFY_SOCKET every call is a
// no-op, so a plain foreground process behaves exactly as before.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace gw::sd {

/// A parsed NOTIFY_SOCKET address.
struct NotifyAddress {
    sockaddr_un address{};
    socklen_t length{0};
};

/// NOTIFY_SOCKET's value as an address: "/path" or "@abstract" (a leading '@' stands for the
/// abstract namespace's NUL). Nothing when it is empty, relative, or too long for sun_path.
std::optional<NotifyAddress> parse_notify_socket(std::string_view value);

/// The interval within which the service manager expects "WATCHDOG=1", from WATCHDOG_USEC and
/// WATCHDOG_PID (either may be null). Nothing when the watchdog is off, the value is not a
/// positive integer, or WATCHDOG_PID names another process (it was meant for a parent).
std::optional<std::chrono::microseconds> watchdog_interval(const char* watchdog_usec,
                                                           const char* watchdog_pid, pid_t self);

class Notifier {
public:
    /// Disabled: every notify() is a no-op.
    Notifier() = default;
    /// Sends to `address` (from parse_notify_socket).
    explicit Notifier(const NotifyAddress& address);
    /// From NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID. An unusable NOTIFY_SOCKET is logged
    /// and leaves the notifier disabled.
    static Notifier from_environment();

    ~Notifier();
    Notifier(Notifier&& other) noexcept;
    Notifier& operator=(Notifier&& other) noexcept;
    Notifier(const Notifier&) = delete;
    Notifier& operator=(const Notifier&) = delete;

    bool enabled() const { return fd_ >= 0; }
    /// The watchdog interval, when the service manager asked for one.
    std::optional<std::chrono::microseconds> watchdog() const { return watchdog_; }

    /// Sends `state` ("READY=1\nSTATUS=…") as one datagram. False when disabled or the send
    /// failed (logged at debug: a vanished manager must not disturb the daemon). Never throws.
    bool notify(const std::string& state) const;

private:
    int fd_{-1};
    NotifyAddress address_{};
    std::optional<std::chrono::microseconds> watchdog_;
};

/// "MONOTONIC_USEC=…" of CLOCK_MONOTONIC now, which systemd ≥ 253 wants with RELOADING=1.
std::string monotonic_usec_field();

}  // namespace gw::sd
