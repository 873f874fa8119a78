// SPDX-License-Identifier: Apache-2.0
#include "pty_session.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "wait.hpp"

namespace gw::test {
namespace {

/// Writes errno to the status pipe and exits; only async-signal-safe calls (runs after fork).
[[noreturn]] void child_fail(int pipe_fd) {
    const int err = errno;
    ssize_t n = ::write(pipe_fd, &err, sizeof err);
    (void)n;
    ::_exit(127);
}

std::string errno_text(const std::string& what) {
    return what + ": " + std::strerror(errno);
}

/// argv[0] as execve wants it: unchanged when it names a path, else found in PATH (done before
/// fork, where execvp's allocation would not be safe).
std::string resolve_program(const std::string& name) {
    if (name.find('/') != std::string::npos) return name;
    const char* path = std::getenv("PATH");
    std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
    std::size_t start = 0;
    while (start <= dirs.size()) {
        const std::size_t end = std::min(dirs.find(':', start), dirs.size());
        const std::string dir = end > start ? dirs.substr(start, end - start) : ".";
        const std::string candidate = dir + "/" + name;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
        start = end + 1;
    }
    return name;  // execve fails with ENOENT, reported like any other exec failure
}

/// The test's environment with TERM, COLUMNS and LINES replaced, plus `extra` ("NAME=value").
std::vector<std::string> child_environment(const std::vector<std::string>& extra) {
    std::vector<std::string> env{"TERM=dumb", "COLUMNS=80", "LINES=24"};
    env.insert(env.end(), extra.begin(), extra.end());
    return environment_with(env);
}

}  // namespace

PtySession::PtySession(std::vector<std::string> argv, std::vector<std::string> extra_env)
    : argv_(std::move(argv)) {
    if (argv_.empty()) throw std::invalid_argument("PtySession: empty argv");

    // Everything the child needs is prepared before fork: after fork in a multi-threaded
    // process (Paho runs threads) only async-signal-safe calls are allowed.
    const std::string program = resolve_program(argv_[0]);
    std::vector<char*> cargv;
    for (auto& a : argv_) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    std::vector<std::string> env = child_environment(extra_env);
    std::vector<char*> cenv;
    for (auto& e : env) cenv.push_back(e.data());
    cenv.push_back(nullptr);

    master_fd_ = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master_fd_ < 0) throw std::runtime_error(errno_text("posix_openpt"));
    char slave_name[128];
    if (::grantpt(master_fd_) != 0 || ::unlockpt(master_fd_) != 0 ||
        ::ptsname_r(master_fd_, slave_name, sizeof slave_name) != 0) {
        const std::string why = errno_text("pty setup");
        ::close(master_fd_);
        throw std::runtime_error(why);
    }
    const int slave_fd = ::open(slave_name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave_fd < 0) {
        const std::string why = errno_text(std::string("open ") + slave_name);
        ::close(master_fd_);
        throw std::runtime_error(why);
    }
    // A terminal as a technician has it: line editing, echo, Ctrl-C sends SIGINT, Enter (CR)
    // arrives as "\n", "\n" goes out as "\r\n"; 80 columns.
    termios tio{};
    if (::tcgetattr(slave_fd, &tio) == 0) {
        tio.c_lflag |= ISIG | ICANON | ECHO;
        tio.c_iflag |= ICRNL;
        tio.c_oflag |= OPOST | ONLCR;
        tio.c_cc[VINTR] = 0x03;
        ::tcsetattr(slave_fd, TCSANOW, &tio);
    }
    winsize ws{};
    ws.ws_col = 80;
    ws.ws_row = 24;
    ::ioctl(slave_fd, TIOCSWINSZ, &ws);

    int status_pipe[2] = {-1, -1};
    if (::pipe2(status_pipe, O_CLOEXEC) != 0 || ::pipe2(wake_pipe_, O_CLOEXEC) != 0) {
        const std::string why = errno_text("pipe");
        for (const int fd : {slave_fd, master_fd_, status_pipe[0], status_pipe[1]})
            if (fd >= 0) ::close(fd);
        throw std::runtime_error(why);
    }
    const pid_t parent = ::getpid();

    const pid_t pid = ::fork();
    if (pid < 0) {
        const std::string why = errno_text("fork");
        for (const int fd :
             {slave_fd, master_fd_, status_pipe[0], status_pipe[1], wake_pipe_[0], wake_pipe_[1]})
            ::close(fd);
        throw std::runtime_error(why);
    }
    if (pid == 0) {
        ::close(status_pipe[0]);
        if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) {
            ::_exit(126);  // the test process is already gone
        }
        // Undo anything the test runner may have changed that exec would inherit (a runner
        // started in the background by a shell ignores SIGINT, for example).
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        for (const int sig : {SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU, SIGHUP})
            ::signal(sig, SIG_DFL);
        // A new session whose controlling terminal is the pty: its process group is the
        // terminal's foreground group, which receives the SIGINT of Ctrl-C.
        if (::setsid() < 0 || ::ioctl(slave_fd, TIOCSCTTY, 0) != 0) child_fail(status_pipe[1]);
        if (::dup2(slave_fd, STDIN_FILENO) < 0 || ::dup2(slave_fd, STDOUT_FILENO) < 0 ||
            ::dup2(slave_fd, STDERR_FILENO) < 0) {
            child_fail(status_pipe[1]);
        }
        ::execve(program.c_str(), cargv.data(), cenv.data());
        child_fail(status_pipe[1]);
    }

    // The child holds the only slave descriptor now: when it (and anything it started) exits,
    // reading the master side reports EIO, which is the reader's end of output.
    ::close(slave_fd);
    ::close(status_pipe[1]);
    pid_ = pid;
    // The pipe is close-on-exec: EOF means exec succeeded, an int means it failed.
    int child_errno = 0;
    ssize_t n;
    do {
        n = ::read(status_pipe[0], &child_errno, sizeof child_errno);
    } while (n < 0 && errno == EINTR);
    ::close(status_pipe[0]);
    reader_ = std::thread([this] { read_loop(); });
    if (n == static_cast<ssize_t>(sizeof child_errno)) {
        wait_exit(std::chrono::seconds(5));
        stopping_ = true;
        ssize_t w = ::write(wake_pipe_[1], "x", 1);
        (void)w;
        reader_.join();
        ::close(master_fd_);
        ::close(wake_pipe_[0]);
        ::close(wake_pipe_[1]);
        throw std::runtime_error("cannot execute " + argv_[0] +
                                 " on a pty: " + std::strerror(child_errno));
    }
}

PtySession::~PtySession() {
    try {
        stop();
    } catch (...) {
        // A destructor must not throw; stop() only fails if waitpid does, which means the
        // child is already gone.
    }
    stopping_ = true;
    ssize_t w = ::write(wake_pipe_[1], "x", 1);
    (void)w;
    if (reader_.joinable()) reader_.join();
    ::close(master_fd_);
    ::close(wake_pipe_[0]);
    ::close(wake_pipe_[1]);
}

void PtySession::read_loop() {
    char buf[4096];
    while (!stopping_) {
        pollfd fds[2] = {{master_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
        const int ready = ::poll(fds, 2, -1);
        if (ready < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (fds[1].revents != 0) break;  // shutting down
        if (fds[0].revents == 0) continue;
        const ssize_t n = ::read(master_fd_, buf, sizeof buf);
        if (n > 0) {
            {
                std::lock_guard<std::mutex> lock(mutex_);
                output_.append(buf, static_cast<std::size_t>(n));
            }
            cv_.notify_all();
            continue;
        }
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        break;  // 0 or EIO: no process has the slave side open any more
    }
    {
        std::lock_guard<std::mutex> lock(mutex_);
        eof_ = true;
    }
    cv_.notify_all();
}

bool PtySession::expect(const std::string& text, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    const auto found = [&] { return output_.find(text, match_end_); };
    cv_.wait_for(lock, timeout, [&] { return found() != std::string::npos || eof_; });
    const auto pos = found();
    if (pos == std::string::npos) return false;
    match_end_ = pos + text.size();
    return true;
}

void PtySession::send(const std::string& text) {
    std::size_t sent = 0;
    while (sent < text.size()) {
        const ssize_t n = ::write(master_fd_, text.data() + sent, text.size() - sent);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            return;  // the child is gone: what it did not read does not matter
        }
        sent += static_cast<std::size_t>(n);
    }
}

void PtySession::send_line(const std::string& text) {
    send(text + "\r");  // what Enter sends; the line discipline (ICRNL) makes it "\n"
}

void PtySession::send_ctrl_c() {
    send("\x03");
}

bool PtySession::try_reap() {
    if (status_) return true;
    status_ = reap_if_exited(pid_);
    return status_.has_value();
}

bool PtySession::running() {
    return !try_reap();
}

std::optional<ExitStatus> PtySession::wait_exit(std::chrono::milliseconds timeout) {
    wait_until([this] { return try_reap(); }, timeout, std::chrono::milliseconds(10));
    if (status_) {
        // What the child wrote just before exiting may still be in the pty.
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait_for(lock, std::chrono::seconds(2), [this] { return eof_; });
    }
    return status_;
}

ExitStatus PtySession::stop(std::chrono::milliseconds grace) {
    if (!try_reap()) {
        ::kill(pid_, SIGTERM);
        if (!wait_exit(grace)) {
            status_ = kill_and_reap(pid_);
        }
    }
    return *status_;
}

std::string PtySession::output() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return output_;
}

std::string PtySession::command_line() const {
    std::string s;
    for (const auto& a : argv_) {
        if (!s.empty()) s += ' ';
        s += a;
    }
    return s;
}

}  // namespace gw::test
