// SPDX-License-Identifier: Apache-2.0
#include "json_util.hpp"

#include <ctime>
#include <fstream>
#include <regex>
#include <stdexcept>

namespace gw::test {

nlohmann::json read_json_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) {
        throw std::runtime_error("cannot open " + path.string());
    }
    return nlohmann::json::parse(in, nullptr, true, /*ignore_comments=*/true);
}

void write_json_file(const std::filesystem::path& path, const nlohmann::json& j) {
    std::ofstream out(path, std::ios::trunc);
    out << j.dump(2) << '\n';
    if (!out) {
        throw std::runtime_error("cannot write " + path.string());
    }
}

std::optional<std::int64_t> parse_utc(const std::string& text) {
    static const std::regex re(R"(^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?Z$)");
    std::smatch m;
    if (!std::regex_match(text, m, re)) {
        return std::nullopt;
    }
    std::tm tm{};
    tm.tm_year = std::stoi(m[1]) - 1900;
    tm.tm_mon = std::stoi(m[2]) - 1;
    tm.tm_mday = std::stoi(m[3]);
    tm.tm_hour = std::stoi(m[4]);
    tm.tm_min = std::stoi(m[5]);
    tm.tm_sec = std::stoi(m[6]);
    return static_cast<std::int64_t>(::timegm(&tm));
}

}  // namespace gw::test
