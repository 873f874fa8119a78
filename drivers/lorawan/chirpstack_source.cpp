// SPDX-License-Identifier: Apache-2.0
#include "drivers/lorawan/chirpstack_source.hpp"

#include <mqtt/async_client.h>
#include <pthread.h>

#include <algorithm>

#include "drivers/lorawan/chirpstack_event.hpp"
#include "drivers/paho_support.hpp"

namespace gw::lorawan {

namespace {
using Level = LogLine::Level;
using SteadyClock = std::chrono::steady_clock;
/// The stale thread wakes at least this often, so a deadline far away never overflows a wait.
constexpr auto kMaxSleep = std::chrono::minutes(10);
constexpr auto kDisconnectTimeout = std::chrono::milliseconds(500);
}  // namespace

ChirpstackSource::ChirpstackSource(ChirpstackBroker broker, std::vector<LorawanDevice> devices,
                                   drivers::SampleHandler on_sample, LogHandler log,
                                   ReplayPolicy policy)
    : broker_(std::move(broker)),
      on_sample_(std::move(on_sample)),
      log_(std::move(log)),
      processor_(devices, policy, SteadyClock::now()),
      connect_backoff_(std::max(1, broker_.reconnect_min_s)) {
    for (const auto& device : devices) {
        if (device.application_id == "+") {
            applications_ = {"+"};
            break;
        }
        if (std::find(applications_.begin(), applications_.end(), device.application_id) ==
            applications_.end())
            applications_.push_back(device.application_id);
    }

    // nullptr persistence = MQTTCLIENT_PERSISTENCE_NONE: nothing of this client touches disk.
    paho::init_library_once();
    client_ = std::make_unique<mqtt::async_client>(
        broker_.uri, broker_.client_id, static_cast<mqtt::iclient_persistence*>(nullptr));

    // Every Paho callback below runs on Paho's thread: no blocking, no exception escapes.
    connect_listener_ = std::make_unique<Listener>([this](const mqtt::token& token, bool ok) {
        if (ok) return;  // the connected handler does the work for first and later connects
        on_connect_failed("rc " + std::to_string(token.get_return_code()));
    });
    client_->set_connected_handler([this](const std::string&) { on_connected(); });
    client_->set_connection_lost_handler([this](const std::string& cause) {
        {
            std::lock_guard lock(mutex_);
            if (stopping_) return;
            status_.connected = false;
            ++status_.connection_losses;
        }
        log_(Level::Warn, describe() + ": connection lost (" +
                              (cause.empty() ? std::string("no reason given") : cause) +
                              "); reconnecting");
    });
    client_->set_message_callback([this](mqtt::const_message_ptr message) {
        try {
            on_message(message->get_topic(), message->to_string());
        } catch (const std::exception& e) {
            log_(Level::Warn, describe() + ": message dropped: " + e.what());
        }
    });
}

ChirpstackSource::~ChirpstackSource() {
    stop();
    client_.reset();  // joins Paho's threads; no callback runs after this
}

std::vector<std::string> ChirpstackSource::topic_filters() const {
    std::vector<std::string> filters;
    for (const auto& application : applications_) {
        filters.push_back(event_topic_filter(application, "up"));
        filters.push_back(event_topic_filter(application, "join"));
    }
    return filters;
}

void ChirpstackSource::start() {
    thread_ = std::thread([this] {
        pthread_setname_np(pthread_self(), "towngw-lorawan");
        run();
    });
}

void ChirpstackSource::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    try {
        // Bounded: waits for the DISCONNECT to go out, not for the broker.
        if (client_ && client_->is_connected())
            client_->disconnect(static_cast<int>(kDisconnectTimeout.count()))
                ->wait_for(2 * kDisconnectTimeout);
    } catch (const mqtt::exception&) {
        // Already gone; the client's destructor cleans up.
    }
}

DeviceCounters ChirpstackSource::device_counters(std::size_t device_index) const {
    std::lock_guard lock(mutex_);
    return processor_.counters(device_index);
}

ChirpstackStatus ChirpstackSource::status() const {
    std::lock_guard lock(mutex_);
    ChirpstackStatus status = status_;
    status.counters = processor_.source_counters();
    return status;
}

void ChirpstackSource::run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        const auto now = SteadyClock::now();
        auto out = processor_.take_stale(std::chrono::system_clock::now(), now);
        deliver(out);

        // Paho's automatic reconnect only covers connections that once succeeded; until the
        // first one does, retry here with back-off.
        if (!ever_connected_ && !connecting_ && now >= connect_retry_at_) {
            connecting_ = true;
            lock.unlock();
            connect();
            lock.lock();
            continue;
        }
        auto deadline = std::min(processor_.next_stale_due(), now + kMaxSleep);
        if (!ever_connected_ && !connecting_) deadline = std::min(deadline, connect_retry_at_);
        wake_.wait_until(lock, deadline);
    }
}

void ChirpstackSource::connect() {
    mqtt::connect_options options;
    options.set_mqtt_version(MQTTVERSION_3_1_1);
    options.set_clean_session(true);  // why: see the header
    options.set_keep_alive_interval(broker_.keepalive_s);
    options.set_automatic_reconnect(broker_.reconnect_min_s, broker_.reconnect_max_s);
    if (!broker_.username.empty()) options.set_user_name(broker_.username);
    if (!broker_.password.empty()) options.set_password(broker_.password);
    try {
        client_->connect(options, nullptr, *connect_listener_);
    } catch (const mqtt::exception& e) {
        on_connect_failed(e.what());
    }
}

void ChirpstackSource::on_connected() {
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
        status_.connected = true;
        ++status_.connects;
        ever_connected_ = true;
        connecting_ = false;
        connect_backoff_ = std::chrono::seconds(std::max(1, broker_.reconnect_min_s));
    }
    // A clean session forgets subscriptions: subscribe on every (re)connect. Asynchronous, so
    // it is safe on Paho's thread.
    std::string list;
    for (const auto& filter : topic_filters()) {
        list += (list.empty() ? "" : ", ") + filter;
        try {
            client_->subscribe(filter, 1, nullptr, *subscribe_listener(filter));
        } catch (const mqtt::exception& e) {
            log_(Level::Warn, describe() + ": subscribe " + filter + " failed: " + e.what());
        }
    }
    log_(Level::Info, describe() + ": connected, subscribing (QoS 1) to " + list);
}

ChirpstackSource::Listener* ChirpstackSource::subscribe_listener(const std::string& filter) {
    std::lock_guard lock(mutex_);
    auto& listener = subscribe_listeners_[filter];
    if (!listener)
        listener = std::make_unique<Listener>([this, filter](const mqtt::token& token, bool ok) {
            if (!ok)
                log_(Level::Warn, describe() + ": broker refused subscription " + filter + " (rc " +
                                      std::to_string(token.get_return_code()) +
                                      "); check its ACL for this user");
        });
    return listener.get();
}

void ChirpstackSource::on_connect_failed(const std::string& why) {
    bool first_failure = false;
    std::chrono::seconds retry_in{0};
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
        connecting_ = false;
        first_failure = connect_backoff_.count() == std::max(1, broker_.reconnect_min_s);
        retry_in = connect_backoff_;
        connect_retry_at_ = SteadyClock::now() + connect_backoff_;
        connect_backoff_ = std::min(2 * connect_backoff_,
                                    std::chrono::seconds(std::max(1, broker_.reconnect_max_s)));
    }
    wake_.notify_all();
    log_(first_failure ? Level::Warn : Level::Debug, describe() + ": connect failed (" + why +
                                                         "); retrying in " +
                                                         std::to_string(retry_in.count()) + " s");
}

void ChirpstackSource::on_message(const std::string& topic, const std::string& payload) {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    auto out =
        processor_.on_message(topic, payload, std::chrono::system_clock::now(), SteadyClock::now());
    deliver(out);
}

void ChirpstackSource::deliver(UplinkProcessor::Output& output) {
    for (const auto& line : output.logs) log_(line.level, line.text);
    for (auto& sample : output.samples) on_sample_(std::move(sample));
}

}  // namespace gw::lorawan
