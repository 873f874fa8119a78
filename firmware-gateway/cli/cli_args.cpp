// SPDX-License-Identifier: Apache-2.0
#include "cli_args.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "cli_format.hpp"

namespace gw::cli {

namespace {

constexpr const char* kTemperature = "the temperature in °C, e.g. 18.5";

bool is_option(const std::string& arg) {
    return arg.size() > 1 && arg[0] == '-' && !parse_number(arg);
}

[[noreturn]] void unexpected(const std::string& command, const std::string& arg) {
    if (is_option(arg)) throw UsageError(command + ": unknown option \"" + arg + "\"");
    throw UsageError(command + ": unexpected argument \"" + arg + "\"");
}

void set_sensor(const std::string& command, std::string& sensor, const std::string& arg) {
    if (!sensor.empty())
        throw UsageError(command + ": one sensor at a time (got \"" + sensor + "\" and \"" + arg +
                         "\")");
    sensor = arg;
}

std::string format_value(double value) {
    std::string text = std::to_string(value);
    while (!text.empty() && text.back() == '0') text.pop_back();
    if (!text.empty() && text.back() == '.') text.pop_back();
    return text;
}

}  // namespace

CommonOptions parse_common_only(const std::string& command, const std::vector<std::string>& args) {
    CommonOptions options;
    ArgCursor cursor(args);
    while (!cursor.done()) {
        const std::string arg = cursor.next();
        if (!cursor.common(arg, options)) unexpected(command, arg);
    }
    if (!options.help) check_socket_options(options, command);
    return options;
}

ReadArgs parse_read_args(const std::vector<std::string>& args) {
    ReadArgs out;
    ArgCursor cursor(args);
    while (!cursor.done()) {
        const std::string arg = cursor.next();
        if (cursor.common(arg, out.common)) continue;
        if (arg == "--samples" || arg == "-n") {
            out.samples = static_cast<int>(
                require_integer(cursor.value(arg, "how many samples, 1-120"), arg, 1, 120));
        } else if (arg == "--raw") {
            out.raw = true;
        } else if (arg == "--follow" || arg == "-f") {
            out.follow = true;
        } else if (is_option(arg)) {
            unexpected("read", arg);
        } else {
            set_sensor("read", out.sensor, arg);
        }
    }
    if (out.common.help) return out;
    check_socket_options(out.common, "read");
    if (out.sensor.empty())
        throw UsageError(
            "read: which sensor? e.g. towngw read water1.ph (towngw sensors lists them)");
    return out;
}

MaintenanceArgs parse_maintenance_args(const std::vector<std::string>& args) {
    MaintenanceArgs out;
    ArgCursor cursor(args);
    bool action_given = false;
    while (!cursor.done()) {
        const std::string arg = cursor.next();
        if (cursor.common(arg, out.common)) continue;
        if (arg == "--minutes" || arg == "-m") {
            out.minutes = static_cast<int>(
                require_integer(cursor.value(arg, "how long, in minutes (1-1440)"), arg, 1, 1440));
        } else if (arg == "--technician" || arg == "-t") {
            out.technician = cursor.value(arg, "who does the maintenance");
        } else if (arg == "--reason") {
            out.reason = cursor.value(arg, "what is done, e.g. \"probe cleaning\"");
        } else if (is_option(arg)) {
            unexpected("maintenance", arg);
        } else if (!action_given) {
            action_given = true;
            if (arg == "start")
                out.action = MaintenanceArgs::Action::Start;
            else if (arg == "end")
                out.action = MaintenanceArgs::Action::End;
            else if (arg == "list")
                out.action = MaintenanceArgs::Action::List;
            else
                throw UsageError("maintenance: \"" + arg +
                                 "\" is not an action (start SENSOR, end SENSOR or list)");
        } else {
            set_sensor("maintenance", out.sensor, arg);
        }
    }
    if (out.common.help) return out;
    check_socket_options(out.common, "maintenance");
    const bool needs_sensor = out.action != MaintenanceArgs::Action::List;
    if (needs_sensor && out.sensor.empty())
        throw UsageError("maintenance: which sensor? e.g. towngw maintenance start water1.ph");
    if (!needs_sensor && !out.sensor.empty())
        throw UsageError("maintenance list: takes no sensor (got \"" + out.sensor + "\")");
    return out;
}

std::string PointArg::label() const {
    switch (kind) {
        case Kind::Buffer:
            return "--buffer " + name;
        case Kind::Reference:
            return "--point " + (reference ? format_value(*reference) : std::string("?"));
        case Kind::Kcl:
            return name.empty() ? "--standard-us-cm " +
                                      (reference ? format_value(*reference) : std::string("?"))
                                : "--kcl " + name;
        case Kind::Saturation:
            return "--temp " +
                   (temperature_degc ? format_value(*temperature_degc) : std::string("?"));
        case Kind::Zero:
            return "--zero";
        case Kind::Position:
            return "--position " + name;
    }
    return "?";
}

CalibrateArgs parse_calibrate_args(const std::vector<std::string>& args) {
    CalibrateArgs out;
    ArgCursor cursor(args);
    auto last_point = [&](const std::string& option, const std::string& example) -> PointArg& {
        if (out.points.empty())
            throw UsageError(option + " belongs after the standard it describes, e.g. " + example);
        return out.points.back();
    };
    auto verify = [&]() -> VerifyArg& {
        if (!out.verify) out.verify.emplace();
        return *out.verify;
    };
    while (!cursor.done()) {
        const std::string arg = cursor.next();
        if (cursor.common(arg, out.common)) continue;
        if (arg == "--technician") {
            out.technician = cursor.value(arg, "the technician's name, e.g. li.wei");
        } else if (arg == "--reason") {
            out.reason = cursor.value(
                arg, "scheduled, after_cleaning, drift, replacement or a few words of text");
        } else if (arg == "--probe-serial") {
            out.probe_serial = cursor.value(arg, "the serial number on the probe, e.g. PH-2231");
        } else if (arg == "--buffers") {
            out.buffers = cursor.value(arg, "gb, nist or technical");
            if (out.buffers != "gb" && out.buffers != "nist" && out.buffers != "technical")
                throw UsageError("--buffers: \"" + out.buffers +
                                 "\" is not a buffer table (expected gb, nist or technical)");
        } else if (arg == "--buffer") {
            PointArg point;
            point.kind = PointArg::Kind::Buffer;
            point.name = cursor.value(arg, "a buffer name, e.g. 6.86");
            out.points.push_back(point);
        } else if (arg == "--temp") {
            const std::string text = cursor.value(arg, kTemperature);
            const double value = require_number(text, arg, kTemperature);
            if (!out.points.empty()) {
                PointArg& last = out.points.back();
                const bool takes_temperature = last.kind == PointArg::Kind::Buffer ||
                                               last.kind == PointArg::Kind::Kcl ||
                                               last.kind == PointArg::Kind::Reference;
                if (takes_temperature && !last.temperature_degc) {
                    last.temperature_degc = value;
                    continue;
                }
                if (last.kind == PointArg::Kind::Buffer || last.kind == PointArg::Kind::Kcl)
                    throw UsageError("--temp " + text + ": " + last.label() +
                                     " already has a temperature (give --temp once after each "
                                     "--buffer)");
            }
            // --temp on its own: dissolved oxygen in air-saturated water at that temperature.
            PointArg point;
            point.kind = PointArg::Kind::Saturation;
            point.temperature_degc = value;
            out.points.push_back(point);
        } else if (arg == "--point") {
            PointArg point;
            point.kind = PointArg::Kind::Reference;
            point.reference =
                cursor.number(arg, "the standard's true value in the sensor's unit, e.g. 100");
            out.points.push_back(point);
        } else if (arg == "--kcl") {
            PointArg point;
            point.kind = PointArg::Kind::Kcl;
            point.name = cursor.value(arg, "a KCl standard: 1413, 12880 or 146.5");
            if (point.name != "1413" && point.name != "12880" && point.name != "146.5")
                throw UsageError("--kcl: \"" + point.name +
                                 "\" is not a KCl standard (expected 1413, 12880 or 146.5; "
                                 "other standards: --standard-us-cm VALUE)");
            out.points.push_back(point);
        } else if (arg == "--standard-us-cm") {
            PointArg point;
            point.kind = PointArg::Kind::Kcl;
            point.reference = cursor.number(arg, "the standard's conductivity at 25 °C in µS/cm");
            if (*point.reference <= 0) throw UsageError("--standard-us-cm must be above 0");
            out.points.push_back(point);
        } else if (arg == "--zero") {
            PointArg point;
            point.kind = PointArg::Kind::Zero;
            out.points.push_back(point);
        } else if (arg == "--position") {
            PointArg point;
            point.kind = PointArg::Kind::Position;
            point.name = cursor.value(arg, "empty or full");
            if (point.name != "empty" && point.name != "full")
                throw UsageError("--position: \"" + point.name + "\" (expected empty or full)");
            out.points.push_back(point);
        } else if (arg == "--pressure") {
            out.pressure_kpa = cursor.number(arg, "the barometric pressure in kPa, e.g. 92.5");
            if (*out.pressure_kpa <= 0)
                throw UsageError("--pressure: expected the barometric pressure in kPa, e.g. 92.5");
        } else if (arg == "--salinity") {
            out.salinity_g_kg = cursor.number(arg, "the salinity in g/kg, e.g. 0.5");
        } else if (arg == "--full-mm") {
            out.full_mm = cursor.number(arg, "the distance from the sensor to the full line in mm");
            if (*out.full_mm <= 0)
                throw UsageError(
                    "--full-mm: expected the distance from the sensor to the full line in mm");
        } else if (arg == "--lot") {
            const std::string lot = cursor.value(arg, "the lot number on the bottle");
            last_point(arg, "--buffer 6.86 --temp 18.5 --lot B2311").lot = lot;
        } else if (arg == "--expiry") {
            const std::string expiry = cursor.value(arg, "the expiry on the bottle, e.g. 2027-05");
            last_point(arg, "--buffer 6.86 --temp 18.5 --expiry 2027-05").expiry = expiry;
        } else if (arg == "--verify-buffer") {
            verify().buffer = cursor.value(arg, "the first buffer, e.g. 6.86");
        } else if (arg == "--verify-point") {
            verify().reference = cursor.number(arg, "the standard's true value, e.g. 100");
        } else if (arg == "--verify-temp") {
            verify().temperature_degc = cursor.number(arg, kTemperature);
        } else if (arg == "--note") {
            out.note = cursor.value(arg, "a few words stored with the calibration");
        } else if (arg == "--force") {
            out.force = true;
        } else if (arg == "--commit") {
            out.commit = true;
        } else if (arg == "--dry-run") {
            out.dry_run = true;
        } else if (arg == "--yes" || arg == "-y") {
            out.yes = true;
        } else if (arg == "--takeover") {
            out.takeover = true;
        } else if (is_option(arg)) {
            unexpected("calibrate", arg);
        } else {
            set_sensor("calibrate", out.sensor, arg);
        }
    }
    if (out.common.help) return out;
    check_socket_options(out.common, "calibrate");
    if (out.sensor.empty())
        throw UsageError(
            "calibrate: which sensor? e.g. towngw calibrate water1.ph (towngw sensors lists them)");
    for (const auto& point : out.points) {
        if (point.kind == PointArg::Kind::Buffer && !point.temperature_degc)
            throw UsageError(point.label() +
                             " needs the buffer temperature: add --temp C right after it (e.g. " +
                             point.label() + " --temp 18.5)");
        if (point.kind == PointArg::Kind::Kcl && !point.temperature_degc)
            throw UsageError(point.label() +
                             " needs the standard's temperature: add --temp C right after it");
    }
    if (out.verify) {
        if (!out.verify->buffer.empty() && out.verify->reference)
            throw UsageError("give --verify-buffer or --verify-point, not both");
        if (out.verify->buffer.empty() && !out.verify->reference)
            throw UsageError("--verify-temp needs --verify-buffer NAME (pH) or --verify-point REF");
        if (!out.verify->buffer.empty() && !out.verify->temperature_degc)
            throw UsageError("--verify-buffer " + out.verify->buffer +
                             " needs the buffer temperature: add --verify-temp C");
    }
    if (out.commit && out.dry_run) throw UsageError("give --commit or --dry-run, not both");
    return out;
}

json begin_request(const CalibrateArgs& args, const std::string& unix_user) {
    json req{{"cmd", "calibration.begin"},
             {"sensor", args.sensor},
             {"technician", args.technician.empty() ? unix_user : args.technician},
             {"unix_user", unix_user}};
    if (!args.reason.empty()) req["reason"] = args.reason;
    if (!args.probe_serial.empty()) req["probe_serial"] = args.probe_serial;
    if (!args.buffers.empty()) req["buffers"] = args.buffers;
    if (args.takeover) req["takeover"] = true;
    return req;
}

json point_request(const std::string& session, const PointArg& point, const CalibrateArgs& args) {
    json req{{"cmd", "calibration.point"}, {"session", session}};
    switch (point.kind) {
        case PointArg::Kind::Buffer:
            req["buffer"] = point.name;
            break;
        case PointArg::Kind::Reference:
            req["reference"] = point.reference.value_or(0.0);
            break;
        case PointArg::Kind::Kcl:
            if (point.name.empty())
                req["standard_us_cm"] = point.reference.value_or(0.0);
            else
                req["kcl"] = point.name;
            break;
        case PointArg::Kind::Saturation:
            if (args.pressure_kpa) req["pressure_kpa"] = *args.pressure_kpa;
            if (args.salinity_g_kg) req["salinity_g_kg"] = *args.salinity_g_kg;
            break;
        case PointArg::Kind::Zero:
            req["zero"] = true;
            break;
        case PointArg::Kind::Position:
            req["position"] = point.name;
            break;
    }
    if (point.temperature_degc) req["temperature_degc"] = *point.temperature_degc;
    if (!point.lot.empty() || !point.expiry.empty()) {
        json standard = json::object();
        if (!point.lot.empty()) standard["lot"] = point.lot;
        if (!point.expiry.empty()) standard["expiry"] = point.expiry;
        req["standard"] = standard;
    }
    if (args.force) req["force"] = true;
    return req;
}

json verify_request(const std::string& session, const VerifyArg& verify) {
    json req{{"cmd", "calibration.verify"}, {"session", session}};
    if (!verify.buffer.empty()) req["buffer"] = verify.buffer;
    if (verify.reference) req["reference"] = *verify.reference;
    if (verify.temperature_degc) req["temperature_degc"] = *verify.temperature_degc;
    return req;
}

json commit_request(const std::string& session, const CalibrateArgs& args) {
    json req{{"cmd", "calibration.commit"}, {"session", session}};
    if (!args.note.empty()) req["note"] = args.note;
    if (args.full_mm) req["full_mm"] = *args.full_mm;
    return req;
}

double movement_threshold(const std::string& model, const std::string& measured_unit,
                          double previous_raw) {
    if (model == "ph") return measured_unit == "mV" ? 30.0 : 0.5;
    return std::max(std::fabs(previous_raw) * 0.01, 0.001);
}

Movement movement_since(const json& samples, double previous_raw, double threshold,
                        double average_s, int poll_ms) {
    Movement m;
    if (!samples.is_array()) return m;
    struct Sample {
        double value;
        std::optional<std::int64_t> time_ms;
    };
    std::vector<Sample> good;
    bool all_timed = true;
    for (const auto& s : samples) {
        if (!s.is_object() || s.value("quality", std::string("good")) != "good") continue;
        const auto v = s.find("measured") != s.end() ? s.find("measured") : s.find("value");
        if (v == s.end() || !v->is_number()) continue;
        const auto t = s.contains("time") && s["time"].is_string()
                           ? rfc3339_ms(s["time"].get<std::string>())
                           : std::nullopt;
        all_timed = all_timed && t.has_value();
        good.push_back({v->get<double>(), t});
    }
    if (good.empty()) return m;
    const auto away = [&](const Sample& s) {
        return std::fabs(s.value - previous_raw) > threshold;
    };
    m.newest = away(good.back());
    if (!m.newest) return m;
    const auto window_ms = static_cast<std::int64_t>(average_s * 1000.0);
    std::size_t first = 0;
    if (all_timed) {
        const std::int64_t from = *good.back().time_ms - window_ms;
        while (first < good.size() && *good[first].time_ms < from) ++first;
    } else {
        const auto count =
            static_cast<std::size_t>(window_ms / std::max(poll_ms, 1)) + 1;  // at least 1
        first = good.size() > count ? good.size() - count : 0;
    }
    m.window = std::all_of(good.begin() + static_cast<std::ptrdiff_t>(first), good.end(), away);
    return m;
}

CalibrationArgs parse_calibration_args(const std::vector<std::string>& args) {
    CalibrationArgs out;
    ArgCursor cursor(args);
    std::vector<std::string> positional;
    while (!cursor.done()) {
        const std::string arg = cursor.next();
        if (cursor.common(arg, out.common)) continue;
        if (arg == "--technician") {
            out.technician = cursor.value(arg, "the technician's name, e.g. li.wei");
        } else if (arg == "--reason") {
            out.reason = cursor.value(arg, "why, e.g. \"slope drifted after the flood\"");
        } else if (arg == "--yes" || arg == "-y") {
            out.yes = true;
        } else if (is_option(arg)) {
            unexpected("calibration", arg);
        } else {
            positional.push_back(arg);
        }
    }
    if (out.common.help) {
        if (!positional.empty()) out.action = positional[0];
        return out;
    }
    check_socket_options(out.common, "calibration");
    if (positional.empty())
        throw UsageError(
            "calibration: what? show, history, export or rollback (e.g. towngw calibration "
            "history water1.ph)");
    out.action = positional[0];
    if (out.action != "show" && out.action != "history" && out.action != "export" &&
        out.action != "rollback")
        throw UsageError("calibration: \"" + out.action +
                         "\" is not show, history, export or rollback");
    if (positional.size() > 2)
        throw UsageError("calibration " + out.action + ": one sensor at a time (got \"" +
                         positional[1] + "\" and \"" + positional[2] + "\")");
    if (positional.size() == 2) out.sensor = positional[1];
    if (out.sensor.empty() && out.action != "export")
        throw UsageError("calibration " + out.action + ": which sensor? e.g. towngw calibration " +
                         out.action + " water1.ph");
    if (out.action != "rollback" && (!out.technician.empty() || !out.reason.empty()))
        throw UsageError("calibration " + out.action +
                         ": --technician and --reason are for rollback only");
    return out;
}

}  // namespace gw::cli
