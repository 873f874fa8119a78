// SPDX-License-Identifier: Apache-2.0
#include "core/time_format.hpp"

#include <cstdio>
#include <ctime>

namespace gw {

std::string format_rfc3339_utc(std::int64_t unix_ms_value) {
    std::int64_t seconds = unix_ms_value / 1000;
    std::int64_t millis = unix_ms_value % 1000;
    if (millis < 0) {
        millis += 1000;
        --seconds;
    }
    const auto t = static_cast<std::time_t>(seconds);
    std::tm utc{};
    gmtime_r(&t, &utc);
    char buf[64];
    if (millis == 0) {
        std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", utc.tm_year + 1900,
                      utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
    } else {
        std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                      utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                      static_cast<int>(millis));
    }
    return buf;
}

std::int64_t unix_ms(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace gw
