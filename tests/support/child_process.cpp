// SPDX-License-Identifier: Apache-2.0
#include "child_process.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "wait.hpp"

namespace gw::test {

ExitStatus decode_wait_status(int wstatus) {
    ExitStatus s;
    if (WIFSIGNALED(wstatus)) {
        s.signaled = true;
        s.signal = WTERMSIG(wstatus);
    } else {
        s.code = WEXITSTATUS(wstatus);
    }
    return s;
}

std::optional<ExitStatus> reap_if_exited(pid_t pid) {
    int wstatus = 0;
    pid_t r;
    do {
        r = ::waitpid(pid, &wstatus, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == pid) return decode_wait_status(wstatus);
    // ECHILD: someone else reaped it; treat as gone with an unknown status.
    if (r < 0) return ExitStatus{true, 0, 0};
    return std::nullopt;
}

ExitStatus kill_and_reap(pid_t pid) {
    ::kill(pid, SIGKILL);
    int wstatus = 0;
    pid_t r;
    do {
        r = ::waitpid(pid, &wstatus, 0);
    } while (r < 0 && errno == EINTR);
    return r == pid ? decode_wait_status(wstatus) : ExitStatus{true, 0, SIGKILL};
}
namespace {

/// Writes errno to the status pipe and exits; only async-signal-safe calls (runs after fork).
[[noreturn]] void child_fail(int pipe_fd) {
    const int err = errno;
    ssize_t n = ::write(pipe_fd, &err, sizeof err);
    (void)n;
    ::_exit(127);
}

}  // namespace

std::string ExitStatus::describe() const {
    if (signaled) {
        return std::string("killed by signal ") + std::to_string(signal) + " (" +
               ::strsignal(signal) + ")";
    }
    return "exited with code " + std::to_string(code);
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return {};
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::vector<std::string> environment_with(const std::vector<std::string>& extra) {
    const auto name_of = [](const std::string& entry) { return entry.substr(0, entry.find('=')); };
    std::vector<std::string> out;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        const std::string entry = *e;
        const bool replaced = std::any_of(extra.begin(), extra.end(), [&](const std::string& mine) {
            return name_of(mine) == name_of(entry);
        });
        if (!replaced) out.push_back(entry);
    }
    out.insert(out.end(), extra.begin(), extra.end());
    return out;
}

ChildProcess::ChildProcess(std::vector<std::string> argv, std::filesystem::path stdout_log,
                           std::filesystem::path stderr_log, std::vector<std::string> extra_env)
    : argv_(std::move(argv)),
      stdout_log_(std::move(stdout_log)),
      stderr_log_(std::move(stderr_log)) {
    if (argv_.empty()) {
        throw std::invalid_argument("ChildProcess: empty argv");
    }
    // Everything the child needs is prepared before fork: after fork in a multi-threaded
    // process (Paho runs threads) only async-signal-safe calls are allowed.
    std::vector<char*> cargv;
    cargv.reserve(argv_.size() + 1);
    for (auto& a : argv_) {
        cargv.push_back(a.data());
    }
    cargv.push_back(nullptr);
    std::vector<std::string> env = environment_with(extra_env);
    std::vector<char*> cenv;
    cenv.reserve(env.size() + 1);
    for (auto& e : env) cenv.push_back(e.data());
    cenv.push_back(nullptr);

    const int out_fd = ::open(stdout_log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out_fd < 0) {
        throw std::runtime_error("open " + stdout_log_.string() + ": " + std::strerror(errno));
    }
    int err_fd = out_fd;
    if (!stderr_log_.empty()) {
        err_fd = ::open(stderr_log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (err_fd < 0) {
            ::close(out_fd);
            throw std::runtime_error("open " + stderr_log_.string() + ": " + std::strerror(errno));
        }
    }
    const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    int status_pipe[2];
    if (null_fd < 0 || ::pipe2(status_pipe, O_CLOEXEC) != 0) {
        throw std::runtime_error(std::string("ChildProcess setup: ") + std::strerror(errno));
    }
    const pid_t parent = ::getpid();

    const pid_t pid = ::fork();
    if (pid < 0) {
        throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
        ::close(status_pipe[0]);
        if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) {
            ::_exit(126);  // the test process is already gone
        }
        // Undo anything the test runner may have changed that exec would inherit.
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::signal(SIGPIPE, SIG_DFL);
        if (::dup2(null_fd, STDIN_FILENO) < 0 || ::dup2(out_fd, STDOUT_FILENO) < 0 ||
            ::dup2(err_fd, STDERR_FILENO) < 0) {
            child_fail(status_pipe[1]);
        }
        ::execvpe(cargv[0], cargv.data(), cenv.data());
        child_fail(status_pipe[1]);
    }

    ::close(status_pipe[1]);
    ::close(null_fd);
    ::close(out_fd);
    if (err_fd != out_fd) {
        ::close(err_fd);
    }
    pid_ = pid;
    // The pipe is close-on-exec: EOF means exec succeeded, an int means it failed.
    int child_errno = 0;
    ssize_t n;
    do {
        n = ::read(status_pipe[0], &child_errno, sizeof child_errno);
    } while (n < 0 && errno == EINTR);
    ::close(status_pipe[0]);
    if (n == static_cast<ssize_t>(sizeof child_errno)) {
        wait_exit(std::chrono::seconds(5));
        throw std::runtime_error("cannot execute " + argv_[0] + ": " + std::strerror(child_errno));
    }
}

ChildProcess::~ChildProcess() {
    try {
        stop();
    } catch (...) {
        // A destructor must not throw; stop() only fails if waitpid does, which means the
        // child is already gone.
    }
}

bool ChildProcess::try_reap() {
    if (status_) {
        return true;
    }
    status_ = reap_if_exited(pid_);
    return status_.has_value();
}

bool ChildProcess::running() {
    return !try_reap();
}

void ChildProcess::signal(int sig) {
    if (!try_reap()) {
        ::kill(pid_, sig);
    }
}

std::optional<ExitStatus> ChildProcess::wait_exit(std::chrono::milliseconds timeout) {
    wait_until([this] { return try_reap(); }, timeout, std::chrono::milliseconds(10));
    return status_;
}

ExitStatus ChildProcess::stop(std::chrono::milliseconds grace) {
    if (!try_reap()) {
        ::kill(pid_, SIGTERM);
        if (!wait_exit(grace)) {
            status_ = kill_and_reap(pid_);
        }
    }
    return *status_;
}

std::string ChildProcess::stdout_text() const {
    return read_file(stdout_log_);
}

std::string ChildProcess::stderr_text() const {
    return stderr_log_.empty() ? std::string() : read_file(stderr_log_);
}

std::string ChildProcess::log_text() const {
    std::string text = stdout_text();
    if (!stderr_log_.empty()) {
        text += stderr_text();
    }
    return text;
}

std::string ChildProcess::command_line() const {
    std::string s;
    for (const auto& a : argv_) {
        if (!s.empty()) {
            s += ' ';
        }
        s += a;
    }
    return s;
}

CommandResult run_command(const std::vector<std::string>& argv, const std::filesystem::path& dir,
                          std::chrono::milliseconds timeout) {
    static std::atomic<int> counter{0};
    const std::string tag = "cmd" + std::to_string(counter++);
    const auto out_path = dir / (tag + ".out");
    const auto err_path = dir / (tag + ".err");
    CommandResult result;
    {
        ChildProcess child(argv, out_path, err_path);
        result.status = child.wait_exit(timeout);
        if (!result.status) {
            child.stop(std::chrono::milliseconds(500));
        }
    }
    result.out = read_file(out_path);
    result.err = read_file(err_path);
    return result;
}

}  // namespace gw::test
