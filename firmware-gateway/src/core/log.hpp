// SPDX-License-Identifier: Apache-2.0
// A small logging facade. When stderr is the journal's stream (JOURNAL_STREAM names its device
// and inode) lines carry sd-daemon priority prefixes ("<3>") and no timestamp, since journald
// adds one; otherwise a UTC timestamp.
#pragma once

#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace gw::log {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3 };

void set_level(Level level);
Level level();
std::optional<Level> parse_level(std::string_view text);
void write(Level level, std::string_view tag, const std::string& message);

/// True when JOURNAL_STREAM's "DEVICE:INODE" names the file stderr is (`dev`, `ino` from
/// fstat(2)). A child that inherited the variable but writes elsewhere gets plain lines.
bool journal_stream_matches(const char* journal_stream, unsigned long long dev,
                            unsigned long long ino);

}  // namespace gw::log

#define GW_LOG(lvl, tag, expr)                                               \
    do {                                                                     \
        if (static_cast<int>(lvl) >= static_cast<int>(::gw::log::level())) { \
            std::ostringstream gw_log_stream_;                               \
            gw_log_stream_ << expr;                                          \
            ::gw::log::write(lvl, tag, gw_log_stream_.str());                \
        }                                                                    \
    } while (0)
#define GW_LOG_DEBUG(tag, expr) GW_LOG(::gw::log::Level::Debug, tag, expr)
#define GW_LOG_INFO(tag, expr) GW_LOG(::gw::log::Level::Info, tag, expr)
#define GW_LOG_WARN(tag, expr) GW_LOG(::gw::log::Level::Warn, tag, expr)
#define GW_LOG_ERROR(tag, expr) GW_LOG(::gw::log::Level::Error, tag, expr)
