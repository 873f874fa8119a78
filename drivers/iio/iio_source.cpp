// SPDX-License-Identifier: Apache-2.0
#include "drivers/iio/iio_source.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

namespace gw::iio {

namespace {

/// One sysfs attribute's contents, or the errno of the failed open/read.
struct Attribute {
    std::string text;
    int error{0};
};

Attribute read_attribute(const std::string& path) {
    Attribute attribute;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        attribute.error = errno;
        return attribute;
    }
    char buffer[128];  // a sysfs number is a few dozen bytes at most
    ssize_t got = 0;
    do {
        got = ::read(fd, buffer, sizeof buffer);
    } while (got < 0 && errno == EINTR);
    if (got < 0)
        attribute.error = errno;
    else
        attribute.text.assign(buffer, static_cast<std::size_t>(got));
    ::close(fd);
    return attribute;
}

std::string errno_text(int error) {
    return std::error_code(error, std::generic_category()).message() + " (errno " +
           std::to_string(error) + ")";
}

drivers::PointSample failed_point(drivers::PointFault kind, std::string error) {
    drivers::PointSample point;
    point.fault = kind;
    point.error = std::move(error);
    return point;
}

drivers::PointSample unreadable(const std::string& path, int error) {
    return failed_point(drivers::PointFault::Comm,
                        "cannot read " + path + ": " + errno_text(error));
}

drivers::PointSample not_a_number(const std::string& path, std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    if (text.size() > 32) text = text.substr(0, 32) + "...";
    return failed_point(drivers::PointFault::Decode,
                        path + " holds \"" + text + "\", not a number");
}

/// Reads the first of `paths` that exists into `out`; keeps `out` (the default) when none
/// does. False, with `failure` set, when a file exists but cannot be read or parsed.
bool read_optional_number(const std::vector<std::string>& paths, double& out,
                          drivers::PointSample& failure) {
    for (const auto& path : paths) {
        const Attribute attribute = read_attribute(path);
        if (attribute.error == ENOENT) continue;
        if (attribute.error != 0) {
            failure = unreadable(path, attribute.error);
            return false;
        }
        const auto number = parse_sysfs_number(attribute.text);
        if (!number) {
            failure = not_a_number(path, attribute.text);
            return false;
        }
        out = *number;
        return true;
    }
    return true;
}

drivers::PointSample read_channel(const std::string& directory, const IioChannel& channel) {
    const std::string prefix = directory + "/in_voltage" + std::to_string(channel.index);
    const std::string raw_path = prefix + "_raw";
    const Attribute raw_attribute = read_attribute(raw_path);
    if (raw_attribute.error != 0) return unreadable(raw_path, raw_attribute.error);
    const auto raw = parse_sysfs_number(raw_attribute.text);
    if (!raw) return not_a_number(raw_path, raw_attribute.text);

    // IIO ABI: a per-channel attribute overrides the shared one; without either the raw value
    // needs no offset and no scale (as the kernel's own tools/iio treat it).
    drivers::PointSample failure;
    double offset = 0.0;
    if (!read_optional_number({prefix + "_offset", directory + "/in_voltage_offset"}, offset,
                              failure))
        return failure;
    double scale = 1.0;
    if (!read_optional_number({prefix + "_scale", directory + "/in_voltage_scale"}, scale, failure))
        return failure;
    return map_signal(millivolts_from_raw(*raw, offset, scale), channel.mapping, channel.unit);
}

}  // namespace

drivers::DeviceSample read_iio_device(const IioDevice& device, std::size_t device_index) {
    drivers::DeviceSample sample;
    sample.device_index = device_index;
    const auto started = std::chrono::steady_clock::now();
    struct stat info {};
    const int stat_result = ::stat(device.directory.c_str(), &info);
    if (stat_result != 0 || !S_ISDIR(info.st_mode)) {
        // Not a configuration error: the board may load the ADC driver after we start.
        const int error = stat_result != 0 ? errno : ENOTDIR;
        sample.error = "IIO device " + device.directory + " is not there: " + errno_text(error) +
                       " (ADC driver not loaded?)";
        sample.points.assign(device.channels.size(),
                             failed_point(drivers::PointFault::Comm, sample.error));
    } else {
        for (const auto& channel : device.channels)
            sample.points.push_back(read_channel(device.directory, channel));
        // The device "answered" unless no channel could be read at all.
        const auto readable = std::find_if(sample.points.begin(), sample.points.end(),
                                           [](const drivers::PointSample& point) {
                                               return point.fault != drivers::PointFault::Comm;
                                           });
        sample.ok = sample.points.empty() || readable != sample.points.end();
        if (!sample.ok) sample.error = sample.points.front().error;
    }
    sample.sampled_at = std::chrono::system_clock::now();
    sample.sampled_mono = std::chrono::steady_clock::now();
    sample.round_trip =
        std::chrono::duration_cast<std::chrono::microseconds>(sample.sampled_mono - started);
    return sample;
}

IioSource::IioSource(std::vector<IioDevice> devices, drivers::SampleHandler on_sample)
    : devices_(std::move(devices)), on_sample_(std::move(on_sample)) {}

IioSource::~IioSource() {
    stop();
}

void IioSource::start() {
    thread_ = std::thread([this] {
        pthread_setname_np(pthread_self(), "towngw-iio");
        run();
    });
}

void IioSource::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

std::string IioSource::describe() const {
    std::string text = "iio:";
    for (std::size_t i = 0; i < devices_.size(); ++i)
        text += (i == 0 ? "" : ",") + devices_[i].directory;
    return text;
}

void IioSource::run() {
    using Clock = std::chrono::steady_clock;
    if (devices_.empty()) return;
    // Fixed-rate schedule per device; one device is read at a time.
    std::vector<Clock::time_point> next_due(devices_.size(), Clock::now());
    while (true) {
        const auto due = std::min_element(next_due.begin(), next_due.end());
        {
            std::unique_lock lock(mutex_);
            if (wake_.wait_until(lock, *due, [this] { return stopping_; })) break;
        }
        const auto index = static_cast<std::size_t>(due - next_due.begin());
        on_sample_(read_iio_device(devices_[index], index));
        const auto period = devices_[index].poll_period;
        next_due[index] += period;
        // Fell behind (a blocking ADC driver): skip missed slots instead of bursting.
        if (next_due[index] < Clock::now()) next_due[index] = Clock::now() + period;
    }
}

}  // namespace gw::iio
