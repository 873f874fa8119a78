// SPDX-License-Identifier: Apache-2.0
// Base64 (RFC 4648 §4, the standard alphabet) as ChirpStack writes the raw FRMPayload in the
// `data` field of its JSON events. Sans-I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw::lorawan {

/// Decodes standard base64. Padding ('=') is optional but, when present, must be correct;
/// whitespace, the URL-safe alphabet and non-zero trailing bits are rejected (a payload that
/// is not exactly what the device sent must not be decoded into values). nullopt on error.
std::optional<std::vector<std::uint8_t>> decode_base64(std::string_view text);

/// Encodes with padding (for tests and tools).
std::string encode_base64(const std::vector<std::uint8_t>& bytes);

}  // namespace gw::lorawan
