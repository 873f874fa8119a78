// SPDX-License-Identifier: Apache-2.0
// The simulator's register encoder was written independently of the gateway's decoder; here
// each checks the other for every type, word order and a spread of values.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "drivers/register_codec.hpp"
#include "modbus_sim/register_encoder.hpp"

namespace {

gw::modbus::ValueType gateway_type(gw::sim::ValueType t) {
    return *gw::modbus::parse_value_type(gw::sim::to_string(t));
}
gw::modbus::WordOrder gateway_order(gw::sim::WordOrder o) {
    return *gw::modbus::parse_word_order(gw::sim::to_string(o));
}

}  // namespace

TEST_CASE("simulator encoding decodes to the same value in the gateway", "[unit][codec]") {
    using gw::sim::ValueType;
    using gw::sim::WordOrder;
    const ValueType types[] = {ValueType::Int16,  ValueType::Uint16,  ValueType::Int32,
                               ValueType::Uint32, ValueType::Float32, ValueType::Float64};
    const WordOrder orders[] = {WordOrder::ABCD, WordOrder::CDAB, WordOrder::BADC, WordOrder::DCBA};
    const double values[] = {0.0,           1.0,          -1.0,    7.21,       123.456,
                             -273.15,       32767.0,      65535.0, 16777217.0, 2147483647.0,
                             -2147483648.0, 4294967295.0, 1e-3};
    const int decimals_options[] = {0, 2};
    const double scales[] = {1.0, 0.1};

    for (auto type : types)
        for (auto order : orders)
            for (double scale : scales)
                for (int decimals : decimals_options)
                    for (double value : values) {
                        gw::sim::PointFormat format;
                        format.type = type;
                        format.word_order = order;
                        format.scale = scale;
                        format.offset = 0.0;
                        const auto encoded = gw::sim::encode_point(format, value, decimals);

                        gw::modbus::RegisterSpec spec;
                        spec.type = gateway_type(type);
                        spec.word_order = gateway_order(order);
                        spec.scale = scale;
                        const double raw = gw::modbus::decode_raw(encoded.words.data(), spec.type,
                                                                  spec.word_order);
                        const double decoded = gw::modbus::to_engineering(raw, spec, decimals);
                        INFO(gw::sim::to_string(type)
                             << " " << gw::sim::to_string(order) << " scale " << scale
                             << " decimals " << decimals << " value " << value);
                        REQUIRE(encoded.word_count ==
                                static_cast<std::size_t>(gw::modbus::register_count(spec.type)));
                        CHECK(decoded ==
                              Approx(encoded.decoded_engineering).epsilon(1e-12).margin(1e-12));
                    }
}
