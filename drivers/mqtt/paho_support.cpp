// SPDX-License-Identifier: Apache-2.0
#include "drivers/paho_support.hpp"

#include <MQTTAsync.h>

#include <mutex>

namespace gw::paho {

void init_library_once() {
    static std::once_flag once;
    std::call_once(once, [] {
        MQTTAsync_init_options options = MQTTAsync_init_options_initializer;
        options.do_openssl_init = 0;
        MQTTAsync_global_init(&options);
    });
}

}  // namespace gw::paho
