// SPDX-License-Identifier: Apache-2.0
// The towngw commands that talk to towngwd. Each takes the arguments after its name, returns
// the process exit code (cli_common.hpp) and throws UsageError for a bad command line.
#pragma once

#include <string>
#include <vector>

namespace gw::cli {

extern const char* const kStatusUsage;
extern const char* const kSensorsUsage;
extern const char* const kReadUsage;
extern const char* const kCalibrateUsage;
extern const char* const kCalibrationUsage;

int cmd_status(const std::vector<std::string>& args);
int cmd_sensors(const std::vector<std::string>& args);
int cmd_read(const std::vector<std::string>& args);
int cmd_calibrate(const std::vector<std::string>& args);
int cmd_calibration(const std::vector<std::string>& args);

}  // namespace gw::cli
