#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Cross-builds towngw for the gateway boards on this Debian 12 amd64 machine and runs the unit
# tests under qemu-user:
#   1. installs what is missing, and only that: the target architecture (dpkg
#      --add-architecture), crossbuild-essential-ARCH, qemu-user-static and the -dev packages the
#      project links as ARCH (Debian multiarch, next to the host's amd64 ones, which stay);
#      apt-get update only when something is missing. apt is simulated first and the script
#      refuses when apt would remove any package. When a -dev package cannot be co-installed
#      with the host's, the target packages are unpacked into BUILD_DIR/sysroot instead.
#   2. configures with cmake/toolchains/<triplet>.cmake (RelWithDebInfo, tests on) into
#      build-cross-ARCH and builds (Catch2 lists the tests through qemu at build time);
#   3. runs `ctest -L unit` under qemu (CMAKE_CROSSCOMPILING_EMULATOR);
#   4. with --integration, also `ctest -L integration` under qemu (informational: the tests exec
#      the target's towngwd/towngw/towngw-sim, which needs a binfmt_misc handler for qemu: as
#      root, one is registered for the run when missing, and removed at exit);
#   5. when the project configures CPack, `cpack -G DEB` and prints the .deb and its architecture.
# Too slow for every CI run: run it before each release and after changes to build files.
# Usage: scripts/cross-build.sh arm64|armhf [--integration]
# TOWNGW_BUILD_DIR=DIR builds elsewhere (relative to the repository root unless absolute);
# TOWNGW_JOBS=N build/test parallelism (default nproc); TOWNGW_CROSS_SYSROOT=1 forces the sysroot.
# A sysroot, once made, is used again while the -dev packages are not installed for ARCH: delete
# BUILD_DIR/sysroot to try multiarch again.
# Exits non-zero when the install, the build or a unit test fails.
set -euo pipefail

usage() {
  [[ -z ${1:-} ]] || echo "cross-build: $1" >&2
  echo "usage: $0 arm64|armhf [--integration]" >&2
  exit 2
}

arch=""
integration=0
for arg in "$@"; do
  case $arg in
    arm64 | armhf)
      [[ -z $arch ]] || usage "give one architecture, not '$arch' and '$arg'"
      arch=$arg
      ;;
    --integration) integration=1 ;;
    -h | --help) usage ;;
    *) usage "unknown argument '$arg' (architectures: arm64, armhf)" ;;
  esac
done
[[ -n $arch ]] || usage "no architecture given"

case $arch in
  arm64) triplet=aarch64-linux-gnu qemu=qemu-aarch64-static binfmt=qemu-aarch64 ;;
  armhf) triplet=arm-linux-gnueabihf qemu=qemu-arm-static binfmt=qemu-arm ;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${TOWNGW_BUILD_DIR:-build-cross-$arch}
[[ $build_dir == /* ]] || build_dir=$root/$build_dir
jobs=${TOWNGW_JOBS:-$(nproc)}
toolchain=$root/cmake/toolchains/$triplet.cmake
log() { echo "cross-build: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.0f s", b - a }'; }

# --- 1. packages ----------------------------------------------------------------------------------
# Host tools and arch-independent headers (nlohmann-json3-dev is Architecture: all, catch2 is
# Multi-Arch: foreign): native. Libraries the project links: the target's.
native_pkgs=(cmake pkg-config nlohmann-json3-dev catch2 "crossbuild-essential-$arch" qemu-user-static)
((integration)) && native_pkgs+=(mosquitto)
target_devs=(libboost-dev libpaho-mqttpp-dev libpaho-mqtt-dev libssl-dev libsqlite3-dev libmodbus-dev)
target_pkgs=("${target_devs[@]/%/:$arch}")
apt_opts=(-o DPkg::Lock::Timeout=900) # another apt/dpkg may be running: wait, do not fail

installed() {
  # shellcheck disable=SC2016 # ${Status} is a dpkg-query field, not a shell variable
  [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true) == "install ok installed" ]]
}

# Runs "$@", retrying for up to 15 min while it fails on an apt/dpkg lock held by someone else
# (dpkg --add-architecture and apt-get update have no lock timeout of their own).
retry_on_lock() {
  local deadline=$((SECONDS + 900)) err
  err=$(mktemp)
  until "$@" 2>"$err"; do
    if ! grep -qi 'lock' "$err" || ((SECONDS >= deadline)); then
      cat "$err" >&2
      rm -f "$err"
      return 1
    fi
    log "waiting for the apt/dpkg lock ($*)"
    sleep 5
  done
  cat "$err" >&2
  rm -f "$err"
}

# apt-get update, tried 3 times: a mirror being synced fails it now and then ("File has
# unexpected size ... Mirror sync in progress?").
apt_update() {
  local try
  for try in 1 2 3; do
    retry_on_lock apt-get "${apt_opts[@]}" update -qq && return 0
    ((try == 3)) || {
      log "apt-get update failed (try $try of 3); again in 30 s"
      sleep 30
    }
  done
  return 1
}

# Prints apt's simulated actions for installing "$@"; fails when apt cannot resolve them.
simulate() { LC_ALL=C apt-get -s "${apt_opts[@]}" install --no-install-recommends "$@" 2>&1; }

# Unpacks the target -dev packages and their dependencies (target architecture only) into
# $sysroot: the fallback when they cannot be co-installed with the host's packages. The
# header-only packages go in too: with a sysroot, CMake looks for packages only there.
make_sysroot() {
  local debs=$build_dir/sysroot-debs deps
  log "unpacking ${target_pkgs[*]} and their dependencies into $sysroot"
  deps=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances "${target_pkgs[@]}" | grep -E "^[a-z0-9][^ <>]*:$arch\$" | sort -u)
  rm -rf "$debs" "$sysroot"
  mkdir -p "$debs" "$sysroot"
  chown _apt "$debs" 2>/dev/null || true # apt-get download runs as _apt when it can
  # shellcheck disable=SC2086 # one package name per word
  (cd "$debs" && apt-get download $deps nlohmann-json3-dev "catch2:$arch" >/dev/null)
  for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$sysroot"; done
  touch "$sysroot/.complete"
  log "sysroot: $(find "$debs" -name '*.deb' | wc -l) packages"
}

mkdir -p "$build_dir"
t_install=$(now)
sysroot=""
use_sysroot=${TOWNGW_CROSS_SYSROOT:-0}
# An earlier run fell back to a sysroot and the -dev packages are still not installed: reuse it.
if [[ $use_sysroot != 1 && -f $build_dir/sysroot/.complete ]]; then
  for pkg in "${target_pkgs[@]}"; do installed "$pkg" || use_sysroot=1; done
  [[ $use_sysroot != 1 ]] || log "using the sysroot of an earlier run ($build_dir/sysroot)"
fi
[[ $use_sysroot == 1 ]] && sysroot=$build_dir/sysroot
missing=()
for pkg in "${native_pkgs[@]}"; do installed "$pkg" || missing+=("$pkg"); done
if [[ $use_sysroot != 1 ]]; then
  for pkg in "${target_pkgs[@]}"; do installed "$pkg" || missing+=("$pkg"); done
fi
need_sysroot=0
[[ $use_sysroot == 1 && ! -f $sysroot/.complete ]] && need_sysroot=1
add_arch=0 # dpkg must know the architecture, except to reuse a complete sysroot
if [[ $use_sysroot != 1 || $need_sysroot == 1 ]]; then
  dpkg --print-foreign-architectures | grep -qx "$arch" || add_arch=1
fi

if ((${#missing[@]} == 0 && add_arch == 0 && need_sysroot == 0)); then
  log "all packages are installed (${#native_pkgs[@]} native, ${#target_pkgs[@]} $arch${sysroot:+ in the sysroot})"
  install_note="nothing to install"
else
  if ((EUID != 0)); then
    ((add_arch == 0)) || missing+=("dpkg architecture $arch")
    ((need_sysroot == 0)) || missing+=("$sysroot")
    die "missing: ${missing[*]}; run as root (e.g. sudo $0 $*)"
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ((add_arch)); then
    log "dpkg --add-architecture $arch"
    retry_on_lock dpkg --add-architecture "$arch"
  fi
  log "apt-get update"
  # A partly failed update (one index missing) is not fatal: the simulation below says whether
  # the packages can be installed with the indexes apt has.
  apt_update || log "warning: apt-get update failed; going on with the package indexes apt has"
  if ((${#missing[@]} > 0)); then
    # Simulate first: the host's own amd64 packages must stay (the native build and CI use them).
    sim=$(simulate "${missing[@]}") && sim_rc=0 || sim_rc=$?
    if [[ $use_sysroot != 1 ]] && { ((sim_rc != 0)) || grep -q '^Remv ' <<<"$sim"; }; then
      # Is it the target -dev packages? Then unpack them into a sysroot instead.
      native_missing=()
      for pkg in "${missing[@]}"; do [[ $pkg == *:"$arch" ]] || native_missing+=("$pkg"); done
      log "the $arch -dev packages cannot be installed next to the host's packages" \
        "(apt's answer below); falling back to a sysroot"
      grep -E '^(Remv|E:) | : |^ {2,}[^ ]' <<<"$sim" | sed 's/^/  /' >&2 || true
      use_sysroot=1
      sysroot=$build_dir/sysroot
      missing=("${native_missing[@]}")
      sim="" sim_rc=0
      ((${#missing[@]} == 0)) || { sim=$(simulate "${missing[@]}") && sim_rc=0 || sim_rc=$?; }
    fi
    if ((sim_rc != 0)); then
      echo "$sim" >&2
      die "apt cannot install ${missing[*]} (simulation above); nothing was installed"
    fi
    if grep -q '^Remv ' <<<"$sim"; then
      grep '^Remv ' <<<"$sim" | sed 's/^/  /' >&2
      die "installing ${missing[*]} would remove the packages above; refusing (nothing installed)"
    fi
    # "Inst pkg [old] (new ...)": an installed package apt upgrades to keep multiarch in step.
    if grep -q '^Inst [^ ]* \[' <<<"$sim"; then
      log "apt also upgrades these installed packages (multiarch wants one version on every" \
        "architecture):"
      grep '^Inst [^ ]* \[' <<<"$sim" | sed 's/^/  /' >&2
    fi
    if ((${#missing[@]} > 0)); then
      log "installing ${missing[*]} ($(grep -c '^Inst ' <<<"$sim") packages with dependencies)"
      # --no-remove: abort rather than remove anything, should the state change after simulating.
      apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends --no-remove "${missing[@]}" \
        >"$build_dir/cross-apt.log" 2>&1 || {
        tail -n 30 "$build_dir/cross-apt.log" >&2
        die "apt-get install failed (log: $build_dir/cross-apt.log)"
      }
      rm -f "$build_dir/cross-apt.log"
    fi
  fi
  if [[ $use_sysroot == 1 ]]; then
    make_sysroot
    # No $arch package is installed on the host: give dpkg/apt back their architectures, so that
    # every later apt-get update on this machine does not fetch (and depend on) $arch indexes.
    if ((add_arch)) && ! dpkg-query -W -f='${Architecture}\n' | grep -qx "$arch"; then
      log "dpkg --remove-architecture $arch (the sysroot has what the build needs)"
      retry_on_lock dpkg --remove-architecture "$arch"
    fi
  fi
  install_note="installed what was missing"
fi
install_note+=" ($(since "$t_install"))"
for pkg in "${native_pkgs[@]}"; do installed "$pkg" || die "$pkg is still not installed"; done
if [[ $use_sysroot != 1 ]]; then
  for pkg in "${target_pkgs[@]}"; do installed "$pkg" || die "$pkg is still not installed"; done
fi
command -v "$qemu" >/dev/null || die "$qemu not found (qemu-user-static)"

# --- 2. configure and build -----------------------------------------------------------------------
t_build=$(now)
if [[ -n $sysroot ]]; then
  export PKG_CONFIG_SYSROOT_DIR=$sysroot
  export PKG_CONFIG_LIBDIR=$sysroot/usr/lib/$triplet/pkgconfig:$sysroot/usr/share/pkgconfig
else
  export PKG_CONFIG_LIBDIR=/usr/lib/$triplet/pkgconfig:/usr/share/pkgconfig
fi
log "configuring $build_dir ($triplet${sysroot:+, sysroot $sysroot})"
cmake -S "$root" -B "$build_dir" -DCMAKE_TOOLCHAIN_FILE="$toolchain" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTOWNGW_BUILD_TESTS=ON ${sysroot:+"-DCMAKE_SYSROOT=$sysroot"} \
  >"$build_dir/cross-configure.log" 2>&1 || {
  cat "$build_dir/cross-configure.log" >&2
  die "cmake configure failed"
}
grep -q "^TOWNGW_CROSS_QEMU_EXECUTABLE:FILEPATH=/" "$build_dir/CMakeCache.txt" ||
  die "CMAKE_CROSSCOMPILING_EMULATOR is not set: the toolchain did not find $qemu"
log "building with -j$jobs"
cmake --build "$build_dir" -j"$jobs" >"$build_dir/cross-build.log" 2>&1 || {
  grep -E 'error|Error' "$build_dir/cross-build.log" | head -n 40 >&2
  die "build failed (log: $build_dir/cross-build.log)"
}
warnings=$(grep -c 'warning:' "$build_dir/cross-build.log" || true)
build_time=$(since "$t_build")
if command -v file >/dev/null; then file "$build_dir/bin/towngwd" | sed 's/^/  /' >&2; fi

# Catch2's catch_discover_tests lists the tests at build time; for a cross build it must have run
# the test binary through the emulator, or there are no tests to run.
for f in "$build_dir"/tests/towngw_unit_tests_tests-*.cmake; do
  if [[ ! -f $f ]] || ! grep -q "$qemu" "$f"; then
    die "unit tests were not discovered through $qemu ($f)"
  fi
done

# --- 3. unit tests under qemu ---------------------------------------------------------------------
# ctest's result line: "100% tests passed, 0 tests failed out of 345".
counts() { sed -n 's/.*tests passed, \([0-9]*\) tests\{0,1\} failed out of \([0-9]*\).*/\2 \1/p' "$1" | tail -n 1; }
t_unit=$(now)
log "unit tests under $qemu"
unit_rc=0
ctest --test-dir "$build_dir" -L unit --no-tests=error -j"$jobs" --output-on-failure \
  >"$build_dir/cross-unit.log" 2>&1 || unit_rc=$?
unit_time=$(since "$t_unit")
read -r unit_total unit_failed < <(counts "$build_dir/cross-unit.log") || true
unit_total=${unit_total:-0} unit_failed=${unit_failed:-0}
if ((unit_rc != 0)); then
  sed -n '/The following tests FAILED/,$p' "$build_dir/cross-unit.log" >&2
  ((unit_total > 0)) || tail -n 20 "$build_dir/cross-unit.log" >&2
fi

# --- 4. integration tests under qemu (optional, informational) ------------------------------------
# The tests exec towngwd, towngw and towngw-sim (target binaries) and the host's mosquitto. From
# inside qemu-user a target binary can only be exec'd through binfmt_misc: without a qemu handler
# execvpe gets ENOEXEC and hands the ELF file to /bin/sh ("Syntax error: word unexpected"). So,
# as root, when the handler is missing, the one qemu-user-static ships
# (/usr/lib/binfmt.d/qemu-CPU.conf) is registered for this run (binfmt_misc mounted if it is not)
# and removed again at exit. The children find the target's loader and libraries through
# QEMU_LD_PREFIX, the same prefix the emulator uses for the test binary.
binfmt_dir=/proc/sys/fs/binfmt_misc
binfmt_added=0
binfmt_mounted=0
binfmt_cleanup() {
  if ((binfmt_added)); then echo -1 >"$binfmt_dir/$binfmt" || true; fi
  if ((binfmt_mounted)); then umount "$binfmt_dir" || true; fi
}
it_summary="not run (--integration)"
if ((integration)); then
  binfmt_conf=/usr/lib/binfmt.d/$binfmt.conf
  if [[ ! -e $binfmt_dir/$binfmt && $EUID == 0 && -f $binfmt_conf ]]; then
    trap binfmt_cleanup EXIT
    if [[ ! -e $binfmt_dir/register ]] && mount -t binfmt_misc binfmt_misc "$binfmt_dir" 2>/dev/null; then
      binfmt_mounted=1
    fi
    if [[ -e $binfmt_dir/register ]] && cat "$binfmt_conf" >"$binfmt_dir/register" 2>/dev/null; then
      binfmt_added=1
      log "registered the binfmt_misc handler $binfmt for this run (removed at exit)"
    fi
  fi
  if [[ -e $binfmt_dir/$binfmt ]]; then
    log "binfmt_misc: $binfmt is registered: the tests can exec the $arch daemon, CLI and simulator"
    it_note="binfmt_misc $binfmt"
  else
    log "warning: no binfmt_misc handler $binfmt (not root, or binfmt_misc unavailable): the" \
      "tests cannot exec the $arch towngwd/towngw/towngw-sim, so every test that starts them fails"
    it_note="no binfmt_misc: the $arch binaries cannot be exec'd"
  fi
  t_it=$(now)
  log "integration tests under $qemu"
  env ${sysroot:+"QEMU_LD_PREFIX=$sysroot"} ctest --test-dir "$build_dir" -L integration \
    --no-tests=error -j"$jobs" --output-on-failure >"$build_dir/cross-integration.log" 2>&1 || true
  read -r it_total it_failed < <(counts "$build_dir/cross-integration.log") || true
  it_summary="$((${it_total:-0} - ${it_failed:-0})) passed, ${it_failed:-0} failed of ${it_total:-0}"
  it_summary+=" in $(since "$t_it"), $it_note (log: $build_dir/cross-integration.log)"
  if ((${it_failed:-0} > 0)); then
    sed -n '/The following tests FAILED/,$p' "$build_dir/cross-integration.log" >&2
  fi
fi

# --- 5. Debian package, when the project configures CPack ----------------------------------------
deb_summary="none (the project does not configure CPack)"
if [[ -f $build_dir/CPackConfig.cmake ]]; then
  log "cpack -G DEB"
  # cmake/Packaging.cmake derives the package architecture (and dpkg-shlibdeps' DEB_HOST_ARCH)
  # from the toolchain; the check below makes sure it is the target's, not the host's amd64.
  if (cd "$build_dir" && cpack -G DEB) >"$build_dir/cross-cpack.log" 2>&1; then
    deb=$(sed -n 's/^CPack: - package: \(.*\.deb\) generated\.$/\1/p' "$build_dir/cross-cpack.log" | head -n 1)
    if [[ -n $deb && -f $deb ]]; then
      dpkg-deb -I "$deb" | sed 's/^/  /' >&2
      deb_arch=$(dpkg-deb -f "$deb" Architecture)
      deb_summary="$deb (Architecture: $deb_arch)"
      [[ $deb_arch == "$arch" ]] || deb_summary+=" WRONG ARCHITECTURE, expected $arch"
    else
      deb_summary="cpack ran but no .deb was reported (log: $build_dir/cross-cpack.log)"
    fi
  else
    tail -n 20 "$build_dir/cross-cpack.log" >&2
    deb_summary="cpack FAILED (log: $build_dir/cross-cpack.log)"
  fi
fi

# --- summary --------------------------------------------------------------------------------------
cat <<EOF

cross-build summary
  architecture:  $arch ($triplet)${sysroot:+, sysroot $sysroot}
  build dir:     $build_dir
  install:       $install_note
  build:         $build_time (configure + build, -j$jobs, $warnings compiler warnings)
  unit tests:    $((unit_total - unit_failed)) passed, $unit_failed failed of $unit_total in $unit_time (under $qemu)
  integration:   $it_summary
  package:       $deb_summary
EOF
((unit_rc == 0)) || exit 1
