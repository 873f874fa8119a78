// SPDX-License-Identifier: Apache-2.0
// `towngw calibrate` end to end, as a technician uses it: the real CLI against a real towngwd,
// the simulated pH probe moved between buffers (the simulator's "immerse" control) at the moment
// the CLI asks for the next one. Unattended (point options, no terminal: the CLI itself waits for
// the probe to be in the next buffer), the wizard on a pseudo-terminal (prompts answered, Enter
// when STABLE, Ctrl-C), a calibration outside the acceptance limits, and bad command lines.
// Everything it stores is checked through the CLI too (`calibration history --json`,
// `sensors --json`).
//
// Timing: the rig polls every 250 ms; a point is the mean of the last 10 s (the daemon's
// default average_s), so each standard takes a little over 10 s. The probe's stability limit is
// raised to 20 pH/min: the daemon's rule (slope of the last minute, HJ 1147-2020) would otherwise
// keep a probe that just changed buffers "unstable" until the old samples age out, up to a minute:
// realistic, but slow for CI. A step of h pH after S seconds of samples (the live buffer starts at
// `begin`, and a point needs S >= 10 s) has a least-squares slope of at most 53 h / S pH/min:
// 12 pH/min for the 2.24 pH between 6.91 and 9.15, well under 20. What decides when a point is
// taken is then the CLI waiting until the whole averaging window is in the new buffer (script
// mode), or the test doing the same before it presses Enter (wizard).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "demo_rig.hpp"
#include "net.hpp"
#include "pty_session.hpp"

using namespace std::chrono_literals;
using namespace gw::test;
using namespace gw::test::demo;
using nlohmann::json;

namespace {

constexpr const char* kSensor = "water1.ph";
constexpr auto kStepTimeout = 45s;  ///< one standard: 10 s of averaging plus a wide margin

RigOptions cli_rig_options() {
    RigOptions options;
    options.poll_ms = 250;  // 40 samples in the 10 s a point averages
    // Sensor 0 of config/demo.json is water1.ph (see the header for why 20 pH/min).
    options.overrides.emplace_back("/sensors/0/calibration", R"({"stability_per_min": 20})");
    return options;
}

std::string socket_of(DemoRig& rig) {
    return rig.gateway().control_socket().string();
}

/// Milliseconds since the epoch of a sample's "2026-11-29T05:20:01.250Z".
std::optional<std::int64_t> time_ms(const json& sample) {
    const std::string text = sample.value("time", "");
    const auto seconds = parse_utc(text);
    if (!seconds) return std::nullopt;
    std::int64_t ms = 0;
    if (const auto dot = text.find('.'); dot != std::string::npos) {
        int scale = 100;
        for (std::size_t i = dot + 1;
             i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) != 0; ++i) {
            ms += scale * (text[i] - '0');
            scale /= 10;
        }
    }
    return *seconds * 1000 + ms;
}

/// Waits until the daemon's last reading of the probe is `value`, without starting its live
/// buffer (`sensors`, not `read`): a session begun afterwards starts with this value only.
bool wait_measured(DemoRig& rig, double value) {
    return wait_until(
        [&] {
            const json r = daemon_request(rig, {{"cmd", "sensors"}});
            for (const auto& s : r.value("sensors", json::array()))
                if (s.value("id", "") == kSensor && s.contains("measured") &&
                    s["measured"].is_number())
                    return std::abs(s["measured"].get<double>() - value) < 1e-4;
            return false;
        },
        20s, 100ms);
}

/// Waits until every good sample of the last 10.5 s (what a point averages, with a margin)
/// reads `value`: the probe has been in the new buffer long enough to record it.
bool wait_window(DemoRig& rig, double value) {
    return wait_until(
        [&] {
            const json r =
                daemon_request(rig, {{"cmd", "read"}, {"sensor", kSensor}, {"samples", 120}});
            if (!r.value("ok", false) || r["samples"].size() < 3) return false;
            const auto newest = time_ms(r["samples"].back());
            if (!newest) return false;
            return std::all_of(r["samples"].begin(), r["samples"].end(), [&](const json& s) {
                const auto t = time_ms(s);
                if (!t || *t < *newest - 10'500 || s.value("quality", "") != "good") return true;
                return std::abs(s.value("measured", 0.0) - value) < 1e-4;
            });
        },
        kStepTimeout, 100ms);
}

/// `towngw ARGS... --socket SOCKET`.
std::vector<std::string> towngw(DemoRig& rig, std::vector<std::string> args) {
    args.insert(args.begin(), TOWNGW_CLI_BIN);
    args.emplace_back("--socket");
    args.emplace_back(socket_of(rig));
    return args;
}

/// Waits until `text` is in the output of `cli`, or it exits.
bool wait_output(ChildProcess& cli, const std::string& text, std::chrono::milliseconds timeout) {
    wait_until([&] { return cli.log_text().find(text) != std::string::npos || !cli.running(); },
               timeout, 50ms);
    return cli.log_text().find(text) != std::string::npos;
}

/// `towngw calibration history SENSOR --json`.
json history_of(DemoRig& rig) {
    const auto r =
        run_command(towngw(rig, {"calibration", "history", kSensor, "--json"}), rig.dir().path());
    INFO(r.out << r.err);
    REQUIRE(r.status);
    REQUIRE(r.status->exited_with(0));
    return json::parse(r.out);
}

/// The probe's entry of `towngw sensors --json`.
json sensor_entry(DemoRig& rig) {
    const auto r = run_command(towngw(rig, {"sensors", "--json"}), rig.dir().path());
    INFO(r.out << r.err);
    REQUIRE(r.status);
    REQUIRE(r.status->exited_with(0));
    const json all = json::parse(r.out);
    for (const auto& s : all.value("sensors", json::array()))
        if (s.value("id", "") == kSensor) return s;
    FAIL("towngw sensors --json has no " << kSensor << ": " << r.out);
    return {};
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("towngw calibrate with point options: waits for each buffer, verifies, commits",
          "[integration][calibration][cli]") {
    DemoRig rig("clicalscript", cli_rig_options());
    rig.start_gateway();
    // In the first buffer before the CLI starts (a technician does the same).
    immerse_ph_probe(rig, 6.91);
    REQUIRE(wait_measured(rig, 6.91));

    ChildProcess cli(towngw(rig, {"calibrate", kSensor, "--technician", "li.wei", "--buffer",
                                  "6.86", "--temp", "25", "--buffer", "9.18", "--temp", "25",
                                  "--verify-buffer", "6.86", "--verify-temp", "25", "--commit"}),
                     rig.dir() / "calibrate.out", rig.dir() / "calibrate.err");
    DiagnosticsScope cli_log(
        [&] { return "--- towngw calibrate:\n" + tail_lines(cli.log_text(), 60); });

    // "point 2/2:" is printed once point 1 is recorded: the probe goes into 9.18 (it reads
    // 9.15 there); the CLI must wait until the whole averaging window is in the new buffer.
    REQUIRE(wait_output(cli, "point 2/2: --buffer 9.18 at 25 °C", kStepTimeout));
    CHECK(contains(cli.stdout_text(), "point 1: reference 6.864, read 6.91"));
    immerse_ph_probe(rig, 9.15);
    REQUIRE(wait_output(cli, "verify: buffer 6.86 at 25 °C", kStepTimeout));
    CHECK(contains(cli.stdout_text(), "point 2: reference 9.182, read 9.15"));
    immerse_ph_probe(rig, 6.91);
    const auto status = cli.wait_exit(kStepTimeout);
    REQUIRE(status);
    CHECK(status->exited_with(0));

    const std::string out = cli.stdout_text();
    CHECK(contains(out, "slope 96.6 % of Nernst"));  // 100 * (9.15 - 6.91) / (9.182 - 6.864)
    CHECK(contains(out, "verdict: PASS"));
    CHECK(contains(out, "verification: standard 6.864"));
    CHECK(contains(out, "PASSED"));
    CHECK(contains(out, "committed: water1.ph"));
    CHECK(cli.stderr_text().empty());

    // Stored: one record, chain intact; each point is the mean of one buffer only.
    const json history = history_of(rig);
    INFO(history.dump(2));
    REQUIRE(history["records"].size() == 1);
    CHECK(history["chain"]["ok"] == true);
    const json& record = history["records"][0];
    CHECK(record["technician"] == "li.wei");
    REQUIRE(record["points"].size() == 2);
    CHECK(record["points"][0]["raw"].get<double>() == Approx(6.91).margin(1e-3));
    CHECK(record["points"][1]["raw"].get<double>() == Approx(9.15).margin(1e-3));
    CHECK(record["verification"]["passed"] == true);

    const json sensor = sensor_entry(rig);
    INFO(sensor.dump());
    CHECK(sensor["calibration"]["version"] == 1);
    CHECK(sensor["calibration"]["state"] == "valid");
    CHECK(sensor["calibrating"] == false);
    immerse_ph_probe(rig, std::nullopt);
}

TEST_CASE("towngw calibrate wizard on a terminal: prompts, Enter when stable, commit",
          "[integration][calibration][cli]") {
    DemoRig rig("clicalwizard", cli_rig_options());
    rig.start_gateway();
    immerse_ph_probe(rig, 6.91);
    REQUIRE(wait_measured(rig, 6.91));

    PtySession wizard(towngw(rig, {"calibrate", kSensor, "--technician", "li.wei"}));
    DiagnosticsScope wizard_log(
        [&] { return "--- towngw calibrate (pty):\n" + tail_lines(wizard.output(), 60); });
    const auto answer = [&](const std::string& prompt, const std::string& typed) {
        INFO("prompt: " << prompt);
        REQUIRE(wizard.expect(prompt, 20s));
        wizard.send_line(typed);
    };

    answer("Buffer set: gb, nist or technical? (Enter: as configured) ", "");
    answer("Reason: scheduled, after_cleaning, drift, replacement [scheduled]: ", "");
    REQUIRE(wizard.expect("Session ", 10s));
    REQUIRE(wizard.expect("Put the probe in buffer 6.86", 10s));
    answer("Buffer temperature in °C [25]: ", "25");
    REQUIRE(wizard.expect("Press Enter when STABLE", 10s));
    // The live line says STABLE once the daemon has 10 s of readings, all in buffer 6.86.
    answer(": STABLE", "");
    REQUIRE(wizard.expect("point 1: reference 6.864, read 6.91", kStepTimeout));

    answer("Next buffer (4.00 or 9.18) [4.00]: ", "9.18");
    REQUIRE(wizard.expect("Put the probe in buffer 9.18", 10s));
    immerse_ph_probe(rig, 9.15);
    answer("Buffer temperature in °C [25]: ", "");
    // A technician waits until the reading has settled; here: until the 10 s a point averages
    // are all in the new buffer.
    REQUIRE(wait_window(rig, 9.15));
    answer(": STABLE", "");
    REQUIRE(wizard.expect("point 2: reference 9.182, read 9.15", kStepTimeout));
    REQUIRE(wizard.expect("slope 96.6 % of Nernst", 5s));
    REQUIRE(wizard.expect("verdict: PASS", 5s));

    answer("Another buffer? [y/N] ", "n");
    REQUIRE(wizard.expect("Put the probe back in buffer 6.86", 10s));
    immerse_ph_probe(rig, 6.91);
    answer("Buffer temperature in °C [25]: ", "");
    REQUIRE(wait_window(rig, 6.91));
    answer(": STABLE", "");
    REQUIRE(wizard.expect("verification: standard 6.864", kStepTimeout));
    REQUIRE(wizard.expect("PASSED", 5s));

    answer("Commit this calibration? [y/N] ", "y");
    REQUIRE(wizard.expect("committed: water1.ph", 20s));
    const auto status = wizard.wait_exit(10s);
    REQUIRE(status);
    CHECK(status->exited_with(0));

    const json history = history_of(rig);
    INFO(history.dump(2));
    REQUIRE(history["records"].size() == 1);
    CHECK(history["chain"]["ok"] == true);
    CHECK(history["records"][0]["technician"] == "li.wei");
    CHECK(history["records"][0]["points"].size() == 2);
    const json sensor = sensor_entry(rig);
    CHECK(sensor["calibration"]["version"] == 1);
    CHECK(sensor["calibrating"] == false);
    immerse_ph_probe(rig, std::nullopt);
}

TEST_CASE("towngw calibrate wizard: Ctrl-C at a prompt aborts the session, records nothing",
          "[integration][calibration][cli]") {
    DemoRig rig("clicalctrlc", cli_rig_options());
    rig.start_gateway();

    PtySession wizard(towngw(rig, {"calibrate", kSensor, "--technician", "li.wei"}));
    DiagnosticsScope wizard_log(
        [&] { return "--- towngw calibrate (pty):\n" + tail_lines(wizard.output(), 60); });
    REQUIRE(wizard.expect("Buffer set: gb, nist or technical? (Enter: as configured) ", 20s));
    wizard.send_line("gb");
    REQUIRE(wizard.expect("[scheduled]: ", 10s));
    wizard.send_line("drift");
    REQUIRE(wizard.expect("Buffer temperature in °C [25]: ", 10s));
    // The session is open: the probe's data are flagged C.
    CHECK(sensor_entry(rig)["calibrating"] == true);

    wizard.send_ctrl_c();
    const auto status = wizard.wait_exit(10s);
    REQUIRE(status);
    CHECK(status->exited_with(130));
    CHECK(contains(wizard.output(), "calibration aborted, nothing recorded"));

    // The CLI aborted the session before exiting: no C flag, no record, factory coefficients.
    const json sensor = sensor_entry(rig);
    INFO(sensor.dump());
    CHECK(sensor["calibrating"] == false);
    CHECK(sensor["calibration"]["state"] == "factory");
    CHECK(history_of(rig)["records"].empty());
}

TEST_CASE("towngw calibrate outside the acceptance limits: exit 2, reason, nothing stored",
          "[integration][calibration][cli]") {
    DemoRig rig("clicalreject", cli_rig_options());
    rig.start_gateway();
    immerse_ph_probe(rig, 6.90);
    REQUIRE(wait_measured(rig, 6.90));

    ChildProcess cli(
        towngw(rig, {"calibrate", kSensor, "--technician", "li.wei", "--buffer", "6.86", "--temp",
                     "10", "--buffer", "9.18", "--temp", "10", "--commit"}),
        rig.dir() / "calibrate.out", rig.dir() / "calibrate.err");
    DiagnosticsScope cli_log(
        [&] { return "--- towngw calibrate:\n" + tail_lines(cli.log_text(), 60); });
    REQUIRE(wait_output(cli, "point 2/2: --buffer 9.18 at 10 °C", kStepTimeout));
    // A tired electrode: 8.2 in buffer 9.18 at 10 °C (9.330) is a slope of about 54 %.
    immerse_ph_probe(rig, 8.2);
    const auto status = cli.wait_exit(kStepTimeout);
    REQUIRE(status);
    CHECK(status->exited_with(2));

    const std::string out = cli.log_text();
    CHECK(contains(out, "point 2: reference 9.33, read 8.2"));
    CHECK(contains(out, "verdict: REJECT"));
    CHECK(contains(out, "Nernst"));
    CHECK(contains(cli.stderr_text(), "fails its acceptance limits: not committed"));
    CHECK(contains(cli.stderr_text(), "calibration aborted, nothing recorded"));

    CHECK(history_of(rig)["records"].empty());
    const json sensor = sensor_entry(rig);
    INFO(sensor.dump());
    CHECK(sensor["calibrating"] == false);
    CHECK(sensor["calibration"]["state"] == "factory");
    immerse_ph_probe(rig, std::nullopt);
}

TEST_CASE("towngw calibrate with a bad sensor, a bad number or no daemon: exit code and message",
          "[integration][calibration][cli]") {
    DemoRig rig("clicalbad");
    rig.start_gateway();
    const auto& dir = rig.dir().path();

    {
        INFO("an unknown sensor is refused by name (1), and no session is left open");
        const auto r = run_command(towngw(rig, {"calibrate", "water9.ph", "--technician", "li.wei",
                                                "--buffer", "6.86", "--temp", "25"}),
                                   dir);
        INFO(r.out << r.err);
        REQUIRE(r.status);
        CHECK(r.status->exited_with(1));
        CHECK(contains(r.err, "unknown sensor \"water9.ph\""));
        CHECK(contains(r.err, "water1.ph"));  // lists the sensors there are
    }
    {
        INFO("a temperature that is not a number is a bad command line (64) naming --temp");
        const auto r = run_command(
            towngw(rig, {"calibrate", kSensor, "--buffer", "6.86", "--temp", "warm"}), dir);
        INFO(r.out << r.err);
        REQUIRE(r.status);
        CHECK(r.status->exited_with(64));
        CHECK(contains(r.err, "--temp"));
        CHECK(contains(r.err, "warm"));
    }
    {
        INFO("the wizard needs a terminal (64)");
        const auto r = run_command(towngw(rig, {"calibrate", kSensor}), dir);
        INFO(r.out << r.err);
        REQUIRE(r.status);
        CHECK(r.status->exited_with(64));
        CHECK(contains(r.err, "not a terminal"));
    }
    {
        INFO("no daemon at the socket: unreachable (69), is towngwd running?");
        const auto r = run_command(
            {TOWNGW_CLI_BIN, "calibrate", kSensor, "--socket", (dir / "no-such.sock").string(),
             "--buffer", "6.86", "--temp", "25", "--commit"},
            dir);
        INFO(r.out << r.err);
        REQUIRE(r.status);
        CHECK(r.status->exited_with(69));
        CHECK(contains(r.err, "no-such.sock"));
        CHECK(contains(r.err, "is towngwd running?"));
    }
    // None of them left a session open or stored anything.
    CHECK(sensor_entry(rig)["calibrating"] == false);
    CHECK(history_of(rig)["records"].empty());
}
