// SPDX-License-Identifier: Apache-2.0
// Loads and validates the configuration: JSON with comments, unknown keys rejected, every error
// reported with the file it is in and the JSON Pointer of the culprit.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "config/config.hpp"

namespace gw {

struct ConfigError {
    std::string file;     ///< the file the culprit is in ("--set" for a bad override)
    std::string pointer;  ///< JSON Pointer, "/devices/1/registers/0/word_order"
    std::string message;  ///< what is wrong, e.g. must be one of "ABCD","CDAB","BADC","DCBA"

    /// "error: FILE: POINTER: MESSAGE"
    std::string to_string() const;
};

/// A `--set /json/pointer=VALUE` command-line override, applied to the parsed file before
/// validation. VALUE is parsed as JSON when it parses, else taken as a string.
struct ConfigOverride {
    std::string pointer;
    std::string value;
};

using ConfigResult = std::variant<Config, std::vector<ConfigError>>;

/// Reads `path`, applies `overrides`, validates everything (device profiles included).
ConfigResult load_config(const std::string& path,
                         const std::vector<ConfigOverride>& overrides = {});

/// Same, from text already in memory (`path` names it in errors and anchors relative profile
/// paths).
ConfigResult load_config_text(const std::string& text, const std::string& path,
                              const std::vector<ConfigOverride>& overrides = {});

/// Why `window_s` cannot be a sensor's window length, or "" when it can: 1 to 86400 s and a
/// divisor of a day, so that windows align to wall-clock boundaries.
std::string window_length_error(std::int64_t window_s);
/// Why a window of `window_s` is too short for `device` (shorter than its poll period or
/// uplink interval), or "".
std::string window_vs_device_error(std::int64_t window_s, const DeviceConfig& device);

/// Parses "POINTER=VALUE"; returns false if there is no '=' or the pointer lacks a leading '/'.
bool parse_override(const std::string& argument, ConfigOverride& out);

}  // namespace gw
