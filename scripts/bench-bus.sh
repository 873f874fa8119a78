#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Bus benchmark (issue #4): how close the per-line bus scheduler gets to the Modbus RTU line's
# theoretical limit (DOMAIN.md §5.3), and what line utilisation it reports.
#   1. builds Release in build-bench/ (towngwd, towngw, towngw-sim, towngw-bench-bus)
#   2. towngw-bench-bus runs, per case, a private mosquitto, towngw-sim with a timing-faithful
#      RTU line (every answer delayed by the wire time of request + response at the baud rate
#      plus the slave turnaround) and towngwd polling N slaves on that line, all on 127.0.0.1,
#      and reads polls/s and busy time from `towngw status --json` and the simulator's stats.
# Prints a table and writes bench/results/bus-<UTC date-time>.json. It measures; it never fails
# because a machine is slow.
# Usage: scripts/bench-bus.sh [SECONDS=15]   (TOWNGW_BENCH_BUILD=DIR: other build directory)
set -euo pipefail

seconds=${1:-15}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || {
  echo "usage: $0 [SECONDS=15]" >&2
  exit 2
}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${TOWNGW_BENCH_BUILD:-build-bench}
[[ $build_dir == /* ]] || build_dir=$root/$build_dir

echo "bench-bus: building Release in $build_dir" >&2
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DTOWNGW_BUILD_TESTS=ON >/dev/null
cmake --build "$build_dir" -j"$(nproc)" --target towngw-bench-bus >/dev/null

mkdir -p "$root/bench/results"
out=$root/bench/results/bus-$(date -u +%Y%m%dT%H%M%SZ).json
revision=$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)
"$build_dir/bin/towngw-bench-bus" --seconds "$seconds" --out "$out" \
  --revision "$revision" --command "scripts/bench-bus.sh $seconds"
echo "bench-bus: results in ${out#"$root"/}" >&2
