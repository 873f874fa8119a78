// SPDX-License-Identifier: Apache-2.0
#include "temp_dir.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <system_error>
#include <vector>

namespace gw::test {

TempDir::TempDir(const std::string& prefix) {
    const char* tmp = std::getenv("TMPDIR");
    std::string base = (tmp != nullptr && *tmp != '\0') ? tmp : "/tmp";
    std::string pattern = base + "/" + prefix + "XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) {
        throw std::runtime_error("mkdtemp(" + pattern + ") failed: " + std::strerror(errno));
    }
    path_ = buf.data();
}

TempDir::~TempDir() {
    const char* keep = std::getenv("TOWNGW_KEEP_TMP");
    if (keep != nullptr && std::string(keep) == "1") {
        std::cerr << "TOWNGW_KEEP_TMP=1: keeping " << path_ << '\n';
        return;
    }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

}  // namespace gw::test
