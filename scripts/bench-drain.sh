#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Drain benchmark (issue #3): how fast, and in how much memory, towngwd delivers a large backlog
# once the broker is reachable again.
#   1. builds Release in build-bench/ (towngwd, towngw, towngw-outbox-fill)
#   2. starts a private mosquitto on 127.0.0.1:<free port>
#   3. pre-fills an outbox with N data messages through the daemon's own Store
#      (towngw-outbox-fill), as if the gateway had been offline for a long time
#   4. starts towngwd on it (config/demo.json, mqtt.backlog_rate=100000; the demo devices point
#      at a missing tty and a closed port, so live windows are comm_error windows)
#   5. polls `towngw status --json` until the outbox depth is 0, sampling VmRSS/VmHWM of the
#      daemon from /proc/PID/status meanwhile; a QoS 1 subscriber counts what arrived
# Prints a table and writes bench/results/drain-<UTC date-time>.json.
# Usage: scripts/bench-drain.sh [N=100000]   (TOWNGW_BENCH_BUILD=DIR: other build directory,
#        TOWNGW_BENCH_KEEP=1: keep the scratch directory, TOWNGW_BENCH_TIMEOUT=S: default 600,
#        TOWNGW_BENCH_NO_BUILD=1: use the binaries already built (scripts/bench.sh),
#        TOWNGW_BENCH_OUT=FILE: write the JSON there instead of bench/results/drain-*.json)
# Everything this script starts is stopped by its PID on exit.

# Functions below are called indirectly (traps, wait_for "$@"), which SC2317 cannot see.
# shellcheck disable=SC2317
set -euo pipefail

n=${1:-100000}
[[ $n =~ ^[1-9][0-9]*$ ]] || {
  echo "usage: $0 [N=100000]" >&2
  exit 2
}
timeout_s=${TOWNGW_BENCH_TIMEOUT:-600}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/process.sh
source "$root/scripts/lib/process.sh"
build_dir=${TOWNGW_BENCH_BUILD:-build-bench}
[[ $build_dir == /* ]] || build_dir=$root/$build_dir
bin=$build_dir/bin
mosquitto_bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)

log() { printf 'bench-drain: %s\n' "$*" >&2; }

if [[ ${TOWNGW_BENCH_NO_BUILD:-0} != 1 ]]; then
  log "building Release in $build_dir"
  cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DTOWNGW_BUILD_TESTS=ON >/dev/null
  cmake --build "$build_dir" -j"$(nproc)" --target towngwd towngw towngw-outbox-fill >/dev/null
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/towngw-bench.XXXXXX")
pids=() # every process we started and have not reaped yet, in start order
gateway_pid=""

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
fail() {
  echo "bench-drain: $1" >&2
  [[ -n ${2:-} && -f $2 ]] && { echo "--- $2:" >&2; tail -n 40 "$2" >&2; }
  exit 1
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
proc_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# A TCP port nothing listens on right now.
# A port where nothing listens (for devices that must not answer).
closed_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    port_open "$p" || {
      echo "$p"
      return
    }
  done
}

# --- mosquitto on a free port ---------------------------------------------------------------
broker_extra=("max_queued_messages 0") # the counting subscriber must not lose a message to a queue cap
[[ $(id -u) == 0 ]] && broker_extra+=("user root")
start_broker "$tmp" "${broker_extra[@]}" || true
[[ -n $broker_port ]] || fail "mosquitto did not start" "$tmp/mosquitto.log"

gateway_id=bench-gw
topic_root=townbrain/v1/demo-town/$gateway_id

# --- backlog --------------------------------------------------------------------------------
log "filling an outbox with $n messages"
"$bin/towngw-outbox-fill" --db "$tmp/outbox.db" --messages "$n" --topic-root "$topic_root" \
  >"$tmp/fill.json" 2>"$tmp/fill.err" || fail "towngw-outbox-fill failed" "$tmp/fill.err"
db_bytes=$(stat -c %s "$tmp/outbox.db")
log "filled: $(cat "$tmp/fill.json")"

# --- counting subscriber (QoS 1) --------------------------------------------------------------
sub_pid=""
if command -v mosquitto_sub >/dev/null; then
  mosquitto_sub -h 127.0.0.1 -p "$broker_port" -q 1 -i bench-counter -t "$topic_root/data/#" \
    >"$tmp/received.jsonl" 2>"$tmp/sub.err" &
  sub_pid=$!
  pids+=("$sub_pid")
  wait_for 10 grep -q "bench-counter" "$tmp/mosquitto.log" || log "subscriber not seen by the broker"
fi

# --- towngwd --------------------------------------------------------------------------------
t_start=$(now)
"$bin/towngwd" --config "$root/config/demo.json" \
  --set "/mqtt/broker=tcp://127.0.0.1:$broker_port" \
  --set "/mqtt/backlog_rate=100000" \
  --set "/gateway/gateway_id=$gateway_id" \
  --set "/storage/path=$tmp/outbox.db" \
  --set "/control/socket=$tmp/control.sock" \
  --set "/devices/0/transport/port=$tmp/no-such-tty" \
  --set "/devices/1/transport/port=$(closed_port)" \
  --set "/devices/2/transport/port=$(closed_port)" \
  --log-level info >"$tmp/towngwd.log" 2>&1 &
gateway_pid=$!
pids+=("$gateway_pid")

status_json() { timeout 5 "$bin/towngw" status --socket "$tmp/control.sock" --json 2>/dev/null; }
# Outbox depth and connection state from the status JSON, without needing jq.
# (`towngw status --json` pretty-prints: `"depth": 0`.)
depth_of() { grep -o '"depth": *[0-9]*' <<<"$1" | head -n1 | grep -o '[0-9]*$'; }
connected_of() { grep -o '"connected": *[a-z]*' <<<"$1" | head -n1 | grep -o '[a-z]*$'; }

gateway_up() { exited "$gateway_pid" || { [[ -S $tmp/control.sock ]] && status_json >/dev/null; }; }
wait_for 120 gateway_up || true
alive "$gateway_pid" || fail "towngwd exited" "$tmp/towngwd.log"
t_ready=$(now)
hwm_ready=$(proc_kib "$gateway_pid" VmHWM)

t_connected=""
t_done=""
rss_max=0
depth_start=""
deadline=$((SECONDS + timeout_s))
while ((SECONDS < deadline)); do
  alive "$gateway_pid" || fail "towngwd died during the drain" "$tmp/towngwd.log"
  rss=$(proc_kib "$gateway_pid" VmRSS)
  ((rss > rss_max)) && rss_max=$rss
  s=$(status_json) || s=""
  if [[ -n $s ]]; then
    d=$(depth_of "$s")
    [[ -z $depth_start ]] && depth_start=$d
    if [[ -z $t_connected && $(connected_of "$s") == true ]]; then
      t_connected=$(now)
    fi
    if [[ -n $t_connected && $d == 0 ]]; then
      t_done=$(now)
      break
    fi
  fi
  sleep 0.05
done
[[ -n $t_done ]] || fail "the outbox did not drain within ${timeout_s}s (depth ${d:-?})" "$tmp/towngwd.log"
hwm=$(proc_kib "$gateway_pid" VmHWM)
final_status=$(status_json || true)

# Everything published has reached the subscriber once the broker has forwarded it; give the
# subscriber until its count stops being short of N (bounded).
received_historical() { grep -c '"historical":true' "$tmp/received.jsonl" 2>/dev/null || true; }
if [[ -n $sub_pid ]]; then
  got_all() { (($(received_historical) >= n)); }
  wait_for 60 got_all || true
fi
stop_pid "$gateway_pid"
received=$([[ -n $sub_pid ]] && received_historical || echo null)
distinct=null
if [[ -n $sub_pid ]]; then
  distinct=$(grep '"historical":true' "$tmp/received.jsonl" | grep -o '"seq":[0-9]*' | sort -u | wc -l)
fi

total_s=$(elapsed "$t_start" "$t_done")
startup_s=$(elapsed "$t_start" "$t_ready")
drain_s=$(elapsed "$t_connected" "$t_done")
rate=$(awk -v n="$n" -v s="$drain_s" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
date_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
[[ -n $cpu_model ]] || cpu_model=$(uname -m)
git_rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -z $(git -C "$root" status --porcelain 2>/dev/null) ]] || git_rev="$git_rev-dirty"

printf '\n  towngwd backlog drain, %s messages (%s)\n' "$n" "$date_utc"
printf '  %-34s %s\n' \
  "machine" "$(nproc) CPU(s), $cpu_model" \
  "git revision" "$git_rev" \
  "outbox.db before the drain" "$((db_bytes / 1024)) KiB, depth ${depth_start:-?}" \
  "start -> control socket up" "${startup_s} s" \
  "start -> outbox depth 0" "${total_s} s" \
  "connected -> outbox depth 0" "${drain_s} s" \
  "drain rate" "${rate} msgs/s" \
  "VmHWM at start (before the drain)" "${hwm_ready} KiB" \
  "VmHWM after the drain (peak RSS)" "${hwm} KiB" \
  "max VmRSS sampled during the drain" "${rss_max} KiB" \
  "historical messages received" "${received} (${distinct} distinct seqs)"
echo

out=${TOWNGW_BENCH_OUT:-$root/bench/results/drain-$(date -u +%Y%m%dT%H%M%SZ).json}
mkdir -p "$(dirname "$out")"
cat >"$out" <<JSON
{
  "date": "$date_utc",
  "nproc": $(nproc),
  "cpu_model": "${cpu_model//\"/\\\"}",
  "git_rev": "$git_rev",
  "n": $n,
  "db_bytes": $db_bytes,
  "startup_seconds": $startup_s,
  "seconds": $total_s,
  "drain_seconds": $drain_s,
  "msgs_per_s": $rate,
  "vmhwm_kib": $hwm,
  "vmhwm_before_drain_kib": $hwm_ready,
  "vmrss_max_kib": $rss_max,
  "received": $received,
  "received_distinct": $distinct,
  "final_status": ${final_status:-null}
}
JSON
log "wrote $out"
