// SPDX-License-Identifier: Apache-2.0
// Runs the gateway as a service (docs/deployment.md):
//   SIGTERM, SIGINT  graceful stop (pending readings and open windows stored, offline status)
//   SIGHUP           reload: the configuration file is read and validated again; if it is
//                    valid, the gateway stops as for SIGTERM and starts again with it on a fresh
//                    io_context, reopening the same outbox (buffered data, seq, open windows and
//                    calibration history all live there); if not, every error is logged and the
//                    running gateway carries on untouched
// and tells the service manager (sd_notify) READY once the database is open, the drivers are
// started and the control socket listens, RELOADING/STOPPING around those, STATUS lines, and
// WATCHDOG from the main loop when WatchdogSec= is set.
//
// Signals are blocked in every thread and read from a signalfd, so one that arrives between two
// gateway generations waits in the descriptor instead of meeting the default action.
#pragma once

#include <signal.h>

#include <functional>
#include <optional>

#include "config/config_loader.hpp"
#include "core/log.hpp"
#include "core/sd_notify.hpp"

namespace gw {

class Service {
public:
    /// Loads and validates the configuration again (the same file and --set overrides).
    using ConfigReloader = std::function<ConfigResult()>;

    /// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread and opens a signalfd for them.
    /// Construct it before any other thread starts, so every thread inherits the mask.
    /// `log_level_override`: --log-level, which outranks /gateway/log_level on reload too.
    /// Throws std::system_error when the signal mask or the signalfd cannot be set up.
    Service(ConfigReloader reload, std::optional<log::Level> log_level_override,
            sd::Notifier notifier);
    ~Service();
    Service(const Service&) = delete;
    Service& operator=(const Service&) = delete;

    /// Runs the gateway with `config` until a stop signal; returns when it has stopped cleanly.
    /// Throws what Gateway::start() throws on the first start (and on a reload, when the
    /// previous configuration cannot start again either).
    void run(Config config);

private:
    int signal_fd_{-1};
    sigset_t previous_mask_{};
    ConfigReloader reload_;
    std::optional<log::Level> log_level_override_;
    sd::Notifier notifier_;
};

}  // namespace gw
