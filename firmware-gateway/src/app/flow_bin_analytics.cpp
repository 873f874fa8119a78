// SPDX-License-Identifier: Apache-2.0
#include "app/flow_bin_analytics.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

#include "analytics/sensor_units.hpp"
#include "core/log.hpp"
#include "core/time_format.hpp"

namespace gw {

namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;
namespace an = analytics;

constexpr const char* kTag = "analytics";
constexpr int kStateVersion = 1;
/// Decoded vectors longer than this are not ours (FillHistory caps at max_samples, FireState at
/// 32): refusing them keeps a corrupted row from costing memory.
constexpr std::size_t kMaxDecodedSamples = 100'000;

ordered_json optional_number(const std::optional<double>& v) {
    return v ? ordered_json(*v) : ordered_json(nullptr);
}

ordered_json optional_seconds(const std::optional<std::int64_t>& ms) {
    return ms ? ordered_json(*ms / 1000) : ordered_json(nullptr);
}

std::int64_t floor_to(std::int64_t t_ms, std::int64_t step_ms) {
    const std::int64_t r = t_ms % step_ms;
    return r < 0 ? t_ms - r - step_ms : t_ms - r;
}

std::int64_t wall_clock_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// --- typed reads for the decoders ---------------------------------------------------------------

/// Reads members of one JSON object; any missing or mistyped member makes ok() false.
template <typename Json>
class BasicReader {
public:
    explicit BasicReader(const Json& j) : j_(j), ok_(j.is_object()) {}
    bool ok() const { return ok_; }

    const Json* member(const char* key) {
        if (!ok_) return nullptr;
        const auto it = j_.find(key);
        if (it == j_.end()) {
            ok_ = false;
            return nullptr;
        }
        return &*it;
    }
    void boolean(const char* key, bool& out) {
        const Json* v = member(key);
        if (v == nullptr || !v->is_boolean()) return fail();
        out = v->template get<bool>();
    }
    void number(const char* key, double& out) {
        const Json* v = member(key);
        if (v == nullptr || !v->is_number() || !std::isfinite(v->template get<double>()))
            return fail();
        out = v->template get<double>();
    }
    void integer(const char* key, std::int64_t& out) {
        const Json* v = member(key);
        if (v == nullptr || !v->is_number_integer()) return fail();
        if (v->is_number_unsigned() && v->template get<std::uint64_t>() > INT64_MAX) return fail();
        out = v->template get<std::int64_t>();
    }
    template <typename U>
    void unsigned_int(const char* key, U& out) {
        const Json* v = member(key);
        if (v == nullptr || !v->is_number_integer()) return fail();
        if (!v->is_number_unsigned() && v->template get<std::int64_t>() < 0) return fail();
        const auto value = v->template get<std::uint64_t>();
        if (value > std::numeric_limits<U>::max()) return fail();
        out = static_cast<U>(value);
    }
    template <typename E>
    void enumeration(const char* key, E& out, int max) {
        std::int64_t value = 0;
        integer(key, value);
        if (!ok_ || value < 0 || value > max) return fail();
        out = static_cast<E>(value);
    }
    /// An array of [t_ms, value] pairs with strictly increasing times.
    template <typename Sample, typename Make>
    void samples(const char* key, std::vector<Sample>& out, Make make) {
        const Json* v = member(key);
        if (v == nullptr || !v->is_array() || v->size() > kMaxDecodedSamples) return fail();
        std::vector<Sample> result;
        std::int64_t last = std::numeric_limits<std::int64_t>::min();
        for (const Json& pair : *v) {
            if (!pair.is_array() || pair.size() != 2 || !pair[0].is_number_integer() ||
                !pair[1].is_number() || !std::isfinite(pair[1].template get<double>()))
                return fail();
            const auto t = pair[0].template get<std::int64_t>();
            if (t <= last) return fail();
            last = t;
            result.push_back(make(t, pair[1].template get<double>()));
        }
        out = std::move(result);
    }
    void fail() { ok_ = false; }

private:
    const Json& j_;
    bool ok_;
};

using Reader = BasicReader<json>;

json encode_accumulator(const an::FlowWindowAccumulator& a) {
    return {{"active", a.active},
            {"start_ms", a.start_ms},
            {"totaliser_m3", a.totaliser_m3},
            {"totaliser_unattributed_m3", a.totaliser_unattributed_m3},
            {"totaliser_readings", a.totaliser_readings},
            {"totaliser_deltas", a.totaliser_deltas},
            {"integrated_m3", a.integrated_m3},
            {"covered_ms", a.covered_ms},
            {"flow_samples", a.flow_samples},
            {"flags", a.flags}};
}

bool decode_accumulator(const json* j, an::FlowWindowAccumulator& out) {
    if (j == nullptr) return false;
    Reader r(*j);
    an::FlowWindowAccumulator a;
    r.boolean("active", a.active);
    r.integer("start_ms", a.start_ms);
    r.number("totaliser_m3", a.totaliser_m3);
    r.number("totaliser_unattributed_m3", a.totaliser_unattributed_m3);
    r.unsigned_int("totaliser_readings", a.totaliser_readings);
    r.unsigned_int("totaliser_deltas", a.totaliser_deltas);
    r.number("integrated_m3", a.integrated_m3);
    r.integer("covered_ms", a.covered_ms);
    r.unsigned_int("flow_samples", a.flow_samples);
    r.unsigned_int("flags", a.flags);
    if (!r.ok()) return false;
    out = a;
    return true;
}

json encode_totaliser(const an::TotaliserState& t) {
    return {{"has_last", t.has_last},
            {"last_m3", t.last_m3},
            {"last_ms", t.last_ms},
            {"has_before_jump", t.has_before_jump},
            {"before_jump_m3", t.before_jump_m3},
            {"before_jump_ms", t.before_jump_ms},
            {"rollovers", t.rollovers},
            {"resets", t.resets},
            {"jumps", t.jumps},
            {"spikes", t.spikes},
            {"invalid", t.invalid}};
}

bool decode_totaliser(const json* j, an::TotaliserState& out) {
    if (j == nullptr) return false;
    Reader r(*j);
    an::TotaliserState t;
    r.boolean("has_last", t.has_last);
    r.number("last_m3", t.last_m3);
    r.integer("last_ms", t.last_ms);
    r.boolean("has_before_jump", t.has_before_jump);
    r.number("before_jump_m3", t.before_jump_m3);
    r.integer("before_jump_ms", t.before_jump_ms);
    r.unsigned_int("rollovers", t.rollovers);
    r.unsigned_int("resets", t.resets);
    r.unsigned_int("jumps", t.jumps);
    r.unsigned_int("spikes", t.spikes);
    r.unsigned_int("invalid", t.invalid);
    if (!r.ok()) return false;
    out = t;
    return true;
}

ordered_json encode_active(const std::string& alarm, std::int64_t since_ms,
                           const std::optional<double>& value, const std::optional<double>& limit,
                           const std::string& bound, const ordered_json& detail) {
    return {{"alarm", alarm},
            {"since_ms", since_ms},
            {"value", optional_number(value)},
            {"limit", optional_number(limit)},
            {"bound", bound},
            {"detail", detail}};
}

}  // namespace

// --- state serialisation ------------------------------------------------------------------------

namespace flow_bin_state {

json encode(const an::AlarmState& s) {
    return {{"phase", static_cast<int>(s.phase)},
            {"side", static_cast<int>(s.side)},
            {"excursion_since_ms", s.excursion_since_ms},
            {"clearing_since_ms", s.clearing_since_ms},
            {"extreme", s.extreme},
            {"has_last_good", s.has_last_good},
            {"last_good_ms", s.last_good_ms}};
}

bool decode(const json& j, an::AlarmState& out) {
    Reader r(j);
    an::AlarmState s;
    r.enumeration("phase", s.phase, 3);
    r.enumeration("side", s.side, 1);
    r.integer("excursion_since_ms", s.excursion_since_ms);
    r.integer("clearing_since_ms", s.clearing_since_ms);
    r.number("extreme", s.extreme);
    r.boolean("has_last_good", s.has_last_good);
    r.integer("last_good_ms", s.last_good_ms);
    if (!r.ok()) return false;
    out = s;
    return true;
}

json encode(const an::FlowVolumeState& s) {
    return {{"totaliser", encode_totaliser(s.totaliser)},
            {"has_flow", s.has_flow},
            {"flow_ms", s.flow_ms},
            {"flow_m3_h", s.flow_m3_h},
            {"open", encode_accumulator(s.open)},
            {"next", encode_accumulator(s.next)},
            {"emitted_until_ms", s.emitted_until_ms}};
}

bool decode(const json& j, an::FlowVolumeState& out) {
    Reader r(j);
    an::FlowVolumeState s;
    if (!decode_totaliser(r.member("totaliser"), s.totaliser)) return false;
    r.boolean("has_flow", s.has_flow);
    r.integer("flow_ms", s.flow_ms);
    r.number("flow_m3_h", s.flow_m3_h);
    if (!decode_accumulator(r.member("open"), s.open)) return false;
    if (!decode_accumulator(r.member("next"), s.next)) return false;
    r.integer("emitted_until_ms", s.emitted_until_ms);
    if (!r.ok()) return false;
    out = s;
    return true;
}

json encode(const an::NightMinimumState& s) {
    return {{"has_day", s.has_day},
            {"day", s.day},
            {"has_bucket", s.has_bucket},
            {"bucket_start_ms", s.bucket_start_ms},
            {"bucket_sum_m3_h", s.bucket_sum_m3_h},
            {"bucket_samples", s.bucket_samples},
            {"has_min", s.has_min},
            {"min_m3_h", s.min_m3_h},
            {"min_bucket_start_ms", s.min_bucket_start_ms},
            {"buckets_used", s.buckets_used},
            {"emitted", s.emitted}};
}

bool decode(const json& j, an::NightMinimumState& out) {
    Reader r(j);
    an::NightMinimumState s;
    r.boolean("has_day", s.has_day);
    r.integer("day", s.day);
    r.boolean("has_bucket", s.has_bucket);
    r.integer("bucket_start_ms", s.bucket_start_ms);
    r.number("bucket_sum_m3_h", s.bucket_sum_m3_h);
    r.unsigned_int("bucket_samples", s.bucket_samples);
    r.boolean("has_min", s.has_min);
    r.number("min_m3_h", s.min_m3_h);
    r.integer("min_bucket_start_ms", s.min_bucket_start_ms);
    r.unsigned_int("buckets_used", s.buckets_used);
    r.boolean("emitted", s.emitted);
    if (!r.ok()) return false;
    out = s;
    return true;
}

json encode(const an::RainHistory& s) {
    return {{"has_data", s.has_data}, {"newest_hour", s.newest_hour}, {"bucket_mm", s.bucket_mm}};
}

bool decode(const json& j, an::RainHistory& out) {
    Reader r(j);
    an::RainHistory s;
    r.boolean("has_data", s.has_data);
    r.integer("newest_hour", s.newest_hour);
    const json* buckets = r.member("bucket_mm");
    if (!r.ok() || !buckets->is_array() || buckets->size() != s.bucket_mm.size()) return false;
    for (std::size_t i = 0; i < s.bucket_mm.size(); ++i) {
        const json& v = (*buckets)[i];
        if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0.0)
            return false;
        s.bucket_mm[i] = v.get<double>();
    }
    out = s;
    return true;
}

json encode(const an::FillHistory& s) {
    json samples = json::array();
    for (const auto& p : s.samples) samples.push_back({p.t_ms, p.fill_pct});
    return {{"samples", std::move(samples)},
            {"emptyings", s.emptyings},
            {"has_emptied", s.has_emptied},
            {"last_emptied_ms", s.last_emptied_ms}};
}

bool decode(const json& j, an::FillHistory& out) {
    Reader r(j);
    an::FillHistory s;
    r.samples("samples", s.samples, [](std::int64_t t, double v) { return an::FillSample{t, v}; });
    r.unsigned_int("emptyings", s.emptyings);
    r.boolean("has_emptied", s.has_emptied);
    r.integer("last_emptied_ms", s.last_emptied_ms);
    if (!r.ok()) return false;
    out = std::move(s);
    return true;
}

json encode(const an::FireState& s) {
    json recent = json::array();
    for (const auto& p : s.recent) recent.push_back({p.t_ms, p.degC});
    return {{"recent", std::move(recent)},
            {"has_last", s.has_last},
            {"last_ms", s.last_ms},
            {"alarm", s.alarm},
            {"calm", s.calm},
            {"calm_since_ms", s.calm_since_ms}};
}

bool decode(const json& j, an::FireState& out) {
    Reader r(j);
    an::FireState s;
    r.samples("recent", s.recent, [](std::int64_t t, double v) {
        return an::TemperatureSample{t, v};
    });
    r.boolean("has_last", s.has_last);
    r.integer("last_ms", s.last_ms);
    r.boolean("alarm", s.alarm);
    r.boolean("calm", s.calm);
    r.integer("calm_since_ms", s.calm_since_ms);
    if (!r.ok()) return false;
    out = std::move(s);
    return true;
}

json encode(const an::TiltState& s) {
    return {{"alarm", s.alarm},
            {"has_last", s.has_last},
            {"last_ms", s.last_ms},
            {"tilted", s.tilted},
            {"tilted_since_ms", s.tilted_since_ms},
            {"reason", static_cast<int>(s.reason)},
            {"value", s.value}};
}

bool decode(const json& j, an::TiltState& out) {
    Reader r(j);
    an::TiltState s;
    r.boolean("alarm", s.alarm);
    r.boolean("has_last", s.has_last);
    r.integer("last_ms", s.last_ms);
    r.boolean("tilted", s.tilted);
    r.integer("tilted_since_ms", s.tilted_since_ms);
    r.enumeration("reason", s.reason, static_cast<int>(an::BinAlarmReason::Cleared));
    r.number("value", s.value);
    if (!r.ok()) return false;
    out = s;
    return true;
}

}  // namespace flow_bin_state

std::string local_date_text(std::int64_t day) {
    // Days since 1970-01-01 to the proleptic Gregorian date (H. Hinnant, civil_from_days).
    const std::int64_t z = day + 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const std::int64_t doe = z - era * 146097;
    const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const std::int64_t mp = (5 * doy + 2) / 153;
    const std::int64_t d = doy - (153 * mp + 2) / 5 + 1;
    const std::int64_t m = mp < 10 ? mp + 3 : mp - 9;
    const std::int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
    char text[64];
    std::snprintf(text, sizeof text, "%04lld-%02lld-%02lld", static_cast<long long>(y),
                  static_cast<long long>(m), static_cast<long long>(d));
    return text;
}

// --- FlowBinAnalytics ---------------------------------------------------------------------------

FlowBinAnalytics::FlowBinAnalytics(const Config& config,
                                   std::function<nlohmann::ordered_json()> message_base)
    : config_(config), message_base_(std::move(message_base)), routes_(config.sensors.size()) {
    const auto& a = config_.analytics;
    auto route = [&](std::optional<std::size_t> sensor, Input input, std::size_t index) {
        if (sensor && *sensor < routes_.size()) routes_[*sensor].push_back({input, index});
    };
    auto flow_factor = [&](std::optional<std::size_t> sensor) {
        if (!sensor || *sensor >= config_.sensors.size()) return 1.0;
        return an::volume_flow_factor_to_m3_h(config_.sensors[*sensor].unit).value_or(1.0);
    };
    meters_.reserve(a.flow_meters.size());
    for (std::size_t i = 0; i < a.flow_meters.size(); ++i) {
        const FlowMeterConfig& c = a.flow_meters[i];
        meters_.emplace_back(c);
        meters_.back().flow_factor = flow_factor(c.flow_sensor);
        route(c.flow_sensor, Input::MeterFlow, i);
        route(c.totaliser_sensor, Input::MeterTotaliser, i);
    }
    for (std::size_t i = 0; i < a.outfalls.size(); ++i) {
        const OutfallConfig& c = a.outfalls[i];
        Outfall o;
        o.config = &c;
        o.flow_factor = flow_factor(c.flow_sensor);
        outfalls_.push_back(std::move(o));
        route(c.flow_sensor, Input::OutfallFlow, i);
        route(c.rain_sensor, Input::OutfallRain, i);
    }
    for (std::size_t i = 0; i < a.bins.size(); ++i) {
        const BinConfig& c = a.bins[i];
        Bin b;
        b.config = &c;
        bins_.push_back(std::move(b));
        route(c.fill_sensor, Input::BinFill, i);
        route(c.temperature_sensor, Input::BinTemperature, i);
        route(c.tilt_sensor, Input::BinTilt, i);
    }
}

void FlowBinAnalytics::on_reading(const Reading& reading, std::vector<AnalyticsMessage>& out) {
    if (reading.sensor_index >= routes_.size() || routes_[reading.sensor_index].empty()) return;
    // A held reading's time is about to be corrected: it comes again, re-timed (Corrected).
    // Unsynchronised readings are used like the data windows use them: the board's best time.
    if (reading.clock == ClockState::Held) {
        ++held_readings_;
        return;
    }
    const std::int64_t t_ms = unix_ms(reading.sampled_at);
    const bool usable = reading.quality == SampleQuality::Good && !reading.calibrating &&
                        std::isfinite(reading.value);
    for (const Route& route : routes_[reading.sensor_index])
        feed(route, t_ms, usable, reading.value, out);
}

void FlowBinAnalytics::feed(const Route& route, std::int64_t t_ms, bool usable, double value,
                            std::vector<AnalyticsMessage>& out) {
    switch (route.input) {
        case Input::MeterFlow:
        case Input::MeterTotaliser: {
            Meter& m = meters_[route.index];
            if (!usable) {
                ++m.no_data;
                return;
            }
            m.changed = true;
            if (route.input == Input::MeterTotaliser) {
                emit_windows(m, m.tracker.add_totaliser(t_ms, value), out);
                return;
            }
            const double flow_m3_h = value * m.flow_factor;
            emit_windows(m, m.tracker.add_flow(t_ms, flow_m3_h), out);
            if (m.config->night_minimum) {
                if (auto night =
                        an::night_minimum_step(*m.config->night_minimum, m.night, t_ms, flow_m3_h))
                    emit_night(m, *night, out);
            }
            return;
        }
        case Input::OutfallFlow: {
            Outfall& o = outfalls_[route.index];
            if (!usable) {
                ++o.no_data;
                return;
            }
            const auto& d = o.config->discharge;
            std::optional<double> rain_mm;
            if (o.config->rain_sensor) {
                // A gauge whose last reading was unusable is unknown weather: not dry.
                rain_mm = o.rain_unknown ? std::numeric_limits<double>::quiet_NaN()
                                         : an::rain_total_mm(o.rain, t_ms, d.rain_lookback_hours);
            }
            const double flow_m3_h = value * o.flow_factor;
            o.changed = true;
            if (auto t = an::dry_discharge_step(d, o.discharge, t_ms, flow_m3_h, rain_mm))
                outfall_transition(o, *t, flow_m3_h, rain_mm, out);
            return;
        }
        case Input::OutfallRain: {
            Outfall& o = outfalls_[route.index];
            if (o.rain_unknown == usable) o.changed = true;
            o.rain_unknown = !usable;
            if (!usable) {
                ++o.no_data;
                return;
            }
            an::rain_add(o.rain, t_ms, value);
            o.changed = true;
            return;
        }
        case Input::BinFill: {
            Bin& b = bins_[route.index];
            if (!usable) {
                ++b.no_data;
                return;
            }
            // A tilted sensor measures to a wall, not to the waste (DOMAIN.md §3.3).
            if (b.tilt.tilted) {
                ++b.skipped_tilted;
                return;
            }
            // The history holds max_samples over lookback_ms: a 1 s Modbus poll is thinned to
            // one sample per lookback / max_samples (5 min), an emptying is kept at once.
            const auto& fc = b.config->fill;
            const std::int64_t spacing_ms =
                fc.max_samples > 0 ? fc.lookback_ms / static_cast<std::int64_t>(fc.max_samples) : 0;
            if (!b.fill.samples.empty()) {
                const an::FillSample& last = b.fill.samples.back();
                const bool emptying = last.fill_pct - value > fc.emptying_drop_pct;
                if (t_ms - last.t_ms < spacing_ms && !emptying) return;
            }
            an::fill_add(fc, b.fill, t_ms, value);
            b.changed = true;
            update_collection(std::max(t_ms, last_tick_ms_), false, false, out);
            return;
        }
        case Input::BinTemperature: {
            Bin& b = bins_[route.index];
            if (!usable) {
                ++b.no_data;
                return;
            }
            b.changed = true;
            if (auto t = an::fire_step(b.config->fire, b.fire, t_ms, value))
                fire_transition(b, *t, value, out);
            return;
        }
        case Input::BinTilt: {
            Bin& b = bins_[route.index];
            if (!usable) {
                ++b.no_data;
                return;
            }
            const bool angle = b.config->tilt_sensor &&
                               an::is_angle_deg(config_.sensors[*b.config->tilt_sensor].unit);
            const std::optional<bool> flag =
                angle ? std::nullopt : std::optional<bool>(value >= 0.5);
            const std::optional<double> angle_deg =
                angle ? std::optional<double>(value) : std::nullopt;
            b.changed = true;
            if (auto t = an::tilt_step(b.config->tilt, b.tilt, t_ms, flag, angle_deg))
                tilt_transition(b, *t, out);
            return;
        }
    }
}

void FlowBinAnalytics::on_tick(std::int64_t now_ms, std::vector<AnalyticsMessage>& out) {
    last_tick_ms_ = now_ms;
    for (Meter& m : meters_) {
        auto windows = m.tracker.close_due(now_ms);
        if (!windows.empty()) m.changed = true;
        emit_windows(m, windows, out);
        if (m.config->night_minimum) {
            const an::NightMinimumState before = m.night;
            if (auto night = an::night_minimum_tick(*m.config->night_minimum, m.night, now_ms))
                emit_night(m, *night, out);
            if (m.night.has_day != before.has_day || m.night.day != before.day ||
                m.night.emitted != before.emitted)
                m.changed = true;
        }
    }
    // Bin status once per closed hour: at the boundary, with the assessment as of then.
    const std::int64_t hour_ms = floor_to(now_ms, an::kMsPerHour);
    for (Bin& b : bins_) {
        if (b.has_status_hour && b.status_hour_ms >= hour_ms) continue;
        // A fresh start waits for the next boundary; a restart catches up on the last one.
        const bool publish = b.has_status_hour;
        b.has_status_hour = true;
        b.status_hour_ms = hour_ms;
        b.changed = true;
        if (publish && !b.fill.samples.empty()) {
            out.push_back(bin_status(b, hour_ms));
            ++b.statuses;
        }
    }
    if (!bins_.empty()) {
        // After a cut-off the list is for the next round: always republished.
        const bool cutoff_passed = collect_body_.is_null() || now_ms > collect_cutoff_ms_;
        const bool refresh = hour_ms > collect_refresh_hour_ms_;
        collect_refresh_hour_ms_ = std::max(collect_refresh_hour_ms_, hour_ms);
        update_collection(now_ms, cutoff_passed, refresh, out);
    }
}

void FlowBinAnalytics::emit_windows(Meter& meter, const std::vector<an::FlowWindowVolume>& windows,
                                    std::vector<AnalyticsMessage>& out) {
    const FlowMeterConfig& c = *meter.config;
    for (const an::FlowWindowVolume& w : windows) {
        std::uint32_t flags = w.flags;
        // A stream that is not configured has no data by construction: not worth a flag.
        if (!c.totaliser_sensor) flags &= ~static_cast<std::uint32_t>(an::kFlowTotaliserNoData);
        if (!c.flow_sensor)
            flags &=
                ~static_cast<std::uint32_t>(an::kFlowIntegratedNoData | an::kFlowIntegratedGap);
        const bool totaliser = c.totaliser_sensor && (w.flags & an::kFlowTotaliserNoData) == 0;
        const bool integrated = c.flow_sensor && (w.flags & an::kFlowIntegratedNoData) == 0;
        ordered_json body = message_base_();
        body["meter"] = c.id;
        body["window_start"] = format_rfc3339_utc(w.start_ms);
        body["window_end"] = format_rfc3339_utc(w.end_ms);
        body["window_s"] = (w.end_ms - w.start_ms) / 1000;
        body["totaliser_m3"] = totaliser ? ordered_json(w.totaliser_m3) : ordered_json(nullptr);
        body["totaliser_unattributed_m3"] =
            c.totaliser_sensor ? ordered_json(w.totaliser_unattributed_m3) : ordered_json(nullptr);
        body["totaliser_readings"] = w.totaliser_readings;
        body["integrated_m3"] = integrated ? ordered_json(w.integrated_m3) : ordered_json(nullptr);
        body["integrated_coverage"] =
            c.flow_sensor ? ordered_json(w.integrated_coverage) : ordered_json(nullptr);
        body["flow_samples"] = w.flow_samples;
        const auto names = an::flow_flag_names(flags);
        body["flags"] = names;
        for (const auto& name : names) ++meter.flags[name];
        ++meter.windows;
        out.push_back({config_.topic_root() + "/flow/" + c.id, std::move(body),
                       AnalyticsMessage::Route::Stored});
    }
}

void FlowBinAnalytics::emit_night(Meter& meter, const an::NightMinimum& night,
                                  std::vector<AnalyticsMessage>& out) {
    const auto& n = *meter.config->night_minimum;
    ordered_json body = message_base_();
    body["meter"] = meter.config->id;
    body["day"] = local_date_text(night.day);
    body["min_flow_m3_h"] = optional_number(night.min_m3_h);
    body["bucket_start"] = night.min_m3_h
                               ? ordered_json(format_rfc3339_utc(night.min_bucket_start_ms))
                               : ordered_json(nullptr);
    body["start_hour"] = n.start_hour;
    body["end_hour"] = n.end_hour;
    body["buckets_used"] = night.buckets_used;
    body["buckets_expected"] = night.buckets_expected;
    ++meter.nights;
    meter.changed = true;
    out.push_back({config_.topic_root() + "/flow/" + meter.config->id + "/night_minimum",
                   std::move(body), AnalyticsMessage::Route::Stored});
}

// --- alarms -------------------------------------------------------------------------------------

AnalyticsMessage FlowBinAnalytics::alarm_event(const std::string& subject, const ActiveAlarm& alarm,
                                               bool raised, std::int64_t at_ms,
                                               std::int64_t since_ms, std::optional<double> value,
                                               std::optional<double> limit) const {
    ordered_json body = message_base_();
    body["time"] = format_rfc3339_utc(at_ms);
    body["subject"] = subject;
    body["alarm"] = alarm.alarm;
    body["state"] = raised ? "raised" : "cleared";
    body["value"] = optional_number(value);
    body["limit"] = optional_number(limit);
    body["bound"] = alarm.bound.empty() ? ordered_json(nullptr) : ordered_json(alarm.bound);
    body["since"] = format_rfc3339_utc(since_ms);
    body["indicative"] = false;  // judged on the samples themselves
    body["basis"] = "sample";
    body["detail"] = alarm.detail;
    return {config_.topic_root() + "/alarm/" + subject, std::move(body),
            AnalyticsMessage::Route::Stored};
}

AnalyticsMessage FlowBinAnalytics::alarm_state(const std::string& subject,
                                               const std::vector<const ActiveAlarm*>& active,
                                               std::int64_t time_ms) const {
    ordered_json list = ordered_json::array();
    for (const ActiveAlarm* a : active) {
        list.push_back(
            {{"alarm", a->alarm},
             {"since", format_rfc3339_utc(a->since_ms)},
             {"value", optional_number(a->value)},
             {"limit", optional_number(a->limit)},
             {"bound", a->bound.empty() ? ordered_json(nullptr) : ordered_json(a->bound)},
             {"detail", a->detail}});
    }
    ordered_json body = message_base_();
    body["time"] = format_rfc3339_utc(time_ms != 0 ? time_ms : wall_clock_ms());
    body["subject"] = subject;
    body["active"] = std::move(list);
    return {config_.topic_root() + "/alarm/" + subject + "/state", std::move(body),
            AnalyticsMessage::Route::Retained};
}

AnalyticsMessage FlowBinAnalytics::outfall_state(const Outfall& o) const {
    std::vector<const ActiveAlarm*> active;
    if (o.active) active.push_back(&*o.active);
    return alarm_state(o.config->id, active, o.state_time_ms);
}

AnalyticsMessage FlowBinAnalytics::bin_state(const Bin& b) const {
    std::vector<const ActiveAlarm*> active;
    if (b.fire_active) active.push_back(&*b.fire_active);
    if (b.tilt_active) active.push_back(&*b.tilt_active);
    return alarm_state(b.config->id, active, b.state_time_ms);
}

void FlowBinAnalytics::outfall_transition(Outfall& o, const an::DischargeTransition& t,
                                          double flow_m3_h, std::optional<double> rain_mm,
                                          std::vector<AnalyticsMessage>& out) {
    const auto& d = o.config->discharge;
    ActiveAlarm alarm;
    alarm.alarm = "dry_weather_discharge";
    alarm.since_ms = t.since_ms;
    alarm.value = flow_m3_h;
    alarm.limit = d.raise_flow_m3_h;
    alarm.bound = "max";
    alarm.detail = {{"sensor", config_.sensors[o.config->flow_sensor].id},
                    {"unit", "m3/h"},
                    {"peak_flow_m3_h", t.peak_flow_m3_h},
                    {"clear_flow_m3_h", d.clear_flow_m3_h},
                    {"rain_mm", rain_mm && std::isfinite(*rain_mm) ? ordered_json(*rain_mm)
                                                                   : ordered_json(nullptr)},
                    {"rain_lookback_h", d.rain_lookback_hours},
                    {"dry_rain_mm", d.dry_rain_mm},
                    {"wet_weather", t.wet_weather}};
    const bool raised = t.alarm == an::DischargeAlarm::Raised;
    out.push_back(alarm_event(o.config->id, alarm, raised, t.at_ms, t.since_ms, flow_m3_h,
                              d.raise_flow_m3_h));
    if (raised) {
        o.active = std::move(alarm);
        ++o.raised;
    } else {
        o.active.reset();
        ++o.cleared;
    }
    o.state_time_ms = t.at_ms;
    o.changed = true;
    out.push_back(outfall_state(o));
}

void FlowBinAnalytics::fire_transition(Bin& b, const an::BinAlarmTransition& t, double degC,
                                       std::vector<AnalyticsMessage>& out) {
    const auto& f = b.config->fire;
    const std::string sensor = config_.sensors[*b.config->temperature_sensor].id;
    ActiveAlarm alarm;
    alarm.alarm = "bin_fire";
    alarm.bound = "max";
    std::optional<double> value;
    std::optional<double> limit;
    if (t.raised) {
        const bool rise = t.reason == an::BinAlarmReason::TemperatureRise;
        value = t.value;
        limit = rise ? f.rise_degC_per_min : f.limit_degC;
        alarm.since_ms = t.since_ms;
        alarm.value = value;
        alarm.limit = limit;
        alarm.detail = {{"sensor", sensor},
                        {"reason", an::to_string(t.reason)},
                        {"unit", rise ? "degC/min" : "degC"},
                        {"temperature_degC", degC},
                        {"clear_below_degC", f.clear_below_degC}};
        b.fire_active = alarm;
        ++b.fire_raised;
    } else {
        // A clear reports the temperature against the level it had to fall below.
        value = degC;
        limit = f.clear_below_degC;
        alarm.since_ms = t.since_ms;
        const std::string reason =
            b.fire_active && b.fire_active->detail.contains("reason")
                ? b.fire_active->detail["reason"].get<std::string>()
                : std::string(an::to_string(an::BinAlarmReason::TemperatureLimit));
        alarm.detail = {{"sensor", sensor},
                        {"reason", reason},
                        {"unit", "degC"},
                        {"temperature_degC", degC},
                        {"clear_below_degC", f.clear_below_degC}};
        b.fire_active.reset();
    }
    out.push_back(alarm_event(b.config->id, alarm, t.raised, t.at_ms, t.since_ms, value, limit));
    b.state_time_ms = t.at_ms;
    b.changed = true;
    out.push_back(bin_state(b));
}

void FlowBinAnalytics::tilt_transition(Bin& b, const an::BinAlarmTransition& t,
                                       std::vector<AnalyticsMessage>& out) {
    const auto& c = b.config->tilt;
    const std::string sensor = config_.sensors[*b.config->tilt_sensor].id;
    const bool angle = an::is_angle_deg(config_.sensors[*b.config->tilt_sensor].unit);
    ActiveAlarm alarm;
    alarm.alarm = "bin_tilt";
    alarm.bound = angle ? "max" : "";
    alarm.since_ms = t.since_ms;
    // The flag has no limit: it is the sensor's own verdict.
    const std::optional<double> limit =
        angle ? std::optional<double>(t.raised ? c.angle_limit_deg : c.angle_clear_deg)
              : std::nullopt;
    const std::string reason =
        t.raised ? an::to_string(t.reason)
                 : (b.tilt_active && b.tilt_active->detail.contains("reason")
                        ? b.tilt_active->detail["reason"].get<std::string>()
                        : std::string(an::to_string(angle ? an::BinAlarmReason::TiltAngle
                                                          : an::BinAlarmReason::TiltFlag)));
    alarm.value = t.value;
    alarm.limit = limit;
    alarm.detail = {{"sensor", sensor}, {"reason", reason}, {"unit", angle ? "deg" : ""}};
    if (t.raised) {
        b.tilt_active = alarm;
        ++b.tilt_raised;
    } else {
        b.tilt_active.reset();
    }
    out.push_back(alarm_event(b.config->id, alarm, t.raised, t.at_ms, t.since_ms, t.value, limit));
    b.state_time_ms = t.at_ms;
    b.changed = true;
    out.push_back(bin_state(b));
}

// --- bins ---------------------------------------------------------------------------------------

AnalyticsMessage FlowBinAnalytics::bin_status(const Bin& b, std::int64_t at_ms) const {
    const auto a = an::assess_fill(b.config->fill, b.config->collect, b.fill, at_ms);
    ordered_json body = message_base_();
    body["time"] = format_rfc3339_utc(at_ms);
    body["bin"] = b.config->id;
    body["fill_pct"] = optional_number(a.fill_pct);
    body["fill_time"] =
        a.fill_pct ? ordered_json(format_rfc3339_utc(a.fill_ms)) : ordered_json(nullptr);
    body["rate_pct_h"] = optional_number(a.rate_pct_h);
    body["time_to_full_s"] = optional_seconds(a.time_to_full_ms);
    body["collect_today"] = a.collect;
    body["reason"] = an::to_string(a.reason);
    body["cutoff"] = format_rfc3339_utc(a.cutoff_ms);
    return {config_.topic_root() + "/bins/" + b.config->id, std::move(body),
            AnalyticsMessage::Route::Stored};
}

void FlowBinAnalytics::update_collection(std::int64_t now_ms, bool force, bool refresh,
                                         std::vector<AnalyticsMessage>& out) {
    if (bins_.empty()) return;
    std::vector<an::BinStatus> statuses;
    std::int64_t cutoff = std::numeric_limits<std::int64_t>::max();
    for (const Bin& b : bins_) {
        statuses.push_back(
            {b.config->id, an::assess_fill(b.config->fill, b.config->collect, b.fill, now_ms)});
        cutoff = std::min(cutoff, statuses.back().assessment.cutoff_ms);
    }
    const auto list = an::build_collection_list(statuses);
    std::vector<std::pair<std::string, std::string>> key;
    for (const auto& s : list) key.emplace_back(s.bin_id, an::to_string(s.assessment.reason));
    // The round the list is for: the local day of the earliest next cut-off.
    const std::int64_t day = an::local_day(cutoff, config_.analytics.utc_offset_min);
    collect_cutoff_ms_ = cutoff;
    ordered_json bins = ordered_json::array();
    for (const auto& s : list) {
        bins.push_back({{"bin", s.bin_id},
                        {"fill_pct", optional_number(s.assessment.fill_pct)},
                        {"time_to_full_s", optional_seconds(s.assessment.time_to_full_ms)},
                        {"reason", an::to_string(s.assessment.reason)}});
    }
    // Which bins, in which order and why: at once. Their figures follow every sample (every
    // second on a Modbus poll), so those are brought up to date only hourly.
    const bool same = !collect_body_.is_null() && key == collect_key_ && day == collect_day_ &&
                      (!refresh || bins == collect_body_.at("bins"));
    if (!force && same) return;
    ordered_json body = message_base_();
    body["time"] = format_rfc3339_utc(now_ms);
    body["day"] = local_date_text(day);
    body["cutoff"] = format_rfc3339_utc(cutoff);
    body["bins"] = std::move(bins);
    collect_key_ = std::move(key);
    collect_day_ = day;
    collect_body_ = body;
    out.push_back({config_.topic_root() + "/bins/collect", std::move(body),
                   AnalyticsMessage::Route::Retained});
}

// --- retained, state, stats ---------------------------------------------------------------------

std::vector<AnalyticsMessage> FlowBinAnalytics::retained() const {
    std::vector<AnalyticsMessage> out;
    // Every subject, active or not: an empty list replaces what a previous run left retained.
    for (const Outfall& o : outfalls_) out.push_back(outfall_state(o));
    for (const Bin& b : bins_) out.push_back(bin_state(b));
    if (!collect_body_.is_null())
        out.push_back({config_.topic_root() + "/bins/collect", collect_body_,
                       AnalyticsMessage::Route::Retained});
    return out;
}

std::vector<AnalyticsStateRow> FlowBinAnalytics::take_changed_state() {
    std::vector<AnalyticsStateRow> rows;
    for (const std::string& key : deleted_keys_) rows.push_back({key, ""});
    deleted_keys_.clear();
    auto active_json = [](const std::optional<ActiveAlarm>& a) {
        return a ? encode_active(a->alarm, a->since_ms, a->value, a->limit, a->bound, a->detail)
                 : ordered_json(nullptr);
    };
    // Rows are ordered_json so that an alarm's detail keeps its field order across a restart.
    for (Meter& m : meters_) {
        if (!m.changed) continue;
        m.changed = false;
        ordered_json j;
        j["v"] = kStateVersion;
        j["volume"] = ordered_json(flow_bin_state::encode(m.tracker.state()));
        j["night"] = ordered_json(flow_bin_state::encode(m.night));
        rows.push_back({meter_key(m), j.dump()});
    }
    for (Outfall& o : outfalls_) {
        if (!o.changed) continue;
        o.changed = false;
        ordered_json j;
        j["v"] = kStateVersion;
        j["discharge"] = ordered_json(flow_bin_state::encode(o.discharge.alarm));
        j["rain"] = ordered_json(flow_bin_state::encode(o.rain));
        j["rain_unknown"] = o.rain_unknown;
        j["active"] = active_json(o.active);
        j["state_time_ms"] = o.state_time_ms;
        rows.push_back({outfall_key(o), j.dump()});
    }
    for (Bin& b : bins_) {
        if (!b.changed) continue;
        b.changed = false;
        ordered_json j;
        j["v"] = kStateVersion;
        j["fill"] = ordered_json(flow_bin_state::encode(b.fill));
        j["fire"] = ordered_json(flow_bin_state::encode(b.fire));
        j["tilt"] = ordered_json(flow_bin_state::encode(b.tilt));
        j["fire_active"] = active_json(b.fire_active);
        j["tilt_active"] = active_json(b.tilt_active);
        j["state_time_ms"] = b.state_time_ms;
        j["has_status_hour"] = b.has_status_hour;
        j["status_hour_ms"] = b.status_hour_ms;
        rows.push_back({bin_key(b), j.dump()});
    }
    return rows;
}

namespace {

/// Member `key` of a state row, or nullptr.
const ordered_json* part(const ordered_json& row, const char* key) {
    const auto it = row.find(key);
    return it == row.end() ? nullptr : &*it;
}

/// A state struct out of member `key` of a row.
template <typename State>
bool decode_part(const ordered_json& row, const char* key, State& out) {
    const ordered_json* p = part(row, key);
    return p != nullptr && flow_bin_state::decode(json(*p), out);
}

bool integer_part(const ordered_json& row, const char* key, std::int64_t& out) {
    const ordered_json* p = part(row, key);
    if (p == nullptr || !p->is_number_integer()) return false;
    out = p->get<std::int64_t>();
    return true;
}

bool bool_part(const ordered_json& row, const char* key, bool& out) {
    const ordered_json* p = part(row, key);
    if (p == nullptr || !p->is_boolean()) return false;
    out = p->get<bool>();
    return true;
}

/// An alarm persisted by encode_active (null: none).
template <typename Active>
bool decode_active(const ordered_json& row, const char* key, std::optional<Active>& out) {
    const ordered_json* j = part(row, key);
    if (j == nullptr) return false;
    if (j->is_null()) {
        out.reset();
        return true;
    }
    BasicReader<ordered_json> r(*j);
    Active a;
    const ordered_json* alarm = r.member("alarm");
    r.integer("since_ms", a.since_ms);
    const ordered_json* value = r.member("value");
    const ordered_json* limit = r.member("limit");
    const ordered_json* bound = r.member("bound");
    const ordered_json* detail = r.member("detail");
    if (!r.ok() || !alarm->is_string() || !bound->is_string() || !detail->is_object()) return false;
    if (!(value->is_null() || value->is_number()) || !(limit->is_null() || limit->is_number()))
        return false;
    a.alarm = alarm->get<std::string>();
    if (value->is_number()) a.value = value->get<double>();
    if (limit->is_number()) a.limit = limit->get<double>();
    a.bound = bound->get<std::string>();
    a.detail = *detail;
    out = std::move(a);
    return true;
}

bool version_ok(const ordered_json& row) {
    const ordered_json* v = part(row, "v");
    return v != nullptr && *v == kStateVersion;
}

}  // namespace

bool FlowBinAnalytics::restore_meter(Meter& m, const ordered_json& row) {
    an::FlowVolumeState volume;
    an::NightMinimumState night;
    if (!version_ok(row) || !decode_part(row, "volume", volume) ||
        !decode_part(row, "night", night))
        return false;
    m.night = night;
    if (!m.tracker.restore(volume)) {
        GW_LOG_WARN(kTag, "flow meter " << m.config->id
                                        << ": stored window state does not fit window_s "
                                        << m.config->volume.window_ms / 1000
                                        << " (changed?): its windows start afresh");
    }
    return true;
}

bool FlowBinAnalytics::restore_outfall(Outfall& o, const ordered_json& row) {
    Outfall r = o;
    if (!version_ok(row) || !decode_part(row, "discharge", r.discharge.alarm) ||
        !decode_part(row, "rain", r.rain) || !bool_part(row, "rain_unknown", r.rain_unknown) ||
        !integer_part(row, "state_time_ms", r.state_time_ms) ||
        !decode_active(row, "active", r.active))
        return false;
    // The rule's phase is the truth; an active alarm must also be listed, to be published.
    const auto phase = r.discharge.alarm.phase;
    const bool active = phase == an::AlarmPhase::Raised || phase == an::AlarmPhase::Clearing;
    if (active && !r.active) return false;
    if (!active) r.active.reset();
    o = std::move(r);
    return true;
}

bool FlowBinAnalytics::restore_bin(Bin& b, const ordered_json& row) {
    Bin r = b;
    if (!version_ok(row) || !decode_part(row, "fill", r.fill) ||
        !decode_part(row, "fire", r.fire) || !decode_part(row, "tilt", r.tilt) ||
        !decode_active(row, "fire_active", r.fire_active) ||
        !decode_active(row, "tilt_active", r.tilt_active) ||
        !integer_part(row, "state_time_ms", r.state_time_ms) ||
        !bool_part(row, "has_status_hour", r.has_status_hour) ||
        !integer_part(row, "status_hour_ms", r.status_hour_ms))
        return false;
    if ((r.fire.alarm && !r.fire_active) || (r.tilt.alarm && !r.tilt_active)) return false;
    // A sensor removed from the bin's configuration cannot keep an alarm raised.
    if (!b.config->temperature_sensor) r.fire = an::FireState{};
    if (!b.config->tilt_sensor) r.tilt = an::TiltState{};
    if (!r.fire.alarm) r.fire_active.reset();
    if (!r.tilt.alarm) r.tilt_active.reset();
    b = std::move(r);
    return true;
}

void FlowBinAnalytics::restore(const std::vector<AnalyticsStateRow>& rows) {
    for (const AnalyticsStateRow& row : rows) {
        const auto slash = row.key.find('/');
        const std::string kind = slash == std::string::npos ? "" : row.key.substr(0, slash);
        if (kind != "flow" && kind != "outfall" && kind != "bin") continue;  // another engine's
        const std::string id = row.key.substr(slash + 1);
        const ordered_json j = ordered_json::parse(row.state, nullptr, false);
        const bool readable = !j.is_discarded() && j.is_object();
        bool known = false;
        bool ok = false;
        if (kind == "flow") {
            for (Meter& m : meters_)
                if (m.config->id == id) {
                    known = true;
                    ok = readable && restore_meter(m, j);
                }
        } else if (kind == "outfall") {
            for (Outfall& o : outfalls_)
                if (o.config->id == id) {
                    known = true;
                    ok = readable && restore_outfall(o, j);
                }
        } else {
            for (Bin& b : bins_)
                if (b.config->id == id) {
                    known = true;
                    ok = readable && restore_bin(b, j);
                }
        }
        if (!known) {
            GW_LOG_WARN(
                kTag, "stored state \"" << row.key << "\" belongs to nothing configured: dropped");
            deleted_keys_.push_back(row.key);
        } else if (!ok) {
            GW_LOG_WARN(
                kTag, "stored state \"" << row.key << "\" is unreadable: ignored, starting afresh");
        }
    }
}

ordered_json FlowBinAnalytics::stats_json() const {
    ordered_json meters = ordered_json::object();
    for (const Meter& m : meters_) {
        const auto& t = m.tracker.state().totaliser;
        ordered_json flags = ordered_json::object();
        for (const auto& [name, count] : m.flags) flags[name] = count;
        meters[m.config->id] = {{"windows", m.windows},
                                {"night_minimums", m.nights},
                                {"no_data", m.no_data},
                                {"flags", std::move(flags)},
                                {"totaliser",
                                 {{"rollovers", t.rollovers},
                                  {"resets", t.resets},
                                  {"jumps", t.jumps},
                                  {"spikes", t.spikes},
                                  {"invalid", t.invalid}}}};
    }
    ordered_json outfalls = ordered_json::object();
    for (const Outfall& o : outfalls_) {
        outfalls[o.config->id] = {{"raised", o.raised},
                                  {"cleared", o.cleared},
                                  {"active", o.active.has_value()},
                                  {"no_data", o.no_data}};
    }
    ordered_json bins = ordered_json::object();
    for (const Bin& b : bins_) {
        bins[b.config->id] = {{"statuses", b.statuses},
                              {"emptyings", b.fill.emptyings},
                              {"fire_raised", b.fire_raised},
                              {"tilt_raised", b.tilt_raised},
                              {"fire_active", b.fire_active.has_value()},
                              {"tilt_active", b.tilt_active.has_value()},
                              {"skipped_tilted", b.skipped_tilted},
                              {"no_data", b.no_data}};
    }
    ordered_json out;
    out["flow_meters"] = std::move(meters);
    out["outfalls"] = std::move(outfalls);
    out["bins"] = std::move(bins);
    out["collect_list"] =
        collect_body_.is_null() ? std::size_t{0} : collect_body_.at("bins").size();
    out["held"] = held_readings_;
    return out;
}

}  // namespace gw
