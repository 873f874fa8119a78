// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <algorithm>

namespace gw {

/// Waste-bin fill level from an ultrasonic distance (DOMAIN.md §3.3):
/// fill % = clamp((D_empty - d) / (D_empty - D_full), 0, 1) * 100, where D_empty is the sensor
/// to the bin floor and D_full the sensor to the "full" line. Requires empty_mm > full_mm.
inline double fill_percent(double distance_mm, double empty_mm, double full_mm) {
    const double fraction = (empty_mm - distance_mm) / (empty_mm - full_mm);
    return std::clamp(fraction, 0.0, 1.0) * 100.0;
}

}  // namespace gw
