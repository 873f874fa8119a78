// SPDX-License-Identifier: Apache-2.0
// 4-20 mA and 0-10 V inputs through a Linux IIO ADC, end to end: the test builds a fake sysfs
// IIO tree in its scratch directory (in_voltageN_raw, in_voltage_scale, a per-channel
// in_voltageN_scale), points towngwd's "iio" devices at it and reads what the daemon publishes
// on its data topics and says in `towngw status --json`. It changes the ADC readings by
// rewriting the raw files while the daemon runs (write to a temporary file, then rename, so a
// poll never sees a half-written file). What it checks:
//   - a 4-20 mA level loop across a 250 ohm shunt publishes (raw x scale) mV / 250 ohm mapped
//     linearly from 4..20 mA onto 0..5 m, and follows a rewritten raw value;
//   - a broken loop (0 mA, 2.1 mA) and an upscale failure signal (22 mA) are instrument faults:
//     windows with quality "fault", flag D and no value at all (never a zero), until the loop is
//     healthy again;
//   - a 0-10 V transmitter behind a 2:1 divider maps linearly (0 V is a valid 0, it has no live
//     zero), with its per-channel scale overriding the shared one;
//   - a deleted raw file is a communication failure of that sensor only (comm_error, flag B),
//     `towngw status` shows it, and restoring the file brings good windows back.
#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>

#include "diagnostics.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using namespace gw::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr const char* kTown = "iio-town";
constexpr const char* kGateway = "iio-gw";

// --- the fake board --------------------------------------------------------------------------
// adc0 (iio:device0) looks like a TI ADS1115 at +-6.144 V full scale: 0.1875 mV per LSB, shared
// by all inputs (in_voltage_scale). Input 0 measures a 4-20 mA level transmitter (0..5 m) across
// a 250 ohm shunt. Input 1 is a 0-10 V pressure transmitter (0..16 bar) behind a 2:1 divider, so
// the ADC pin sees 0..5 V; that input has its own in_voltage1_scale (0.125 mV per LSB), which
// must win over the shared one.
// adc1 (iio:device1) looks like a 12-bit 3.3 V SoC ADC: 3300 mV / 4096 = 0.8056640625 mV per
// LSB. Its only input measures a 4-20 mA flow meter (0..120 m3/h) across a 150 ohm shunt.
constexpr double kAdc0Scale = 0.1875;         // mV per LSB, in_voltage_scale of adc0
constexpr double kPressureScale = 0.125;      // mV per LSB, in_voltage1_scale of adc0
constexpr double kAdc1Scale = 3300.0 / 4096;  // mV per LSB, in_voltage_scale of adc1

struct Loop {  // a 4-20 mA channel
    double shunt_ohm;
    double range_min;
    double range_max;
};
constexpr Loop kLevel{250.0, 0.0, 5.0};   // m
constexpr Loop kFlow{150.0, 0.0, 120.0};  // m3/h

constexpr double kPressureVoltsMax = 5.0;   // V at the ADC pin for 10 V out of the transmitter
constexpr double kPressureRangeMax = 16.0;  // bar

/// IIO ABI: the input voltage in mV is (raw + offset) * scale (the fake tree has no offsets).
double millivolts(double raw, double scale, double offset = 0.0) {
    return (raw + offset) * scale;
}

/// Loop current (mA = mV / ohm) mapped linearly from 4..20 mA onto the loop's range.
double loop_value(double raw, double scale, const Loop& loop) {
    const double milliamps = millivolts(raw, scale) / loop.shunt_ohm;
    return loop.range_min + (milliamps - 4.0) / (20.0 - 4.0) * (loop.range_max - loop.range_min);
}

/// Voltage at the pin (V) mapped linearly from 0..5 V onto 0..16 bar.
double pressure_value(double raw) {
    const double volts = millivolts(raw, kPressureScale) / 1000.0;
    return volts / kPressureVoltsMax * kPressureRangeMax;
}

/// The raw reading of adc0 that gives `milliamps` across the level loop's shunt (rounded to an
/// ADC step; the expected values are always computed back from the raw).
int level_raw_for(double milliamps) {
    return static_cast<int>(std::lround(milliamps * kLevel.shunt_ohm / kAdc0Scale));
}

/// The published numbers are doubles that went through the same arithmetic (the mean through a
/// sum and a division): equal up to rounding.
Approx same(double expected) {
    return Approx(expected).epsilon(1e-12).margin(1e-12);
}

/// Writes one sysfs attribute the way the kernel shows it ("16000\n"), atomically.
void write_attribute(const fs::path& dir, const std::string& name, const std::string& text) {
    const fs::path tmp = dir / ("." + name + ".tmp");
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << text << "\n";
        out.close();
        REQUIRE(out.good());
    }
    fs::rename(tmp, dir / name);
}

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::int64_t start_ms(const json& window) {
    return parse_utc(window.value("window_start", "")).value_or(0) * 1000;
}

bool is_good(const json& w) {
    return w.value("quality", "") == "good";
}

bool has_no_value(const json& w) {
    return w.value("count", -1) == 0 && w["min"].is_null() && w["max"].is_null() &&
           w["mean"].is_null() && w["last"].is_null();
}

/// A good window whose every statistic is `expected`.
bool good_with(const json& w, double expected) {
    if (!is_good(w) || !w["min"].is_number() || !w["max"].is_number() || !w["mean"].is_number() ||
        !w["last"].is_number())
        return false;
    return w["min"].get<double>() == same(expected) && w["max"].get<double>() == same(expected) &&
           w["mean"].get<double>() == same(expected) && w["last"].get<double>() == same(expected);
}

/// Broker, fake sysfs tree and towngwd (1 s windows, 200 ms polls) in one scratch directory.
struct IioRig {
    TempDir dir;
    fs::path adc0;
    fs::path adc1;
    MosquittoBroker broker{dir.path()};
    MqttCollector collector{broker.uri(),
                            std::string("townbrain/v1/") + kTown + "/" + kGateway + "/data/#"};
    std::unique_ptr<GatewayProcess> gw;
    DiagnosticsScope diagnostics{[this] { return describe(); }};

    /// Initial raw readings: the level loop at 12 mA, the pressure pin at 2.5 V, the flow loop
    /// at about 12 mA.
    explicit IioRig(int level_raw = level_raw_for(12.0), int pressure_raw = 20000,
                    int flow_raw = 2234)
        : adc0(fs::absolute(dir / "iio:device0")), adc1(fs::absolute(dir / "iio:device1")) {
        fs::create_directories(adc0);
        write_attribute(adc0, "name", "ads1115");
        write_attribute(adc0, "in_voltage_scale", "0.187500000");
        write_attribute(adc0, "in_voltage1_scale", "0.125000000");
        write_attribute(adc0, "in_voltage0_raw", std::to_string(level_raw));
        write_attribute(adc0, "in_voltage1_raw", std::to_string(pressure_raw));
        fs::create_directories(adc1);
        write_attribute(adc1, "name", "1c25000.gpadc");
        write_attribute(adc1, "in_voltage_scale", "0.805664062500");
        write_attribute(adc1, "in_voltage0_raw", std::to_string(flow_raw));

        const json config = {
            {"gateway", {{"town_id", kTown}, {"gateway_id", kGateway}}},
            {"mqtt", {{"broker", broker.uri()}}},
            {"clock", {{"trust", "system"}}},
            {"devices",
             {{{"id", "adc0"},
               {"transport", {{"type", "iio"}, {"device", adc0.string()}}},
               {"poll_ms", 200},
               {"channels",
                {{{"name", "level"},
                  {"channel", 0},
                  {"mode", "current"},
                  {"shunt_ohm", kLevel.shunt_ohm},
                  {"milliamps", {4, 20}},
                  {"range", {kLevel.range_min, kLevel.range_max}},
                  {"unit", "m"},
                  {"metric", "water_level"}},
                 {{"name", "pressure"},
                  {"channel", 1},
                  {"mode", "voltage"},
                  {"volts", {0, kPressureVoltsMax}},
                  {"range", {0, kPressureRangeMax}},
                  {"unit", "bar"},
                  {"metric", "pressure"}}}}},
              {{"id", "adc1"},
               {"transport", {{"type", "iio"}, {"device", adc1.string()}}},
               {"poll_ms", 200},
               {"channels",
                {{{"name", "flow"},
                  {"channel", 0},
                  {"mode", "current"},
                  {"shunt_ohm", kFlow.shunt_ohm},
                  {"range", {kFlow.range_min, kFlow.range_max}},
                  {"unit", "m3/h"},
                  {"metric", "flow_rate"}}}}}}},
            {"sensors",
             {{{"id", "adc0.level"}, {"device", "adc0"}, {"register", "level"}, {"window_s", 1}},
              {{"id", "adc0.pressure"},
               {"device", "adc0"},
               {"register", "pressure"},
               {"window_s", 1}},
              {{"id", "adc1.flow"}, {"device", "adc1"}, {"register", "flow"}, {"window_s", 1}}}}};
        write_json_file(dir / "towngw.json", config);

        GatewayOptions opts;
        opts.towngwd_bin = TOWNGWD_BIN;
        opts.config = dir / "towngw.json";
        gw = std::make_unique<GatewayProcess>(opts, dir.path());
    }

    std::string describe() const {
        std::string text = "scratch dir: " + dir.path().string() + "\n";
        if (gw) text += "--- towngwd log (tail) ---\n" + tail_lines(gw->log_text(), 60) + "\n";
        return text;
    }

    /// Rewrites an ADC input's raw reading; returns the time after the write (Unix ms).
    std::int64_t set_raw(const fs::path& adc, int channel, int raw) const {
        write_attribute(adc, "in_voltage" + std::to_string(channel) + "_raw", std::to_string(raw));
        return now_ms();
    }

    /// Windows of `sensor` received so far that start at or after `since`.
    std::vector<json> windows(const std::string& sensor, std::int64_t since) const {
        std::vector<json> out;
        for (const auto& m : collector.messages())
            if (m.json && m.json->value("sensor", "") == sensor && start_ms(*m.json) >= since)
                out.push_back(*m.json);
        return out;
    }

    /// Waits for a window of `sensor` that starts at or after `since` and satisfies `pred`. A
    /// caller that changed a file passes the time after the change plus 1 s, so no sample of the
    /// window can have been read before the change (a window is at most 1 s long).
    json wait_window(const std::string& sensor, std::int64_t since,
                     const std::function<bool(const json&)>& pred,
                     std::chrono::milliseconds timeout = 15s) {
        json found;
        const bool ok = collector.wait_for(
            [&](const MessageList& all) {
                for (const auto& m : all) {
                    if (!m.json || m.json->value("sensor", "") != sensor) continue;
                    if (start_ms(*m.json) < since) continue;
                    if (pred(*m.json)) {
                        found = *m.json;
                        return true;
                    }
                }
                return false;
            },
            timeout);
        if (!ok) {
            std::string seen;
            for (const auto& w : windows(sensor, since)) seen += w.dump() + "\n";
            FAIL("no matching window of " << sensor << " from " << since << " within "
                                          << timeout.count() << " ms; its windows since then:\n"
                                          << seen);
        }
        return found;
    }

    std::optional<json> status() const {
        const auto r = run_command(
            {TOWNGW_CLI_BIN, "status", "--socket", gw->control_socket().string(), "--json"},
            dir.path());
        if (!r.status || !r.status->exited_with(0)) return std::nullopt;
        auto j = json::parse(r.out, nullptr, false);
        if (j.is_discarded()) return std::nullopt;
        return j;
    }

    /// Waits until `towngw status --json` satisfies `pred`; returns that status.
    json wait_status(const std::function<bool(const json&)>& pred,
                     std::chrono::milliseconds timeout = 15s) const {
        json last;
        const bool ok = wait_until(
            [&] {
                const auto s = status();
                if (!s) return false;
                last = *s;
                return pred(last);
            },
            timeout, 100ms);
        INFO("last status: " << last.dump());
        REQUIRE(ok);
        return last;
    }
};

json entry(const json& status, const char* list, const std::string& id) {
    for (const auto& e : status.value(list, json::array()))
        if (e.value("id", "") == id) return e;
    return json::object();
}

}  // namespace

TEST_CASE(
    "a 4-20 mA level loop across a 250 ohm shunt publishes its value and follows a new raw reading",
    "[integration][iio]") {
    // 12 mA: 16000 LSB x 0.1875 mV = 3000 mV across 250 ohm = 12 mA, the middle of 4..20 mA,
    // so the middle of 0..5 m: 2.5 m.
    const int raw = level_raw_for(12.0);
    REQUIRE(raw == 16000);
    REQUIRE(millivolts(raw, kAdc0Scale) == 3000.0);
    const double expected = loop_value(raw, kAdc0Scale, kLevel);
    REQUIRE(expected == 2.5);
    IioRig rig(raw);

    const json w =
        rig.wait_window("adc0.level", 0, [&](const json& x) { return good_with(x, expected); });
    CHECK(w.value("device", "") == "adc0");
    CHECK(w.value("metric", "") == "water_level");
    CHECK(w.value("unit", "") == "m");
    CHECK(w.value("window_s", 0) == 1);
    CHECK(w.value("expected", 0) == 5);  // 1 s window / 200 ms polls
    CHECK(w.value("failed", -1) == 0);
    CHECK(w.value("flag", "") == "N");
    // The other loop, on another ADC with another shunt and scale: 2234 LSB x 0.8056640625 mV
    // = 1799.85 mV across 150 ohm = 11.999 mA, just below the middle of 0..120 m3/h.
    const double flow = loop_value(2234, kAdc1Scale, kFlow);
    rig.wait_window("adc1.flow", 0, [&](const json& x) { return good_with(x, flow); });

    // `towngw status` shows the last good value of each sensor.
    rig.wait_status([&](const json& s) {
        const json level = entry(s, "sensors", "adc0.level");
        return level.value("quality", "") == "good" && level["last"].is_number() &&
               level["last"].get<double>() == same(expected);
    });

    // A new raw reading while the daemon runs changes the published value.
    // 16 mA: 21333 LSB x 0.1875 mV = 3999.94 mV / 250 ohm = 15.99975 mA -> 3.7499 m.
    const int new_raw = level_raw_for(16.0);
    REQUIRE(new_raw == 21333);
    const double changed = loop_value(new_raw, kAdc0Scale, kLevel);
    REQUIRE(changed == Approx(3.75).margin(1e-3));
    const auto since = rig.set_raw(rig.adc0, 0, new_raw) + 1000;
    rig.wait_window("adc0.level", since, [&](const json& x) { return good_with(x, changed); });
    // Every value published since is the new one: no sample was read from a stale cache.
    for (const auto& x : rig.windows("adc0.level", since)) {
        INFO(x.dump());
        if (x["min"].is_number()) CHECK(x["min"].get<double>() == same(changed));
        if (x["max"].is_number()) CHECK(x["max"].get<double>() == same(changed));
    }
    // And back to 2.5 m.
    const auto back = rig.set_raw(rig.adc0, 0, raw) + 1000;
    rig.wait_window("adc0.level", back, [&](const json& x) { return good_with(x, expected); });
}

TEST_CASE("a broken 4-20 mA loop is an instrument fault flagged D and never a zero",
          "[integration][iio]") {
    const int healthy = level_raw_for(12.0);
    IioRig rig(healthy);
    rig.wait_window("adc0.level", 0, [&](const json& x) {
        return good_with(x, loop_value(healthy, kAdc0Scale, kLevel));
    });

    struct Broken {
        const char* what;
        int raw;
    };
    // NAMUR NE 43: below 3.6 mA is a broken wire or a downscale failure signal, above 21 mA an
    // upscale failure signal. Mapped blindly these would be -1.25 m, -0.59 m and 5.6 m.
    const Broken cases[] = {
        {"a cut wire: no loop current at all, 0 mV across the shunt", 0},
        // 2800 LSB x 0.1875 mV = 525 mV / 250 ohm = 2.1 mA.
        {"a downscale failure signal of 2.1 mA", 2800},
        // 29333 LSB x 0.1875 mV = 5499.94 mV / 250 ohm = 22.0 mA.
        {"an upscale failure signal of 22 mA", level_raw_for(22.0)},
    };
    for (const auto& c : cases) {
        INFO(c.what << " (raw " << c.raw << ", " << millivolts(c.raw, kAdc0Scale) / kLevel.shunt_ohm
                    << " mA)");
        const double milliamps = millivolts(c.raw, kAdc0Scale) / kLevel.shunt_ohm;
        REQUIRE((milliamps < 3.6 || milliamps > 21.0));
        const auto since = rig.set_raw(rig.adc0, 0, c.raw) + 1000;
        const json w = rig.wait_window(
            "adc0.level", since, [](const json& x) { return x.value("quality", "") == "fault"; });
        INFO(w.dump());
        CHECK(w.value("flag", "") == "D");
        CHECK(w["faults"].value("instrument_fault", 0) > 0);
        CHECK(w["faults"].value("instrument_fault", 0) == w.value("failed", -1));
        CHECK(w["faults"].value("comm_error", -1) == 0);
        CHECK(w["mean"].is_null());
        CHECK(has_no_value(w));
        // No window since the loop broke carries a number: not 0, not the mapped -1.25 m.
        for (const auto& x : rig.windows("adc0.level", since)) {
            INFO(x.dump());
            CHECK(has_no_value(x));
        }
        // The other input of the same ADC is unaffected.
        rig.wait_window("adc0.pressure", since, is_good);
        // towngw status: the sensor's last sample is an instrument fault, with no value.
        rig.wait_status([](const json& s) {
            const json level = entry(s, "sensors", "adc0.level");
            return level.value("quality", "") == "instrument_fault" && level["last"].is_null();
        });
    }
    // The daemon's log names the reason (at debug level, once per poll).
    CHECK(wait_until(
        [&] {
            return rig.gw->log_text().find("loop current 2.1 mA: broken wire or sensor fault") !=
                   std::string::npos;
        },
        5s));

    // The loop is repaired: good windows with the value again.
    const auto since = rig.set_raw(rig.adc0, 0, healthy) + 1000;
    rig.wait_window("adc0.level", since, [&](const json& x) {
        return good_with(x, loop_value(healthy, kAdc0Scale, kLevel));
    });
}

TEST_CASE("a 0-10 V input behind a divider maps linearly onto its range", "[integration][iio]") {
    IioRig rig;
    // The pin voltage uses the input's own scale (0.125 mV), not the ADC's shared one (0.1875):
    // 20000 LSB x 0.125 mV = 2.5 V, half of 0..5 V -> 8 bar (the shared scale would give 12).
    REQUIRE(pressure_value(20000) == 8.0);
    rig.wait_window("adc0.pressure", 0, [](const json& x) { return good_with(x, 8.0); });

    // Three more points of the line; 0 V is a valid reading (no live zero), published as 0.
    std::map<int, double> published;
    published[20000] = 8.0;
    for (const int raw : {8000, 36000, 0}) {
        const double expected = pressure_value(raw);  // 3.2, 14.4, 0 bar
        const auto since = rig.set_raw(rig.adc0, 1, raw) + 1000;
        const json w = rig.wait_window("adc0.pressure", since,
                                       [&](const json& x) { return good_with(x, expected); });
        published[raw] = w["mean"].get<double>();
    }
    CHECK(published[0] == 0.0);
    // One slope through all of them: 0.125 mV per LSB / 5000 mV x 16 bar = 0.0004 bar per LSB.
    const double slope = kPressureScale / (kPressureVoltsMax * 1000.0) * kPressureRangeMax;
    for (const auto& [raw, value] : published) {
        INFO("raw " << raw << " published " << value);
        CHECK(value == same(slope * raw));
    }

    // Beyond the pin's 5 V (plus 0.5 % tolerance): over range, flag T, no value.
    // 41000 LSB x 0.125 mV = 5.125 V.
    const auto since = rig.set_raw(rig.adc0, 1, 41000) + 1000;
    const json over = rig.wait_window(
        "adc0.pressure", since, [](const json& x) { return x.value("quality", "") == "fault"; });
    CHECK(over.value("flag", "") == "T");
    CHECK(over["faults"].value("over_range", 0) > 0);
    CHECK(has_no_value(over));
}

TEST_CASE("a deleted raw file is a comm_error of its sensor until the file is back",
          "[integration][iio]") {
    IioRig rig;
    const double level = loop_value(level_raw_for(12.0), kAdc0Scale, kLevel);
    const double pressure = pressure_value(20000);
    const double flow = loop_value(2234, kAdc1Scale, kFlow);
    rig.wait_window("adc0.pressure", 0, [&](const json& x) { return good_with(x, pressure); });
    rig.wait_window("adc1.flow", 0, [&](const json& x) { return good_with(x, flow); });

    // One input of a two-input ADC disappears: that sensor fails, its neighbour does not.
    fs::remove(rig.adc0 / "in_voltage1_raw");
    auto since = now_ms() + 1000;
    json w = rig.wait_window("adc0.pressure", since,
                             [](const json& x) { return x.value("quality", "") == "comm_error"; });
    CHECK(w.value("flag", "") == "B");
    CHECK(w["faults"].value("comm_error", 0) > 0);
    CHECK(w["faults"].value("comm_error", 0) == w.value("failed", -1));
    CHECK(has_no_value(w));
    rig.wait_window("adc0.level", since, [&](const json& x) { return good_with(x, level); });
    rig.wait_status([](const json& s) {
        const json sensor = entry(s, "sensors", "adc0.pressure");
        return sensor.value("quality", "") == "comm_error" && sensor["last"].is_null() &&
               entry(s, "sensors", "adc0.level").value("quality", "") == "good";
    });

    // The only input of an ADC disappears: the device itself fails, and status names the file.
    fs::remove(rig.adc1 / "in_voltage0_raw");
    since = now_ms() + 1000;
    w = rig.wait_window("adc1.flow", since,
                        [](const json& x) { return x.value("quality", "") == "comm_error"; });
    CHECK(w.value("flag", "") == "B");
    CHECK(has_no_value(w));
    const std::string missing = (rig.adc1 / "in_voltage0_raw").string();
    const json down = rig.wait_status([&](const json& s) {
        const json adc1 = entry(s, "devices", "adc1");
        return !adc1.value("online", true) && adc1.value("failures", 0) > 0 &&
               entry(s, "sensors", "adc1.flow").value("quality", "") == "comm_error";
    });
    const std::string error = entry(down, "devices", "adc1").value("last_error", "");
    CHECK_THAT(error, Catch::Contains("cannot read " + missing));
    CHECK_THAT(error, Catch::Contains("No such file or directory"));

    // Both files come back: good windows with the right values, and status agrees.
    rig.set_raw(rig.adc0, 1, 20000);
    since = rig.set_raw(rig.adc1, 0, 2234) + 1000;
    rig.wait_window("adc0.pressure", since, [&](const json& x) { return good_with(x, pressure); });
    rig.wait_window("adc1.flow", since, [&](const json& x) { return good_with(x, flow); });
    rig.wait_status([&](const json& s) {
        const json pressure_entry = entry(s, "sensors", "adc0.pressure");
        const json flow_entry = entry(s, "sensors", "adc1.flow");
        return entry(s, "devices", "adc1").value("online", false) &&
               pressure_entry.value("quality", "") == "good" &&
               pressure_entry["last"].is_number() &&
               pressure_entry["last"].get<double>() == same(pressure) &&
               flow_entry.value("quality", "") == "good";
    });
}
