// SPDX-License-Identifier: Apache-2.0
// Loopback-only socket helpers for tests.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace gw::test {

/// A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, getsockname, close).
/// Another process may still take it before we use it; callers retry on bind failure.
std::uint16_t free_tcp_port();

/// True when a TCP connection to 127.0.0.1:port succeeds right now (closed again at once).
bool tcp_port_accepts(std::uint16_t port);

/// One JSON-lines request over a Unix stream socket (the daemon's control socket, the
/// simulator's): sends `request` and a newline, returns the first line of the reply parsed.
/// Throws std::runtime_error naming `what` and the socket when it cannot connect or gets no
/// reply within `timeout_s`.
nlohmann::json json_line_request(const std::filesystem::path& socket, const nlohmann::json& request,
                                 const std::string& what, int timeout_s = 5);

}  // namespace gw::test
