#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# All benchmarks of issue #5 in one run (docs/benchmarks.md):
#   0. installs what is missing (scripts/install-deps.sh, plus valgrind), builds Release in
#      build-bench/ (only the daemon, the CLI, the simulator and the bench tools)
#   1. steady state: towngw-bench steady, N = 20, 200, 1000 simulated Modbus TCP sensors at 1 Hz
#   2. hot path: towngw-bench-hotpath under valgrind --tool=callgrind (instructions per reading)
#   3. backlog drain: scripts/bench-drain.sh (100,000 messages)
#   4. RTU bus: towngw-bench-bus --case 9600:0:10 (10 slaves, timing-faithful 9600 8N1 line)
#   5. start-up: towngw-bench startup, 1000 sensors, exec -> retained birth message
#   6. peers: scripts/bench-peers.sh --sensors 20,200 --json FILE if it exists, merged; else
#      "peers: skipped"
# then prints one table (median, range, spread, issue #5 targets PASS/MISS) and writes
# bench/results/bench-<UTC date-time>.json. It measures; a slow machine or a missed target never
# makes it fail (exit 0 unless the build or the report itself fails).
#
# Usage: scripts/bench.sh          (about 15 minutes on 2 cores, plus the build)
#        TOWNGW_BENCH_QUICK=1 scripts/bench.sh    (about 3 minutes: shorter, one repeat)
# Overrides (environment): TOWNGW_BENCH_ONLY="steady hotpath drain bus startup peers" (subset),
#   TOWNGW_BENCH_STEADY_N="20 200 1000", TOWNGW_BENCH_REPEATS=3 (steady: measured intervals
#   per N < 1000), TOWNGW_BENCH_REPEATS_LARGE=1 (N >= 1000), TOWNGW_BENCH_WARMUP_S=15,
#   TOWNGW_BENCH_MEASURE_S=60, TOWNGW_BENCH_HOTPATH_REPEATS=3, TOWNGW_BENCH_HOTPATH_S=120,
#   TOWNGW_BENCH_DRAIN_N=100000, TOWNGW_BENCH_DRAIN_REPEATS=3, TOWNGW_BENCH_BUS_S=15,
#   TOWNGW_BENCH_BUS_REPEATS=3, TOWNGW_BENCH_STARTUP_N=1000, TOWNGW_BENCH_STARTUP_REPEATS=5,
#   TOWNGW_BENCH_PEERS_TIMEOUT=600, TOWNGW_BENCH_PEERS_N=20,200 (peers' sensor counts),
#   TOWNGW_BENCH_BUILD=build-bench, TOWNGW_BENCH_KEEP=1 (keep
#   the scratch directory with every log), TOWNGW_BENCH_REVISION=TEXT (what to record as the
#   revision when the tree is not a git checkout, e.g. an exported snapshot).
# Everything runs on 127.0.0.1; every process is stopped by its PID.

# Functions below are called indirectly (traps), which SC2317 cannot see.
# shellcheck disable=SC2317
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/process.sh
source "$root/scripts/lib/process.sh"

quick=${TOWNGW_BENCH_QUICK:-0}
if [[ $quick == 1 ]]; then
  mode=quick
  d_steady_n="20 200" d_repeats=1 d_warmup=5 d_measure=20 d_hot_repeats=1 d_hot_s=60
  d_drain_n=20000 d_drain_repeats=1 d_bus_s=5 d_bus_repeats=1 d_startup_repeats=3
  d_peers_n=20
else
  mode=full
  d_steady_n="20 200 1000" d_repeats=3 d_warmup=15 d_measure=60 d_hot_repeats=3 d_hot_s=120
  d_drain_n=100000 d_drain_repeats=3 d_bus_s=15 d_bus_repeats=3 d_startup_repeats=5
  d_peers_n=20,200
fi
only=${TOWNGW_BENCH_ONLY:-steady hotpath drain bus startup peers}
steady_n=${TOWNGW_BENCH_STEADY_N:-$d_steady_n}
repeats=${TOWNGW_BENCH_REPEATS:-$d_repeats}
repeats_large=${TOWNGW_BENCH_REPEATS_LARGE:-1}
warmup_s=${TOWNGW_BENCH_WARMUP_S:-$d_warmup}
measure_s=${TOWNGW_BENCH_MEASURE_S:-$d_measure}
hot_repeats=${TOWNGW_BENCH_HOTPATH_REPEATS:-$d_hot_repeats}
hot_s=${TOWNGW_BENCH_HOTPATH_S:-$d_hot_s}
drain_n=${TOWNGW_BENCH_DRAIN_N:-$d_drain_n}
drain_repeats=${TOWNGW_BENCH_DRAIN_REPEATS:-$d_drain_repeats}
bus_s=${TOWNGW_BENCH_BUS_S:-$d_bus_s}
bus_repeats=${TOWNGW_BENCH_BUS_REPEATS:-$d_bus_repeats}
startup_n=${TOWNGW_BENCH_STARTUP_N:-1000}
startup_repeats=${TOWNGW_BENCH_STARTUP_REPEATS:-$d_startup_repeats}
peers_timeout=${TOWNGW_BENCH_PEERS_TIMEOUT:-600}
peers_n=${TOWNGW_BENCH_PEERS_N:-$d_peers_n}
build_dir=${TOWNGW_BENCH_BUILD:-build-bench}
[[ $build_dir == /* ]] || build_dir=$root/$build_dir
bin=$build_dir/bin

log() { printf 'bench: %s\n' "$*" >&2; }
wants() { [[ " $only " == *" $1 "* ]]; }

# --- 0. dependencies and build ------------------------------------------------------------------
if [[ $(id -u) == 0 ]]; then
  "$root/scripts/install-deps.sh" valgrind >&2
elif ! "$root/scripts/install-deps.sh" valgrind >&2; then
  log "some packages are missing (see above); carrying on with what is installed"
fi

log "building Release in $build_dir"
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DTOWNGW_BUILD_TESTS=ON >/dev/null
cmake --build "$build_dir" -j"$(nproc)" --target towngwd towngw towngw-sim towngw-outbox-fill \
  towngw-bench towngw-bench-bus towngw-bench-hotpath towngw-bench-report >/dev/null

# Scratch space next to the build, on a disk: /proc/PID/io write_bytes counts nothing on tmpfs.
tmp=$(mktemp -d "$build_dir/bench-tmp.XXXXXX")
export TMPDIR=$tmp
child="" # the step running now, stopped by PID if we are interrupted
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [[ -n $child ]] && stop_pid "$child" 15
  if [[ ${TOWNGW_BENCH_KEEP:-0} == 1 || $rc != 0 ]]; then
    log "kept $tmp"
  else
    rm -rf "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

t_begin=$SECONDS
revision=${TOWNGW_BENCH_REVISION:-$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)}
report_args=(--revision "$revision" --mode "$mode")
notes=()
noted=() # steps already noted for interference
notes+=("load average at start: $(cut -d' ' -f1-3 /proc/loadavg)")
notes+=("scratch and database directory: $(stat -f -c %T "$tmp") ($tmp)")

# Runs one step in the background (so an interrupt can stop it by PID), output in $tmp/NAME.log;
# notes another engineer's benchmark processes (collectd, Node-RED) running meanwhile.
run_step() {
  local name=$1 rc=0 others
  shift
  others=$(pgrep -f 'collectd|node-red' | tr '\n' ' ' || true)
  "$@" >>"$tmp/$name.log" 2>&1 &
  child=$!
  wait "$child" || rc=$?
  child=""
  if [[ -z $others ]]; then others=$(pgrep -f 'collectd|node-red' | tr '\n' ' ' || true); fi
  if [[ -n $others && $name != peers && " ${noted[*]} " != *" $name "* ]]; then
    notes+=("$name: collectd/node-red processes were running ($others): numbers may show interference")
    noted+=("$name")
  fi
  grep -E '^towngw-bench|^hot path|^ *[0-9]+ +[0-9.]+ +[0-9]+ ' "$tmp/$name.log" | sed 's/^/  /' >&2 || true
  if ((rc != 0)); then
    log "$name failed (status $rc); last lines of its log:"
    tail -n 20 "$tmp/$name.log" | sed 's/^/  | /' >&2
  fi
  return "$rc"
}
skip() {
  report_args+=(--skipped "$1")
  log "skipped: $1"
}

# --- 1. steady state ---------------------------------------------------------------------------
if wants steady; then
  for n in $steady_n; do
    r=$repeats
    ((n >= 1000)) && r=$repeats_large
    log "steady state, N=$n: warm-up ${warmup_s} s, then $r consecutive ${measure_s} s intervals"
    if run_step "steady-$n" "$bin/towngw-bench" steady --sensors "$n" --warmup-s "$warmup_s" \
      --measure-s "$measure_s" --repeats "$r" --out "$tmp/steady-$n.json"; then
      report_args+=(--steady "$tmp/steady-$n.json")
    else
      skip "steady N=$n: towngw-bench failed"
    fi
  done
fi

# --- 2. hot path in instructions ----------------------------------------------------------------
if wants hotpath; then
  log "hot path: 200 sensors, ${hot_s} simulated s, native once and under callgrind ${hot_repeats}x"
  if run_step hotpath-native "$bin/towngw-bench-hotpath" --sensors 200 --seconds "$hot_s" \
    --io-accounting --out "$tmp/hotpath-native.json"; then
    report_args+=(--hotpath-native "$tmp/hotpath-native.json")
  fi
  if command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null; then
    for ((i = 1; i <= hot_repeats; i++)); do
      if run_step "hotpath-$i" valgrind --tool=callgrind --callgrind-out-file="$tmp/callgrind-$i.out" \
        --toggle-collect=towngw_hotpath_measured "$bin/towngw-bench-hotpath" --sensors 200 \
        --seconds "$hot_s" --out "$tmp/hotpath-run-$i.json" &&
        callgrind_annotate --inclusive=yes --threshold=100 "$tmp/callgrind-$i.out" \
          >"$tmp/callgrind-$i.txt" 2>>"$tmp/hotpath-$i.log" &&
        run_step "hotpath-$i" "$bin/towngw-bench-hotpath" --summarise-callgrind \
          "$tmp/callgrind-$i.txt" --run "$tmp/hotpath-run-$i.json" --out "$tmp/hotpath-$i.json"; then
        report_args+=(--hotpath "$tmp/hotpath-$i.json")
      else
        skip "hot path run $i: callgrind failed"
      fi
    done
  else
    skip "hot path instructions: valgrind is not installed (apt-get install valgrind)"
  fi
fi

# --- 3. backlog drain ---------------------------------------------------------------------------
if wants drain; then
  log "backlog drain: $drain_n messages, $drain_repeats run(s)"
  for ((i = 1; i <= drain_repeats; i++)); do
    if run_step "drain-$i" env TOWNGW_BENCH_NO_BUILD=1 TOWNGW_BENCH_BUILD="$build_dir" \
      TOWNGW_BENCH_OUT="$tmp/drain-$i.json" "$root/scripts/bench-drain.sh" "$drain_n"; then
      report_args+=(--drain "$tmp/drain-$i.json")
      grep -E 'drain rate|VmHWM after' "$tmp/drain-$i.log" | sed 's/^/  /' >&2 || true
    else
      skip "drain run $i: scripts/bench-drain.sh failed"
    fi
  done
fi

# --- 4. RTU bus, 10 slaves ----------------------------------------------------------------------
if wants bus; then
  log "RTU bus: 10 slaves on 9600 8N1, ${bus_s} s, $bus_repeats run(s)"
  for ((i = 1; i <= bus_repeats; i++)); do
    if run_step "bus-$i" "$bin/towngw-bench-bus" --seconds "$bus_s" --case 9600:0:10 \
      --out "$tmp/bus-$i.json" --revision "$revision" --command "scripts/bench.sh"; then
      report_args+=(--bus "$tmp/bus-$i.json")
    else
      skip "bus run $i: towngw-bench-bus failed"
    fi
  done
fi

# --- 5. start-up --------------------------------------------------------------------------------
if wants startup; then
  log "start-up: $startup_n sensors, $startup_repeats run(s)"
  if run_step startup "$bin/towngw-bench" startup --sensors "$startup_n" \
    --repeats "$startup_repeats" --out "$tmp/startup.json"; then
    report_args+=(--startup "$tmp/startup.json")
  else
    skip "start-up: towngw-bench failed"
  fi
fi

# --- 6. peers (another engineer's scripts/bench-peers.sh) ---------------------------------------
if wants peers; then
  peers=$root/scripts/bench-peers.sh
  if [[ -f $peers ]]; then
    log "peers: running scripts/bench-peers.sh --sensors $peers_n --json (at most ${peers_timeout} s)"
    if run_step peers env TOWNGW_BENCH_BUILD="$build_dir" timeout "$peers_timeout" bash "$peers" \
      --sensors "$peers_n" --json "$tmp/peers.json" && [[ -s $tmp/peers.json ]]; then
      report_args+=(--peers "$tmp/peers.json")
    else
      report_args+=(--peers-skipped "scripts/bench-peers.sh failed or wrote no JSON; see its log")
    fi
  else
    report_args+=(--peers-skipped "scripts/bench-peers.sh does not exist")
  fi
else
  report_args+=(--peers-skipped "not selected (TOWNGW_BENCH_ONLY)")
fi

# --- report -------------------------------------------------------------------------------------
notes+=("load average at end: $(cut -d' ' -f1-3 /proc/loadavg)")
for note in "${notes[@]}"; do report_args+=(--note "$note"); done
mkdir -p "$root/bench/results"
out=$root/bench/results/bench-$(date -u +%Y%m%dT%H%M%SZ).json
command="scripts/bench.sh"
[[ $quick == 1 ]] && command="TOWNGW_BENCH_QUICK=1 scripts/bench.sh"
"$bin/towngw-bench-report" --out "$out" --command "$command" \
  --elapsed-s "$((SECONDS - t_begin))" "${report_args[@]}"
log "done in $((SECONDS - t_begin)) s (without the build)"
