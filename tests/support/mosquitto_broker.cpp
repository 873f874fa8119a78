// SPDX-License-Identifier: Apache-2.0
#include "mosquitto_broker.hpp"

#include <unistd.h>

#include <csignal>
#include <fstream>
#include <stdexcept>

#include "net.hpp"
#include "wait.hpp"

namespace gw::test {
namespace {
constexpr auto kStartDeadline = std::chrono::seconds(10);
constexpr int kStartAttempts = 3;
}  // namespace

std::string mosquitto_bin() {
#ifdef MOSQUITTO_BIN
    return MOSQUITTO_BIN;
#else
    return "mosquitto";
#endif
}

MosquittoBroker::MosquittoBroker(std::filesystem::path dir, bool persistent,
                                 std::vector<std::string> extra_config)
    : dir_(std::move(dir)), persistent_(persistent), extra_config_(std::move(extra_config)) {
    for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
        port_ = free_tcp_port();
        if (launch()) {
            return;
        }
    }
    throw std::runtime_error("mosquitto did not start after " + std::to_string(kStartAttempts) +
                             " attempts; log:\n" + log_text());
}

std::string MosquittoBroker::uri() const {
    return "tcp://127.0.0.1:" + std::to_string(port_);
}

bool MosquittoBroker::running() const {
    return proc_ && proc_->running();
}

bool MosquittoBroker::launch() {
    const auto conf = dir_ / "mosquitto.conf";
    {
        std::ofstream out(conf, std::ios::trunc);
        out << "# written by gw::test::MosquittoBroker\n"
            << "listener " << port_ << " 127.0.0.1\n"
            << "allow_anonymous true\n"
            << (persistent_ ? "persistence true\npersistence_location " + dir_.string() + "/\n"
                            : std::string("persistence false\n"))
            // stderr is captured into mosquitto.log by ChildProcess; a log file of its own
            // would have to be writable by the 'mosquitto' user mosquitto drops to as root.
            << "log_dest stderr\n"
            << "log_type all\n"
            << "connection_messages true\n";
        if (::geteuid() == 0) {
            // As root, mosquitto would switch to the 'mosquitto' user, and the credential
            // change clears PR_SET_PDEATHSIG: a test binary killed by a ctest timeout would then
            // leave the broker running. Staying root keeps the parent-death signal.
            out << "user root\n";
        }
        for (const auto& line : extra_config_) {
            out << line << "\n";
        }
        if (!out) {
            throw std::runtime_error("cannot write " + conf.string());
        }
    }
    proc_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{mosquitto_bin(), "-c", conf.string()}, dir_ / "mosquitto.log");
    // Ready = the port accepts connections while our mosquitto is alive. If the port was taken
    // in the meantime mosquitto exits ("Address already in use") and the caller retries.
    bool up = false;
    wait_until(
        [&] {
            if (!proc_->running()) {
                return true;  // stop waiting: failed
            }
            up = tcp_port_accepts(port_) && proc_->running();
            return up;
        },
        kStartDeadline);
    if (!up) {
        proc_->stop();
    }
    return up;
}

void MosquittoBroker::stop() {
    if (proc_) {
        proc_->stop();
    }
}

void MosquittoBroker::reload() {
    if (proc_) {
        proc_->signal(SIGHUP);
    }
}

void MosquittoBroker::start() {
    if (running()) {
        return;
    }
    for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
        if (launch()) {
            return;
        }
    }
    throw std::runtime_error("mosquitto did not restart on port " + std::to_string(port_) +
                             "; log:\n" + log_text());
}

std::string MosquittoBroker::log_text() const {
    return read_file(dir_ / "mosquitto.log");
}

}  // namespace gw::test
