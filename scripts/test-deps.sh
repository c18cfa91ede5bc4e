#!/usr/bin/env bash
# Run by `npm test` before the tests: makes sure what the tests need outside node_modules is here.
# Today that is a Chromium for the webview tests (test/unit/webview.test.ts drives the real webview
# bundles in a headless browser). It is found at $CHROMIUM_PATH or /usr/bin/chromium; on Debian or
# Ubuntu it is installed with apt-get (as root, or through sudo) and this says so. Where it can be
# neither found nor installed, this fails and says how to install it: no test is skipped for it.
set -euo pipefail

say() { printf '== test-deps: %s\n' "$*" >&2; }
chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"

if [ -x "$chromium" ]; then
  exit 0
fi
if [ -n "${CHROMIUM_PATH:-}" ]; then
  say "CHROMIUM_PATH=$CHROMIUM_PATH is not an executable file"
  exit 1
fi

sudo=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo"; else sudo="none"; fi
fi
if command -v apt-get >/dev/null && [ "$sudo" != none ]; then
  say "the webview tests need Chromium: installing Debian's package 'chromium' with apt-get (once, about a minute)"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
  $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
  if [ -x /usr/bin/chromium ]; then
    say "installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
    exit 0
  fi
  say "apt-get finished but /usr/bin/chromium is still missing"
  exit 1
fi

say "the webview tests need Chromium and none was found at /usr/bin/chromium."
say "Install it (Debian/Ubuntu: 'sudo apt-get install chromium'; elsewhere any Chromium or Chrome build)"
say "and, if it is not at /usr/bin/chromium, point CHROMIUM_PATH at its executable. Then run npm test again."
exit 1
