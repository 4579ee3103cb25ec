#!/usr/bin/env bash
# Make sure the browser the console's browser tests drive is installed: Debian's Chromium (never a
# Playwright browser download), its driver, and one CJK font so Chinese pages render as text, not boxes.
#
#   scripts/browser.sh        (`make test` calls it; run as root on Debian 12, or with sudo available)
#
# Anything already present is left alone; otherwise `apt-get update && apt-get install -y` adds it.
set -euo pipefail

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || [ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
if ! command -v fc-list >/dev/null 2>&1 || [ -z "$(fc-list :lang=zh family 2>/dev/null)" ]; then
  need+=(fonts-wqy-microhei)  # a fresh machine has no fontconfig yet: install the font with chromium
fi

if [ ${#need[@]} -eq 0 ]; then
  echo "browser.sh: chromium, chromium-driver and a CJK font are installed"
  exit 0
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo_cmd=(sudo); else
    echo "browser.sh: FAILED: need root (or sudo) to install: ${need[*]}" >&2; exit 1
  fi
fi
echo "browser.sh: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${need[@]}"
if [ ! -x /usr/bin/chromium ]; then
  echo "browser.sh: FAILED: /usr/bin/chromium is still missing after installing ${need[*]}" >&2
  exit 1
fi
echo "browser.sh: ready: $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
