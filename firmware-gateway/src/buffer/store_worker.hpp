// SPDX-License-Identifier: Apache-2.0
// Runs the Store on its own thread: an fsync on an SD card can take 100 ms and the main loop
// must not wait for it. Each call posts a job to the database thread and posts its outcome back
// to the caller's executor. Failures come back as data (Outcome::error), never as exceptions.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <functional>
#include <memory>
#include <thread>

#include "buffer/store.hpp"

namespace gw {

template <typename T>
struct Outcome {
    T value{};
    std::string error;            ///< empty on success
    bool storage_failure{false};  ///< disk full or I/O error (see StoreError)
    bool ok() const { return error.empty(); }
};

class StoreWorker {
public:
    /// Opens the store on the calling thread (so start-up errors throw), then starts the
    /// database thread. Handlers run on `results` (the main io_context).
    StoreWorker(const std::string& path, const StoreOptions& options,
                boost::asio::any_io_executor results);
    ~StoreWorker();
    StoreWorker(const StoreWorker&) = delete;
    StoreWorker& operator=(const StoreWorker&) = delete;

    const OpenReport& open_report() const { return open_report_; }

    void async_commit(CommitBatch batch, std::function<void(Outcome<CommitResult>)> handler);
    void async_peek(std::uint64_t after_seq, std::uint64_t before_seq, std::size_t limit,
                    std::function<void(Outcome<std::vector<StoredMessage>>)> handler);
    void async_ack(std::vector<std::uint64_t> seqs, std::function<void(Outcome<bool>)> handler);
    void async_stats(std::function<void(Outcome<StoreStats>)> handler);
    void async_release_held(std::string boot_id, std::optional<std::int64_t> offset_ms,
                            std::function<void(Outcome<std::vector<StoredReading>>)> handler);

    /// One sensor's calibration history, or every sensor's when `sensor` is empty.
    void async_calibration_history(
        std::string sensor, std::function<void(Outcome<std::vector<CalibrationEntry>>)> handler);

    /// HJ 212 frames (see Store::hj212_pending, hj212_history, hj212_prune); acknowledgements
    /// travel in CommitBatch::hj212_delivered.
    void async_hj212_pending(std::string platform, std::int64_t after_id, std::size_t limit,
                             std::function<void(Outcome<std::vector<StoredHj212Frame>>)> handler);
    void async_hj212_history(std::string platform, std::string cn, std::int64_t begin_ms,
                             std::int64_t end_ms, std::size_t limit,
                             std::function<void(Outcome<std::vector<StoredHj212Frame>>)> handler);
    void async_hj212_prune(std::int64_t data_time_before_ms,
                           std::function<void(Outcome<std::uint64_t>)> handler);

    /// Blocking versions for start-up only (they wait for the database thread).
    std::vector<StoredReading> load_readings_now(ClockState state);
    std::vector<StoredOpenWindow> load_open_windows_now();
    std::vector<CalibrationEntry> calibration_history_now();
    std::vector<SensorSetting> sensor_settings_now();
    std::vector<AnalyticsStateRow> analytics_state_now();
    StoreStats stats_now();

    /// Lets queued jobs finish, then joins the database thread.
    void stop();

private:
    template <typename T, typename Job>
    void submit(Job job, std::function<void(Outcome<T>)> handler);
    template <typename T, typename Job>
    T run_now(Job job);

    std::unique_ptr<Store> store_;
    OpenReport open_report_;
    boost::asio::any_io_executor results_;
    boost::asio::io_context db_context_{1};
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    std::thread thread_;
};

}  // namespace gw
