// SPDX-License-Identifier: Apache-2.0
// A child process owned by a test. stdout and stderr go to log files; the destructor always
// stops and reaps the child (SIGTERM, up to 3 s grace, SIGKILL), so an assertion failure never
// leaves a process behind. The child also gets PR_SET_PDEATHSIG(SIGKILL), which covers the case
// where the test binary itself dies without running destructors.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace gw::test {

/// How a child ended: a normal exit with a code, or termination by a signal.
struct ExitStatus {
    bool signaled = false;  ///< true: killed by `signal`; false: exited with `code`
    int code = 0;           ///< exit code (valid when !signaled)
    int signal = 0;         ///< signal number (valid when signaled)

    bool exited_with(int c) const { return !signaled && code == c; }
    std::string describe() const;
};

/// ExitStatus of a waitpid() status word.
ExitStatus decode_wait_status(int wstatus);

/// waitpid(WNOHANG): the status once `pid` has exited, nothing while it runs.
std::optional<ExitStatus> reap_if_exited(pid_t pid);

/// SIGKILL, then a blocking (bounded: SIGKILL cannot be ignored) waitpid of `pid`.
ExitStatus kill_and_reap(pid_t pid);

class ChildProcess {
public:
    /// Starts argv[0] (an absolute path or a name looked up in PATH) with stdin from /dev/null.
    /// stdout goes to stdout_log (appended); stderr to stderr_log, or to stdout_log when empty.
    /// `extra_env` ("NAME=value") is added to (or replaces in) the test's environment.
    /// Throws std::runtime_error if the program cannot be executed.
    ChildProcess(std::vector<std::string> argv, std::filesystem::path stdout_log,
                 std::filesystem::path stderr_log = {}, std::vector<std::string> extra_env = {});
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    pid_t pid() const { return pid_; }
    /// True while the child has not exited (reaps it without blocking if it has).
    bool running();
    /// Sends sig to the child if it is still running.
    void signal(int sig);
    /// Waits (polling waitpid) until the child exits or timeout passes.
    std::optional<ExitStatus> wait_exit(std::chrono::milliseconds timeout);
    /// The exit status once the child has been reaped.
    const std::optional<ExitStatus>& exit_status() const { return status_; }
    /// SIGTERM, wait up to grace, then SIGKILL and reap. Returns the exit status.
    ExitStatus stop(std::chrono::milliseconds grace = std::chrono::seconds(3));

    /// Contents of the stdout log (and of the stderr log when separate).
    std::string log_text() const;
    std::string stdout_text() const;
    std::string stderr_text() const;
    /// The command line, for messages.
    std::string command_line() const;

private:
    bool try_reap();

    std::vector<std::string> argv_;
    std::filesystem::path stdout_log_;
    std::filesystem::path stderr_log_;
    pid_t pid_ = -1;
    std::optional<ExitStatus> status_;
};

/// The test's environment with the entries of `extra` ("NAME=value") added or replacing theirs.
std::vector<std::string> environment_with(const std::vector<std::string>& extra);

/// Result of run_command.
struct CommandResult {
    std::optional<ExitStatus> status;  ///< empty when the command timed out (it was killed)
    std::string out;
    std::string err;
};

/// Runs argv to completion (killing it after timeout), capturing stdout and stderr through
/// files in dir.
CommandResult run_command(const std::vector<std::string>& argv, const std::filesystem::path& dir,
                          std::chrono::milliseconds timeout = std::chrono::seconds(20));

/// Reads a whole file; empty string when it does not exist.
std::string read_file(const std::filesystem::path& path);

}  // namespace gw::test
