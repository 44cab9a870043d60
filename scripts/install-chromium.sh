#!/usr/bin/env bash
# Installs the headless Chromium the dashboard end-to-end test drives (tests/e2e/dashboard.test.ts).
# Idempotent: does nothing when /usr/bin/chromium is already there. Needs root and a reachable
# Debian/Ubuntu package mirror.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
[ -x "$CHROMIUM" ] && exit 0

fail() {
  echo "install-chromium: $1" >&2
  exit 1
}

command -v apt-get >/dev/null || fail "apt-get not found: install Chromium by hand so that $CHROMIUM exists"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || fail "must run as root (or with sudo) to apt-get install chromium"
  SUDO=(sudo -n)
fi

echo "install-chromium: installing chromium with apt-get…" >&2
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! "${SUDO[@]}" apt-get update -qq >"$log" 2>&1 \
  || ! "${SUDO[@]}" apt-get install -y -qq chromium >>"$log" 2>&1; then
  cat "$log" >&2
  fail "apt-get install chromium failed (see above)"
fi
[ -x "$CHROMIUM" ] || fail "chromium was installed but $CHROMIUM is missing"
echo "install-chromium: $("$CHROMIUM" --version 2>/dev/null || echo chromium) installed" >&2
