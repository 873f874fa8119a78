// SPDX-License-Identifier: Apache-2.0
// 4-20 mA / 0-10 V inputs through Linux IIO: the pure signal mapping (NE 43 limits), and the
// sysfs source against a fake IIO device directory in a scratch directory.
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "drivers/iio/analog_mapping.hpp"
#include "drivers/iio/iio_source.hpp"

using namespace gw::iio;
using gw::drivers::PointFault;

namespace {

ChannelMapping current_loop(double range_min, double range_max) {
    ChannelMapping mapping;
    mapping.mode = SignalMode::Current;
    mapping.shunt_ohm = 250.0;
    mapping.milliamps = {4.0, 20.0};
    mapping.range = {range_min, range_max};
    return mapping;
}

ChannelMapping voltage_input(double range_min, double range_max) {
    ChannelMapping mapping;
    mapping.mode = SignalMode::Voltage;
    mapping.volts = {0.0, 10.0};
    mapping.range = {range_min, range_max};
    return mapping;
}

/// Millivolts across a 250 ohm shunt for a loop current.
double shunt_mv(double milliamps) {
    return milliamps * 250.0;
}

/// A fake /sys/bus/iio/devices/iio:deviceN in a scratch directory, removed on destruction.
class FakeIioDevice {
public:
    FakeIioDevice() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "towngw-iio-XXXXXX").string();
        root_ = ::mkdtemp(tmpl.data());
        directory_ = root_ + "/iio:device0";
        std::filesystem::create_directories(directory_);
    }
    ~FakeIioDevice() { std::filesystem::remove_all(root_); }
    FakeIioDevice(const FakeIioDevice&) = delete;
    FakeIioDevice& operator=(const FakeIioDevice&) = delete;

    const std::string& directory() const { return directory_; }

    /// Writes an attribute the way the kernel shows it: the text and a newline. Written to a
    /// temporary file and renamed, so a concurrent reader never sees a half-written value.
    void write(const std::string& attribute, const std::string& text) const {
        const std::string path = directory_ + "/" + attribute;
        { std::ofstream(path + ".tmp") << text << "\n"; }
        std::filesystem::rename(path + ".tmp", path);
    }
    void remove(const std::string& attribute) const {
        std::filesystem::remove(directory_ + "/" + attribute);
    }

private:
    std::string root_;
    std::string directory_;
};

IioDevice device_with(const std::string& directory, std::vector<IioChannel> channels) {
    IioDevice device;
    device.id = "adc1";
    device.directory = directory;
    device.poll_period = std::chrono::milliseconds(20);
    device.channels = std::move(channels);
    return device;
}

IioChannel channel(const std::string& name, int index, ChannelMapping mapping,
                   const std::string& unit = "m") {
    IioChannel result;
    result.name = name;
    result.index = index;
    result.mapping = mapping;
    result.unit = unit;
    return result;
}

}  // namespace

TEST_CASE("iio: sysfs numbers parse strictly", "[unit][iio]") {
    CHECK(parse_sysfs_number("1234\n") == 1234.0);
    CHECK(parse_sysfs_number("-12") == -12.0);
    CHECK(parse_sysfs_number("0.001220703125\n") == 0.001220703125);
    CHECK(parse_sysfs_number("  7 \n") == 7.0);
    CHECK_FALSE(parse_sysfs_number(""));
    CHECK_FALSE(parse_sysfs_number("\n"));
    CHECK_FALSE(parse_sysfs_number("abc\n"));
    CHECK_FALSE(parse_sysfs_number("12abc"));
    CHECK_FALSE(parse_sysfs_number("1 2"));
    CHECK_FALSE(parse_sysfs_number("nan"));
    CHECK_FALSE(parse_sysfs_number("inf"));
    CHECK(millivolts_from_raw(2048, -48, 0.5) == 1000.0);
}

TEST_CASE("iio: 0-10 V maps linearly onto the measuring range", "[unit][iio]") {
    const auto mapping = voltage_input(0.0, 5.0);
    auto half = map_signal(5000.0, mapping, "m");
    REQUIRE(half.ok);
    CHECK(half.fault == PointFault::None);
    CHECK(half.raw == Approx(5.0));  // the signal, in volts
    CHECK(half.value == Approx(2.5));
    CHECK(map_signal(0.0, mapping, "m").value == Approx(0.0));
    CHECK(map_signal(10000.0, mapping, "m").value == Approx(5.0));

    // Within the tolerance of an ADC's zero error: still a measurement.
    auto near_zero = map_signal(-20.0, mapping, "m");
    CHECK(near_zero.ok);
    CHECK(near_zero.value == Approx(-0.01));

    auto over = map_signal(10800.0, mapping, "m");
    CHECK_FALSE(over.ok);
    CHECK(over.fault == PointFault::OverRange);
    CHECK(over.value == Approx(5.4));
    CHECK(over.error == "5.4 m above the measuring range 0..5 m (signal 10.8 V, span 0..10 V)");
}

TEST_CASE("iio: a 250 ohm shunt turns 4-20 mA into 1-5 V", "[unit][iio]") {
    const auto mapping = current_loop(0.0, 5.0);
    const auto at_4 = map_signal(1000.0, mapping, "m");
    REQUIRE(at_4.ok);
    CHECK(at_4.raw == Approx(4.0));  // the loop current, in mA
    CHECK(at_4.value == Approx(0.0));
    CHECK(map_signal(3000.0, mapping, "m").value == Approx(2.5));
    CHECK(map_signal(5000.0, mapping, "m").value == Approx(5.0));

    ChannelMapping other_shunt = mapping;
    other_shunt.shunt_ohm = 100.0;  // 12 mA -> 1.2 V
    auto mid = map_signal(1200.0, other_shunt, "m");
    CHECK(mid.raw == Approx(12.0));
    CHECK(mid.value == Approx(2.5));

    // Offset ranges: -20..80 degC.
    CHECK(map_signal(shunt_mv(8.0), current_loop(-20.0, 80.0), "degC").value == Approx(5.0));
}

TEST_CASE("iio: NAMUR NE 43 limits of a 4-20 mA loop", "[unit][iio]") {
    const auto mapping = current_loop(0.0, 5.0);
    SECTION("below 3.6 mA: broken wire or sensor fault") {
        auto point = map_signal(shunt_mv(2.1), mapping, "m");
        CHECK_FALSE(point.ok);
        CHECK(point.fault == PointFault::Instrument);
        CHECK(point.error == "loop current 2.1 mA: broken wire or sensor fault");
        CHECK(map_signal(0.0, mapping, "m").fault == PointFault::Instrument);
    }
    SECTION("above 21 mA: sensor fault") {
        auto point = map_signal(shunt_mv(22.0), mapping, "m");
        CHECK(point.fault == PointFault::Instrument);
        CHECK(point.error == "loop current 22 mA: sensor fault (> 21 mA)");
    }
    SECTION("between the failure levels and the measuring band: sensor fault") {
        for (double milliamps : {3.7, 20.8}) {
            INFO(milliamps << " mA");
            auto point = map_signal(shunt_mv(milliamps), mapping, "m");
            CHECK(point.fault == PointFault::Instrument);
            CHECK_THAT(point.error, Catch::Contains("outside the NE 43 measuring band 3.8..20.5"));
        }
    }
    SECTION("3.8..4 and 20..20.5 mA: over range, value still reported") {
        auto under = map_signal(shunt_mv(3.85), mapping, "m");
        CHECK_FALSE(under.ok);
        CHECK(under.fault == PointFault::OverRange);
        CHECK(under.value == Approx(-0.046875));
        CHECK_THAT(under.error, Catch::StartsWith("-0.046875 m below the measuring range 0..5 m"));
        CHECK_THAT(under.error, Catch::Contains("signal 3.85 mA"));

        auto over = map_signal(shunt_mv(20.4), mapping, "m");
        CHECK(over.fault == PointFault::OverRange);
        CHECK(over.value == Approx(5.125));
        CHECK_THAT(over.error, Catch::StartsWith("5.125 m above the measuring range 0..5 m"));

        // The band edges are measurement information, not failures.
        CHECK(map_signal(shunt_mv(3.8), mapping, "m").fault == PointFault::OverRange);
        CHECK(map_signal(shunt_mv(20.5), mapping, "m").fault == PointFault::OverRange);
    }
    SECTION("within half a percent of the span around 4 and 20 mA: in range") {
        CHECK(map_signal(shunt_mv(3.95), mapping, "m").ok);
        CHECK(map_signal(shunt_mv(20.05), mapping, "m").ok);
        CHECK(map_signal(shunt_mv(12.0), mapping, "m").ok);
    }
}

TEST_CASE("iio: a 0-20 mA loop has no live zero, so no NE 43 limits", "[unit][iio]") {
    auto mapping = current_loop(0.0, 100.0);
    mapping.milliamps = {0.0, 20.0};
    auto zero = map_signal(0.0, mapping, "%");
    CHECK(zero.ok);
    CHECK(zero.value == Approx(0.0));
    auto over = map_signal(shunt_mv(22.0), mapping, "%");
    CHECK(over.fault == PointFault::OverRange);
    CHECK(over.value == Approx(110.0));
}

TEST_CASE("iio: shared scale, per-channel scale and offset from sysfs", "[unit][iio]") {
    FakeIioDevice adc;
    adc.write("in_voltage0_raw", "2000");
    adc.write("in_voltage1_raw", "1000");
    adc.write("in_voltage_scale", "1.5");   // shared: 2000 * 1.5 = 3000 mV = 12 mA
    adc.write("in_voltage1_scale", "2.5");  // channel 1's own: 1000 * 2.5 = 2500 mV = 2.5 V
    auto device = device_with(adc.directory(), {channel("level", 0, current_loop(0.0, 5.0)),
                                                channel("pressure", 1, voltage_input(0.0, 10.0))});

    auto sample = read_iio_device(device, 3);
    CHECK(sample.device_index == 3);
    REQUIRE(sample.ok);
    REQUIRE(sample.points.size() == 2);
    CHECK(sample.points[0].ok);
    CHECK(sample.points[0].raw == Approx(12.0));
    CHECK(sample.points[0].value == Approx(2.5));
    CHECK(sample.points[1].ok);
    CHECK(sample.points[1].raw == Approx(2.5));
    CHECK(sample.points[1].value == Approx(2.5));

    // Offset is added to raw before scaling: (2000 + 1000) * 1.5 = 4500 mV = 18 mA.
    adc.write("in_voltage0_offset", "1000");
    CHECK(read_iio_device(device, 0).points[0].raw == Approx(18.0));
    // A shared offset applies to channels without their own.
    adc.write("in_voltage_offset", "-200");
    CHECK(read_iio_device(device, 0).points[1].raw == Approx(2.0));  // (1000 - 200) * 2.5

    // Without any scale the raw value is already millivolts (kernel tools/iio convention).
    adc.remove("in_voltage_scale");
    adc.remove("in_voltage0_offset");
    adc.write("in_voltage0_raw", "1000");
    auto unscaled = read_iio_device(device, 0).points[0];
    CHECK(unscaled.raw == Approx(3.2));  // (1000 - 200) mV / 250 ohm
}

TEST_CASE("iio: a missing device directory is a Comm fault, not an error", "[unit][iio]") {
    FakeIioDevice adc;
    auto device = device_with(
        adc.directory() + "-not-loaded",
        {channel("level", 0, current_loop(0.0, 5.0)), channel("flow", 1, current_loop(0.0, 50.0))});
    auto sample = read_iio_device(device, 0);
    CHECK_FALSE(sample.ok);
    CHECK_THAT(sample.error, Catch::Contains(device.directory));
    CHECK_THAT(sample.error, Catch::Contains("errno 2"));
    REQUIRE(sample.points.size() == 2);
    for (const auto& point : sample.points) {
        CHECK_FALSE(point.ok);
        CHECK(point.fault == PointFault::Comm);
    }
}

TEST_CASE("iio: unreadable and non-numeric files name the path", "[unit][iio]") {
    FakeIioDevice adc;
    adc.write("in_voltage_scale", "1");
    adc.write("in_voltage0_raw", "1000");
    auto device = device_with(adc.directory(), {channel("level", 0, current_loop(0.0, 5.0)),
                                                channel("flow", 1, current_loop(0.0, 50.0))});
    const std::string raw1 = adc.directory() + "/in_voltage1_raw";

    SECTION("missing raw file: Comm fault with errno, the other channel still reads") {
        auto sample = read_iio_device(device, 0);
        CHECK(sample.ok);
        CHECK(sample.points[0].ok);
        CHECK(sample.points[1].fault == PointFault::Comm);
        CHECK(sample.points[1].error ==
              "cannot read " + raw1 + ": No such file or directory (errno 2)");
    }
    SECTION("no channel readable: the device did not answer") {
        adc.remove("in_voltage0_raw");
        auto sample = read_iio_device(device, 0);
        CHECK_FALSE(sample.ok);
        CHECK_THAT(sample.error, Catch::Contains("in_voltage0_raw"));
    }
    SECTION("a file that cannot be read: Comm fault with errno") {
        std::filesystem::create_directory(raw1);  // read() fails with EISDIR, also as root
        auto point = read_iio_device(device, 0).points[1];
        CHECK(point.fault == PointFault::Comm);
        CHECK_THAT(point.error, Catch::Contains(raw1));
        CHECK_THAT(point.error, Catch::Contains("(errno 21)"));
    }
    SECTION("non-numeric contents: Decode fault quoting them") {
        adc.write("in_voltage1_raw", "busy");
        auto point = read_iio_device(device, 0).points[1];
        CHECK(point.fault == PointFault::Decode);
        CHECK(point.error == raw1 + " holds \"busy\", not a number");
        adc.write("in_voltage1_raw", "1000");
        adc.write("in_voltage1_scale", "x1");
        auto bad_scale = read_iio_device(device, 0).points[1];
        CHECK(bad_scale.fault == PointFault::Decode);
        CHECK_THAT(bad_scale.error, Catch::Contains("in_voltage1_scale holds \"x1\""));
    }
}

TEST_CASE("iio: the source polls on its own thread and follows changing values", "[unit][iio]") {
    FakeIioDevice adc;
    adc.write("in_voltage_scale", "1");
    adc.write("in_voltage0_raw", "1000");  // 4 mA -> 0 m
    auto device = device_with(adc.directory(), {channel("level", 0, current_loop(0.0, 5.0))});

    std::mutex mutex;
    std::condition_variable arrived;
    std::vector<gw::drivers::DeviceSample> samples;
    IioSource source({device}, [&](gw::drivers::DeviceSample sample) {
        std::lock_guard lock(mutex);
        samples.push_back(std::move(sample));
        arrived.notify_all();
    });
    CHECK(source.describe() == "iio:" + adc.directory());
    const auto started = std::chrono::steady_clock::now();
    source.start();

    auto wait_for = [&](auto predicate) {
        std::unique_lock lock(mutex);
        return arrived.wait_for(lock, std::chrono::seconds(5),
                                [&] { return !samples.empty() && predicate(samples.back()); });
    };
    CHECK(wait_for([](const auto& s) { return s.points.at(0).ok && s.points[0].value == 0.0; }));
    adc.write("in_voltage0_raw", "3000");  // 12 mA -> 2.5 m
    CHECK(wait_for([](const auto& s) { return s.points.at(0).value == Approx(2.5); }));
    adc.write("in_voltage0_raw", "500");  // 2 mA: broken wire
    CHECK(wait_for([](const auto& s) { return s.points.at(0).fault == PointFault::Instrument; }));

    const auto stopping = std::chrono::steady_clock::now();
    source.stop();
    CHECK(std::chrono::steady_clock::now() - stopping < std::chrono::seconds(1));
    const auto elapsed = std::chrono::steady_clock::now() - started;
    std::lock_guard lock(mutex);
    CHECK(samples.size() >= 3);
    // Fixed rate (20 ms), not a busy loop.
    CHECK(samples.size() <= static_cast<std::size_t>(elapsed / std::chrono::milliseconds(20)) + 2);
    for (const auto& sample : samples) CHECK(sample.device_index == 0);
}
