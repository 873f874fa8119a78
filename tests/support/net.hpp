// SPDX-License-Identifier: Apache-2.0
// Loopback-only socket helpers for tests.
#pragma once

#include <cstdint>

namespace gw::test {

/// A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, getsockname, close).
/// Another process may still take it before we use it; callers retry on bind failure.
std::uint16_t free_tcp_port();

/// True when a TCP connection to 127.0.0.1:port succeeds right now (closed again at once).
bool tcp_port_accepts(std::uint16_t port);

}  // namespace gw::test
