#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# HJ 212 backlog drain (docs/hj212.md, "Delivery"): the real daemon sends a stored backlog of
# minute frames to a platform stub on 127.0.0.1 that answers each with 9014 after 0, 50 and
# 100 ms (a far platform over 4G). Prints frames/s and keeps the output in
# bench/results/hj212-<UTC time>.txt with the command that produced it.
# Usage: scripts/bench-hj212.sh     (TOWNGW_BUILD_DIR=DIR: another build directory)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build_dir=${TOWNGW_BUILD_DIR:-build}
scripts/install-deps.sh
scripts/build.sh RelWithDebInfo
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=bench/results/hj212-$stamp.txt
mkdir -p bench/results
{
  echo "# scripts/bench-hj212.sh ($(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) cores, $(uname -m))"
  echo "# $build_dir/bin/towngw_integration_tests '[hj212-bench]'"
  "$build_dir/bin/towngw_integration_tests" '[hj212-bench]' 2>/dev/null | grep '^hj212 drain'
} | tee "$out"
echo "bench-hj212: results in $out"
