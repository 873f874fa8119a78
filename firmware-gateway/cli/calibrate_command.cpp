// SPDX-License-Identifier: Apache-2.0
// towngw calibrate: a calibration session (docs/control-protocol.md "Calibration"), either as an
// interactive wizard on a terminal or unattended from the command line. Whatever goes wrong
// (refusal, timeout, Ctrl-C, EOF), an open session is aborted before exiting, so the sensor's
// readings are not left flagged C.
//
// The wizard works in the terminal's ordinary line mode: prompts end with a space and are
// flushed, answers are read line by line, and the live reading is refreshed between polls of
// stdin, so a test can drive it through a pty by writing lines.
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "cli_args.hpp"
#include "cli_common.hpp"
#include "cli_format.hpp"
#include "commands.hpp"
#include "control_client.hpp"

namespace gw::cli {

const char* const kCalibrateUsage = R"(usage: towngw calibrate SENSOR [OPTIONS]

On a terminal, without point options: a wizard. It tells you which standard to
use, shows the live reading and whether it is STABLE, records the point when you
press Enter, shows the result and asks before committing. Ctrl-C aborts at any
prompt; nothing is recorded.
With point options (or without a terminal): the same steps, unattended. Put the
probe in the first standard before you start, and in the next one when
"point N/M:" (or "verify:") is printed. Before each point it waits up to 120 s
for a stable reading; from the second point on also until the probe is in the
next standard: for the 10 s a point averages, every reading must differ from the
previous point's by more than 0.5 pH (30 mV for a probe reporting mV), other
sensors 1 % (at least 0.001 in the sensor's unit). Nothing is stored without
--commit. While a session is open, the sensor's data are flagged C.

Who and why:
  --technician NAME   default: your Unix user
  --reason R          scheduled, after_cleaning, drift, replacement or free text
  --probe-serial SN   serial number of the probe
Points, recorded in the order given:
  --buffers gb|nist|technical  pH buffer table (default: as configured)
  --buffer NAME --temp C       pH buffer and its temperature in °C
  --point REF                  a standard's true value: turbidity NTU (0 = zero
                               water), level m (staff gauge), flow 0
  --kcl 1413|12880|146.5 --temp C     conductivity: KCl standard, µS/cm at 25 °C
  --standard-us-cm US --temp C        conductivity: another standard
  --temp C [--pressure KPA] [--salinity G]
                               dissolved oxygen in air-saturated water
  --zero                       dissolved oxygen in sulfite solution
  --position empty|full        bin: measure the empty (or full) distance now
  --full-mm MM                 bin: distance to the full line, not measured
  --lot LOT --expiry YYYY-MM   lot and expiry of the standard just given
Check and finish:
  --verify-buffer NAME --verify-temp C  pH: re-read the first buffer (0.05 pH)
  --verify-point REF           other sensors: re-read a standard
  --force       record at once, without waiting for a stable reading (marked
                unstable) or for the move to the next standard
  --commit      store the calibration (default: show the result, then abort)
  --dry-run     never store it, even in the wizard
  --note TEXT   stored with the calibration
  --takeover    end another session open on the sensor
  --yes, -y     do not ask before committing
  --json        one JSON document at the end (prompts go to stderr)
  --socket PATH | --config FILE
                which towngwd (default /run/towngw/control.sock)

Exit codes: 0 committed, or not committed but would pass; 1 refused, aborted
or not stable in time; 2 rejected (fails its acceptance limits); 64 bad command
line; 69 towngwd not reachable; 130 Ctrl-C.

  e.g. towngw calibrate water1.ph
       towngw calibrate water1.ph --buffers gb --buffer 6.86 --temp 18.5 \
         --buffer 4.00 --temp 18.7 --verify-buffer 6.86 --verify-temp 18.6 \
         --commit
       towngw calibrate river1.turbidity --point 0 --point 100 --commit
       towngw calibrate pond1.do --temp 21.3 --pressure 92.4 --commit
)";

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr auto kStableDeadline = seconds(120);
constexpr milliseconds kCalibrationTimeout{30000};

/// Thrown once the reason is printed; run() aborts the session and exits with `code`.
struct Stop {
    int code;
};

/// Lines from stdin, read with read(2) so that poll() on fd 0 tells the truth (no stdio
/// buffer in between).
class LineInput {
public:
    enum class Result { Line, Eof, Interrupted, Timeout };

    /// Waits up to `timeout_ms` (-1: no limit) for a whole line (without "\n" or "\r").
    Result read_line(std::string& line, int timeout_ms) {
        const auto deadline = Clock::now() + milliseconds(timeout_ms < 0 ? 0 : timeout_ms);
        while (true) {
            if (take_line(line)) return Result::Line;
            if (eof_) {
                if (buffer_.empty()) return Result::Eof;
                line.swap(buffer_);
                buffer_.clear();
                return Result::Line;
            }
            if (interrupted()) return Result::Interrupted;
            int wait = -1;
            if (timeout_ms >= 0) {
                const auto left =
                    std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
                if (left <= 0) return Result::Timeout;
                wait = static_cast<int>(left);
            }
            pollfd pfd{STDIN_FILENO, POLLIN, 0};
            const int ready = ::poll(&pfd, 1, wait);
            if (ready < 0) {
                if (errno == EINTR) continue;  // interrupted() decides
                eof_ = true;
                continue;
            }
            if (ready == 0) return Result::Timeout;
            char buf[512];
            const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
            if (n < 0) {
                if (errno == EINTR || errno == EAGAIN) continue;
                eof_ = true;
            } else if (n == 0) {
                eof_ = true;
            } else {
                buffer_.append(buf, static_cast<std::size_t>(n));
            }
        }
    }

private:
    bool take_line(std::string& line) {
        const auto end = buffer_.find('\n');
        if (end == std::string::npos) return false;
        line = buffer_.substr(0, end);
        buffer_.erase(0, end + 1);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return true;
    }

    std::string buffer_;
    bool eof_{false};
};

std::string trim(const std::string& text) {
    const auto first = text.find_first_not_of(" \t");
    if (first == std::string::npos) return {};
    const auto last = text.find_last_not_of(" \t");
    return text.substr(first, last - first + 1);
}

std::string number_string(double value) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", value);
    return buf;
}

/// Buffers of a table, neutral first (HJ 1147-2020: neutral, then acid or alkaline).
std::vector<std::string> buffer_order(const std::string& table) {
    if (table == "technical") return {"7.00", "4.01", "10.01"};
    if (table == "nist") return {"6.86", "4.01", "9.18"};
    return {"6.86", "4.00", "9.18"};
}

/// "gb", "nist" or "technical" from what the daemon calls the table.
std::string table_alias(const std::string& name) {
    if (name == "chinese-gb" || name == "gb") return "gb";
    if (name == "nist") return "nist";
    if (name == "technical") return "technical";
    return {};
}

enum class Model { Ph, Turbidity, DissolvedOxygen, Conductivity, Flow, Level, Bin, Generic };

Model model_of(const std::string& name) {
    if (name == "ph") return Model::Ph;
    if (name == "turbidity") return Model::Turbidity;
    if (name == "do" || name == "dissolved_oxygen" || name.find("oxygen") != std::string::npos)
        return Model::DissolvedOxygen;
    if (name == "conductivity") return Model::Conductivity;
    if (name == "flow" || name == "zero") return Model::Flow;
    if (name == "level") return Model::Level;
    if (name == "bin") return Model::Bin;
    return Model::Generic;
}

class Calibration {
public:
    Calibration(CalibrateArgs args, ControlClient& client, bool wizard)
        : args_(std::move(args)),
          client_(client),
          wizard_(wizard),
          ui_(args_.common.json ? stderr : stdout),
          ui_tty_(::isatty(::fileno(ui_)) == 1) {
        doc_ = {{"sensor", args_.sensor}, {"points", json::array()}, {"committed", false}};
    }

    int run() {
        int code = kExitOk;
        try {
            lookup_sensor();
            if (wizard_) ask_session_details();
            begin();
            if (wizard_)
                code = run_wizard();
            else
                code = run_script();
        } catch (const Stop& stop) {
            code = stop.code;
            end_line();
            const bool had_session = !session_.empty();
            abort_session();
            if (had_session || wizard_ || code == kExitInterrupted)
                std::fprintf(stderr, "calibration aborted, nothing recorded\n");
        } catch (const std::exception& e) {
            // Anything unexpected (e.g. an answer of the wrong shape): never leave the session
            // open.
            code = kExitRefused;
            end_line();
            std::fprintf(stderr, "towngw: %s\n", e.what());
            doc_["error"] = {{"error", e.what()}};
            abort_session();
            std::fprintf(stderr, "calibration aborted, nothing recorded\n");
        }
        doc_["exit_code"] = code;
        if (args_.common.json)
            std::cout << doc_.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
        std::fflush(stdout);
        return code;
    }

private:
    // --- output -----------------------------------------------------------------------------

    void say(const std::string& text) {
        end_line();
        std::fprintf(ui_, "%s\n", text.c_str());
        std::fflush(ui_);
    }

    /// Rewrites the live line in place (terminal) or prints it (pipe).
    void show_live(const std::string& line) {
        if (!ui_tty_) {
            std::fprintf(ui_, "%s\n", line.c_str());
        } else {
            std::string padded = line;
            if (padded.size() < live_width_)
                padded += std::string(live_width_ - padded.size(), ' ');
            std::fprintf(ui_, "\r%s", padded.c_str());
            live_width_ = line.size();
            live_open_ = true;
        }
        std::fflush(ui_);
    }

    /// Ends a live line left open on the terminal.
    void end_line() {
        if (live_open_) std::fprintf(ui_, "\n");
        live_open_ = false;
        live_width_ = 0;
    }

    void print_preview(const json& preview) {
        if (!preview.is_object() || preview.empty()) return;
        say("result so far:");
        for (const auto& line : preview_lines(preview, unit_)) say(line);
        shown_preview_ = preview;
    }

    // --- requests ---------------------------------------------------------------------------

    [[noreturn]] void fail(int code, const std::string& message) {
        end_line();
        std::fprintf(stderr, "towngw: %s\n", message.c_str());
        doc_["error"] = {{"error", message}};
        throw Stop{code};
    }

    void check_interrupt() {
        if (interrupted()) throw Stop{kExitInterrupted};
    }

    json call(const json& req, milliseconds timeout = ControlClient::kDefaultTimeout) {
        check_interrupt();
        auto response = client_.request(req, timeout);
        if (!response) {
            if (client_.interrupted() || interrupted()) throw Stop{kExitInterrupted};
            fail(kExitUnavailable, client_.error());
        }
        return *response;
    }

    /// Prints a refusal (and each reason) and stops with 1, or 2 for `rejected`.
    [[noreturn]] void refuse(const json& response, const std::string& hint = {}) {
        end_line();
        std::fprintf(stderr, "towngw: towngwd says: %s%s\n",
                     response.value("error", std::string("unknown error")).c_str(), hint.c_str());
        for (const auto& reason : refusal_reasons(response))
            std::fprintf(stderr, "  - %s\n", reason.c_str());
        doc_["error"] = response;
        throw Stop{refusal_exit_code(response)};
    }

    json read_once() { return call({{"cmd", "read"}, {"sensor", args_.sensor}, {"samples", 1}}); }

    int interval_of(const json& response) const {
        const auto poll = response.find("poll_ms");
        if (poll == response.end() || !poll->is_number()) return interval_ms_;
        return std::max(250, poll->get<int>());
    }

    void abort_session() {
        if (session_.empty()) return;
        const std::string session = session_;
        session_.clear();
        client_.disconnect();  // an answer may still be on its way on the old connection
        auto response =
            client_.request({{"cmd", "calibration.abort"}, {"session", session}}, seconds(5));
        doc_["aborted"] = true;
        if (response &&
            (response->value("ok", false) || response->value("code", "") == "no_session"))
            return;
        std::fprintf(stderr,
                     "towngw: could not abort session %s (%s); it expires after 30 minutes "
                     "without requests\n",
                     session.c_str(),
                     response ? response->value("error", std::string("refused")).c_str()
                              : client_.error().c_str());
    }

    // --- session ----------------------------------------------------------------------------

    void lookup_sensor() {
        const json response = call({{"cmd", "sensors"}});
        if (!response.value("ok", false)) {
            if (response.value("code", "") == "unknown_command") return;  // begin will tell
            refuse(response);
        }
        std::vector<std::string> known;
        for (const auto& sensor : response.value("sensors", json::array())) {
            const std::string id = sensor.value("id", "");
            known.push_back(id);
            if (id != args_.sensor) continue;
            unit_ = sensor.value("unit", "");
            const json calibration = sensor.value("calibration", json::object());
            if (calibration.is_object()) model_ = calibration.value("model", "");
            if (model_.empty() && sensor.value("metric", "") == "ph") model_ = "ph";
            return;
        }
        std::string list;
        for (std::size_t i = 0; i < known.size() && i < 12; ++i)
            list += (i == 0 ? "" : ", ") + known[i];
        if (known.size() > 12) list += ", ...";
        fail(kExitRefused, "unknown sensor \"" + args_.sensor + "\"" +
                               (list.empty() ? "" : "; towngwd has " + list));
    }

    /// Wizard, before begin: the pH buffer table and the reason, unless given as options.
    void ask_session_details() {
        say("Calibrating " + args_.sensor + (model_.empty() ? "" : " (" + model_ + ")") +
            ". Ctrl-C aborts at any prompt.");
        if (model_of(model_) == Model::Ph && args_.buffers.empty()) {
            while (true) {
                const std::string table =
                    ask("Buffer set: gb, nist or technical? (Enter: as configured)");
                if (table.empty() || table == "gb" || table == "nist" || table == "technical") {
                    args_.buffers = table;
                    break;
                }
                say("Please type gb, nist or technical.");
            }
        }
        if (args_.reason.empty()) {
            const std::string reason =
                ask("Reason: scheduled, after_cleaning, drift, replacement [scheduled]:");
            args_.reason = reason.empty() ? "scheduled" : reason;
        }
        if (args_.reason == "replacement" && args_.probe_serial.empty())
            args_.probe_serial = ask("Serial number of the new probe (Enter: skip):");
    }

    void begin() {
        json req = begin_request(args_, unix_user_name());
        json response = call(req, kCalibrationTimeout);
        if (!response.value("ok", false) && response.value("code", "") == "busy") {
            if (!wizard_) refuse(response, " (use --takeover to end that session)");
            say("towngwd says: " + response.value("error", std::string("busy")));
            if (!ask_yes_no("Take that session over? Its points are discarded. [y/N]", false))
                throw Stop{kExitRefused};
            req["takeover"] = true;
            response = call(req, kCalibrationTimeout);
        }
        if (!response.value("ok", false)) refuse(response);
        session_ = response.value("session", "");
        if (session_.empty()) fail(kExitRefused, "towngwd opened no session (no \"session\" id)");
        if (response.contains("model") && response["model"].is_string())
            model_ = response["model"].get<std::string>();
        for (const char* key : {"buffers", "table", "buffer_table"})
            if (response.contains(key) && response[key].is_string() && args_.buffers.empty())
                table_ = table_alias(response[key].get<std::string>());
        if (table_.empty()) table_ = args_.buffers;
        if (response.contains("buffer_names") && response["buffer_names"].is_array())
            for (const auto& name : response["buffer_names"])
                if (name.is_string()) buffer_names_.push_back(name.get<std::string>());
        // A bin's measured value, shown while calibrating, is the distance, not the fill %.
        if (model_of(model_) == Model::Bin) unit_ = "mm";
        doc_["session"] = session_;
        doc_["model"] = model_;
        doc_["begin"] = response;
        say("Session " + session_ + " on " + args_.sensor +
            (model_.empty() ? "" : " (" + model_ + ")") + ", technician " +
            (args_.technician.empty() ? unix_user_name() : args_.technician) + ".");
        say("Its data are flagged C (calibrating) until you commit or abort.");
    }

    // --- waiting for a stable reading -------------------------------------------------------

    /// Script mode: polls `read` until the reading is stable or `deadline` passes. With
    /// `leave_from` (the raw value of the previous point) the probe must also be in the next
    /// standard: every sample the point would average (the last kPointAverageS seconds) must be
    /// farther from it than movement_threshold() (pH 0.5 pH), so a point is never the mean of
    /// two standards and a probe left in the last one is noticed.
    void wait_stable(Clock::time_point deadline, std::optional<double> leave_from) {
        const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
        say("  waiting for a stable reading (up to " + std::to_string((left.count() + 999) / 1000) +
            " s)...");
        auto last_print = Clock::time_point{};
        std::string line;
        while (true) {
            // Enough samples to cover the averaging window (the daemon keeps at most 120).
            const long wanted = std::clamp<long>(
                std::lround(kPointAverageS * 1000.0 / std::max(interval_ms_, 1)) + 2, 1, 120);
            const json response =
                call({{"cmd", "read"}, {"sensor", args_.sensor}, {"samples", wanted}});
            bool stable = false;
            Movement moved{true, true};
            if (response.value("ok", false)) {
                const bool knew_interval = interval_known_;
                interval_ms_ = interval_of(response);
                interval_known_ = true;
                line = live_line(response, unit_);
                const json stability = response.value("stability", json::object());
                stable = stability.is_object() && stability.value("stable", false);
                if (leave_from) {
                    const double threshold = movement_threshold(
                        model_, response.value("measured_unit", unit_), *leave_from);
                    moved = movement_since(response.value("samples", json::array()), *leave_from,
                                           threshold, kPointAverageS, interval_ms_);
                    // Asked for too few samples to see the whole window: ask again.
                    if (!knew_interval) moved.window = false;
                    if (!moved.newest)
                        line += "  (still as at the last point)";
                    else if (!moved.window)
                        line += "  (settling in the new standard)";
                }
            } else if (response.value("code", "") == "not_enough_data") {
                line = "  waiting for readings...";
            } else {
                refuse(response);
            }
            const bool done = stable && moved.window;
            const auto now = Clock::now();
            if (ui_tty_ || done || now - last_print >= seconds(10)) {
                show_live(line);
                last_print = now;
            }
            if (done) {
                end_line();
                return;
            }
            if (now >= deadline) {
                fail(kExitRefused,
                     moved.newest ? args_.sensor + " did not become stable within " +
                                        std::to_string(kStableDeadline.count()) + " s (" +
                                        trim(line) + "); use --force to record it anyway"
                                  : args_.sensor + " still reads as at the previous point after " +
                                        std::to_string(kStableDeadline.count()) +
                                        " s: is the probe in the next standard? (--force records "
                                        "it anyway)");
            }
            if (!sleep_ms(interval_ms_)) throw Stop{kExitInterrupted};
        }
    }

    /// Script mode: records one point (or verification), waiting for stability first unless
    /// --force; retries while the daemon finds the reading not stable, until the deadline.
    json scripted_request(json req, const char* result_key) {
        const auto deadline = Clock::now() + kStableDeadline;
        while (true) {
            if (!args_.force) wait_stable(deadline, last_raw_);
            const json response = call(req, kCalibrationTimeout);
            if (response.value("ok", false)) {
                if (!response.contains(result_key))
                    fail(kExitRefused,
                         std::string("towngwd's answer has no \"") + result_key + "\"");
                return response;
            }
            const std::string code = response.value("code", "");
            if (!args_.force && (code == "not_stable" || code == "not_enough_data") &&
                Clock::now() < deadline) {
                say("  towngwd says: " + response.value("error", code) + "; waiting again");
                if (!sleep_ms(interval_ms_)) throw Stop{kExitInterrupted};
                continue;
            }
            refuse(response,
                   code == "not_stable" ? " (use --force to record it anyway)" : std::string());
        }
    }

    // --- prompts ----------------------------------------------------------------------------

    /// Prints `prompt` and a space, reads one line. EOF stops with 1, Ctrl-C with 130.
    std::string ask(const std::string& prompt) {
        end_line();
        std::fprintf(ui_, "%s ", prompt.c_str());
        std::fflush(ui_);
        std::string line;
        switch (input_.read_line(line, -1)) {
            case LineInput::Result::Line:
                return trim(line);
            case LineInput::Result::Interrupted:
                std::fprintf(ui_, "\n");
                throw Stop{kExitInterrupted};
            default:
                std::fprintf(ui_, "\n");
                throw Stop{kExitRefused};
        }
    }

    bool ask_yes_no(const std::string& prompt, bool default_yes) {
        while (true) {
            const std::string answer = ask(prompt);
            if (answer.empty()) return default_yes;
            if (answer[0] == 'y' || answer[0] == 'Y') return true;
            if (answer[0] == 'n' || answer[0] == 'N') return false;
            say("Please answer y or n.");
        }
    }

    /// A number; Enter takes `fallback` when there is one.
    double ask_number(const std::string& prompt, std::optional<double> fallback) {
        while (true) {
            const std::string answer =
                ask(prompt + (fallback ? " [" + number_string(*fallback) + "]:" : ":"));
            if (answer.empty() && fallback) return *fallback;
            if (auto value = parse_number(answer)) return *value;
            say("Please type a number, e.g. 18.5" +
                std::string(fallback ? " (Enter: " + number_string(*fallback) + ")" : "") + ".");
        }
    }

    // --- wizard -----------------------------------------------------------------------------

    enum class Capture { Record, Force };

    /// Shows the live reading, refreshed every poll, until the technician presses Enter.
    Capture live_until_enter() {
        say("Press Enter when STABLE (f Enter: record anyway).");
        while (true) {
            const json response = read_once();
            std::string line;
            if (response.value("ok", false)) {
                interval_ms_ = interval_of(response);
                line = live_line(response, unit_);
            } else if (response.value("code", "") == "not_enough_data") {
                line = "  waiting for readings...";
            } else {
                refuse(response);
            }
            show_live(line);
            std::string typed;
            switch (input_.read_line(typed, interval_ms_)) {
                case LineInput::Result::Timeout:
                    continue;
                case LineInput::Result::Interrupted:
                    throw Stop{kExitInterrupted};
                case LineInput::Result::Eof:
                    throw Stop{kExitRefused};
                case LineInput::Result::Line:
                    break;
            }
            // The terminal echoed Enter: the live line is finished.
            live_open_ = false;
            live_width_ = 0;
            typed = trim(typed);
            if (typed.empty()) return Capture::Record;
            if (typed == "f" || typed == "force") return Capture::Force;
            say("Enter records the point, f Enter records it even if unstable, Ctrl-C aborts.");
        }
    }

    /// Wizard: live reading, then the request; on a refusal that a retry can fix, says so and
    /// goes back to the live reading. nullopt: the technician wants to re-enter the values.
    std::optional<json> wizard_request(json req, const char* result_key) {
        while (true) {
            const Capture capture = live_until_enter();
            if (capture == Capture::Force || args_.force) req["force"] = true;
            const json response = call(req, kCalibrationTimeout);
            if (response.value("ok", false) && response.contains(result_key)) return response;
            if (response.value("ok", false))
                fail(kExitRefused, std::string("towngwd's answer has no \"") + result_key + "\"");
            const std::string code = response.value("code", "");
            if (code == "not_stable" || code == "not_enough_data") {
                say("towngwd says: " + response.value("error", code));
                say("Wait for STABLE, or type f and Enter to record it anyway.");
                continue;
            }
            if (code == "no_session" || code == "unknown_sensor") refuse(response);
            say("towngwd says: " + response.value("error", std::string("refused")));
            if (!ask_yes_no("Try this step again? [Y/n]", true)) refuse(response);
            return std::nullopt;
        }
    }

    /// Records one point: a JSON request built by the caller after its questions.
    template <typename BuildRequest>
    json wizard_point(BuildRequest build) {
        while (true) {
            json req = build();
            req["cmd"] = "calibration.point";
            req["session"] = session_;
            if (auto response = wizard_request(req, "point")) {
                say(point_text((*response)["point"]));
                doc_["points"].push_back(*response);
                if (response->contains("preview") && (*response)["preview"].is_object()) {
                    preview_ = (*response)["preview"];
                    print_preview(preview_);
                }
                return *response;
            }
        }
    }

    void wizard_ph() {
        // Neutral first (HJ 1147-2020), then acid or alkaline. When the table is the
        // configured one and towngwd does not say which, the technician names the first buffer.
        auto order = buffer_order(table_);
        if (table_.empty() && buffer_names_.size() == 3) {
            order = {buffer_names_[1], buffer_names_[0], buffer_names_[2]};
        } else if (table_.empty()) {
            const std::string first = ask("First (neutral) buffer: 6.86 or 7.00? [6.86]");
            if (first == "7" || first == "7.00" || first == "7.0")
                order = buffer_order("technical");
        }
        std::vector<std::string> done;
        double temperature = 25.0;
        std::string first_buffer;
        double first_temperature = 25.0;
        while (true) {
            std::vector<std::string> remaining;
            for (const auto& b : order)
                if (std::find(done.begin(), done.end(), b) == done.end()) remaining.push_back(b);
            std::string buffer = order[0];
            if (!done.empty()) {
                std::string choices;
                for (const auto& b : remaining) choices += (choices.empty() ? "" : " or ") + b;
                const std::string typed = ask("Next buffer (" + choices + ") [" +
                                              (remaining.empty() ? "" : remaining[0]) + "]:");
                buffer = typed.empty() && !remaining.empty() ? remaining[0] : typed;
                if (buffer.empty()) continue;
            }
            say(std::string(done.empty() ? "" : "Rinse the probe. ") + "Put the probe in buffer " +
                buffer + " and its temperature sensor next to it.");
            double t = temperature;
            wizard_point([&] {
                t = ask_number("Buffer temperature in °C", temperature);
                return json{{"buffer", buffer}, {"temperature_degc", t}};
            });
            temperature = t;
            if (done.empty()) {
                first_buffer = buffer;
                first_temperature = t;
            }
            done.push_back(buffer);
            if (done.size() < 2) continue;
            if (done.size() >= order.size()) break;
            if (!ask_yes_no("Another buffer? [y/N]", false)) break;
        }
        // HJ 1147-2020: re-read the first buffer with the new coefficients.
        while (true) {
            say("Rinse the probe. Put the probe back in buffer " + first_buffer +
                " to check the calibration.");
            std::optional<json> response;
            while (!response) {
                const double t = ask_number("Buffer temperature in °C", first_temperature);
                response = wizard_request({{"cmd", "calibration.verify"},
                                           {"session", session_},
                                           {"buffer", first_buffer},
                                           {"temperature_degc", t}},
                                          "verification");
            }
            verification_ = (*response)["verification"];
            doc_["verification"] = verification_;
            say(verification_text(verification_));
            if (verification_.value("passed", false)) break;
            if (!ask_yes_no("Check again? [y/N]", false)) break;
        }
    }

    void wizard_turbidity() {
        say("Put the probe in zero-turbidity water (filtered, 0.1 NTU or less).");
        wizard_point([] { return json{{"reference", 0.0}}; });
        while (true) {
            const std::string span = ask("Span standard in NTU (Enter: zero only):");
            if (span.empty()) return;
            const auto value = parse_number(span);
            if (!value || *value <= 0) {
                say("Please type the standard's value in NTU, e.g. 100.");
                continue;
            }
            say("Rinse the probe. Put it in the " + number_string(*value) +
                " NTU formazin standard.");
            wizard_point([&] { return json{{"reference", *value}}; });
            return;
        }
    }

    void wizard_oxygen() {
        say("Put the probe in air-saturated water (or in water-saturated air).");
        wizard_point([&] {
            json req{{"temperature_degc", ask_number("Water temperature in °C", 25.0)}};
            if (!args_.pressure_kpa) {
                say("Use the local barometric pressure, not the sea-level value.");
                args_.pressure_kpa = ask_number("Barometric pressure in kPa", 101.325);
            }
            req["pressure_kpa"] = *args_.pressure_kpa;
            if (args_.salinity_g_kg) req["salinity_g_kg"] = *args_.salinity_g_kg;
            return req;
        });
        if (ask_yes_no("Zero in sulfite solution too? [y/N]", false)) {
            say("Put the probe in fresh sodium sulfite solution.");
            wizard_point([] { return json{{"zero", true}}; });
        }
    }

    void wizard_conductivity() {
        std::string standard;
        while (true) {
            standard = ask("KCl standard: 1413, 12880 or 146.5 µS/cm [1413]:");
            if (standard.empty()) standard = "1413";
            if (standard == "1413" || standard == "12880" || standard == "146.5") break;
            say("Please type 1413, 12880 or 146.5.");
        }
        say("Rinse the probe with a little of the standard. Put it in the KCl " + standard +
            " µS/cm standard.");
        wizard_point([&] {
            return json{{"kcl", standard},
                        {"temperature_degc", ask_number("Standard temperature in °C", 25.0)}};
        });
    }

    void wizard_flow() {
        say("Fill the pipe and close the valves: the flow must be zero.");
        wizard_point([] { return json{{"reference", 0.0}}; });
    }

    void wizard_level() {
        do {
            say("Read the staff gauge next to the sensor.");
            wizard_point([&] {
                return json{{"reference", ask_number("Gauge reading in m", std::nullopt)}};
            });
        } while (ask_yes_no("Another gauge reading? [y/N]", false));
    }

    void wizard_bin() {
        say("Empty the bin and close the lid.");
        wizard_point([] { return json{{"position", "empty"}}; });
        while (true) {
            const std::string full =
                ask("Distance from the sensor to the full line in mm (Enter: measure it):");
            if (full.empty()) {
                say("Fill the bin to the full line and close the lid.");
                wizard_point([] { return json{{"position", "full"}}; });
                return;
            }
            const auto value = parse_number(full);
            if (value && *value > 0) {
                args_.full_mm = *value;
                return;
            }
            say("Please type a distance in mm, e.g. 300, or press Enter.");
        }
    }

    void wizard_generic() {
        const std::string in_unit = unit_.empty() ? "" : " in " + unit_;
        do {
            say("Put the sensor in (or on) the reference standard.");
            wizard_point([&] {
                return json{{"reference", ask_number("Reference value" + in_unit, std::nullopt)}};
            });
        } while (ask_yes_no("Another point? [y/N]", false));
    }

    int run_wizard() {
        switch (model_of(model_)) {
            case Model::Ph:
                wizard_ph();
                break;
            case Model::Turbidity:
                wizard_turbidity();
                break;
            case Model::DissolvedOxygen:
                wizard_oxygen();
                break;
            case Model::Conductivity:
                wizard_conductivity();
                break;
            case Model::Flow:
                wizard_flow();
                break;
            case Model::Level:
                wizard_level();
                break;
            case Model::Bin:
                wizard_bin();
                break;
            case Model::Generic:
                wizard_generic();
                break;
        }
        return finish();
    }

    // --- script -----------------------------------------------------------------------------

    static std::string describe(const PointArg& point) {
        std::string text = point.label();
        if (point.temperature_degc && point.kind != PointArg::Kind::Saturation)
            text += " at " + number_string(*point.temperature_degc) + " °C";
        return text;
    }

    int run_script() {
        const std::size_t total = args_.points.size();
        for (std::size_t i = 0; i < total; ++i) {
            const PointArg& point = args_.points[i];
            say("point " + std::to_string(i + 1) + "/" + std::to_string(total) + ": " +
                describe(point));
            const json response = scripted_request(point_request(session_, point, args_), "point");
            say("  " + point_text(response["point"]));
            doc_["points"].push_back(response);
            const json raw = response["point"].value("raw", json());
            if (raw.is_number()) last_raw_ = raw.get<double>();
            if (response.contains("preview") && response["preview"].is_object())
                preview_ = response["preview"];
        }
        if (args_.verify) {
            say("verify: " +
                (args_.verify->buffer.empty()
                     ? "--verify-point " + number_string(*args_.verify->reference)
                     : "buffer " + args_.verify->buffer) +
                (args_.verify->temperature_degc
                     ? " at " + number_string(*args_.verify->temperature_degc) + " °C"
                     : std::string()));
            const json response =
                scripted_request(verify_request(session_, *args_.verify), "verification");
            verification_ = response["verification"];
            doc_["verification"] = verification_;
            say("  " + verification_text(verification_));
        }
        return finish();
    }

    // --- the end ----------------------------------------------------------------------------

    int finish() {
        doc_["preview"] = preview_;
        if (preview_ == shown_preview_ && !verification_.is_object()) {
            // just shown after the last point
        } else if (preview_.is_object() && !preview_.empty()) {
            say("Result:");
            for (const auto& line : preview_lines(preview_, unit_)) say(line);
        } else {
            say("Result: towngwd sent no preview.");
        }
        const bool verification_failed =
            verification_.is_object() && !verification_.value("passed", false);
        const bool fails = verdict_of(preview_) == "reject" || verification_failed;
        if (verification_failed)
            say("The check of the first standard failed: repeat the calibration.");

        bool commit = args_.commit && !args_.dry_run;
        if (fails && (commit || (wizard_ && !args_.dry_run))) {
            // towngwd would refuse it too; do not ask.
            std::fprintf(stderr,
                         "towngw: this calibration fails its acceptance limits: "
                         "not committed\n");
            throw Stop{kExitRejected};
        }
        if (wizard_ && !args_.dry_run) {
            commit =
                args_.commit || args_.yes || ask_yes_no("Commit this calibration? [y/N]", false);
            if (!commit) {
                abort_session();
                say("not committed: calibration aborted, nothing recorded");
                return kExitOk;
            }
        }
        if (!commit) {
            abort_session();
            say(args_.dry_run ? "dry run: not committed" : "not committed (use --commit)");
            return fails ? kExitRejected : kExitOk;
        }
        return commit_session();
    }

    int commit_session() {
        // Ctrl-C now would leave us not knowing whether the commit happened: hold it until
        // the answer is in.
        sigset_t block;
        sigset_t old;
        sigemptyset(&block);
        sigaddset(&block, SIGINT);
        sigaddset(&block, SIGTERM);
        sigaddset(&block, SIGHUP);
        ::sigprocmask(SIG_BLOCK, &block, &old);
        json req = commit_request(session_, args_);
        auto response = client_.request(req, kCalibrationTimeout);
        ::sigprocmask(SIG_SETMASK, &old, nullptr);
        if (!response) fail(kExitUnavailable, client_.error());
        if (!response->value("ok", false)) refuse(*response);
        session_.clear();
        json record = response->value("record", json::object());
        if (record.is_object() && !record.contains("version") && response->contains("version"))
            record["version"] = (*response)["version"];
        doc_["committed"] = true;
        doc_["record"] = record;
        const auto lines = record_lines(record);
        say("committed: " + args_.sensor + " " + (lines.empty() ? std::string() : lines[0]));
        for (std::size_t i = 1; i < lines.size(); ++i) say(lines[i]);
        return kExitOk;
    }

    CalibrateArgs args_;
    ControlClient& client_;
    bool wizard_;
    std::FILE* ui_;
    bool ui_tty_;
    LineInput input_;
    std::string session_;
    std::string model_;
    std::string unit_;
    std::string table_;                      ///< gb, nist, technical; empty: not known
    std::vector<std::string> buffer_names_;  ///< from towngwd, when it says
    json preview_ = json::object();
    json shown_preview_;  ///< the preview last printed by the wizard
    json verification_;
    json doc_;
    int interval_ms_{1000};
    bool interval_known_{false};      ///< interval_ms_ is the sensor's poll_ms from a read answer
    std::optional<double> last_raw_;  ///< raw value of the last point recorded (script mode)
    bool live_open_{false};
    std::size_t live_width_{0};
};

}  // namespace

int cmd_calibrate(const std::vector<std::string>& args) {
    CalibrateArgs a = parse_calibrate_args(args);
    if (a.common.help) {
        std::cout << kCalibrateUsage;
        return kExitOk;
    }
    const bool wizard = !a.scripted();
    if (wizard && !interactive_terminal())
        throw UsageError(
            "calibrate: no points given and this is not a terminal; give them as options, "
            "e.g. --buffer 6.86 --temp 18.5 --buffer 4.00 --temp 18.6 --commit");
    const auto socket = resolve_socket(a.common);
    if (!socket) return kExitConfig;
    install_interrupt_handler();
    ControlClient client(*socket);
    Calibration calibration(std::move(a), client, wizard);
    return calibration.run();
}

}  // namespace gw::cli
