// SPDX-License-Identifier: Apache-2.0
// Loads and validates the configuration: JSON with comments, unknown keys rejected, every error
// reported with the file it is in and the JSON Pointer of the culprit.
#pragma once

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

/// Parses "POINTER=VALUE"; returns false if there is no '=' or the pointer lacks a leading '/'.
bool parse_override(const std::string& argument, ConfigOverride& out);

}  // namespace gw
