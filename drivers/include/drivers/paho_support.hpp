// SPDX-License-Identifier: Apache-2.0
// What every Paho client in the gateway shares: the action-listener adapter and the library's
// one-time global initialisation.
#pragma once

#include <mqtt/async_client.h>

#include <functional>

namespace gw::paho {

/// Paho calls this on its own thread when an asynchronous operation completes; the callback
/// must only copy what it needs and post it to its owner's executor.
class Listener final : public mqtt::iaction_listener {
public:
    using Callback = std::function<void(const mqtt::token&, bool ok)>;
    explicit Listener(Callback callback) : callback_(std::move(callback)) {}
    void on_success(const mqtt::token& token) override { callback_(token, true); }
    void on_failure(const mqtt::token& token) override { callback_(token, false); }

private:
    Callback callback_;
};

/// Call before creating any mqtt::async_client (idempotent, thread-safe). Tells Paho not to run
/// OpenSSL's eager initialisation (all error strings, all algorithms, the config file): on a
/// plain tcp:// link that alone kept ~3 MiB of libcrypto resident for nothing. OpenSSL >= 1.1
/// initialises itself on first use, so ssl:// links still work (docs/benchmarks.md, memory).
void init_library_once();

}  // namespace gw::paho
