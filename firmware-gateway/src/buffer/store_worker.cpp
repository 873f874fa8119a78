// SPDX-License-Identifier: Apache-2.0
#include "buffer/store_worker.hpp"

#include <pthread.h>

#include <future>

namespace gw {

namespace asio = boost::asio;

StoreWorker::StoreWorker(const std::string& path, const StoreOptions& options,
                         asio::any_io_executor results)
    : store_(std::make_unique<Store>(path, options)),
      open_report_(store_->open_report()),
      results_(std::move(results)),
      work_(asio::make_work_guard(db_context_)),
      thread_([this] {
          pthread_setname_np(pthread_self(), "towngw-store");
          db_context_.run();
      }) {}

StoreWorker::~StoreWorker() {
    stop();
}

void StoreWorker::stop() {
    work_.reset();
    if (thread_.joinable()) thread_.join();
}

template <typename T, typename Job>
void StoreWorker::submit(Job job, std::function<void(Outcome<T>)> handler) {
    asio::post(db_context_, [this, job = std::move(job), handler = std::move(handler)]() mutable {
        Outcome<T> outcome;
        try {
            outcome.value = job(*store_);
        } catch (const StoreError& e) {
            outcome.error = e.what();
            outcome.storage_failure = e.is_storage_failure();
        } catch (const std::exception& e) {
            outcome.error = e.what();
        }
        asio::post(results_,
                   [handler = std::move(handler), outcome = std::move(outcome)]() mutable {
                       handler(std::move(outcome));
                   });
    });
}

void StoreWorker::async_commit(CommitBatch batch,
                               std::function<void(Outcome<CommitResult>)> handler) {
    submit<CommitResult>(
        [batch = std::move(batch)](Store& s) mutable { return s.commit(std::move(batch)); },
        std::move(handler));
}

void StoreWorker::async_peek(std::uint64_t after_seq, std::uint64_t before_seq, std::size_t limit,
                             std::function<void(Outcome<std::vector<StoredMessage>>)> handler) {
    submit<std::vector<StoredMessage>>(
        [after_seq, before_seq, limit](Store& s) { return s.peek(after_seq, before_seq, limit); },
        std::move(handler));
}

void StoreWorker::async_ack(std::vector<std::uint64_t> seqs,
                            std::function<void(Outcome<bool>)> handler) {
    submit<bool>(
        [seqs = std::move(seqs)](Store& s) {
            s.ack(seqs);
            return true;
        },
        std::move(handler));
}

void StoreWorker::async_stats(std::function<void(Outcome<StoreStats>)> handler) {
    submit<StoreStats>([](Store& s) { return s.stats(); }, std::move(handler));
}

void StoreWorker::async_calibration_history(
    std::string sensor, std::function<void(Outcome<std::vector<CalibrationEntry>>)> handler) {
    submit<std::vector<CalibrationEntry>>(
        [sensor = std::move(sensor)](Store& s) { return s.calibration_history(sensor); },
        std::move(handler));
}

void StoreWorker::async_release_held(
    std::string boot_id, std::optional<std::int64_t> offset_ms,
    std::function<void(Outcome<std::vector<StoredReading>>)> handler) {
    submit<std::vector<StoredReading>>([boot_id = std::move(boot_id), offset_ms](
                                           Store& s) { return s.release_held(boot_id, offset_ms); },
                                       std::move(handler));
}

void StoreWorker::async_hj212_pending(
    std::string platform, std::int64_t after_id, std::size_t limit,
    std::function<void(Outcome<std::vector<StoredHj212Frame>>)> handler) {
    submit<std::vector<StoredHj212Frame>>(
        [platform = std::move(platform), after_id, limit](Store& s) {
            return s.hj212_pending(platform, after_id, limit);
        },
        std::move(handler));
}

void StoreWorker::async_hj212_history(
    std::string platform, std::string cn, std::int64_t begin_ms, std::int64_t end_ms,
    std::size_t limit, std::function<void(Outcome<std::vector<StoredHj212Frame>>)> handler) {
    submit<std::vector<StoredHj212Frame>>(
        [platform = std::move(platform), cn = std::move(cn), begin_ms, end_ms, limit](Store& s) {
            return s.hj212_history(platform, cn, begin_ms, end_ms, limit);
        },
        std::move(handler));
}

void StoreWorker::async_hj212_prune(std::int64_t data_time_before_ms,
                                    std::function<void(Outcome<std::uint64_t>)> handler) {
    submit<std::uint64_t>(
        [data_time_before_ms](Store& s) { return s.hj212_prune(data_time_before_ms); },
        std::move(handler));
}

template <typename T, typename Job>
T StoreWorker::run_now(Job job) {
    std::promise<T> promise;
    auto future = promise.get_future();
    asio::post(db_context_, [this, &promise, job = std::move(job)]() mutable {
        try {
            promise.set_value(job(*store_));
        } catch (...) {
            promise.set_exception(std::current_exception());
        }
    });
    return future.get();
}

std::vector<StoredReading> StoreWorker::load_readings_now(ClockState state) {
    return run_now<std::vector<StoredReading>>(
        [state](Store& s) { return s.load_readings(state); });
}

std::vector<StoredOpenWindow> StoreWorker::load_open_windows_now() {
    return run_now<std::vector<StoredOpenWindow>>([](Store& s) { return s.load_open_windows(); });
}

std::vector<CalibrationEntry> StoreWorker::calibration_history_now() {
    return run_now<std::vector<CalibrationEntry>>([](Store& s) { return s.calibration_history(); });
}

std::vector<SensorSetting> StoreWorker::sensor_settings_now() {
    return run_now<std::vector<SensorSetting>>([](Store& s) { return s.load_sensor_settings(); });
}

std::vector<AnalyticsStateRow> StoreWorker::analytics_state_now() {
    return run_now<std::vector<AnalyticsStateRow>>(
        [](Store& s) { return s.load_analytics_state(); });
}

StoreStats StoreWorker::stats_now() {
    return run_now<StoreStats>([](Store& s) { return s.stats(); });
}

}  // namespace gw
