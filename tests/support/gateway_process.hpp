// SPDX-License-Identifier: Apache-2.0
// towngwd as a child process with a config file plus --set overrides. Storage and control
// socket are placed in the test's directory, so parallel tests never share state.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "child_process.hpp"

namespace gw::test {

/// A `--set /json/pointer=VALUE` override.
using Override = std::pair<std::string, std::string>;

struct GatewayOptions {
    std::string towngwd_bin;          ///< absolute path of towngwd
    std::filesystem::path config;     ///< --config FILE
    std::vector<Override> overrides;  ///< extra --set, applied after storage/socket
    std::string log_level = "debug";
    std::vector<std::string> env;  ///< extra environment, "NAME=value"
};

class GatewayProcess {
public:
    /// Starts towngwd with --set /storage/path=dir/outbox.db and /control/socket=dir/control.sock
    /// (then opts.overrides), logging to dir/towngwd.log (appended, so a restart in the same dir
    /// keeps one log). Waits up to 15 s until the control socket accepts connections; throws
    /// with the log if the daemon exits or the deadline passes.
    GatewayProcess(const GatewayOptions& opts, const std::filesystem::path& dir);

    ChildProcess& process() { return *proc_; }
    pid_t pid() const { return proc_->pid(); }
    const std::filesystem::path& control_socket() const { return socket_; }
    const std::filesystem::path& storage_path() const { return storage_; }
    std::string log_text() const { return proc_->log_text(); }

private:
    std::filesystem::path socket_;
    std::filesystem::path storage_;
    std::unique_ptr<ChildProcess> proc_;
};

/// True when a connection to the UNIX stream socket at path succeeds right now.
bool unix_socket_accepts(const std::filesystem::path& path);

/// `--set` arguments for a list of overrides.
std::vector<std::string> set_args(const std::vector<Override>& overrides);

}  // namespace gw::test
