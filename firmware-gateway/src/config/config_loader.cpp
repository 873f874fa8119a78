// SPDX-License-Identifier: Apache-2.0
#include "config/config_loader.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "config/config_checker.hpp"
#include "drivers/lorawan/chirpstack_event.hpp"
#include "drivers/lorawan/codec.hpp"

namespace gw {

namespace config_detail {
/// The "hj212" section (hj212_config_loader.cpp); runs after the sensors are parsed, so sensor
/// ids and their units resolve.
void parse_hj212(const json& root, Checker& check, Config& config);
}  // namespace config_detail

const std::vector<std::pair<std::string, int>>& calibration_models() {
    // Validity in days: vendor and HJ practice for each kind of probe (docs/calibration.md).
    static const std::vector<std::pair<std::string, int>> models{
        {"ph", 30},     {"dissolved_oxygen", 30}, {"turbidity", 90}, {"conductivity", 90},
        {"zero", 180},  {"level", 180},           {"bin", 365},      {"linear", 180},
        {"offset", 180}};
    return models;
}

std::string default_calibration_model(const std::string& metric, bool fill_level) {
    if (fill_level) return "bin";
    if (metric == "ph") return "ph";
    if (metric == "turbidity") return "turbidity";
    if (metric == "dissolved_oxygen") return "dissolved_oxygen";
    if (metric == "conductivity") return "conductivity";
    if (metric == "flow_rate") return "zero";
    if (metric == "water_level" || metric == "level") return "level";
    if (metric == "water_temperature" || metric == "temperature") return "offset";
    return "linear";
}

namespace {

using namespace config_detail;

std::optional<std::string> read_file(const std::string& path, std::string& why) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        why = std::string("cannot open: ") + std::strerror(errno);
        return std::nullopt;
    }
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

/// Parses JSON with comments; on failure records the parser's position and message.
std::optional<json> parse_json(const std::string& text, Checker& check) {
    try {
        return json::parse(text, nullptr, true, /*ignore_comments=*/true);
    } catch (const json::parse_error& e) {
        std::string what = e.what();
        const std::string marker = "parse error ";
        if (auto pos = what.find(marker); pos != std::string::npos)
            what = what.substr(pos + marker.size());
        check.error(Pointer{}, "invalid JSON " + what);
        return std::nullopt;
    }
}

// ----------------------------------------------------------------------------- device profiles

/// How a profile numbers its registers ("addressing"). Stored addresses are always 0-based.
enum class Addressing : std::uint8_t { ZeroBased, OneBased };

/// A register address as the profile writes it (manual numbering with "1-based"), stored as the
/// 0-based PDU address that travels on the wire.
bool register_address(const json& obj, const std::string& key, const Pointer& p, Checker& check,
                      Addressing addressing, std::uint16_t& out, bool required) {
    const std::int64_t first = addressing == Addressing::OneBased ? 1 : 0;
    auto it = obj.find(key);
    if (first == 1 && it != obj.end() && it->is_number_integer() && it->get<std::int64_t>() == 0) {
        check.error(p / key,
                    "is 0, but this profile counts registers from 1 (\"addressing\": "
                    "\"1-based\"): the first register is 1");
        return false;
    }
    std::int64_t number = 0;
    if (!check.integer(obj, key, p, number, first, 65535 + first, required)) return false;
    out = static_cast<std::uint16_t>(number - first);
    return true;
}

/// "[min, max]" with min < max: measuring ranges, signal spans.
bool number_pair(const json& obj, const std::string& key, const Pointer& p, Checker& check,
                 double& min, double& max, bool required) {
    const json* v = check.member(obj, key, p, required);
    if (v == nullptr) return false;
    if (!v->is_array() || v->size() != 2 || !(*v)[0].is_number() || !(*v)[1].is_number()) {
        check.error(p / key, "must be [min, max]: two numbers");
        return false;
    }
    const double low = (*v)[0].get<double>();
    const double high = (*v)[1].get<double>();
    if (!(low < high)) {
        check.error(p / key, "must be [min, max] with min < max, got [" + (*v)[0].dump() + ", " +
                                 (*v)[1].dump() + "]");
        return false;
    }
    min = low;
    max = high;
    return true;
}

/// "bit_offset" / "bit_count": a bit field of an integer register.
void parse_bit_field(const json& j, const Pointer& p, Checker& check, bool type_ok,
                     modbus::RegisterSpec& spec) {
    const bool has_offset = j.contains("bit_offset");
    const bool has_count = j.contains("bit_count");
    if (!has_offset && !has_count) return;
    const Pointer culprit = p / (has_offset ? "bit_offset" : "bit_count");
    if (!type_ok) return;  // the type error is already reported
    if (!modbus::is_integer(spec.type)) {
        check.error(culprit,
                    "bit fields need an integer type (int16, uint16, int32, uint32), not " +
                        std::string(modbus::to_string(spec.type)));
        return;
    }
    const int width_bits = modbus::bit_width(spec.type);
    modbus::BitField field;  // offset 0, count 1 unless given
    const bool offset_ok = !has_offset || check.integer_into(j, "bit_offset", p, field.offset, 0,
                                                             width_bits - 1, false);
    const bool count_ok =
        !has_count || check.integer_into(j, "bit_count", p, field.count, 1, width_bits, false);
    if (!offset_ok || !count_ok) return;
    if (field.offset + field.count > width_bits) {
        check.error(p / (has_count ? "bit_count" : "bit_offset"),
                    "bits " + std::to_string(field.offset) + ".." +
                        std::to_string(field.offset + field.count - 1) + " do not fit in a " +
                        std::to_string(width_bits) + "-bit " + modbus::to_string(spec.type) +
                        " (bit_offset + bit_count must be at most " + std::to_string(width_bits) +
                        ")");
        return;
    }
    spec.bit_field = field;
}

void parse_register(const json& j, const Pointer& p, Checker& check, Addressing addressing,
                    modbus::RegisterSpec& spec) {
    if (!check.object(j, p)) return;
    check.only_keys(
        j, p,
        {"name", "table", "address", "type", "word_order", "scale", "offset", "decimals_register",
         "bit_offset", "bit_count", "range", "unit", "metric", "description"});
    check.id(j, "name", p, spec.name, true);
    std::string text;
    if (check.one_of(j, "table", p, text, {"holding", "input"}, false))
        spec.table = *modbus::parse_register_table(text);
    const bool address_ok =
        register_address(j, "address", p, check, addressing, spec.address, true);
    bool type_ok = false;
    if (check.one_of(j, "type", p, text,
                     {"int16", "uint16", "int32", "uint32", "float32", "float64"}, true)) {
        spec.type = *modbus::parse_value_type(text);
        type_ok = true;
    }
    if (check.one_of(j, "word_order", p, text, {"ABCD", "CDAB", "BADC", "DCBA"}, false))
        spec.word_order = *modbus::parse_word_order(text);
    if (check.number(j, "scale", p, spec.scale, false) && spec.scale == 0.0)
        check.error(p / "scale", "must not be 0");
    check.number(j, "offset", p, spec.offset, false);
    std::uint16_t decimals_address = 0;
    if (register_address(j, "decimals_register", p, check, addressing, decimals_address, false))
        spec.decimals_register = decimals_address;
    parse_bit_field(j, p, check, type_ok, spec);
    modbus::MeasuringRange range;
    if (number_pair(j, "range", p, check, range.min, range.max, false)) spec.range = range;
    if (j.contains("unit")) check.string(j, "unit", p, spec.unit, false);
    if (j.contains("metric")) check.id(j, "metric", p, spec.metric, false);
    if (spec.metric.empty()) spec.metric = spec.name;

    if (type_ok && address_ok) {
        // Shown in the profile's own numbering, so the technician finds the line.
        const int first = addressing == Addressing::OneBased ? 1 : 0;
        const int last = spec.address + modbus::register_count(spec.type) - 1;
        if (last > 65535)
            check.error(p / "address", "a " + std::string(modbus::to_string(spec.type)) + " at " +
                                           std::to_string(spec.address + first) +
                                           " runs past register " + std::to_string(65535 + first));
        if (spec.decimals_register && *spec.decimals_register >= spec.address &&
            *spec.decimals_register <= last)
            check.error(p / "decimals_register", "overlaps the value's own registers");
    }
}

/// "trigger": the write that starts a measurement, and how long to wait for its result.
void parse_trigger(const json& j, const Pointer& p, Checker& check, Addressing addressing,
                   std::optional<modbus::TriggerSpec>& out) {
    if (!check.object(j, p)) return;
    check.only_keys(j, p, {"address", "value", "function", "wait_register", "wait_ms"});
    modbus::TriggerSpec trigger;
    register_address(j, "address", p, check, addressing, trigger.address, true);
    check.integer_into(j, "value", p, trigger.value, 0, 65535, true);
    std::string function;
    if (check.one_of(j, "function", p, function, {"write_single", "write_multiple"}, false))
        trigger.function = function == "write_single"
                               ? modbus::TriggerSpec::Function::WriteSingle
                               : modbus::TriggerSpec::Function::WriteMultiple;
    std::uint16_t wait_register = 0;
    if (register_address(j, "wait_register", p, check, addressing, wait_register, false))
        trigger.wait_register = wait_register;
    check.integer_into(j, "wait_ms", p, trigger.wait_ms, 0, 60'000, false);
    out = trigger;
}

/// Top-level keys of a profile file (a device with inline "registers" may carry them too).
const std::vector<std::string> kProfileKeys{"model",     "description", "addressing",
                                            "merge_gap", "trigger",     "registers"};

/// A profile object: {"model", "description", "addressing", "merge_gap", "trigger",
/// "registers": [...]}. Used for profile files and for devices with inline registers (then `p`
/// points at the device).
void parse_profile(const json& j, const Pointer& p, Checker& check,
                   modbus::DeviceProfile& profile) {
    if (j.contains("model")) check.string(j, "model", p, profile.model, false);
    if (j.contains("description")) check.string(j, "description", p, profile.description, false);
    Addressing addressing = Addressing::ZeroBased;
    std::string text;
    if (check.one_of(j, "addressing", p, text, {"0-based", "1-based"}, false) && text == "1-based")
        addressing = Addressing::OneBased;
    check.integer_into(j, "merge_gap", p, profile.merge_gap, 0, modbus::kMaxMergeGap, false);
    if (const json* trigger = check.member(j, "trigger", p, false))
        parse_trigger(*trigger, p / "trigger", check, addressing, profile.trigger);
    const json* registers = check.member(j, "registers", p, true);
    if (registers == nullptr) return;
    const Pointer rp = p / "registers";
    if (!registers->is_array() || registers->empty()) {
        check.error(rp, "must be a non-empty array of registers");
        return;
    }
    std::map<std::string, std::size_t> seen;
    for (std::size_t i = 0; i < registers->size(); ++i) {
        modbus::RegisterSpec spec;
        parse_register((*registers)[i], rp / i, check, addressing, spec);
        if (!spec.name.empty()) {
            auto [it, inserted] = seen.emplace(spec.name, i);
            if (!inserted)
                check.error(rp / i / "name", "duplicate register name \"" + spec.name +
                                                 "\" (also at " + pointer_text(rp / it->second) +
                                                 ")");
        }
        profile.registers.push_back(std::move(spec));
    }
}

// ----------------------------------------------------------------------------- sections

void parse_gateway(const json& root, Checker& check, GatewayIdentity& gw) {
    const Pointer p = Pointer{} / "gateway";
    const json* j = check.member(root, "gateway", Pointer{}, true);
    if (j == nullptr || !check.object(*j, p)) return;
    check.only_keys(*j, p, {"town_id", "gateway_id", "log_level", "health_interval_s"});
    check.id(*j, "town_id", p, gw.town_id, true);
    check.id(*j, "gateway_id", p, gw.gateway_id, true);
    check.one_of(*j, "log_level", p, gw.log_level, {"debug", "info", "warn", "error"}, false);
    std::int64_t health_s = 0;
    if (check.integer(*j, "health_interval_s", p, health_s, 5, 3600, false))
        gw.health_interval = std::chrono::seconds(health_s);
}

/// A path from the configuration: relative ones are relative to the configuration file.
std::string config_relative(const std::string& path, const std::string& config_dir) {
    namespace fs = std::filesystem;
    if (path.empty() || fs::path(path).is_absolute()) return path;
    return (fs::path(config_dir) / path).string();
}

void parse_mqtt(const json& root, Checker& check, MqttConfig& mqtt, const std::string& config_dir) {
    const Pointer p = Pointer{} / "mqtt";
    const json* j = check.member(root, "mqtt", Pointer{}, true);
    if (j == nullptr || !check.object(*j, p)) return;
    check.only_keys(*j, p,
                    {"broker", "client_id", "topic_prefix", "username", "password", "password_file",
                     "tls", "keepalive_s", "connect_timeout_s", "reconnect_min_s",
                     "reconnect_max_s", "max_inflight", "backlog_rate", "protocol_version"});
    bool tls_broker = false;
    if (check.string(*j, "broker", p, mqtt.broker, true)) {
        const auto colon = mqtt.broker.rfind(':');
        const bool plain =
            mqtt.broker.rfind("tcp://", 0) == 0 || mqtt.broker.rfind("mqtt://", 0) == 0;
        tls_broker = mqtt.broker.rfind("ssl://", 0) == 0 || mqtt.broker.rfind("mqtts://", 0) == 0;
        if ((!plain && !tls_broker) || colon == std::string::npos || colon < 6 ||
            mqtt.broker.find_first_not_of("0123456789", colon + 1) != std::string::npos ||
            colon + 1 == mqtt.broker.size())
            check.error(p / "broker",
                        "must look like tcp://HOST:PORT or ssl://HOST:PORT (TLS), got \"" +
                            mqtt.broker + "\"");
        // Paho knows ssl://; mqtts:// is the same thing.
        if (mqtt.broker.rfind("mqtts://", 0) == 0) mqtt.broker = "ssl://" + mqtt.broker.substr(8);
    }
    if (j->contains("tls")) {
        const Pointer tp = p / "tls";
        const json& t = (*j)["tls"];
        if (check.object(t, tp)) {
            check.only_keys(t, tp, {"ca_file", "cert_file", "key_file", "verify_hostname"});
            TlsConfig tls;
            check.string(t, "ca_file", tp, tls.ca_file, true);
            check.string(t, "cert_file", tp, tls.cert_file, false);
            check.string(t, "key_file", tp, tls.key_file, false);
            if (t.contains("verify_hostname")) {
                if (t["verify_hostname"].is_boolean())
                    tls.verify_hostname = t["verify_hostname"].get<bool>();
                else
                    check.error(tp / "verify_hostname", "must be true or false");
            }
            tls.ca_file = config_relative(tls.ca_file, config_dir);
            tls.cert_file = config_relative(tls.cert_file, config_dir);
            tls.key_file = config_relative(tls.key_file, config_dir);
            if (tls.cert_file.empty() != tls.key_file.empty())
                check.error(tp / (tls.cert_file.empty() ? "cert_file" : "key_file"),
                            "cert_file and key_file go together (mutual TLS)");
            for (const auto& [key, path] :
                 {std::pair<const char*, std::string>{"ca_file", tls.ca_file},
                  {"cert_file", tls.cert_file},
                  {"key_file", tls.key_file}}) {
                if (path.empty()) continue;
                std::ifstream in(path);
                if (!in)
                    check.error(tp / key, "cannot read \"" + path + "\": " + std::strerror(errno));
            }
            if (!tls_broker)
                check.error(tp, "TLS needs an ssl://HOST:PORT broker (the broker is \"" +
                                    mqtt.broker + "\")");
            mqtt.tls = tls;
        }
    } else if (tls_broker) {
        check.error(p / "tls",
                    "is required for an ssl:// broker: at least {\"ca_file\": "
                    "\"/etc/ssl/certs/ca-certificates.crt\"} or your own CA");
    }
    if (j->contains("client_id")) check.id(*j, "client_id", p, mqtt.client_id, false);
    if (j->contains("topic_prefix") &&
        check.string(*j, "topic_prefix", p, mqtt.topic_prefix, false)) {
        const auto& prefix = mqtt.topic_prefix;
        if (prefix.find_first_of("+#") != std::string::npos || prefix.front() == '/' ||
            prefix.back() == '/' || prefix.find("//") != std::string::npos)
            check.error(p / "topic_prefix",
                        "must be topic levels without wildcards or empty "
                        "levels, e.g. \"townbrain/v1\"");
    }
    if (j->contains("username")) check.string(*j, "username", p, mqtt.username, false);
    if (j->contains("password")) check.string(*j, "password", p, mqtt.password, false);
    std::string password_file;
    if (j->contains("password_file") &&
        check.string(*j, "password_file", p, password_file, false)) {
        password_file = config_relative(password_file, config_dir);
        if (j->contains("password")) {
            check.error(p / "password_file", "give either password or password_file, not both");
        } else {
            // A file readable by the daemon only (0600), so the secret stays out of the config
            // that technicians read and out of `get-config`.
            std::ifstream in(password_file);
            if (!in) {
                check.error(p / "password_file",
                            "cannot read \"" + password_file + "\": " + std::strerror(errno));
            } else {
                std::getline(in, mqtt.password);
                if (!mqtt.password.empty() && mqtt.password.back() == '\r')
                    mqtt.password.pop_back();
                if (mqtt.password.empty())
                    check.error(
                        p / "password_file",
                        "\"" + password_file + "\" is empty (the password is its first line)");
            }
        }
    }
    check.integer_into(*j, "keepalive_s", p, mqtt.keepalive_s, 2, 3600, false);
    check.integer_into(*j, "connect_timeout_s", p, mqtt.connect_timeout_s, 1, 300, false);
    check.integer_into(*j, "reconnect_min_s", p, mqtt.reconnect_min_s, 1, 3600, false);
    check.integer_into(*j, "reconnect_max_s", p, mqtt.reconnect_max_s, 1, 86400, false);
    if (mqtt.reconnect_max_s < mqtt.reconnect_min_s)
        check.error(p / "reconnect_max_s", "must be at least reconnect_min_s (" +
                                               std::to_string(mqtt.reconnect_min_s) + ")");
    check.integer_into(*j, "max_inflight", p, mqtt.max_inflight, 1, 1000, false);
    check.integer_into(*j, "backlog_rate", p, mqtt.backlog_rate, 1, 100000, false);
    if (j->contains("protocol_version")) {
        // Strings only: 3.1.1 is not a JSON number, and "5" next to it keeps the two alike.
        const json& v = (*j)["protocol_version"];
        if (v.is_string() && v.get<std::string>() == "3.1.1")
            mqtt.protocol_version = MqttVersion::V311;
        else if (v.is_string() && v.get<std::string>() == "5")
            mqtt.protocol_version = MqttVersion::V5;
        else
            check.error(p / "protocol_version",
                        "must be \"3.1.1\" or \"5\" (a string: MQTT 3.1.1 or MQTT 5), got " +
                            v.dump() +
                            (v.is_number() ? " (with --set, quote it: "
                                             "--set '/mqtt/protocol_version=\"5\"')"
                                           : ""));
    }
}

void parse_storage(const json& root, Checker& check, StorageConfig& storage) {
    const Pointer p = Pointer{} / "storage";
    const json* j = check.member(root, "storage", Pointer{}, false);
    if (j == nullptr || !check.object(*j, p)) return;
    check.only_keys(*j, p, {"path", "synchronous", "max_bytes", "when_full", "flush_interval_ms"});
    if (j->contains("path")) check.string(*j, "path", p, storage.path, false);
    std::string text;
    if (check.one_of(*j, "synchronous", p, text, {"full", "normal"}, false))
        storage.synchronous = text == "full" ? SyncMode::Full : SyncMode::Normal;
    check.integer_into(*j, "max_bytes", p, storage.max_bytes, 131072, std::int64_t{1} << 40, false);
    if (check.one_of(*j, "when_full", p, text, {"drop_oldest", "reject_new"}, false))
        storage.when_full = text == "drop_oldest" ? WhenFull::DropOldest : WhenFull::RejectNew;
    std::int64_t flush_ms = 0;
    if (check.integer(*j, "flush_interval_ms", p, flush_ms, 100, 60000, false))
        storage.flush_interval = std::chrono::milliseconds(flush_ms);
}

void parse_clock(const json& root, Checker& check, ClockConfig& clock) {
    const Pointer p = Pointer{} / "clock";
    const json* j = check.member(root, "clock", Pointer{}, false);
    if (j == nullptr || !check.object(*j, p)) return;
    check.only_keys(*j, p, {"trust", "max_hold_s"});
    std::string trust;
    if (check.one_of(*j, "trust", p, trust, {"ntp", "system"}, false))
        clock.trust = trust == "ntp" ? ClockTrust::Ntp : ClockTrust::System;
    std::int64_t hold_s = 0;
    if (check.integer(*j, "max_hold_s", p, hold_s, 0, 7 * 86400, false))
        clock.max_hold = std::chrono::seconds(hold_s);
}

void parse_control(const json& root, Checker& check, ControlConfig& control) {
    const Pointer p = Pointer{} / "control";
    const json* j = check.member(root, "control", Pointer{}, false);
    if (j == nullptr || !check.object(*j, p)) return;
    check.only_keys(*j, p, {"socket", "group"});
    if (j->contains("socket") && check.string(*j, "socket", p, control.socket, false) &&
        control.socket.size() > 107)
        check.error(p / "socket", "is longer than the 107 bytes a Unix socket path may have");
    if (j->contains("group")) check.string(*j, "group", p, control.group, false);
}

void parse_home_assistant(const json& root, Checker& check, HomeAssistantConfig& ha) {
    const Pointer p = Pointer{} / "home_assistant";
    const json* j = check.member(root, "home_assistant", Pointer{}, false);
    if (j == nullptr || !check.object(*j, p)) return;
    check.only_keys(*j, p, {"enabled", "discovery_prefix"});
    if (j->contains("enabled")) {
        if ((*j)["enabled"].is_boolean())
            ha.enabled = (*j)["enabled"].get<bool>();
        else
            check.error(p / "enabled", "must be true or false");
    }
    std::string prefix;
    if (j->contains("discovery_prefix") && check.string(*j, "discovery_prefix", p, prefix, false)) {
        const bool control_char = std::any_of(prefix.begin(), prefix.end(), [](char c) {
            return static_cast<unsigned char>(c) < 0x20;
        });
        if (prefix.find_first_of("+#") != std::string::npos || prefix.front() == '/' ||
            prefix.back() == '/' || prefix.find("//") != std::string::npos || control_char)
            check.error(p / "discovery_prefix",
                        "must be topic levels without wildcards, empty levels or a leading or "
                        "trailing \"/\" (Home Assistant's discovery prefix, default "
                        "\"homeassistant\"), got \"" +
                            prefix + "\"");
        else
            ha.discovery_prefix = prefix;
    }
}

/// Serial framing keys shared by "modbus-rtu" and "modbus-rtu-over-tcp".
void parse_line_framing(const json& j, const Pointer& p, Checker& check,
                        modbus::LineFraming& line) {
    check.int_one_of(j, "baud", p, line.baud, {1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200},
                     false);
    std::string parity;
    if (check.one_of(j, "parity", p, parity, {"N", "E", "O"}, false)) line.parity = parity[0];
    check.int_one_of(j, "data_bits", p, line.data_bits, {7, 8}, false);
    check.int_one_of(j, "stop_bits", p, line.stop_bits, {1, 2}, false);
}

void parse_modbus_rtu(const json& j, const Pointer& p, Checker& check, DeviceConfig& device) {
    check.only_keys(j, p,
                    {"type", "port", "baud", "parity", "data_bits", "stop_bits", "rs485", "rts",
                     "rts_delay_us", "inter_frame_ms", "byte_timeout_ms"});
    modbus::RtuEndpoint rtu;
    check.string(j, "port", p, rtu.port, true);
    modbus::LineFraming line;
    parse_line_framing(j, p, check, line);
    rtu.baud = line.baud;
    rtu.parity = line.parity;
    rtu.data_bits = line.data_bits;
    rtu.stop_bits = line.stop_bits;
    std::string text;
    if (check.one_of(j, "rs485", p, text, {"auto", "kernel", "rts"}, false))
        rtu.rs485 = text == "kernel" ? modbus::Rs485Mode::Kernel
                    : text == "rts"  ? modbus::Rs485Mode::Rts
                                     : modbus::Rs485Mode::Auto;
    const bool rts_only = j.contains("rts") || j.contains("rts_delay_us");
    if (check.one_of(j, "rts", p, text, {"up", "down"}, false)) rtu.rts_active_high = text == "up";
    check.integer_into(j, "rts_delay_us", p, rtu.rts_delay_us, 0, 1'000'000, false);
    if (rts_only && rtu.rs485 != modbus::Rs485Mode::Rts)
        check.error(p / (j.contains("rts") ? "rts" : "rts_delay_us"),
                    "only applies with \"rs485\": \"rts\"");
    std::int64_t ms = 0;
    if (check.integer(j, "inter_frame_ms", p, ms, 0, 1000, false))
        rtu.inter_frame_delay = std::chrono::milliseconds(ms);
    if (check.integer(j, "byte_timeout_ms", p, ms, 1, 10'000, false))
        rtu.byte_timeout = std::chrono::milliseconds(ms);
    device.endpoint = rtu;
}

void parse_modbus_rtu_over_tcp(const json& j, const Pointer& p, Checker& check,
                               DeviceConfig& device) {
    check.only_keys(
        j, p,
        {"type", "host", "port", "baud", "parity", "data_bits", "stop_bits", "inter_frame_ms"});
    modbus::RtuOverTcpEndpoint over;
    check.string(j, "host", p, over.host, true);
    check.integer_into(j, "port", p, over.port, 1, 65535, false);
    parse_line_framing(j, p, check, over.line);
    std::int64_t ms = 0;
    if (check.integer(j, "inter_frame_ms", p, ms, 0, 1000, false))
        over.inter_frame_delay = std::chrono::milliseconds(ms);
    device.endpoint = over;
}

void parse_modbus_tcp(const json& j, const Pointer& p, Checker& check, DeviceConfig& device) {
    check.only_keys(j, p, {"type", "host", "port"});
    modbus::TcpEndpoint tcp;
    check.string(j, "host", p, tcp.host, true);
    check.integer_into(j, "port", p, tcp.port, 1, 65535, false);
    device.endpoint = tcp;
}

/// The "transport" object; its "type" decides the source kind and the other keys.
void parse_transport(const json& j, const Pointer& p, Checker& check, DeviceConfig& device,
                     bool& is_tcp) {
    if (!check.object(j, p)) return;
    std::string type;
    // "chirpstack" and "iio" devices never get here (parse_device diverts them); listed for
    // the message.
    if (!check.one_of(j, "type", p, type,
                      {"modbus-rtu", "modbus-tcp", "modbus-rtu-over-tcp", "chirpstack", "iio"},
                      true))
        return;
    if (type == "modbus-rtu") {
        device.kind = SourceKind::Modbus;
        parse_modbus_rtu(j, p, check, device);
    } else if (type == "modbus-rtu-over-tcp") {
        device.kind = SourceKind::Modbus;
        parse_modbus_rtu_over_tcp(j, p, check, device);
    } else if (type == "modbus-tcp") {
        device.kind = SourceKind::Modbus;
        parse_modbus_tcp(j, p, check, device);
        is_tcp = true;
    }
}

// ----------------------------------------------------------------------------- LoRaWAN devices
// {"id", "transport": {"type": "chirpstack", "broker", "dev_eui", ...}, "codec", "interval_s",
//  "stale_after_s"}: the codec defines the points, so no "profile"/"registers" and no polling.

bool is_chirpstack_device(const json& device) {
    const auto transport = device.find("transport");
    return transport != device.end() && transport->is_object() &&
           transport->value("type", json()) == "chirpstack";
}

/// tcp://HOST:PORT (or mqtt://), as the "mqtt" section accepts.
bool is_broker_uri(const std::string& uri) {
    const auto colon = uri.rfind(':');
    const bool scheme_ok = uri.rfind("tcp://", 0) == 0 || uri.rfind("mqtt://", 0) == 0;
    return scheme_ok && colon != std::string::npos && colon >= 6 && colon + 1 < uri.size() &&
           uri.find_first_not_of("0123456789", colon + 1) == std::string::npos;
}

void parse_chirpstack_transport(const json& j, const Pointer& p, Checker& check,
                                ChirpstackTransport& transport) {
    check.only_keys(
        j, p, {"type", "broker", "application_id", "dev_eui", "username", "password", "client_id"});
    if (check.string(j, "broker", p, transport.broker, true) && !is_broker_uri(transport.broker))
        check.error(p / "broker",
                    "must look like tcp://HOST:PORT (the broker ChirpStack's MQTT "
                    "integration publishes to), got \"" +
                        transport.broker + "\"");
    std::string dev_eui;
    if (check.string(j, "dev_eui", p, dev_eui, true)) {
        if (auto normalised = lorawan::normalize_dev_eui(dev_eui))
            transport.dev_eui = *normalised;
        else
            check.error(p / "dev_eui",
                        "must be the device's DevEUI: 16 hex digits, e.g. "
                        "\"24e124136b502217\", got \"" +
                            dev_eui + "\"");
    }
    if (j.contains("application_id") &&
        check.string(j, "application_id", p, transport.application_id, false)) {
        const auto& app = transport.application_id;
        if (app != "+" && app.find_first_of("/+#") != std::string::npos)
            check.error(p / "application_id",
                        "must be a ChirpStack application id (one topic level) or \"+\" for any, "
                        "got \"" +
                            app + "\"");
    }
    if (j.contains("username")) check.string(j, "username", p, transport.username, false);
    if (j.contains("password")) check.string(j, "password", p, transport.password, false);
    if (j.contains("client_id")) check.id(j, "client_id", p, transport.client_id, false);
}

void parse_chirpstack_device(const json& j, const Pointer& p, Checker& check,
                             DeviceConfig& device) {
    device.kind = SourceKind::Chirpstack;
    for (const char* modbus_only : {"profile", "registers"})
        if (j.contains(modbus_only))
            check.error(p / modbus_only, "a chirpstack device takes no \"" +
                                             std::string(modbus_only) +
                                             "\": its \"codec\" defines the points");
    json others = j;  // "profile"/"registers" are reported above, not as unknown keys
    others.erase("profile");
    others.erase("registers");
    check.only_keys(others, p,
                    {"id", "transport", "codec", "interval_s", "stale_after_s", "description"});
    check.id(j, "id", p, device.id, true);
    parse_chirpstack_transport(j["transport"], p / "transport", check, device.chirpstack);
    if (j.contains("description"))
        check.string(j, "description", p, device.profile.description, false);

    const std::vector<std::string> known = lorawan::codec_names();
    if (check.string(j, "codec", p, device.codec, true)) {
        if (const lorawan::Codec* codec = lorawan::find_codec(device.codec)) {
            device.profile.model = codec->name;
            if (device.profile.description.empty()) device.profile.description = codec->description;
            for (const auto& point : codec->points) {
                modbus::RegisterSpec spec;  // only name, unit and metric matter here
                spec.name = point.name;
                spec.unit = point.unit;
                spec.metric = point.metric;
                device.profile.registers.push_back(std::move(spec));
            }
        } else {
            check.error(p / "codec", "unknown codec \"" + device.codec +
                                         "\" (known: " + plain_list(known) + ")");
        }
    }
    std::int64_t seconds = 0;
    if (check.integer(j, "interval_s", p, seconds, 1, 86400, false))
        device.uplink_interval = std::chrono::seconds(seconds);
    device.poll_period = device.uplink_interval;      // what windows expect per sample
    device.stale_after = 3 * device.uplink_interval;  // LoRaWAN loses single uplinks routinely
    if (check.integer(j, "stale_after_s", p, seconds, 1, 7 * 86400, false)) {
        if (std::chrono::seconds(seconds) < device.uplink_interval)
            check.error(p / "stale_after_s",
                        "must be at least interval_s (" +
                            std::to_string(device.uplink_interval.count()) +
                            "): a device is not stale between two regular uplinks");
        else
            device.stale_after = std::chrono::seconds(seconds);
    }
}

/// Devices on one broker share one MQTT connection: same credentials and client id, distinct
/// devEuis. Fills in the default client id.
void check_chirpstack(std::vector<DeviceConfig>& devices, const GatewayIdentity& gateway,
                      const MqttConfig& mqtt, Checker& check) {
    const Pointer devices_ptr = Pointer{} / "devices";
    std::map<std::string, std::size_t> first_on_broker;
    std::map<std::pair<std::string, std::string>, std::size_t> eui_users;
    for (std::size_t i = 0; i < devices.size(); ++i) {
        DeviceConfig& d = devices[i];
        if (d.kind != SourceKind::Chirpstack || d.chirpstack.broker.empty()) continue;
        ChirpstackTransport& t = d.chirpstack;
        const Pointer tp = devices_ptr / i / "transport";
        if (t.client_id.empty() && !gateway.gateway_id.empty())
            t.client_id = "towngw-" + gateway.gateway_id + "-lorawan";
        if (t.broker == mqtt.broker && t.client_id == mqtt.client_id)
            check.error(tp / "client_id",
                        "\"" + t.client_id +
                            "\" is also the uplink's client id on the same broker: the two "
                            "connections would keep throwing each other off");
        auto [first, inserted] = first_on_broker.emplace(t.broker, i);
        if (!inserted) {
            const DeviceConfig& other = devices[first->second];
            const auto differs = [&](const char* key, const std::string& mine,
                                     const std::string& theirs) {
                if (mine != theirs)
                    check.error(tp / key, std::string("devices on ") + t.broker +
                                              " share one MQTT connection, but \"" + key +
                                              "\" differs from device \"" + other.id + "\"'s");
            };
            differs("username", t.username, other.chirpstack.username);
            differs("password", t.password, other.chirpstack.password);
            differs("client_id", t.client_id, other.chirpstack.client_id);
        }
        if (t.dev_eui.empty()) continue;
        auto [user, eui_free] = eui_users.emplace(std::make_pair(t.broker, t.dev_eui), i);
        if (!eui_free)
            check.error(tp / "dev_eui", "devEui " + t.dev_eui + " is already device \"" +
                                            devices[user->second].id + "\" on " + t.broker);
    }
}

// ----------------------------------------------------------------------------- IIO devices
// {"id", "transport": {"type": "iio", "device": DIR}, "poll_ms", "channels": [...]}: analog
// inputs (4-20 mA, 0-10 V) of a Linux IIO ADC; the channels define the points.

bool is_iio_device(const json& device) {
    const auto transport = device.find("transport");
    return transport != device.end() && transport->is_object() &&
           transport->value("type", json()) == "iio";
}

/// One "channels" entry: which ADC input, and how its signal maps to engineering units.
void parse_iio_channel(const json& j, const Pointer& p, Checker& check, iio::IioChannel& channel,
                       modbus::RegisterSpec& point) {
    if (!check.object(j, p)) return;
    check.only_keys(j, p,
                    {"name", "channel", "mode", "volts", "shunt_ohm", "milliamps", "range", "unit",
                     "metric", "description"});
    check.id(j, "name", p, channel.name, true);
    // IIO numbers a device's inputs from 0; no ADC has thousands of them.
    check.integer_into(j, "channel", p, channel.index, 0, 1023, true);
    std::string mode;
    if (check.one_of(j, "mode", p, mode, {"voltage", "current"}, true)) {
        const bool is_current = mode == "current";
        channel.mapping.mode = is_current ? iio::SignalMode::Current : iio::SignalMode::Voltage;
        for (const char* key : {"volts", "shunt_ohm", "milliamps"}) {
            const bool belongs =
                is_current ? std::string(key) != "volts" : std::string(key) == "volts";
            if (!belongs && j.contains(key))
                check.error(p / key, std::string("does not apply to \"mode\": \"") + mode +
                                         "\" (it is for \"" + (is_current ? "voltage" : "current") +
                                         "\" inputs)");
        }
        iio::Span& span = is_current ? channel.mapping.milliamps : channel.mapping.volts;
        number_pair(j, is_current ? "milliamps" : "volts", p, check, span.min, span.max, false);
        if (is_current && check.number(j, "shunt_ohm", p, channel.mapping.shunt_ohm, true) &&
            !(channel.mapping.shunt_ohm > 0.0))
            check.error(p / "shunt_ohm",
                        "must be more than 0 (the resistor the loop current "
                        "flows through; 250 turns 4-20 mA into 1-5 V)");
    }
    number_pair(j, "range", p, check, channel.mapping.range.min, channel.mapping.range.max, true);
    if (j.contains("unit")) check.string(j, "unit", p, channel.unit, false);

    // The point sensors refer to, as a Modbus register would be.
    point.name = channel.name;
    point.unit = channel.unit;
    if (j.contains("metric")) check.id(j, "metric", p, point.metric, false);
    if (point.metric.empty()) point.metric = channel.name;
    point.range = modbus::MeasuringRange{channel.mapping.range.min, channel.mapping.range.max};
}

void parse_iio_device(const json& j, const Pointer& p, Checker& check, DeviceConfig& device) {
    device.kind = SourceKind::Iio;
    for (const char* modbus_only : {"profile", "registers"})
        if (j.contains(modbus_only))
            check.error(p / modbus_only, "an iio device takes no \"" + std::string(modbus_only) +
                                             "\": its \"channels\" define the points");
    check.only_keys(
        j, p, {"id", "transport", "poll_ms", "channels", "description", "profile", "registers"});
    check.id(j, "id", p, device.id, true);
    const Pointer tp = p / "transport";
    const json& transport = j["transport"];
    check.only_keys(transport, tp, {"type", "device"});
    // The directory need not exist yet: the ADC driver may load after towngwd starts, and a
    // missing device is reported as failed samples, not refused here.
    if (check.string(transport, "device", tp, device.iio_directory, true) &&
        device.iio_directory.front() != '/')
        check.error(tp / "device",
                    "must be an absolute path such as "
                    "/sys/bus/iio/devices/iio:device0, got \"" +
                        device.iio_directory + "\"");
    if (j.contains("description"))
        check.string(j, "description", p, device.profile.description, false);
    std::int64_t ms = 0;
    if (check.integer(j, "poll_ms", p, ms, 100, 86'400'000, false))
        device.poll_period = std::chrono::milliseconds(ms);

    const json* channels = check.member(j, "channels", p, true);
    if (channels == nullptr) return;
    const Pointer cp = p / "channels";
    if (!channels->is_array() || channels->empty()) {
        check.error(cp, "must be a non-empty array of channels");
        return;
    }
    std::map<std::string, std::size_t> seen;
    for (std::size_t i = 0; i < channels->size(); ++i) {
        iio::IioChannel channel;
        modbus::RegisterSpec point;
        parse_iio_channel((*channels)[i], cp / i, check, channel, point);
        if (!channel.name.empty() && !seen.emplace(channel.name, i).second)
            check.error(cp / i / "name", "duplicate channel name \"" + channel.name +
                                             "\" (also at " +
                                             pointer_text(cp / seen[channel.name]) + ")");
        device.iio_channels.push_back(std::move(channel));
        device.profile.registers.push_back(std::move(point));
    }
}

void parse_device(const json& j, const Pointer& p, Checker& check, const std::string& config_dir,
                  std::vector<ConfigError>& errors, DeviceConfig& device) {
    if (!check.object(j, p)) return;
    if (is_chirpstack_device(j)) {  // LoRaWAN: no profile, no polling
        parse_chirpstack_device(j, p, check, device);
        return;
    }
    if (is_iio_device(j)) {  // analog inputs: channels instead of a profile
        parse_iio_device(j, p, check, device);
        return;
    }
    check.only_keys(j, p,
                    {"id", "profile", "registers", "model", "description", "addressing",
                     "merge_gap", "trigger", "transport", "unit_id", "poll_ms", "timeout_ms",
                     "retries", "backoff_after_failures", "backoff_s"});
    check.id(j, "id", p, device.id, true);

    const bool has_profile = j.contains("profile");
    const bool has_inline = j.contains("registers");
    if (has_profile == has_inline) {
        check.error(p, has_profile ? "give either \"profile\" or \"registers\", not both"
                                   : "needs a \"profile\" file or inline \"registers\"");
    } else if (has_inline) {
        parse_profile(j, p, check, device.profile);
    } else if (check.string(j, "profile", p, device.profile_file, false)) {
        namespace fs = std::filesystem;
        fs::path path(device.profile_file);
        if (path.is_relative()) path = fs::path(config_dir) / path;
        const std::string shown = path.lexically_normal().string();
        std::string why;
        if (auto text = read_file(shown, why)) {
            Checker profile_check(shown, errors);
            if (auto doc = parse_json(*text, profile_check)) {
                if (profile_check.object(*doc, Pointer{})) {
                    profile_check.only_keys(*doc, Pointer{}, kProfileKeys);
                    parse_profile(*doc, Pointer{}, profile_check, device.profile);
                }
            }
        } else {
            check.error(p / "profile", "cannot read device profile " + shown + ": " + why);
        }
    }

    bool is_tcp = false;
    if (const json* t = check.member(j, "transport", p, true))
        parse_transport(*t, p / "transport", check, device, is_tcp);
    if (check.integer_into(j, "unit_id", p, device.unit_id, is_tcp ? 0 : 1, is_tcp ? 255 : 247,
                           false) &&
        device.unit_id > 247 && device.unit_id < 255)
        // Reserved by the Modbus spec; libmodbus refuses to address them.
        check.error(p / "unit_id",
                    "must be 0-247 or 255 on Modbus TCP (248-254 are reserved), got " +
                        std::to_string(device.unit_id));
    std::int64_t ms = 0;
    if (check.integer(j, "poll_ms", p, ms, 100, 86'400'000, false))
        device.poll_period = std::chrono::milliseconds(ms);
    if (check.integer(j, "timeout_ms", p, ms, 10, 60'000, false))
        device.response_timeout = std::chrono::milliseconds(ms);
    check.integer_into(j, "retries", p, device.retries, 0, 5, false);
    check.integer_into(j, "backoff_after_failures", p, device.backoff_after_failures, 1, 1000,
                       false);
    std::int64_t backoff_s = 0;
    if (check.integer(j, "backoff_s", p, backoff_s, 1, 86400, false))
        device.backoff = std::chrono::seconds(backoff_s);
}

/// Two devices on one line must agree on the line settings and not share a unit id.
/// Everything that must be identical for devices sharing one bus.
std::string line_settings(const modbus::Endpoint& endpoint) {
    std::string text = modbus::describe(endpoint);
    if (const auto* rtu = std::get_if<modbus::RtuEndpoint>(&endpoint)) {
        text += rtu->rs485 == modbus::Rs485Mode::Kernel ? ", rs485 kernel"
                : rtu->rs485 == modbus::Rs485Mode::Rts  ? ", rs485 rts"
                                                        : "";
        if (rtu->inter_frame_delay.count() > 0)
            text += ", inter_frame_ms " + std::to_string(rtu->inter_frame_delay.count());
        if (rtu->byte_timeout.count() > 0)
            text += ", byte_timeout_ms " + std::to_string(rtu->byte_timeout.count());
    } else if (const auto* over = std::get_if<modbus::RtuOverTcpEndpoint>(&endpoint)) {
        if (over->inter_frame_delay.count() > 0)
            text += ", inter_frame_ms " + std::to_string(over->inter_frame_delay.count());
    }
    return text;
}

/// Host:port of a TCP-based endpoint, empty otherwise.
std::string tcp_address(const modbus::Endpoint& endpoint) {
    if (const auto* tcp = std::get_if<modbus::TcpEndpoint>(&endpoint))
        return tcp->host + ":" + std::to_string(tcp->port);
    if (const auto* over = std::get_if<modbus::RtuOverTcpEndpoint>(&endpoint))
        return over->host + ":" + std::to_string(over->port);
    return {};
}

/// Devices on one bus must agree on the line settings and not share a unit id.
void check_buses(const std::vector<DeviceConfig>& devices, Checker& check) {
    const Pointer devices_ptr = Pointer{} / "devices";
    std::map<std::string, std::size_t> first_on_bus;      // bus key -> device index
    std::map<std::string, std::size_t> first_on_address;  // TCP host:port -> device index
    std::set<std::string> mixed_addresses;                // host:port reported as mixed
    std::map<std::pair<std::string, int>, std::size_t> unit_users;
    for (std::size_t i = 0; i < devices.size(); ++i) {
        const auto& d = devices[i];
        if (d.kind != SourceKind::Modbus) continue;
        if (const auto* rtu = std::get_if<modbus::RtuEndpoint>(&d.endpoint);
            rtu && rtu->port.empty())
            continue;  // already reported
        const std::string address = tcp_address(d.endpoint);
        if (!address.empty() && address.front() == ':') continue;  // host already reported
        const std::string bus = modbus::bus_key(d.endpoint);
        auto [first, inserted] = first_on_bus.emplace(bus, i);
        if (!inserted) {
            const auto& other = devices[first->second];
            if (line_settings(other.endpoint) != line_settings(d.endpoint))
                check.error(devices_ptr / i / "transport",
                            "shares " + bus + " with device \"" + other.id +
                                "\" but with other line settings (" + line_settings(d.endpoint) +
                                " vs " + line_settings(other.endpoint) +
                                "); one line has one baud rate, framing and timing");
        }
        if (!address.empty()) {
            auto [seen, new_address] = first_on_address.emplace(address, i);
            // Reported once per address, at the first device that disagrees.
            if (!new_address && modbus::bus_key(devices[seen->second].endpoint) != bus &&
                mixed_addresses.insert(address).second)
                check.error(devices_ptr / i / "transport",
                            address + " is used as \"" +
                                (std::holds_alternative<modbus::TcpEndpoint>(d.endpoint)
                                     ? "modbus-tcp"
                                     : "modbus-rtu-over-tcp") +
                                "\" here but differently by device \"" + devices[seen->second].id +
                                "\"; one TCP port speaks one framing");
        }
        auto [it, unit_free] = unit_users.emplace(std::make_pair(bus, d.unit_id), i);
        if (!unit_free)
            check.error(devices_ptr / i / "unit_id",
                        "unit id " + std::to_string(d.unit_id) + " is already used on " + bus +
                            " by device \"" + devices[it->second].id + "\"");
    }
}

void parse_calibration(const json& j, const Pointer& p, Checker& check, CalibrationConfig& c) {
    if (!check.object(j, p)) return;
    check.only_keys(
        j, p,
        {"model", "valid_days", "ph_buffers", "raw_unit", "stability_per_min", "probe_serial"});
    if (check.string(j, "model", p, c.model, false)) {
        std::vector<std::string> names;
        for (const auto& [model, days] : calibration_models()) names.push_back(model);
        if (std::find(names.begin(), names.end(), c.model) == names.end()) {
            check.error(p / "model",
                        "unknown model \"" + c.model + "\" (models: " + plain_list(names) + ")");
            c.model.clear();
        }
    }
    check.integer_into(j, "valid_days", p, c.valid_days, 1, 3650, false);
    if (check.string(j, "ph_buffers", p, c.ph_buffers, false) && c.ph_buffers != "gb" &&
        c.ph_buffers != "nist" && c.ph_buffers != "technical") {
        check.error(p / "ph_buffers",
                    "must be \"gb\" (4.00/6.86/9.18), \"nist\" or "
                    "\"technical\" (4.01/7.00/10.01)");
        c.ph_buffers = "gb";
    }
    std::string raw_unit;
    if (check.string(j, "raw_unit", p, raw_unit, false)) {
        if (raw_unit == "mV")
            c.raw_is_mv = true;
        else if (raw_unit != "pH")
            check.error(p / "raw_unit",
                        "must be \"pH\" (the probe reports pH) or \"mV\" (electrode mV)");
    }
    if (check.number(j, "stability_per_min", p, c.stability_per_min, false) &&
        c.stability_per_min <= 0)
        check.error(p / "stability_per_min", "must be greater than 0");
    check.string(j, "probe_serial", p, c.probe_serial, false);
}

/// "quality": the metric's default checks (analytics::default_quality_params), with the keys
/// given replacing them.
void parse_sensor_quality(const json& j, const Pointer& sensor_p, Checker& check,
                          SensorConfig& sensor) {
    auto& q = sensor.quality;
    q.params = analytics::default_quality_params(sensor.metric);
    const json* v = check.member(j, "quality", sensor_p, false);
    if (v == nullptr) return;
    const Pointer p = sensor_p / "quality";
    if (!check.object(*v, p)) return;
    check.only_keys(*v, p,
                    {"enabled", "spike_window", "spike_k", "spike_floor", "max_rate_per_s",
                     "flat_after_s", "flat_epsilon", "range"});
    if (const json* e = check.member(*v, "enabled", p, false)) {
        if (e->is_boolean())
            q.enabled = e->get<bool>();
        else
            check.error(p / "enabled", "must be true or false");
    }
    check.integer_into(*v, "spike_window", p, q.params.spike_window, 0, 1000, false);
    check.number(*v, "spike_k", p, q.params.spike_k, false);
    check.number(*v, "spike_floor", p, q.params.spike_floor, false);
    double rate = 0;
    if (check.number(*v, "max_rate_per_s", p, rate, false)) q.params.max_rate_per_s = rate;
    std::int64_t flat_s = 0;
    if (check.integer(*v, "flat_after_s", p, flat_s, 0, 365 * 86400, false))
        q.params.flat_after_ms = flat_s * 1000;
    check.number(*v, "flat_epsilon", p, q.params.flat_epsilon, false);
    double low = 0, high = 0;
    if (v->contains("range") && number_pair(*v, "range", p, check, low, high, false)) {
        q.params.range_min = low;
        q.params.range_max = high;
    }
    if (const auto why = analytics::validate_quality_params(q.params); !why.empty())
        check.error(p, why);
}

void parse_sensor(const json& j, const Pointer& p, Checker& check,
                  const std::vector<DeviceConfig>& devices, SensorConfig& sensor) {
    if (!check.object(j, p)) return;
    check.only_keys(j, p,
                    {"id", "device", "register", "window_s", "metric", "unit", "fill_level",
                     "stuck_after_samples", "calibration", "quality", "coverage_threshold"});
    if (j.contains("calibration"))
        parse_calibration(j["calibration"], p / "calibration", check, sensor.calibration);
    if (j.contains("stuck_after_samples")) {
        std::uint32_t stuck = 0;
        if (check.integer_into(j, "stuck_after_samples", p, stuck, 0, 1'000'000, false)) {
            if (stuck == 1)
                check.error(p / "stuck_after_samples",
                            "must be 0 (off) or at least 2: one sample cannot repeat");
            else
                sensor.stuck_after_samples = stuck;
        }
    }
    check.id(j, "id", p, sensor.id, true);
    std::int64_t window_s = 0;
    if (check.integer(j, "window_s", p, window_s, 1, 86400, false)) {
        if (const auto why = window_length_error(window_s); !why.empty())
            check.error(p / "window_s", why);
        else
            sensor.window = std::chrono::seconds(window_s);
    }
    if (j.contains("fill_level")) {
        const Pointer fp = p / "fill_level";
        const json& f = j["fill_level"];
        if (check.object(f, fp)) {
            check.only_keys(f, fp, {"empty_mm", "full_mm"});
            FillLevel fill;
            const bool ok = check.number(f, "empty_mm", fp, fill.empty_mm, true) &
                            check.number(f, "full_mm", fp, fill.full_mm, true);
            if (ok && fill.full_mm < 0)
                check.error(fp / "full_mm", "must not be negative");
            else if (ok && fill.full_mm >= fill.empty_mm)
                check.error(fp / "full_mm", "must be less than empty_mm (" +
                                                json(fill.empty_mm).dump() +
                                                "): the sensor is above the bin");
            else if (ok)
                sensor.fill_level = fill;
        }
    }

    std::string device_id;
    if (check.id(j, "device", p, device_id, true)) {
        auto it = std::find_if(devices.begin(), devices.end(),
                               [&](const DeviceConfig& d) { return d.id == device_id; });
        if (it == devices.end()) {
            std::vector<std::string> ids;
            for (const auto& d : devices) ids.push_back(d.id);
            check.error(p / "device", "no device has id \"" + device_id +
                                          "\" (devices: " + plain_list(ids) + ")");
        } else {
            sensor.device_id = device_id;
            sensor.device_index = static_cast<std::size_t>(it - devices.begin());
            const auto& registers = it->profile.registers;
            // An empty register list means the profile already failed (and was reported).
            if (check.string(j, "register", p, sensor.register_name, true) && !registers.empty()) {
                auto reg = std::find_if(registers.begin(), registers.end(), [&](const auto& r) {
                    return r.name == sensor.register_name;
                });
                if (reg == registers.end()) {
                    std::vector<std::string> names;
                    for (const auto& r : registers) names.push_back(r.name);
                    check.error(p / "register", "device \"" + device_id + "\" has no register \"" +
                                                    sensor.register_name +
                                                    "\" (registers: " + plain_list(names) + ")");
                } else {
                    sensor.register_index = static_cast<std::size_t>(reg - registers.begin());
                    sensor.metric = sensor.fill_level ? "fill_level" : reg->metric;
                    sensor.unit = sensor.fill_level ? "%" : reg->unit;
                }
            }
            if (const auto why = window_vs_device_error(sensor.window.count(), *it); !why.empty())
                check.error(p / "window_s", why);
        }
    } else if (!j.contains("register")) {
        check.error(p / "register", "is required");
    }
    if (j.contains("metric")) check.id(j, "metric", p, sensor.metric, false);
    if (j.contains("unit")) check.string(j, "unit", p, sensor.unit, false);
    if (sensor.calibration.model.empty())
        sensor.calibration.model =
            default_calibration_model(sensor.metric, sensor.fill_level.has_value());
    if (sensor.calibration.valid_days == 0)
        for (const auto& [model, days] : calibration_models())
            if (model == sensor.calibration.model) sensor.calibration.valid_days = days;
    if (sensor.calibration.model == "bin" && !sensor.fill_level)
        check.error(p / "calibration" / "model",
                    "\"bin\" calibrates the empty and full distances of a \"fill_level\" "
                    "sensor; this sensor has no fill_level");
    parse_sensor_quality(j, p, check, sensor);
    if (check.number(j, "coverage_threshold", p, sensor.coverage_threshold, false) &&
        !(sensor.coverage_threshold > 0.0 && sensor.coverage_threshold <= 1.0))
        check.error(p / "coverage_threshold",
                    "must be more than 0 and at most 1 (the share of expected samples)");
}

void apply_overrides(json& doc, const std::vector<ConfigOverride>& overrides,
                     const std::string& path, std::vector<ConfigError>& errors) {
    for (const auto& o : overrides) {
        Pointer ptr;
        try {
            ptr = Pointer(o.pointer);
        } catch (const json::exception&) {
            errors.push_back({"--set", o.pointer, "is not a JSON Pointer (like /mqtt/broker)"});
            continue;
        }
        if (ptr.empty()) {
            errors.push_back({"--set", o.pointer, "cannot replace the whole document"});
            continue;
        }
        json value = json::parse(o.value, nullptr, /*allow_exceptions=*/false);
        if (value.is_discarded()) value = o.value;
        const Pointer parent = ptr.parent_pointer();
        if (!doc.contains(parent)) {
            // Missing sections are created, e.g. --set /storage/path=... without "storage",
            // as long as they hang off an object (array elements must exist).
            Pointer ancestor = parent;
            while (!doc.contains(ancestor)) ancestor = ancestor.parent_pointer();
            if (doc[ancestor].is_object()) {
                doc[ptr] = value;
                continue;
            }
        }
        if (!doc.contains(parent) || !(doc[parent].is_object() || doc[parent].is_array())) {
            errors.push_back({"--set", o.pointer,
                              "no such place in " + path + " (" + pointer_text(parent) +
                                  " is not an object or array there)"});
            continue;
        }
        json& container = doc[parent];
        if (container.is_array()) {
            const std::string& last = ptr.back();
            const bool numeric =
                !last.empty() && last.find_first_not_of("0123456789") == std::string::npos;
            if (!numeric || std::stoull(last) > container.size()) {
                errors.push_back({"--set", o.pointer,
                                  "index out of range: " + pointer_text(parent) + " has " +
                                      std::to_string(container.size()) + " elements"});
                continue;
            }
        }
        doc[ptr] = value;
    }
}

}  // namespace

std::string ConfigError::to_string() const {
    return "error: " + file + ": " + pointer + ": " + message;
}

std::string window_length_error(std::int64_t window_s) {
    if (window_s < 1 || window_s > 86400) return "must be between 1 and 86400 seconds";
    if (86400 % window_s != 0)
        return "must divide a day (86400 s) so windows align to wall-clock boundaries, e.g. 5, "
               "60, 300, 600, 3600";
    return {};
}

std::string window_vs_device_error(std::int64_t window_s, const DeviceConfig& device) {
    const auto poll_ms = device.poll_period.count();
    if (window_s * 1000 >= poll_ms) return {};
    return "is shorter than device \"" + device.id + "\"'s " +
           (device.kind == SourceKind::Chirpstack
                ? "uplink interval (interval_s " + std::to_string(poll_ms / 1000) + ")"
                : "poll period (" + std::to_string(poll_ms) + " ms)");
}

bool parse_override(const std::string& argument, ConfigOverride& out) {
    const auto eq = argument.find('=');
    if (eq == std::string::npos || argument.empty() || argument[0] != '/') return false;
    out.pointer = argument.substr(0, eq);
    out.value = argument.substr(eq + 1);
    return true;
}

ConfigResult load_config(const std::string& path, const std::vector<ConfigOverride>& overrides) {
    std::string why;
    auto text = read_file(path, why);
    if (!text) return std::vector<ConfigError>{{path, "/", why}};
    return load_config_text(*text, path, overrides);
}

ConfigResult load_config_text(const std::string& text, const std::string& path,
                              const std::vector<ConfigOverride>& overrides) {
    std::vector<ConfigError> errors;
    Checker check(path, errors);
    auto doc = parse_json(text, check);
    if (!doc) return errors;
    if (!check.object(*doc, Pointer{})) return errors;
    apply_overrides(*doc, overrides, path, errors);
    if (!errors.empty()) return errors;

    Config config;
    config.source_file = path;
    check.only_keys(*doc, Pointer{},
                    {"gateway", "mqtt", "storage", "control", "clock", "home_assistant", "devices",
                     "sensors", "analytics", "hj212"});
    parse_gateway(*doc, check, config.gateway);
    parse_mqtt(*doc, check, config.mqtt, std::filesystem::path(path).parent_path().string());
    if (config.mqtt.client_id.empty() && !config.gateway.gateway_id.empty())
        config.mqtt.client_id = "towngw-" + config.gateway.gateway_id;
    parse_storage(*doc, check, config.storage);
    parse_control(*doc, check, config.control);
    parse_clock(*doc, check, config.clock);
    parse_home_assistant(*doc, check, config.home_assistant);

    const std::string config_dir = std::filesystem::path(path).parent_path().string();
    const Pointer devices_ptr = Pointer{} / "devices";
    if (const json* devices = check.member(*doc, "devices", Pointer{}, true)) {
        if (!devices->is_array()) {
            check.error(devices_ptr, "must be an array of devices");
        } else {
            std::map<std::string, std::size_t> seen;
            for (std::size_t i = 0; i < devices->size(); ++i) {
                DeviceConfig device;
                parse_device((*devices)[i], devices_ptr / i, check, config_dir, errors, device);
                if (!device.id.empty() && !seen.emplace(device.id, i).second)
                    check.error(devices_ptr / i / "id",
                                "duplicate device id \"" + device.id + "\" (also at " +
                                    pointer_text(devices_ptr / seen[device.id]) + ")");
                config.devices.push_back(std::move(device));
            }
            check_buses(config.devices, check);
            check_chirpstack(config.devices, config.gateway, config.mqtt, check);
        }
    }

    const Pointer sensors_ptr = Pointer{} / "sensors";
    if (const json* sensors = check.member(*doc, "sensors", Pointer{}, true)) {
        if (!sensors->is_array()) {
            check.error(sensors_ptr, "must be an array of sensors");
        } else {
            std::map<std::string, std::size_t> seen;
            for (std::size_t i = 0; i < sensors->size(); ++i) {
                SensorConfig sensor;
                parse_sensor((*sensors)[i], sensors_ptr / i, check, config.devices, sensor);
                if (!sensor.id.empty() && !seen.emplace(sensor.id, i).second)
                    check.error(sensors_ptr / i / "id",
                                "duplicate sensor id \"" + sensor.id + "\" (also at " +
                                    pointer_text(sensors_ptr / seen[sensor.id]) + ")");
                config.sensors.push_back(std::move(sensor));
            }
        }
    }
    // Both refer to the sensors, so they need them to be right; their errors are collected
    // together.
    if (errors.empty()) {
        parse_analytics(*doc, check, config);
        parse_hj212(*doc, check, config);
    }
    if (!errors.empty()) return errors;
    return config;
}

}  // namespace gw
