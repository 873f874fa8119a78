// SPDX-License-Identifier: Apache-2.0
// Internal to the configuration loader: the Checker that reads typed values out of the JSON
// document and records every problem with its JSON Pointer, shared by the files that parse
// parts of the configuration (config_loader.cpp, analytics_config_loader.cpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/config_loader.hpp"

namespace gw::config_detail {

using json = nlohmann::json;
using Pointer = json::json_pointer;

inline std::string pointer_text(const Pointer& p) {
    std::string text = p.to_string();
    return text.empty() ? "/" : text;
}

inline std::string quoted_list(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) {
        if (!out.empty()) out += ",";
        out += "\"" + item + "\"";
    }
    return out;
}

inline std::string plain_list(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) {
        if (!out.empty()) out += ", ";
        out += item;
    }
    return out.empty() ? "none" : out;
}

/// Reads typed values out of one JSON document and records every problem with its pointer.
class Checker {
public:
    Checker(std::string file, std::vector<ConfigError>& errors)
        : file_(std::move(file)), errors_(errors) {}

    const std::string& file() const { return file_; }

    void error(const Pointer& p, std::string message) {
        errors_.push_back({file_, pointer_text(p), std::move(message)});
    }

    bool object(const json& j, const Pointer& p) {
        if (j.is_object()) return true;
        error(p, "must be an object");
        return false;
    }

    void only_keys(const json& obj, const Pointer& p, const std::vector<std::string>& allowed) {
        for (const auto& item : obj.items()) {
            if (std::find(allowed.begin(), allowed.end(), item.key()) == allowed.end())
                error(p / item.key(), "unknown key (allowed here: " + plain_list(allowed) + ")");
        }
    }

    /// The member, or nullptr when absent (an error if required).
    const json* member(const json& obj, const std::string& key, const Pointer& p, bool required) {
        auto it = obj.find(key);
        if (it == obj.end()) {
            if (required) error(p / key, "is required");
            return nullptr;
        }
        return &*it;
    }

    bool string(const json& obj, const std::string& key, const Pointer& p, std::string& out,
                bool required) {
        const json* v = member(obj, key, p, required);
        if (v == nullptr) return false;
        if (!v->is_string()) {
            error(p / key, "must be a string");
            return false;
        }
        if (v->get_ref<const std::string&>().empty()) {
            error(p / key, "must not be empty");
            return false;
        }
        out = v->get<std::string>();
        return true;
    }

    /// An id that becomes part of MQTT topics and file names.
    bool id(const json& obj, const std::string& key, const Pointer& p, std::string& out,
            bool required) {
        std::string value;
        if (!string(obj, key, p, value, required)) return false;
        const bool valid =
            value.size() <= 64 && std::all_of(value.begin(), value.end(), [](char c) {
                return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' ||
                       c == '.';
            });
        if (!valid) {
            error(p / key,
                  "must be 1-64 characters of A-Z a-z 0-9 _ - . (it is used in MQTT "
                  "topics), got \"" +
                      value + "\"");
            return false;
        }
        out = value;
        return true;
    }

    bool integer(const json& obj, const std::string& key, const Pointer& p, std::int64_t& out,
                 std::int64_t min, std::int64_t max, bool required) {
        const json* v = member(obj, key, p, required);
        if (v == nullptr) return false;
        const bool is_whole_float =
            v->is_number_float() && std::floor(v->get<double>()) == v->get<double>();
        if (!v->is_number_integer() && !is_whole_float) {
            error(p / key, "must be an integer between " + std::to_string(min) + " and " +
                               std::to_string(max));
            return false;
        }
        const auto value = v->is_number_unsigned() && v->get<std::uint64_t>() > INT64_MAX
                               ? INT64_MAX
                               : (is_whole_float ? static_cast<std::int64_t>(v->get<double>())
                                                 : v->get<std::int64_t>());
        if (value < min || value > max) {
            error(p / key, "must be an integer between " + std::to_string(min) + " and " +
                               std::to_string(max) + ", got " + std::to_string(value));
            return false;
        }
        out = value;
        return true;
    }

    template <typename Int>
    bool integer_into(const json& obj, const std::string& key, const Pointer& p, Int& out,
                      std::int64_t min, std::int64_t max, bool required) {
        std::int64_t value = 0;
        if (!integer(obj, key, p, value, min, max, required)) return false;
        out = static_cast<Int>(value);
        return true;
    }

    bool number(const json& obj, const std::string& key, const Pointer& p, double& out,
                bool required) {
        const json* v = member(obj, key, p, required);
        if (v == nullptr) return false;
        if (!v->is_number()) {
            error(p / key, "must be a number");
            return false;
        }
        out = v->get<double>();
        return true;
    }

    bool one_of(const json& obj, const std::string& key, const Pointer& p, std::string& out,
                const std::vector<std::string>& choices, bool required) {
        const json* v = member(obj, key, p, required);
        if (v == nullptr) return false;
        if (!v->is_string() ||
            std::find(choices.begin(), choices.end(), v->get<std::string>()) == choices.end()) {
            error(p / key, "must be one of " + quoted_list(choices));
            return false;
        }
        out = v->get<std::string>();
        return true;
    }

    /// Integer member restricted to a set of values (baud rates, data bits).
    bool int_one_of(const json& obj, const std::string& key, const Pointer& p, int& out,
                    const std::vector<int>& choices, bool required) {
        const json* v = member(obj, key, p, required);
        if (v == nullptr) return false;
        if (!v->is_number_integer() ||
            std::find(choices.begin(), choices.end(), v->get<std::int64_t>()) == choices.end()) {
            std::string list;
            for (int c : choices) list += (list.empty() ? "" : ",") + std::to_string(c);
            error(p / key, "must be one of " + list);
            return false;
        }
        out = v->get<int>();
        return true;
    }

private:
    std::string file_;
    std::vector<ConfigError>& errors_;
};

/// The analytics section (analytics_config_loader.cpp); runs after the sensors are parsed, so
/// sensor ids resolve.
void parse_analytics(const json& root, Checker& check, Config& config);

/// "flow_meters", "outfalls" and "bins" of the analytics object `analytics` at pointer `p`
/// (flow_bin_config_loader.cpp); called at the end of parse_analytics, after the sites.
void parse_flow_meters(const json& analytics, const Pointer& p, Checker& check, Config& config);
void parse_outfalls(const json& analytics, const Pointer& p, Checker& check, Config& config);
void parse_bins(const json& analytics, const Pointer& p, Checker& check, Config& config);

/// A sensor id of `obj[key]` resolved to its index in `sensors`; an error names the pointer.
std::optional<std::size_t> sensor_ref(const json& obj, const std::string& key, const Pointer& p,
                                      Checker& check, const std::vector<SensorConfig>& sensors,
                                      bool required);

}  // namespace gw::config_detail
