#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Live demo on this machine, no hardware needed:
#   mosquitto   private broker on 127.0.0.1:<free port> (not the system one on 1883)
#   towngw-sim  water probe on a Modbus RTU pty, flow meter + bin sensor on Modbus TCP
#   towngwd     polls the simulator with config/demo.json and publishes windows over MQTT
#   towngw hj212 listen  plays the environmental bureau's HJ 212 platform on 127.0.0.1
#   towngw watch  shows what arrives on the broker, in the foreground
# Everything lives in a temporary directory that is removed on exit; every process this script
# starts is stopped by its PID (Ctrl-C, --seconds N, or an error).
# Usage: scripts/demo.sh [--seconds N]      (TOWNGW_BUILD_DIR=DIR: use another build directory)

# Functions below are called indirectly (traps, wait_for "$@"), which SC2317 cannot see.
# shellcheck disable=SC2317
set -euo pipefail

usage() {
  echo "usage: $0 [--seconds N]" >&2
  exit 2
}

seconds=""
while (($# > 0)); do
  case $1 in
    --seconds)
      (($# >= 2)) || usage
      seconds=$2
      [[ $seconds =~ ^[0-9]+$ ]] || usage
      shift 2
      ;;
    -h | --help) usage ;;
    *) usage ;;
  esac
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/process.sh
source "$root/scripts/lib/process.sh"
cd "$root"

scripts/install-deps.sh
scripts/build.sh RelWithDebInfo

build_dir=${TOWNGW_BUILD_DIR:-build}
[[ $build_dir == /* ]] || build_dir=$root/$build_dir
bin=$build_dir/bin
mosquitto_bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/towngw-demo.XXXXXX")
pids=()          # every process we started and have not reaped yet, in start order
gateway_pid=""
watch_pid=""

log() { printf 'demo: %s\n' "$*"; }

# Background children ignore SIGINT, but a daemon that installs its own SIGINT handler would
# still see the terminal's Ctrl-C; a session of its own keeps the shutdown order in our hands.
detach=()
command -v setsid >/dev/null && detach=(setsid)

cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  [[ -n $watch_pid ]] && stop_pid "$watch_pid" 5
  if [[ -n $gateway_pid ]] && alive "$gateway_pid" && [[ -S $tmp/control.sock ]]; then
    echo
    log "towngw status before stopping:"
    timeout 5 "$bin/towngw" status --socket "$tmp/control.sock" || true
  fi
  if [[ -s $tmp/hj212.log ]]; then
    echo
    log "HJ 212 frames the local bureau platform received ($(wc -l <"$tmp/hj212.log") in all; the last ones):"
    tail -n 6 "$tmp/hj212.log"
  fi
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    stop_pid "${pids[i]}" 5
  done
  rm -rf "$tmp"
  log "stopped everything, removed $tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
  echo "demo: $1" >&2
  [[ -n ${2:-} && -f $2 ]] && { echo "--- $2:" >&2; tail -n 40 "$2" >&2; }
  exit 1
}

# --- mosquitto on a free port ---------------------------------------------------------------
launcher=("${detach[@]}")
start_broker "$tmp" || true
[[ -n $broker_port ]] || fail "mosquitto did not start" "$tmp/mosquitto.log"
broker=tcp://127.0.0.1:$broker_port

# --- simulator ------------------------------------------------------------------------------
"${detach[@]}" "$bin/towngw-sim" --scenario simulators/scenarios/demo.json --tcp-port 0 \
  --ready-file "$tmp/sim.ready" --served-log "$tmp/served.jsonl" --time-scale 60 \
  >"$tmp/sim.log" 2>&1 &
sim_pid=$!
pids+=("$sim_pid")

sim_tcp_port=""
sim_pty=""
read_ready() {
  alive "$sim_pid" || return 0 # stop waiting; checked below
  [[ -s $tmp/sim.ready ]] || return 1
  sim_tcp_port=$(grep -o '"tcp_port" *: *[0-9]*' "$tmp/sim.ready" | grep -o '[0-9]*$' || true)
  sim_pty=$(grep -o '"rtu_pty" *: *"[^"]*"' "$tmp/sim.ready" | sed 's/.*: *"\(.*\)"$/\1/' || true)
  [[ -n $sim_tcp_port && -n $sim_pty ]]
}
wait_for 10 read_ready || true
[[ -n $sim_tcp_port && -n $sim_pty ]] || fail "towngw-sim did not become ready" "$tmp/sim.log"

# --- the bureau's HJ 212 platform, played by towngw hj212 listen ----------------------------
"${detach[@]}" "$bin/towngw" hj212 listen --port 0 --ready-file "$tmp/hj212.ready" \
  >"$tmp/hj212.log" 2>"$tmp/hj212.err" &
pids+=("$!")
hj212_port=""
hj212_ready() {
  [[ -s $tmp/hj212.ready ]] || return 1
  hj212_port=$(grep -o '[0-9][0-9]*' "$tmp/hj212.ready" | head -n 1)
  [[ -n $hj212_port ]]
}
wait_for 10 hj212_ready || fail "towngw hj212 listen did not start" "$tmp/hj212.err"
# Real time every 30 s and minute data every minute, so that frames show within the demo.
hj212_platform='{"platforms": [{"name": "bureau", "host": "127.0.0.1", "port": '"$hj212_port"',
  "mn": "010000A8900016F000169DC0", "pw": "123456", "st": "21", "minute_interval_min": 1,
  "pollutants": [{"code": "w01001", "sensor": "water1.ph"},
                 {"code": "w01010", "sensor": "water1.temperature"},
                 {"code": "w01003", "sensor": "water1.turbidity"},
                 {"code": "w00000", "sensor": "flow1.flow"}]}]}'

# --- gateway --------------------------------------------------------------------------------
"${detach[@]}" "$bin/towngwd" --config config/demo.json \
  --set "/mqtt/broker=$broker" \
  --set "/storage/path=$tmp/outbox.db" \
  --set "/control/socket=$tmp/control.sock" \
  --set "/devices/0/transport/port=$sim_pty" \
  --set "/devices/1/transport/port=$sim_tcp_port" \
  --set "/devices/2/transport/port=$sim_tcp_port" \
  --set "/hj212=$hj212_platform" \
  >"$tmp/towngwd.log" 2>&1 &
gateway_pid=$!
pids+=("$gateway_pid")
gateway_up() { exited "$gateway_pid" || [[ -S $tmp/control.sock ]]; }
wait_for 15 gateway_up || true
if exited "$gateway_pid" || [[ ! -S $tmp/control.sock ]]; then
  fail "towngwd did not start" "$tmp/towngwd.log"
fi

cat <<BANNER

  towngw demo
  ----------------------------------------------------------------------------------------
  mosquitto    $broker   (pid ${pids[0]}, private to this demo)
  towngw-sim   water1: Modbus RTU on $sim_pty (unit 1)
               flow1 + bin1: Modbus TCP on 127.0.0.1:$sim_tcp_port (units 1, 2)
               simulated time runs 60x faster than real time
  towngwd      config/demo.json, 5 s windows, outbox + control socket in $tmp
  HJ 212       towngw hj212 listen on 127.0.0.1:$hj212_port plays the bureau's platform:
               real-time data (2011) every 30 s, minute data (2051) every minute,
               each answered with 9014; shown when the demo stops ($tmp/hj212.log)
  logs         $tmp/{mosquitto,sim,towngwd,hj212}.log
  ----------------------------------------------------------------------------------------
  Watching townbrain/v1/# below (first windows close within ~10 s).
  ${seconds:+Stopping after $seconds s. }Ctrl-C stops everything.

BANNER

watch_args=(watch --broker "$broker" --topic 'townbrain/v1/#')
[[ -n $seconds ]] && watch_args+=(--seconds "$seconds")
# In the background plus `wait`, so that a SIGTERM/SIGINT to this script runs the trap at once
# instead of after the foreground command has finished.
"$bin/towngw" "${watch_args[@]}" &
watch_pid=$!
watch_rc=0
wait "$watch_pid" || watch_rc=$?
watch_pid=""
alive "$gateway_pid" || fail "towngwd exited during the demo" "$tmp/towngwd.log"
exit "$watch_rc"
