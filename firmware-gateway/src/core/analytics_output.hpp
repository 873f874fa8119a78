// SPDX-License-Identifier: Apache-2.0
// What the edge analytics hand to the Gateway (docs/analytics.md): messages to store or to
// publish retained, and their own state to persist. The analytics never publish or write
// themselves: the Gateway owns the outbox and the store.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace gw {

struct AnalyticsMessage {
    enum class Route {
        Stored,    ///< through the outbox like data: gets a seq, never lost (events, alarms)
        Retained,  ///< the current state: published directly, retained, again after each connect
    };
    std::string topic;            ///< the full topic
    nlohmann::ordered_json body;  ///< starts with message_base(); no "seq" (the store adds it)
    Route route{Route::Stored};
};

/// One piece of analytics state, persisted at the next flush and handed back at start.
/// `key` names its owner ("alarm/water1.ph/gb3838-III/ph/daily", "bin/bin1/fill"); `state` is
/// its JSON text. An empty `state` deletes the row.
struct AnalyticsStateRow {
    std::string key;
    std::string state;
};

}  // namespace gw
