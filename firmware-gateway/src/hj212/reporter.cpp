// SPDX-License-Identifier: Apache-2.0
// HJ 212 per-platform reporter: rules in reporter.hpp.
#include "hj212/reporter.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <set>
#include <stdexcept>
#include <utility>

namespace gw::hj212 {

namespace {

constexpr std::int64_t kMsPerMinute = 60'000;
constexpr std::int64_t kMsPerHour = 3'600'000;
constexpr std::int64_t kMsPerDay = 86'400'000;
constexpr std::int64_t kCatchUpMs = 7 * kMsPerDay;
constexpr int kStateVersion = 1;
/// Abnormal flags by priority, lowest first: the index is the slot in the flag counters.
constexpr int kFlagCount = 5;
constexpr char kFlags[kFlagCount] = {'B', 'T', 'D', 'M', 'C'};

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
    std::int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
    return q;
}

std::int64_t floor_mod(std::int64_t a, std::int64_t b) {
    return a - floor_div(a, b) * b;
}

bool valid_minute_interval(int minutes) {
    static const int kValid[] = {1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30};
    return std::find(std::begin(kValid), std::end(kValid), minutes) != std::end(kValid);
}

bool valid_realtime_interval(int seconds) {
    return seconds >= 30 && seconds <= 3600;
}

int flag_slot(char flag) {
    for (int i = 0; i < kFlagCount; ++i)
        if (kFlags[i] == flag) return i;
    return -1;
}

/// Rank for the water rule: N 0, B 1, T 2, D 3, M 4, C 5.
int flag_rank(char flag) {
    return flag_slot(flag) + 1;
}
char rank_flag(int rank) {
    return rank <= 0 ? 'N' : kFlags[rank - 1];
}

// Howard Hinnant's civil-date algorithms.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = static_cast<std::int64_t>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2 ? 1 : 0;
}

bool leap(std::int64_t y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned days_in_month(std::int64_t y, unsigned m) {
    static const unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : kDays[m - 1];
}

/// One closed interval of one pollutant, as reported.
struct Record {
    std::uint64_t count{0};
    double min{0.0};
    double avg{0.0};
    double max{0.0};
    double cou{0.0};
    double volume_m3{0.0};  // flow: D; load: D_C
    double load_kg{0.0};
    std::int64_t sliced_ms{0};
    char flag{'B'};
};

/// Appendix D for a record whose min/avg/max are set: the flow's Cou is its volume D and its
/// Avg D over the time the flow was known (a minute seen only in part, after a start or a gap,
/// must not read as a flow below its own minimum); a load's Cou is G and its Avg the
/// flow-weighted G/D_C·10³. Minute records and hourly/daily roll-ups alike.
void apply_appendix_d(Record& r, const ReportPollutant& p, double volume_m3, double load_kg,
                      std::int64_t sliced_ms) {
    if (p.is_flow) {
        r.cou = volume_m3;
        if (sliced_ms > 0) r.avg = volume_m3 * 1e6 / static_cast<double>(sliced_ms);
    } else if (p.has_load) {
        r.cou = load_kg;
        if (volume_m3 > 0.0) r.avg = load_kg / volume_m3 * 1e3;
    }
}

void append_item(std::string& cp, const ReportPollutant& p, const Record& r) {
    cp += ';';
    if (r.count > 0) {
        cp += p.code + "-Min=" + format_number(r.min, p.decimals) + ',';
        cp += p.code + "-Avg=" + format_number(r.avg, p.decimals) + ',';
        cp += p.code + "-Max=" + format_number(r.max, p.decimals) + ',';
        if (p.is_flow) cp += p.code + "-Cou=" + format_number(r.cou, 3) + ',';
        if (p.has_load) cp += p.code + "-Cou=" + format_number(r.cou, 4) + ',';
    }
    cp += p.code + "-Flag=";
    cp += r.flag;
}

}  // namespace

// --- free functions
// ------------------------------------------------------------------------------

std::string format_data_time(std::int64_t unix_ms, std::int32_t utc_offset_min) {
    const std::int64_t local = unix_ms + static_cast<std::int64_t>(utc_offset_min) * kMsPerMinute;
    const std::int64_t days = floor_div(local, kMsPerDay);
    const std::int64_t sec = floor_mod(local, kMsPerDay) / 1000;
    std::int64_t y = 0;
    unsigned m = 0;
    unsigned d = 0;
    civil_from_days(days, y, m, d);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%04lld%02u%02u%02d%02d%02d", static_cast<long long>(y), m, d,
                  static_cast<int>(sec / 3600), static_cast<int>(sec / 60 % 60),
                  static_cast<int>(sec % 60));
    return buf;
}

std::optional<std::int64_t> parse_data_time(std::string_view text, std::int32_t utc_offset_min) {
    if (text.size() != 14 && text.size() != 17) return std::nullopt;
    for (const char c : text)
        if (c < '0' || c > '9') return std::nullopt;
    auto num = [&](std::size_t pos, std::size_t len) {
        std::int64_t v = 0;
        for (std::size_t i = pos; i < pos + len; ++i) v = v * 10 + (text[i] - '0');
        return v;
    };
    const std::int64_t y = num(0, 4);
    const auto mo = static_cast<unsigned>(num(4, 2));
    const auto d = static_cast<unsigned>(num(6, 2));
    const std::int64_t h = num(8, 2);
    const std::int64_t mi = num(10, 2);
    const std::int64_t s = num(12, 2);
    const std::int64_t ms = text.size() == 17 ? num(14, 3) : 0;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 59)
        return std::nullopt;
    const std::int64_t local =
        days_from_civil(y, mo, d) * kMsPerDay + ((h * 60 + mi) * 60 + s) * 1000 + ms;
    return local - static_cast<std::int64_t>(utc_offset_min) * kMsPerMinute;
}

std::string format_number(double value, int decimals) {
    decimals = std::clamp(decimals, 0, 12);
    const int n = std::snprintf(nullptr, 0, "%.*f", decimals, value);
    if (n <= 0) return "0";
    std::string out(static_cast<std::size_t>(n) + 1, '\0');
    std::snprintf(out.data(), out.size(), "%.*f", decimals, value);
    out.resize(static_cast<std::size_t>(n));
    if (!out.empty() && out[0] == '-' && out.find_first_not_of("0.", 1) == std::string::npos)
        out.erase(0, 1);
    return out;
}

// --- Reporter
// ------------------------------------------------------------------------------------

Reporter::Reporter(ReporterConfig config) : config_(std::move(config)) {
    if (config_.realtime_interval_s != 0 && !valid_realtime_interval(config_.realtime_interval_s))
        throw std::invalid_argument("hj212 reporter: realtime_interval_s must be 0 or 30..3600");
    if (!valid_minute_interval(config_.minute_interval_min))
        throw std::invalid_argument("hj212 reporter: minute_interval_min must divide 60");
    if (config_.utc_offset_min < -1440 || config_.utc_offset_min > 1440)
        throw std::invalid_argument("hj212 reporter: utc_offset_min out of range");
    std::set<std::string> codes;
    bool any_load = false;
    for (std::size_t i = 0; i < config_.pollutants.size(); ++i) {
        const auto& p = config_.pollutants[i];
        if (p.code.empty() || !codes.insert(p.code).second)
            throw std::invalid_argument("hj212 reporter: empty or duplicate code '" + p.code + "'");
        if (!std::isfinite(p.scale) || p.scale <= 0.0)
            throw std::invalid_argument("hj212 reporter: " + p.code + ": scale must be > 0");
        if (p.decimals < 0 || p.decimals > 12)
            throw std::invalid_argument("hj212 reporter: " + p.code + ": decimals 0..12");
        if (p.max_slice_ms <= 0)
            throw std::invalid_argument("hj212 reporter: " + p.code + ": max_slice_ms must be > 0");
        if (p.is_flow && p.has_load)
            throw std::invalid_argument("hj212 reporter: " + p.code + ": flow with a load");
        if (p.is_flow) {
            if (flow_index_) throw std::invalid_argument("hj212 reporter: two flow pollutants");
            flow_index_ = i;
        }
        any_load = any_load || p.has_load;
    }
    if (any_load && !flow_index_)
        throw std::invalid_argument("hj212 reporter: a load needs a flow pollutant");
    rt_interval_s_ = config_.realtime_interval_s;
    min_interval_min_ = config_.minute_interval_min;
    p_.resize(config_.pollutants.size());
}

std::int64_t Reporter::minute_ms() const {
    return min_interval_min_ * kMsPerMinute;
}

std::int64_t Reporter::align(std::int64_t t_ms, std::int64_t len_ms) const {
    return t_ms - floor_mod(t_ms + static_cast<std::int64_t>(config_.utc_offset_min) * kMsPerMinute,
                            len_ms);
}

void Reporter::open_first(std::int64_t t_ms) {
    if (pending_min_interval_ != 0) {
        min_interval_min_ = pending_min_interval_;
        pending_min_interval_ = 0;
    }
    open_ = true;
    open_start_ms_ = align(t_ms, minute_ms());
    open_end_ms_ = open_start_ms_ + minute_ms();
}

void Reporter::credit_piece(std::int64_t a_ms, std::int64_t b_ms) {
    if (!flow_index_ || b_ms <= a_ms) return;
    const double dv = flow_q_ * static_cast<double>(b_ms - a_ms) / 1000.0 * 1e-3;  // m3
    auto& flow = p_[*flow_index_].acc;
    flow.volume_m3 += dv;
    flow.sliced_ms += b_ms - a_ms;
    for (std::size_t i = 0; i < p_.size(); ++i) {
        const auto& cfg = config_.pollutants[i];
        if (!cfg.has_load) continue;
        auto& ps = p_[i];
        // The concentration in effect at a: the latest good value sampled at or before a, else
        // the oldest one known after a.
        const GoodValue* c = nullptr;
        if (ps.good_cur.has && ps.good_cur.t_ms <= a_ms)
            c = &ps.good_cur;
        else if (ps.good_prev.has && ps.good_prev.t_ms <= a_ms)
            c = &ps.good_prev;
        else if (ps.good_prev.has)
            c = &ps.good_prev;
        else if (ps.good_cur.has)
            c = &ps.good_cur;
        if (c == nullptr || a_ms - c->t_ms > cfg.max_slice_ms) continue;  // no load counted
        ps.acc.load_kg += dv * c->value * 1e-3;
        ps.acc.volume_m3 += dv;
    }
}

void Reporter::credit_flow(std::int64_t to_ms) {
    if (!flow_has_) return;
    const std::int64_t b = std::min(to_ms, flow_slice_end_ms_);
    if (b <= flow_credited_ms_) return;
    credit_piece(flow_credited_ms_, b);
    flow_credited_ms_ = b;
}

void Reporter::close_open(std::vector<ReportFrame>& out) {
    credit_flow(open_end_ms_);
    std::vector<Record> records(p_.size());
    std::string cp = "DataTime=" + format_data_time(open_start_ms_, config_.utc_offset_min);
    for (std::size_t i = 0; i < p_.size(); ++i) {
        const auto& cfg = config_.pollutants[i];
        const auto& a = p_[i].acc;
        Record& r = records[i];
        r.count = a.count;
        r.volume_m3 = a.volume_m3;
        r.load_kg = a.load_kg;
        r.sliced_ms = a.sliced_ms;
        if (a.count > 0) {
            r.min = a.min;
            r.max = a.max;
            r.avg = a.sum / static_cast<double>(a.count);
            apply_appendix_d(r, cfg, a.volume_m3, a.load_kg, a.sliced_ms);
            int worst = 0;
            for (int f = 0; f < kFlagCount; ++f)
                if (a.flags[f] > 0) worst = f + 1;
            r.flag = rank_flag(worst);
        } else {
            int best = -1;
            for (int f = 0; f < kFlagCount; ++f)
                if (a.flags[f] > 0 && (best < 0 || a.flags[f] >= a.flags[best])) best = f;
            r.flag = best < 0 ? 'B' : kFlags[best];
        }
        append_item(cp, cfg, r);
    }
    // Roll the record up into its hour and day. A partial hour or day left open by skipped
    // intervals goes out first, keeping the frames oldest first.
    const std::int64_t hs = align(open_start_ms_, kMsPerHour);
    const std::int64_t ds = align(open_start_ms_, kMsPerDay);
    if (hour_open_ && hour_start_ms_ != hs) emit_rollup(false, out);
    if (day_open_ && day_start_ms_ != ds) emit_rollup(true, out);
    if (config_.minute) out.push_back({"2051", open_start_ms_, cp});
    if (!hour_open_) {
        hour_open_ = true;
        hour_start_ms_ = hs;
    }
    if (!day_open_) {
        day_open_ = true;
        day_start_ms_ = ds;
    }
    for (std::size_t i = 0; i < p_.size(); ++i) {
        const Record& r = records[i];
        for (Rollup* u : {&p_[i].hour, &p_[i].day}) {
            u->worst = std::max(u->worst, flag_rank(r.flag));
            if (r.count == 0) continue;
            if (u->count == 0) {
                u->min = r.min;
                u->max = r.max;
            } else {
                u->min = std::min(u->min, r.min);
                u->max = std::max(u->max, r.max);
            }
            u->count += r.count;
            u->avg_weighted += r.avg * static_cast<double>(r.count);
            u->volume_m3 += r.volume_m3;
            u->load_kg += r.load_kg;
            u->sliced_ms += r.sliced_ms;
        }
        p_[i].acc = Accumulator{};
    }
    const std::int64_t end = open_end_ms_;
    if (end >= hour_start_ms_ + kMsPerHour) emit_rollup(false, out);
    if (end >= day_start_ms_ + kMsPerDay) emit_rollup(true, out);

    // The next interval: the new length applies from here, truncated to start at `end`.
    if (pending_min_interval_ != 0) {
        min_interval_min_ = pending_min_interval_;
        pending_min_interval_ = 0;
    }
    open_start_ms_ = end;
    open_end_ms_ = align(end, minute_ms()) + minute_ms();
}

void Reporter::emit_rollup(bool day, std::vector<ReportFrame>& out) {
    const std::int64_t start = day ? day_start_ms_ : hour_start_ms_;
    std::string cp = "DataTime=" + format_data_time(start, config_.utc_offset_min);
    for (std::size_t i = 0; i < p_.size(); ++i) {
        const auto& cfg = config_.pollutants[i];
        Rollup& u = day ? p_[i].day : p_[i].hour;
        Record r;
        r.count = u.count;
        r.flag = u.worst < 0 ? 'B' : rank_flag(u.worst);
        if (u.count > 0) {
            r.min = u.min;
            r.max = u.max;
            r.avg = u.avg_weighted / static_cast<double>(u.count);
            apply_appendix_d(r, cfg, u.volume_m3, u.load_kg, u.sliced_ms);
        }
        append_item(cp, cfg, r);
        u = Rollup{};
    }
    if (day) {
        day_open_ = false;
        if (config_.daily) out.push_back({"2031", start, cp});
    } else {
        hour_open_ = false;
        if (config_.hourly) out.push_back({"2061", start, cp});
    }
}

void Reporter::advance_to(std::int64_t t_ms, std::vector<ReportFrame>& out) {
    while (open_ && t_ms >= open_end_ms_) {
        close_open(out);
        const std::int64_t len = minute_ms();
        const std::int64_t limit = align(t_ms, len) - kCatchUpMs;
        if (open_start_ms_ < limit) {
            skipped_ += 1 + static_cast<std::uint64_t>((limit - open_end_ms_) / len);
            open_start_ms_ = limit;
            open_end_ms_ = limit + len;
            flow_credited_ms_ = std::max(flow_credited_ms_, limit);
        }
    }
}

void Reporter::on_reading(const Reading& reading) {
    std::vector<std::size_t> mapped;
    for (std::size_t i = 0; i < config_.pollutants.size(); ++i)
        if (config_.pollutants[i].sensor_index == reading.sensor_index) mapped.push_back(i);
    if (mapped.empty()) return;
    const std::int64_t t =
        std::chrono::duration_cast<std::chrono::milliseconds>(reading.sampled_at.time_since_epoch())
            .count();
    ++version_;
    if (!open_) open_first(t);
    if (t < open_start_ms_) {
        ++late_;
        return;
    }
    if (t >= open_end_ms_) advance_to(t, pending_);

    // A sensor under maintenance (towngw maintenance) reports M whatever it reads.
    char flag = reading.calibrating ? 'C' : reading.maintenance ? 'M' : hj212_flag(reading.quality);
    if (flag == 'N' && !std::isfinite(reading.value)) flag = 'D';
    const bool good = flag == 'N';
    const bool has_value =
        std::isfinite(reading.value) && reading.quality != SampleQuality::CommError &&
        reading.quality != SampleQuality::DecodeError && reading.quality != SampleQuality::Stale;
    has_reading_ = true;
    first_reading_ms_ = std::min(first_reading_ms_, t);
    for (const std::size_t i : mapped) {
        const auto& cfg = config_.pollutants[i];
        auto& ps = p_[i];
        const double v = reading.value * cfg.scale;
        if (good) {
            if (ps.acc.count == 0) {
                ps.acc.min = v;
                ps.acc.max = v;
            } else {
                ps.acc.min = std::min(ps.acc.min, v);
                ps.acc.max = std::max(ps.acc.max, v);
            }
            ++ps.acc.count;
            ps.acc.sum += v;
        } else {
            const int slot = flag_slot(flag);
            ++ps.acc.flags[slot < 0 ? 2 : slot];
        }
        if (!ps.latest.has || t >= ps.latest.t_ms)
            ps.latest = Latest{true, t, has_value ? v : 0.0, flag, has_value};
        if (cfg.has_load && good && (!ps.good_cur.has || t >= ps.good_cur.t_ms)) {
            ps.good_prev = ps.good_cur;
            ps.good_cur = GoodValue{true, t, v};
        }
        if (cfg.is_flow && (!flow_last_has_ || t >= flow_last_t_ms_)) {
            credit_flow(t);
            flow_last_has_ = true;
            flow_last_t_ms_ = t;
            flow_has_ = good;
            if (good) {
                flow_t_ms_ = t;
                flow_q_ = v;
                flow_credited_ms_ = t;
                flow_slice_end_ms_ = t + cfg.max_slice_ms;
            }
        }
    }
}

std::string Reporter::rtd_cp(std::int64_t boundary_ms) const {
    std::string cp = "DataTime=" + format_data_time(boundary_ms, config_.utc_offset_min);
    for (std::size_t i = 0; i < p_.size(); ++i) {
        const auto& cfg = config_.pollutants[i];
        const Latest& l = p_[i].latest;
        const std::int64_t max_age =
            2 * std::max<std::int64_t>(std::int64_t{rt_interval_s_} * 1000, cfg.max_slice_ms);
        cp += ';';
        if (l.has && boundary_ms - l.t_ms <= max_age) {
            if (l.has_value) cp += cfg.code + "-Rtd=" + format_number(l.value, cfg.decimals) + ',';
            cp += cfg.code + "-Flag=";
            cp += l.flag;
        } else {
            cp += cfg.code + "-Flag=B";
        }
    }
    return cp;
}

std::vector<ReportFrame> Reporter::on_tick(std::int64_t now_ms) {
    if (has_tick_ && now_ms < last_tick_ms_) return {};
    std::vector<ReportFrame> out = std::move(pending_);
    pending_.clear();
    const bool changed = !has_tick_ || now_ms != last_tick_ms_ || !out.empty();
    has_tick_ = true;
    last_tick_ms_ = now_ms;
    if (!open_) open_first(now_ms);
    const std::size_t before = out.size();
    advance_to(now_ms, out);
    if (rt_interval_s_ > 0) {
        // A boundary passed is used up even before the first reading, so the first 2011 is
        // for a boundary after the first reading arrived.
        const std::int64_t day_start = align(now_ms, kMsPerDay);
        const std::int64_t step = std::int64_t{rt_interval_s_} * 1000;
        const std::int64_t boundary = day_start + floor_div(now_ms - day_start, step) * step;
        if (!has_rt_boundary_ || boundary > last_rt_boundary_ms_) {
            has_rt_boundary_ = true;
            last_rt_boundary_ms_ = boundary;
            // Not for a boundary before the first reading (a tick can come after both).
            if (has_reading_ && first_reading_ms_ <= boundary)
                out.push_back({"2011", boundary, rtd_cp(boundary)});
        }
    }
    if (changed || out.size() != before) ++version_;
    return out;
}

bool Reporter::set_realtime_interval_s(int seconds) {
    if (!valid_realtime_interval(seconds)) return false;
    rt_interval_s_ = seconds;
    ++version_;
    return true;
}

bool Reporter::set_minute_interval_min(int minutes) {
    if (!valid_minute_interval(minutes)) return false;
    if (!open_) {
        min_interval_min_ = minutes;
        pending_min_interval_ = 0;
    } else {
        pending_min_interval_ = minutes == min_interval_min_ ? 0 : minutes;
    }
    ++version_;
    return true;
}

int Reporter::realtime_interval_s() const {
    return rt_interval_s_;
}
int Reporter::minute_interval_min() const {
    return pending_min_interval_ != 0 ? pending_min_interval_ : min_interval_min_;
}
std::uint64_t Reporter::version() const {
    return version_;
}
std::uint64_t Reporter::late_readings() const {
    return late_;
}
std::uint64_t Reporter::skipped_intervals() const {
    return skipped_;
}

// --- persistence
// ---------------------------------------------------------------------------------

namespace {

using nlohmann::json;

json opt_ms(bool has, std::int64_t v) {
    return has ? json(v) : json(nullptr);
}

}  // namespace

nlohmann::json Reporter::state() const {
    json codes = json::array();
    for (const auto& p : config_.pollutants) codes.push_back(p.code);
    auto rollup = [](const Rollup& u) {
        return json::array(
            {u.count, u.min, u.max, u.avg_weighted, u.volume_m3, u.load_kg, u.sliced_ms, u.worst});
    };
    auto good = [](const GoodValue& g) { return json::array({g.has, g.t_ms, g.value}); };
    json ps = json::array();
    for (const auto& s : p_) {
        const auto& a = s.acc;
        ps.push_back(json{
            {"a",
             json::array({a.count, a.min, a.max, a.sum,
                          json::array({a.flags[0], a.flags[1], a.flags[2], a.flags[3], a.flags[4]}),
                          a.volume_m3, a.load_kg, a.sliced_ms})},
            {"h", rollup(s.hour)},
            {"d", rollup(s.day)},
            {"l", json::array({s.latest.has, s.latest.t_ms, s.latest.value,
                               std::string(1, s.latest.flag), s.latest.has_value})},
            {"g", json::array({good(s.good_cur), good(s.good_prev)})},
        });
    }
    json pend = json::array();
    for (const auto& f : pending_) pend.push_back(json::array({f.cn, f.data_time_ms, f.cp}));
    return json{
        {"v", kStateVersion},
        {"codes", codes},
        {"rt", rt_interval_s_},
        {"mi", min_interval_min_},
        {"pmi", pending_min_interval_},
        {"tick", opt_ms(has_tick_, last_tick_ms_)},
        {"rd", has_reading_},
        {"rtb", opt_ms(has_rt_boundary_, last_rt_boundary_ms_)},
        {"open", open_ ? json::array({open_start_ms_, open_end_ms_}) : json(nullptr)},
        {"hour", opt_ms(hour_open_, hour_start_ms_)},
        {"day", opt_ms(day_open_, day_start_ms_)},
        {"flow", json::array({flow_has_, flow_t_ms_, flow_q_, flow_credited_ms_, flow_slice_end_ms_,
                              flow_last_has_, flow_last_t_ms_})},
        {"p", ps},
        {"pend", pend},
        {"late", late_},
        {"skip", skipped_},
    };
}

bool Reporter::restore(const nlohmann::json& state, std::string& error) {
    Reporter r(*this);
    try {
        if (!state.is_object()) throw std::runtime_error("not an object");
        if (state.at("v").get<int>() != kStateVersion)
            throw std::runtime_error("unknown state version");
        const auto codes = state.at("codes").get<std::vector<std::string>>();
        if (codes.size() != config_.pollutants.size())
            throw std::runtime_error("pollutant codes differ from the configuration");
        for (std::size_t i = 0; i < codes.size(); ++i)
            if (codes[i] != config_.pollutants[i].code)
                throw std::runtime_error("pollutant codes differ from the configuration");
        r.rt_interval_s_ = state.at("rt").get<int>();
        if (r.rt_interval_s_ != 0 && !valid_realtime_interval(r.rt_interval_s_))
            throw std::runtime_error("realtime interval out of range");
        r.min_interval_min_ = state.at("mi").get<int>();
        if (!valid_minute_interval(r.min_interval_min_))
            throw std::runtime_error("minute interval out of range");
        r.pending_min_interval_ = state.at("pmi").get<int>();
        if (r.pending_min_interval_ != 0 && !valid_minute_interval(r.pending_min_interval_))
            throw std::runtime_error("pending minute interval out of range");
        auto read_opt = [&](const char* key, bool& has, std::int64_t& v) {
            const json& j = state.at(key);
            has = !j.is_null();
            v = has ? j.get<std::int64_t>() : 0;
        };
        read_opt("tick", r.has_tick_, r.last_tick_ms_);
        r.has_reading_ = state.at("rd").get<bool>();
        r.first_reading_ms_ = r.has_reading_ ? INT64_MIN : INT64_MAX;
        read_opt("rtb", r.has_rt_boundary_, r.last_rt_boundary_ms_);
        const json& open = state.at("open");
        r.open_ = !open.is_null();
        if (r.open_) {
            r.open_start_ms_ = open.at(0).get<std::int64_t>();
            r.open_end_ms_ = open.at(1).get<std::int64_t>();
            const std::int64_t len = r.minute_ms();
            if (r.open_end_ms_ <= r.open_start_ms_ || r.open_end_ms_ - r.open_start_ms_ > len ||
                r.align(r.open_end_ms_, len) != r.open_end_ms_)
                throw std::runtime_error("open interval does not fit the minute interval");
        }
        read_opt("hour", r.hour_open_, r.hour_start_ms_);
        read_opt("day", r.day_open_, r.day_start_ms_);
        if ((r.hour_open_ && r.align(r.hour_start_ms_, kMsPerHour) != r.hour_start_ms_) ||
            (r.day_open_ && r.align(r.day_start_ms_, kMsPerDay) != r.day_start_ms_))
            throw std::runtime_error("hour or day start not aligned to local time");
        const json& flow = state.at("flow");
        r.flow_has_ = flow.at(0).get<bool>();
        r.flow_t_ms_ = flow.at(1).get<std::int64_t>();
        r.flow_q_ = flow.at(2).get<double>();
        r.flow_credited_ms_ = flow.at(3).get<std::int64_t>();
        r.flow_slice_end_ms_ = flow.at(4).get<std::int64_t>();
        r.flow_last_has_ = flow.at(5).get<bool>();
        r.flow_last_t_ms_ = flow.at(6).get<std::int64_t>();
        const json& ps = state.at("p");
        if (!ps.is_array() || ps.size() != r.p_.size())
            throw std::runtime_error("pollutant state count differs from the configuration");
        auto rollup = [](const json& j, Rollup& u) {
            u.count = j.at(0).get<std::uint64_t>();
            u.min = j.at(1).get<double>();
            u.max = j.at(2).get<double>();
            u.avg_weighted = j.at(3).get<double>();
            u.volume_m3 = j.at(4).get<double>();
            u.load_kg = j.at(5).get<double>();
            u.sliced_ms = j.at(6).get<std::int64_t>();
            u.worst = j.at(7).get<int>();
            if (u.worst < -1 || u.worst > 4) throw std::runtime_error("bad rollup flag");
        };
        auto good = [](const json& j, GoodValue& g) {
            g.has = j.at(0).get<bool>();
            g.t_ms = j.at(1).get<std::int64_t>();
            g.value = j.at(2).get<double>();
        };
        for (std::size_t i = 0; i < r.p_.size(); ++i) {
            const json& j = ps.at(i);
            auto& s = r.p_[i];
            const json& a = j.at("a");
            s.acc.count = a.at(0).get<std::uint64_t>();
            s.acc.min = a.at(1).get<double>();
            s.acc.max = a.at(2).get<double>();
            s.acc.sum = a.at(3).get<double>();
            if (a.at(4).size() != kFlagCount) throw std::runtime_error("bad flag counters");
            for (std::size_t f = 0; f < kFlagCount; ++f)
                s.acc.flags[f] = a.at(4).at(f).get<std::uint64_t>();
            s.acc.volume_m3 = a.at(5).get<double>();
            s.acc.load_kg = a.at(6).get<double>();
            s.acc.sliced_ms = a.at(7).get<std::int64_t>();
            rollup(j.at("h"), s.hour);
            rollup(j.at("d"), s.day);
            const json& l = j.at("l");
            s.latest.has = l.at(0).get<bool>();
            s.latest.t_ms = l.at(1).get<std::int64_t>();
            s.latest.value = l.at(2).get<double>();
            const auto flag = l.at(3).get<std::string>();
            if (flag.size() != 1 || (flag[0] != 'N' && flag_slot(flag[0]) < 0))
                throw std::runtime_error("bad flag");
            s.latest.flag = flag[0];
            s.latest.has_value = l.at(4).get<bool>();
            good(j.at("g").at(0), s.good_cur);
            good(j.at("g").at(1), s.good_prev);
        }
        r.pending_.clear();
        for (const json& f : state.at("pend"))
            r.pending_.push_back({f.at(0).get<std::string>(), f.at(1).get<std::int64_t>(),
                                  f.at(2).get<std::string>()});
        r.late_ = state.at("late").get<std::uint64_t>();
        r.skipped_ = state.at("skip").get<std::uint64_t>();
    } catch (const std::exception& e) {
        error = std::string("hj212 reporter state refused: ") + e.what();
        return false;
    }
    r.version_ = version_ + 1;
    *this = std::move(r);
    return true;
}

}  // namespace gw::hj212
