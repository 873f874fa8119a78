// SPDX-License-Identifier: Apache-2.0
// 4-20 mA and 0-10 V inputs through a Linux IIO ADC (Industrial I/O, sysfs interface): one
// thread polls every configured IIO device at its own period and reads one in_voltageN_raw per
// channel. Sysfs reads are quick but a slow ADC driver may block for a conversion, so they stay
// off the gateway's io_context; samples leave through the SampleHandler.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "drivers/device_sample.hpp"
#include "drivers/iio/analog_mapping.hpp"

namespace gw::iio {

struct IioChannel {
    std::string name;  ///< point name
    int index{0};      ///< N of in_voltageN_raw
    ChannelMapping mapping;
    std::string unit;  ///< engineering unit, for messages
};

struct IioDevice {
    std::string id;
    std::string directory;  ///< e.g. /sys/bus/iio/devices/iio:device0
    std::chrono::milliseconds poll_period{1000};
    std::vector<IioChannel> channels;
};

/// Reads every channel of `device` once (blocking sysfs reads). A missing device directory (the
/// ADC driver is not loaded yet) or unreadable files give Comm faults naming path and errno;
/// unparsable contents give Decode faults.
drivers::DeviceSample read_iio_device(const IioDevice& device, std::size_t device_index);

class IioSource : public drivers::Source {
public:
    /// `on_sample` runs on the source's thread; it must only hand the sample over.
    IioSource(std::vector<IioDevice> devices, drivers::SampleHandler on_sample);
    ~IioSource() override;
    IioSource(const IioSource&) = delete;
    IioSource& operator=(const IioSource&) = delete;

    void start() override;
    /// Stops polling and joins the thread; returns once the current device read is done.
    void stop() override;
    /// "iio:/sys/bus/iio/devices/iio:device0,/sys/bus/iio/devices/iio:device1"
    std::string describe() const override;

    const std::vector<IioDevice>& devices() const { return devices_; }

private:
    void run();

    std::vector<IioDevice> devices_;
    drivers::SampleHandler on_sample_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_{false};
    std::thread thread_;
};

}  // namespace gw::iio
