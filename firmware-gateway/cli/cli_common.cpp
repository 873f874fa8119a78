// SPDX-License-Identifier: Apache-2.0
#include "cli_common.hpp"

#include <poll.h>
#include <pwd.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <variant>

#include "config/config_loader.hpp"
#include "control_client.hpp"

namespace gw::cli {

std::string ArgCursor::value(const std::string& option, const std::string& expected) {
    if (done()) throw UsageError(option + " needs a value (" + expected + ")");
    return next();
}

double ArgCursor::number(const std::string& option, const std::string& expected) {
    if (done()) throw UsageError(option + " needs a value (" + expected + ")");
    return require_number(next(), option, expected);
}

bool ArgCursor::common(const std::string& arg, CommonOptions& out) {
    if (arg == "--json") {
        out.json = true;
    } else if (arg == "--help" || arg == "-h") {
        out.help = true;
    } else if (arg == "--socket") {
        out.socket = value(arg, "the control socket path, e.g. /run/towngw/control.sock");
    } else if (arg == "--config") {
        out.config = value(arg, "towngwd's configuration file, e.g. /etc/towngw/towngw.json");
    } else {
        return false;
    }
    return true;
}

std::optional<double> parse_number(const std::string& text) {
    if (text.empty() || std::isspace(static_cast<unsigned char>(text.front()))) return std::nullopt;
    const char* begin = text.c_str();
    char* end = nullptr;
    errno = 0;
    const double value = std::strtod(begin, &end);
    if (end != begin + text.size() || errno == ERANGE || !std::isfinite(value)) return std::nullopt;
    return value;
}

double require_number(const std::string& text, const std::string& option,
                      const std::string& expected) {
    if (auto value = parse_number(text)) return *value;
    throw UsageError(option + ": \"" + text + "\" is not a number (expected " + expected + ")");
}

long require_integer(const std::string& text, const std::string& option, long min, long max) {
    const std::string expected =
        "a whole number from " + std::to_string(min) + " to " + std::to_string(max);
    const auto value = parse_number(text);
    if (!value || std::floor(*value) != *value || text.find_first_of(".eE") != std::string::npos)
        throw UsageError(option + ": \"" + text + "\" is not " + expected);
    if (*value < static_cast<double>(min) || *value > static_cast<double>(max))
        throw UsageError(option + ": " + text + " is out of range (expected " + expected + ")");
    return static_cast<long>(*value);
}

void check_socket_options(const CommonOptions& options, const std::string& command) {
    if (!options.socket.empty() && !options.config.empty())
        throw UsageError(command + ": give --socket or --config, not both");
}

std::optional<std::string> resolve_socket(const CommonOptions& options) {
    if (!options.socket.empty()) return options.socket;
    if (options.config.empty()) return std::string(kDefaultSocket);
    auto loaded = gw::load_config(options.config);
    if (auto* errors = std::get_if<std::vector<gw::ConfigError>>(&loaded)) {
        for (const auto& e : *errors) std::cerr << e.to_string() << "\n";
        return std::nullopt;
    }
    return std::get<gw::Config>(loaded).control.socket;
}

int ask_daemon(const CommonOptions& options, const json& req, json& response) {
    const auto socket = resolve_socket(options);
    if (!socket) return kExitConfig;
    ControlClient client(*socket);
    auto answer = client.request(req);
    if (!answer) {
        std::cerr << "towngw: " << client.error() << "\n";
        return interrupted() ? kExitInterrupted : kExitUnavailable;
    }
    if (!answer->value("ok", false)) return report_refusal(*answer, options.json);
    response = std::move(*answer);
    return kExitOk;
}

json without_ok(json response) {
    response.erase("ok");
    return response;
}

std::string unix_user_name() {
    const uid_t uid = ::getuid();
    if (const passwd* pw = ::getpwuid(uid); pw != nullptr && pw->pw_name != nullptr)
        return pw->pw_name;
    return "uid" + std::to_string(uid);
}

std::vector<std::string> refusal_reasons(const json& response) {
    std::vector<std::string> reasons;
    const json* list = nullptr;
    if (response.contains("reasons"))
        list = &response["reasons"];
    else if (response.contains("preview") && response["preview"].is_object() &&
             response["preview"].contains("reasons"))
        list = &response["preview"]["reasons"];
    if (list == nullptr || !list->is_array()) return reasons;
    for (const auto& reason : *list)
        reasons.push_back(reason.is_string() ? reason.get<std::string>() : reason.dump());
    return reasons;
}

int refusal_exit_code(const json& response) {
    return response.value("code", "") == "rejected" ? kExitRejected : kExitRefused;
}

int report_refusal(const json& response, bool as_json) {
    std::string error = "unknown error";
    if (response.contains("error") && response["error"].is_string())
        error = response["error"].get<std::string>();
    std::cerr << "towngw: towngwd says: " << error << "\n";
    for (const auto& reason : refusal_reasons(response)) std::cerr << "  - " << reason << "\n";
    if (as_json) std::cout << response.dump(2) << "\n";
    return refusal_exit_code(response);
}

namespace {
std::atomic<bool> g_interrupted{false};
void on_interrupt(int) {
    g_interrupted = true;
}
}  // namespace

void install_interrupt_handler() {
    struct sigaction action {};
    action.sa_handler = on_interrupt;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;  // no SA_RESTART: poll(), read() and recv() return EINTR
    ::sigaction(SIGINT, &action, nullptr);
    ::sigaction(SIGTERM, &action, nullptr);
    // A dropped SSH connection (a phone in the rain): abort the session like Ctrl-C, so the
    // sensor's data are not left flagged C until the session's 30-minute expiry.
    ::sigaction(SIGHUP, &action, nullptr);
}

bool interrupted() {
    return g_interrupted;
}

bool sleep_ms(int ms) {
    if (g_interrupted) return false;
    ::poll(nullptr, 0, ms);
    return !g_interrupted;
}

bool interactive_terminal() {
    return ::isatty(STDIN_FILENO) == 1 && ::isatty(STDOUT_FILENO) == 1;
}

}  // namespace gw::cli
