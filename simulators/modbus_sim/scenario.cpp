// SPDX-License-Identifier: Apache-2.0
#include "modbus_sim/scenario.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string_view>

namespace gw::sim {
namespace {

using nlohmann::json;

/// JSON Pointer of a member (RFC 6901 escaping: ~ -> ~0, / -> ~1).
std::string child(const std::string& pointer, std::string_view key) {
    std::string out = pointer + "/";
    for (const char c : key) {
        if (c == '~') {
            out += "~0";
        } else if (c == '/') {
            out += "~1";
        } else {
            out += c;
        }
    }
    return out;
}

std::string child(const std::string& pointer, std::size_t index) {
    return pointer + "/" + std::to_string(index);
}

std::string as_json_string(std::string_view text) {
    return json(std::string(text)).dump();
}

/// Typed, validating access to one JSON document; every failure throws a ConfigError that
/// names the file and the pointer.
class Reader {
public:
    explicit Reader(std::string file) : file_(std::move(file)) {}

    [[noreturn]] void fail(const std::string& pointer, const std::string& message) const {
        throw ConfigError(file_, pointer, message);
    }

    void require_object(const json& value, const std::string& pointer) const {
        if (!value.is_object()) {
            fail(pointer, "expected an object, got " + std::string(value.type_name()));
        }
    }

    void reject_unknown_keys(const json& object, const std::string& pointer,
                             std::initializer_list<std::string_view> allowed) const {
        for (const auto& [key, value] : object.items()) {
            if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
                std::string list;
                for (const auto name : allowed) {
                    list += (list.empty() ? "" : ", ") + std::string(name);
                }
                fail(child(pointer, key),
                     "unknown key " + as_json_string(key) + " (allowed: " + list + ")");
            }
        }
    }

    std::optional<double> optional_number(const json& object, const std::string& pointer,
                                          std::string_view key) const {
        const auto it = object.find(std::string(key));
        if (it == object.end()) {
            return std::nullopt;
        }
        if (!it->is_number()) {
            fail(child(pointer, key), "expected a number, got " + std::string(it->type_name()));
        }
        const double value = it->get<double>();
        if (!std::isfinite(value)) {
            fail(child(pointer, key), "expected a finite number");
        }
        return value;
    }

    double number(const json& object, const std::string& pointer, std::string_view key) const {
        const auto value = optional_number(object, pointer, key);
        if (!value) {
            fail(child(pointer, key), "missing required number");
        }
        return *value;
    }

    double number_or(const json& object, const std::string& pointer, std::string_view key,
                     double fallback) const {
        return optional_number(object, pointer, key).value_or(fallback);
    }

    std::optional<std::int64_t> optional_integer(const json& object, const std::string& pointer,
                                                 std::string_view key, std::int64_t lo,
                                                 std::int64_t hi) const {
        const auto it = object.find(std::string(key));
        if (it == object.end()) {
            return std::nullopt;
        }
        if (!it->is_number_integer()) {
            fail(child(pointer, key), "expected an integer, got " + it->dump());
        }
        const bool negative = it->is_number_unsigned() ? false : it->get<std::int64_t>() < 0;
        if (!negative && it->get<std::uint64_t>() > static_cast<std::uint64_t>(hi)) {
            fail(child(pointer, key), "out of range [" + std::to_string(lo) + ", " +
                                          std::to_string(hi) + "]: " + it->dump());
        }
        const auto value = it->get<std::int64_t>();
        if (value < lo) {
            fail(child(pointer, key), "out of range [" + std::to_string(lo) + ", " +
                                          std::to_string(hi) + "]: " + it->dump());
        }
        return value;
    }

    std::int64_t integer(const json& object, const std::string& pointer, std::string_view key,
                         std::int64_t lo, std::int64_t hi) const {
        const auto value = optional_integer(object, pointer, key, lo, hi);
        if (!value) {
            fail(child(pointer, key), "missing required integer");
        }
        return *value;
    }

    std::optional<std::string> optional_string(const json& object, const std::string& pointer,
                                               std::string_view key) const {
        const auto it = object.find(std::string(key));
        if (it == object.end()) {
            return std::nullopt;
        }
        if (!it->is_string()) {
            fail(child(pointer, key), "expected a string, got " + std::string(it->type_name()));
        }
        return it->get<std::string>();
    }

    std::string string(const json& object, const std::string& pointer, std::string_view key) const {
        auto value = optional_string(object, pointer, key);
        if (!value || value->empty()) {
            fail(child(pointer, key), value ? "must not be empty" : "missing required string");
        }
        return *value;
    }

    Limits limits(const json& object, const std::string& pointer) const {
        Limits limits;
        limits.min = optional_number(object, pointer, "min");
        limits.max = optional_number(object, pointer, "max");
        if (limits.min && limits.max && *limits.min > *limits.max) {
            fail(child(pointer, "min"), "min is greater than max");
        }
        return limits;
    }

    double non_negative(const json& object, const std::string& pointer, std::string_view key,
                        double fallback) const {
        const double value = number_or(object, pointer, key, fallback);
        if (value < 0.0) {
            fail(child(pointer, key), "must be >= 0");
        }
        return value;
    }

private:
    std::string file_;
};

PointSpec parse_point(const Reader& in, const json& reg, const std::string& pointer) {
    in.require_object(reg, pointer);
    in.reject_unknown_keys(reg, pointer,
                           {"name", "table", "address", "type", "word_order", "scale", "offset",
                            "decimals_register", "unit", "metric"});
    PointSpec point;
    point.name = in.string(reg, pointer, "name");
    const std::string table = in.optional_string(reg, pointer, "table").value_or("holding");
    const auto parsed_table = parse_register_table(table);
    if (!parsed_table) {
        in.fail(child(pointer, "table"),
                "unknown table " + as_json_string(table) + " (expected holding or input)");
    }
    point.table = *parsed_table;
    point.address = static_cast<std::uint16_t>(in.integer(reg, pointer, "address", 0, 65535));
    const std::string type = in.string(reg, pointer, "type");
    const auto parsed_type = parse_value_type(type);
    if (!parsed_type) {
        in.fail(child(pointer, "type"),
                "unknown type " + as_json_string(type) +
                    " (expected int16, uint16, int32, uint32, float32 or float64)");
    }
    point.format.type = *parsed_type;
    const std::string order = in.optional_string(reg, pointer, "word_order").value_or("ABCD");
    const auto parsed_order = parse_word_order(order);
    if (!parsed_order) {
        in.fail(child(pointer, "word_order"), "unknown word order " + as_json_string(order) +
                                                  " (expected ABCD, CDAB, BADC or DCBA)");
    }
    point.format.word_order = *parsed_order;
    point.format.scale = in.number_or(reg, pointer, "scale", 1.0);
    if (point.format.scale == 0.0) {
        in.fail(child(pointer, "scale"), "must not be 0");
    }
    point.format.offset = in.number_or(reg, pointer, "offset", 0.0);
    if (const auto d = in.optional_integer(reg, pointer, "decimals_register", 0, 65535)) {
        point.decimals_register = static_cast<std::uint16_t>(*d);
    }
    point.unit = in.optional_string(reg, pointer, "unit").value_or("");
    point.metric = in.optional_string(reg, pointer, "metric").value_or("");
    if (static_cast<std::size_t>(point.address) + register_count(point.format.type) > 65536) {
        in.fail(child(pointer, "address"), "value runs past register 65535");
    }
    return point;
}

/// Register ownership check: no two values may share a register, and a decimals register
/// may be shared between points but may not overlap a value.
void check_register_overlaps(const Reader& in, const std::vector<PointSpec>& points) {
    // (table, address) -> owner description; decimals registers are marked separately.
    std::map<std::pair<RegisterTable, std::uint32_t>, std::size_t> value_owner;
    for (std::size_t i = 0; i < points.size(); ++i) {
        const auto& p = points[i];
        for (std::size_t k = 0; k < register_count(p.format.type); ++k) {
            const auto key = std::make_pair(p.table, static_cast<std::uint32_t>(p.address + k));
            const auto [it, inserted] = value_owner.emplace(key, i);
            if (!inserted) {
                in.fail(child(child("/registers", i), "address"),
                        "register " + std::to_string(key.second) + " of the " +
                            std::string(to_string(p.table)) + " table is already used by " +
                            as_json_string(points[it->second].name));
            }
        }
    }
    for (std::size_t i = 0; i < points.size(); ++i) {
        const auto& p = points[i];
        if (!p.decimals_register) {
            continue;
        }
        const auto it = value_owner.find({p.table, *p.decimals_register});
        if (it != value_owner.end()) {
            in.fail(child(child("/registers", i), "decimals_register"),
                    "register " + std::to_string(*p.decimals_register) + " holds the value of " +
                        as_json_string(points[it->second].name));
        }
    }
}

SignalSpec parse_signal(const Reader& in, const json& sig, const std::string& pointer) {
    in.require_object(sig, pointer);
    const std::string kind = in.string(sig, pointer, "kind");
    if (kind == "constant") {
        in.reject_unknown_keys(sig, pointer, {"kind", "value", "decimals"});
        return ConstantSignal{in.number(sig, pointer, "value")};
    }
    if (kind == "noise") {
        in.reject_unknown_keys(sig, pointer, {"kind", "mean", "stddev", "min", "max", "decimals"});
        NoiseSignal s;
        s.mean = in.number(sig, pointer, "mean");
        s.stddev = in.non_negative(sig, pointer, "stddev", 0.0);
        s.limits = in.limits(sig, pointer);
        return s;
    }
    if (kind == "diurnal") {
        in.reject_unknown_keys(
            sig, pointer,
            {"kind", "mean", "amplitude", "peak_hour", "noise", "min", "max", "decimals"});
        DiurnalSignal s;
        s.mean = in.number(sig, pointer, "mean");
        s.amplitude = in.number(sig, pointer, "amplitude");
        s.peak_hour = in.number(sig, pointer, "peak_hour");
        if (s.peak_hour < 0.0 || s.peak_hour >= 24.0) {
            in.fail(child(pointer, "peak_hour"), "must be in [0, 24)");
        }
        s.noise = in.non_negative(sig, pointer, "noise", 0.0);
        s.limits = in.limits(sig, pointer);
        return s;
    }
    if (kind == "totaliser") {
        in.reject_unknown_keys(sig, pointer, {"kind", "rate_of", "per_s", "start", "decimals"});
        TotaliserSignal s;
        s.rate_of = in.string(sig, pointer, "rate_of");
        s.per_s = in.number_or(sig, pointer, "per_s", 1.0);
        if (!(s.per_s > 0.0)) {
            in.fail(child(pointer, "per_s"), "must be > 0");
        }
        s.start = in.number_or(sig, pointer, "start", 0.0);
        return s;
    }
    if (kind == "bin_fill") {
        in.reject_unknown_keys(
            sig, pointer,
            {"kind", "empty_mm", "full_mm", "fill_hours", "noise_mm", "min", "max", "decimals"});
        BinFillSignal s;
        s.empty_mm = in.number(sig, pointer, "empty_mm");
        s.full_mm = in.number(sig, pointer, "full_mm");
        s.fill_hours = in.number(sig, pointer, "fill_hours");
        if (!(s.fill_hours > 0.0)) {
            in.fail(child(pointer, "fill_hours"), "must be > 0");
        }
        s.noise_mm = in.non_negative(sig, pointer, "noise_mm", 0.0);
        s.limits = in.limits(sig, pointer);
        return s;
    }
    in.fail(child(pointer, "kind"),
            "unknown kind " + as_json_string(kind) +
                " (expected constant, noise, diurnal, totaliser or bin_fill)");
}

std::string resolve_relative(const std::string& base_file, const std::string& path) {
    const std::filesystem::path p(path);
    if (p.is_absolute()) {
        return p.lexically_normal().string();
    }
    return (std::filesystem::path(base_file).parent_path() / p).lexically_normal().string();
}

DeviceConfig parse_device(const Reader& in, const json& dev, const std::string& pointer,
                          const std::string& scenario_path,
                          std::map<std::string, DeviceProfile>& profile_cache) {
    in.require_object(dev, pointer);
    in.reject_unknown_keys(
        dev, pointer, {"id", "profile", "transport", "unit_id", "signals", "registers_per_table"});
    DeviceConfig device;
    device.id = in.string(dev, pointer, "id");
    const std::string profile_ref = in.string(dev, pointer, "profile");
    const std::string profile_path = resolve_relative(scenario_path, profile_ref);
    auto cached = profile_cache.find(profile_path);
    if (cached == profile_cache.end()) {
        if (!std::ifstream(profile_path)) {  // name the scenario entry, not just the path
            in.fail(child(pointer, "profile"),
                    "cannot open profile " + profile_path + ": " + std::strerror(errno));
        }
        cached = profile_cache.emplace(profile_path, load_profile(profile_path)).first;
    }
    device.profile = cached->second;

    const std::string transport = in.string(dev, pointer, "transport");
    if (transport == "rtu") {
        device.transport = Transport::Rtu;
        device.unit_id = static_cast<int>(in.integer(dev, pointer, "unit_id", 1, 247));
    } else if (transport == "tcp") {
        device.transport = Transport::Tcp;
        device.unit_id = static_cast<int>(in.integer(dev, pointer, "unit_id", 0, 255));
    } else {
        in.fail(child(pointer, "transport"),
                "unknown transport " + as_json_string(transport) + " (expected rtu or tcp)");
    }
    device.registers_per_table =
        static_cast<int>(in.optional_integer(dev, pointer, "registers_per_table", 0, 65536)
                             .value_or(kDefaultRegistersPerTable));

    const auto& points = device.profile.points;
    device.signals.assign(points.size(), ConstantSignal{0.0});
    device.decimals.assign(points.size(), 0);
    for (std::size_t i = 0; i < points.size(); ++i) {
        if (points[i].decimals_register) {
            device.decimals[i] = kDefaultDecimals;
        }
    }
    const std::string signals_ptr = child(pointer, "signals");
    const auto signals_it = dev.find("signals");
    if (signals_it != dev.end()) {
        in.require_object(*signals_it, signals_ptr);
        for (const auto& [name, sig] : signals_it->items()) {
            const std::string sig_ptr = child(signals_ptr, name);
            const auto point_it = std::find_if(points.begin(), points.end(),
                                               [&](const PointSpec& p) { return p.name == name; });
            if (point_it == points.end()) {
                std::string names;
                for (const auto& p : points) {
                    names += (names.empty() ? "" : ", ") + p.name;
                }
                in.fail(sig_ptr, "unknown point " + as_json_string(name) + " (profile " +
                                     device.profile.path + " has: " + names + ")");
            }
            const auto index = static_cast<std::size_t>(point_it - points.begin());
            device.signals[index] = parse_signal(in, sig, sig_ptr);
            if (const auto d = in.optional_integer(sig, sig_ptr, "decimals", 0, kMaxDecimals)) {
                if (!point_it->decimals_register) {
                    in.fail(child(sig_ptr, "decimals"),
                            "point " + as_json_string(name) +
                                " has no decimals_register in its profile");
                }
                device.decimals[index] = static_cast<int>(*d);
            }
        }
    }
    // Cross-checks that need every signal: totaliser sources and shared decimals registers.
    for (std::size_t i = 0; i < points.size(); ++i) {
        const std::string sig_ptr = child(signals_ptr, points[i].name);
        if (const auto* tot = std::get_if<TotaliserSignal>(&device.signals[i])) {
            const auto src = std::find_if(points.begin(), points.end(), [&](const PointSpec& p) {
                return p.name == tot->rate_of;
            });
            if (src == points.end()) {
                in.fail(child(sig_ptr, "rate_of"), "unknown point " + as_json_string(tot->rate_of));
            }
            const auto src_index = static_cast<std::size_t>(src - points.begin());
            if (src_index == i ||
                std::holds_alternative<TotaliserSignal>(device.signals[src_index])) {
                in.fail(child(sig_ptr, "rate_of"),
                        "the rate of a totaliser must be a non-totaliser point");
            }
        }
        for (std::size_t j = 0; j < i; ++j) {
            if (points[i].decimals_register && points[j].decimals_register &&
                points[i].table == points[j].table &&
                *points[i].decimals_register == *points[j].decimals_register &&
                device.decimals[i] != device.decimals[j]) {
                in.fail(child(sig_ptr, "decimals"), "shares its decimals register with " +
                                                        as_json_string(points[j].name) +
                                                        " but asks for a different decimal count");
            }
        }
    }
    return device;
}

}  // namespace

ConfigError::ConfigError(std::string file, std::string pointer, const std::string& message)
    : std::runtime_error(file + ": " + (pointer.empty() ? std::string("(document)") : pointer) +
                         ": " + message),
      file_(std::move(file)),
      pointer_(std::move(pointer)) {}

json read_json_file(const std::string& path) {
    std::ifstream stream(path, std::ios::binary);
    if (!stream) {
        throw ConfigError(path, "", std::string("cannot open: ") + std::strerror(errno));
    }
    std::ostringstream text;
    text << stream.rdbuf();
    try {
        return json::parse(text.str(), nullptr, /*allow_exceptions=*/true,
                           /*ignore_comments=*/true);
    } catch (const json::parse_error& e) {
        throw ConfigError(path, "", std::string("invalid JSON: ") + e.what());
    }
}

DeviceProfile parse_profile(const json& doc, const std::string& file) {
    const Reader in(file);
    in.require_object(doc, "");
    in.reject_unknown_keys(doc, "", {"model", "description", "registers"});
    DeviceProfile profile;
    profile.path = file;
    profile.model = in.optional_string(doc, "", "model").value_or("");
    profile.description = in.optional_string(doc, "", "description").value_or("");
    const auto regs = doc.find("registers");
    if (regs == doc.end() || !regs->is_array() || regs->empty()) {
        in.fail("/registers", "expected a non-empty array of registers");
    }
    std::set<std::string> names;
    for (std::size_t i = 0; i < regs->size(); ++i) {
        const std::string pointer = child("/registers", i);
        PointSpec point = parse_point(in, (*regs)[i], pointer);
        if (!names.insert(point.name).second) {
            in.fail(child(pointer, "name"), "duplicate point name " + as_json_string(point.name));
        }
        profile.points.push_back(std::move(point));
    }
    check_register_overlaps(in, profile.points);
    return profile;
}

DeviceProfile load_profile(const std::string& path) {
    return parse_profile(read_json_file(path), path);
}

Scenario load_scenario(const std::string& path) {
    const json doc = read_json_file(path);
    const Reader in(path);
    in.require_object(doc, "");
    in.reject_unknown_keys(doc, "", {"devices", "start_hour"});
    Scenario scenario;
    scenario.path = path;
    scenario.start_hour = in.optional_number(doc, "", "start_hour");
    if (scenario.start_hour && (*scenario.start_hour < 0.0 || *scenario.start_hour >= 24.0)) {
        in.fail("/start_hour", "must be in [0, 24)");
    }
    const auto devices = doc.find("devices");
    if (devices == doc.end() || !devices->is_array() || devices->empty()) {
        in.fail("/devices", "expected a non-empty array of devices");
    }
    std::map<std::string, DeviceProfile> profile_cache;
    std::set<std::string> ids;
    std::map<std::pair<Transport, int>, std::string> addresses;
    for (std::size_t i = 0; i < devices->size(); ++i) {
        const std::string pointer = child("/devices", i);
        DeviceConfig device = parse_device(in, (*devices)[i], pointer, path, profile_cache);
        if (!ids.insert(device.id).second) {
            in.fail(child(pointer, "id"), "duplicate device id " + as_json_string(device.id));
        }
        const auto [it, inserted] =
            addresses.emplace(std::make_pair(device.transport, device.unit_id), device.id);
        if (!inserted) {
            in.fail(child(pointer, "unit_id"),
                    "unit id " + std::to_string(device.unit_id) + " is already used by " +
                        as_json_string(it->second) + " on the same transport");
        }
        scenario.devices.push_back(std::move(device));
    }
    return scenario;
}

}  // namespace gw::sim
