#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs missing dependencies, builds, and runs every test (unit and integration) with ctest.
# Integration tests start their own mosquitto, towngw-sim and towngwd on free 127.0.0.1 ports.
# Extra arguments go to ctest, e.g. scripts/test.sh -L unit
# TOWNGW_BUILD_DIR (default build) and TOWNGW_BUILD_TYPE (default RelWithDebInfo) are honoured.
# Exits non-zero when anything fails.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

scripts/install-deps.sh
scripts/build.sh "${TOWNGW_BUILD_TYPE:-RelWithDebInfo}"

rc=0
ctest --test-dir "${TOWNGW_BUILD_DIR:-build}" --output-on-failure --no-tests=error -j2 "$@" || rc=$?
if ((rc != 0)); then
  echo "test.sh: FAILED (ctest exit status $rc); rerun one test with:" >&2
  echo "  ctest --test-dir ${TOWNGW_BUILD_DIR:-build} -R 'NAME' --output-on-failure -V" >&2
  echo "  (TOWNGW_KEEP_TMP=1 keeps the scratch directories with all process logs)" >&2
fi
exit "$rc"
