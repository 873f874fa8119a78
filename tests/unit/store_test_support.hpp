// SPDX-License-Identifier: Apache-2.0
// What the store tests share: a scratch directory for a database file, and store options with
// a small event base.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

#include "buffer/store.hpp"

namespace gw::test {

/// A fresh directory under $TMPDIR, removed with everything in it at scope exit.
struct StoreTempDir {
    std::filesystem::path dir;
    StoreTempDir() {
        std::string tmpl =
            (std::filesystem::temp_directory_path() / "towngw-store-XXXXXX").string();
        dir = ::mkdtemp(tmpl.data());
    }
    ~StoreTempDir() { std::filesystem::remove_all(dir); }
    std::string db() const { return (dir / "outbox.db").string(); }
};

inline StoreOptions store_options(std::uint64_t max_bytes = 128u << 20,
                                  WhenFull when_full = WhenFull::DropOldest) {
    StoreOptions o;
    o.max_bytes = max_bytes;
    o.when_full = when_full;
    o.events_topic = "t/events";
    o.event_base = {{"v", 1}};
    return o;
}

}  // namespace gw::test
