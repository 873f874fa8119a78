// SPDX-License-Identifier: Apache-2.0
// Command lines of the towngw commands, parsed into plain structs, and the control requests
// built from them. Pure: no I/O, so tests/unit/cli_test.cpp checks them directly. Every parser
// throws UsageError naming the bad argument and what was expected.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cli_common.hpp"

namespace gw::cli {

/// `towngw status` and `towngw sensors`: the common options only.
CommonOptions parse_common_only(const std::string& command, const std::vector<std::string>& args);

// --- towngw read --------------------------------------------------------------------------------

struct ReadArgs {
    CommonOptions common;
    std::string sensor;
    int samples{10};  ///< --samples N (1-120)
    bool raw{false};  ///< --raw: also the measured value (before the field calibration)
    bool follow{false};
};

ReadArgs parse_read_args(const std::vector<std::string>& args);

// --- towngw maintenance
// ---------------------------------------------------------------------------

struct MaintenanceArgs {
    CommonOptions common;
    enum class Action { List, Start, End } action{Action::List};
    std::string sensor;
    int minutes{60};         ///< --minutes N (1-1440)
    std::string technician;  ///< --technician NAME, default the Unix user
    std::string reason;      ///< --reason TEXT
};

/// `towngw maintenance [start SENSOR [--minutes N] [--technician NAME] [--reason TEXT] |
/// end SENSOR]`; throws UsageError naming the culprit.
MaintenanceArgs parse_maintenance_args(const std::vector<std::string>& args);

// --- towngw calibrate ---------------------------------------------------------------------------

/// One standard to record, in the order given on the command line.
struct PointArg {
    enum class Kind {
        Buffer,      ///< --buffer NAME --temp C (pH)
        Reference,   ///< --point REF (turbidity NTU, level m, flow 0, generic)
        Kcl,         ///< --kcl NAME --temp C (conductivity)
        Saturation,  ///< --temp C [--pressure KPA] alone: dissolved oxygen, air-saturated water
        Zero,        ///< --zero: dissolved oxygen in sulfite solution
        Position,    ///< --position empty|full (bin)
    };
    Kind kind{Kind::Reference};
    std::string name;  ///< buffer, KCl standard or position
    std::optional<double> reference;
    std::optional<double> temperature_degc;
    std::string lot;     ///< --lot (of the preceding standard)
    std::string expiry;  ///< --expiry YYYY-MM
    /// What the user typed, for messages: "--buffer 6.86".
    std::string label() const;
};

struct VerifyArg {
    std::string buffer;               ///< --verify-buffer NAME (pH)
    std::optional<double> reference;  ///< --verify-point REF (other models)
    std::optional<double> temperature_degc;
};

struct CalibrateArgs {
    CommonOptions common;
    std::string sensor;
    std::string technician;  ///< empty: the Unix user
    std::string reason;
    std::string probe_serial;
    std::string buffers;  ///< gb, nist, technical; empty: the daemon's configured table
    std::string note;     ///< --note, stored with the commit
    std::vector<PointArg> points;
    std::optional<VerifyArg> verify;
    std::optional<double> pressure_kpa;
    std::optional<double> salinity_g_kg;
    std::optional<double> full_mm;
    bool force{false};
    bool commit{false};
    bool dry_run{false};
    bool yes{false};
    bool takeover{false};

    /// Any option that describes a point: the calibration runs without asking anything.
    bool scripted() const { return !points.empty() || verify.has_value() || full_mm.has_value(); }
};

CalibrateArgs parse_calibrate_args(const std::vector<std::string>& args);

/// `calibration.begin` (technician defaults to `unix_user`).
json begin_request(const CalibrateArgs& args, const std::string& unix_user);

/// `calibration.point` for one point; `pressure`/`salinity` of the args apply to
/// dissolved-oxygen saturation points, `force` to all.
json point_request(const std::string& session, const PointArg& point, const CalibrateArgs& args);

json verify_request(const std::string& session, const VerifyArg& verify);

json commit_request(const std::string& session, const CalibrateArgs& args);

// --- script mode: is the probe in the next standard? ---------------------------------------------

/// The daemon's default `average_s` (docs/control-protocol.md, `calibration.point`): a point is
/// the mean of the good samples of the last 10 s. The CLI does not send `average_s`.
constexpr double kPointAverageS = 10.0;

/// How far every averaged sample must be from the previous point's raw value before script mode
/// records the next standard (or the verification): pH 0.5 pH (30 mV when the probe reports
/// electrode mV, `measured_unit` "mV"), since the buffers of a table are at least 2.3 pH apart
/// and even a worn electrode (70 % of Nernst) moves more than 1.5 pH between them; other models
/// 1 % of the previous raw value, at least 0.001 in the measured unit (a guard against a
/// forgotten move, not an acceptance limit: a point next to zero only needs a visible change).
double movement_threshold(const std::string& model, const std::string& measured_unit,
                          double previous_raw);

/// Whether the newest good sample, and every good sample of the last `average_s` seconds before
/// it (what `calibration.point` would average now), are more than `threshold` away from
/// `previous_raw`. `samples` are those of a `read` answer (oldest first); their "time" decides
/// what is in the window, or, when a time cannot be read, the last average_s*1000/poll_ms
/// samples are taken. Samples that are not "good" are skipped, as the daemon skips them.
struct Movement {
    bool newest{false};  ///< the newest good sample has left the previous point
    bool window{false};  ///< ... and so has every good sample of the averaging window
};
Movement movement_since(const json& samples, double previous_raw, double threshold,
                        double average_s, int poll_ms);

// --- towngw calibration show|history|export|rollback --------------------------------------------

struct CalibrationArgs {
    CommonOptions common;
    std::string action;  ///< show, history, export, rollback
    std::string sensor;  ///< optional for export
    std::string technician;
    std::string reason;
    bool yes{false};
};

CalibrationArgs parse_calibration_args(const std::vector<std::string>& args);

}  // namespace gw::cli
