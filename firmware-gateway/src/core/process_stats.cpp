// SPDX-License-Identifier: Apache-2.0
#include "core/process_stats.hpp"

#include <sys/statvfs.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace gw {

namespace {

std::string read_text(const char* path) {
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

/// The number after "Key:" in /proc/self/status ("VmRSS:   1234 kB"), if present.
std::optional<std::uint64_t> status_field(const std::string& status, const std::string& key) {
    std::istringstream lines(status);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.rfind(key + ":", 0) != 0) continue;
        std::istringstream rest(line.substr(key.size() + 1));
        std::uint64_t value = 0;
        if (rest >> value) return value;
        return std::nullopt;
    }
    return std::nullopt;
}

}  // namespace

std::optional<ProcessUsage> parse_process_usage(const std::string& stat, const std::string& status,
                                                long ticks_per_s) {
    // The command name (field 2) is in parentheses and may hold spaces and ')': the fields
    // are counted from the last ')'. utime and stime are fields 14 and 15.
    const auto name_end = stat.rfind(')');
    if (name_end == std::string::npos || ticks_per_s <= 0) return std::nullopt;
    std::istringstream fields(stat.substr(name_end + 1));
    std::string field;
    std::uint64_t utime = 0, stime = 0;
    for (int index = 3; index <= 15; ++index) {
        if (!(fields >> field)) return std::nullopt;
        try {
            if (index == 14) utime = std::stoull(field);
            if (index == 15) stime = std::stoull(field);
        } catch (const std::exception&) {
            return std::nullopt;
        }
    }
    ProcessUsage usage;
    usage.cpu_user_s = static_cast<double>(utime) / static_cast<double>(ticks_per_s);
    usage.cpu_system_s = static_cast<double>(stime) / static_cast<double>(ticks_per_s);
    const auto rss = status_field(status, "VmRSS");
    if (!rss) return std::nullopt;
    usage.rss_kib = *rss;
    usage.rss_peak_kib = status_field(status, "VmHWM").value_or(*rss);
    usage.threads = static_cast<std::uint32_t>(status_field(status, "Threads").value_or(0));
    return usage;
}

std::optional<ProcessUsage> read_process_usage() {
    return parse_process_usage(read_text("/proc/self/stat"), read_text("/proc/self/status"),
                               sysconf(_SC_CLK_TCK));
}

std::optional<DiskUsage> read_disk_usage(const std::string& path) {
    struct statvfs fs {};
    if (statvfs(path.c_str(), &fs) != 0) return std::nullopt;
    DiskUsage usage;
    usage.total_bytes = static_cast<std::uint64_t>(fs.f_blocks) * fs.f_frsize;
    usage.available_bytes = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
    return usage;
}

double cpu_percent(double cpu_s_before, double cpu_s_after, double wall_s) {
    if (wall_s <= 0 || cpu_s_after < cpu_s_before) return 0;
    return 100.0 * (cpu_s_after - cpu_s_before) / wall_s;
}

}  // namespace gw
