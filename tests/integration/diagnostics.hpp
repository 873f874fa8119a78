// SPDX-License-Identifier: Apache-2.0
// Dump process logs when an assertion fails. A test registers a DiagnosticsScope that knows how
// to describe its processes (daemon, simulator and broker logs); the listener in main.cpp prints
// it on the first failed assertion of the test case, while the processes are still alive. (Catch's
// INFO would capture the logs when INFO runs, not when the assertion fails.)
#pragma once

#include <functional>
#include <string>

namespace gw::test {

class DiagnosticsScope {
public:
    explicit DiagnosticsScope(std::function<std::string()> describe);
    ~DiagnosticsScope();
    DiagnosticsScope(const DiagnosticsScope&) = delete;
    DiagnosticsScope& operator=(const DiagnosticsScope&) = delete;
};

/// Text of every live scope, innermost last (empty when none is registered).
std::string describe_live_scopes();

/// Last max_lines lines of text, prefixed with a marker when lines were cut.
std::string tail_lines(const std::string& text, std::size_t max_lines);

}  // namespace gw::test
