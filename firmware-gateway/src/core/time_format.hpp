// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace gw {

/// RFC 3339 UTC, e.g. "2026-11-28T23:40:05Z"; milliseconds are added only when non-zero
/// ("2026-11-28T23:40:05.250Z").
std::string format_rfc3339_utc(std::int64_t unix_ms);

std::int64_t unix_ms(std::chrono::system_clock::time_point t);

}  // namespace gw
