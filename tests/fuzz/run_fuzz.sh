#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs a libFuzzer binary for a bounded time on a scratch copy of a seed corpus, so the source
# tree is never written to (libFuzzer adds new inputs to its first corpus directory). Runs in the
# scratch directory; crash-*/leak-*/timeout-*/oom-* artifacts are copied to
# ${TOWNGW_FUZZ_ARTIFACTS:-$PWD} (the directory this script was started in) before clean-up.
# Exit status is the fuzzer's: 0 when nothing was found.
# Usage: tests/fuzz/run_fuzz.sh FUZZER SEED_CORPUS_DIR [LIBFUZZER_OPTION...]
#   e.g. tests/fuzz/run_fuzz.sh build/tests/hj212_parse_fuzz tests/fuzz/corpus/hj212 \
#          -max_total_time=600 -dict=tests/fuzz/hj212.dict
set -euo pipefail

if (($# < 2)); then
  echo "usage: $0 FUZZER SEED_CORPUS_DIR [LIBFUZZER_OPTION...]" >&2
  exit 2
fi
fuzzer=$(realpath -- "$1")
seeds=$(realpath -- "$2")
shift 2
artifacts=${TOWNGW_FUZZ_ARTIFACTS:-$PWD}
mkdir -p -- "$artifacts"
artifacts=$(realpath -- "$artifacts")

scratch=$(mktemp -d "${TMPDIR:-/tmp}/towngw-fuzz.XXXXXX")
# shellcheck disable=SC2317 # called through the EXIT trap
collect() {
  local f
  for f in "$scratch"/crash-* "$scratch"/leak-* "$scratch"/timeout-* "$scratch"/oom-* \
    "$scratch"/slow-unit-*; do
    [[ -e $f ]] || continue
    cp -- "$f" "$artifacts/"
    echo "run_fuzz: artifact $artifacts/$(basename -- "$f")" >&2
  done
  rm -rf -- "$scratch"
}
trap collect EXIT

mkdir -- "$scratch/corpus"
cp -- "$seeds"/* "$scratch/corpus/"
echo "run_fuzz: $(basename -- "$fuzzer") on a copy of $seeds ($(find "$scratch/corpus" -type f | wc -l) seeds) in $scratch" >&2

# libFuzzer writes its artifacts (and -jobs logs) into the working directory: run in the scratch
# directory, with a relative -dict= made absolute first. Not exec: the EXIT trap has to collect
# the artifacts after the fuzzer ends.
args=()
for arg in "$@"; do
  if [[ $arg == -dict=* && ${arg#-dict=} != /* ]]; then
    arg=-dict=$(realpath -- "${arg#-dict=}")
  fi
  args+=("$arg")
done
cd -- "$scratch"
status=0
"$fuzzer" -artifact_prefix="$scratch/" "${args[@]}" "$scratch/corpus" || status=$?
echo "run_fuzz: fuzzer exited with $status; corpus grew to $(find "$scratch/corpus" -type f | wc -l) inputs" >&2
exit "$status"
