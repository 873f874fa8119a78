// SPDX-License-Identifier: Apache-2.0
// towngw CLI: exit codes, command-line helpers and the options every command shares.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace gw::cli {

using json = nlohmann::json;

// Exit codes (documented in `towngw --help`; scripts rely on them).
constexpr int kExitOk = 0;
constexpr int kExitRefused = 1;        ///< the daemon answered with an error; EOF at a prompt
constexpr int kExitRejected = 2;       ///< a calibration fails its acceptance limits
constexpr int kExitUsage = 64;         ///< EX_USAGE: bad command line
constexpr int kExitUnavailable = 69;   ///< EX_UNAVAILABLE: towngwd not reachable
constexpr int kExitConfig = 78;        ///< EX_CONFIG: bad configuration file
constexpr int kExitInterrupted = 130;  ///< Ctrl-C (128 + SIGINT)

constexpr const char* kDefaultSocket = "/run/towngw/control.sock";

/// A bad command line. The message names the argument and what was expected; main() prints it
/// with a pointer to `towngw COMMAND --help` and exits 64.
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Options every command that talks to towngwd accepts.
struct CommonOptions {
    std::string socket;  ///< --socket PATH
    std::string config;  ///< --config FILE: take the socket path from towngwd's configuration
    bool json{false};    ///< --json
    bool help{false};    ///< --help / -h
};

/// Walks one command's arguments; option values are taken with value()/number().
class ArgCursor {
public:
    explicit ArgCursor(const std::vector<std::string>& args) : args_(args) {}

    bool done() const { return index_ >= args_.size(); }
    /// The current argument; advances.
    const std::string& next() { return args_[index_++]; }
    /// The argument after `option`; UsageError naming the option and `expected` when missing.
    std::string value(const std::string& option, const std::string& expected);
    /// value() parsed as a finite number; UsageError naming the option on anything else.
    double number(const std::string& option, const std::string& expected);
    /// Consumes --socket, --config, --json, --help (and -h) into `out`; false for anything else.
    bool common(const std::string& arg, CommonOptions& out);

private:
    const std::vector<std::string>& args_;
    std::size_t index_{0};
};

/// Whole-string decimal number ("18.5", "-0.3", "1e3"); rejects "", "18,5", "12abc", nan, inf.
std::optional<double> parse_number(const std::string& text);

/// parse_number() or UsageError: `--temp: "abc" is not a number (expected ...)`.
double require_number(const std::string& text, const std::string& option,
                      const std::string& expected);

/// Whole number in [min, max] or UsageError naming the option and the range.
long require_integer(const std::string& text, const std::string& option, long min, long max);

/// Rejects giving both --socket and --config.
void check_socket_options(const CommonOptions& options, const std::string& command);

/// The control socket: --socket, else control.socket of --config FILE, else the default.
/// Prints the configuration errors and returns nullopt when FILE is bad (exit 78).
std::optional<std::string> resolve_socket(const CommonOptions& options);

/// Resolves the socket of `options`, sends `req` on a new connection and, when the daemon
/// answers "ok": true, stores the answer in `response` and returns 0. Otherwise prints why and
/// returns the exit code: 78 bad configuration, 69 daemon not reachable, 1 or 2 refused (with
/// `options.json` the refusal also goes to stdout as JSON).
int ask_daemon(const CommonOptions& options, const json& req, json& response);

/// A daemon's answer without its "ok", for --json output.
json without_ok(json response);

/// The Unix login name of the caller (getpwuid(getuid())), or "uid<N>" when it has none.
std::string unix_user_name();

/// "towngw: towngwd says: ERROR" (plus each reason of a `rejected` answer) on stderr; with
/// `as_json` the response also goes to stdout. Returns 2 for code "rejected", else 1.
int report_refusal(const json& response, bool as_json);

/// The reasons of a refusal (`reasons`, else `preview.reasons`), one string each.
std::vector<std::string> refusal_reasons(const json& response);

/// Exit code for a daemon error response: 2 for "rejected", else 1.
int refusal_exit_code(const json& response);

// --- Ctrl-C ---------------------------------------------------------------------------------

/// SIGINT/SIGTERM set a flag instead of killing the process, and interrupt blocking calls
/// (no SA_RESTART), so a command can clean up (abort a calibration session) before exiting.
void install_interrupt_handler();
bool interrupted();

/// Sleeps `ms` milliseconds; returns false at once when interrupted.
bool sleep_ms(int ms);

/// stdin and stdout are both terminals.
bool interactive_terminal();

}  // namespace gw::cli
