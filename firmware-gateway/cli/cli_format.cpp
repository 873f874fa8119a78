// SPDX-License-Identifier: Apache-2.0
#include "cli_format.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <initializer_list>

namespace gw::cli {

namespace {

std::string printf_text(const char* format, double value) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, value);
    return buf;
}

std::string fixed(double value, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
    std::string text = buf;
    if (text.find_first_not_of("-0.") == std::string::npos && text[0] == '-')
        text.erase(0, 1);  // "-0.000" -> "0.000"
    return text;
}

std::string signed_fixed(double value, int decimals) {
    const std::string text = fixed(value, decimals);
    return text[0] == '-' || text.find_first_not_of("0.") == std::string::npos ? text : "+" + text;
}

/// Coefficients: up to 6 significant digits, no exponent for ordinary values.
std::string coefficient_text(const json& v) {
    if (!v.is_number()) return v.is_null() ? "-" : v.dump();
    return printf_text("%.6g", v.get<double>());
}

std::string string_field(const json& object, std::initializer_list<const char*> keys) {
    if (!object.is_object()) return {};
    for (const char* key : keys) {
        auto it = object.find(key);
        if (it != object.end() && it->is_string()) return it->get<std::string>();
    }
    return {};
}

const json* field(const json& object, std::initializer_list<const char*> keys) {
    if (!object.is_object()) return nullptr;
    for (const char* key : keys) {
        auto it = object.find(key);
        if (it != object.end() && !it->is_null()) return &*it;
    }
    return nullptr;
}

const json* number_field(const json& object, std::initializer_list<const char*> keys) {
    if (!object.is_object()) return nullptr;
    for (const char* key : keys) {
        auto it = object.find(key);
        if (it != object.end() && it->is_number()) return &*it;
    }
    return nullptr;
}

std::string upper(std::string text) {
    for (auto& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return text;
}

/// Column widths count characters, not bytes ("µS/cm", "°C").
std::size_t display_width(const std::string& text) {
    std::size_t chars = 0;
    for (unsigned char c : text)
        if ((c & 0xC0) != 0x80) ++chars;
    return chars;
}

std::string pad_right(const std::string& text, std::size_t width) {
    const std::size_t chars = display_width(text);
    return chars >= width ? text : text + std::string(width - chars, ' ');
}

std::string pad_left(const std::string& text, std::size_t width) {
    const std::size_t chars = display_width(text);
    return chars >= width ? text : std::string(width - chars, ' ') + text;
}

std::string rtrim(std::string text) {
    while (!text.empty() && text.back() == ' ') text.pop_back();
    return text;
}

/// Reasons of a preview or record: "reasons", else "messages".
std::vector<std::string> reasons_of(const json& object) {
    std::vector<std::string> out;
    const json* list = field(object, {"reasons", "messages"});
    if (list == nullptr || !list->is_array()) return out;
    for (const auto& r : *list) out.push_back(r.is_string() ? r.get<std::string>() : r.dump());
    return out;
}

/// "gain 1 → 1.0123, offset 0 → -0.041" (or just "gain 1.0123, offset -0.041").
std::string coefficient_change(const json* before, const json* after) {
    std::string text;
    const json* keys_from = after != nullptr ? after : before;
    if (keys_from == nullptr || !keys_from->is_object()) return text;
    for (const auto& [key, value] : keys_from->items()) {
        if (!value.is_number()) continue;
        if (!text.empty()) text += ", ";
        text += key + " ";
        if (before != nullptr && after != nullptr) {
            const json* old_value = number_field(*before, {key.c_str()});
            text += (old_value != nullptr ? coefficient_text(*old_value) : std::string("-")) +
                    " → " + coefficient_text(value);
        } else {
            text += coefficient_text(value);
        }
    }
    return text;
}

/// Coefficients of a preview: "coefficients" object, else the preview's own gain/offset/...
std::string coefficients_text(const json& preview) {
    const json* coefficients = field(preview, {"coefficients", "after"});
    if (coefficients != nullptr && coefficients->is_object())
        return coefficient_change(nullptr, coefficients);
    json own = json::object();
    for (const char* key : {"gain", "offset", "empty_mm", "full_mm", "cell_constant"})
        if (preview.contains(key) && preview[key].is_number()) own[key] = preview[key];
    return coefficient_change(nullptr, &own);
}

/// "slope 98.7 % of Nernst (58.39 mV/pH), offset +2.4 mV at pH 7" when the fit has them.
std::string ph_fit_text(const json& fit) {
    const json* slope = number_field(fit, {"slope_pct_of_nernst", "slope_pct"});
    const json* offset_mv = number_field(fit, {"offset_mv"});
    std::string text;
    if (slope != nullptr) {
        text = "slope " + fixed(slope->get<double>(), 1) + " % of Nernst";
        if (const json* mv = number_field(fit, {"slope_mv_per_ph"}))
            text += " (" + fixed(mv->get<double>(), 2) + " mV/pH)";
    }
    if (offset_mv != nullptr) {
        if (!text.empty()) text += ", ";
        text += "offset " + signed_fixed(offset_mv->get<double>(), 1) + " mV at pH 7";
    }
    return text;
}

}  // namespace

std::string number_text(const json& v) {
    if (!v.is_number()) return "-";
    const double d = v.get<double>();
    // Totalisers are large integers: show them whole, not as 1.25e+05.
    return printf_text(std::fabs(d) >= 1e4 ? "%.1f" : "%.4g", d);
}

std::string number_text(const json& v, int decimals) {
    if (!v.is_number()) return "-";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v.get<double>());
    return buf;
}

std::string per_minute(const std::string& unit) {
    return unit.empty() ? "/min" : unit + "/min";
}

std::string stability_text(const json& stability, const std::string& unit) {
    const json* drift = number_field(stability, {"drift_per_min"});
    if (drift == nullptr) return "drift -: collecting samples (10 s of good readings)";
    const json* limit = number_field(stability, {"limit_per_min"});
    int decimals = 3;
    if (limit != nullptr && limit->get<double>() > 0) {
        const double magnitude = std::floor(std::log10(limit->get<double>()));
        decimals = static_cast<int>(std::clamp(1.0 - magnitude, 1.0, 6.0));
    }
    bool stable = false;
    if (stability.contains("stable") && stability["stable"].is_boolean())
        stable = stability["stable"].get<bool>();
    else if (limit != nullptr)
        stable = std::fabs(drift->get<double>()) <= limit->get<double>();
    // The daemon judges stability over at least 10 s of good samples (docs/control-protocol.md).
    if (const json* span = number_field(stability, {"span_s"});
        span != nullptr && !stable && span->get<double>() < 10.0)
        return "drift -: collecting samples (" + printf_text("%.0f", span->get<double>()) +
               " of 10 s)";
    std::string text = "drift " + fixed(drift->get<double>(), decimals) + " " + per_minute(unit);
    if (limit != nullptr) text += " (limit " + printf_text("%.4g", limit->get<double>()) + ")";
    return text + (stable ? ": STABLE" : ": UNSTABLE");
}

std::string calibration_text(const json& sensor) {
    if (sensor.is_object() && sensor.value("calibrating", false)) return "CALIBRATING";
    const json* calibration = field(sensor, {"calibration"});
    if (calibration == nullptr || !calibration->is_object()) return "-";
    const std::string state = string_field(*calibration, {"state"});
    if (state == "factory") return "factory";
    std::string version;
    if (const json* v = number_field(*calibration, {"version"}))
        version = "v" + std::to_string(v->get<long long>()) + " ";
    const std::string due = string_field(*calibration, {"due_at"}).substr(0, 10);
    if (state == "valid") return version + (due.empty() ? "valid" : "valid until " + due);
    if (state == "expired") return version + (due.empty() ? "EXPIRED" : "EXPIRED since " + due);
    return version + (state.empty() ? "?" : state);
}

std::vector<std::string> sensors_table(const json& sensors) {
    std::vector<std::vector<std::string>> rows;
    rows.push_back({"SENSOR", "DEVICE", "LAST", "UNIT", "QUALITY", "CALIBRATION"});
    if (sensors.is_array()) {
        for (const auto& s : sensors) {
            if (!s.is_object()) continue;
            rows.push_back({string_field(s, {"id"}), string_field(s, {"device"}),
                            number_text(s.contains("last") ? s["last"] : json()),
                            string_field(s, {"unit"}), string_field(s, {"quality"}),
                            calibration_text(s)});
        }
    }
    std::vector<std::size_t> widths(rows.front().size(), 0);
    for (const auto& row : rows)
        for (std::size_t c = 0; c < row.size(); ++c)
            widths[c] = std::max(widths[c], display_width(row[c].empty() ? "-" : row[c]));
    std::vector<std::string> lines;
    for (const auto& row : rows) {
        std::string line;
        for (std::size_t c = 0; c < row.size(); ++c) {
            const std::string cell = row[c].empty() ? "-" : row[c];
            if (c > 0) line += "  ";
            line += c == 2 ? pad_left(cell, widths[c]) : pad_right(cell, widths[c]);
        }
        lines.push_back(rtrim(line));
    }
    return lines;
}

std::string time_of_day(const std::string& rfc3339) {
    const auto t = rfc3339.find('T');
    if (t == std::string::npos) return rfc3339;
    std::string time = rfc3339.substr(t + 1);
    if (!time.empty() && time.back() == 'Z') time.pop_back();
    return time;
}

std::string short_time(const std::string& rfc3339) {
    if (rfc3339.size() < 16 || rfc3339[10] != 'T') return rfc3339;
    const bool utc = rfc3339.back() == 'Z';
    return rfc3339.substr(0, 10) + " " + rfc3339.substr(11, 5) + (utc ? " UTC" : "");
}

namespace {

/// `count` decimal digits at `pos`, or -1.
int digits_at(const std::string& text, std::size_t pos, std::size_t count) {
    if (pos + count > text.size()) return -1;
    int value = 0;
    for (std::size_t i = pos; i < pos + count; ++i) {
        if (!std::isdigit(static_cast<unsigned char>(text[i]))) return -1;
        value = value * 10 + (text[i] - '0');
    }
    return value;
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, int m, int d) {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const std::int64_t yoe = y - era * 400;
    const std::int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

}  // namespace

std::optional<std::int64_t> rfc3339_ms(const std::string& text) {
    // YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)
    if (text.size() < 20 || text[4] != '-' || text[7] != '-' ||
        (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || text[13] != ':' ||
        text[16] != ':')
        return std::nullopt;
    const int year = digits_at(text, 0, 4);
    const int month = digits_at(text, 5, 2);
    const int day = digits_at(text, 8, 2);
    const int hour = digits_at(text, 11, 2);
    const int minute = digits_at(text, 14, 2);
    const int second = digits_at(text, 17, 2);
    if (year < 0 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 ||
        minute < 0 || minute > 59 || second < 0 || second > 60)
        return std::nullopt;
    std::size_t pos = 19;
    std::int64_t ms = 0;
    if (pos < text.size() && text[pos] == '.') {
        ++pos;
        int scale = 100;
        const std::size_t first = pos;
        while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
            ms += scale * (text[pos] - '0');
            scale /= 10;
            ++pos;
        }
        if (pos == first) return std::nullopt;
    }
    std::int64_t offset_min = 0;
    if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
        ++pos;
    } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
        const int oh = digits_at(text, pos + 1, 2);
        const int om = digits_at(text, pos + 4, 2);
        if (oh < 0 || om < 0 || pos + 3 >= text.size() || text[pos + 3] != ':') return std::nullopt;
        offset_min = (text[pos] == '-' ? -1 : 1) * (oh * 60 + om);
        pos += 6;
    } else {
        return std::nullopt;
    }
    if (pos != text.size()) return std::nullopt;
    const std::int64_t days = days_from_civil(year, month, day);
    const std::int64_t seconds =
        days * 86400 + hour * 3600 + minute * 60 + second - offset_min * 60;
    return seconds * 1000 + ms;
}

std::string sample_header(bool raw) {
    return raw ? "TIME (UTC)         VALUE    MEASURED  QUALITY"
               : "TIME (UTC)         VALUE  QUALITY";
}

std::string sample_line(const json& sample, bool raw) {
    const std::string time = time_of_day(string_field(sample, {"time"}));
    std::string line =
        pad_right(time.empty() ? "-" : time, 14) + " " +
        pad_left(number_text(sample.contains("value") ? sample["value"] : json()), 9);
    if (raw)
        line +=
            "  " +
            pad_left(number_text(sample.contains("measured") ? sample["measured"] : json()), 10);
    const std::string quality = string_field(sample, {"quality"});
    return line + "  " + (quality.empty() ? "-" : quality);
}

std::string live_line(const json& read_response, const std::string& unit) {
    const json* samples = field(read_response, {"samples"});
    if (samples == nullptr || !samples->is_array() || samples->empty())
        return "  waiting for readings...";
    const json& last = samples->back();
    const json* value = number_field(last, {"measured", "value"});
    std::string text = "  " + (value != nullptr ? number_text(*value) : std::string("-"));
    if (!unit.empty()) text += " " + unit;
    const std::string quality = string_field(last, {"quality"});
    if (!quality.empty() && quality != "good" && quality != "calibrating")
        text += " (" + quality + ")";
    text += "   ";
    const json* stability = field(read_response, {"stability"});
    return text + stability_text(stability != nullptr ? *stability : json(), unit);
}

std::string verdict_of(const json& preview) {
    std::string verdict = string_field(preview, {"verdict"});
    for (auto& c : verdict) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return verdict;
}

std::vector<std::string> preview_lines(const json& preview, const std::string& unit) {
    std::vector<std::string> lines;
    if (!preview.is_object()) return lines;
    const std::string coefficients = coefficients_text(preview);
    if (!coefficients.empty()) lines.push_back("  coefficients: " + coefficients);
    const std::string ph = ph_fit_text(preview);
    if (!ph.empty()) lines.push_back("  " + ph);
    if (const json* residuals = field(preview, {"residuals"});
        residuals != nullptr && residuals->is_array() && !residuals->empty()) {
        std::string text = "  residuals:";
        double max_abs = 0;
        for (const auto& r : *residuals) {
            // Two points fit exactly: print 0, not 8.88178e-16.
            text += " " + (r.is_number() && std::fabs(r.get<double>()) < 5e-7 ? std::string("0")
                           : r.is_number() ? printf_text("%.3g", r.get<double>())
                                           : coefficient_text(r));
            if (r.is_number()) max_abs = std::max(max_abs, std::fabs(r.get<double>()));
        }
        if (!unit.empty()) text += " " + unit;
        if (residuals->size() > 1 && max_abs >= 5e-7)
            text += " (max " + printf_text("%.3g", max_abs) + ")";
        lines.push_back(text);
    }
    std::string conditions;
    const std::string table = string_field(preview, {"table"});
    if (!table.empty()) conditions = "buffer table " + table;
    if (const json* t = number_field(preview, {"mean_temperature_degc"}))
        conditions += (conditions.empty() ? "" : ", ") + std::string("at ") +
                      printf_text("%.1f", t->get<double>()) + " °C";
    if (const json* s = number_field(preview, {"saturation_mg_l"}))
        conditions += (conditions.empty() ? "" : ", ") + std::string("saturation ") +
                      printf_text("%.2f", s->get<double>()) + " mg/L";
    if (const json* k = number_field(preview, {"reference_us_cm"}))
        conditions += (conditions.empty() ? "" : ", ") + std::string("reference ") +
                      printf_text("%.1f", k->get<double>()) + " µS/cm";
    if (!conditions.empty()) lines.push_back("  " + conditions);
    if (const json* r2 = number_field(preview, {"r_squared"}))
        lines.push_back("  r² " + fixed(r2->get<double>(), 5));
    const std::string verdict = verdict_of(preview);
    if (!verdict.empty()) lines.push_back("  verdict: " + upper(verdict));
    for (const auto& reason : reasons_of(preview)) lines.push_back("  - " + reason);
    return lines;
}

std::string verification_text(const json& v) {
    std::string text = "verification:";
    if (const json* reference = number_field(v, {"reference"}))
        text += " standard " + number_text(*reference) + ",";
    if (const json* calibrated = number_field(v, {"calibrated"}))
        text += " reads " + number_text(*calibrated) + ",";
    if (const json* deviation = number_field(v, {"deviation"})) {
        text += " deviation " + signed_fixed(deviation->get<double>(), 3);
        if (const json* tolerance = number_field(v, {"tolerance"}))
            text += " (tolerance " + number_text(*tolerance) + ")";
    }
    const bool passed = v.is_object() && v.value("passed", false);
    return text + (passed ? ": PASSED" : ": FAILED");
}

std::string point_text(const json& point) {
    std::string text = "point";
    if (const json* index = number_field(point, {"index"}))
        text += " " + std::to_string(index->get<long long>());
    text += ":";
    if (const std::string position = string_field(point, {"position"}); !position.empty())
        text += " " + position + " bin,";
    else if (const json* reference = number_field(point, {"reference"}))
        text += " reference " + number_text(*reference) + ",";
    if (const json* raw = number_field(point, {"raw"})) text += " read " + number_text(*raw);
    if (const json* t = number_field(point, {"temperature_degc"}))
        text += " at " + printf_text("%.1f", t->get<double>()) + " °C";
    std::string detail;
    if (const json* n = number_field(point, {"samples"}))
        detail = std::to_string(n->get<long long>()) + " samples";
    if (const json* drift = number_field(point, {"drift_per_min"}))
        detail += (detail.empty() ? "" : ", ") + std::string("drift ") +
                  printf_text("%.3g", drift->get<double>()) + "/min";
    if (!detail.empty()) text += " (" + detail + ")";
    if (point.is_object() && point.contains("stable") && !point.value("stable", true))
        text += " NOT STABLE (forced)";
    return text;
}

std::vector<std::string> record_lines(const json& entry) {
    json parsed;
    const json* record = &entry;
    if (const json* inner = field(entry, {"record"})) {
        if (inner->is_object()) {
            record = inner;
        } else if (inner->is_string()) {
            parsed = json::parse(inner->get<std::string>(), nullptr, false);
            if (parsed.is_object()) record = &parsed;
        }
    }
    std::vector<std::string> lines;
    const json* version = number_field(*record, {"version"});
    if (version == nullptr) version = number_field(entry, {"version"});
    std::string time =
        string_field(*record, {"time", "committed_at", "calibrated_at", "time_end", "at"});
    if (time.empty()) time = string_field(entry, {"time"});
    const std::string action = string_field(*record, {"action"});
    std::string head = version != nullptr ? "v" + std::to_string(version->get<long long>()) : "v?";
    if (!time.empty()) head += "  " + short_time(time);
    const std::string technician = string_field(*record, {"technician"});
    if (!technician.empty()) head += "  " + technician;
    if (action == "rollback") {
        head += "  ROLLBACK";
        if (const json* undone = number_field(*record, {"rolled_back_version"}))
            head += " of v" + std::to_string(undone->get<long long>());
    } else {
        const std::string model = string_field(*record, {"model"});
        if (!model.empty()) head += "  " + model;
        const json* fit = field(*record, {"fit", "result", "preview"});
        std::string verdict = verdict_of(*record);
        if (verdict.empty() && fit != nullptr) verdict = verdict_of(*fit);
        if (!verdict.empty()) head += "  " + upper(verdict);
    }
    lines.push_back(head);

    std::string who;
    const std::string reason = string_field(*record, {"reason"});
    if (!reason.empty()) who = "reason: " + reason;
    const std::string probe = string_field(*record, {"probe_serial"});
    if (!probe.empty()) who += (who.empty() ? "" : "   ") + std::string("probe: ") + probe;
    if (!who.empty()) lines.push_back("  " + who);

    const json* before = field(*record, {"before", "previous", "coefficients_before", "old"});
    const json* after = field(*record, {"after", "coefficients", "coefficients_after", "new"});
    if (before != nullptr && !before->is_object()) before = nullptr;
    if (after != nullptr && !after->is_object()) after = nullptr;
    const std::string change = coefficient_change(before, after);
    if (!change.empty()) lines.push_back("  " + change);

    const json* fit = field(*record, {"fit", "result", "preview"});
    std::string ph = ph_fit_text(*record);
    if (ph.empty() && fit != nullptr) ph = ph_fit_text(*fit);
    if (!ph.empty()) lines.push_back("  " + ph);
    if (const json* verification = field(*record, {"verification"});
        verification != nullptr && verification->is_object())
        lines.push_back("  " + verification_text(*verification));
    const std::string due = string_field(*record, {"due_at"});
    if (!due.empty()) lines.push_back("  valid until " + short_time(due));
    const std::string note = string_field(*record, {"note"});
    if (!note.empty()) lines.push_back("  note: " + note);
    auto reasons = reasons_of(*record);
    if (reasons.empty() && fit != nullptr) reasons = reasons_of(*fit);
    for (const auto& r : reasons) lines.push_back("  - " + r);
    return lines;
}

std::string chain_text(const json& chain) {
    if (!chain.is_object()) return "hash chain: not reported by towngwd";
    if (chain.value("ok", false)) {
        std::string text = "hash chain: ok";
        if (const json* n = number_field(chain, {"entries"}))
            text += " (" + std::to_string(n->get<long long>()) +
                    (n->get<long long>() == 1 ? " entry)" : " entries)");
        return text;
    }
    std::string text = "HASH CHAIN BROKEN";
    if (const json* bad = number_field(chain, {"first_bad_id"}))
        text += " at entry " + std::to_string(bad->get<long long>());
    const std::string problem = string_field(chain, {"problem"});
    return text + (problem.empty() ? "" : ": " + problem);
}

}  // namespace gw::cli
