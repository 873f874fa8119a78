// SPDX-License-Identifier: Apache-2.0
// SHA-256 for the calibration history's hash chain. OpenSSL's implementation: libcrypto is
// already loaded for MQTT over TLS, and a hand-written digest is not something to maintain.
#pragma once

#include <string>

namespace gw {

/// Lower-case hex SHA-256 of `data` (64 characters).
std::string sha256_hex(const std::string& data);

}  // namespace gw
