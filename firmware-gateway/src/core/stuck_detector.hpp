// SPDX-License-Identifier: Apache-2.0
// A sensor whose raw value does not change at all for many samples in a row is usually stuck
// (frozen firmware, a probe out of the water reading air, a wedged ADC), not a calm river: real
// analogue readings carry noise in their last digit. Off by default, because some points are
// legitimately constant (a totaliser at night, an empty bin).
#pragma once

#include <cstdint>
#include <optional>

namespace gw {

class StuckDetector {
public:
    /// `after_samples` identical raw values in a row flag the sensor; 0 disables the check.
    explicit StuckDetector(std::uint32_t after_samples = 0) : after_samples_(after_samples) {}

    /// Feeds one good raw value; true while the value has been identical for `after_samples`
    /// samples or more (this one included).
    bool observe(double raw) {
        if (after_samples_ == 0) return false;
        if (last_ && *last_ == raw) {
            if (repeats_ < after_samples_) ++repeats_;
        } else {
            last_ = raw;
            repeats_ = 1;
        }
        return repeats_ >= after_samples_;
    }

private:
    std::uint32_t after_samples_;
    std::optional<double> last_;
    std::uint32_t repeats_{0};
};

}  // namespace gw
