// SPDX-License-Identifier: Apache-2.0
#include "tmpfs_mount.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace gw::test {

std::unique_ptr<TmpfsMount> TmpfsMount::try_mount(const std::filesystem::path& dir,
                                                  std::uint64_t size_bytes, std::string& why) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
        why = "cannot create " + dir.string() + ": " + ec.message();
        return nullptr;
    }
    if (::geteuid() != 0) {
        why = "not root (euid " + std::to_string(::geteuid()) + ")";
        return nullptr;
    }
    const std::string options = "size=" + std::to_string(size_bytes) + ",mode=0755";
    if (::mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0) {
        why = std::string("mount -t tmpfs -o ") + options + " tmpfs " + dir.string() + ": " +
              std::strerror(errno);
        return nullptr;
    }
    return std::unique_ptr<TmpfsMount>(new TmpfsMount(dir));
}

bool TmpfsMount::unmount() {
    if (!mounted_) {
        return true;
    }
    if (::umount2(dir_.c_str(), 0) == 0 ||
        (errno == EBUSY && ::umount2(dir_.c_str(), MNT_DETACH) == 0)) {
        mounted_ = false;
    }
    return !mounted_;
}

TmpfsMount::~TmpfsMount() {
    unmount();
}

std::uint64_t fill_until_full(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        throw std::runtime_error("open " + path.string() + ": " + std::strerror(errno));
    }
    std::vector<char> block(4096, '\xA5');
    std::uint64_t written = 0;
    for (;;) {
        const ssize_t n = ::write(fd, block.data(), block.size());
        if (n > 0) {
            written += static_cast<std::uint64_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        const int err = (n < 0) ? errno : ENOSPC;
        ::close(fd);
        if (err == ENOSPC || err == EFBIG || err == EDQUOT) {
            return written;
        }
        throw std::runtime_error("write " + path.string() + ": " + std::strerror(err));
    }
}

std::uint64_t free_bytes(const std::filesystem::path& path) {
    struct statvfs st {};
    if (::statvfs(path.c_str(), &st) != 0) {
        return 0;
    }
    return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

}  // namespace gw::test
