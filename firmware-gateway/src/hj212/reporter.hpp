// SPDX-License-Identifier: Apache-2.0
// HJ 212-2017 per-platform reporter: turns readings into the CP text of the upload commands
// 2011 (real time), 2051 (minute), 2061 (hour) and 2031 (day) (DOMAIN.md §1.3, §1.5, §1.9 and
// Appendix D in §1.10). Pure: no I/O and no clock (time comes in as Unix ms); all state is
// persistable as compact JSON. The frame around the CP text is hj212/codec.hpp's business.
//
// Rules (copied into docs/hj212.md):
//
//  * Intervals. A minute interval is [start, start + MinInterval), aligned to local time
//    (multiples of its length since local midnight; local = UTC + utc_offset_min). Hours and
//    days are local. DataTime of 2051/2061/2031 is the interval start, of 2011 the boundary
//    instant, formatted "YYYYMMDDhhmmss" in local time. The first interval tracked is the one
//    containing the first reading or tick ever; nothing earlier is emitted. Hours and days are
//    rolled up from the minute records that were tracked (a first, partial hour covers only
//    the minutes since then).
//  * Per minute interval and pollutant: count, Min/Max/sum of the GOOD readings (flag N) in the
//    reported unit (value * scale), and how often each abnormal flag was seen. A reading's flag
//    is 'C' when it was taken while calibrating, 'M' while its sensor is under maintenance, else
//    hj212_flag(quality) (N/B/T/D).
//  * Interval flag, water rule (§1.5): any abnormal reading makes the interval abnormal; among
//    several, C > M > D > T > B. N only if every reading was N and at least one arrived. With no
//    good reading the record holds only `code-Flag=`: the most frequent abnormal flag (ties by
//    the same priority), or B when nothing arrived at all.
//  * Record 2051: `code-Min,code-Avg,code-Max` (+ `code-Cou` for the flow and load pollutants)
//    and `code-Flag`. Avg is the arithmetic mean of the good readings, except:
//  * Appendix D flow (the is_flow pollutant, value in L/s after scaling): each good flow
//    reading's Q holds from its time until the next flow reading of any quality (a flow reading
//    that is not good starts no slice), but for at most max_slice_ms (a longer gap is not
//    bridged). ΔD = Q·Δt(s)·10⁻³ m³; a slice crossing an interval boundary is split there. A
//    flow reading older than the last one is counted in Min/Max/Avg but does not move the
//    slices. Flow Cou = ΣΔD in m³ (3 decimals); flow Avg = D·1000 / T (L/s) with T the time
//    the slices covered (the interval's length when the flow was known throughout, Appendix D's
//    D/T; less after a start or a gap, so a partial interval does not read as a low flow) if
//    the interval had any flow slice, else the arithmetic mean.
//  * Load (has_load, concentration in mg/L): each piece [a, b) of a flow slice adds
//    ΔG = ΔD·C·10⁻³ kg with C the pollutant's good value in effect at a (its latest good value
//    sampled at or before a, else the oldest one it still knows after a) if a - its time <=
//    max_slice_ms of the pollutant; otherwise the piece adds no load, and its volume is left out
//    of that pollutant's weighting volume D_C. Load Cou = ΣΔG in kg (4 decimals); load Avg =
//    G/D_C·10³ (flow-weighted mean, mg/L) when D_C > 0, else the arithmetic mean.
//  * Hour (2061) and day (2031) records are rolled up from the closed minute records (values
//    from the records that have values; a volume a record without good readings still got from
//    a bridged slice is not counted, so hour Cou = sum of the reported minute Cous): Min = min
//    of the Mins, Max = max of the Maxes, Cou = sum, Avg = G/D_C·10³ for load pollutants when
//    D_C > 0, D·1000 / the time the minutes' slices covered (3600 s, 86400 s when complete) for
//    the flow when any minute had flow slices, otherwise the count-weighted mean of the minute
//    Avgs. Flag: the water rule over the minute flags (a minute without data counts with its flag,
//    B).
//  * Gaps: when ticks resume after a pause, every minute interval in between is emitted (no data:
//    Flag=B only), but after the interval that was open (always emitted) only intervals
//    starting at most 7 days before the one containing the tick; the ones in between are
//    skipped and counted (skipped_intervals()). Hours and days are rolled up from what was
//    emitted, so a skipped stretch yields partial rollups, emitted when the next record falls
//    in another hour/day.
//  * A reading whose time lies at or after the end of the open minute interval closes the
//    intervals up to it (their records are returned by the next on_tick, before its own). A
//    reading older than the open interval is dropped and counted (late_readings()).
//  * 2011 at each real-time boundary (multiple of RtdInterval since local midnight; the last,
//    shorter step of a day ends at midnight): for each pollutant whose latest reading is no older
//    than 2·max(RtdInterval, max_slice_ms) at the boundary, `code-Rtd=<value>,code-Flag=<flag>`
//    (Rtd is left out when that reading carries no measured value: comm error, decode error or
//    stale); otherwise `code-Flag=B` alone. Only the latest boundary passed is emitted when
//    several were missed; nothing for a boundary before the first mapped reading (a boundary that
//    passed before it, seen by a tick even after that reading, is used up without a frame).
//  * Frame order: 2051, then 2061, then 2031 of the same end instant, oldest first; the 2011 of
//    a tick comes last.
//  * 1062 (RtdInterval, 30..3600 s): applies from the next boundary, i.e. the first multiple of
//    the new length since local midnight after the last boundary emitted.
//  * 1064 (MinInterval, one of 1,2,3,4,5,6,10,12,15,20,30 min): the open interval still closes
//    at its old end E. The next interval is the one of the new grid containing E, truncated to
//    start at E (DataTime = E, so records never overlap; its flow Avg divides by its real length);
//    the regular grid follows. minute_interval_min() returns the new value at once.
//  * CP: `DataTime=...;` then one item per pollutant in configuration order, fields in the order
//    Rtd | Min,Avg,Max[,Cou],Flag. Numbers via format_number(value, decimals) (Cou: 3 decimals
//    for m³, 4 for kg).
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/reading.hpp"

namespace gw::hj212 {

struct ReportPollutant {
    std::string code;                  ///< "w01018"
    std::size_t sensor_index{0};       ///< readings of this sensor feed it
    double scale{1.0};                 ///< reported value = reading.value * scale (m3/h -> L/s)
    int decimals{2};                   ///< digits after the point in the CP text
    bool is_flow{false};               ///< w00000: value in L/s; -Cou = volume in m3 (App. D)
    bool has_load{false};              ///< concentration in mg/L: -Cou = load in kg (needs flow)
    std::int64_t max_slice_ms{15000};  ///< longest gap between samples bridged when integrating
};

struct ReporterConfig {
    std::vector<ReportPollutant> pollutants;  ///< at most one is_flow
    /// 2011 every this many seconds (aligned to local time); 0 = none
    int realtime_interval_s{30};
    int minute_interval_min{10};       ///< 2051 interval; divides 60
    bool minute{true};                 ///< emit 2051
    bool hourly{true};                 ///< emit 2061
    bool daily{true};                  ///< emit 2031
    std::int32_t utc_offset_min{480};  ///< DataTime is local time; hours and days are local
};

struct ReportFrame {
    std::string cn;                ///< "2011" | "2051" | "2061" | "2031"
    std::int64_t data_time_ms{0};  ///< interval start (2051/2061/2031), the boundary (2011)
    std::string cp;                ///< "DataTime=20260801084000;w01001-Min=7.10,..."
};

class Reporter {
public:
    /// Throws std::invalid_argument on an invalid configuration (two flow pollutants, a load
    /// without a flow, a flow with a load, an interval out of range, scale or slice <= 0, ...).
    explicit Reporter(ReporterConfig config);

    /// A reading with a trusted wall-clock time (reading.sampled_at). Readings of sensors that
    /// no pollutant maps are ignored. Flag: 'C' if reading.calibrating, else hj212_flag(quality).
    void on_reading(const Reading& reading);
    /// Everything due at now_ms, oldest first: a 2011 per realtime boundary passed (only the
    /// latest one if several were missed), a 2051 per minute interval ended, 2061 per local hour
    /// ended, 2031 per local day ended. A tick earlier than the last one does nothing.
    std::vector<ReportFrame> on_tick(std::int64_t now_ms);

    /// Platform commands 1062/1064. Return false (and change nothing) when out of range
    /// (30..3600 s; minute interval one of 1,2,3,4,5,6,10,12,15,20,30).
    bool set_realtime_interval_s(int seconds);
    bool set_minute_interval_min(int minutes);
    int realtime_interval_s() const;
    int minute_interval_min() const;

    /// Persistable state: open minute accumulators, the hour and day rollups, the last tick,
    /// intervals set by the platform, records due but not yet returned. restore() refuses
    /// (false + reason) state that does not fit the configuration (other codes, malformed) and
    /// keeps the current state then.
    nlohmann::json state() const;
    bool restore(const nlohmann::json& state, std::string& error);

    std::uint64_t version() const;            ///< changes with every state change
    std::uint64_t late_readings() const;      ///< readings older than the open minute interval
    std::uint64_t skipped_intervals() const;  ///< minute intervals skipped by the 7-day cap

private:
    struct Accumulator {  // one pollutant in the open minute interval
        std::uint64_t count{0};
        double min{0.0};
        double max{0.0};
        double sum{0.0};
        std::uint64_t flags[5]{0, 0, 0, 0, 0};  // B, T, D, M, C
        double volume_m3{0.0};
        double load_kg{0.0};
        std::int64_t sliced_ms{0};
    };
    struct Rollup {  // one pollutant in an hour or day
        std::uint64_t count{0};
        double min{0.0};
        double max{0.0};
        double avg_weighted{0.0};  // Σ minute Avg · minute count
        double volume_m3{0.0};
        double load_kg{0.0};
        std::int64_t sliced_ms{0};
        int worst{-1};  // rank of the worst minute flag, -1: no minute yet
    };
    struct Latest {
        bool has{false};
        std::int64_t t_ms{0};
        double value{0.0};
        char flag{'B'};
        bool has_value{false};
    };
    struct GoodValue {
        bool has{false};
        std::int64_t t_ms{0};
        double value{0.0};
    };
    struct PollutantState {
        Accumulator acc;
        Rollup hour;
        Rollup day;
        Latest latest;
        GoodValue good_cur;   // latest good value (load pollutants)
        GoodValue good_prev;  // the one before it
    };

    std::int64_t minute_ms() const;
    std::int64_t align(std::int64_t t_ms, std::int64_t len_ms) const;
    void open_first(std::int64_t t_ms);
    void advance_to(std::int64_t t_ms, std::vector<ReportFrame>& out);
    void close_open(std::vector<ReportFrame>& out);
    void credit_flow(std::int64_t to_ms);  // credits the live flow slice up to to_ms
    void credit_piece(std::int64_t a_ms, std::int64_t b_ms);
    void emit_rollup(bool day, std::vector<ReportFrame>& out);
    std::string rtd_cp(std::int64_t boundary_ms) const;

    ReporterConfig config_;
    std::optional<std::size_t> flow_index_;

    // --- persisted state
    int rt_interval_s_{0};
    int min_interval_min_{10};
    int pending_min_interval_{0};  // 0: none
    bool has_tick_{false};
    std::int64_t last_tick_ms_{0};
    bool has_reading_{false};
    /// Time of the first mapped reading (INT64_MIN after a restore that had one): no 2011 is
    /// made for a boundary before it. Not persisted: "rd" says enough.
    std::int64_t first_reading_ms_{INT64_MAX};
    bool has_rt_boundary_{false};
    std::int64_t last_rt_boundary_ms_{0};
    bool open_{false};
    std::int64_t open_start_ms_{0};
    std::int64_t open_end_ms_{0};
    bool hour_open_{false};
    std::int64_t hour_start_ms_{0};
    bool day_open_{false};
    std::int64_t day_start_ms_{0};
    bool flow_has_{false};       // a flow slice is live: the last flow reading was good
    std::int64_t flow_t_ms_{0};  // its start
    double flow_q_{0.0};
    std::int64_t flow_last_t_ms_{0};  // time of the last flow reading of any quality
    bool flow_last_has_{false};
    std::int64_t flow_credited_ms_{0};   // slice credited up to here
    std::int64_t flow_slice_end_ms_{0};  // the slice ends here (cap or next reading)
    std::vector<PollutantState> p_;
    std::vector<ReportFrame> pending_;
    std::uint64_t late_{0};
    std::uint64_t skipped_{0};

    std::uint64_t version_{0};
};

/// "YYYYMMDDhhmmss" in local time (UTC + offset).
std::string format_data_time(std::int64_t unix_ms, std::int32_t utc_offset_min);
/// 14 digits (17 with milliseconds also accepted); nullopt when malformed or not a real date.
std::optional<std::int64_t> parse_data_time(std::string_view text, std::int32_t utc_offset_min);
/// Fixed notation with `decimals` digits (clamped to 0..12), no exponent, never "-0.00"
/// (-> "0.00"); NaN/inf never reach it.
std::string format_number(double value, int decimals);

}  // namespace gw::hj212
