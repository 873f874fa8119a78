// SPDX-License-Identifier: Apache-2.0
// Sewage flow and waste-bin analytics in the daemon (issue #8, docs/analytics.md "Sewage flow"
// and "Waste bins"): feeds the pure modules of analytics/flow_volume.hpp and
// analytics/bin_analytics.hpp with the configured sensors' readings and turns their results
// into MQTT messages and persistable state rows. No I/O and no clock of its own: times come in
// with the readings and the ticks (Unix ms); the Gateway stores, publishes and persists.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "analytics/bin_analytics.hpp"
#include "analytics/flow_volume.hpp"
#include "config/config.hpp"
#include "core/analytics_output.hpp"
#include "core/reading.hpp"

namespace gw {

/// The JSON form of the analytics state structs, persisted as text in AnalyticsStateRow. The
/// decoders never throw: on anything malformed (wrong type, missing member, out-of-range
/// enum, unordered samples) they return false and leave `out` untouched.
namespace flow_bin_state {

nlohmann::json encode(const analytics::AlarmState& s);
nlohmann::json encode(const analytics::FlowVolumeState& s);
nlohmann::json encode(const analytics::NightMinimumState& s);
nlohmann::json encode(const analytics::RainHistory& s);
nlohmann::json encode(const analytics::FillHistory& s);
nlohmann::json encode(const analytics::FireState& s);
nlohmann::json encode(const analytics::TiltState& s);

bool decode(const nlohmann::json& j, analytics::AlarmState& out);
bool decode(const nlohmann::json& j, analytics::FlowVolumeState& out);
bool decode(const nlohmann::json& j, analytics::NightMinimumState& out);
bool decode(const nlohmann::json& j, analytics::RainHistory& out);
bool decode(const nlohmann::json& j, analytics::FillHistory& out);
bool decode(const nlohmann::json& j, analytics::FireState& out);
bool decode(const nlohmann::json& j, analytics::TiltState& out);

}  // namespace flow_bin_state

/// "YYYY-MM-DD" of a local day number (days since 1970-01-01, analytics::local_day).
std::string local_date_text(std::int64_t day);

class FlowBinAnalytics {
public:
    FlowBinAnalytics(const Config& config, std::function<nlohmann::ordered_json()> message_base);

    /// Every reading of every sensor (after calibration), in time order per sensor. Readings
    /// whose quality is not Good or that were taken while calibrating are passed too: use them
    /// as "no data" (never as values).
    void on_reading(const Reading& reading, std::vector<AnalyticsMessage>& out);
    /// Once a second with the wall clock (window ends, night ends, collection cut-offs).
    void on_tick(std::int64_t now_ms, std::vector<AnalyticsMessage>& out);
    /// The current retained messages (the collection list, active bin/outfall alarm states),
    /// re-sent after every connect.
    std::vector<AnalyticsMessage> retained() const;
    /// State changed since the last call, for the store (persisted at the next flush).
    std::vector<AnalyticsStateRow> take_changed_state();
    /// Called once at start, before any reading, with the rows stored earlier (unknown or
    /// unreadable rows are ignored and logged, never fatal).
    void restore(const std::vector<AnalyticsStateRow>& rows);
    /// Counters for health: per meter/outfall/bin what was emitted, flags seen.
    nlohmann::ordered_json stats_json() const;

    /// Nothing configured: the Gateway may skip this engine entirely.
    bool empty() const { return meters_.empty() && outfalls_.empty() && bins_.empty(); }

private:
    /// One active alarm of a subject, as listed in its retained state.
    struct ActiveAlarm {
        std::string alarm;  ///< "dry_weather_discharge", "bin_fire", "bin_tilt"
        std::int64_t since_ms{0};
        std::optional<double> value;
        std::optional<double> limit;
        std::string bound;  ///< "max", "min", or "" (null)
        nlohmann::ordered_json detail;
    };

    struct Meter {
        explicit Meter(const FlowMeterConfig& c) : config(&c), tracker(c.volume) {}
        const FlowMeterConfig* config;
        analytics::FlowVolumeTracker tracker;
        analytics::NightMinimumState night;
        double flow_factor{1.0};  ///< sensor unit -> m3/h
        bool changed{false};
        std::uint64_t windows{0};
        std::uint64_t nights{0};
        std::uint64_t no_data{0};  ///< readings passed as "no data"
        std::map<std::string, std::uint64_t> flags;
    };

    struct Outfall {
        const OutfallConfig* config{nullptr};
        analytics::DryDischargeState discharge;
        analytics::RainHistory rain;
        bool rain_unknown{false};  ///< the gauge's last reading was not usable
        double flow_factor{1.0};
        std::optional<ActiveAlarm> active;
        std::int64_t state_time_ms{0};  ///< last change of the active set
        bool changed{false};
        std::uint64_t raised{0};
        std::uint64_t cleared{0};
        std::uint64_t no_data{0};
    };

    struct Bin {
        const BinConfig* config{nullptr};
        analytics::FillHistory fill;
        analytics::FireState fire;
        analytics::TiltState tilt;
        std::optional<ActiveAlarm> fire_active;
        std::optional<ActiveAlarm> tilt_active;
        std::int64_t state_time_ms{0};
        bool has_status_hour{false};
        std::int64_t status_hour_ms{0};  ///< the last hour boundary the status was done for
        bool changed{false};
        std::uint64_t statuses{0};
        std::uint64_t fire_raised{0};
        std::uint64_t tilt_raised{0};
        std::uint64_t skipped_tilted{0};  ///< fill samples dropped while the sensor was tilted
        std::uint64_t no_data{0};
    };

    enum class Input : std::uint8_t {
        MeterFlow,
        MeterTotaliser,
        OutfallFlow,
        OutfallRain,
        BinFill,
        BinTemperature,
        BinTilt
    };
    struct Route {
        Input input;
        std::size_t index;
    };

    void feed(const Route& route, std::int64_t t_ms, bool usable, double value,
              std::vector<AnalyticsMessage>& out);
    void emit_windows(Meter& meter, const std::vector<analytics::FlowWindowVolume>& windows,
                      std::vector<AnalyticsMessage>& out);
    void emit_night(Meter& meter, const analytics::NightMinimum& night,
                    std::vector<AnalyticsMessage>& out);
    void outfall_transition(Outfall& outfall, const analytics::DischargeTransition& t,
                            double flow_m3_h, std::optional<double> rain_mm,
                            std::vector<AnalyticsMessage>& out);
    void fire_transition(Bin& bin, const analytics::BinAlarmTransition& t, double degC,
                         std::vector<AnalyticsMessage>& out);
    void tilt_transition(Bin& bin, const analytics::BinAlarmTransition& t,
                         std::vector<AnalyticsMessage>& out);
    AnalyticsMessage alarm_event(const std::string& subject, const ActiveAlarm& alarm, bool raised,
                                 std::int64_t at_ms, std::int64_t since_ms,
                                 std::optional<double> value, std::optional<double> limit) const;
    AnalyticsMessage alarm_state(const std::string& subject,
                                 const std::vector<const ActiveAlarm*>& active,
                                 std::int64_t time_ms) const;
    AnalyticsMessage outfall_state(const Outfall& outfall) const;
    AnalyticsMessage bin_state(const Bin& bin) const;
    AnalyticsMessage bin_status(const Bin& bin, std::int64_t at_ms) const;
    /// Rebuilds the collection list at `now_ms`; appended to `out` when `force`, when its bins,
    /// order or reasons changed, or (with `refresh`) when any of its figures changed.
    void update_collection(std::int64_t now_ms, bool force, bool refresh,
                           std::vector<AnalyticsMessage>& out);

    std::string meter_key(const Meter& m) const { return "flow/" + m.config->id; }
    std::string outfall_key(const Outfall& o) const { return "outfall/" + o.config->id; }
    std::string bin_key(const Bin& b) const { return "bin/" + b.config->id; }
    bool restore_meter(Meter& meter, const nlohmann::ordered_json& row);
    bool restore_outfall(Outfall& outfall, const nlohmann::ordered_json& row);
    bool restore_bin(Bin& bin, const nlohmann::ordered_json& row);

    const Config& config_;
    std::function<nlohmann::ordered_json()> message_base_;
    std::vector<Meter> meters_;
    std::vector<Outfall> outfalls_;
    std::vector<Bin> bins_;
    std::vector<std::vector<Route>> routes_;  ///< per sensor index
    /// The published collection list: its identity (bin, reason) in order, day and body.
    std::vector<std::pair<std::string, std::string>> collect_key_;
    std::int64_t collect_day_{0};
    std::int64_t collect_cutoff_ms_{0};  ///< the earliest next cut-off when it was built
    /// The hour whose tick last brought the list's figures up to date.
    std::int64_t collect_refresh_hour_ms_{std::numeric_limits<std::int64_t>::min()};
    nlohmann::ordered_json collect_body_;    ///< null until first built
    std::vector<std::string> deleted_keys_;  ///< rows of meters/outfalls/bins no longer configured
    std::uint64_t held_readings_{0};         ///< held readings ignored (they come again, re-timed)
    /// The latest tick: a fill reading a moment older must not move the list back a round.
    std::int64_t last_tick_ms_{std::numeric_limits<std::int64_t>::min()};
};

}  // namespace gw
