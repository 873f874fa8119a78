// SPDX-License-Identifier: Apache-2.0
#include "modbus_sim/scenario.hpp"

#include <algorithm>
#include <cctype>
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

    std::optional<bool> optional_bool(const json& object, const std::string& pointer,
                                      std::string_view key) const {
        const auto it = object.find(std::string(key));
        if (it == object.end()) {
            return std::nullopt;
        }
        if (!it->is_boolean()) {
            fail(child(pointer, key), "expected true or false, got " + it->dump());
        }
        return it->get<bool>();
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

/// A register number from the profile, converted to a 0-based PDU address. With 1-based
/// addressing the manual's register numbers start at 1 and the wire address is one less.
std::optional<std::uint16_t> optional_register(const Reader& in, const json& object,
                                               const std::string& pointer, std::string_view key,
                                               int address_base) {
    const auto it = object.find(std::string(key));
    if (address_base == 1 && it != object.end() && it->is_number_integer() && *it == 0) {
        in.fail(child(pointer, key),
                "register 0 does not exist with \"addressing\": \"1-based\" (numbers start at 1)");
    }
    const auto number = in.optional_integer(object, pointer, key, address_base,
                                            65535 + static_cast<std::int64_t>(address_base));
    if (!number) {
        return std::nullopt;
    }
    return static_cast<std::uint16_t>(*number - address_base);
}

std::uint16_t required_register(const Reader& in, const json& object, const std::string& pointer,
                                std::string_view key, int address_base) {
    const auto address = optional_register(in, object, pointer, key, address_base);
    if (!address) {
        in.fail(child(pointer, key), "missing required integer");
    }
    return *address;
}

PointSpec parse_point(const Reader& in, const json& reg, const std::string& pointer,
                      int address_base) {
    in.require_object(reg, pointer);
    in.reject_unknown_keys(
        reg, pointer,
        {"name", "table", "address", "type", "word_order", "scale", "offset", "decimals_register",
         "bit_offset", "bit_count", "range", "unit", "metric", "description"});
    PointSpec point;
    point.name = in.string(reg, pointer, "name");
    const std::string table = in.optional_string(reg, pointer, "table").value_or("holding");
    const auto parsed_table = parse_register_table(table);
    if (!parsed_table) {
        in.fail(child(pointer, "table"),
                "unknown table " + as_json_string(table) + " (expected holding or input)");
    }
    point.table = *parsed_table;
    point.address = required_register(in, reg, pointer, "address", address_base);
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
    point.decimals_register =
        optional_register(in, reg, pointer, "decimals_register", address_base);
    const auto bit_offset = in.optional_integer(reg, pointer, "bit_offset", 0, 31);
    const auto bit_count = in.optional_integer(reg, pointer, "bit_count", 1, 32);
    if (bit_offset || bit_count) {
        const auto width = static_cast<std::int64_t>(16 * register_count(point.format.type));
        if (!is_integer_type(point.format.type)) {
            in.fail(child(pointer, bit_offset ? "bit_offset" : "bit_count"),
                    "bit fields need an integer type, not " + as_json_string(type));
        }
        BitField field;
        field.offset = static_cast<unsigned>(bit_offset.value_or(0));
        field.count = static_cast<unsigned>(bit_count.value_or(1));  // a flag, as in the gateway
        if (field.offset + field.count > width) {
            in.fail(child(pointer, bit_count ? "bit_count" : "bit_offset"),
                    "bits " + std::to_string(field.offset) + ".." +
                        std::to_string(field.offset + field.count - 1) + " do not fit a " +
                        std::to_string(width) + "-bit " + type);
        }
        point.bits = field;
    }
    if (const auto range = reg.find("range"); range != reg.end()) {
        const std::string range_ptr = child(pointer, "range");
        if (!range->is_array() || range->size() != 2 || !(*range)[0].is_number() ||
            !(*range)[1].is_number()) {
            in.fail(range_ptr, "expected [min, max], got " + range->dump());
        }
        const double lo = (*range)[0].get<double>();
        const double hi = (*range)[1].get<double>();
        if (!std::isfinite(lo) || !std::isfinite(hi) || lo > hi) {
            in.fail(range_ptr, "expected finite numbers with min <= max, got " + range->dump());
        }
        point.range = std::make_pair(lo, hi);
    }
    point.unit = in.optional_string(reg, pointer, "unit").value_or("");
    point.metric = in.optional_string(reg, pointer, "metric").value_or("");
    (void)in.optional_string(reg, pointer, "description");
    if (static_cast<std::size_t>(point.address) + register_count(point.format.type) > 65536) {
        in.fail(child(pointer, "address"), "value runs past register 65535");
    }
    return point;
}

/// Register ownership check: no two values may share a register unless both are bit fields of
/// the same register(s) with disjoint bits; a decimals register may be shared between points
/// but may not overlap a value; the trigger and wait registers belong to nobody else.
void check_register_overlaps(const Reader& in, const std::vector<PointSpec>& points,
                             const std::optional<TriggerSpec>& trigger) {
    std::map<std::pair<RegisterTable, std::uint32_t>, std::vector<std::size_t>> value_owners;
    for (std::size_t i = 0; i < points.size(); ++i) {
        const auto& p = points[i];
        for (std::size_t k = 0; k < register_count(p.format.type); ++k) {
            const auto key = std::make_pair(p.table, static_cast<std::uint32_t>(p.address + k));
            auto& owners = value_owners[key];
            for (const std::size_t other : owners) {
                const auto& q = points[other];
                const bool same_word_layout = p.bits && q.bits && p.address == q.address &&
                                              p.format.type == q.format.type &&
                                              p.format.word_order == q.format.word_order;
                const std::uint64_t p_mask =
                    p.bits ? ((std::uint64_t{1} << p.bits->count) - 1U) << p.bits->offset : 0;
                const std::uint64_t q_mask =
                    q.bits ? ((std::uint64_t{1} << q.bits->count) - 1U) << q.bits->offset : 0;
                if (!same_word_layout || (p_mask & q_mask) != 0) {
                    in.fail(child(child("/registers", i), p.bits ? "bit_offset" : "address"),
                            "register " + std::to_string(key.second) + " of the " +
                                std::string(to_string(p.table)) + " table is already used by " +
                                as_json_string(q.name) +
                                (same_word_layout ? " (overlapping bits)"
                                                  : " (only bit fields of the same type and "
                                                    "address may share a register)"));
                }
            }
            owners.push_back(i);
        }
    }
    for (std::size_t i = 0; i < points.size(); ++i) {
        const auto& p = points[i];
        if (!p.decimals_register) {
            continue;
        }
        const auto it = value_owners.find({p.table, *p.decimals_register});
        if (it != value_owners.end()) {
            in.fail(child(child("/registers", i), "decimals_register"),
                    "register " + std::to_string(*p.decimals_register) + " holds the value of " +
                        as_json_string(points[it->second.front()].name));
        }
    }
    if (!trigger) {
        return;
    }
    const auto check_free = [&](std::uint16_t address, const char* key) {
        const auto it = value_owners.find({RegisterTable::Holding, address});
        if (it != value_owners.end()) {
            in.fail(child("/trigger", key), "holding register " + std::to_string(address) +
                                                " holds the value of " +
                                                as_json_string(points[it->second.front()].name));
        }
        for (const auto& p : points) {
            if (p.table == RegisterTable::Holding && p.decimals_register == address) {
                in.fail(child("/trigger", key), "holding register " + std::to_string(address) +
                                                    " is the decimals register of " +
                                                    as_json_string(p.name));
            }
        }
    };
    check_free(trigger->address, "address");
    if (trigger->wait_register) {
        check_free(*trigger->wait_register, "wait_register");
        if (*trigger->wait_register == trigger->address) {
            in.fail("/trigger/wait_register", "must differ from the trigger address");
        }
    }
}

TriggerSpec parse_trigger(const Reader& in, const json& object, int address_base) {
    const std::string pointer = "/trigger";
    in.require_object(object, pointer);
    in.reject_unknown_keys(object, pointer,
                           {"address", "value", "wait_register", "wait_ms", "function"});
    TriggerSpec trigger;
    trigger.address = required_register(in, object, pointer, "address", address_base);
    trigger.value = static_cast<std::uint16_t>(in.integer(object, pointer, "value", 0, 65535));
    trigger.wait_register = optional_register(in, object, pointer, "wait_register", address_base);
    // The probe keeps its wait time in one uint16 register.
    trigger.wait_ms =
        static_cast<int>(in.optional_integer(object, pointer, "wait_ms", 0, 65535).value_or(500));
    // "function" (how the gateway writes the trigger) does not matter to the probe: FC06 and
    // FC16 both reach the register. Validate it like the gateway and otherwise ignore it.
    const auto function = in.optional_string(object, pointer, "function");
    if (function && *function != "write_single" && *function != "write_multiple") {
        in.fail(child(pointer, "function"), "unknown function " + as_json_string(*function) +
                                                " (expected \"write_single\" or "
                                                "\"write_multiple\")");
    }
    return trigger;
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
        dev, pointer,
        {"id", "profile", "transport", "unit_id", "signals", "registers_per_table", "wait_ms"});
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

    if (device.profile.trigger) {
        device.wait_ms = static_cast<int>(in.optional_integer(dev, pointer, "wait_ms", 0, 65535)
                                              .value_or(device.profile.trigger->wait_ms));
    } else if (dev.contains("wait_ms")) {
        in.fail(child(pointer, "wait_ms"),
                "profile " + device.profile.path + " has no \"trigger\", so no wait time");
    }

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
    in.reject_unknown_keys(
        doc, "", {"model", "description", "registers", "trigger", "addressing", "merge_gap"});
    DeviceProfile profile;
    profile.path = file;
    profile.model = in.optional_string(doc, "", "model").value_or("");
    profile.description = in.optional_string(doc, "", "description").value_or("");
    const std::string addressing = in.optional_string(doc, "", "addressing").value_or("0-based");
    if (addressing != "0-based" && addressing != "1-based") {
        in.fail("/addressing", "unknown addressing " + as_json_string(addressing) +
                                   " (expected \"0-based\" or \"1-based\")");
    }
    profile.one_based = addressing == "1-based";
    const int address_base = profile.one_based ? 1 : 0;
    profile.merge_gap =
        static_cast<int>(in.optional_integer(doc, "", "merge_gap", 0, 65535).value_or(0));
    if (const auto trigger = doc.find("trigger"); trigger != doc.end()) {
        profile.trigger = parse_trigger(in, *trigger, address_base);
    }
    const auto regs = doc.find("registers");
    if (regs == doc.end() || !regs->is_array() || regs->empty()) {
        in.fail("/registers", "expected a non-empty array of registers");
    }
    std::set<std::string> names;
    for (std::size_t i = 0; i < regs->size(); ++i) {
        const std::string pointer = child("/registers", i);
        PointSpec point = parse_point(in, (*regs)[i], pointer, address_base);
        if (!names.insert(point.name).second) {
            in.fail(child(pointer, "name"), "duplicate point name " + as_json_string(point.name));
        }
        profile.points.push_back(std::move(point));
    }
    check_register_overlaps(in, profile.points, profile.trigger);
    return profile;
}

DeviceProfile load_profile(const std::string& path) {
    return parse_profile(read_json_file(path), path);
}

namespace {

RtuLineSettings parse_rtu_line(const Reader& in, const json& object) {
    const std::string pointer = "/rtu_line";
    in.require_object(object, pointer);
    in.reject_unknown_keys(object, pointer,
                           {"baud", "parity", "data_bits", "stop_bits", "turnaround_ms"});
    RtuLineSettings line;
    line.baud = static_cast<int>(
        in.optional_integer(object, pointer, "baud", 300, 4'000'000).value_or(line.baud));
    const std::string parity = in.optional_string(object, pointer, "parity").value_or("N");
    if (parity != "N" && parity != "E" && parity != "O") {
        in.fail(child(pointer, "parity"),
                "unknown parity " + as_json_string(parity) + " (expected \"N\", \"E\" or \"O\")");
    }
    line.parity = parity[0];
    line.data_bits = static_cast<int>(
        in.optional_integer(object, pointer, "data_bits", 7, 8).value_or(line.data_bits));
    line.stop_bits = static_cast<int>(
        in.optional_integer(object, pointer, "stop_bits", 1, 2).value_or(line.stop_bits));
    line.turnaround_ms = in.non_negative(object, pointer, "turnaround_ms", line.turnaround_ms);
    return line;
}

bool is_hex(const std::string& text, std::size_t digits) {
    return text.size() == digits && std::all_of(text.begin(), text.end(), [](char c) {
               return std::isxdigit(static_cast<unsigned char>(c)) != 0;
           });
}

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](char c) {
        return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    });
    return text;
}

std::string hex_string(const Reader& in, const json& object, const std::string& pointer,
                       std::string_view key, std::size_t digits,
                       const std::optional<std::string>& fallback) {
    const auto text = in.optional_string(object, pointer, key);
    if (!text) {
        if (!fallback) in.fail(child(pointer, key), "missing required string");
        return *fallback;
    }
    if (!is_hex(*text, digits)) {
        in.fail(child(pointer, key),
                "expected " + std::to_string(digits) + " hex digits, got " + as_json_string(*text));
    }
    return lower(*text);
}

/// A LoRaWAN signal: a waveform object, or a plain number for a constant.
SignalSpec parse_uplink_signal(const Reader& in, const json& object, const std::string& pointer,
                               std::string_view key, SignalSpec fallback) {
    const auto it = object.find(std::string(key));
    if (it == object.end()) {
        return fallback;
    }
    const std::string sig_ptr = child(pointer, key);
    if (it->is_number()) {
        return ConstantSignal{in.number(object, pointer, key)};
    }
    SignalSpec spec = parse_signal(in, *it, sig_ptr);
    if (std::holds_alternative<TotaliserSignal>(spec)) {
        in.fail(child(sig_ptr, "kind"), "a totaliser makes no sense for a bin sensor");
    }
    if (it->contains("decimals")) {
        in.fail(child(sig_ptr, "decimals"), "LoRaWAN points have no decimals register");
    }
    return spec;
}

LorawanDeviceConfig parse_lorawan_device(const Reader& in, const json& dev,
                                         const std::string& pointer) {
    in.require_object(dev, pointer);
    in.reject_unknown_keys(
        dev, pointer,
        {"id", "dev_eui", "dev_addr", "device_profile_id", "device_profile_name", "tags",
         "interval_ms", "offset_ms", "f_port", "f_cnt_start", "distance", "battery", "tilt", "adr",
         "confirmed", "spreading_factor", "frequency_hz", "rssi_dbm", "snr_db"});
    LorawanDeviceConfig device;
    device.id = in.string(dev, pointer, "id");
    device.dev_eui = hex_string(in, dev, pointer, "dev_eui", 16, std::nullopt);
    // A network server assigns DevAddr at join; any stable value will do here.
    device.dev_addr = hex_string(in, dev, pointer, "dev_addr", 8, "01" + device.dev_eui.substr(10));
    device.device_profile_id = in.optional_string(dev, pointer, "device_profile_id")
                                   .value_or("5f1c3a2e-9d4b-4c6a-8e71-0b2d3f4a5c6d");
    device.device_profile_name =
        in.optional_string(dev, pointer, "device_profile_name").value_or("Milesight EM310-UDL");
    if (const auto tags = dev.find("tags"); tags != dev.end()) {
        in.require_object(*tags, child(pointer, "tags"));
        for (const auto& [key, value] : tags->items()) {
            device.tags[key] = in.string(*tags, child(pointer, "tags"), key);
        }
    }
    device.interval_ms = in.number_or(dev, pointer, "interval_ms", device.interval_ms);
    if (!(device.interval_ms >= 100.0)) {
        in.fail(child(pointer, "interval_ms"), "must be >= 100");
    }
    device.offset_ms = in.non_negative(dev, pointer, "offset_ms", 0.0);
    device.f_port = static_cast<int>(
        in.optional_integer(dev, pointer, "f_port", 1, 223).value_or(device.f_port));
    device.f_cnt_start = static_cast<std::uint32_t>(
        in.optional_integer(dev, pointer, "f_cnt_start", 0, 4294967295LL).value_or(0));
    device.distance = parse_uplink_signal(in, dev, pointer, "distance", device.distance);
    device.battery = parse_uplink_signal(in, dev, pointer, "battery", device.battery);
    device.tilt = in.optional_bool(dev, pointer, "tilt").value_or(false);
    device.adr = in.optional_bool(dev, pointer, "adr").value_or(device.adr);
    device.confirmed = in.optional_bool(dev, pointer, "confirmed").value_or(false);
    device.spreading_factor =
        static_cast<int>(in.optional_integer(dev, pointer, "spreading_factor", 7, 12).value_or(7));
    device.frequency_hz = static_cast<std::uint64_t>(
        in.optional_integer(dev, pointer, "frequency_hz", 100'000'000, 1'000'000'000)
            .value_or(static_cast<std::int64_t>(device.frequency_hz)));
    device.rssi_dbm = in.number_or(dev, pointer, "rssi_dbm", device.rssi_dbm);
    device.snr_db = in.number_or(dev, pointer, "snr_db", device.snr_db);
    return device;
}

LorawanConfig parse_lorawan(const Reader& in, const json& object) {
    const std::string pointer = "/lorawan";
    in.require_object(object, pointer);
    in.reject_unknown_keys(object, pointer,
                           {"tenant_id", "tenant_name", "application_id", "application_name",
                            "gateway_id", "devices"});
    LorawanConfig config;
    config.tenant_id = in.optional_string(object, pointer, "tenant_id")
                           .value_or("52f14cd4-c6f1-4fbd-8f87-4025e1d49242");
    config.tenant_name = in.optional_string(object, pointer, "tenant_name").value_or("ChirpStack");
    config.application_id = in.optional_string(object, pointer, "application_id")
                                .value_or("b4e8a1c2-7d3f-4e9a-a6b5-2c1d0e9f8a7b");
    config.application_name =
        in.optional_string(object, pointer, "application_name").value_or("waste-bins");
    config.gateway_id =
        hex_string(in, object, pointer, "gateway_id", 16, std::string("0016c001f153a14c"));
    const auto devices = object.find("devices");
    if (devices == object.end() || !devices->is_array() || devices->empty()) {
        in.fail(child(pointer, "devices"), "expected a non-empty array of LoRaWAN devices");
    }
    std::set<std::string> eui_seen;
    for (std::size_t i = 0; i < devices->size(); ++i) {
        const std::string dev_ptr = child(child(pointer, "devices"), i);
        LorawanDeviceConfig device = parse_lorawan_device(in, (*devices)[i], dev_ptr);
        if (!eui_seen.insert(device.dev_eui).second) {
            in.fail(child(dev_ptr, "dev_eui"), "duplicate dev_eui " + device.dev_eui);
        }
        config.devices.push_back(std::move(device));
    }
    return config;
}

}  // namespace

FaultSpec parse_fault_object(const json& object, const std::string& file,
                             const std::string& pointer) {
    const Reader in(file);
    in.require_object(object, pointer);
    in.reject_unknown_keys(
        object, pointer,
        {"device", "kind", "from_s", "until_s", "code", "delay_ms", "probability", "back"});
    FaultSpec spec;
    spec.device = in.string(object, pointer, "device");
    const std::string kind_text = in.string(object, pointer, "kind");
    const auto kind = parse_fault_kind(kind_text);
    if (!kind) {
        in.fail(child(pointer, "kind"),
                "unknown fault kind " + as_json_string(kind_text) +
                    " (expected timeout, bad_crc, exception, slow, stuck, disconnect, "
                    "duplicate, replay, silent, tilt or garbage)");
    }
    spec.kind = *kind;
    const auto only_for = [&](std::string_view key, FaultKind owner) {
        if (object.contains(std::string(key)) && spec.kind != owner) {
            in.fail(child(pointer, key), "key " + as_json_string(key) + " only applies to kind \"" +
                                             std::string(to_string(owner)) + "\"");
        }
    };
    only_for("code", FaultKind::Exception);
    only_for("delay_ms", FaultKind::Slow);
    only_for("back", FaultKind::Replay);
    spec.exception_code = static_cast<int>(
        in.optional_integer(object, pointer, "code", kMinExceptionCode, kMaxExceptionCode)
            .value_or(kDefaultFaultExceptionCode));
    if (spec.kind == FaultKind::Slow) {
        spec.delay_ms = in.number(object, pointer, "delay_ms");
    }
    spec.replay_back =
        static_cast<int>(in.optional_integer(object, pointer, "back", 1, 1000).value_or(1));
    spec.probability = in.number_or(object, pointer, "probability", 1.0);
    spec.from_s = in.non_negative(object, pointer, "from_s", 0.0);
    spec.until_s = in.optional_number(object, pointer, "until_s");
    if (const std::string problem = fault_parameter_problem(spec); !problem.empty()) {
        const auto colon = problem.find(": ");
        in.fail(child(pointer, problem.substr(0, colon)), problem.substr(colon + 2));
    }
    return spec;
}

std::string fault_target_problem(const Scenario& scenario, const FaultSpec& spec) {
    std::optional<DeviceFamily> family;
    for (const auto& d : scenario.devices) {
        if (d.id == spec.device) {
            family =
                d.transport == Transport::Rtu ? DeviceFamily::ModbusRtu : DeviceFamily::ModbusTcp;
        }
    }
    for (const auto& d : scenario.lorawan.devices) {
        if (d.id == spec.device) family = DeviceFamily::Lorawan;
    }
    if (!family) {
        std::string ids;
        for (const auto& d : scenario.devices) ids += (ids.empty() ? "" : ", ") + d.id;
        for (const auto& d : scenario.lorawan.devices) ids += (ids.empty() ? "" : ", ") + d.id;
        return "unknown device " + as_json_string(spec.device) + " (scenario has: " + ids + ")";
    }
    const std::string problem = fault_kind_problem(spec.kind, *family);
    return problem.empty() ? problem : spec.device + ": " + problem;
}

Scenario load_scenario(const std::string& path) {
    const json doc = read_json_file(path);
    const Reader in(path);
    in.require_object(doc, "");
    in.reject_unknown_keys(doc, "", {"devices", "start_hour", "rtu_line", "faults", "lorawan"});
    Scenario scenario;
    scenario.path = path;
    scenario.start_hour = in.optional_number(doc, "", "start_hour");
    if (scenario.start_hour && (*scenario.start_hour < 0.0 || *scenario.start_hour >= 24.0)) {
        in.fail("/start_hour", "must be in [0, 24)");
    }
    if (const auto line = doc.find("rtu_line"); line != doc.end()) {
        scenario.rtu_line = parse_rtu_line(in, *line);
    }
    if (const auto lorawan = doc.find("lorawan"); lorawan != doc.end()) {
        scenario.lorawan = parse_lorawan(in, *lorawan);
    }
    const auto devices = doc.find("devices");
    const bool has_devices = devices != doc.end() && devices->is_array() && !devices->empty();
    if (!has_devices && (devices != doc.end() || scenario.lorawan.devices.empty())) {
        in.fail("/devices", "expected a non-empty array of devices");
    }
    std::map<std::string, DeviceProfile> profile_cache;
    std::set<std::string> ids;
    std::map<std::pair<Transport, int>, std::string> addresses;
    for (std::size_t i = 0; has_devices && i < devices->size(); ++i) {
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
    for (std::size_t i = 0; i < scenario.lorawan.devices.size(); ++i) {
        const auto& device = scenario.lorawan.devices[i];
        if (!ids.insert(device.id).second) {
            in.fail(child(child("/lorawan/devices", i), "id"),
                    "duplicate device id " + as_json_string(device.id));
        }
    }
    if (const auto faults = doc.find("faults"); faults != doc.end()) {
        if (!faults->is_array()) {
            in.fail("/faults", "expected an array of faults");
        }
        for (std::size_t i = 0; i < faults->size(); ++i) {
            const std::string pointer = child("/faults", i);
            FaultSpec spec = parse_fault_object((*faults)[i], path, pointer);
            if (const std::string problem = fault_target_problem(scenario, spec);
                !problem.empty()) {
                in.fail(child(pointer, problem.rfind("unknown device", 0) == 0 ? "device" : "kind"),
                        problem);
            }
            scenario.faults.push_back(std::move(spec));
        }
    }
    return scenario;
}

}  // namespace gw::sim
