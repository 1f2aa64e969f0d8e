#!/usr/bin/env bash
# Headless Chromium (Debian package `chromium`) for the `sv report` page test
# (crates/sv-cli/tests/report_cli.rs renders the HTML report and screenshots it).
# Idempotent: does nothing when /usr/bin/chromium is already there.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "chromium: present ($(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown'))" >&2
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium: /usr/bin/chromium is missing and apt-get is unavailable;" >&2
  echo "chromium: install the Debian/Ubuntu package 'chromium' (or set SV_CHROMIUM to a Chromium binary)" >&2
  exit 1
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo_cmd=(sudo)
  else
    echo "chromium: not root and sudo is unavailable; run as root: apt-get install -y --no-install-recommends chromium" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends chromium
/usr/bin/chromium --version >&2
