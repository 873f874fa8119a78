// SPDX-License-Identifier: Apache-2.0
#include "buffer/outbox_worker.hpp"

#include <boost/asio/post.hpp>

namespace gw {

namespace asio = boost::asio;

OutboxWorker::OutboxWorker(const std::string& path, SyncMode sync, asio::any_io_executor results)
    : outbox_(std::make_unique<Outbox>(path, sync)),
      results_(std::move(results)),
      work_(asio::make_work_guard(db_context_)),
      thread_([this] { db_context_.run(); }) {}

OutboxWorker::~OutboxWorker() {
    stop();
}

void OutboxWorker::stop() {
    work_.reset();
    if (thread_.joinable()) thread_.join();
}

void OutboxWorker::async_enqueue(std::vector<OutboxMessage> messages, EnqueueHandler handler) {
    asio::post(db_context_,
               [this, messages = std::move(messages), handler = std::move(handler)]() mutable {
                   std::string error;
                   std::vector<std::uint64_t> seqs;
                   try {
                       seqs = outbox_->enqueue(std::move(messages));
                   } catch (const std::exception& e) {
                       error = e.what();
                   }
                   asio::post(results_, [handler = std::move(handler), error = std::move(error),
                                         seqs = std::move(seqs)]() mutable {
                       handler(std::move(error), std::move(seqs));
                   });
               });
}

void OutboxWorker::async_peek(std::uint64_t after_seq, std::size_t limit, PeekHandler handler) {
    asio::post(db_context_, [this, after_seq, limit, handler = std::move(handler)]() mutable {
        std::string error;
        std::vector<StoredMessage> messages;
        try {
            messages = outbox_->peek(after_seq, limit);
        } catch (const std::exception& e) {
            error = e.what();
        }
        asio::post(results_, [handler = std::move(handler), error = std::move(error),
                              messages = std::move(messages)]() mutable {
            handler(std::move(error), std::move(messages));
        });
    });
}

void OutboxWorker::async_ack(std::vector<std::uint64_t> seqs, AckHandler handler) {
    asio::post(db_context_, [this, seqs = std::move(seqs), handler = std::move(handler)]() mutable {
        std::string error;
        try {
            outbox_->ack(seqs);
        } catch (const std::exception& e) {
            error = e.what();
        }
        asio::post(results_, [handler = std::move(handler), error = std::move(error)]() mutable {
            handler(std::move(error));
        });
    });
}

void OutboxWorker::async_stats(StatsHandler handler) {
    asio::post(db_context_, [this, handler = std::move(handler)]() mutable {
        const OutboxStats stats = outbox_->stats();
        asio::post(results_, [handler = std::move(handler), stats] { handler(stats); });
    });
}

}  // namespace gw
