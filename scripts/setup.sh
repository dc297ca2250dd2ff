#!/usr/bin/env bash
# Installs what the tests and the demo need on Debian/Ubuntu (idempotent; skips what is there).
set -euo pipefail
cd "$(dirname "$0")/.."

# The native renderer (webkit2gtk, under Xvfb, screenshots with ImageMagick) for the app's
# desktop build and its test.
packages=(pkg-config libssl-dev postgresql chromium fonts-noto-cjk
  libwebkit2gtk-4.1-dev libgtk-3-dev libxdo-dev libsoup-3.0-dev xvfb xauth imagemagick)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian package starts a cluster we do not use; tests start their own.
command -v node >/dev/null || { echo "setup: Node.js 18+ is needed for the browser tests"; exit 1; }
if [ -f tests/browser/package.json ] && [ ! -d tests/browser/node_modules/playwright-core ]; then
  echo "setup: npm ci (tests/browser)"
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi
