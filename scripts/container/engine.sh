#!/usr/bin/env bash
# Makes a container engine available for the container tests (tests/container/):
# installs Debian's docker.io + docker-compose (and debootstrap, which builds the stand-in
# base images) when missing, and starts dockerd when nothing answers on its socket.
#
#   engine.sh ensure      exit 0 when `docker info` answers afterwards; 1 when no engine can run here
#
# The daemon it starts keeps running (it is the machine's engine, like a systemd-started one);
# its log goes to .cache/container/dockerd.log.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LOG_DIR="$ROOT/.cache/container"

log() { echo "engine.sh: $*" >&2; }

answers() { timeout 20 docker info >/dev/null 2>&1; }

install_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  ((${#missing[@]})) || return 0
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    log "missing ${missing[*]} and cannot apt-get install them (not root on Debian)"
    return 1
  fi
  log "installing ${missing[*]} from Debian (once)..."
  # One installer at a time: parallel test files may all ask.
  mkdir -p "$LOG_DIR"
  exec 9>"$LOG_DIR/apt.lock"
  flock 9
  apt-get update -q >"$LOG_DIR/apt.log" 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    docker.io docker-compose debootstrap iptables >>"$LOG_DIR/apt.log" 2>&1 \
    || { tail -20 "$LOG_DIR/apt.log" >&2; return 1; }
  exec 9>&-
}

start_daemon() {
  answers && return 0
  command -v dockerd >/dev/null || return 1
  [[ $(id -u) -eq 0 ]] || { log "the Docker daemon does not answer and only root can start dockerd"; return 1; }
  mkdir -p "$LOG_DIR"
  exec 9>"$LOG_DIR/dockerd.lock"
  flock 9
  if ! answers; then
    log "starting dockerd (log: $LOG_DIR/dockerd.log)..."
    # Without systemd here: containerd is started by dockerd itself.
    setsid dockerd >"$LOG_DIR/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq 1 60); do answers && break; sleep 0.5; done
  fi
  exec 9>&-
  answers || { log "dockerd did not answer; last log lines:"; tail -20 "$LOG_DIR/dockerd.log" >&2; return 1; }
}

case ${1:-} in
  ensure) install_packages && start_daemon ;;
  *) sed -n '2,10s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
