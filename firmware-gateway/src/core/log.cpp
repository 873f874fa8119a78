// SPDX-License-Identifier: Apache-2.0
#include "core/log.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "core/time_format.hpp"

namespace gw::log {

namespace {
std::atomic<Level> g_level{Level::Info};
std::mutex g_write_mutex;  // bus threads log too

const char* level_name(Level level) {
    switch (level) {
        case Level::Debug:
            return "debug";
        case Level::Info:
            return "info";
        case Level::Warn:
            return "warn";
        case Level::Error:
            return "error";
    }
    return "?";
}

int sd_priority(Level level) {
    switch (level) {
        case Level::Debug:
            return 7;
        case Level::Info:
            return 6;
        case Level::Warn:
            return 4;
        case Level::Error:
            return 3;
    }
    return 6;
}
}  // namespace

void set_level(Level level) {
    g_level = level;
}
Level level() {
    return g_level;
}

std::optional<Level> parse_level(std::string_view text) {
    if (text == "debug") return Level::Debug;
    if (text == "info") return Level::Info;
    if (text == "warn") return Level::Warn;
    if (text == "error") return Level::Error;
    return std::nullopt;
}

bool journal_stream_matches(const char* journal_stream, unsigned long long dev,
                            unsigned long long ino) {
    if (journal_stream == nullptr) return false;
    unsigned long long stream_dev = 0;
    unsigned long long stream_ino = 0;
    char tail = 0;
    return std::sscanf(journal_stream, "%llu:%llu%c", &stream_dev, &stream_ino, &tail) == 2 &&
           stream_dev == dev && stream_ino == ino;
}

namespace {
bool stderr_is_journal() {
    struct stat st {};
    return ::fstat(STDERR_FILENO, &st) == 0 &&
           journal_stream_matches(std::getenv("JOURNAL_STREAM"), st.st_dev, st.st_ino);
}
}  // namespace

void write(Level level, std::string_view tag, const std::string& message) {
    static const bool under_journal = stderr_is_journal();
    std::lock_guard lock(g_write_mutex);
    if (under_journal) {
        std::fprintf(stderr, "<%d>%.*s: %s\n", sd_priority(level), static_cast<int>(tag.size()),
                     tag.data(), message.c_str());
    } else {
        const auto now = format_rfc3339_utc(unix_ms(std::chrono::system_clock::now()));
        std::fprintf(stderr, "%s %-5s %.*s: %s\n", now.c_str(), level_name(level),
                     static_cast<int>(tag.size()), tag.data(), message.c_str());
    }
    std::fflush(stderr);
}

}  // namespace gw::log
