// SPDX-License-Identifier: Apache-2.0
// A command run on a pseudo-terminal, for tests of interactive programs (the `towngw calibrate`
// wizard): its stdin, stdout and stderr are the pty's slave side, it is a session leader with the
// pty as its controlling terminal, so isatty() is true and Ctrl-C (0x03) makes the line
// discipline send SIGINT, as on a real terminal. Like pexpect: expect() waits (with a deadline)
// until the output shows a text, send_line() types an answer. A reader thread drains the pty all
// the time, so the child never blocks on a full pty buffer while the test does something else.
// The destructor always stops and reaps the child (SIGTERM, up to 3 s grace, SIGKILL).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"

namespace gw::test {

class PtySession {
public:
    /// Starts argv[0] (an absolute path or a name looked up in PATH) on a new pty (80x24) with
    /// the test's environment plus TERM=dumb, COLUMNS=80, LINES=24 and `extra_env`
    /// ("NAME=value" entries, which win). Throws std::runtime_error if the pty cannot be set up
    /// or the program cannot be executed.
    explicit PtySession(std::vector<std::string> argv, std::vector<std::string> extra_env = {});
    ~PtySession();
    PtySession(const PtySession&) = delete;
    PtySession& operator=(const PtySession&) = delete;

    pid_t pid() const { return pid_; }

    /// Waits until the output after the previous match contains `text`; then the next expect()
    /// searches after this match (as pexpect does, so a prompt that appears twice is matched
    /// twice). False when the timeout passes, or at once when the child closed the pty without
    /// printing it.
    bool expect(const std::string& text, std::chrono::milliseconds timeout);
    /// Writes `text` as typed (no newline).
    void send(const std::string& text);
    /// Writes `text` and Enter.
    void send_line(const std::string& text = {});
    /// Types Ctrl-C: the terminal sends SIGINT to the child's foreground process group.
    void send_ctrl_c();

    /// True while the child has not exited (reaps it without blocking if it has).
    bool running();
    /// Waits until the child exits (then briefly for the rest of its output) or timeout passes.
    std::optional<ExitStatus> wait_exit(std::chrono::milliseconds timeout);
    /// SIGTERM, up to `grace`, then SIGKILL; reaps the child. Returns its exit status.
    ExitStatus stop(std::chrono::milliseconds grace = std::chrono::seconds(3));

    /// Everything the child printed so far (with the terminal's echo of what was typed and
    /// "\r\n" line ends), for assertions and failure reports.
    std::string output() const;
    /// The command line, for messages.
    std::string command_line() const;

private:
    void read_loop();
    bool try_reap();

    std::vector<std::string> argv_;
    int master_fd_ = -1;
    int wake_pipe_[2] = {-1, -1};  ///< wakes the reader thread up for shutdown
    pid_t pid_ = -1;
    std::optional<ExitStatus> status_;

    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::string output_;         ///< guarded by mutex_
    std::size_t match_end_ = 0;  ///< guarded by mutex_: where the next expect() searches from
    bool eof_ = false;           ///< guarded by mutex_: the slave side is closed
    std::atomic<bool> stopping_{false};
    std::thread reader_;
};

}  // namespace gw::test
