// SPDX-License-Identifier: Apache-2.0
#include "modbus_sim/faults.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>
#include <utility>

namespace gw::sim {
namespace {

struct KindName {
    FaultKind kind;
    std::string_view name;
};

constexpr std::array<KindName, 11> kKindNames{{
    {FaultKind::Timeout, "timeout"},
    {FaultKind::BadCrc, "bad_crc"},
    {FaultKind::Exception, "exception"},
    {FaultKind::Slow, "slow"},
    {FaultKind::Stuck, "stuck"},
    {FaultKind::Disconnect, "disconnect"},
    {FaultKind::Duplicate, "duplicate"},
    {FaultKind::Replay, "replay"},
    {FaultKind::Silent, "silent"},
    {FaultKind::Tilt, "tilt"},
    {FaultKind::Garbage, "garbage"},
}};

bool is_modbus_kind(FaultKind kind) {
    switch (kind) {
        case FaultKind::Timeout:
        case FaultKind::BadCrc:
        case FaultKind::Exception:
        case FaultKind::Slow:
        case FaultKind::Stuck:
        case FaultKind::Disconnect:
            return true;
        default:
            return false;
    }
}

bool is_lorawan_kind(FaultKind kind) {
    switch (kind) {
        case FaultKind::Duplicate:
        case FaultKind::Replay:
        case FaultKind::Silent:
        case FaultKind::Tilt:
        case FaultKind::Garbage:
        case FaultKind::Stuck:
            return true;
        default:
            return false;
    }
}

double parse_double(const std::string& key, const std::string& text) {
    std::size_t used = 0;
    double value = 0.0;
    try {
        value = std::stod(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || used != text.size() || !std::isfinite(value)) {
        throw std::invalid_argument(key + ": not a number: \"" + text + "\"");
    }
    return value;
}

int parse_int(const std::string& key, const std::string& text) {
    const double value = parse_double(key, text);
    if (value != std::floor(value) || std::abs(value) > 1e9) {
        throw std::invalid_argument(key + ": not an integer: \"" + text + "\"");
    }
    return static_cast<int>(value);
}

}  // namespace

std::optional<FaultKind> parse_fault_kind(std::string_view text) {
    for (const auto& entry : kKindNames) {
        if (entry.name == text) return entry.kind;
    }
    return std::nullopt;
}

std::string_view to_string(FaultKind kind) {
    for (const auto& entry : kKindNames) {
        if (entry.kind == kind) return entry.name;
    }
    return "?";
}

std::string_view to_string(DeviceFamily family) {
    switch (family) {
        case DeviceFamily::ModbusRtu:
            return "a Modbus RTU device";
        case DeviceFamily::ModbusTcp:
            return "a Modbus TCP device";
        case DeviceFamily::Lorawan:
            return "a LoRaWAN device";
    }
    return "?";
}

std::string fault_kind_problem(FaultKind kind, DeviceFamily family) {
    if (family == DeviceFamily::Lorawan) {
        if (is_lorawan_kind(kind)) return {};
        return "kind \"" + std::string(to_string(kind)) +
               "\" does not apply to a LoRaWAN device (allowed: duplicate, replay, silent, "
               "tilt, garbage, stuck)";
    }
    if (!is_modbus_kind(kind)) {
        return "kind \"" + std::string(to_string(kind)) + "\" does not apply to " +
               std::string(to_string(family)) +
               " (allowed: timeout, bad_crc, exception, slow, stuck, disconnect)";
    }
    if (kind == FaultKind::BadCrc && family == DeviceFamily::ModbusTcp) {
        return "kind \"bad_crc\" needs an RTU device: Modbus TCP frames carry no CRC";
    }
    return {};
}

std::string fault_parameter_problem(const FaultSpec& spec) {
    if (spec.kind == FaultKind::Exception &&
        (spec.exception_code < kMinExceptionCode || spec.exception_code > kMaxExceptionCode)) {
        return "code: exception code must be in [1, 11], got " +
               std::to_string(spec.exception_code);
    }
    if (spec.kind == FaultKind::Slow && !(spec.delay_ms > 0.0)) {
        return "delay_ms: kind \"slow\" needs delay_ms > 0";
    }
    if (!(spec.probability > 0.0) || spec.probability > 1.0) {
        return "probability: must be in (0, 1]";
    }
    if (spec.replay_back < 1) {
        return "back: must be >= 1";
    }
    if (spec.from_s < 0.0) {
        return "from_s: must be >= 0";
    }
    if (spec.until_s && *spec.until_s <= spec.from_s) {
        return "until_s: must be greater than from_s";
    }
    return {};
}

FaultSpec parse_fault_argument(const std::string& text) {
    const auto first = text.find(':');
    if (first == std::string::npos || first == 0) {
        throw std::invalid_argument("expected DEVICE:KIND[:key=value,...], got \"" + text + "\"");
    }
    FaultSpec spec;
    spec.device = text.substr(0, first);
    const auto second = text.find(':', first + 1);
    const std::string kind_text = text.substr(
        first + 1, second == std::string::npos ? std::string::npos : second - first - 1);
    const auto kind = parse_fault_kind(kind_text);
    if (!kind) {
        throw std::invalid_argument(
            "unknown fault kind \"" + kind_text +
            "\" (expected timeout, bad_crc, exception, slow, stuck, disconnect, duplicate, "
            "replay, silent, tilt or garbage)");
    }
    spec.kind = *kind;
    bool delay_given = false;
    if (second != std::string::npos) {
        const std::string params = text.substr(second + 1);
        std::size_t start = 0;
        while (start <= params.size()) {
            const auto comma = params.find(',', start);
            const std::string pair = params.substr(
                start, comma == std::string::npos ? std::string::npos : comma - start);
            const auto eq = pair.find('=');
            if (eq == std::string::npos || eq == 0) {
                throw std::invalid_argument("expected key=value, got \"" + pair + "\"");
            }
            const std::string key = pair.substr(0, eq);
            const std::string value = pair.substr(eq + 1);
            if (key == "code" && spec.kind == FaultKind::Exception) {
                spec.exception_code = parse_int(key, value);
            } else if (key == "delay_ms" && spec.kind == FaultKind::Slow) {
                spec.delay_ms = parse_double(key, value);
                delay_given = true;
            } else if (key == "back" && spec.kind == FaultKind::Replay) {
                spec.replay_back = parse_int(key, value);
            } else if (key == "probability") {
                spec.probability = parse_double(key, value);
            } else {
                throw std::invalid_argument("key \"" + key + "\" does not apply to kind \"" +
                                            kind_text +
                                            "\" (keys: probability; exception: code; slow: "
                                            "delay_ms; replay: back)");
            }
            if (comma == std::string::npos) break;
            start = comma + 1;
        }
    }
    if (spec.kind == FaultKind::Slow && !delay_given) {
        throw std::invalid_argument("kind \"slow\" needs delay_ms, e.g. " + spec.device +
                                    ":slow:delay_ms=800");
    }
    if (const std::string problem = fault_parameter_problem(spec); !problem.empty()) {
        throw std::invalid_argument(problem);
    }
    return spec;
}

FaultBoard::FaultBoard(std::uint64_t seed) : rng_(seed ^ 0x5EEDFA017ULL) {}

std::size_t FaultBoard::clear(const std::string& device) {
    const auto before = faults_.size();
    faults_.erase(
        std::remove_if(faults_.begin(), faults_.end(),
                       [&](const FaultSpec& f) { return device == "*" || f.device == device; }),
        faults_.end());
    return before - faults_.size();
}

bool FaultBoard::any_active(const std::string& device, FaultKind kind, double elapsed_s) const {
    return std::any_of(faults_.begin(), faults_.end(), [&](const FaultSpec& f) {
        return f.device == device && f.kind == kind && f.active_at(elapsed_s);
    });
}

bool FaultBoard::roll(const FaultSpec& spec) {
    if (spec.probability >= 1.0) return true;
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < spec.probability;
}

ModbusFaultEffect FaultBoard::modbus_effect(const std::string& device, bool is_rtu,
                                            double elapsed_s) {
    ModbusFaultEffect effect;
    for (const auto& f : faults_) {
        if (f.device != device || !f.active_at(elapsed_s) || !roll(f)) continue;
        effect.hit = true;
        switch (f.kind) {
            case FaultKind::Timeout:
                effect.no_reply = true;
                break;
            case FaultKind::Disconnect:
                // An RS-485 slave cannot "close the connection": it just goes quiet.
                (is_rtu ? effect.no_reply : effect.disconnect) = true;
                break;
            case FaultKind::Exception:
                effect.exception_code = f.exception_code;
                break;
            case FaultKind::BadCrc:
                effect.corrupt_crc = true;
                break;
            case FaultKind::Slow:
                effect.extra_delay_ms += f.delay_ms;
                break;
            case FaultKind::Stuck:
                effect.stuck = true;
                break;
            default:
                break;  // LoRaWAN kinds never reach a Modbus device (validated on entry)
        }
    }
    return effect;
}

UplinkFaultEffect FaultBoard::uplink_effect(const std::string& device, double elapsed_s) {
    UplinkFaultEffect effect;
    for (const auto& f : faults_) {
        if (f.device != device || !f.active_at(elapsed_s) || !roll(f)) continue;
        effect.hit = true;
        switch (f.kind) {
            case FaultKind::Silent:
                effect.silent = true;
                break;
            case FaultKind::Duplicate:
                effect.duplicate = true;
                break;
            case FaultKind::Replay:
                effect.replay_back = f.replay_back;
                break;
            case FaultKind::Tilt:
                effect.tilt = true;
                break;
            case FaultKind::Garbage:
                effect.garbage = true;
                break;
            case FaultKind::Stuck:
                effect.stuck = true;
                break;
            default:
                break;
        }
    }
    return effect;
}

std::optional<double> FaultBoard::next_edge_after(double elapsed_s) const {
    std::optional<double> next;
    const auto consider = [&](double edge) {
        if (edge > elapsed_s && (!next || edge < *next)) next = edge;
    };
    for (const auto& f : faults_) {
        consider(f.from_s);
        if (f.until_s) consider(*f.until_s);
    }
    return next;
}

}  // namespace gw::sim
