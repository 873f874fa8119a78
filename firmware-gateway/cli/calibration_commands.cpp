// SPDX-License-Identifier: Apache-2.0
// towngw calibration show|history|export|rollback: the calibration history the daemon keeps
// (append-only, hash-chained).
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "cli_args.hpp"
#include "cli_common.hpp"
#include "cli_format.hpp"
#include "commands.hpp"
#include "control_client.hpp"

namespace gw::cli {

const char* const kCalibrationUsage =
    R"(usage: towngw calibration show|history|export|rollback SENSOR [OPTIONS]

  show SENSOR       the calibration in force and its latest record
  history SENSOR    every record, oldest first: version, time, technician,
                    model, verdict, coefficients before -> after; then the check
                    of the hash chain (exit 1 if the chain is broken)
  export [SENSOR]   the history as JSON (always), each entry with its hash and
                    its record text exactly as hashed, for an auditor; every
                    sensor's when SENSOR is left out
  rollback SENSOR [--technician NAME] [--reason R] [--yes]
                    restore the coefficients in force before the latest record,
                    recorded as a new entry; asks first on a terminal unless
                    --yes

Options: --json (machine-readable), --socket PATH | --config FILE (which
towngwd; default /run/towngw/control.sock). --technician defaults to your Unix
user.

Exit codes: 0 ok, 1 refused (e.g. unknown sensor) or hash chain broken,
64 bad command line, 69 towngwd not reachable, 78 bad configuration file.

  e.g. towngw calibration history water1.ph
       towngw calibration rollback water1.ph --reason "probe cracked" --yes
)";

namespace {

const json* latest_record(const json& response) {
    for (const char* key : {"record", "latest", "latest_record", "last_record"}) {
        auto it = response.find(key);
        if (it != response.end() && it->is_object()) return &*it;
    }
    return nullptr;
}

void print_current(const std::string& sensor, const json& calibration) {
    const std::string state = calibration.value("state", "");
    if (state == "factory") {
        std::printf("%s: factory calibration (never calibrated in the field)\n", sensor.c_str());
        return;
    }
    json as_sensor{{"calibration", calibration}};
    std::string head = sensor + ": calibration " + calibration_text(as_sensor);
    const std::string model = calibration.value("model", "");
    if (!model.empty()) head += " (" + model + ")";
    std::printf("%s\n", head.c_str());
    const std::string at = calibration.value("calibrated_at", "");
    if (!at.empty()) std::printf("  calibrated %s\n", short_time(at).c_str());
    std::string coefficients;
    for (const char* key : {"gain", "offset", "empty_mm", "full_mm"}) {
        auto it = calibration.find(key);
        if (it == calibration.end() || !it->is_number()) continue;
        char buf[64];
        std::snprintf(buf, sizeof buf, "%s%s %.6g", coefficients.empty() ? "" : ", ", key,
                      it->get<double>());
        coefficients += buf;
    }
    if (!coefficients.empty()) std::printf("  coefficients: %s\n", coefficients.c_str());
}

int show(const CalibrationArgs& a) {
    json response;
    if (const int rc =
            ask_daemon(a.common, {{"cmd", "calibration.show"}, {"sensor", a.sensor}}, response);
        rc != kExitOk)
        return rc;
    if (a.common.json) {
        std::cout << without_ok(std::move(response)).dump(2) << "\n";
        return kExitOk;
    }
    const json calibration = response.contains("calibration") && response["calibration"].is_object()
                                 ? response["calibration"]
                                 : response;
    print_current(a.sensor, calibration);
    if (response.value("calibrating", false))
        std::printf("  CALIBRATING: a session is open on this sensor\n");
    if (const json* record = latest_record(response)) {
        std::printf("latest record:\n");
        for (const auto& line : record_lines(*record)) std::printf("  %s\n", line.c_str());
    }
    return kExitOk;
}

int history(const CalibrationArgs& a) {
    json response;
    if (const int rc =
            ask_daemon(a.common, {{"cmd", "calibration.history"}, {"sensor", a.sensor}}, response);
        rc != kExitOk)
        return rc;
    const json chain = response.value("chain", json());
    const bool chain_ok = chain.is_object() && chain.value("ok", false);
    if (a.common.json) {
        std::cout << without_ok(std::move(response)).dump(2) << "\n";
    } else {
        const json records = response.value("records", json::array());
        if (!records.is_array() || records.empty()) {
            std::printf("%s: no calibration records (factory calibration)\n", a.sensor.c_str());
        } else {
            std::printf("%s: %zu calibration record%s, oldest first\n", a.sensor.c_str(),
                        records.size(), records.size() == 1 ? "" : "s");
            for (const auto& record : records) {
                std::printf("\n");
                for (const auto& line : record_lines(record)) std::printf("%s\n", line.c_str());
            }
        }
        std::printf("\n%s\n", chain_text(chain).c_str());
    }
    if (!chain_ok) {
        std::fflush(stdout);
        std::cerr << "towngw: " << chain_text(chain) << "\n";
        return kExitRefused;
    }
    return kExitOk;
}

int export_history(const CalibrationArgs& a) {
    json req{{"cmd", "calibration.export"}};
    if (!a.sensor.empty()) req["sensor"] = a.sensor;
    json response;
    if (const int rc = ask_daemon(a.common, req, response); rc != kExitOk) return rc;
    std::cout << without_ok(std::move(response)).dump(2) << "\n";
    return kExitOk;
}

int rollback(const CalibrationArgs& a) {
    const std::string user = unix_user_name();
    if (!a.yes && interactive_terminal()) {
        std::string what = "its latest calibration";
        // Name the version being undone when the daemon can tell; the question works without.
        const auto socket = resolve_socket(a.common);
        if (!socket) return kExitConfig;
        ControlClient client(*socket);
        const auto current = client.request({{"cmd", "calibration.show"}, {"sensor", a.sensor}});
        if (!current) {
            std::cerr << "towngw: " << client.error() << "\n";
            return kExitUnavailable;
        }
        if (!current->value("ok", false)) return report_refusal(*current, a.common.json);
        const json calibration = current->value("calibration", json::object());
        if (calibration.is_object() && calibration.contains("version") &&
            calibration["version"].is_number())
            what = "v" + std::to_string(calibration["version"].get<long long>());
        std::printf("Roll %s back to before %s? [y/N] ", a.sensor.c_str(), what.c_str());
        std::fflush(stdout);
        std::string answer;
        if (!std::getline(std::cin, answer)) {
            std::printf("\n");
            std::cerr << "towngw: rollback cancelled, nothing changed\n";
            return kExitRefused;
        }
        if (answer.empty() || (answer[0] != 'y' && answer[0] != 'Y')) {
            std::printf("rollback cancelled, nothing changed\n");
            return kExitOk;
        }
    }
    json req{{"cmd", "calibration.rollback"},
             {"sensor", a.sensor},
             {"technician", a.technician.empty() ? user : a.technician},
             {"unix_user", user}};
    if (!a.reason.empty()) req["reason"] = a.reason;
    json response;
    if (const int rc = ask_daemon(a.common, req, response); rc != kExitOk) return rc;
    if (a.common.json) {
        std::cout << without_ok(std::move(response)).dump(2) << "\n";
        return kExitOk;
    }
    std::printf("rolled back %s\n", a.sensor.c_str());
    if (const json* record = latest_record(response))
        for (const auto& line : record_lines(*record)) std::printf("  %s\n", line.c_str());
    if (response.contains("calibration") && response["calibration"].is_object())
        print_current(a.sensor, response["calibration"]);
    return kExitOk;
}

}  // namespace

int cmd_calibration(const std::vector<std::string>& args) {
    const CalibrationArgs a = parse_calibration_args(args);
    if (a.common.help) {
        std::cout << kCalibrationUsage;
        return kExitOk;
    }
    if (a.action == "show") return show(a);
    if (a.action == "history") return history(a);
    if (a.action == "export") return export_history(a);
    return rollback(a);
}

}  // namespace gw::cli
