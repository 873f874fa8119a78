// SPDX-License-Identifier: Apache-2.0
// What the configuration tests share: config/demo.json as text, optionally with more sensors
// appended to its "sensors" list (the tests then break one thing at a time with --set overrides).
#pragma once

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>

namespace gw::test {

inline const std::string kDemoPath = std::string(TOWNGW_SOURCE_DIR) + "/config/demo.json";

inline std::string demo_config_text() {
    std::ifstream in(kDemoPath);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

/// config/demo.json with `sensors` (JSON objects, comma-separated) appended after its last
/// sensor, so they get the indices 7, 8, ...
inline std::string demo_config_with_sensors(const std::string& sensors) {
    std::string demo = demo_config_text();
    const std::string last = R"("fill_level": { "empty_mm": 1200, "full_mm": 300 } })";
    const auto at = demo.find(last);
    REQUIRE(at != std::string::npos);
    demo.insert(at + last.size(), ",\n    " + sensors);
    return demo;
}

}  // namespace gw::test
