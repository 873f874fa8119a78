// SPDX-License-Identifier: Apache-2.0
// Catch2 main for towngw_integration_tests, plus the listener that prints process logs on the
// first failed assertion of a test case (see diagnostics.hpp).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
#include <iostream>
#include <vector>

#include "diagnostics.hpp"

namespace gw::test {
namespace {

std::vector<std::function<std::string()>>& scopes() {
    static std::vector<std::function<std::string()>> s;
    return s;
}

}  // namespace

DiagnosticsScope::DiagnosticsScope(std::function<std::string()> describe) {
    scopes().push_back(std::move(describe));
}

DiagnosticsScope::~DiagnosticsScope() {
    scopes().pop_back();
}

std::string describe_live_scopes() {
    std::string out;
    for (const auto& describe : scopes()) {
        try {
            out += describe();
        } catch (const std::exception& e) {
            out += std::string("(diagnostics failed: ") + e.what() + ")\n";
        }
    }
    return out;
}

std::string tail_lines(const std::string& text, std::size_t max_lines) {
    std::size_t pos = text.size();
    if (pos > 0 && text[pos - 1] == '\n') {
        --pos;  // the final newline does not start a line
    }
    std::size_t count = 0;
    for (; pos > 0; --pos) {
        if (text[pos - 1] == '\n' && ++count == max_lines) {
            return "[... " + std::to_string(pos) + " bytes cut ...]\n" + text.substr(pos);
        }
    }
    return text;
}

namespace {

class DiagnosticsListener : public Catch::TestEventListenerBase {
public:
    using TestEventListenerBase::TestEventListenerBase;

    void testCaseStarting(const Catch::TestCaseInfo& info) override {
        dumped_ = false;
        TestEventListenerBase::testCaseStarting(info);
    }

    bool assertionEnded(const Catch::AssertionStats& stats) override {
        if (!stats.assertionResult.isOk() && !dumped_) {
            const std::string text = describe_live_scopes();
            if (!text.empty()) {
                dumped_ = true;
                std::cout << "\n======== process logs at first failure ("
                          << stats.assertionResult.getSourceInfo() << ") ========\n"
                          << text << "======== end of process logs ========\n"
                          << std::flush;
            }
        }
        return TestEventListenerBase::assertionEnded(stats);
    }

private:
    bool dumped_ = false;
};

CATCH_REGISTER_LISTENER(DiagnosticsListener)

}  // namespace
}  // namespace gw::test
