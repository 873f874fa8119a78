// SPDX-License-Identifier: Apache-2.0
// Runs the Outbox on its own thread (an fsync on an SD card can take 100 ms; the main loop must
// not wait for it). Every async_* call posts a job to the database thread and posts the result
// back to the caller's executor. Errors come back as a non-empty string, never as an exception.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <thread>

#include "buffer/outbox.hpp"

namespace gw {

class OutboxWorker {
public:
    using EnqueueHandler = std::function<void(std::string error, std::vector<std::uint64_t> seqs)>;
    using PeekHandler = std::function<void(std::string error, std::vector<StoredMessage>)>;
    using AckHandler = std::function<void(std::string error)>;
    using StatsHandler = std::function<void(OutboxStats)>;

    /// Opens the outbox on the calling thread (so start-up errors throw), then starts the
    /// database thread. `results` is where handlers run (the main io_context).
    OutboxWorker(const std::string& path, SyncMode sync, boost::asio::any_io_executor results);
    ~OutboxWorker();
    OutboxWorker(const OutboxWorker&) = delete;
    OutboxWorker& operator=(const OutboxWorker&) = delete;

    void async_enqueue(std::vector<OutboxMessage> messages, EnqueueHandler handler);
    void async_peek(std::uint64_t after_seq, std::size_t limit, PeekHandler handler);
    void async_ack(std::vector<std::uint64_t> seqs, AckHandler handler);
    void async_stats(StatsHandler handler);

    /// Lets queued jobs finish, then joins the database thread.
    void stop();

private:
    std::unique_ptr<Outbox> outbox_;
    boost::asio::any_io_executor results_;
    boost::asio::io_context db_context_{1};
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    std::thread thread_;
};

}  // namespace gw
