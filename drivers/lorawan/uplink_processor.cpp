// SPDX-License-Identifier: Apache-2.0
#include "drivers/lorawan/uplink_processor.hpp"

#include <algorithm>
#include <cstdio>

#include "drivers/lorawan/base64.hpp"
#include "drivers/lorawan/chirpstack_event.hpp"

namespace gw::lorawan {

namespace {

using drivers::DeviceSample;
using drivers::PointFault;
using drivers::PointSample;
using Level = LogLine::Level;

/// Bounded, so a flood of foreign devEuis cannot grow memory; beyond it they are only counted.
constexpr std::size_t kMaxUnknownLogged = 256;
/// Bytes of an undecodable payload quoted in its log line.
constexpr std::size_t kMaxQuotedBytes = 24;

std::string hex(const std::vector<std::uint8_t>& bytes) {
    std::string out;
    char pair[3];
    for (std::size_t i = 0; i < bytes.size() && i < kMaxQuotedBytes; ++i) {
        std::snprintf(pair, sizeof pair, "%02x", bytes[i]);
        out += pair;
    }
    if (bytes.size() > kMaxQuotedBytes) out += "...";
    return out;
}

long long whole_seconds(std::chrono::steady_clock::duration d) {
    return static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(d).count());
}

}  // namespace

UplinkProcessor::UplinkProcessor(std::vector<LorawanDevice> devices, ReplayPolicy policy,
                                 SteadyTime start)
    : devices_(std::move(devices)) {
    states_.reserve(devices_.size());
    for (const auto& device : devices_)
        states_.push_back({UplinkFilter(policy),
                           StalenessTracker(device.stale_after, device.interval, start),
                           {},
                           {},
                           false});
}

std::string UplinkProcessor::name(std::size_t index) const {
    return devices_[index].id + " (devEui " + devices_[index].dev_eui + ")";
}

std::optional<std::size_t> UplinkProcessor::find_device(const std::string& dev_eui,
                                                        std::string_view application_id) const {
    for (std::size_t i = 0; i < devices_.size(); ++i) {
        const auto& d = devices_[i];
        if (d.dev_eui == dev_eui && (d.application_id == "+" || d.application_id == application_id))
            return i;
    }
    return std::nullopt;
}

DeviceSample UplinkProcessor::failed_sample(std::size_t index, PointFault fault,
                                            const std::string& error, WallTime wall,
                                            SteadyTime mono) const {
    DeviceSample sample;
    sample.device_index = index;
    sample.sampled_at = wall;
    sample.sampled_mono = mono;
    sample.error = error;
    PointSample point;
    point.fault = fault;
    point.error = error;
    sample.points.assign(devices_[index].codec->points.size(), point);
    return sample;
}

DeviceCounters UplinkProcessor::counters(std::size_t device_index) const {
    const DeviceState& state = states_.at(device_index);
    DeviceCounters counters = state.counters;
    counters.last_f_cnt = state.filter.last_f_cnt();
    counters.stale = state.staleness.stale();
    return counters;
}

UplinkProcessor::SteadyTime UplinkProcessor::next_stale_due() const {
    SteadyTime next = SteadyTime::max();
    for (const auto& state : states_) next = std::min(next, state.staleness.next_due());
    return next;
}

UplinkProcessor::Output UplinkProcessor::on_message(std::string_view topic,
                                                    std::string_view payload, WallTime wall,
                                                    SteadyTime mono) {
    Output out;
    ++source_counters_.messages;
    const auto parsed_topic = parse_event_topic(topic);
    if (!parsed_topic) {
        unattributed("message on unexpected topic \"" + std::string(topic) + "\"", out);
        return out;
    }
    if (parsed_topic->event == "up")
        on_uplink(parsed_topic->dev_eui, parsed_topic->application_id, payload, wall, mono, out);
    else if (parsed_topic->event == "join")
        on_join(parsed_topic->application_id, payload, out);
    return out;  // other events (status, ack, log, ...) are not subscribed; ignore if they come
}

void UplinkProcessor::unattributed(const std::string& what, Output& out) {
    ++source_counters_.unattributed_errors;
    out.logs.push_back({Level::Debug, what + ": ignored"});
}

void UplinkProcessor::decode_error(std::size_t index, const std::string& kind,
                                   const std::string& reason, Output& out) {
    DeviceState& state = states_[index];
    ++state.counters.decode_errors;
    state.counters.last_error = reason;
    if (state.problem != kind)
        out.logs.push_back({Level::Warn, name(index) + ": " + reason +
                                             " (repeats are counted in decode_errors, not "
                                             "logged)"});
    else
        out.logs.push_back({Level::Debug, name(index) + ": " + reason});
    state.problem = kind;
}

void UplinkProcessor::on_uplink(std::string_view topic_dev_eui, std::string_view application_id,
                                std::string_view payload, WallTime wall, SteadyTime mono,
                                Output& out) {
    const auto dev_eui = normalize_dev_eui(topic_dev_eui);
    if (!dev_eui) {
        unattributed(
            "uplink topic devEui \"" + std::string(topic_dev_eui) + "\" is not 16 hex digits", out);
        return;
    }
    const auto found = find_device(*dev_eui, application_id);
    if (!found) {
        ++source_counters_.unknown_devices;
        if (unknown_logged_.size() < kMaxUnknownLogged && unknown_logged_.insert(*dev_eui).second)
            out.logs.push_back({Level::Info, "uplink from devEui " + *dev_eui + " (application " +
                                                 std::string(application_id) +
                                                 ") which is not configured: ignored (counted "
                                                 "as unknown_devices, logged once)"});
        return;
    }
    const std::size_t index = *found;
    DeviceState& state = states_[index];
    DeviceCounters& counters = state.counters;

    const ParsedUplink parsed = parse_uplink_event(payload);
    if (!parsed.event) {
        decode_error(index, "event", "unusable uplink event: " + parsed.error, out);
        return;
    }
    const UplinkEvent& event = *parsed.event;
    if (event.dev_eui != *dev_eui) {
        decode_error(index, "event",
                     "unusable uplink event: deviceInfo.devEui " + event.dev_eui +
                         " differs from the topic's",
                     out);
        return;
    }

    const SteadyTime previous_uplink = counters.last_uplink_at.value_or(mono);
    const auto last_f_cnt = state.filter.last_f_cnt();
    switch (state.filter.check(event.deduplication_id, event.f_cnt, mono)) {
        case UplinkVerdict::Duplicate:
            ++counters.duplicates;
            out.logs.push_back({Level::Debug, name(index) + ": duplicate uplink fCnt " +
                                                  std::to_string(event.f_cnt) +
                                                  " (deduplicationId " + event.deduplication_id +
                                                  ") dropped"});
            return;
        case UplinkVerdict::Replay:
            ++counters.replays;
            counters.last_error = "replayed uplink: fCnt " + std::to_string(event.f_cnt) +
                                  " is below the last accepted fCnt " +
                                  std::to_string(last_f_cnt.value_or(0));
            out.logs.push_back(
                {state.replaying ? Level::Debug : Level::Warn,
                 name(index) + ": " + counters.last_error + " (deduplicationId " +
                     event.deduplication_id + "): dropped" +
                     (state.replaying ? "" : " (repeats are counted in replays, not logged)")});
            state.replaying = true;
            return;
        case UplinkVerdict::AcceptedReset:
            ++counters.fcnt_resets;
            out.logs.push_back(
                {Level::Info, name(index) + ": frame counter restarted (fCnt " +
                                  std::to_string(last_f_cnt.value_or(0)) + " -> " +
                                  std::to_string(event.f_cnt) + " after " +
                                  std::to_string(whole_seconds(mono - previous_uplink)) +
                                  " s): new session after a rejoin, accepted"});
            break;
        case UplinkVerdict::Accepted:
            break;
    }

    ++counters.uplinks;
    state.replaying = false;
    counters.last_uplink_at = mono;
    if (event.rssi) counters.last_rssi = event.rssi;
    if (event.snr) counters.last_snr = event.snr;
    const auto silent_for = mono - state.staleness.last_heard();
    if (state.staleness.heard(mono))
        out.logs.push_back({Level::Info, name(index) + ": uplink again after " +
                                             std::to_string(whole_seconds(silent_for)) +
                                             " s of silence: no longer stale"});

    const Codec& codec = *devices_[index].codec;
    const auto bytes = decode_base64(event.data_base64);
    if (!bytes) {
        const std::string reason =
            "fCnt " + std::to_string(event.f_cnt) + ": data is not valid base64";
        decode_error(index, "base64", reason, out);
        DeviceSample sample = failed_sample(index, PointFault::Decode, reason, wall, mono);
        sample.ok = true;  // the device did report; its payload is what failed
        out.samples.push_back(std::move(sample));
        return;
    }
    CodecResult decoded = codec.decode(*bytes, event.f_port);
    if (!decoded.ok) {
        const std::string reason = "fCnt " + std::to_string(event.f_cnt) + ": payload " +
                                   hex(*bytes) + " is not " + codec.name + ": " + decoded.error;
        decode_error(index, "payload", reason, out);
        DeviceSample sample = failed_sample(index, PointFault::Decode, reason, wall, mono);
        sample.ok = true;
        out.samples.push_back(std::move(sample));
        return;
    }
    if (!state.problem.empty()) {
        out.logs.push_back({Level::Info, name(index) + ": uplinks decode again (" +
                                             std::to_string(counters.decode_errors) +
                                             " decode error(s) so far)"});
        state.problem.clear();
    }
    if (!decoded.note.empty())
        out.logs.push_back({Level::Debug, name(index) + ": fCnt " + std::to_string(event.f_cnt) +
                                              ": " + decoded.note});
    if (!decoded.measured) {
        out.logs.push_back({Level::Debug, name(index) + ": fCnt " + std::to_string(event.f_cnt) +
                                              " carries device information only"});
        return;
    }
    DeviceSample sample;
    sample.device_index = index;
    sample.sampled_at = wall;
    sample.sampled_mono = mono;
    sample.ok = true;
    sample.points = std::move(decoded.points);
    out.samples.push_back(std::move(sample));
}

void UplinkProcessor::on_join(std::string_view application_id, std::string_view payload,
                              Output& out) {
    const ParsedJoin parsed = parse_join_event(payload);
    if (!parsed.event) {
        unattributed("unusable join event: " + parsed.error, out);
        return;
    }
    const auto found = find_device(parsed.event->dev_eui, application_id);
    if (!found) return;  // foreign devices' joins are none of our business
    DeviceState& state = states_[*found];
    state.filter.joined();
    ++state.counters.joins;
    out.logs.push_back(
        {Level::Info, name(*found) + ": joined the network: its frame counter restarts"});
}

UplinkProcessor::Output UplinkProcessor::take_stale(WallTime wall, SteadyTime mono) {
    Output out;
    for (std::size_t i = 0; i < states_.size(); ++i) {
        DeviceState& state = states_[i];
        const bool was_stale = state.staleness.stale();
        const auto silent_for = state.staleness.take_due(mono);
        if (!silent_for) continue;
        ++state.counters.stale_samples;
        const std::string error = "no uplink for " + std::to_string(silent_for->count()) + " s";
        if (!was_stale)
            out.logs.push_back({Level::Warn, name(i) + ": " + error + " (stale_after_s " +
                                                 std::to_string(devices_[i].stale_after.count()) +
                                                 "): stale, reported as a fault every " +
                                                 std::to_string(devices_[i].interval.count()) +
                                                 " s until it is heard again"});
        DeviceSample sample = failed_sample(i, PointFault::Stale, error, wall, mono);
        sample.stale = true;
        out.samples.push_back(std::move(sample));
    }
    return out;
}

}  // namespace gw::lorawan
