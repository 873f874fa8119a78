#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Debian package test (issue #9), run by ctest (label "package"):
#   0. cpack -G DEB from an existing build directory (nothing is rebuilt; the .deb goes to a
#      scratch directory), and checks of the .deb itself (name, control fields, conffiles,
#      contents: no simulator)
#   a. dpkg -i: files, modes and owners, user/group towngw in dialout, dpkg -s, the unit
#      (systemd-analyze verify and security), towngwd --check-config of the installed config
#   b. the INSTALLED towngwd, as user towngw without capabilities, on /etc/towngw/towngw.json
#      with --set overrides: its RS-485 line pointed at towngw-sim (RTU over TCP), its broker at
#      a port where nothing listens.
#      b1. on a new database (a scratch path in /var/lib/towngw): the schema a new database gets
#      b2. schema migration: /var/lib/towngw/outbox.db is first a database of schema version 3
#          (as released; towngw:towngw 0640) holding undelivered rows under the test's topic root
#          and meta last_seq above them. The daemon migrates it on its own: user_version, tables,
#          columns and meta keys become exactly those of the new database of b1, the old rows
#          are unchanged, new rows get seqs above the old last_seq (no reuse) -> the outbox
#          fills. A technician (user nobody, only in group towngw) runs a scripted one-point
#          calibration of water1.turbidity with the INSTALLED towngw, the simulated probe held
#          in zero water (towngw-sim's "immerse"); `towngw calibration history/export/show`
#          show it. SIGTERM, exit 0
#   c. the conffile is edited, then two upgrades made by repacking the .deb with higher
#      versions: one with an unchanged packaged conffile (plain dpkg -i), one with a changed one
#      (--force-confdef --force-confold): the local edit, the outbox rows, the calibration
#      history, the schema version and the ownership survive; the upgraded daemon then delivers
#      the buffered rows to a real mosquitto (the schema-v3 rows byte for byte, with their
#      original seqs; no other seq at or below the old last_seq), and its CLI still shows the
#      same calibration entry (version, hash, record, technician) as current and the hash
#      chain intact
# The daemon is never started through systemd. The package is purged in a trap whatever
# happens. Exit 77 (ctest SKIP_RETURN_CODE) when not root, without dpkg, or when a towngw
# package that this test did not install is on the machine.
# Usage: deb_package_test.sh --build-dir DIR [--cpack PATH]
#        (TOWNGW_KEEP_TMP=1 keeps the scratch directory with every log)

# Functions below are called indirectly (traps, wait_for "$@"), which SC2317 cannot see.
# shellcheck disable=SC2317
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/lib/process.sh
source "$root/scripts/lib/process.sh"

build_dir=""
cpack_bin=cpack
while (($#)); do
  case $1 in
    --build-dir) build_dir=${2:?--build-dir needs a directory}; shift 2 ;;
    --cpack) cpack_bin=${2:?--cpack needs a path}; shift 2 ;;
    *) echo "usage: $0 --build-dir DIR [--cpack PATH]" >&2; exit 2 ;;
  esac
done
[[ -n $build_dir ]] || { echo "usage: $0 --build-dir DIR [--cpack PATH]" >&2; exit 2; }
build_dir=$(cd "$build_dir" && pwd)

t0=$SECONDS
log() { printf 'deb_package_test [%3ds]: %s\n' "$((SECONDS - t0))" "$*"; }
skip() { printf 'deb_package_test: SKIP: %s\n' "$*"; exit 77; }
fail() {
  printf 'deb_package_test: FAIL: %s\n' "$1" >&2
  if [[ -n ${2:-} && -f $2 ]]; then
    printf -- '--- %s (last 40 lines):\n' "$2" >&2
    tail -n 40 "$2" >&2
  fi
  exit 1
}

# --- preconditions -----------------------------------------------------------------------------
[[ $(id -u) == 0 ]] || skip "needs root (dpkg -i, a system user)"
for tool in dpkg dpkg-deb dpkg-query setpriv sqlite3 python3 flock; do
  command -v "$tool" >/dev/null || skip "$tool is not installed"
done
command -v "$cpack_bin" >/dev/null || skip "cpack ($cpack_bin) not found"
mosquitto_bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)
[[ -x $mosquitto_bin ]] || skip "mosquitto is not installed"
command -v mosquitto_sub >/dev/null || skip "mosquitto_sub (mosquitto-clients) is not installed"
# The technician of the calibration: a user that is neither root nor towngw, only in group towngw.
if ! getent passwd nobody >/dev/null || ! getent group nogroup >/dev/null; then
  skip "user nobody or group nogroup is missing (they play the technician)"
fi
for bin in towngwd towngw towngw-sim; do
  [[ -x $build_dir/bin/$bin ]] || fail "$build_dir/bin/$bin is missing: build first (scripts/build.sh)"
done
[[ -f $build_dir/CPackConfig.cmake ]] || fail "$build_dir/CPackConfig.cmake is missing (cmake/Packaging.cmake not included?)"

# One instance per machine: the package database is machine-wide.
lock_file=/run/lock/towngw-deb-package-test.lock
[[ -d /run/lock ]] || lock_file=/tmp/towngw-deb-package-test.lock
exec 9>"$lock_file"
flock -w 600 9 || skip "another deb_package_test has held $lock_file for 10 minutes"

# Set while this test has (maybe) a towngw package installed; survives a killed run, so the next
# run knows that the package on the machine is its own leftover.
marker=/var/tmp/towngw-deb-package-test.marker
pkg_state() { dpkg-query -W -f='${db:Status-Status}' towngw 2>/dev/null || echo not-installed; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/towngw-deb-test.XXXXXX")
chmod 0755 "$tmp" # the daemon (user towngw) reads nothing here, but mosquitto may drop to its user
pids=()           # processes we started and have not reaped yet, in start order
installed=0       # 1 from the first dpkg -i until the purge succeeded
created_user=0    # the towngw user/group did not exist before: delete them at the end
user_was_in_dialout=0

# dpkg, retried while another process (apt of a concurrent session) holds the dpkg lock.
run_dpkg() {
  local deadline=$((SECONDS + 600)) out rc
  while :; do
    rc=0
    out=$(DEBIAN_FRONTEND=noninteractive dpkg "$@" </dev/null 2>&1) || rc=$?
    printf '$ dpkg %s\n%s\n' "$*" "$out" >>"$tmp/dpkg.log"
    if ((rc != 0)) && grep -qE 'locked by another process|lock was locked' <<<"$out" &&
      ((SECONDS < deadline)); then
      sleep 1
      continue
    fi
    ((rc == 0)) || printf '%s\n' "$out" >&2
    return "$rc"
  done
}

in_dialout() { [[ " $(id -nG towngw 2>/dev/null) " == *" dialout "* ]]; }
remove_user_if_ours() {
  if ((!created_user)); then # the user was there before: take back only the dialout membership
    if ((!user_was_in_dialout)) && in_dialout; then
      deluser --quiet towngw dialout >/dev/null 2>&1 || true
    fi
    return 0
  fi
  if getent passwd towngw >/dev/null; then deluser --system --quiet towngw >/dev/null 2>&1 || true; fi
  if getent group towngw >/dev/null; then delgroup --system --quiet towngw >/dev/null 2>&1 || true; fi
}

cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  # A traced towngwd is strace's child, not ours: stopping strace alone would leave it running
  # (as towngw, so the user could not be deleted either). Stop it first, by its PID.
  if [[ -n ${gateway_pid:-} && $gateway_pid != "${launcher_pid:-}" ]] && alive "$gateway_pid"; then
    kill -TERM "$gateway_pid" 2>/dev/null || true
    wait_for 10 exited "$gateway_pid" || kill -KILL "$gateway_pid" 2>/dev/null || true
  fi
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    stop_pid "${pids[i]}" 10
  done
  if ((installed)) && [[ $(pkg_state) != not-installed ]]; then
    log "cleanup: purging the towngw package"
    run_dpkg --purge towngw >/dev/null || echo "deb_package_test: cleanup: dpkg --purge towngw failed (see above)" >&2
  fi
  if [[ $(pkg_state) == not-installed ]]; then
    remove_user_if_ours
    rm -f "$marker"
  fi
  if [[ ${TOWNGW_KEEP_TMP:-0} == 1 ]]; then
    log "kept $tmp"
  else
    rm -rf "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

state=$(pkg_state)
if [[ $state != not-installed ]]; then
  if [[ -f $marker ]]; then
    log "a towngw package ($state) left by an interrupted run of this test: purging it"
    grep -q '^created_user=1$' "$marker" && created_user=1
    grep -q '^user_was_in_dialout=1$' "$marker" && user_was_in_dialout=1
    installed=1
    run_dpkg --purge towngw >/dev/null || fail "could not purge the leftover towngw package"
    installed=0
    remove_user_if_ours
    created_user=0
    rm -f "$marker"
  else
    skip "a towngw package is already on this machine (dpkg status: $state), not installed by this test; not touching it"
  fi
fi
getent passwd towngw >/dev/null || getent group towngw >/dev/null || created_user=1
in_dialout && user_was_in_dialout=1
# Leftovers of a towngw installed some other way: neither ours to check nor ours to delete.
[[ ! -e /etc/towngw && ! -e /var/lib/towngw ]] ||
  skip "/etc/towngw or /var/lib/towngw exists without a towngw package: not touching it"

# --- 0. build and inspect the .deb ------------------------------------------------------------
log "cpack -G DEB from $build_dir"
(cd "$build_dir" && "$cpack_bin" -G DEB -B "$tmp/cpack") >"$tmp/cpack.log" 2>&1 ||
  fail "cpack -G DEB failed" "$tmp/cpack.log"
debs=("$tmp"/cpack/towngw_*.deb)
[[ ${#debs[@]} == 1 && -f ${debs[0]} ]] || fail "cpack wrote no single towngw_*.deb: $(ls "$tmp/cpack")" "$tmp/cpack.log"
deb=${debs[0]}
arch=$(dpkg --print-architecture)
version=$(dpkg-deb -f "$deb" Version)
upstream=${version%-*}
revision=${version##*-}
[[ $(basename "$deb") == "towngw_${version}_${arch}.deb" ]] ||
  fail "file name $(basename "$deb") is not towngw_<version>-<revision>_${arch}.deb"
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+-[0-9]+$ ]] || fail "version $version is not <upstream>-<revision>"
[[ $(dpkg-deb -f "$deb" Package) == towngw ]] || fail "Package: is not towngw"
[[ $(dpkg-deb -f "$deb" Architecture) == "$arch" ]] || fail "Architecture: is not $arch"
[[ $(dpkg-deb -f "$deb" Section) == net ]] || fail "Section: is not net"
[[ -n $(dpkg-deb -f "$deb" Maintainer) ]] || fail "no Maintainer:"
depends=$(dpkg-deb -f "$deb" Depends)
for dep in adduser libc6 libpaho-mqttpp3 libsqlite3 libmodbus; do
  grep -q "$dep" <<<"$depends" || fail "Depends: lacks $dep: $depends"
done
dpkg-deb -I "$deb" conffiles >"$tmp/conffiles" 2>&1 || fail "the .deb has no conffiles" "$tmp/conffiles"
[[ $(cat "$tmp/conffiles") == /etc/towngw/towngw.json ]] || fail "conffiles is not /etc/towngw/towngw.json" "$tmp/conffiles"
dpkg-deb -c "$deb" >"$tmp/contents"
grep -q 'towngw-sim' "$tmp/contents" && fail "the simulator is in the package" "$tmp/contents"
grep -qE '^-rw-r----- root/root .* \./etc/towngw/towngw\.json$' "$tmp/contents" ||
  fail "./etc/towngw/towngw.json is not packaged as -rw-r----- root/root" "$tmp/contents"
log "built $(basename "$deb") ($(($(stat -c %s "$deb") / 1024)) KiB), Depends: $depends"

# The repository's config passes with its profile pointed at the repository's copy.
"$build_dir/bin/towngwd" --check-config "$root/config/towngw.json" \
  --set /devices/0/profile=devices/water_probe_float.json >"$tmp/check-repo.log" 2>&1 ||
  fail "config/towngw.json does not validate (profile from config/devices)" "$tmp/check-repo.log"

# --- a. install ---------------------------------------------------------------------------------
log "dpkg -i $(basename "$deb")"
printf 'created_user=%s\nuser_was_in_dialout=%s\n' "$created_user" "$user_was_in_dialout" >"$marker"
installed=1
run_dpkg -i "$deb" >"$tmp/install.log" || fail "dpkg -i failed" "$tmp/dpkg.log"
[[ $(pkg_state) == installed ]] || fail "dpkg status of towngw is $(pkg_state), not installed"
[[ $'\n'$(dpkg -s towngw)$'\n' == *$'\nStatus: install ok installed\n'* ]] ||
  fail "dpkg -s towngw does not say 'Status: install ok installed'"

expect_stat() { # PATH "MODE USER:GROUP"
  local got
  got=$(stat -c '%a %U:%G' "$1" 2>/dev/null) || fail "$1 is missing"
  [[ $got == "$2" ]] || fail "$1 is $got, expected $2"
}
check_installed_files() {
  expect_stat /usr/sbin/towngwd "755 root:root"
  expect_stat /usr/bin/towngw "755 root:root"
  expect_stat /etc/towngw "750 root:towngw"
  expect_stat /etc/towngw/towngw.json "640 root:towngw"
  expect_stat /var/lib/towngw "750 towngw:towngw"
  expect_stat /lib/systemd/system/towngw.service "644 root:root"
  expect_stat /usr/lib/modules-load.d/towngw.conf "644 root:root"
  local p
  for p in "$root"/config/devices/*.json; do
    expect_stat "/usr/share/towngw/devices/$(basename "$p")" "644 root:root"
  done
  for p in examples/99-towngw-serial.rules examples/towngw.json examples/lorawan-bins.json \
    README.md configuration.md copyright; do
    [[ -f /usr/share/doc/towngw/$p ]] || fail "/usr/share/doc/towngw/$p is missing"
  done
  [[ ! -e /usr/bin/towngw-sim ]] || fail "/usr/bin/towngw-sim was installed"
  getent passwd towngw >/dev/null || fail "user towngw does not exist"
  getent group towngw >/dev/null || fail "group towngw does not exist"
  [[ $(id -gn towngw) == towngw ]] || fail "towngw's primary group is $(id -gn towngw)"
  in_dialout || fail "user towngw is not in dialout: $(id -nG towngw)"
  (($(id -u towngw) < 1000)) || fail "towngw is not a system user (uid $(id -u towngw))"
  [[ -L /etc/systemd/system/multi-user.target.wants/towngw.service ]] ||
    fail "the unit is not enabled (no multi-user.target.wants/towngw.service symlink)"
}
check_installed_files
[[ $(/usr/sbin/towngwd --version) == "towngwd $upstream" ]] || fail "towngwd --version is not $upstream"

# Everything the daemon does in this test runs as towngw, without capabilities, like the unit.
as_towngw() {
  setpriv --reuid=towngw --regid=towngw --init-groups --no-new-privs --bounding-set=-all \
    --inh-caps=-all "$@"
}
as_towngw /usr/sbin/towngwd --check-config /etc/towngw/towngw.json >"$tmp/check-installed.log" 2>&1 ||
  fail "towngwd --check-config /etc/towngw/towngw.json failed (as towngw)" "$tmp/check-installed.log"

if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify --man=no /lib/systemd/system/towngw.service >"$tmp/verify.log" 2>&1 ||
    fail "systemd-analyze verify towngw.service" "$tmp/verify.log"
  systemd-analyze security --offline=true /lib/systemd/system/towngw.service >"$tmp/security.log" 2>&1 || true
  exposure=$(grep -o 'Overall exposure level for towngw.service: [0-9.]*' "$tmp/security.log" | grep -o '[0-9.]*$' || true)
  [[ -n $exposure ]] || fail "systemd-analyze security printed no exposure level" "$tmp/security.log"
  awk -v e="$exposure" 'BEGIN { exit !(e <= 2.5) }' ||
    fail "the unit's exposure level is $exposure (> 2.5): hardening regressed" "$tmp/security.log"
  log "unit verified, systemd-analyze security exposure $exposure"
fi

# --- b. run the installed daemon as towngw: a new database, then a schema-v3 one ---------------
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
json_field() { python3 -c 'import json, sys; v = json.load(open(sys.argv[1])).get(sys.argv[2]); print("" if v is None else v)' "$1" "$2" 2>/dev/null; }

"$build_dir/bin/towngw-sim" --scenario "$root/simulators/scenarios/demo.json" --tcp-port 0 \
  --rtu-tcp-port 0 --control-socket "$tmp/sim.control" --ready-file "$tmp/sim.ready" \
  >"$tmp/sim.log" 2>&1 &
sim_pid=$!
pids+=("$sim_pid")
sim_ready() { exited "$sim_pid" || [[ -n $(json_field "$tmp/sim.ready" rtu_tcp_port) ]]; }
wait_for 15 sim_ready || true
rtu_port=$(json_field "$tmp/sim.ready" rtu_tcp_port)
[[ -n $rtu_port ]] || fail "towngw-sim did not write its RTU-over-TCP port to its ready file" "$tmp/sim.log"

# One request on towngw-sim's control socket (one JSON line each way); fails unless "ok": true.
sim_control() { # JSON
  python3 - "$tmp/sim.control" "$1" >>"$tmp/sim-control.log" 2>&1 <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
reply = b""
while not reply.endswith(b"\n"):
    chunk = s.recv(4096)
    if not chunk:
        break
    reply += chunk
print(sys.argv[2], "->", reply.decode().strip())
sys.exit(0 if json.loads(reply).get("ok") is True else 1)
PY
}
# The sensor calibrated in b2. Its simulated probe sits in zero water from the start, reading
# 0.12 NTU (docs/calibration.md), before the technician starts, as on site: the daemon's live
# buffer for the calibration then holds no reading from before the standard.
cal_sensor=water1.turbidity
technician="deb-package-test"
sim_control '{"immerse":{"device":"water1","point":"turbidity","value":0.12,"noise_sd":0.00001}}' ||
  fail "towngw-sim did not put the turbidity probe into zero water (immerse)" "$tmp/sim-control.log"

db=/var/lib/towngw/outbox.db
# Read as towngw: a root connection could leave root-owned -wal/-shm files behind.
sql_on() { as_towngw sqlite3 -batch -cmd '.timeout 5000' "$1" "$2"; }
sql() { sql_on "$db" "$1"; }
# What a database's schema is: user_version (first line), every table, index and trigger with
# its columns, the meta keys. Compared between a new and a migrated database.
schema_of() { # DB
  [[ -f $1 ]] || { echo "$1 does not exist"; return 1; }
  as_towngw sqlite3 -batch -cmd '.timeout 5000' "$1" <<'SQL'
PRAGMA user_version;
SELECT m.type || ' ' || m.name || ifnull(' (' || (
         SELECT group_concat(c.name || ' ' || c.type
                || CASE WHEN c."notnull" THEN ' not null' ELSE '' END
                || CASE WHEN c.pk THEN ' pk' ELSE '' END
                || ifnull(' default ' || c.dflt_value, ''), ', ')
           FROM pragma_table_info(m.name) AS c) || ')', '')
  FROM sqlite_master AS m WHERE m.name NOT LIKE 'sqlite_%' ORDER BY m.type, m.name;
SELECT 'meta keys: ' || group_concat(key, ' ') FROM (SELECT key FROM meta ORDER BY key);
SQL
}

# As RuntimeDirectory=towngw would (postrm removes it on purge).
install -d -m 0750 -o towngw -g towngw /run/towngw

forget_pid() { # PID: reaped, no longer ours to stop
  local i
  for i in "${!pids[@]}"; do
    [[ ${pids[i]} == "$1" ]] && unset 'pids[i]'
  done
  pids=("${pids[@]}")
}

# With strace installed, the first run is traced: every system call towngwd makes after its
# execve must pass the unit's SystemCallFilter= (no systemd PID 1 here to enforce it for real).
strace_bin=$(command -v strace || true)
gateway_pid=""  # towngwd
launcher_pid="" # our child: towngwd itself, or strace tracing it
start_gateway() { # LOG BROKER_URI [trace|notrace [EXTRA_TOWNGWD_ARG...]]
  local log=$1 broker=$2 transport
  local -a tracer=()
  [[ ${3:-} == trace && -n $strace_bin ]] && tracer=("$strace_bin" -f -qq -o "$tmp/towngwd.strace")
  shift "$(($# < 3 ? $# : 3))"
  transport=$(printf '{"type":"modbus-rtu-over-tcp","host":"127.0.0.1","port":%s,"baud":9600,"parity":"N","data_bits":8,"stop_bits":1}' "$rtu_port")
  (
    cd /
    umask 0027
    exec "${tracer[@]}" setpriv --reuid=towngw --regid=towngw --init-groups --no-new-privs \
      --bounding-set=-all --inh-caps=-all /usr/sbin/towngwd --config /etc/towngw/towngw.json \
      --set "/mqtt/broker=$broker" \
      --set "/mqtt/reconnect_max_s=2" \
      --set "/devices/0/transport=$transport" \
      --set "/clock/trust=system" \
      --set "/sensors/0/window_s=1" --set "/sensors/1/window_s=1" --set "/sensors/2/window_s=1" \
      "$@"
  ) >"$log" 2>&1 &
  launcher_pid=$!
  pids+=("$launcher_pid")
  gateway_pid=$launcher_pid
  if ((${#tracer[@]})); then
    traced_child() { exited "$launcher_pid" || gateway_pid=$(pgrep -P "$launcher_pid" | head -n1); }
    wait_for 10 traced_child || fail "strace did not start towngwd" "$log"
    [[ -n $gateway_pid ]] || fail "strace exited without starting towngwd" "$log"
  fi
}
stop_gateway() { # LOG: SIGTERM, wait for the exit by PID, expect status 0
  local rc=0
  kill -TERM "$gateway_pid"
  wait_for 30 exited "$gateway_pid" || fail "towngwd did not exit within 30 s of SIGTERM" "$1"
  wait "$launcher_pid" || rc=$? # strace exits with its tracee's status
  forget_pid "$launcher_pid"
  ((rc == 0)) || fail "towngwd exited with status $rc after SIGTERM" "$1"
  gateway_pid=""
  launcher_pid=""
}
# System calls towngwd made (after its execve) that the installed unit's SystemCallFilter=
# lines would refuse: an allow list, then ~ lines remove and plain lines add back (systemd.exec).
syscalls_refused_by_unit() { # STRACE_OUTPUT
  python3 - "$1" /lib/systemd/system/towngw.service <<'PY'
import functools, re, subprocess, sys

@functools.lru_cache(None)
def expand(name):
    if not name.startswith("@"):
        return frozenset([name])
    out = subprocess.run(["systemd-analyze", "syscall-filter", name], capture_output=True,
                         text=True, check=True).stdout.splitlines()[1:]
    items = [l.strip() for l in out if l.strip() and not l.strip().startswith("#")]
    return frozenset().union(*(expand(i) for i in items)) if items else frozenset()

allowed = None
for line in open(sys.argv[2]):
    m = re.match(r"\s*SystemCallFilter=(.*)", line)
    if not m:
        continue
    value = m.group(1).strip()
    deny = value.startswith("~")
    names = frozenset().union(*(expand(n) for n in value.lstrip("~").split()))
    if allowed is None:
        if deny:
            sys.exit("the unit's first SystemCallFilter= is a deny list: not checked")
        allowed = set(names)
    elif deny:
        allowed -= names
    else:
        allowed |= names
if allowed is None:
    sys.exit("the unit has no SystemCallFilter=")
lines = open(sys.argv[1]).read().splitlines()
start = next(i for i, l in enumerate(lines) if re.search(r'execve\("/usr/sbin/towngwd".*= 0', l))
used = set()
for l in lines[start + 1:]:
    m = re.match(r"^\d+\s+(?:<\.\.\. (\w+) resumed>|(\w+)\()", l)
    if m:
        used.add(m.group(1) or m.group(2))
print(" ".join(sorted(used - allowed)))
print(f"{len(used)} distinct system calls used, {len(allowed)} allowed", file=sys.stderr)
PY
}

dead_broker_port=$(free_port)
# True once towngwd answers on its control socket, which it opens after its database (migrated).
daemon_answers() { exited "$gateway_pid" || as_towngw /usr/bin/towngw status --json >/dev/null 2>&1; }

# --- b1. a new database: the schema this towngwd gives a database it creates ---------------------
new_db=/var/lib/towngw/deb-test-new.db
log "towngwd (installed, as towngw) on a new database $new_db: RTU line -> towngw-sim 127.0.0.1:$rtu_port, broker -> 127.0.0.1:$dead_broker_port (nothing listens)"
start_gateway "$tmp/towngwd-new-db.log" "tcp://127.0.0.1:$dead_broker_port" notrace \
  --set "/storage/path=$new_db"
wait_for 15 daemon_answers || true
alive "$gateway_pid" || fail "towngwd exited on a new database" "$tmp/towngwd-new-db.log"
daemon_answers || fail "towngwd did not answer towngw status within 15 s (new database)" "$tmp/towngwd-new-db.log"
stop_gateway "$tmp/towngwd-new-db.log"
schema_of "$new_db" >"$tmp/schema-new.txt" 2>&1 ||
  fail "cannot read the schema of the new database $new_db" "$tmp/schema-new.txt"
current_version=$(head -n1 "$tmp/schema-new.txt")
if [[ ! $current_version =~ ^[0-9]+$ ]] || ((current_version <= 3)); then
  fail "a new database has user_version '$current_version', expected a number > 3" "$tmp/schema-new.txt"
fi
rm -f "$new_db" "$new_db-wal" "$new_db-shm" "$new_db.seq" "$new_db.seq.tmp"
leftover=$(find /var/lib/towngw -mindepth 1 -printf '%p ')
[[ -z $leftover ]] || fail "after removing the new database, /var/lib/towngw still holds: $leftover"

# --- b2. a database of schema version 3 in /var/lib/towngw, migrated by the installed daemon ------
# The schema as released with version 3 (tests/unit/store_test.cpp, "a database of the previous
# schema ..."), holding undelivered rows of an hour ago under this configuration's topic root;
# seqs 104 and 105 were delivered before the upgrade, so meta last_seq is above the last row.
topic_root=townbrain/v1/my-town/gw-01
old_seqs=(101 102 103)
old_last_seq=105
old_sensors=(water1.ph water1.temperature water1.turbidity)
old_metrics=(ph water_temperature turbidity)
old_units=(pH degC NTU)
old_means=(7.2 18.0 1.2)
old_s=$(($(date +%s) / 60 * 60 - 3600))
old_start=$(date -u -d "@$old_s" +%Y-%m-%dT%H:%M:%SZ)
old_end=$(date -u -d "@$((old_s + 60))" +%Y-%m-%dT%H:%M:%SZ)
: >"$tmp/old-payloads.txt"
{
  cat <<'SQL'
PRAGMA journal_mode=WAL;
CREATE TABLE outbox (seq INTEGER PRIMARY KEY, topic TEXT NOT NULL,
 payload TEXT NOT NULL, created_ms INTEGER NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
SQL
  printf "INSERT INTO meta(key, value) VALUES ('last_seq', %s);\n" "$old_last_seq"
  cat <<'SQL'
CREATE TABLE readings (id INTEGER PRIMARY KEY, sensor TEXT NOT NULL,
 boot_id TEXT NOT NULL, mono_ms INTEGER NOT NULL, wall_ms INTEGER NOT NULL,
 clock INTEGER NOT NULL, raw REAL NOT NULL, value REAL NOT NULL,
 quality INTEGER NOT NULL);
CREATE INDEX readings_by_sensor_time ON readings(sensor, wall_ms);
INSERT INTO meta(key, value) VALUES ('evicted_total', 0), ('rejected_total', 0);
INSERT INTO meta(key, value) VALUES ('eviction_span_first', 0),
 ('eviction_span_count', 0), ('last_eviction_event_seq', 0);
SQL
  for i in "${!old_seqs[@]}"; do
    m=${old_means[i]}
    payload=$(printf '{"v":1,"town_id":"my-town","gateway_id":"gw-01","seq":%s,"sensor":"%s","device":"water1","metric":"%s","unit":"%s","window_start":"%s","window_end":"%s","window_s":60,"count":60,"expected":60,"failed":0,"min":%s,"max":%s,"mean":%s,"last":%s,"quality":"good","flag":"N","clock":"synchronised","historical":true}' \
      "${old_seqs[i]}" "${old_sensors[i]}" "${old_metrics[i]}" "${old_units[i]}" "$old_start" "$old_end" "$m" "$m" "$m" "$m")
    printf '%s\n' "$payload" >>"$tmp/old-payloads.txt"
    printf "INSERT INTO outbox(seq, topic, payload, created_ms) VALUES (%s, '%s', '%s', %s);\n" \
      "${old_seqs[i]}" "$topic_root/data/${old_sensors[i]}" "$payload" "$((old_s * 1000 + 60000))"
  done
  echo 'PRAGMA user_version=3;'
} >"$tmp/schema-v3.sql"
(umask 0027 && as_towngw sqlite3 -batch "$db" <"$tmp/schema-v3.sql") >"$tmp/schema-v3.log" 2>&1 ||
  fail "could not create the schema-v3 database $db" "$tmp/schema-v3.log"
chown towngw:towngw "$db"
chmod 0640 "$db"
expect_stat "$db" "640 towngw:towngw"
[[ $(sql 'PRAGMA user_version;') == 3 ]] || fail "the hand-made database $db is not at user_version 3"
sql 'SELECT seq, topic, payload, created_ms FROM outbox ORDER BY seq;' >"$tmp/old-rows.txt"
printf '%s\n' "${old_seqs[@]}" >"$tmp/old.seqs"

log "towngwd (installed, as towngw) on $db of schema version 3 (${#old_seqs[@]} undelivered rows, last_seq $old_last_seq), broker -> 127.0.0.1:$dead_broker_port (nothing listens)"
start_gateway "$tmp/towngwd-1.log" "tcp://127.0.0.1:$dead_broker_port" trace
new_rows() { [[ -f $db ]] && sql "SELECT count(*) FROM outbox WHERE seq > $old_last_seq;" 2>/dev/null || echo 0; }
outbox_filled() { exited "$gateway_pid" || (($(new_rows) >= 6)); }
wait_for 30 outbox_filled || true
alive "$gateway_pid" || fail "towngwd exited (on the schema-v3 database)" "$tmp/towngwd-1.log"
(($(new_rows) >= 6)) || fail "the outbox holds $(new_rows) new rows after 30 s, expected >= 6" "$tmp/towngwd-1.log"
expect_stat /run/towngw/control.sock "660 towngw:towngw"
as_towngw /usr/bin/towngw status --json >"$tmp/status.json" 2>&1 ||
  fail "towngw status (installed CLI, default socket, as towngw) failed" "$tmp/status.json"
grep -q '"depth"' "$tmp/status.json" || fail "towngw status --json shows no outbox depth" "$tmp/status.json"

# The migration: the same schema as a new database, the old rows untouched, no seq reused.
schema_of "$db" >"$tmp/schema-migrated.txt" 2>&1 ||
  fail "cannot read the schema of the migrated database $db" "$tmp/schema-migrated.txt"
diff -u "$tmp/schema-new.txt" "$tmp/schema-migrated.txt" >"$tmp/schema.diff" ||
  fail "the schema-v3 database, migrated by towngwd, differs from a new database (user_version, tables, columns or meta keys; - new, + migrated)" "$tmp/schema.diff"
sql "SELECT seq, topic, payload, created_ms FROM outbox WHERE seq <= $old_last_seq ORDER BY seq;" \
  >"$tmp/old-rows-migrated.txt"
diff -u "$tmp/old-rows.txt" "$tmp/old-rows-migrated.txt" >"$tmp/old-rows.diff" ||
  fail "the rows of the schema-v3 database changed in the migration (- before, + after)" "$tmp/old-rows.diff"
first_new=$(sql "SELECT min(seq) FROM outbox WHERE seq NOT IN ($(IFS=,; echo "${old_seqs[*]}"));")
((first_new > old_last_seq)) ||
  fail "towngwd reused seqs after the migration: its first new row has seq $first_new, the old last_seq was $old_last_seq"
grep -q "schema v3 migrated to v$current_version" "$tmp/towngwd-1.log" ||
  fail "towngwd did not log the migration (\"schema v3 migrated to v$current_version\")" "$tmp/towngwd-1.log"
log "schema v3 -> v$current_version migrated on start (tables, columns and meta keys as a new database's), the ${#old_seqs[@]} old rows unchanged, new seqs from $first_new"

# --- b2 (cont.). a technician calibrates through the installed CLI -----------------------------
# The technician is in group towngw only (neither root nor the daemon's user): the socket's
# mode 0660 towngw:towngw and /run/towngw's 0750 towngw:towngw let the group in.
as_technician() { setpriv --reuid=nobody --regid=nogroup --groups=towngw "$@"; }
# export (JSON, with the hashes), history --json, show --json and the human history, as towngw.
fetch_calibration() { # PREFIX
  local what
  : >"$1.err"
  for what in export history show; do
    as_towngw /usr/bin/towngw calibration "$what" "$cal_sensor" --json >"$1-$what.json" 2>>"$1.err" ||
      fail "towngw calibration $what $cal_sensor --json (installed CLI, as towngw) failed" "$1.err"
  done
  as_towngw /usr/bin/towngw calibration history "$cal_sensor" >"$1-history.txt" 2>>"$1.err" ||
    fail "towngw calibration history $cal_sensor (installed CLI, as towngw) failed" "$1-history.txt"
  grep -qE "^v1 .* $technician " "$1-history.txt" ||
    fail "towngw calibration history $cal_sensor does not list v1 by $technician" "$1-history.txt"
  grep -q '^hash chain: ok' "$1-history.txt" ||
    fail "towngw calibration history $cal_sensor does not say 'hash chain: ok'" "$1-history.txt"
}
# Prints the calibration in one line, or what is wrong with it (exit 1). With a second PREFIX:
# the history entry must be exactly the one seen then (id, version, hashes, record, time).
check_calibration() { # PREFIX [PREFIX_BEFORE]
  python3 - "$cal_sensor" "$technician" "$@" <<'PY'
import json, sys

sensor, technician, prefix = sys.argv[1:4]
before_prefix = sys.argv[4] if len(sys.argv) > 4 else None

def load(p, what):
    try:
        with open(f"{p}-{what}.json") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"towngw calibration {what} --json: no JSON ({e})")

def sensor_entries(export):
    return [e for e in export.get("entries", []) if e.get("sensor") == sensor]

export, history, show = (load(prefix, w) for w in ("export", "history", "show"))
problems = []
for what, doc in (("export", export), ("history", history)):
    if not (doc.get("chain") or {}).get("ok"):
        problems.append(f"{what}: the hash chain is not ok: {doc.get('chain')}")
entries = sensor_entries(export)
if len(entries) != 1:
    sys.exit(f"export: {len(entries)} history entries of {sensor}, expected 1: {entries}")
entry = entries[0]
record = json.loads(entry["record"])
after = record.get("after") or {}
if entry.get("version") != 1 or record.get("version") != 1:
    problems.append(f"export: version {entry.get('version')} (record: {record.get('version')}), expected 1")
if record.get("technician") != technician:
    problems.append(f"export: technician {record.get('technician')!r}, expected {technician!r}")
if record.get("sensor") != sensor or record.get("action") != "calibration":
    problems.append(f"export: record of {record.get('sensor')!r}, action {record.get('action')!r}")
if not isinstance(after.get("offset"), (int, float)) or abs(after["offset"] + 0.12) > 0.01:
    problems.append(f"export: offset after the zero calibration is {after.get('offset')}, expected about -0.12")
records = history.get("records", [])
if records != [record]:
    problems.append(f"history: records {records} are not the exported record {record}")
current = show.get("calibration") or {}
if current.get("version") != 1 or current.get("state") != "valid":
    problems.append(f"show: the current calibration is version {current.get('version')}, state {current.get('state')!r}; expected version 1, valid")
for key in ("gain", "offset"):
    if not isinstance(current.get(key), (int, float)) or abs(current[key] - after.get(key, float("nan"))) > 1e-9:
        problems.append(f"show: {key} in force is {current.get(key)}, the record's is {after.get(key)}")
if show.get("calibrating") is not False:
    problems.append(f"show: calibrating is {show.get('calibrating')}, expected false")
if show.get("latest") != record:
    problems.append(f"show: the latest record {show.get('latest')} is not the exported record")
if before_prefix is not None:
    before = sensor_entries(load(before_prefix, "export"))
    if before != entries:
        problems.append(f"export: the history entry changed: before {before}, now {entries}")
if problems:
    sys.exit("; ".join(problems))
print(f"{sensor} v{entry['version']} (history entry {entry['id']}, hash {entry['hash'][:16]}...) by "
      f"{record['technician']}, offset {after['offset']:.4g}, state {current['state']}")
PY
}

log "towngw calibrate $cal_sensor --point 0 --commit (installed CLI, as nobody in group towngw; the probe in zero water)"
rc=0
(cd / && as_technician timeout -k 5 60 /usr/bin/towngw calibrate "$cal_sensor" \
  --technician "$technician" --reason scheduled --point 0 --lot DEB-TEST --note deb_package_test \
  --commit) >"$tmp/calibrate.log" 2>&1 || rc=$?
((rc == 0)) || fail "towngw calibrate $cal_sensor --point 0 --commit (installed CLI, as a member of group towngw) exited with status $rc" "$tmp/calibrate.log"
grep -q "^committed: $cal_sensor v1 " "$tmp/calibrate.log" ||
  fail "towngw calibrate did not print 'committed: $cal_sensor v1'" "$tmp/calibrate.log"
alive "$gateway_pid" || fail "towngwd exited during the calibration" "$tmp/towngwd-1.log"
fetch_calibration "$tmp/cal-before"
summary=$(check_calibration "$tmp/cal-before" 2>&1) || fail "after the calibration: $summary" "$tmp/calibrate.log"
log "calibrated: $summary"

stop_gateway "$tmp/towngwd-1.log"
if [[ -n $strace_bin ]] && command -v systemd-analyze >/dev/null; then
  refused=$(syscalls_refused_by_unit "$tmp/towngwd.strace" 2>"$tmp/syscalls.log") ||
    fail "could not check the system calls against the unit" "$tmp/syscalls.log"
  [[ -z $refused ]] || fail "towngwd made system calls that towngw.service's SystemCallFilter= refuses: $refused"
  log "system calls: $(cat "$tmp/syscalls.log"), none refused by the unit's SystemCallFilter="
fi
sql 'SELECT seq FROM outbox ORDER BY seq;' >"$tmp/buffered.seqs"
buffered=$(wc -l <"$tmp/buffered.seqs")
((buffered >= 6 + ${#old_seqs[@]})) || fail "only $buffered rows in the outbox after the stop"
log "outbox holds $buffered undelivered rows (seq $(head -n1 "$tmp/buffered.seqs")..$(tail -n1 "$tmp/buffered.seqs"))"
sql 'SELECT id, sensor, version, hash FROM calibrations ORDER BY id;' >"$tmp/calibrations.rows"
[[ $(wc -l <"$tmp/calibrations.rows") == 1 ]] || fail "the calibrations table holds not exactly the one calibration" "$tmp/calibrations.rows"
bad_owner=$(find /var/lib/towngw ! -user towngw -printf '%p ' 2>/dev/null)
[[ -z $bad_owner ]] || fail "not owned by towngw in /var/lib/towngw: $bad_owner"


# --- c. local edit of the conffile, two upgrades -------------------------------------------------
local_edit='// local edit (deb_package_test): must survive upgrades'
{ printf '%s\n' "$local_edit"; cat /etc/towngw/towngw.json; } >"$tmp/towngw.json.edited"
cat "$tmp/towngw.json.edited" >/etc/towngw/towngw.json # same inode, owner and mode
as_towngw /usr/sbin/towngwd --check-config /etc/towngw/towngw.json >"$tmp/check-edited.log" 2>&1 ||
  fail "the edited configuration does not validate" "$tmp/check-edited.log"

repack() { # REVISION CHANGE_CONFFILE(0/1) -> path of the new .deb on stdout
  local dir=$tmp/repack-$1 out
  out=$tmp/towngw_${upstream}-$1_${arch}.deb
  rm -rf "$dir"
  dpkg-deb -R "$deb" "$dir"
  sed -i "s/^Version: .*/Version: ${upstream}-$1/" "$dir/DEBIAN/control"
  if (($2)); then
    sed -i "1i // packaged change of revision $1" "$dir/etc/towngw/towngw.json"
  fi
  (cd "$dir" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | LC_ALL=C sort |
    xargs -d '\n' md5sum >DEBIAN/md5sums)
  dpkg-deb --root-owner-group -b "$dir" "$out" >/dev/null
  echo "$out"
}
check_after_upgrade() { # EXPECTED_VERSION
  [[ $(dpkg-query -W -f='${Version}' towngw) == "$1" ]] || fail "towngw is not at version $1 after the upgrade"
  [[ $(pkg_state) == installed ]] || fail "towngw is $(pkg_state) after the upgrade to $1"
  check_installed_files
  grep -qxF "$local_edit" /etc/towngw/towngw.json || fail "the local edit of /etc/towngw/towngw.json was lost by the upgrade to $1"
  sql 'SELECT seq FROM outbox ORDER BY seq;' >"$tmp/after-upgrade.seqs"
  cmp -s "$tmp/buffered.seqs" "$tmp/after-upgrade.seqs" ||
    fail "the outbox rows changed across the upgrade to $1 ($(wc -l <"$tmp/after-upgrade.seqs") rows, had $buffered)"
  sql 'SELECT id, sensor, version, hash FROM calibrations ORDER BY id;' >"$tmp/after-upgrade.calibrations"
  cmp -s "$tmp/calibrations.rows" "$tmp/after-upgrade.calibrations" ||
    fail "the calibration history changed across the upgrade to $1 (before: $(cat "$tmp/calibrations.rows"))" "$tmp/after-upgrade.calibrations"
  [[ $(sql 'PRAGMA user_version;') == "$current_version" ]] ||
    fail "the database's user_version is $(sql 'PRAGMA user_version;') after the upgrade to $1, was $current_version"
  bad_owner=$(find /var/lib/towngw ! -user towngw -printf '%p ' 2>/dev/null)
  [[ -z $bad_owner ]] || fail "after the upgrade to $1, not owned by towngw: $bad_owner"
}

rev2=$((revision + 1))
deb2=$(repack "$rev2" 0)
log "upgrade to ${upstream}-$rev2 (packaged conffile unchanged, plain dpkg -i)"
run_dpkg -i "$deb2" >"$tmp/upgrade2.log" || fail "dpkg -i (upgrade to ${upstream}-$rev2) failed" "$tmp/dpkg.log"
check_after_upgrade "${upstream}-$rev2"
[[ ! -e /etc/towngw/towngw.json.dpkg-dist ]] || fail "towngw.json.dpkg-dist appeared although the packaged conffile did not change"

rev3=$((revision + 2))
deb3=$(repack "$rev3" 1)
log "upgrade to ${upstream}-$rev3 (packaged conffile changed, --force-confdef --force-confold)"
run_dpkg --force-confdef --force-confold -i "$deb3" >"$tmp/upgrade3.log" ||
  fail "dpkg -i (upgrade to ${upstream}-$rev3) failed" "$tmp/dpkg.log"
check_after_upgrade "${upstream}-$rev3"
grep -q "packaged change of revision $rev3" /etc/towngw/towngw.json.dpkg-dist 2>/dev/null ||
  fail "the new packaged conffile was not kept as /etc/towngw/towngw.json.dpkg-dist"

# The upgraded daemon delivers the rows buffered before the upgrade to a real broker.
broker_extra=("user root") # stay root: no user switch for a test broker
start_broker "$tmp" "${broker_extra[@]}" || true
[[ -n $broker_port ]] || fail "mosquitto did not start" "$tmp/mosquitto.log"
mosquitto_sub -h 127.0.0.1 -p "$broker_port" -q 1 -i deb-package-test -t "$topic_root/#" \
  >"$tmp/received.jsonl" 2>"$tmp/sub.err" &
pids+=("$!")
sub_seen() { grep -q deb-package-test "$tmp/mosquitto.log"; }
wait_for 10 sub_seen || fail "the subscriber did not connect to mosquitto" "$tmp/mosquitto.log"
log "towngwd (upgraded) -> mosquitto 127.0.0.1:$broker_port"
start_gateway "$tmp/towngwd-2.log" "tcp://127.0.0.1:$broker_port"
max_seq=$(tail -n1 "$tmp/buffered.seqs")
all_delivered() {
  exited "$gateway_pid" && return 0
  grep -o '"seq":[0-9]*' "$tmp/received.jsonl" | grep -o '[0-9]*$' | LC_ALL=C sort -u >"$tmp/received.seqs"
  [[ -z $(LC_ALL=C sort "$tmp/buffered.seqs" | comm -23 - "$tmp/received.seqs") ]] &&
    [[ $(sql "SELECT count(*) FROM outbox WHERE seq <= $max_seq;" 2>/dev/null) == 0 ]]
}
wait_for 30 all_delivered || true
alive "$gateway_pid" || fail "the upgraded towngwd exited" "$tmp/towngwd-2.log"
missing=$(LC_ALL=C sort "$tmp/buffered.seqs" | comm -23 - "$tmp/received.seqs" | wc -l)
((missing == 0)) || fail "$missing of the $buffered buffered rows did not arrive at the broker within 30 s" "$tmp/towngwd-2.log"
left=$(sql "SELECT count(*) FROM outbox WHERE seq <= $max_seq;")
((left == 0)) || fail "$left buffered rows are still in the outbox after their delivery" "$tmp/towngwd-2.log"
grep -q '"historical":true' "$tmp/received.jsonl" || fail "no delivered message is marked historical" "$tmp/received.jsonl"
# The rows of the schema-v3 database arrived as stored, under their original seqs, and no other
# message carries a seq at or below the old last_seq.
while IFS= read -r payload; do
  grep -qxF -- "$payload" "$tmp/received.jsonl" ||
    fail "a row of the schema-v3 database did not arrive at the broker byte for byte: $payload" "$tmp/received.jsonl"
done <"$tmp/old-payloads.txt"
low=$({ grep -vxF -f "$tmp/old.seqs" "$tmp/received.seqs" || true; } | awk -v last="$old_last_seq" '$1 <= last' | tr '\n' ' ')
[[ -z $low ]] || fail "the broker received seqs at or below the schema-v3 database's last_seq $old_last_seq that are not its rows: $low"
log "all $buffered buffered rows arrived at the broker and left the outbox (the ${#old_seqs[@]} schema-v3 rows byte for byte, seqs ${old_seqs[*]})"

# The upgraded daemon still has the calibration made before the upgrades, as the one in force.
fetch_calibration "$tmp/cal-after"
summary=$(check_calibration "$tmp/cal-after" "$tmp/cal-before" 2>&1) ||
  fail "the calibration made before the upgrades, seen by the upgraded daemon: $summary" "$tmp/cal-after-history.txt"
alive "$gateway_pid" || fail "the upgraded towngwd exited" "$tmp/towngwd-2.log"
stop_gateway "$tmp/towngwd-2.log"
log "after the upgrades, still in force: $summary"

# --- d. purge ------------------------------------------------------------------------------------
log "dpkg --purge towngw"
run_dpkg --purge towngw >"$tmp/purge.log" || fail "dpkg --purge towngw failed" "$tmp/dpkg.log"
[[ $(pkg_state) == not-installed ]] || fail "after the purge dpkg says towngw is $(pkg_state)"
installed=0
for p in /usr/sbin/towngwd /usr/bin/towngw /etc/towngw /var/lib/towngw /run/towngw /usr/share/towngw \
  /usr/share/doc/towngw /lib/systemd/system/towngw.service /usr/lib/modules-load.d/towngw.conf \
  /etc/systemd/system/multi-user.target.wants/towngw.service; do
  [[ ! -e $p && ! -L $p ]] || fail "$p is still there after the purge"
done
# The user stays by design (Debian practice for system users).
getent passwd towngw >/dev/null || fail "the purge deleted user towngw (it should stay)"
remove_user_if_ours
rm -f "$marker"
log "PASS ($((SECONDS - t0)) s)"
