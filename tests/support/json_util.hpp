// SPDX-License-Identifier: Apache-2.0
// Small helpers for the JSON the gateway reads and writes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace gw::test {

/// Parses a JSON file that may contain // and /* */ comments. Throws on error.
nlohmann::json read_json_file(const std::filesystem::path& path);

/// Writes j to path (pretty-printed). Throws on error.
void write_json_file(const std::filesystem::path& path, const nlohmann::json& j);

/// Seconds since the Unix epoch for "YYYY-MM-DDTHH:MM:SSZ" (optionally with fractional
/// seconds before the Z); empty when the text is not in that form.
std::optional<std::int64_t> parse_utc(const std::string& text);

}  // namespace gw::test
