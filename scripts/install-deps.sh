#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian 12 packages towngw needs to build and test, and only those that are
# missing. Needs root only when something is missing; runs apt-get update only then.
# The system mosquitto service is not started by this script (tests run their own broker on a
# free port and never use 1883); if the package's maintainer scripts start it anyway, it is
# left alone.
# Usage: scripts/install-deps.sh [EXTRA_PACKAGE...]   (extra packages a caller needs too, e.g.
#        scripts/bench.sh asks for valgrind)
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libboost-dev libpaho-mqttpp-dev libpaho-mqtt-dev libssl-dev
  libsqlite3-dev sqlite3 nlohmann-json3-dev catch2 libmodbus-dev
  mosquitto mosquitto-clients openssl python3-jsonschema python3-jinja2
  strace  # tests/package: every syscall the installed daemon makes vs the unit's SystemCallFilter
  clang-14 libclang-rt-14-dev  # tests/fuzz: libFuzzer + ASan/UBSan runtimes for ctest -L fuzz
  "$@"
)

missing=()
native_arch=$(dpkg --print-architecture)
for pkg in "${packages[@]}"; do
  # One line per installed architecture: with foreign architectures added (scripts/cross-build.sh
  # installs :arm64/:armhf -dev packages) a package can be there for arm64 but not for us.
  # shellcheck disable=SC2016 # ${Status} is a dpkg-query field, not a shell variable
  if ! dpkg-query -W -f='${Status} ${Architecture}\n' "$pkg" 2>/dev/null |
    grep -Eq "^install ok installed ($native_arch|all)\$"; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages are installed"
  exit 0
fi

if ((EUID != 0)); then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (e.g. sudo $0) to install them" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
# Keep maintainer scripts from starting services (mosquitto) during the install, unless the
# administrator already has a policy in place. invoke-rc.d and deb-systemd-invoke honour it.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\n# temporary, from towngw scripts/install-deps.sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
echo "install-deps: done"
