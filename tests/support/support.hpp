// SPDX-License-Identifier: Apache-2.0
// Everything the integration tests need to run real processes against each other on 127.0.0.1:
// scratch directories, free ports, deadline polling, child processes that are always reaped
// (also on a pseudo-terminal, for interactive commands), and fixtures for mosquitto,
// towngw-sim, towngwd and an MQTT subscriber.
#pragma once

#include "child_process.hpp"
#include "gateway_process.hpp"
#include "json_util.hpp"
#include "mosquitto_broker.hpp"
#include "mqtt_collector.hpp"
#include "net.hpp"
#include "pty_session.hpp"
#include "sim_process.hpp"
#include "temp_dir.hpp"
#include "wait.hpp"
