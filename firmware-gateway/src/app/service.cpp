// SPDX-License-Identifier: Apache-2.0
#include "app/service.hpp"

#include <sys/signalfd.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "app/gateway.hpp"

namespace gw {

namespace asio = boost::asio;

namespace {

const char* signal_name(std::uint32_t signo) {
    switch (signo) {
        case SIGTERM:
            return "SIGTERM";
        case SIGINT:
            return "SIGINT";
        case SIGHUP:
            return "SIGHUP";
        default:
            return "signal";
    }
}

std::string running_status(const Config& config) {
    return "STATUS=running: " + std::to_string(config.devices.size()) + " devices, " +
           std::to_string(config.sensors.size()) + " sensors, outbox " + config.storage.path;
}

/// One gateway generation: its io_context, signals and watchdog. Lives for one run().
class Generation {
public:
    Generation(Config config, int signal_fd, const Service::ConfigReloader& reload,
               const std::optional<log::Level>& log_level_override, const sd::Notifier& notifier)
        : running_config_(config),
          gateway_(std::move(config), io_),
          signals_(io_, ::dup(signal_fd)),
          watchdog_timer_(io_),
          reload_(reload),
          log_level_override_(log_level_override),
          notifier_(notifier) {
        if (signals_.native_handle() < 0)
            throw std::system_error(errno, std::generic_category(), "dup(signalfd)");
    }

    /// Starts the gateway: store, drivers, control socket. Throws on failure.
    void start() { gateway_.start(); }

    /// Reports READY and runs until the gateway has stopped. The configuration to run next,
    /// when the run ended in a reload.
    std::optional<Config> run(bool after_reload) {
        wait_for_signal();
        notifier_.notify("READY=1\n" + running_status(running_config_));
        if (const auto interval = notifier_.watchdog()) feed_watchdog(*interval / 2);
        if (after_reload) GW_LOG_INFO("service", "reloaded");
        io_.run();
        return std::move(next_);
    }

    const Config& config() const { return running_config_; }

private:
    void wait_for_signal() {
        signals_.async_wait(asio::posix::descriptor_base::wait_read,
                            [this](const boost::system::error_code& ec) {
                                if (ec) return;
                                signalfd_siginfo info{};
                                while (::read(signals_.native_handle(), &info, sizeof info) ==
                                       static_cast<ssize_t>(sizeof info))
                                    on_signal(info.ssi_signo);
                                wait_for_signal();
                            });
    }

    void on_signal(std::uint32_t signo) {
        if (signo == SIGHUP) return reload();
        GW_LOG_INFO("service", signal_name(signo) << ": stopping");
        next_.reset();  // a stop signal during a reload: stop for good
        notifier_.notify("STOPPING=1\nSTATUS=stopping");
        gateway_.stop("shutdown");
    }

    void reload() {
        if (gateway_.stopping()) {
            GW_LOG_INFO("service", "SIGHUP while stopping: ignored");
            return;
        }
        notifier_.notify("RELOADING=1\n" + sd::monotonic_usec_field() +
                         "\nSTATUS=reloading the configuration");
        GW_LOG_INFO("service", "SIGHUP: reading the configuration again");
        auto loaded = reload_();
        if (auto* errors = std::get_if<std::vector<ConfigError>>(&loaded)) {
            for (const auto& e : *errors) GW_LOG_ERROR("config", e.to_string());
            GW_LOG_ERROR("service",
                         "reload refused: " << errors->size()
                                            << " error(s) in the configuration; still running with "
                                               "the previous one");
            notifier_.notify("READY=1\nSTATUS=reload refused: " + std::to_string(errors->size()) +
                             " error(s) in the configuration (see the log); running with the "
                             "previous configuration");
            return;
        }
        next_ = std::get<Config>(std::move(loaded));
        log::set_level(log_level_override_.value_or(
            log::parse_level(next_->gateway.log_level).value_or(log::Level::Info)));
        GW_LOG_INFO("service",
                    "configuration valid: restarting the gateway with it (buffered "
                    "data stays in the outbox)");
        gateway_.stop("reload");
    }

    void feed_watchdog(std::chrono::microseconds every) {
        notifier_.notify("WATCHDOG=1");
        watchdog_timer_.expires_after(every);
        watchdog_timer_.async_wait([this, every](const boost::system::error_code& ec) {
            if (!ec) feed_watchdog(every);
        });
    }

    // Declared in this order so they are destroyed in reverse: the gateway (joining its
    // threads) before the io_context that still holds their posted handlers.
    asio::io_context io_{1};
    Config running_config_;
    Gateway gateway_;
    asio::posix::stream_descriptor signals_;
    asio::steady_timer watchdog_timer_;
    const Service::ConfigReloader& reload_;
    const std::optional<log::Level>& log_level_override_;
    const sd::Notifier& notifier_;
    std::optional<Config> next_;
};

}  // namespace

Service::Service(ConfigReloader reload, std::optional<log::Level> log_level_override,
                 sd::Notifier notifier)
    : reload_(std::move(reload)),
      log_level_override_(log_level_override),
      notifier_(std::move(notifier)) {
    sigset_t handled;
    sigemptyset(&handled);
    sigaddset(&handled, SIGINT);
    sigaddset(&handled, SIGTERM);
    sigaddset(&handled, SIGHUP);
    if (const int rc = ::pthread_sigmask(SIG_BLOCK, &handled, &previous_mask_); rc != 0)
        throw std::system_error(rc, std::generic_category(), "pthread_sigmask");
    signal_fd_ = ::signalfd(-1, &handled, SFD_NONBLOCK | SFD_CLOEXEC);
    if (signal_fd_ < 0) {
        const int error = errno;
        ::pthread_sigmask(SIG_SETMASK, &previous_mask_, nullptr);
        throw std::system_error(error, std::generic_category(), "signalfd");
    }
}

Service::~Service() {
    ::close(signal_fd_);
    ::pthread_sigmask(SIG_SETMASK, &previous_mask_, nullptr);
}

void Service::run(Config config) {
    std::optional<Config> previous;  // what ran before a reload, to go back to if need be
    for (;;) {
        std::optional<Config> next;
        {
            Generation generation(std::move(config), signal_fd_, reload_, log_level_override_,
                                  notifier_);
            try {
                generation.start();
            } catch (const std::exception& e) {
                if (!previous) throw;
                GW_LOG_ERROR("service", "the new configuration did not start ("
                                            << e.what() << "); going back to the previous one");
                config = std::move(*previous);
                previous.reset();
                continue;
            }
            next = generation.run(previous.has_value());
            if (!next) return;
            previous = generation.config();
        }
        config = std::move(*next);
    }
}

}  // namespace gw
