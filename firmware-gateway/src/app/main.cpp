// SPDX-License-Identifier: Apache-2.0
// towngwd: the township environment-monitoring gateway daemon.
#include <sysexits.h>

#include <csignal>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "app/service.hpp"
#include "config/config_loader.hpp"
#include "core/log.hpp"
#include "towngw/version.hpp"

namespace {

constexpr const char* kUsage =
    R"(usage: towngwd --config FILE [--set /json/pointer=VALUE]... [--log-level LEVEL]
       towngwd --check-config FILE [--set /json/pointer=VALUE]...
       towngwd --version | --help

Reads sensors, aggregates windows, buffers them in SQLite and publishes them over MQTT.
Runs in the foreground and logs to stderr (with journal priorities under systemd).
SIGTERM or SIGINT: graceful stop. SIGHUP: read FILE again (with the same --set overrides)
and, if it is valid, restart the gateway with it without losing buffered data; if not, log
every error and keep running. Under systemd (NOTIFY_SOCKET) it reports READY, RELOADING,
STOPPING and STATUS, and feeds the watchdog when WatchdogSec= is set.

  --config FILE        run with this configuration (JSON, comments allowed)
  --check-config FILE  validate FILE (and its device profiles), print every error, exit
                       0 if valid or 78 (EX_CONFIG) if not
  --set PTR=VALUE      override one value before validation; VALUE is JSON if it parses,
                       otherwise a string. Repeatable.
                       e.g. --set /mqtt/broker=tcp://127.0.0.1:1883 --set /sensors/0/window_s=10
  --log-level LEVEL    debug, info, warn or error (overrides /gateway/log_level)

Exit codes: 0 ok, 64 bad command line, 78 bad configuration, 1 runtime failure.
)";

int usage_error(const std::string& message) {
    std::cerr << "towngwd: " << message << "\n(see towngwd --help)\n";
    return EX_USAGE;
}

}  // namespace

int main(int argc, char** argv) {
    std::string config_path;
    bool check_only = false;
    std::vector<gw::ConfigOverride> overrides;
    std::string log_level;

    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&](const char* name) -> const char* {
            if (i + 1 >= argc) return nullptr;
            (void)name;
            return argv[++i];
        };
        if (arg == "--help" || arg == "-h") {
            std::cout << kUsage;
            return 0;
        } else if (arg == "--version") {
            std::cout << "towngwd " << gw::kVersion << "\n";
            return 0;
        } else if (arg == "--config" || arg == "--check-config") {
            const char* v = value(arg.c_str());
            if (v == nullptr) return usage_error(arg + " needs a FILE");
            if (!config_path.empty()) return usage_error("give only one configuration file");
            config_path = v;
            check_only = check_only || arg == "--check-config";
        } else if (arg == "--set") {
            const char* v = value("--set");
            gw::ConfigOverride o;
            if (v == nullptr || !gw::parse_override(v, o))
                return usage_error(
                    "--set needs /json/pointer=VALUE, e.g. --set /mqtt/keepalive_s=10");
            overrides.push_back(o);
        } else if (arg == "--log-level") {
            const char* v = value("--log-level");
            if (v == nullptr || !gw::log::parse_level(v))
                return usage_error("--log-level must be debug, info, warn or error");
            log_level = v;
        } else {
            return usage_error("unknown argument \"" + arg + "\"");
        }
    }
    if (config_path.empty()) return usage_error("--config FILE or --check-config FILE is required");

    auto loaded = gw::load_config(config_path, overrides);
    if (auto* errors = std::get_if<std::vector<gw::ConfigError>>(&loaded)) {
        if (check_only) {
            for (const auto& e : *errors) std::cerr << e.to_string() << "\n";
            std::cerr << "towngwd: " << errors->size() << " error(s) in the configuration\n";
        } else {
            // Starting (under systemd, too): at priority err, so `journalctl -p err` shows why
            // the service failed with status 78.
            for (const auto& e : *errors) GW_LOG_ERROR("config", e.to_string());
            GW_LOG_ERROR("towngwd", errors->size()
                                        << " error(s) in the configuration; not starting");
        }
        return EX_CONFIG;
    }
    gw::Config config = std::get<gw::Config>(std::move(loaded));
    if (check_only) {
        std::cout << config_path << ": OK (" << config.devices.size() << " devices, "
                  << config.sensors.size() << " sensors, topics under " << config.topic_root()
                  << "/";
        for (const auto& platform : config.hj212)
            std::cout << "; HJ 212 to " << platform.name << " at " << platform.host << ":"
                      << platform.port << " as MN " << platform.mn << " with "
                      << platform.pollutants.size() << " pollutant(s)";
        std::cout << ")\n";
        return 0;
    }

    const auto level_override = log_level.empty() ? std::nullopt : gw::log::parse_level(log_level);
    gw::log::set_level(level_override.value_or(*gw::log::parse_level(config.gateway.log_level)));
    // A broker or sensor closing its socket must not kill us; writes report EPIPE instead.
    std::signal(SIGPIPE, SIG_IGN);
    // A file-size limit (RLIMIT_FSIZE) must surface as a failed write, not kill the daemon.
    std::signal(SIGXFSZ, SIG_IGN);

    try {
        // Before any thread starts: the service blocks the signals it handles in every thread.
        gw::Service service(
            [config_path, overrides] { return gw::load_config(config_path, overrides); },
            level_override, gw::sd::Notifier::from_environment());
        service.run(std::move(config));
    } catch (const std::exception& e) {
        GW_LOG_ERROR("gateway", e.what());
        return 1;
    }
    return 0;
}
