#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Debian package and its systemd unit under a REAL systemd: boots a Debian 12 (bookworm)
# container with systemd-nspawn, installs the towngw .deb in it with dpkg and runs, and checks,
# what a township IT person would: systemctl enable --now / status / reload / stop, towngw
# status (as root and as a member of group towngw), readings arriving on the container's
# mosquitto, the journal (priorities), restart after a crash (SIGKILL), no restart loop on a
# configuration error (exit 78), the watchdog (SIGSTOP), the device policy (serial ports
# only), systemd-analyze security, an upgrade
# (same package, higher version: restarted, outbox kept) and dpkg --purge. Prints a PASS/FAIL
# table with timings; exits 0 only when every step passed.
#
# Usage: scripts/systemd-test.sh [--keep] [--rebuild-rootfs] [DEB]
#   DEB               the towngw .deb to test (default: build one in build-nspawn with cpack)
#   --keep            keep the staging directory (logs, repacked .deb) after the run
#   --rebuild-rootfs  debootstrap the container's root file system again
# Environment:
#   TOWNGW_NSPAWN_DIR        cache of the container root file system (default /var/tmp/towngw-nspawn;
#                            kept between runs, about 270 MB; never inside the repository)
#   TOWNGW_NSPAWN_BUILD_DIR  build directory for the default .deb and towngw-sim (default build-nspawn)
#   TOWNGW_DEBIAN_MIRROR     debootstrap mirror (default: the first deb.debian.org-style URI of apt)
#   TOWNGW_NSPAWN_CGROUP     auto (default: unified, else host), unified (the container gets its
#                            own cgroup v2 tree and may load BPF, so DevicePolicy= is enforced) or
#                            host (systemd-nspawn's own choice; hybrid on a cgroup v1 host, where
#                            the DevicePolicy step is skipped)
#
# Needs root, debootstrap and systemd-nspawn (package systemd-container; installed with apt-get
# when missing). The host needs no systemd of its own: the container is started with
# --register=no --keep-unit (no machined, no transient scope) and reached with nsenter into its
# PID 1. Its root file system is mounted with --volatile=overlay, so every run starts from the
# same clean cached tree and nothing of a run stays in it. Networking: --private-network (the
# container has loopback only; towngwd, mosquitto and towngw-sim talk over 127.0.0.1 inside).
# Works on cgroup v1/hybrid hosts too (see TOWNGW_NSPAWN_CGROUP).

# Step functions are called indirectly (run_step "$@"); SC2317 cannot see that. The single
# quotes of dpkg-query -f and awk programs are meant (SC2016).
# shellcheck disable=SC2317,SC2016
set -euo pipefail

usage() {
  sed -n '/^# Usage:/,/^#$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

keep=0
rebuild_rootfs=0
deb=""
while (($# > 0)); do
  case $1 in
    --keep) keep=1 ;;
    --rebuild-rootfs) rebuild_rootfs=1 ;;
    -h | --help) usage ;;
    -*) usage ;;
    *)
      [[ -z $deb ]] || usage
      deb=$1
      ;;
  esac
  shift
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
[[ -z $deb || $deb == /* ]] || deb=$root/$deb

((EUID == 0)) || {
  echo "systemd-test.sh: needs root (debootstrap, systemd-nspawn, nsenter)" >&2
  exit 2
}

cache=${TOWNGW_NSPAWN_DIR:-/var/tmp/towngw-nspawn}
build_dir=${TOWNGW_NSPAWN_BUILD_DIR:-build-nspawn}
[[ $build_dir == /* ]] || build_dir=$root/$build_dir
rootfs=$cache/rootfs
case $cache/ in
  "$root"/*)
    echo "systemd-test.sh: TOWNGW_NSPAWN_DIR must be outside the repository" >&2
    exit 2
    ;;
esac

# Everything the package needs at run time is in the root file system, so that dpkg -i works
# without apt: the Depends of the .deb (checked against this list in step "install").
runtime_packages=(libpaho-mqttpp3-1 libpaho-mqtt1.3 libsqlite3-0 libmodbus5 libssl3 libstdc++6
  libgcc-s1 adduser)
rootfs_packages=(systemd systemd-sysv dbus mosquitto mosquitto-clients procps iproute2
  "${runtime_packages[@]}")
rootfs_stamp="bookworm minbase ${rootfs_packages[*]}"

machine=towngw-systest
stage=""
nspawn_pid=""
nspawn_cmd=()
case ${TOWNGW_NSPAWN_CGROUP:-auto} in
  auto) boot_modes=(unified host) ;;
  unified | host) boot_modes=("$TOWNGW_NSPAWN_CGROUP") ;;
  *)
    echo "systemd-test.sh: TOWNGW_NSPAWN_CGROUP must be auto, unified or host" >&2
    exit 2
    ;;
esac
cgroup_mode=""
leader=""
cgroups_before=""

# ---------------------------------------------------------------------------------------------
log() { printf '[systemd-test] %s\n' "$*"; }
now() { date +%s.%N; }

# Runs a command inside the container (all its namespaces, a clean environment, no stdin).
ct() {
  nsenter -t "$leader" -a -- env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 TERM=dumb SYSTEMD_PAGER= SYSTEMD_COLORS=0 "$@" </dev/null
}
ct_sh() { ct sh -c "$1"; }
# systemctl show -p NAME --value
prop() { ct systemctl show -p "$2" --value "$1"; }
# towngw's MainPID; fails unless there is one (never "kill 0": that is our process group).
main_pid() {
  local pid
  pid=$(prop towngw MainPID)
  [[ $pid =~ ^[0-9]+$ && $pid -gt 1 ]] || fail "towngw has no main process (MainPID=$pid)"
  echo "$pid"
}

powered_off() { ! kill -0 "$nspawn_pid" 2>/dev/null; }

# Polls "$@" every 0.2 s until it succeeds or $1 seconds have passed.
wait_for() {
  local deadline
  deadline=$(($(date +%s) + $1))
  shift
  until "$@"; do
    (($(date +%s) < deadline)) || return 1
    sleep 0.2
  done
}

# Inside a step (set -e subshell): fail loudly, naming what failed.
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
expect_eq() { # WHAT EXPECTED ACTUAL
  [[ $3 == "$2" ]] || fail "$1: expected '$2', got '$3'"
  echo "ok: $1 = $3"
}

# ---------------------------------------------------------------------------------------------
step_names=()
step_results=()
step_times=()
step_notes=()
note_file=""

# run_step NAME FUNCTION [critical]: runs FUNCTION in a subshell with set -e, records PASS/FAIL
# and its time. A failed critical step ends the run (the steps after it depend on it).
run_step() {
  local name=$1 fn=$2 critical=${3:-} t0 t1 rc=0
  log "=== $name"
  : >"$note_file"
  t0=$(now)
  set +e
  (
    set -eE -o pipefail
    level=$BASH_SUBSHELL rc_=0 # ERR: report only failures of this level, not of $(...)
    trap 'rc_=$?; [[ $BASH_SUBSHELL -ne $level ]] || echo "FAIL: command failed (exit $rc_): $BASH_COMMAND" >&2' ERR
    "$fn"
  ) 2>&1 | sed -u 's/^/    /' | tee -a "$stage/test.log"
  rc=${PIPESTATUS[0]}
  set -e
  t1=$(now)
  step_names+=("$name")
  step_times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')")
  step_notes+=("$(head -c 200 "$note_file" | tr '\n' ' ')")
  if ((rc == 0)); then
    step_results+=(PASS)
  elif ((rc == 77)); then
    step_results+=(SKIP)
  else
    step_results+=(FAIL)
    log "step '$name' FAILED"
    if [[ $critical == critical ]]; then
      log "critical step failed: skipping the rest"
      return 1
    fi
  fi
  return 0
}
note() { printf '%s ' "$*" >>"$note_file"; }

summary_printed=0
summary() {
  local i fails=0 passes=0 skips=0
  summary_printed=1
  echo
  echo "towngw systemd test: $(date -u +%Y-%m-%dT%H:%M:%SZ), package ${deb_version:-?}"
  printf '%-4s %-44s %-6s %8s  %s\n' '#' 'step' 'result' 'time[s]' 'notes'
  for i in "${!step_names[@]}"; do
    printf '%-4s %-44s %-6s %8s  %s\n' "$((i + 1))" "${step_names[i]}" "${step_results[i]}" \
      "${step_times[i]}" "${step_notes[i]}"
    case ${step_results[i]} in
      PASS) passes=$((passes + 1)) ;;
      FAIL) fails=$((fails + 1)) ;;
      *) skips=$((skips + 1)) ;;
    esac
  done
  echo "$passes passed, $fails failed, $skips skipped"
  ((fails == 0))
}

# ---------------------------------------------------------------------------------------------
shutdown_container() {
  [[ -n $nspawn_pid ]] || return 0
  if kill -0 "$nspawn_pid" 2>/dev/null; then
    log "shutting the container down"
    # SIGRTMIN+4 asks systemd (the container's PID 1) for a clean poweroff.
    [[ -n $leader ]] && kill -s SIGRTMIN+4 "$leader" 2>/dev/null
    wait_for 60 powered_off || {
      log "container did not power off within 60 s: terminating systemd-nspawn $nspawn_pid"
      kill -TERM "$nspawn_pid" 2>/dev/null || true
      wait_for 10 powered_off || kill -KILL "$nspawn_pid" 2>/dev/null || true
    }
  fi
  wait "$nspawn_pid" 2>/dev/null || true
  nspawn_pid=""
  leader=""
  # systemd-nspawn --keep-unit outside a systemd unit leaves its empty "payload"/"supervisor"
  # cgroups in the host's root cgroups: remove the ones this run made (only if empty).
  local d
  for d in /sys/fs/cgroup/systemd/payload /sys/fs/cgroup/systemd/supervisor \
    /sys/fs/cgroup/unified/payload /sys/fs/cgroup/unified/supervisor; do
    [[ -d $d ]] || continue
    grep -qxF "$d" <<<"$cgroups_before" && continue
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  shutdown_container
  if ((!summary_printed && ${#step_names[@]} > 0)); then
    echo "interrupted (exit $rc): the steps so far:"
    summary || true
  fi
  if [[ -n $stage && -d $stage ]]; then
    if ((keep)); then
      log "kept $stage (test.log, boot.log, journal.txt)"
    else
      rm -rf "$stage"
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
ensure_tools() {
  local missing=()
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
  command -v nsenter >/dev/null || missing+=(util-linux)
  command -v dpkg-deb >/dev/null || missing+=(dpkg)
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get -o DPkg::Lock::Timeout=900 install -y --no-install-recommends "${missing[@]}"
  fi
}

debian_mirror() {
  if [[ -n ${TOWNGW_DEBIAN_MIRROR:-} ]]; then
    echo "$TOWNGW_DEBIAN_MIRROR"
    return
  fi
  local uri
  uri=$(grep -rhoE '(URIs:|^deb) *https?://[^ ]*/debian/?( |$)' /etc/apt/sources.list \
    /etc/apt/sources.list.d/ 2>/dev/null | grep -oE 'https?://[^ ]*' | head -n 1 || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

step_rootfs() {
  if ((rebuild_rootfs == 0)) && [[ -f $rootfs/.towngw-systest && \
    $(cat "$rootfs/.towngw-systest") == "$rootfs_stamp" ]]; then
    echo "reusing the cached root file system $rootfs"
    note "cached"
    return 0
  fi
  mkdir -p "$cache"
  rm -rf "$rootfs.tmp" "$rootfs.old"
  local include
  include=$(
    IFS=,
    echo "${rootfs_packages[*]}"
  )
  echo "debootstrap --variant=minbase --include=$include bookworm $rootfs.tmp $(debian_mirror)"
  debootstrap --variant=minbase --include="$include" bookworm "$rootfs.tmp" "$(debian_mirror)" \
    >"$cache/debootstrap.log" 2>&1 || {
    tail -n 20 "$cache/debootstrap.log"
    fail "debootstrap failed (log: $cache/debootstrap.log)"
  }
  echo "$machine" >"$rootfs.tmp/etc/hostname"
  # Quiet, deterministic boots: no apt/cleanup timers firing during the test.
  systemctl --root="$rootfs.tmp" mask apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer \
    e2scrub_all.timer systemd-tmpfiles-clean.timer >/dev/null 2>&1 || true
  echo "$rootfs_stamp" >"$rootfs.tmp/.towngw-systest"
  [[ -d $rootfs ]] && mv "$rootfs" "$rootfs.old"
  mv "$rootfs.tmp" "$rootfs"
  rm -rf "$rootfs.old"
  note "debootstrapped"
}

step_build() {
  if [[ -n $deb ]]; then
    [[ -f $deb ]] || fail "no such .deb: $deb"
    echo "testing the given package $deb"
    if [[ ! -x $build_dir/bin/towngw-sim ]]; then
      cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTOWNGW_BUILD_TESTS=OFF >/dev/null
      cmake --build "$build_dir" -j2 --target towngw-sim
    fi
  else
    local waited=0
    until [[ -f cmake/Packaging.cmake ]] && grep -q 'include(Packaging)' CMakeLists.txt; do
      ((waited < 30)) || fail "cmake/Packaging.cmake is not there (or not included) after 30 min"
      echo "waiting for cmake/Packaging.cmake ... (${waited} min)"
      sleep 60
      waited=$((waited + 1))
    done
    cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTOWNGW_BUILD_TESTS=OFF >/dev/null
    cmake --build "$build_dir" -j2 2>&1 | tail -n 3
    rm -f "$build_dir"/packages/towngw_*.deb
    (cd "$build_dir" && cpack -G DEB) | tail -n 3
    deb=$(find "$build_dir/packages" -maxdepth 1 -name 'towngw_*.deb' | head -n 1)
    [[ -n $deb ]] || fail "cpack wrote no towngw_*.deb into $build_dir/packages"
  fi
  [[ -x $build_dir/bin/towngw-sim ]] || fail "no $build_dir/bin/towngw-sim"
  echo "package: $deb"
  dpkg-deb -f "$deb" Package Version Architecture Depends
  [[ $(dpkg-deb -f "$deb" Architecture) == "$(dpkg --print-architecture)" ]] ||
    fail "package architecture $(dpkg-deb -f "$deb" Architecture) cannot run on this host"
  note "$(basename "$deb")"
}

# Host side: the staging directory bound read-only into the container at /opt/towngw-test.
prepare_stage() {
  local ver
  mkdir -p "$stage/bin" "$stage/simulators/scenarios" "$stage/config/devices" "$stage/etc"
  cp "$deb" "$stage/towngw.deb"
  cp "$build_dir/bin/towngw-sim" "$stage/bin/"
  cp simulators/scenarios/demo.json "$stage/simulators/scenarios/"
  cp config/devices/*.json "$stage/config/devices/"
  # The upgrade: the same package with a higher version.
  ver=$(dpkg-deb -f "$deb" Version)
  upgrade_version="$ver+systest1"
  dpkg-deb -R "$deb" "$stage/repack"
  sed -i "s/^Version: .*/Version: $upgrade_version/" "$stage/repack/DEBIAN/control"
  dpkg-deb -b "$stage/repack" "$stage/towngw-upgrade.deb" >/dev/null
  rm -rf "$stage/repack"
  deb_version=$ver

  # What the IT person writes into /etc/towngw/towngw.json: the shipped file's layout, with
  # the devices of towngw-sim (Modbus TCP 127.0.0.1:1502, units 1 and 2) instead of the RS-485
  # line, 5 s windows (readings within seconds) and clock trust "system": this host's kernel
  # clock may not be NTP-synchronised (adjtimex TIME_ERROR), which holds every reading under
  # the default "ntp".
  cat >"$stage/etc/towngw.json" <<'JSON'
// towngw configuration written by scripts/systemd-test.sh (devices: towngw-sim)
{
  "gateway": { "town_id": "systest-town", "gateway_id": "gw-systest", "log_level": "info" },
  "mqtt": { "broker": "tcp://127.0.0.1:1883", "topic_prefix": "townbrain/v1", "keepalive_s": 10 },
  "storage": { "path": "/var/lib/towngw/outbox.db", "max_bytes": 134217728 },
  "control": { "socket": "/run/towngw/control.sock", "group": "towngw" },
  "clock": { "trust": "system" },
  "devices": [
    { "id": "flow1", "profile": "/usr/share/towngw/devices/flow_meter_tuf.json",
      "transport": { "type": "modbus-tcp", "host": "127.0.0.1", "port": 1502 },
      "unit_id": 1, "poll_ms": 1000, "timeout_ms": 500 },
    { "id": "bin1", "profile": "/usr/share/towngw/devices/bin_level_ultrasonic.json",
      "transport": { "type": "modbus-tcp", "host": "127.0.0.1", "port": 1502 },
      "unit_id": 2, "poll_ms": 1000, "timeout_ms": 500 }
  ],
  "sensors": [
    { "id": "flow1.flow",    "device": "flow1", "register": "flow",      "window_s": 5 },
    { "id": "flow1.total",   "device": "flow1", "register": "totaliser", "window_s": 5 },
    { "id": "bin1.distance", "device": "bin1",  "register": "distance",  "window_s": 5 }
  ]
}
JSON
  # The same with a mistake the validator rejects (poll_ms below its minimum of 100).
  sed 's/"unit_id": 1, "poll_ms": 1000/"unit_id": 1, "poll_ms": 5/' "$stage/etc/towngw.json" \
    >"$stage/etc/towngw-broken.json"
  grep -q '"poll_ms": 5' "$stage/etc/towngw-broken.json"
  mkdir -p "$stage/etc/watchdog"
  printf '[Service]\nWatchdogSec=4s\n' >"$stage/etc/watchdog/watchdog-test.conf"
}

container_up() {
  local l
  kill -0 "$nspawn_pid" 2>/dev/null || return 0 # stop waiting; checked by the caller
  l=$(ps -o pid= --ppid "$nspawn_pid" 2>/dev/null | head -n 1 | tr -d ' ')
  [[ -n $l && $(cat "/proc/$l/comm" 2>/dev/null) == systemd ]] || return 1
  leader=$l
  # systemctl needs PID 1's private socket up; --wait then waits for the boot to finish.
  ct systemctl is-system-running >/dev/null 2>&1
  local state=$?
  [[ $state -eq 0 ]] || ct systemctl is-system-running 2>/dev/null | grep -qE 'degraded|running|maintenance'
}

# In the main shell (not in a step's subshell), so that systemd-nspawn is our child.
# $1 = unified: the container gets a cgroup v2 hierarchy of its own (what a Debian 12 host
# has) and may load BPF programs, so that its systemd can enforce DevicePolicy=/DeviceAllow=;
# host: whatever systemd-nspawn picks for this host (on a cgroup v1/hybrid host: hybrid, where
# the container's devices controller is read-only and device policies are not enforced).
start_container() {
  local mode=$1
  local -a env=()
  [[ -n $cgroups_before ]] ||
    cgroups_before=$(ls -d /sys/fs/cgroup/*/payload /sys/fs/cgroup/*/supervisor 2>/dev/null || echo none)
  nspawn_cmd=(systemd-nspawn -D "$rootfs" --volatile=overlay -b --register=no --keep-unit
    -M "$machine" --private-network --console=read-only --bind-ro="$stage:/opt/towngw-test")
  if [[ $mode == unified ]]; then
    env=(SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1)
    nspawn_cmd+=(--system-call-filter=bpf --capability=CAP_BPF)
  fi
  nspawn_cmd=(env "${env[@]}" "${nspawn_cmd[@]}")
  "${nspawn_cmd[@]}" >"$stage/boot.log" 2>&1 </dev/null &
  nspawn_pid=$!
}

step_boot() {
  local state
  echo "${nspawn_cmd[*]}   (pid $nspawn_pid, console: $stage/boot.log)"
  # The step runs in a subshell: the main shell finds the leader again afterwards.
  wait_for 90 container_up || {
    tail -n 30 "$stage/boot.log"
    fail "the container's systemd did not come up within 90 s"
  }
  kill -0 "$nspawn_pid" 2>/dev/null || {
    tail -n 30 "$stage/boot.log"
    fail "systemd-nspawn exited during boot"
  }
  state=$(timeout 60 nsenter -t "$leader" -a systemctl is-system-running --wait 2>/dev/null || true)
  echo "container PID 1 = host PID $leader, is-system-running: $state"
  ct systemctl --failed --no-legend --plain || true
  [[ $state == running || $state == degraded ]] || fail "is-system-running: '$state'"
  expect_eq "mosquitto.service" active "$(ct systemctl is-active mosquitto.service || true)"
  ct grep -E '^(0|[0-9]+:name=systemd):' /proc/1/cgroup || true
  note "$state"
}

step_install() {
  local depends pkg out
  # Every Depends of the package is already in the root file system (no apt inside).
  depends=$(dpkg-deb -f "$deb" Depends)
  echo "Depends: $depends"
  for pkg in $(tr ',' '\n' <<<"$depends" | sed 's/(.*//; s/|.*//' | tr -d ' '); do
    ct dpkg-query -W -f='${Package} ${Version} ${Status}\n' "$pkg" | grep -q 'install ok installed' ||
      fail "dependency $pkg is not installed in the container"
  done
  out=$(ct dpkg -i /opt/towngw-test/towngw.deb 2>&1) || {
    echo "$out"
    fail "dpkg -i towngw.deb"
  }
  echo "$out"
  expect_eq "dpkg status" "install ok installed" "$(ct dpkg-query -W -f='${Status}' towngw)"
  echo "id towngw: $(ct id towngw)"
  ct id -nG towngw | tr ' ' '\n' | grep -qx dialout || fail "user towngw is not in group dialout"
  expect_eq "/etc/towngw" "root:towngw 750" "$(ct stat -c '%U:%G %a' /etc/towngw)"
  expect_eq "/etc/towngw/towngw.json (conffile)" "root:towngw 640" "$(ct stat -c '%U:%G %a' /etc/towngw/towngw.json)"
  expect_eq "/var/lib/towngw" "towngw:towngw 750" "$(ct stat -c '%U:%G %a' /var/lib/towngw)"
  expect_eq "unit file" "/lib/systemd/system/towngw.service" "$(prop towngw.service FragmentPath)"
  expect_eq "is-enabled after install" enabled "$(ct systemctl is-enabled towngw || true)"
  expect_eq "is-active after a first install (never started before the config is edited)" \
    inactive "$(ct systemctl is-active towngw || true)"
  ct systemd-analyze verify towngw.service 2>&1 | grep -v '^$' || true
  # The shipped example must at least be valid as shipped.
  ct towngwd --check-config /etc/towngw/towngw.json || fail "the shipped /etc/towngw/towngw.json is not valid"
  note "Version $(ct dpkg-query -W -f='${Version}' towngw)"
}

step_configure() {
  local ready
  ct systemd-run --unit=towngw-sim --description="towngw-sim (test devices)" -p Type=exec \
    /opt/towngw-test/bin/towngw-sim --scenario /opt/towngw-test/simulators/scenarios/demo.json \
    --tcp-port 1502 --ready-file /run/towngw-sim.ready
  wait_for 15 ct test -s /run/towngw-sim.ready || {
    ct journalctl -u towngw-sim --no-pager | tail -n 20
    fail "towngw-sim did not become ready"
  }
  ready=$(ct cat /run/towngw-sim.ready)
  echo "towngw-sim ready: $ready"
  grep -q '"tcp_port" *: *1502' <<<"$ready" || fail "towngw-sim is not on port 1502"
  # cp onto the existing conffile keeps its owner and mode (root:towngw 0640).
  ct cp /opt/towngw-test/etc/towngw.json /etc/towngw/towngw.json
  expect_eq "towngw.json after editing" "root:towngw 640" "$(ct stat -c '%U:%G %a' /etc/towngw/towngw.json)"
  ct towngwd --check-config /etc/towngw/towngw.json
  # The daemon reads it as user towngw (group read).
  ct setpriv --reuid=towngw --regid=towngw --init-groups towngwd --check-config /etc/towngw/towngw.json
}

step_enable_now() {
  local t0 t1
  t0=$(now)
  ct systemctl enable --now towngw || {
    ct journalctl -u towngw --no-pager | tail -n 30
    fail "systemctl enable --now towngw"
  }
  t1=$(now)
  expect_eq "is-active" active "$(ct systemctl is-active towngw || true)"
  expect_eq "is-enabled" enabled "$(ct systemctl is-enabled towngw || true)"
  ct systemctl status towngw --no-pager -l | head -n 12 || true
  note "start->active $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')s"
}

step_show() {
  local out pid status
  out=$(ct systemctl show -p WatchdogUSec,NRestarts,MainPID,StatusText,Type,NotifyAccess,Result towngw)
  echo "$out"
  expect_eq "Type" notify "$(prop towngw Type)"
  expect_eq "WatchdogUSec" 30s "$(prop towngw WatchdogUSec)"
  expect_eq "NRestarts" 0 "$(prop towngw NRestarts)"
  status=$(prop towngw StatusText)
  [[ $status == running:* ]] || fail "StatusText is '$status', expected 'running: ...'"
  pid=$(main_pid)
  expect_eq "MainPID's program" towngwd "$(ct cat "/proc/$pid/comm")"
  ct ps -o user=,group=,supgrp=,args= -p "$pid"
  expect_eq "user" towngw "$(ct ps -o user= -p "$pid" | tr -d ' ')"
  ct grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' "/proc/$pid/status"
  expect_eq "CapEff" 0000000000000000 "$(ct awk '/^CapEff:/ { print $2 }' "/proc/$pid/status")"
  expect_eq "NoNewPrivs" 1 "$(ct awk '/^NoNewPrivs:/ { print $2 }' "/proc/$pid/status")"
  expect_eq "Seccomp (filter)" 2 "$(ct awk '/^Seccomp:/ { print $2 }' "/proc/$pid/status")"
  expect_eq "/run/towngw" "towngw:towngw 750" "$(ct stat -c '%U:%G %a' /run/towngw)"
  ct stat -c '%U:%G %a %F %n' /run/towngw/control.sock
  note "$status"
}

# Inside step_devices: open DEVICE (r or rw) from within the service's own cgroup, as USER
# with that user's groups. Prints "ok" or the error.
open_in_unit() { # USER DEVICE MODE
  local procs
  procs=/sys/fs/cgroup$(prop towngw ControlGroup)/cgroup.procs
  local redir='3<'
  [[ $3 == rw ]] && redir='3<>'
  ct sh -c "echo \$\$ >$procs && exec setpriv --reuid=$1 --regid=$1 --init-groups \
    sh -c 'exec $redir$2 && echo ok' 2>&1" 2>&1 | sed 's/^.*: //' | tail -n 1
}

step_devices() {
  local r
  # Does this container's systemd enforce device policies at all? (cgroup v2 + BPF needed.)
  r=$(ct systemd-run --wait --pipe -q -p DevicePolicy=closed sh -c 'exec 3<>/dev/net/tun && echo ok' 2>&1 | tail -n 1)
  if [[ $r == ok ]]; then
    echo "DevicePolicy=closed is not enforced in this container ($cgroup_mode cgroups): not checkable here"
    note "not enforced ($cgroup_mode cgroups)"
    exit 77
  fi
  grep -qw ttyS /proc/devices || {
    echo "no ttyS driver in this kernel (/proc/devices): nothing to check against"
    exit 77
  }
  # A serial port node (8250 UART: char 4:64) the way udev makes it: root:dialout 0660.
  ct test -e /dev/ttyS0 || ct mknod -m 0660 /dev/ttyS0 c 4 64
  ct chgrp dialout /dev/ttyS0
  ct chmod 0660 /dev/ttyS0
  ct ls -l /dev/ttyS0 /dev/net/tun
  # Opening a tty without writing to it sends nothing on the line.
  expect_eq "open /dev/ttyS0 (char-ttyS) rw as towngw in towngw.service's cgroup" ok \
    "$(open_in_unit towngw /dev/ttyS0 rw)"
  expect_eq "open /dev/net/tun as root in towngw.service's cgroup (denied by DevicePolicy=closed)" \
    "Operation not permitted" "$(open_in_unit root /dev/net/tun rw)"
  expect_eq "open /dev/null rw as towngw (always allowed)" ok "$(open_in_unit towngw /dev/null rw)"
  ct journalctl -u towngw --no-pager -o cat | grep -i 'Device allow list pattern' | sort -u || true
  local unresolved=()
  for r in ttyUSB ttyACM ttyAMA ttymxc; do
    grep -qw "$r" /proc/devices || unresolved+=("char-$r")
  done
  if ((${#unresolved[@]})); then
    echo "note: ${unresolved[*]} match no driver in this kernel's /proc/devices, so systemd" \
      "resolved them to nothing when towngw started (\"Device allow list pattern ... did not" \
      "match anything\"): such ports stay denied until 'systemctl restart towngw' after their" \
      "driver is loaded. A container loads no modules; on a board the package's" \
      "/usr/lib/modules-load.d/towngw.conf (if shipped) loads the USB serial drivers at boot."
    if ct test -e /usr/lib/modules-load.d/towngw.conf; then
      ct grep -v '^#' /usr/lib/modules-load.d/towngw.conf || true
    fi
    note "unresolved here: ${unresolved[*]}"
  fi
}

step_cli() {
  ct towngw status || fail "towngw status (root)"
  # A technician: member of group towngw, nothing else.
  ct_sh 'id tech >/dev/null 2>&1 || adduser --disabled-password --gecos "" --quiet tech'
  ct adduser --quiet tech towngw
  ct runuser -u tech -- towngw status >/dev/null || fail "towngw status as tech (group towngw)"
  echo "ok: towngw status as user tech (group towngw)"
  # And someone outside the group is refused.
  ct_sh 'id nobodyelse >/dev/null 2>&1 || adduser --disabled-password --gecos "" --quiet nobodyelse'
  if ct runuser -u nobodyelse -- towngw status >/dev/null 2>&1; then
    fail "towngw status works for a user outside group towngw"
  fi
  echo "ok: towngw status refused for a user outside group towngw"
}

step_data() {
  local out n
  out=$(ct mosquitto_sub -h 127.0.0.1 -t 'townbrain/#' -C 5 -W 30 -v) || true
  n=$(grep -c . <<<"$out" || true)
  echo "$out" | cut -c 1-200
  ((n >= 5)) || fail "only $n MQTT messages on townbrain/# within 30 s (expected 5)"
  grep -q '^townbrain/v1/systest-town/gw-systest/' <<<"$out" || fail "unexpected topics"
  note "$n msgs"
}

step_journal() {
  local n_info n_daemon prefixed
  n_info=$(ct journalctl -u towngw -p info -o cat --no-pager | grep -c . || true)
  ct journalctl -u towngw -p info --no-pager | tail -n 8
  ((n_info > 0)) || fail "journalctl -u towngw -p info shows no lines"
  # The daemon's <N> prefixes must become journal priorities, not text.
  prefixed=$(ct journalctl -u towngw -o cat --no-pager | grep -cE '^<[0-7]>' || true)
  expect_eq "lines with a literal <N> prefix" 0 "$prefixed"
  # Entries of the daemon itself (SyslogIdentifier=towngwd) at exactly info and at exactly
  # debug: the default log_level is info, so none at debug unless the prefixes were lost
  # (then stderr lines get the journal's default, info, and the "<7>" would show as text).
  n_daemon=$(ct journalctl -u towngw -t towngwd -p info..info -o cat --no-pager | grep -c . || true)
  ((n_daemon > 0)) || fail "no entries of towngwd (SYSLOG_IDENTIFIER) at priority info"
  echo "ok: $n_daemon towngwd entries at priority 6 (info)"
  note "$n_info info lines"
  if ct journalctl -u towngw -o cat --no-pager | grep -q 'ConfigurationDirectory .* mode is different'; then
    echo "WARNING: systemd logs at every start/reload:" \
      "$(ct journalctl -u towngw -o cat --no-pager | grep -m 1 'ConfigurationDirectory .* mode is different')"
    echo "  (the unit lacks ConfigurationDirectoryMode=0750 to match postinst's /etc/towngw mode)"
    note "warn: ConfigurationDirectory mode"
  fi
}

journal_since() { # UNIT SINCE-EPOCH [journalctl options]
  local unit=$1 since=$2
  shift 2
  ct journalctl -u "$unit" --since "@$since" --no-pager -o cat "$@"
}
journal_has() { # UNIT SINCE-EPOCH TEXT [journalctl options]
  journal_since "$1" "$2" "${@:4}" | grep -q "$3"
}
is_active() { [[ $(ct systemctl is-active "$1") == active ]]; }
# An automatic restart happened (NRestarts above $1) and the service is active again.
restarted_since() { [[ $(prop towngw NRestarts) -gt $1 ]] && is_active towngw; }

step_reload() {
  local pid0 pid1 since status
  pid0=$(main_pid)
  since=$(date +%s)
  sleep 1
  ct systemctl reload towngw || fail "systemctl reload towngw"
  wait_for 15 journal_has towngw "$since" reloaded ||
    fail "journal shows no 'reloaded' after systemctl reload"
  pid1=$(prop towngw MainPID)
  expect_eq "MainPID unchanged" "$pid0" "$pid1"
  expect_eq "is-active" active "$(ct systemctl is-active towngw || true)"
  status=$(prop towngw StatusText)
  [[ $status == running:* ]] || fail "StatusText after reload: '$status'"
  journal_since towngw "$since" | tail -n 6
  note "MainPID $pid0 kept"
}

restore_config() {
  ct cp /opt/towngw-test/etc/towngw.json /etc/towngw/towngw.json
  ct systemctl reload-or-restart towngw || true
}

step_reload_broken() {
  local pid0 since status errs
  pid0=$(main_pid)
  trap restore_config EXIT
  ct cp /etc/towngw/towngw.json /root/towngw.json.good
  ct cp /opt/towngw-test/etc/towngw-broken.json /etc/towngw/towngw.json
  since=$(date +%s)
  sleep 1
  ct systemctl reload towngw || fail "systemctl reload towngw (broken config) failed"
  wait_for 15 journal_has towngw "$since" "reload refused" -p err ||
    fail "journalctl -u towngw -p err shows no 'reload refused'"
  errs=$(journal_since towngw "$since" -p err)
  echo "journalctl -u towngw -p err:"
  echo "${errs//$'\n'/$'\n'  }"
  expect_eq "is-active with a broken config" active "$(ct systemctl is-active towngw || true)"
  expect_eq "MainPID unchanged" "$pid0" "$(prop towngw MainPID)"
  status=$(prop towngw StatusText)
  echo "StatusText: $status"
  [[ $status == "reload refused"* ]] || fail "StatusText does not say the reload was refused"
  # Restore and reload: running again with the good configuration.
  ct cp /root/towngw.json.good /etc/towngw/towngw.json
  since=$(date +%s)
  sleep 1
  ct systemctl reload towngw
  wait_for 15 journal_has towngw "$since" reloaded || fail "no 'reloaded' after restoring"
  status=$(prop towngw StatusText)
  [[ $status == running:* ]] || fail "StatusText after restoring: '$status'"
  trap - EXIT
  note "$(grep -c . <<<"$errs") err lines"
}

step_kill() {
  local pid0 n0 pid1
  pid0=$(main_pid)
  n0=$(prop towngw NRestarts)
  ct kill -KILL "$pid0"
  # RestartSec=5s
  wait_for 25 restarted_since "$n0" || {
    ct systemctl status towngw --no-pager | head -n 12 || true
    fail "not restarted within 25 s of SIGKILL (NRestarts $(prop towngw NRestarts))"
  }
  pid1=$(prop towngw MainPID)
  [[ $pid1 != "$pid0" ]] || fail "MainPID did not change"
  expect_eq "NRestarts" "$((n0 + 1))" "$(prop towngw NRestarts)"
  ct journalctl -u towngw --no-pager -o cat | grep -E 'SIGKILL|KILL|Scheduled restart' | tail -n 3
  note "NRestarts $n0->$(prop towngw NRestarts)"
}

step_exit78() {
  local n0 n1 restart_rc=0 state status result since
  ct cp /etc/towngw/towngw.json /root/towngw.json.good
  ct cp /opt/towngw-test/etc/towngw-broken.json /etc/towngw/towngw.json
  since=$(date +%s)
  ct systemctl restart towngw || restart_rc=$?
  # A manual start resets NRestarts (to 0): count from here.
  n0=$(prop towngw NRestarts)
  sleep 12 # RestartSec=5s twice over: a restart loop would show by now
  n1=$(prop towngw NRestarts)
  state=$(prop towngw ActiveState)
  status=$(prop towngw ExecMainStatus)
  result=$(prop towngw Result)
  ct systemctl status towngw --no-pager | head -n 8 || true
  # Restore first, so that a failed check below leaves a running service for the next steps.
  ct cp /root/towngw.json.good /etc/towngw/towngw.json
  ct systemctl reset-failed towngw
  ct systemctl start towngw
  ((restart_rc != 0)) || fail "systemctl restart with an invalid config succeeded"
  echo "ok: systemctl restart failed (exit $restart_rc)"
  expect_eq "ActiveState" failed "$state"
  expect_eq "ExecMainStatus" 78 "$status"
  expect_eq "Result" exit-code "$result"
  expect_eq "NRestarts 12 s later (no restart loop)" "$n0" "$n1"
  echo "$since" >"$stage/exit78.since"
  expect_eq "is-active after fixing the config" active "$(ct systemctl is-active towngw || true)"
  note "exit $status, NRestarts $n0->$n1 in 12s"
}

# Each step runs in a subshell of its own: its EXIT trap puts things back even when it fails.
restore_watchdog() {
  local pid
  pid=$(prop towngw MainPID || true)
  [[ ! $pid =~ ^[0-9]+$ || $pid -le 1 ]] || ct kill -CONT "$pid" 2>/dev/null || true
  ct rm -f /etc/systemd/system/towngw.service.d/watchdog-test.conf
  ct rmdir /etc/systemd/system/towngw.service.d 2>/dev/null || true
  ct systemctl daemon-reload
  ct systemctl restart towngw || true
}

# Why did the start fail? An administrator looks at journalctl -u towngw -p err.
step_exit78_journal() {
  local since
  since=$(cat "$stage/exit78.since")
  echo "journalctl -u towngw -p err (the failed start):"
  journal_since towngw "$since" -p err | tail -n 4
  echo "towngwd's error lines of the failed start, by journal priority:"
  local pr
  for pr in 0 1 2 3 4 5 6 7; do
    journal_since towngw "$since" -t towngwd -p "$pr..$pr" | grep -i 'error' | sed "s/^/  PRIORITY=$pr  /" || true
  done
  journal_has towngw "$since" "error(s) in the configuration" -p err ||
    fail "towngwd's configuration errors at startup are not at priority err (main.cpp writes them to stderr without a <3> prefix: the journal files them at info)"
}

step_watchdog() {
  local pid0 pid1 n0 since
  trap restore_watchdog EXIT
  ct mkdir -p /etc/systemd/system/towngw.service.d
  ct cp /opt/towngw-test/etc/watchdog/watchdog-test.conf /etc/systemd/system/towngw.service.d/
  ct systemctl daemon-reload
  ct systemctl restart towngw
  expect_eq "WatchdogUSec" 4s "$(prop towngw WatchdogUSec)"
  pid0=$(main_pid)
  n0=$(prop towngw NRestarts)
  # Fed every 2 s: 10 s (2.5 watchdog periods) without a restart.
  sleep 10
  expect_eq "MainPID after 10 s (watchdog fed)" "$pid0" "$(prop towngw MainPID)"
  expect_eq "NRestarts after 10 s" "$n0" "$(prop towngw NRestarts)"
  since=$(date +%s)
  ct kill -STOP "$pid0"
  echo "SIGSTOP to MainPID $pid0 at $(date +%T)"
  wait_for 30 restarted_since "$n0" || {
    ct journalctl -u towngw --since "@$since" --no-pager | tail -n 15
    fail "not restarted by the watchdog within 30 s of SIGSTOP"
  }
  pid1=$(prop towngw MainPID)
  [[ $pid1 != "$pid0" ]] || fail "MainPID did not change"
  ct journalctl -u towngw --since "@$since" --no-pager -o cat | grep -iE 'watchdog|ABRT|restart' | head -n 6
  ct journalctl -u towngw --since "@$since" --no-pager -o cat | grep -qi 'watchdog timeout' ||
    fail "journal does not show the watchdog timeout"
  trap - EXIT
  restore_watchdog
  expect_eq "WatchdogUSec back" 30s "$(prop towngw WatchdogUSec)"
  expect_eq "is-active" active "$(ct systemctl is-active towngw || true)"
  note "restarted after $(($(date +%s) - since))s incl. restore"
}

step_security() {
  local out score
  out=$(ct systemd-analyze security --no-pager towngw.service 2>&1) || true
  echo "$out" | grep -E '^✗' | cut -c 1-110 | head -n 40
  score=$(grep -E 'Overall exposure level' <<<"$out" | sed 's/.*: //')
  echo "Overall exposure level: $score"
  [[ -n $score ]] || fail "systemd-analyze security printed no exposure level"
  echo "$score" >"$stage/security-score"
  note "$score"
}

step_stop() {
  local t0 t1
  t0=$(now)
  ct systemctl stop towngw
  t1=$(now)
  expect_eq "is-active after stop" inactive "$(ct systemctl is-active towngw || true)"
  expect_eq "Result" success "$(prop towngw Result)"
  expect_eq "ExecMainStatus" 0 "$(prop towngw ExecMainStatus)"
  ct journalctl -u towngw --no-pager -o cat | grep -E 'SIGTERM|stopp' | tail -n 3
  ct pgrep -x towngwd && fail "a towngwd process is still running"
  note "stop took $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')s"
}

step_upgrade() {
  local pid0 pid1 ino0 ino1 out
  ct systemctl start towngw
  sleep 6 # at least one window stored
  pid0=$(main_pid)
  ino0=$(ct stat -c %i /var/lib/towngw/outbox.db)
  ct ls -la /var/lib/towngw
  out=$(ct dpkg -i /opt/towngw-test/towngw-upgrade.deb 2>&1) || {
    echo "$out"
    fail "dpkg -i towngw-upgrade.deb"
  }
  echo "$out"
  expect_eq "version" "$upgrade_version" "$(ct dpkg-query -W -f='${Version}' towngw)"
  wait_for 15 is_active towngw || fail "not active after the upgrade"
  pid1=$(prop towngw MainPID)
  [[ $pid1 != "$pid0" ]] || fail "service was not restarted by the upgrade (MainPID $pid0)"
  echo "ok: restarted by postinst (MainPID $pid0 -> $pid1)"
  ino1=$(ct stat -c %i /var/lib/towngw/outbox.db)
  expect_eq "outbox.db kept (same inode)" "$ino0" "$ino1"
  ct grep -q gw-systest /etc/towngw/towngw.json || fail "the edited conffile was replaced"
  echo "ok: edited /etc/towngw/towngw.json kept"
  expect_eq "towngw.json mode" "root:towngw 640" "$(ct stat -c '%U:%G %a' /etc/towngw/towngw.json)"
  ct towngw status >/dev/null || fail "towngw status after the upgrade"
  note "MainPID $pid0->$pid1"
}

step_purge() {
  local out
  out=$(ct dpkg --purge towngw 2>&1) || {
    echo "$out"
    fail "dpkg --purge towngw"
  }
  echo "$out"
  ct pgrep -x towngwd && fail "towngwd still runs after purge"
  expect_eq "dpkg status" "" "$(ct dpkg-query -W -f='${Status}' towngw 2>/dev/null || true)"
  ct test ! -e /lib/systemd/system/towngw.service || fail "unit file left behind"
  ct test ! -e /etc/systemd/system/multi-user.target.wants/towngw.service || fail "enablement symlink left"
  ct test ! -e /etc/systemd/system/towngw.service || fail "mask symlink left"
  ct test ! -e /var/lib/towngw || fail "/var/lib/towngw left behind"
  ct test ! -e /etc/towngw || fail "/etc/towngw left behind"
  ct test ! -e /run/towngw || fail "/run/towngw left behind"
  expect_eq "LoadState" not-found "$(prop towngw LoadState)"
  ct getent passwd towngw >/dev/null && echo "towngw user kept (documented)"
}

step_shutdown() {
  local t0
  t0=$(date +%s)
  ct journalctl -u towngw --no-pager >"$stage/journal.txt" 2>&1 || true
  ct journalctl -u towngw --no-pager -o verbose >"$stage/journal-verbose.txt" 2>&1 || true
  kill -s SIGRTMIN+4 "$leader"
  wait_for 60 powered_off || fail "container did not power off within 60 s"
  tail -n 3 "$stage/boot.log"
  note "$(($(date +%s) - t0))s"
}

# ---------------------------------------------------------------------------------------------
ensure_tools
mkdir -p "$cache"
stage=$(mktemp -d "$cache/run.XXXXXX")
note_file=$stage/note
: >"$stage/test.log"
deb_version=""
upgrade_version=""
t_start=$(date +%s)

run_all() {
  run_step "rootfs (debootstrap bookworm, cached)" step_rootfs critical || return 1
  run_step "build/locate .deb + towngw-sim" step_build critical || return 1
  # The step subshell cannot set our variables: pick up what it found.
  if [[ -z $deb ]]; then
    deb=$(find "$build_dir/packages" -maxdepth 1 -name 'towngw_*.deb' | head -n 1)
  fi
  prepare_stage
  local mode booted=0
  for mode in "${boot_modes[@]}"; do
    start_container "$mode"
    run_step "boot container ($mode cgroups)" step_boot
    if [[ ${step_results[-1]} == PASS ]]; then
      booted=1
      break
    fi
    shutdown_container
    # Not the last variant: the next one may boot; this one's failure is a warning.
    [[ $mode == "${boot_modes[-1]}" ]] || step_results[-1]=WARN
  done
  ((booted)) || return 1
  leader=$(ps -o pid= --ppid "$nspawn_pid" | head -n 1 | tr -d ' ')
  cgroup_mode=$mode
  run_step "dpkg -i towngw.deb" step_install critical || return 1
  run_step "towngw-sim + edit /etc/towngw/towngw.json" step_configure critical || return 1
  run_step "systemctl enable --now towngw" step_enable_now critical || return 1
  run_step "systemctl show (notify, watchdog, status)" step_show
  run_step "DevicePolicy: serial ports only" step_devices
  run_step "towngw status (root, group towngw)" step_cli
  run_step "mosquitto_sub townbrain/# -C 5 -W 30" step_data
  run_step "journalctl -u towngw -p info" step_journal
  run_step "systemctl reload (MainPID kept)" step_reload
  run_step "broken config + reload (still active)" step_reload_broken
  run_step "kill -KILL MainPID -> restarted" step_kill
  run_step "invalid config: exit 78, no restart loop" step_exit78
  run_step "exit 78: config errors at priority err" step_exit78_journal
  run_step "watchdog (WatchdogSec=4s, SIGSTOP)" step_watchdog
  run_step "systemd-analyze security towngw" step_security
  run_step "systemctl stop towngw" step_stop
  run_step "upgrade (repacked, higher version)" step_upgrade
  run_step "dpkg --purge towngw" step_purge
  run_step "container shutdown" step_shutdown
}

all_ok=0
run_all || true
# After step "container shutdown" systemd-nspawn has exited: reap it.
if [[ -n $nspawn_pid ]] && ! kill -0 "$nspawn_pid" 2>/dev/null; then
  wait "$nspawn_pid" 2>/dev/null || true
fi
shutdown_container
echo
echo "total: $(($(date +%s) - t_start)) s"
summary && all_ok=1
((all_ok)) || exit 1
