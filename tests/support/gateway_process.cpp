// SPDX-License-Identifier: Apache-2.0
#include "gateway_process.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include "wait.hpp"

namespace gw::test {

bool unix_socket_accepts(const std::filesystem::path& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string p = path.string();
    if (p.size() >= sizeof addr.sun_path) {
        throw std::runtime_error("socket path too long: " + p);
    }
    std::memcpy(addr.sun_path, p.c_str(), p.size() + 1);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

std::vector<std::string> set_args(const std::vector<Override>& overrides) {
    std::vector<std::string> args;
    for (const auto& [pointer, value] : overrides) {
        args.emplace_back("--set");
        args.push_back(pointer + "=" + value);
    }
    return args;
}

GatewayProcess::GatewayProcess(const GatewayOptions& opts, const std::filesystem::path& dir)
    : socket_(dir / "control.sock"), storage_(dir / "outbox.db") {
    std::vector<Override> all{{"/storage/path", storage_.string()},
                              {"/control/socket", socket_.string()}};
    all.insert(all.end(), opts.overrides.begin(), opts.overrides.end());
    std::vector<std::string> argv{opts.towngwd_bin, "--config", opts.config.string()};
    const auto sets = set_args(all);
    argv.insert(argv.end(), sets.begin(), sets.end());
    if (!opts.log_level.empty()) {
        argv.emplace_back("--log-level");
        argv.push_back(opts.log_level);
    }
    proc_ = std::make_unique<ChildProcess>(argv, dir / "towngwd.log", std::filesystem::path(),
                                           opts.env);

    // A stale socket file from an earlier run refuses connections, so connecting (rather than
    // checking that the file exists) proves this daemon is listening.
    const bool ready = wait_until([&] { return !proc_->running() || unix_socket_accepts(socket_); },
                                  std::chrono::seconds(15)) &&
                       proc_->running();
    if (!ready) {
        std::string state = proc_->running() ? "still running" : proc_->exit_status()->describe();
        throw std::runtime_error("towngwd control socket " + socket_.string() + " not ready (" +
                                 state + ")\ncommand: " + proc_->command_line() + "\nlog:\n" +
                                 proc_->log_text());
    }
}

}  // namespace gw::test
