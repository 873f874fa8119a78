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

# Starts a private mosquitto on a free 127.0.0.1 port, its config and log in directory $1; the
# remaining arguments are extra config lines. Retries other ports if one is lost to a race.
# Sets broker_port and appends the broker's PID to the caller's `pids` array. The caller's
# `launcher` array, if set, prefixes the command (e.g. setsid). Returns 1 if it never starts.
# shellcheck disable=SC2034,SC2317  # broker_port is for the caller; broker_up runs via wait_for
start_broker() {
  local dir=$1 port pid line attempt
  local -a prefix=()
  [[ -v launcher ]] && prefix=("${launcher[@]}")
  shift
  broker_port=""
  for attempt in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 40000))
    port_open "$port" && continue
    {
      echo "# attempt $attempt"
      echo "listener $port 127.0.0.1"
      echo "allow_anonymous true"
      echo "persistence false"
      echo "log_dest stderr"
      for line in "$@"; do echo "$line"; done
    } >"$dir/mosquitto.conf"
    "${prefix[@]}" "${mosquitto_bin:-mosquitto}" -c "$dir/mosquitto.conf" >>"$dir/mosquitto.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    broker_up() { exited "$pid" || port_open "$port"; }
    wait_for 10 broker_up || true
    if alive "$pid" && port_open "$port"; then
      broker_port=$port
      return 0
    fi
    stop_pid "$pid" # lost the port race (or failed): try another
    unset 'pids[-1]'
  done
  return 1
}
