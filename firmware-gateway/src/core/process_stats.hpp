// SPDX-License-Identifier: Apache-2.0
// What the daemon costs the board, for `…/health` and `towngw status`: CPU time and resident
// memory from /proc/self, and the free space of the file system holding the outbox.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace gw {

struct ProcessUsage {
    double cpu_user_s{0};           ///< CPU time in user mode since the process started
    double cpu_system_s{0};         ///< CPU time in the kernel since the process started
    std::uint64_t rss_kib{0};       ///< resident set now (VmRSS)
    std::uint64_t rss_peak_kib{0};  ///< highest resident set so far (VmHWM)
    std::uint32_t threads{0};
};

/// Reads /proc/self/stat and /proc/self/status; nullopt if /proc is not readable.
std::optional<ProcessUsage> read_process_usage();

/// Parses the text of /proc/<pid>/stat and /proc/<pid>/status (split out for unit tests).
/// `ticks_per_s`: sysconf(_SC_CLK_TCK).
std::optional<ProcessUsage> parse_process_usage(const std::string& stat, const std::string& status,
                                                long ticks_per_s);

struct DiskUsage {
    std::uint64_t total_bytes{0};
    std::uint64_t available_bytes{0};  ///< what an unprivileged writer may still use
};

/// statvfs() of the file system holding `path`; nullopt when it fails.
std::optional<DiskUsage> read_disk_usage(const std::string& path);

/// CPU use as a percentage of one core between two samples (`cpu_s` user + system seconds,
/// `wall_s` elapsed steady-clock seconds); 0 for an empty interval.
double cpu_percent(double cpu_s_before, double cpu_s_after, double wall_s);

}  // namespace gw
