#!/usr/bin/env bash
# Docker Engine for the project's images and kind clusters, on a machine without a registry.
#
# Usage: scripts/docker-engine.sh up|down|network
#   up       install Debian's docker.io when dockerd is missing, put the network rules below in
#            place, then start dockerd when it is not running (its pid goes to
#            $EPPCONF_CACHE/docker/dockerd.pid). Where this host's capability bounding set lacks
#            capabilities, dockerd's default runtime is scripts/lib/oci-caps-runtime.py, which drops
#            them from each container's spec so that --privileged containers (kind nodes) start.
#   down     stop dockerd, only when `up` started it (by the recorded pid).
#   network  put the network rules in place (also done by `up`, before dockerd starts).
#
# Network rules: forwarded traffic that comes from a Docker bridge (docker0, br-*) and does not go
# to one is rejected when its destination is private (10/8, 172.16/12, 192.168/16), link-local,
# shared (100.64/10) or on a network this host is directly attached to; forwarded IPv6 from a
# Docker bridge to anywhere but a Docker bridge is rejected. Containers reach each other, the host
# and the public package registries, never the machine's outer network.
set -euo pipefail
SCRIPT_NAME=docker-engine
source "$(dirname "$0")/lib/gobuild.sh"

STATE_DIR="$EPPCONF_CACHE/docker"
PID_FILE="$STATE_DIR/dockerd.pid"
CHAIN=EPPCONF-EGRESS
BRIDGES=(docker0 br-+)
PRIVATE_V4=(10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 169.254.0.0/16 100.64.0.0/10)
WRAPPER="$(cd "$(dirname "$0")" && pwd)/lib/oci-caps-runtime.py"

# The IPv4 networks this host is directly attached to, other than Docker's bridges.
host_networks() {
  ip -4 route show scope link | awk '$2 == "dev" && $3 != "docker0" && $3 !~ /^br-/ && $3 != "lo" {print $1}'
}

# Fill CHAIN (TOOL is iptables or ip6tables) atomically, and make DOCKER-USER send bridge traffic
# through it.
install_rules() {  # tool, destinations (none: every destination)
  local tool="$1" bridge destination; shift
  {
    echo "*filter"
    echo ":$CHAIN - [0:0]"
    for bridge in "${BRIDGES[@]}"; do echo "-A $CHAIN -o $bridge -j RETURN"; done
    if (( $# == 0 )); then
      echo "-A $CHAIN -j REJECT"
    else
      for destination in "$@"; do echo "-A $CHAIN -d $destination -j REJECT"; done
    fi
    echo "COMMIT"
  } | "$tool-restore" --noflush
  "$tool" -N DOCKER-USER 2>/dev/null || true
  for bridge in "${BRIDGES[@]}"; do
    "$tool" -C DOCKER-USER -i "$bridge" -j "$CHAIN" 2>/dev/null || "$tool" -I DOCKER-USER -i "$bridge" -j "$CHAIN"
  done
  # The rule dockerd itself keeps first in FORWARD; first before dockerd has started, too.
  [[ "$("$tool" -S FORWARD | sed -n 2p)" == "-A FORWARD -j DOCKER-USER" ]] || "$tool" -I FORWARD -j DOCKER-USER
}

network() {
  command -v iptables >/dev/null || apt_install iptables
  local networks
  mapfile -t networks < <(host_networks)
  install_rules iptables "${PRIVATE_V4[@]}" "${networks[@]}"
  install_rules ip6tables
  step "network rules in place: chain $CHAIN (iptables, ip6tables) from DOCKER-USER"
}

running() { docker info >/dev/null 2>&1; }

# True when the recorded pid is a dockerd that is still running.
started_here() {
  [[ -f "$PID_FILE" ]] && [[ "$(cat "/proc/$(cat "$PID_FILE")/comm" 2>/dev/null)" == dockerd ]]
}

# True when this process's capability bounding set lacks a capability the kernel knows.
capabilities_incomplete() {
  local bounding last
  bounding="$(awk '/^CapBnd:/ {print $2}' /proc/self/status)"
  last="$(cat /proc/sys/kernel/cap_last_cap)"
  (( 16#$bounding != (1 << (last + 1)) - 1 ))
}

# The daemon.json of ours: the caps wrapper as default runtime when the bounding set needs it.
write_daemon_config() {
  local config="$STATE_DIR/daemon.json"
  if capabilities_incomplete; then
    step "capability bounding set is incomplete: default runtime is $WRAPPER"
    printf '{"ipv6": false, "default-runtime": "eppconf-runc", "runtimes": {"eppconf-runc": {"path": "%s"}}}\n' \
      "$WRAPPER" >"$config"
  else
    printf '{"ipv6": false}\n' >"$config"
  fi
  echo "$config"
}

up() {
  mkdir -p "$STATE_DIR"
  network
  if running; then
    if started_here; then
      step "dockerd is running (started by this script, pid $(cat "$PID_FILE"))"
    else
      step "dockerd is already running (not started by this script); leaving it as it is"
    fi
    return
  fi
  command -v dockerd >/dev/null || apt_install docker.io
  local config log="$STATE_DIR/dockerd.log"
  config="$(write_daemon_config)"
  step "starting dockerd (log: $log)"
  nohup dockerd --config-file "$config" >"$log" 2>&1 &
  echo $! >"$PID_FILE"
  local deadline=$((SECONDS + 60))
  until running; do
    kill -0 "$(cat "$PID_FILE")" 2>/dev/null || { step "dockerd exited; see $log"; tail -n 20 "$log" >&2; exit 1; }
    (( SECONDS < deadline )) || { step "dockerd did not answer within 60 s; see $log"; exit 1; }
    sleep 1
  done
  network  # dockerd re-inserts its own FORWARD rules at start; keep ours in front of them
  step "dockerd is running (pid $(cat "$PID_FILE"))"
}

down() {
  if ! started_here; then
    step "dockerd was not started by this script; leaving it as it is"
    rm -f "$PID_FILE"
    return
  fi
  local pid
  pid="$(cat "$PID_FILE")"
  step "stopping dockerd (pid $pid)"
  kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 1; done
  rm -f "$PID_FILE"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  network) network ;;
  *) echo "usage: $0 up|down|network" >&2; exit 2 ;;
esac
