#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Configures and builds towngw in build/ (binaries in build/bin).
# Usage: scripts/build.sh [Release|Debug|RelWithDebInfo]   (default RelWithDebInfo)
# TOWNGW_BUILD_DIR=DIR builds elsewhere (relative to the repository root unless absolute).
set -euo pipefail

build_type=${1:-RelWithDebInfo}
case $build_type in
  Release | Debug | RelWithDebInfo) ;;
  *)
    echo "usage: $0 [Release|Debug|RelWithDebInfo]" >&2
    exit 2
    ;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${TOWNGW_BUILD_DIR:-build}
[[ $build_dir == /* ]] || build_dir=$root/$build_dir
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE="$build_type"
cmake --build "$build_dir" -j"$(nproc)"
