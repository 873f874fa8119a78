// SPDX-License-Identifier: Apache-2.0
// The towngw commands that talk to towngwd. Each takes the arguments after its name, returns
// the process exit code (cli_common.hpp) and throws UsageError for a bad command line.
#pragma once

#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "cli_common.hpp"

namespace gw::cli {

extern const char* const kStatusUsage;
extern const char* const kSensorsUsage;
extern const char* const kReadUsage;
extern const char* const kCalibrateUsage;
extern const char* const kCalibrationUsage;
extern const char* const kHj212Usage;

int cmd_status(const std::vector<std::string>& args);
int cmd_sensors(const std::vector<std::string>& args);
int cmd_read(const std::vector<std::string>& args);
int cmd_calibrate(const std::vector<std::string>& args);
int cmd_calibration(const std::vector<std::string>& args);

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

}  // namespace gw::cli
