#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Peers benchmark: the tools a town would otherwise deploy, on exactly the steady-state workload
# of scripts/bench.sh, so that the gateway's numbers can be reported as ratios:
#   collectd    (Debian collectd-core, modbus + mqtt plugins, libmodbus / libmosquitto)
#   node-red    (Node-RED + node-red-contrib-modbus from npm, under bench/peers/, git-ignored)
# Workload: N simulated Modbus TCP sensors (towngw-sim; a generated one-register profile, int16
# "distance" in mm at holding 0, FC03; 200 unit ids per simulator process, so ceil(N/200)
# processes, one TCP connection each), each polled once a second and every value published to a
# private mosquitto on 127.0.0.1.
# Per peer: warm-up, then a fixed window in which it samples /proc/PID/stat (utime+stime),
# /proc/PID/status (VmHWM, VmRSS) and /proc/PID/io (write_bytes); a subscriber timestamps every
# message (one message = one sensor value = one successful poll) and the simulators count the
# requests they served. A peer that cannot be installed or fails is reported as skipped; that
# never fails the script.
#
# Usage: scripts/bench-peers.sh [--json OUT.json] [--sensors N[,N...]] [--seconds S]
#                               [--warmup S] [--peers collectd,node-red]
# Environment: TOWNGW_BENCH_BUILD=DIR (build dir holding bin/towngw-sim, default build-bench; it
#   is built there if missing), TOWNGW_PEERS_SECONDS (60), TOWNGW_PEERS_WARMUP (15),
#   TOWNGW_PEERS_DIR (bench/peers), TOWNGW_PEERS_QOS (0), TOWNGW_PEERS_UNITS_PER_SIM (200, at
#   most 247), TOWNGW_PEERS_NO_INSTALL=1 (never run apt-get/npm), TOWNGW_BENCH_KEEP=1 (keep the
#   scratch directory).
# Everything this script starts is stopped by its PID on exit.

# Functions below are called indirectly (traps, wait_for "$@"), which SC2317 cannot see.
# shellcheck disable=SC2317
set -euo pipefail

usage() {
  sed -n 's/^# \{0,1\}//; /^Usage:/,/^Everything/p' "${BASH_SOURCE[0]}" | sed '$d' >&2
  exit 2
}

json_out=""
sensors_arg=20
seconds=${TOWNGW_PEERS_SECONDS:-60}
warmup=${TOWNGW_PEERS_WARMUP:-15}
peers_arg=collectd,node-red
while (($#)); do
  case $1 in
    --json) json_out=${2:?--json needs a file}; shift 2 ;;
    --sensors) sensors_arg=${2:?--sensors needs N}; shift 2 ;;
    --seconds) seconds=${2:?--seconds needs S}; shift 2 ;;
    --warmup) warmup=${2:?--warmup needs S}; shift 2 ;;
    --peers) peers_arg=${2:?--peers needs a list}; shift 2 ;;
    -h | --help) usage ;;
    *) echo "bench-peers: unknown argument: $1" >&2; usage ;;
  esac
done
IFS=, read -r -a sensor_counts <<<"$sensors_arg"
IFS=, read -r -a peer_names <<<"$peers_arg"
for n in "${sensor_counts[@]}"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "bench-peers: --sensors: not a count: $n" >&2; exit 2; }
done
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "bench-peers: --seconds: not a count: $seconds" >&2; exit 2; }
[[ $warmup =~ ^[0-9]+$ ]] || { echo "bench-peers: --warmup: not a count: $warmup" >&2; exit 2; }
for p in "${peer_names[@]}"; do
  [[ $p == collectd || $p == node-red ]] || { echo "bench-peers: unknown peer: $p" >&2; exit 2; }
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/process.sh
source "$root/scripts/lib/process.sh"
build_dir=${TOWNGW_BENCH_BUILD:-build-bench}
[[ $build_dir == /* ]] || build_dir=$root/$build_dir
sim_bin=$build_dir/bin/towngw-sim
peers_dir=${TOWNGW_PEERS_DIR:-$root/bench/peers}
[[ $peers_dir == /* ]] || peers_dir=$root/$peers_dir
[[ -z $json_out || $json_out == /* ]] || json_out=$PWD/$json_out
qos=${TOWNGW_PEERS_QOS:-0}
[[ $qos =~ ^[012]$ ]] || { echo "bench-peers: TOWNGW_PEERS_QOS must be 0, 1 or 2" >&2; exit 2; }
may_install=1
[[ ${TOWNGW_PEERS_NO_INSTALL:-0} == 1 ]] && may_install=0

# Pinned so runs are comparable. Node-RED 5 needs Node >= 22.9 (Debian 12 ships 18);
# node-red-contrib-modbus >= 5.45 pulls a dependency from outside the npm registry; 5.23.3 is the
# newest release whose dependencies all come from the npm registry.
node_red_version=${TOWNGW_PEERS_NODE_RED_VERSION:-4.1.8}
contrib_modbus_version=${TOWNGW_PEERS_CONTRIB_MODBUS_VERSION:-5.23.3}
# Unit ids 1..units_per_sim on each simulator port. Not 250: libmodbus 3.1.6 (Debian 12, used by
# collectd and by towngwd) refuses modbus_set_slave() above 247 on TCP too (except 255).
units_per_sim=${TOWNGW_PEERS_UNITS_PER_SIM:-200}
if [[ ! $units_per_sim =~ ^[1-9][0-9]*$ ]] || ((units_per_sim > 247)); then
  echo "bench-peers: TOWNGW_PEERS_UNITS_PER_SIM must be 1..247" >&2
  exit 2
fi
first_message_timeout=90
clk_tck=$(getconf CLK_TCK)
mosquitto_bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)

log() { printf 'bench-peers: %s\n' "$*" >&2; }
now() { date +%s.%N; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/towngw-bench-peers.XXXXXX")
pids=() # every process we started and have not reaped yet, in start order

cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    stop_pid "${pids[i]}"
  done
  if [[ ${TOWNGW_BENCH_KEEP:-0} == 1 ]]; then
    log "kept $tmp"
  else
    rm -rf "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Stops $1 by PID and forgets it.
stop_tracked() {
  local pid=$1 i
  stop_pid "$pid"
  for i in "${!pids[@]}"; do
    [[ ${pids[i]} == "$pid" ]] && unset 'pids[i]'
  done
  pids=("${pids[@]}")
}

json_str() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//[$'\n\r\t']/ }
  printf '"%s"' "$s"
}

# --- results ------------------------------------------------------------------------------------
results_json=() # one JSON object per peer and N
table_rows=()

# record NAME VERSION N STATUS [key=value ...]: metrics are numbers (or null)
record() {
  local name=$1 version=$2 n=$3 status=$4 kv obj
  shift 4
  obj="{\"name\": $(json_str "$name"), \"version\": $(json_str "$version"), \"sensors\": $n, \"seconds\": $seconds, \"warmup_seconds\": $warmup"
  for kv in "$@"; do
    obj+=", \"${kv%%=*}\": ${kv#*=}"
  done
  obj+=", \"status\": $(json_str "$status")}"
  results_json+=("$obj")
  write_json
}
skip() { # skip NAME VERSION N REASON
  printf 'peer %s: skipped (%s)\n' "$1" "$4"
  log "peer $1: skipped ($4)"
  record "$1" "$2" "$3" "skipped: $4" \
    cpu_ms_per_poll=null vmhwm_mib=null vmrss_mib=null write_bytes_per_poll=null messages_per_s=null
  table_rows+=("$(printf '%-9s %-10s %7s  skipped: %s' "$1" "${2:--}" "$3" "$4")")
}

date_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
[[ -n $cpu_model ]] || cpu_model=$(uname -m)
git_rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -z $(git -C "$root" status --porcelain 2>/dev/null) ]] || git_rev="$git_rev-dirty"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# Writes --json (after every peer, so that a run cut short still leaves what it measured).
write_json() {
  [[ -n $json_out ]] || return 0
  local i
  mkdir -p "$(dirname "$json_out")"
  {
    printf '{\n  "benchmark": "peers",\n  "date": "%s",\n  "nproc": %s,\n  "cpu_model": %s,\n  "git_rev": "%s",\n' \
      "$date_utc" "$(nproc)" "$(json_str "$cpu_model")" "$git_rev"
    printf '  "clk_tck": %s,\n  "units_per_sim": %s,\n  "loadavg_at_start": "%s",\n  "qos": %s,\n  "workload": %s,\n  "peers": [\n' \
      "$clk_tck" "$units_per_sim" "$load_start" "$qos" \
      "$(json_str "N Modbus TCP sensors (towngw-sim, one int16 holding register each, FC03), $units_per_sim unit ids per simulator port (one TCP connection each), each sensor polled every 1 s, every value published to a local mosquitto")"
    for i in "${!results_json[@]}"; do
      printf '    %s%s\n' "${results_json[i]}" "$([[ $i -lt $((${#results_json[@]} - 1)) ]] && echo ,)"
    done
    printf '  ]\n}\n'
  } >"$json_out.tmp"
  mv "$json_out.tmp" "$json_out"
}

# --- installing ---------------------------------------------------------------------------------
# apt-get install without letting maintainer scripts start services; apt-get update on a miss.
apt_install() {
  ((may_install)) || { log "not installing $* (TOWNGW_PEERS_NO_INSTALL=1)"; return 1; }
  ((EUID == 0)) || { log "not root: cannot apt-get install $*"; return 1; }
  log "apt-get install $*"
  (
    policy=/usr/sbin/policy-rc.d
    if [[ ! -e $policy ]]; then
      printf '#!/bin/sh\n# temporary, from towngw scripts/bench-peers.sh\nexit 101\n' >"$policy"
      chmod 755 "$policy"
      trap 'rm -f "$policy"' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    timeout 900 apt-get install -y --no-install-recommends "$@" ||
      { timeout 600 apt-get update && timeout 900 apt-get install -y --no-install-recommends "$@"; }
  ) >>"$tmp/apt.log" 2>&1
}

collectd_bin=""
collectd_version=""
collectd_plugins=/usr/lib/collectd
# Sets collectd_bin/collectd_version, or collectd_reason and returns 1.
ensure_collectd() {
  have_collectd() {
    collectd_bin=$(command -v collectd || echo /usr/sbin/collectd)
    [[ -x $collectd_bin && -f $collectd_plugins/modbus.so && -f $collectd_plugins/mqtt.so ]] &&
      ! ldd "$collectd_plugins/modbus.so" "$collectd_plugins/mqtt.so" 2>/dev/null | grep -q 'not found'
  }
  # libmodbus5 and libmosquitto1 are only "Suggests" of collectd-core.
  have_collectd || apt_install collectd-core libmodbus5 libmosquitto1 || true
  if ! have_collectd; then
    if [[ ! -x $collectd_bin ]]; then
      collectd_reason="collectd is not installed and apt-get install collectd-core failed"
    elif [[ ! -f $collectd_plugins/modbus.so || ! -f $collectd_plugins/mqtt.so ]]; then
      collectd_reason="this collectd build has no modbus.so or mqtt.so in $collectd_plugins"
    else
      collectd_reason="collectd's modbus/mqtt plugins miss a library (libmodbus5, libmosquitto1)"
    fi
    return 1
  fi
  collectd_version=$("$collectd_bin" -h 2>&1 | sed -n 's/^collectd \([^,]*\),.*/\1/p' | head -n1)
}

node_red_dir=$peers_dir/node-red
node_red_js=$node_red_dir/node_modules/node-red/red.js
node_red_installed=""
# Installs the pinned Node-RED + node-red-contrib-modbus under bench/peers/node-red unless they
# are there; sets node_red_reason and returns 1 when that is impossible.
ensure_node_red() {
  pkg_version() { node -p "require('$node_red_dir/node_modules/$1/package.json').version" 2>/dev/null; }
  installed() {
    [[ -f $node_red_js && $(pkg_version node-red) == "$node_red_version" &&
      $(pkg_version node-red-contrib-modbus) == "$contrib_modbus_version" ]]
  }
  command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm || true
  command -v node >/dev/null || { node_red_reason="node is not installed and apt-get install nodejs failed"; return 1; }
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>18||(a==18&&b>=5)?0:1)' ||
    { node_red_reason="Node-RED $node_red_version needs Node >= 18.5, this is $(node --version)"; return 1; }
  if ! installed; then
    ((may_install)) || { node_red_reason="not installed under $node_red_dir and TOWNGW_PEERS_NO_INSTALL=1"; return 1; }
    command -v npm >/dev/null || { node_red_reason="npm is not installed"; return 1; }
    log "npm install node-red@$node_red_version node-red-contrib-modbus@$contrib_modbus_version in $node_red_dir"
    mkdir -p "$node_red_dir"
    timeout 60 npm view "node-red@$node_red_version" version >"$tmp/npm.log" 2>&1 ||
      { node_red_reason="the npm registry is not reachable ($(tail -n1 "$tmp/npm.log"))"; return 1; }
    cat >"$node_red_dir/package.json" <<JSON
{
  "name": "towngw-bench-peers",
  "private": true,
  "description": "Peers for scripts/bench-peers.sh (git-ignored, installed by the script)",
  "dependencies": {
    "node-red": "$node_red_version",
    "node-red-contrib-modbus": "$contrib_modbus_version"
  }
}
JSON
    (cd "$node_red_dir" && timeout 900 npm install --no-audit --no-fund --omit=dev) >>"$tmp/npm.log" 2>&1 ||
      { node_red_reason="npm install failed ($(tail -n1 "$tmp/npm.log"))"; return 1; }
    installed || { node_red_reason="npm install did not leave node-red $node_red_version in $node_red_dir"; return 1; }
  fi
  node_red_installed="$node_red_version (node-red-contrib-modbus $contrib_modbus_version, node $(node --version))"
}

# --- /proc sampling -----------------------------------------------------------------------------
cpu_ticks() { # utime + stime of the whole process (all threads), in clock ticks
  local stat
  stat=$(cat "/proc/$1/stat") || return 1
  stat=${stat##*) } # the fields after "(comm) "; comm may hold spaces
  awk '{ print $12 + $13 }' <<<"$stat"
}
sched_ns() { # run time of the live threads in ns (finer than clock ticks; misses exited threads)
  cat "/proc/$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'
}
status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# PSS and the private part (USS) from smaps_rollup: what the process costs beyond shared pages.
pss_kib() { awk '$1 == "Pss:" { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
uss_kib() { awk '$1 == "Private_Clean:" || $1 == "Private_Dirty:" { s += $2 } END { print s + 0 }' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
write_bytes() { awk '$1 == "write_bytes:" { print $2 }' "/proc/$1/io" 2>/dev/null || echo 0; }
sim_requests() { # requests served by all simulators, from their stats files (written every second)
  local f total=0 r
  for f in "$tmp"/sim-*.stats.json; do
    r=$(grep -o '"server":{"requests":[0-9]*' "$f" 2>/dev/null | grep -o '[0-9]*$') || r=0
    total=$((total + ${r:-0}))
  done
  echo "$total"
}

# --- simulators ---------------------------------------------------------------------------------
sim_ports=() # one TCP port per simulator process, device i on sim (i-1)/250, unit (i-1)%250+1
dev_name() { printf 'bin%04d' "$1"; }

profile="" # written once into the scratch directory
start_sims() { # start_sims N
  local n=$1 count k i first last f pid
  count=$(((n + units_per_sim - 1) / units_per_sim))
  sim_ports=()
  profile=$tmp/bench_int16.json
  cat >"$profile" <<'JSON'
{
  "model": "bench-int16",
  "description": "one int16 holding register (distance in mm), FC03, for scripts/bench-peers.sh",
  "registers": [
    { "name": "distance", "table": "holding", "address": 0, "type": "int16", "unit": "mm", "metric": "distance" }
  ]
}
JSON
  for ((k = 0; k < count; k++)); do
    first=$((k * units_per_sim + 1))
    last=$(((k + 1) * units_per_sim))
    ((last > n)) && last=$n
    f=$tmp/sim-$k.json
    {
      echo '{"start_hour": 12, "devices": ['
      for ((i = first; i <= last; i++)); do
        printf '  {"id": "%s", "profile": "%s", "transport": "tcp", "unit_id": %d, "signals": {"distance": {"kind": "noise", "mean": %d, "stddev": 20, "min": 100, "max": 2000}}}%s\n' \
          "$(dev_name "$i")" "$profile" $((i - first + 1)) $((800 + ((i - 1) % 7) * 50)) "$([[ $i -lt $last ]] && echo ,)"
      done
      echo ']}'
    } >"$f"
    rm -f "$tmp/sim-$k.ready"
    "$sim_bin" --scenario "$f" --tcp-port 0 --ready-file "$tmp/sim-$k.ready" \
      --stats-file "$tmp/sim-$k.stats.json" --no-wire-delay --seed $((k + 1)) \
      >"$tmp/sim-$k.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    sim_ready() { exited "$pid" || [[ -s $tmp/sim-$k.ready ]]; }
    wait_for 30 sim_ready || true
    if ! alive "$pid" || [[ ! -s $tmp/sim-$k.ready ]]; then
      log "towngw-sim $k did not start:"
      tail -n 20 "$tmp/sim-$k.log" >&2
      return 1
    fi
    sim_ports+=("$(grep -o '"tcp_port":[0-9]*' "$tmp/sim-$k.ready" | grep -o '[0-9]*$')")
  done
  sim_pids=("${pids[@]: -count}")
}
stop_sims() {
  local pid
  for pid in "${sim_pids[@]}"; do stop_tracked "$pid"; done
  sim_pids=()
  rm -f "$tmp"/sim-*.stats.json
}

# --- peer configurations ------------------------------------------------------------------------
write_collectd_conf() { # write_collectd_conf N DIR
  local n=$1 dir=$2 k i u
  mkdir -p "$dir"
  {
    cat <<CONF
# Generated by scripts/bench-peers.sh: N=$n Modbus TCP sensors polled every second, each value
# published to MQTT. Nothing else loaded; nothing written to disk.
Hostname "bench"
FQDNLookup false
BaseDir "$dir"
PIDFile "$dir/collectd.pid"
PluginDir "$collectd_plugins"
TypesDB "/usr/share/collectd/types.db"
AutoLoadPlugin false
CollectInternalStats false
Interval 1

LoadPlugin modbus
LoadPlugin mqtt

<Plugin modbus>
  <Data "distance">
    RegisterBase 0
    RegisterType Int16
    RegisterCmd ReadHolding
    Type "gauge"
    Instance "distance"
  </Data>
CONF
    for k in "${!sim_ports[@]}"; do
      printf '  <Host "sim%d">\n    Address "127.0.0.1"\n    Port "%s"\n    Interval 1\n' "$k" "${sim_ports[k]}"
      for ((i = k * units_per_sim + 1; i <= n && i <= (k + 1) * units_per_sim; i++)); do
        u=$((i - k * units_per_sim))
        printf '    <Slave %d>\n      Instance "%s"\n      Collect "distance"\n    </Slave>\n' "$u" "$(dev_name "$i")"
      done
      echo '  </Host>'
    done
    cat <<CONF
</Plugin>

<Plugin mqtt>
  <Publish "bench">
    Host "127.0.0.1"
    Port $broker_port
    ClientId "collectd-bench"
    QoS $qos
    Prefix "collectd"
    Retain false
    StoreRates false
  </Publish>
</Plugin>
CONF
  } >"$dir/collectd.conf"
}

write_node_red_conf() { # write_node_red_conf N DIR
  local n=$1 dir=$2 k i u sep
  mkdir -p "$dir"
  cat >"$dir/settings.js" <<JS
// Generated by scripts/bench-peers.sh: headless Node-RED, no editor, no admin or node HTTP.
module.exports = {
  flowFile: 'flows.json',
  userDir: '$dir',
  uiHost: '127.0.0.1',
  uiPort: 0,
  httpAdminRoot: false,
  httpNodeRoot: false,
  disableEditor: true,
  credentialSecret: false,
  diagnostics: { enabled: false, ui: false },
  runtimeState: { enabled: false, ui: false },
  telemetry: { enabled: false, updateNotification: false },
  externalModules: { autoInstall: false, palette: { allowInstall: false }, modules: { allowInstall: false } },
  editorTheme: { projects: { enabled: false } },
  contextStorage: { default: { module: 'memory' } },
  logging: { console: { level: 'warn', metrics: false, audit: false } },
};
JS
  {
    echo '['
    echo '  {"id": "bench_tab", "type": "tab", "label": "towngw bench"},'
    printf '  {"id": "bench_broker", "type": "mqtt-broker", "name": "bench", "broker": "127.0.0.1", "port": "%s", "clientid": "nodered-bench", "autoConnect": true, "usetls": false, "protocolVersion": "4", "keepalive": "60", "cleansession": true, "birthTopic": "", "closeTopic": "", "willTopic": ""},\n' "$broker_port"
    printf '  {"id": "bench_out", "type": "mqtt out", "z": "bench_tab", "name": "publish", "topic": "", "qos": "%s", "retain": "false", "broker": "bench_broker", "wires": []},\n' "$qos"
    for k in "${!sim_ports[@]}"; do
      printf '  {"id": "bench_client%d", "type": "modbus-client", "name": "sim%d", "clienttype": "tcp", "bufferCommands": true, "stateLogEnabled": false, "queueLogEnabled": false, "failureLogEnabled": true, "tcpHost": "127.0.0.1", "tcpPort": "%s", "tcpType": "DEFAULT", "serialPort": "/dev/ttyUSB", "serialType": "RTU-BUFFERD", "serialBaudrate": "9600", "serialDatabits": "8", "serialStopbits": "1", "serialParity": "none", "serialConnectionDelay": "100", "serialAsciiResponseStartDelimiter": "0x3A", "unit_id": "1", "commandDelay": "1", "clientTimeout": "1000", "reconnectOnTimeout": true, "reconnectTimeout": "2000", "parallelUnitIdsAllowed": true},\n' \
        "$k" "$k" "${sim_ports[k]}"
    done
    for ((i = 1; i <= n; i++)); do
      k=$(((i - 1) / units_per_sim))
      u=$(((i - 1) % units_per_sim + 1))
      sep=,
      ((i == n)) && sep=
      printf '  {"id": "bench_read%d", "type": "modbus-read", "z": "bench_tab", "name": "%s", "topic": "nodered/%s/distance", "showStatusActivities": false, "logIOActivities": false, "showErrors": false, "unitid": "%d", "dataType": "HoldingRegister", "adr": "0", "quantity": "1", "rate": "1", "rateUnit": "s", "delayOnStart": false, "startDelayTime": "", "server": "bench_client%d", "useIOFile": false, "ioFile": "", "useIOForPayload": false, "emptyMsgOnFail": false, "wires": [["bench_out"], []]}%s\n' \
        "$i" "$(dev_name "$i")" "$(dev_name "$i")" "$u" "$k" "$sep"
    done
    echo ']'
  } >"$dir/flows.json"
}

# --- one measurement ----------------------------------------------------------------------------
# measure NAME VERSION N TOPIC LOG CMD...: starts a timestamping subscriber on TOPIC, then CMD;
# waits for its first message, warms up, measures, stops both, records the result.
measure() {
  local name=$1 version=$2 n=$3 topic=$4 logf=$5
  shift 5
  local sub_pid pid msgs t0 t1 c0 c1 s0 s1 w0 w1 r0 r1 hwm rss polls
  msgs=$tmp/$name-$n.msgs
  stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$broker_port" -q 1 -i "bench-peers-$name" \
    -t "$topic" -F '%U %t %p' >"$msgs" 2>"$tmp/$name-$n.sub.err" &
  sub_pid=$!
  pids+=("$sub_pid")
  sub_seen() { exited "$sub_pid" || grep -q "bench-peers-$name" "$tmp/mosquitto.log"; }
  wait_for 10 sub_seen || true
  if ! alive "$sub_pid"; then
    skip "$name" "$version" "$n" "the counting subscriber did not start: $(tail -n1 "$tmp/$name-$n.sub.err")"
    stop_tracked "$sub_pid"
    return
  fi

  log "$name, N=$n: starting"
  "$@" >"$logf" 2>&1 &
  pid=$!
  pids+=("$pid")
  first_message() { exited "$pid" || [[ -s $msgs ]]; }
  wait_for "$first_message_timeout" first_message || true
  if ! alive "$pid" || [[ ! -s $msgs ]]; then
    local why="no message within ${first_message_timeout}s"
    alive "$pid" || why="exited at start"
    skip "$name" "$version" "$n" "$why: $(grep -v '^\s*$' "$logf" | tail -n1)"
    stop_tracked "$pid"
    stop_tracked "$sub_pid"
    return
  fi
  log "$name, N=$n: first message; warm-up ${warmup}s, then ${seconds}s measured"
  sleep "$warmup"
  alive "$pid" || { skip "$name" "$version" "$n" "died during warm-up: $(tail -n1 "$logf")"; stop_tracked "$pid"; stop_tracked "$sub_pid"; return; }
  t0=$(now); c0=$(cpu_ticks "$pid"); s0=$(sched_ns "$pid"); w0=$(write_bytes "$pid"); r0=$(sim_requests)
  sleep "$seconds"
  t1=$(now); c1=$(cpu_ticks "$pid") || c1=""; s1=$(sched_ns "$pid"); w1=$(write_bytes "$pid"); r1=$(sim_requests)
  hwm=$(status_kib "$pid" VmHWM)
  rss=$(status_kib "$pid" VmRSS)
  pss=$(pss_kib "$pid")
  uss=$(uss_kib "$pid")
  if [[ -z $c1 ]] || ! alive "$pid"; then
    skip "$name" "$version" "$n" "died during the measurement: $(tail -n1 "$logf")"
    stop_tracked "$pid"
    stop_tracked "$sub_pid"
    return
  fi
  stop_tracked "$pid"
  stop_tracked "$sub_pid" # flushes its output; the count below is by receive time, in [t0, t1)
  polls=$(awk -v a="$t0" -v b="$t1" '$1 >= a && $1 < b { c++ } END { print c + 0 }' "$msgs")

  local cpu_ms sched_ms per_poll sched_per_poll mps sim_rps wpp ok status
  cpu_ms=$(awk -v d=$((c1 - c0)) -v hz="$clk_tck" 'BEGIN { printf "%.0f", d * 1000 / hz }')
  sched_ms=$(awk -v d=$((s1 - s0)) 'BEGIN { printf "%.1f", d / 1e6 }')
  read -r per_poll sched_per_poll mps sim_rps wpp < <(awk -v cpu="$cpu_ms" -v sc="$sched_ms" -v p="$polls" \
    -v s="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" -v r=$((r1 - r0)) -v w=$((w1 - w0)) 'BEGIN {
      if (p > 0) printf "%.3f %.3f %.1f %.1f %.1f\n", cpu / p, sc / p, p / s, r / s, w / p
      else printf "null null %.1f %.1f null\n", p / s, r / s }')
  ok=$(awk -v m="$mps" -v n="$n" 'BEGIN { print (m >= 0.95 * n ? "true" : "false") }')
  status=ok
  [[ $ok == true ]] || status="ok (short: ${mps} messages/s for ${n} sensors)"
  record "$name" "$version" "$n" "$status" \
    cpu_ms_per_poll="$per_poll" schedstat_cpu_ms_per_poll="$sched_per_poll" vmhwm_mib="$(awk -v k="$hwm" 'BEGIN { printf "%.1f", k / 1024 }')" \
    vmrss_mib="$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')" \
    write_bytes_per_poll="$wpp" messages_per_s="$mps" expected_messages_per_s="$n" \
    polls_ok="$ok" polls="$polls" cpu_ms="$cpu_ms" schedstat_cpu_ms="$sched_ms" write_bytes=$((w1 - w0)) \
    sim_requests_per_s="$sim_rps" vmhwm_kib="$hwm" vmrss_kib="$rss" pss_kib="${pss:-0}" uss_kib="${uss:-0}"
  table_rows+=("$(printf '%-9s %-10s %7s %12s %13s %10.1f %10.1f %12s %9s %10s  %s' "$name" "${version%% *}" "$n" \
    "$per_poll" "$sched_per_poll" "$(awk -v k="$hwm" 'BEGIN { print k / 1024 }')" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" \
    "$wpp" "$mps" "$sim_rps" "$status")")
  log "$name, N=$n: $per_poll ms/poll ($sched_per_poll by schedstat), VmHWM $hwm KiB, $mps messages/s, sim $sim_rps requests/s"
}

run_collectd() { # run_collectd N
  local n=$1 dir=$tmp/collectd-$1 err
  if [[ -z $collectd_version ]]; then
    skip collectd "" "$n" "$collectd_reason"
    return
  fi
  write_collectd_conf "$n" "$dir"
  if ! err=$("$collectd_bin" -t -C "$dir/collectd.conf" 2>&1); then
    skip collectd "$collectd_version" "$n" "collectd rejects its config: $(tail -n1 <<<"$err")"
    return
  fi
  measure collectd "$collectd_version" "$n" 'collectd/#' "$dir/collectd.log" \
    "$collectd_bin" -f -C "$dir/collectd.conf"
}

run_node_red() { # run_node_red N
  local n=$1 dir=$tmp/node-red-$1
  if [[ -z $node_red_installed ]]; then
    skip node-red "$node_red_version" "$n" "$node_red_reason"
    return
  fi
  write_node_red_conf "$n" "$dir"
  measure node-red "$node_red_installed" "$n" 'nodered/#' "$dir/node-red.log" \
    node "$node_red_js" --userDir "$dir" --settings "$dir/settings.js"
}

# --- main ---------------------------------------------------------------------------------------
fatal_reason=""
if [[ ! -x $sim_bin ]]; then
  log "building towngw-sim in $build_dir"
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  { cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" &&
    cmake --build "$build_dir" --target towngw-sim -j"$(nproc)"; } >"$tmp/build.log" 2>&1 ||
    fatal_reason="towngw-sim did not build in $build_dir"
  unset launcher # start_broker would take it as a command prefix
fi
have_mosquitto() { command -v mosquitto_sub >/dev/null && [[ -x $mosquitto_bin ]]; }
if [[ -z $fatal_reason ]] && ! have_mosquitto; then
  apt_install mosquitto mosquitto-clients || true
  mosquitto_bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)
  have_mosquitto || fatal_reason="mosquitto or mosquitto-clients is missing and could not be installed"
fi
broker_port=""
if [[ -z $fatal_reason ]]; then
  broker_extra=("max_queued_messages 0")
  [[ $(id -u) == 0 ]] && broker_extra+=("user root")
  start_broker "$tmp" "${broker_extra[@]}" || true
  [[ -n $broker_port ]] || fatal_reason="mosquitto did not start: $(tail -n1 "$tmp/mosquitto.log" 2>/dev/null)"
fi

collectd_reason=""
node_red_reason=""
if [[ -z $fatal_reason ]]; then
  for p in "${peer_names[@]}"; do
    case $p in
      collectd) ensure_collectd || true ;;
      node-red) ensure_node_red || true ;;
    esac
  done
fi

sim_pids=()
for n in "${sensor_counts[@]}"; do
  if [[ -z $fatal_reason ]] && ! start_sims "$n"; then
    fatal_reason="towngw-sim did not start (N=$n)"
  fi
  for p in "${peer_names[@]}"; do
    if [[ -n $fatal_reason ]]; then
      skip "$p" "" "$n" "$fatal_reason"
      continue
    fi
    case $p in
      collectd) run_collectd "$n" ;;
      node-red) run_node_red "$n" ;;
    esac
  done
  [[ -n $fatal_reason ]] || stop_sims
done

# --- report -------------------------------------------------------------------------------------
printf '\n  Peers on the steady-state workload: N Modbus TCP sensors at 1 Hz -> MQTT (QoS %s)\n' "$qos"
printf '  %s, %s CPU(s), %s, git %s; warm-up %s s, measured %s s; load average at start %s\n\n' \
  "$date_utc" "$(nproc)" "$cpu_model" "$git_rev" "$warmup" "$seconds" "$load_start"
printf '%-9s %-10s %7s %12s %13s %10s %10s %12s %9s %10s  %s\n' peer version sensors "CPU ms/poll" "(schedstat)" "VmHWM MiB" "VmRSS MiB" "write B/poll" "msgs/s" "sim req/s" status
printf '%s\n' "${table_rows[@]}"
echo
write_json
[[ -z $json_out ]] || log "wrote $json_out"
