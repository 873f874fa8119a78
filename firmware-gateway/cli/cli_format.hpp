// SPDX-License-Identifier: Apache-2.0
// Human output of the towngw commands, from the daemon's JSON (docs/control-protocol.md). Pure
// string functions, so tests/unit/cli_test.cpp checks them. Tables aim at 80 columns: a
// technician reads them in an SSH app on a phone. Missing fields print as "-", never throw.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace gw::cli {

using json = nlohmann::json;

/// "%.4g", or one decimal for large totals; "-" when not a number.
std::string number_text(const json& value);
/// Fixed decimals; "-" when not a number.
std::string number_text(const json& value, int decimals);

/// "pH/min", "µS/cm/min", "/min" for an empty unit.
std::string per_minute(const std::string& unit);

/// `drift 0.012 pH/min (limit 0.05): STABLE` (or UNSTABLE); while the daemon has too little
/// data: `drift -: collecting samples (need 10 s)`.
std::string stability_text(const json& stability, const std::string& unit);

/// The calibration column of `towngw sensors`: `v3 valid until 2026-12-20`, `factory`,
/// `v3 EXPIRED since 2026-12-20`, or `CALIBRATING` while a session is open.
std::string calibration_text(const json& sensor);

/// `towngw sensors`: header and one line per sensor, columns as wide as their content.
std::vector<std::string> sensors_table(const json& sensors);

/// `2026-11-29T05:20:01.250Z` -> `05:20:01.250` (the time of day, UTC).
std::string time_of_day(const std::string& rfc3339);
/// `2026-11-20T02:10:00Z` -> `2026-11-20 02:10 UTC`.
std::string short_time(const std::string& rfc3339);
/// `2026-11-29T05:20:01.250Z` (or with an offset, `+08:00`) -> milliseconds since the Unix
/// epoch; nothing when the text is not an RFC 3339 date and time.
std::optional<std::int64_t> rfc3339_ms(const std::string& rfc3339);

/// `towngw read`: the header and one line per sample (with the measured value when `raw`).
std::string sample_header(bool raw);
std::string sample_line(const json& sample, bool raw);

/// The live line of the calibration wizard and of the wait for a stable reading:
/// `  6.905 pH   drift 0.012 pH/min (limit 0.05): STABLE`. Uses the last sample's measured
/// value (what a point records), else its value.
std::string live_line(const json& read_response, const std::string& unit);

/// A calibration preview (or the fit of a committed record): coefficients, pH slope and
/// offset, residuals, verdict and reasons, indented by two spaces.
std::vector<std::string> preview_lines(const json& preview, const std::string& unit);

/// `verification: buffer 6.878, reads 6.881, deviation +0.003 (tolerance 0.05): PASSED`.
std::string verification_text(const json& verification);

/// `point 1: reference 6.879, read 6.91 at 18.5 °C (10 samples, drift 0.01/min)`.
std::string point_text(const json& point);

/// One history record: version, time, technician, model, verdict, then coefficients
/// before -> after and the reasons. Accepts the record itself or an entry wrapping it in
/// "record" (object or JSON text).
std::vector<std::string> record_lines(const json& record);

/// `hash chain: ok (12 entries)` or `HASH CHAIN BROKEN at entry 7: <problem>`.
std::string chain_text(const json& chain);

/// The verdict of a preview ("pass", "warn", "reject"), lower case; empty when absent.
std::string verdict_of(const json& preview);

}  // namespace gw::cli
