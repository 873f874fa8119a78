// SPDX-License-Identifier: Apache-2.0
// The towngw commands that talk to towngwd. Each takes the arguments after its name, returns
// the process exit code (cli_common.hpp) and throws UsageError for a bad command line.
#pragma once

#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "cli_common.hpp"
#include "hj212/codec.hpp"

namespace gw::cli {

extern const char* const kStatusUsage;
extern const char* const kSensorsUsage;
extern const char* const kReadUsage;
extern const char* const kCalibrateUsage;
extern const char* const kCalibrationUsage;
extern const char* const kHj212Usage;
extern const char* const kMaintenanceUsage;

int cmd_status(const std::vector<std::string>& args);
int cmd_sensors(const std::vector<std::string>& args);
int cmd_read(const std::vector<std::string>& args);
int cmd_calibrate(const std::vector<std::string>& args);
int cmd_calibration(const std::vector<std::string>& args);
int cmd_maintenance(const std::vector<std::string>& args);

// --- towngw hj212 decode|encode|check: local HJ 212 frame work, no daemon ----------------------

/// `towngw hj212`: `args` after the command name; frames for `decode` without FRAME come from
/// `in`, one per line. Returns the exit code; throws UsageError for a bad command line.
int run_hj212(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
              std::ostream& err);
int cmd_hj212(const std::vector<std::string>& args);

/// The `decode` report of one frame: OK/INVALID, the error, warnings, the header fields, Flag
/// decoded and the CP items one per line.
std::string hj212_decode_text(std::string_view frame);
/// The same as one JSON object.
json hj212_decode_json(std::string_view frame);

// --- towngw hj212 listen: a platform for a technician's laptop and the demo -------------------

struct Hj212ListenArgs {
    std::string bind{"127.0.0.1"};  ///< --bind ADDR (IPv4)
    int port{-1};                   ///< --port N (required; 0: any free port)
    int seconds{0};                 ///< --seconds N, 0: until Ctrl-C
    std::string ready_file;         ///< --ready-file PATH: {"port": N} once listening
    bool reply{true};               ///< answer uploads with Flag.A by 9014 (--no-reply: not)
    bool json{false};               ///< --json: hj212 decode --json per frame, one per line
    bool help{false};
};
Hj212ListenArgs parse_hj212_listen_args(const std::vector<std::string>& args);
/// One printed line per received frame: CN, QN and the CP area, or INVALID and why.
std::string hj212_listen_line(std::string_view frame, bool replied);
/// The 9014 frame an upload asks for (data CN with Flag.A), or empty.
std::string hj212_data_reply(const hj212::Packet& packet);
int hj212_listen(const Hj212ListenArgs& args, std::ostream& out, std::ostream& err);

}  // namespace gw::cli
