// SPDX-License-Identifier: Apache-2.0
// The gateway's typed configuration. Defaults live in the member initialisers; the JSON key of
// each field is given in its comment. Parsing and validation: config_loader.hpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "analytics/bin_analytics.hpp"
#include "analytics/flow_volume.hpp"
#include "analytics/limits.hpp"
#include "analytics/quality_checks.hpp"
#include "drivers/iio/iio_source.hpp"
#include "drivers/modbus_bus.hpp"
#include "drivers/register_codec.hpp"

namespace gw {

struct GatewayIdentity {
    std::string town_id;                       ///< "town_id", topic-safe id
    std::string gateway_id;                    ///< "gateway_id", topic-safe id, unique in the town
    std::string log_level{"info"};             ///< "log_level": debug|info|warn|error
    std::chrono::seconds health_interval{60};  ///< "health_interval_s"
};

/// "mqtt.tls": TLS to the broker (required by an ssl:// or mqtts:// broker).
struct TlsConfig {
    std::string
        ca_file;  ///< "ca_file": PEM CA certificate(s) the broker's certificate must chain to
    std::string cert_file;       ///< "cert_file": the gateway's client certificate (mutual TLS)
    std::string key_file;        ///< "key_file": its private key
    bool verify_hostname{true};  ///< "verify_hostname": the certificate must name the broker host
};

/// "mqtt.protocol_version": "3.1.1" (default) | "5".
enum class MqttVersion : std::uint8_t { V311, V5 };

struct MqttConfig {
    std::string broker;                        ///< "broker": tcp://host:port or ssl://host:port
    std::optional<TlsConfig> tls;              ///< "tls"
    std::string client_id;                     ///< "client_id", default "towngw-{gateway_id}"
    std::string topic_prefix{"townbrain/v1"};  ///< "topic_prefix"
    std::string username;                      ///< "username" (optional)
    std::string password;       ///< "password", or read from "password_file"; never logged
    int keepalive_s{30};        ///< "keepalive_s"
    int connect_timeout_s{10};  ///< "connect_timeout_s"
    int reconnect_min_s{1};     ///< "reconnect_min_s": first retry delay
    int reconnect_max_s{60};    ///< "reconnect_max_s": back-off ceiling
    int max_inflight{32};       ///< "max_inflight": QoS 1 publishes awaiting PUBACK
    int backlog_rate{200};      ///< "backlog_rate": backlog messages/s after an outage
    MqttVersion protocol_version{MqttVersion::V311};  ///< "protocol_version": "3.1.1" | "5"
};

enum class SyncMode : std::uint8_t { Normal, Full };
enum class WhenFull : std::uint8_t { DropOldest, RejectNew };

struct StorageConfig {
    std::string path{"/var/lib/towngw/outbox.db"};   ///< "path"
    SyncMode synchronous{SyncMode::Full};            ///< "synchronous": "full" | "normal"
    std::uint64_t max_bytes{128u << 20};             ///< "max_bytes": database size cap
    WhenFull when_full{WhenFull::DropOldest};        ///< "when_full": "drop_oldest" | "reject_new"
    std::chrono::milliseconds flush_interval{5000};  ///< "flush_interval_ms": open-window state
};

enum class ClockTrust : std::uint8_t { Ntp, System };

struct ClockConfig {
    ClockTrust trust{ClockTrust::Ntp};    ///< "trust": "ntp" | "system"
    std::chrono::seconds max_hold{3600};  ///< "max_hold_s": how long to hold unsynced readings
};

struct ControlConfig {
    std::string socket{"/run/towngw/control.sock"};  ///< "socket"
    std::string group;  ///< "group": owner group of the socket (mode 0660), empty = unchanged
};

/// "home_assistant": optional Home Assistant MQTT discovery (docs/dashboards.md).
struct HomeAssistantConfig {
    bool enabled{false};                            ///< "enabled": publish discovery configs
    std::string discovery_prefix{"homeassistant"};  ///< "discovery_prefix": HA's setting
};

/// Which southbound source serves a device ("transport" "type").
enum class SourceKind : std::uint8_t {
    Modbus,      ///< "modbus-rtu", "modbus-tcp", "modbus-rtu-over-tcp": polled by a ModbusBus
    Chirpstack,  ///< "chirpstack": LoRaWAN uplinks from a ChirpStack v4 MQTT integration
    Iio,         ///< "iio": Linux IIO ADC channels (4-20 mA / 0-10 V)
};

/// "transport" of a LoRaWAN device: {"type": "chirpstack", ...}. Devices with the same broker
/// share one MQTT connection (one ChirpstackSource).
struct ChirpstackTransport {
    std::string broker;               ///< "broker": tcp://host:port ChirpStack publishes to
    std::string application_id{"+"};  ///< "application_id": ChirpStack application, "+" = any
    std::string dev_eui;              ///< "dev_eui": 16 hex digits, stored lower case
    std::string username;             ///< "username" (optional)
    std::string password;             ///< "password" (optional, never logged)
    std::string client_id;            ///< "client_id", default "towngw-{gateway_id}-lorawan"
};

struct DeviceConfig {
    std::string id;  ///< "id"
    SourceKind kind{SourceKind::Modbus};
    std::string profile_file;  ///< "profile": path (relative to the config file), or
                               ///< empty when "registers" are given inline
    /// The device's points. For Modbus devices the register map; for other sources only the
    /// point names, units, metrics and ranges matter (filled from the codec / channel list).
    modbus::DeviceProfile profile;
    modbus::Endpoint endpoint;                        ///< "transport" of a Modbus device
    int unit_id{1};                                   ///< "unit_id": 1..247 (TCP: 0..255)
    std::chrono::milliseconds poll_period{1000};      ///< "poll_ms"
    std::chrono::milliseconds response_timeout{500};  ///< "timeout_ms"
    int retries{1};                    ///< "retries": extra attempts of a timed-out request
    int backoff_after_failures{3};     ///< "backoff_after_failures": failed polls before back-off
    std::chrono::seconds backoff{30};  ///< "backoff_s": not polled for this long, then probed

    // --- LoRaWAN (kind Chirpstack). poll_period holds interval_s, the expected uplink period,
    // so windows expect the right number of samples; profile.registers name the codec's points.
    ChirpstackTransport chirpstack;             ///< "transport"
    std::string codec;                          ///< "codec": built-in payload codec name
    std::chrono::seconds stale_after{1800};     ///< "stale_after_s", default 3 x interval_s
    std::chrono::seconds uplink_interval{600};  ///< "interval_s"

    // --- IIO ADC inputs (kind Iio): poll_period ("poll_ms") applies; profile.registers name
    // the channels (with their unit, metric and range) so sensors resolve as for Modbus.
    std::string iio_directory;                  ///< "transport": {"type": "iio", "device": DIR}
    std::vector<iio::IioChannel> iio_channels;  ///< "channels"
};

struct FillLevel {
    double empty_mm{0};  ///< "empty_mm": sensor to bin floor
    double full_mm{0};   ///< "full_mm": sensor to the "full" line
};

/// "calibration" of a sensor: how a technician calibrates it in the field (docs/calibration.md).
struct CalibrationConfig {
    /// "model": ph, turbidity, dissolved_oxygen, conductivity, zero, level, bin, linear or
    /// offset. Default from the metric (ph -> ph, fill_level -> bin, flow_rate -> zero, ...).
    std::string model;
    int valid_days{0};             ///< "valid_days": 0 = the model's default (pH 30, ...)
    std::string ph_buffers{"gb"};  ///< "ph_buffers": gb, nist or technical
    bool raw_is_mv{false};         ///< "raw_unit": "mV" when a pH probe reports electrode mV
    /// "stability_per_min": largest drift per minute of a stable reading; 0 = default (pH
    /// 0.05 pH/min per HJ 1147-2020, others 1 % of the reading).
    double stability_per_min{0};
    std::string probe_serial;  ///< "probe_serial", recorded with every calibration
};

/// Calibration models the daemon knows, and the default validity of each (days).
const std::vector<std::pair<std::string, int>>& calibration_models();
/// The model a sensor gets when its configuration names none.
std::string default_calibration_model(const std::string& metric, bool fill_level);

/// "quality" of a sensor: per-sample data-quality checks (docs/analytics.md). Defaults come
/// from the metric (analytics::default_quality_params); keys given here replace them.
struct SensorQualityConfig {
    bool enabled{true};               ///< "enabled"
    analytics::QualityParams params;  ///< "spike_window", "spike_k", "spike_floor",
                                      ///< "max_rate_per_s", "flat_after_s", "flat_epsilon"
};

struct SensorConfig {
    std::string id;                   ///< "id", topic-safe
    std::string device_id;            ///< "device"
    std::string register_name;        ///< "register": a point of the device's profile
    std::size_t device_index{0};      ///< resolved
    std::size_t register_index{0};    ///< resolved
    std::chrono::seconds window{60};  ///< "window_s"
    /// "coverage_threshold": the share of `expected` good samples a window needs to be "good"
    /// (also its hourly and daily aggregates, counted in windows).
    double coverage_threshold{0.75};
    std::string metric;                   ///< "metric", default from the profile (or "fill_level")
    std::string unit;                     ///< "unit", default from the profile (or "%")
    std::optional<FillLevel> fill_level;  ///< "fill_level": derive bin fill % from a distance
    /// "stuck_after_samples": this many identical raw values in a row are flagged "stuck"
    /// (HJ 212 flag D); 0 = off.
    std::uint32_t stuck_after_samples{0};
    CalibrationConfig calibration;  ///< "calibration"
    SensorQualityConfig quality;    ///< "quality"
};

/// "analytics.sites[]": a monitoring point judged against a standard (docs/analytics.md).
struct SiteConfig {
    std::string id;                    ///< "id", topic-safe
    analytics::SiteStandard standard;  ///< "standard", "class", "water_body", "supply_point",
                                       ///< "small_supply", "disinfectant", "built_before_2006",
                                       ///< "custom_limits"
    std::vector<std::size_t> sensors;  ///< "sensors": ids of the sensors judged here, resolved
    /// "temperature_sensor": water temperature for GB 18918's NH3-N rule, resolved.
    std::optional<std::size_t> temperature_sensor;
    std::map<std::string, double> hysteresis;         ///< "hysteresis": metric -> absolute value
    std::chrono::seconds raise_after{300};            ///< "raise_after_s"
    std::optional<std::chrono::seconds> clear_after;  ///< "clear_after_s", default raise_after_s
};

/// "analytics.flow_meters[]": volumes per window from a meter's totaliser and flow rate
/// (docs/analytics.md, "Sewage flow"). Publishes …/flow/{id} and …/flow/{id}/night_minimum.
struct FlowMeterConfig {
    std::string id;  ///< "id", topic-safe, unique among the flow meters
    /// "flow_sensor": a sensor with a volume-flow unit (m3/h, L/s, L/min, m3/min, m3/s, m3/d;
    /// converted to m3/h), resolved. At least one of flow_sensor and totaliser_sensor.
    std::optional<std::size_t> flow_sensor;
    std::optional<std::size_t> totaliser_sensor;  ///< "totaliser_sensor": unit m3, resolved
    /// "window_s" (default 3600, divides a day), "max_gap_s" (default 300, at most window_s),
    /// "rollover_at_m3" (default 2^31, 0 = never wraps), "max_flow_m3_h" (default 0 = no jump
    /// check)
    analytics::FlowVolumeConfig volume;
    /// "night_minimum": {"start_hour" (default 2, 0..23), "end_hour" (default 4, 1..24, after
    /// start_hour)} local time (analytics.utc_offset_min); needs flow_sensor. Absent: none.
    std::optional<analytics::NightMinimumConfig> night_minimum;
};

/// "analytics.outfalls[]": an outfall or storm drain that should be dry in dry weather
/// (docs/analytics.md, "Dry-weather discharge"). Alarms on …/alarm/{id}.
struct OutfallConfig {
    std::string id;  ///< "id", topic-safe, differs from every sensor, outfall and bin id
    std::size_t flow_sensor{0};  ///< "flow_sensor" (volume flow, as above), resolved
    /// "rain_sensor": metric rain, rainfall or precipitation, unit mm per sample, resolved
    std::optional<std::size_t> rain_sensor;
    /// "raise_flow_m3_h" (default 0.5, > 0), "clear_flow_m3_h" (default raise / 2, <= raise),
    /// "raise_after_s", "clear_after_s" (default 600, 0..86400), "rain_lookback_h" (default 24,
    /// 1..72), "dry_rain_mm" (default 1.0, >= 0)
    analytics::DryDischargeConfig discharge;
};

/// "analytics.bins[]": fill rate, time to full, the collection list, fire and tilt alarms
/// (docs/analytics.md, "Waste bins"). Publishes …/bins/{id}, …/bins/collect, …/alarm/{id}.
struct BinConfig {
    std::string id;  ///< "id", topic-safe, not "collect", differs from sensor/outfall/bin ids
    std::size_t fill_sensor{0};  ///< "fill_sensor": a fill_level sensor (metric fill_level, %)
    std::optional<std::size_t> temperature_sensor;  ///< "temperature_sensor" (degC), resolved
    /// "tilt_sensor": metric "tilt" (a 0/1 flag; an angle if its unit is deg), resolved
    std::optional<std::size_t> tilt_sensor;
    analytics::FillRateConfig fill;  ///< "emptying_drop_pct" (default 20, > 0 and <= 100)
    /// "collect_at_pct" (default 80, > 0 and <= 100), "cutoff" ("HH:MM" local, default "17:00");
    /// tz_offset_min from analytics.utc_offset_min
    analytics::CollectConfig collect;
    /// "fire_limit_degC" (default 60, > 0 and <= 200; clears 10 degC below it),
    /// "fire_rise_degC_per_min" (default 1.0, > 0 and <= 100)
    analytics::FireConfig fire;
    analytics::TiltConfig tilt;  ///< "tilt_after_s" (default 600, 0..86400)
};

struct AnalyticsConfig {
    /// "utc_offset_min": local time = UTC + this; the local day of daily means, night minimum
    /// flows and collection days (China Standard Time: 480).
    std::int32_t utc_offset_min{480};
    std::vector<SiteConfig> sites;             ///< "sites"
    std::vector<FlowMeterConfig> flow_meters;  ///< "flow_meters"
    std::vector<OutfallConfig> outfalls;       ///< "outfalls"
    std::vector<BinConfig> bins;               ///< "bins"
};

/// "hj212.platforms[].edition": the HJ 212 edition spoken to a platform.
enum class Hj212Edition : std::uint8_t { V2017, V2025 };

/// "hj212.platforms[].pollutants[]": one sensor reported under a factor code.
struct Hj212PollutantConfig {
    std::string code;             ///< "code": e.g. "w01018"; 1 letter then 3..9 letters/digits
    std::size_t sensor_index{0};  ///< "sensor": id of a configured sensor, resolved
    double scale{1.0};     ///< derived: sensor unit -> the code's report unit (hj212::unit_scale)
    int decimals{2};       ///< "decimals" (0..6), default the code's, or 3 for unknown codes
    bool is_flow{false};   ///< derived: cou_unit "m3" (w00000): -Cou is the volume
    bool has_load{false};  ///< derived: cou_unit "kg" and the platform reports a flow: -Cou is
                           ///< the load in kg
};

/// "hj212.platforms[]": one environmental-authority platform reached over TCP (docs/hj212.md).
struct Hj212PlatformConfig {
    std::string name;  ///< "name": topic-safe id, unique among platforms
    std::string host;  ///< "host": name or address
    int port{0};       ///< "port": 1..65535, required
    /// "mn": device id given by the platform, 1..24 chars, printable ASCII without ; , = & and
    /// no spaces (24 hex is the standard's form; others are accepted)
    std::string mn;
    /// "pw": access password, 1..16 printable ASCII without ; , = & (the standard's is 6
    /// chars); never logged
    std::string pw{"123456"};
    std::string st{"32"};  ///< "st": system code, 2 chars [0-9A-Z] (21 surface water, 32 sewage
                           ///< outfall, 52 process)
    Hj212Edition edition{Hj212Edition::V2017};  ///< "edition": "2017" | "2025"
    bool reply_requested{true};   ///< "reply_requested": Flag.A on uploads, wait for 9014
    int reply_timeout_s{10};      ///< "reply_timeout_s": OverTime, 1..99 (Table 1: 10 s over 4G)
    int retries{3};               ///< "retries": ReCount, 0..99
    int realtime_interval_s{30};  ///< "realtime_interval_s": RtdInterval 30..3600
    int minute_interval_min{10};  ///< "minute_interval_min": one of 1,2,3,4,5,6,10,12,15,20,30
    bool send_realtime{true};     ///< "send": subset of ["realtime","minute","hourly","daily"],
                                  ///< default all
    bool send_minute{true};
    bool send_hourly{true};
    bool send_daily{true};
    int history_days{30};     ///< "history_days": delivered frames kept for history requests,
                              ///< 1..400
    int reconnect_min_s{1};   ///< "reconnect_min_s" >= 1
    int reconnect_max_s{60};  ///< "reconnect_max_s" >= reconnect_min_s, <= 3600
    /// "heartbeat_s": 9015 heartbeat (edition 2025 only), 0 = off, else 10..3600; always 0 for
    /// edition 2017 (giving it there is an error)
    int heartbeat_s{60};
    std::vector<Hj212PollutantConfig> pollutants;  ///< "pollutants", at least one
};

struct Config {
    std::string source_file;
    GatewayIdentity gateway;
    MqttConfig mqtt;
    StorageConfig storage;
    ControlConfig control;
    ClockConfig clock;
    HomeAssistantConfig home_assistant;
    std::vector<DeviceConfig> devices;
    std::vector<SensorConfig> sensors;
    AnalyticsConfig analytics;  ///< "analytics"
    /// "hj212": {"platforms": [...]}; empty when the section is absent (no HJ 212 uplink)
    std::vector<Hj212PlatformConfig> hj212;

    /// "{prefix}/{town_id}/{gateway_id}"
    std::string topic_root() const {
        return mqtt.topic_prefix + "/" + gateway.town_id + "/" + gateway.gateway_id;
    }
};

}  // namespace gw
