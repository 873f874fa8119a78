# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
# Process helpers shared by scripts/demo.sh and scripts/bench-drain.sh (sourced, not run).
# Every wait is a condition polled against a deadline; processes are stopped by PID.

# Polls "$@" every 0.1 s until it succeeds or $1 seconds have passed.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# True when our child $1 has exited (gone, or a zombie not yet reaped by wait).
exited() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  stat=${stat##*) }
  [[ ${stat%% *} == Z ]]
}
alive() { ! exited "$1"; }

# True when something accepts TCP connections on 127.0.0.1:$1 (bash /dev/tcp, no extra tools).
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# SIGTERM, up to $2 s grace (default 10), SIGKILL, then reap.
stop_pid() {
  local pid=$1 grace=${2:-10}
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    wait_for "$grace" exited "$pid" || kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
