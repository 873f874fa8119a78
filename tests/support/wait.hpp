// SPDX-License-Identifier: Apache-2.0
// Deadline-bounded polling: the only way tests wait for something to happen.
#pragma once

#include <chrono>
#include <functional>

namespace gw::test {

/// Polls cond every `poll` until it returns true or `timeout` has passed. Returns the last
/// result, so a condition that becomes true exactly at the deadline still counts.
bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout,
                std::chrono::milliseconds poll = std::chrono::milliseconds(20));

}  // namespace gw::test
