// SPDX-License-Identifier: Apache-2.0
// towngw maintenance: put a sensor under maintenance (its HJ 212 data is flagged M), end it, or
// list what is under maintenance.
#include <iostream>

#include "cli_args.hpp"
#include "cli_common.hpp"
#include "commands.hpp"

namespace gw::cli {

const char* const kMaintenanceUsage =
    R"(usage: towngw maintenance start SENSOR [--minutes N] [--technician NAME] [--reason TEXT]
       towngw maintenance end SENSOR
       towngw maintenance [list]

While a probe is cleaned, its reagents changed or it hangs in a bucket, its
readings are not the water's. Under maintenance they are flagged M in the
HJ 212 data sent to the environmental bureau (docs/hj212.md), and the start
and the end are events on MQTT. Maintenance ends by itself when its time is
up; starting it again extends it. It survives a restart of towngwd.

  --minutes N, -m N      how long (1-1440, default 60)
  --technician NAME, -t  who does it (default: your login name)
  --reason TEXT          what is done, kept with the events
  --socket PATH | --config FILE
                         which towngwd (default /run/towngw/control.sock)
  --json                 the daemon's answer as JSON

Exit codes: 0 ok, 1 refused (unknown sensor, not under maintenance), 64 bad
command line, 69 towngwd not reachable.

  e.g. towngw maintenance start outfall.cod --minutes 90 --reason "reagent change"
       towngw maintenance end outfall.cod
)";

int cmd_maintenance(const std::vector<std::string>& args) {
    const MaintenanceArgs a = parse_maintenance_args(args);
    if (a.common.help) {
        std::cout << kMaintenanceUsage;
        return kExitOk;
    }
    json request = {{"cmd", "maintenance"}};
    const std::string technician = a.technician.empty() ? unix_user_name() : a.technician;
    if (a.action == MaintenanceArgs::Action::Start) {
        request["sensor"] = a.sensor;
        request["minutes"] = a.minutes;
        request["technician"] = technician;
        if (!a.reason.empty()) request["reason"] = a.reason;
    } else if (a.action == MaintenanceArgs::Action::End) {
        request["sensor"] = a.sensor;
        request["end"] = true;
        request["technician"] = technician;
    }
    json response;
    if (const int rc = ask_daemon(a.common, request, response); rc != kExitOk) return rc;
    if (a.common.json) {
        std::cout << without_ok(std::move(response)).dump(2) << "\n";
        return kExitOk;
    }
    if (a.action == MaintenanceArgs::Action::Start)
        std::cout << a.sensor << ": under maintenance for " << a.minutes << " min\n";
    else if (a.action == MaintenanceArgs::Action::End)
        std::cout << a.sensor << ": maintenance ended\n";
    const json& active = response.contains("maintenance") ? response["maintenance"] : json();
    if (!active.is_array() || active.empty()) {
        std::cout << "no sensor is under maintenance\n";
        return kExitOk;
    }
    for (const auto& m : active)
        std::cout << m.value("sensor", "?") << "  until " << m.value("until", "?") << "  by "
                  << m.value("technician", "?")
                  << (m.value("reason", "").empty() ? "" : "  (" + m.value("reason", "") + ")")
                  << "\n";
    return kExitOk;
}

}  // namespace gw::cli
