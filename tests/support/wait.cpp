// SPDX-License-Identifier: Apache-2.0
#include "wait.hpp"

#include <thread>

namespace gw::test {

bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout,
                std::chrono::milliseconds poll) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (cond()) {
            return true;
        }
        std::this_thread::sleep_for(poll);
    }
    return cond();
}

}  // namespace gw::test
