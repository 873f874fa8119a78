// SPDX-License-Identifier: Apache-2.0
// Scratch directory for one test: created with mkdtemp, removed recursively on destruction
// unless TOWNGW_KEEP_TMP=1 (then its path is printed so the logs can be inspected).
#pragma once

#include <filesystem>
#include <string>

namespace gw::test {

class TempDir {
public:
    /// Creates $TMPDIR/<prefix>XXXXXX (or /tmp when TMPDIR is unset). Throws on failure.
    explicit TempDir(const std::string& prefix = "towngw-test-");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    /// path() / name, for files inside the directory.
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

}  // namespace gw::test
