// SPDX-License-Identifier: Apache-2.0
// Configuration errors of the Modbus line options (serial settings, RS-485 direction control,
// inter-frame delay, RTU over TCP) and of the sensor fault checks: each names its JSON Pointer.
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "config/config_loader.hpp"
#include "config_test_support.hpp"

using namespace gw;

namespace {

using test::kDemoPath;

std::string demo_text() {
    return test::demo_config_text();
}

ConfigResult load_with(std::vector<ConfigOverride> overrides) {
    return load_config_text(demo_text(), kDemoPath, std::move(overrides));
}

std::vector<ConfigError> errors_with(std::vector<ConfigOverride> overrides) {
    auto result = load_with(std::move(overrides));
    if (auto* errors = std::get_if<std::vector<ConfigError>>(&result)) return *errors;
    return {};
}

void require_single_error(const std::vector<ConfigError>& errors, const std::string& pointer,
                          const std::string& words) {
    INFO([&] {
        std::string all;
        for (const auto& e : errors) all += e.to_string() + "\n";
        return all;
    }());
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].file == kDemoPath);
    CHECK(errors[0].pointer == pointer);
    CHECK_THAT(errors[0].message, Catch::Contains(words));
}

const std::string kRtu = "/devices/0/transport";

}  // namespace

TEST_CASE("serial line options are parsed", "[unit][config][transport]") {
    auto result = load_with({{kRtu + "/rs485", "\"rts\""},
                             {kRtu + "/rts", "\"down\""},
                             {kRtu + "/rts_delay_us", "500"},
                             {kRtu + "/inter_frame_ms", "35"},
                             {kRtu + "/byte_timeout_ms", "20"},
                             {kRtu + "/parity", "\"E\""},
                             {kRtu + "/stop_bits", "2"}});
    REQUIRE(std::holds_alternative<Config>(result));
    const auto& rtu = std::get<modbus::RtuEndpoint>(std::get<Config>(result).devices[0].endpoint);
    CHECK(rtu.rs485 == modbus::Rs485Mode::Rts);
    CHECK_FALSE(rtu.rts_active_high);
    CHECK(rtu.rts_delay_us == 500);
    CHECK(rtu.inter_frame_delay.count() == 35);
    CHECK(rtu.byte_timeout.count() == 20);
    CHECK(rtu.parity == 'E');
    CHECK(rtu.stop_bits == 2);
}

TEST_CASE("config error: each serial option outside its range names its pointer",
          "[unit][config][transport]") {
    require_single_error(errors_with({{kRtu + "/rs485", "\"gpio\""}}), kRtu + "/rs485",
                         R"(must be one of "auto","kernel","rts")");
    require_single_error(errors_with({{kRtu + "/baud", "9601"}}), kRtu + "/baud",
                         "must be one of 1200,2400,4800,9600,19200,38400,57600,115200");
    require_single_error(errors_with({{kRtu + "/parity", "\"X\""}}), kRtu + "/parity",
                         R"(must be one of "N","E","O")");
    require_single_error(errors_with({{kRtu + "/data_bits", "9"}}), kRtu + "/data_bits",
                         "must be one of 7,8");
    require_single_error(errors_with({{kRtu + "/stop_bits", "3"}}), kRtu + "/stop_bits",
                         "must be one of 1,2");
    require_single_error(errors_with({{kRtu + "/inter_frame_ms", "5000"}}),
                         kRtu + "/inter_frame_ms", "between 0 and 1000");
    require_single_error(errors_with({{kRtu + "/byte_timeout_ms", "0"}}), kRtu + "/byte_timeout_ms",
                         "between 1 and 10000");
    require_single_error(
        errors_with({{kRtu + "/rs485", "\"rts\""}, {kRtu + "/rts_delay_us", "-1"}}),
        kRtu + "/rts_delay_us", "between 0 and 1000000");
    require_single_error(errors_with({{kRtu + "/rs485", "\"rts\""}, {kRtu + "/rts", "\"high\""}}),
                         kRtu + "/rts", R"(must be one of "up","down")");
    require_single_error(errors_with({{kRtu + "/lattency", "1"}}), kRtu + "/lattency",
                         "unknown key");
}

TEST_CASE("config error: RTS options without RTS direction control", "[unit][config][transport]") {
    require_single_error(errors_with({{kRtu + "/rts", "\"up\""}}), kRtu + "/rts",
                         R"(only applies with "rs485": "rts")");
    require_single_error(
        errors_with({{kRtu + "/rs485", "\"kernel\""}, {kRtu + "/rts_delay_us", "10"}}),
        kRtu + "/rts_delay_us", R"(only applies with "rs485": "rts")");
}

TEST_CASE("config error: devices on one serial port with different line timing",
          "[unit][config][transport]") {
    const std::string second = R"({"id": "water2", "profile": "devices/water_probe_float.json",
        "transport": {"type": "modbus-rtu", "port": "/dev/ttyUSB0", "inter_frame_ms": 35},
        "unit_id": 2})";
    require_single_error(errors_with({{"/devices/3", second}}), "/devices/3/transport",
                         "shares rtu:/dev/ttyUSB0 with device \"water1\" but with other line "
                         "settings");
}

TEST_CASE("RTU over TCP is parsed and shares a line per server", "[unit][config][transport]") {
    const std::string over = R"({"type": "modbus-rtu-over-tcp", "host": "127.0.0.1", "port": 4001,
                                 "baud": 19200, "parity": "E", "inter_frame_ms": 2})";
    auto result = load_with({{kRtu, over}});
    REQUIRE(std::holds_alternative<Config>(result));
    const auto& device = std::get<Config>(result).devices[0];
    CHECK(device.kind == SourceKind::Modbus);
    const auto& endpoint = std::get<modbus::RtuOverTcpEndpoint>(device.endpoint);
    CHECK(endpoint.host == "127.0.0.1");
    CHECK(endpoint.port == 4001);
    CHECK(endpoint.line.baud == 19200);
    CHECK(endpoint.line.parity == 'E');
    CHECK(endpoint.inter_frame_delay.count() == 2);
    CHECK(modbus::describe(device.endpoint) == "rtu-over-tcp:127.0.0.1:4001@19200/8E1");
    CHECK(modbus::bus_key(device.endpoint) == "rtu-over-tcp:127.0.0.1:4001");
}

TEST_CASE("config error: RTU over TCP options", "[unit][config][transport]") {
    require_single_error(errors_with({{kRtu, R"({"type": "modbus-rtu-over-tcp", "port": 4001})"}}),
                         kRtu + "/host", "is required");
    require_single_error(
        errors_with({{kRtu, R"({"type": "modbus-rtu-over-tcp", "host": "h", "rs485": "kernel"})"}}),
        kRtu + "/rs485", "unknown key");
    require_single_error(errors_with({{kRtu, R"({"type": "modbus-rtu-over-tcp", "host": "h",
                                                 "port": 0})"}}),
                         kRtu + "/port", "between 1 and 65535");
    require_single_error(
        errors_with({{kRtu, R"({"type": "modbus-rtu", "port": "/dev/ttyS1", "host": "h"})"}}),
        kRtu + "/host", "unknown key");
    require_single_error(errors_with({{kRtu, R"({"type": "modbus-udp"})"}}), kRtu + "/type",
                         "must be one of");
}

TEST_CASE("config error: one TCP port used with two framings", "[unit][config][transport]") {
    // demo.json's flow1 and bin1 use Modbus TCP on 127.0.0.1:1502.
    require_single_error(
        errors_with(
            {{kRtu, R"({"type": "modbus-rtu-over-tcp", "host": "127.0.0.1", "port": 1502})"}}),
        "/devices/1/transport", "one TCP port speaks one framing");
}

TEST_CASE("stuck detection is configured per sensor", "[unit][config][transport]") {
    auto result = load_with({{"/sensors/0/stuck_after_samples", "30"}});
    REQUIRE(std::holds_alternative<Config>(result));
    CHECK(std::get<Config>(result).sensors[0].stuck_after_samples == 30);
    require_single_error(errors_with({{"/sensors/0/stuck_after_samples", "1"}}),
                         "/sensors/0/stuck_after_samples", "at least 2");
    require_single_error(errors_with({{"/sensors/0/stuck_after_samples", "\"yes\""}}),
                         "/sensors/0/stuck_after_samples", "must be an integer");
}

TEST_CASE("config error: reserved Modbus TCP unit ids", "[unit][config][transport]") {
    // demo.json's devices 1 and 2 are Modbus TCP.
    require_single_error(errors_with({{"/devices/1/unit_id", "250"}}), "/devices/1/unit_id",
                         "must be 0-247 or 255 on Modbus TCP (248-254 are reserved), got 250");
    auto result = load_with({{"/devices/1/unit_id", "255"}});
    CHECK(std::holds_alternative<Config>(result));
    require_single_error(errors_with({{"/devices/0/unit_id", "248"}}), "/devices/0/unit_id",
                         "between 1 and 247");
}
