// SPDX-License-Identifier: Apache-2.0
// A small tmpfs mounted for one test (disk-full tests), unmounted by the destructor even when
// the test fails. Needs CAP_SYS_ADMIN (root outside a restricted container); try_mount() says
// why when it is not permitted, so a test can fall back to another way of exhausting storage.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace gw::test {

class TmpfsMount {
public:
    /// Mounts a tmpfs of `size_bytes` on `dir` (created if missing). Returns nothing and sets
    /// `why` when mounting is not possible (not root, EPERM in a container, ...).
    static std::unique_ptr<TmpfsMount> try_mount(const std::filesystem::path& dir,
                                                 std::uint64_t size_bytes, std::string& why);
    /// Unmounts (lazily, MNT_DETACH, if a process still has files open there).
    ~TmpfsMount();
    TmpfsMount(const TmpfsMount&) = delete;
    TmpfsMount& operator=(const TmpfsMount&) = delete;

    const std::filesystem::path& path() const { return dir_; }
    /// Unmounts now; true on success (also when it had to detach lazily).
    bool unmount();

private:
    explicit TmpfsMount(std::filesystem::path dir) : dir_(std::move(dir)) {}
    std::filesystem::path dir_;
    bool mounted_ = true;
};

/// Creates (or extends) `path` with 4 KiB writes until the filesystem reports ENOSPC (or EFBIG);
/// returns the bytes written. Throws std::runtime_error on any other error.
std::uint64_t fill_until_full(const std::filesystem::path& path);

/// Free bytes for unprivileged users on the filesystem holding `path` (statvfs f_bavail).
std::uint64_t free_bytes(const std::filesystem::path& path);

}  // namespace gw::test
