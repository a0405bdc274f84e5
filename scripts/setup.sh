#!/usr/bin/env bash
# Everything webpeft needs on a fresh clone, done once and skipped when already done:
#   1. system packages (scripts/install-system-deps.sh: Mesa's lavapipe, WebGPU without a GPU), on
#      Debian/Ubuntu, redone only when that script changes;
#   2. a Node that satisfies package.json "engines" (>= 22.19, what @effect/platform-node declares):
#      the machine's own when it is new enough, else the npm registry's `node` package (a real Node
#      binary; LTS line WEBPEFT_NODE_MAJOR, default 24) installed once under ~/.cache/webpeft and put
#      first on PATH, so npm, npx and every script after this one run on it;
#   3. `npm ci`, only when package-lock.json (or the Node ABI) changed since the last install;
#   4. XDG_RUNTIME_DIR, which Mesa's Vulkan loader and Dawn expect and CI shells often lack.
#
# Usage:   bash scripts/setup.sh      set up, and print the PATH line for your own shell
#          source scripts/setup.sh    set up and keep PATH in this shell (scripts/test.sh, demo.sh, .ci/run)
# Knobs:   WEBPEFT_SKIP_SYSTEM_DEPS=1 (no apt), WEBPEFT_NODE_MAJOR=26 (another LTS line),
#          WEBPEFT_FORCE_SETUP=1 (redo every step).
set -euo pipefail

webpeft_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
webpeft_cache="${XDG_CACHE_HOME:-$HOME/.cache}/webpeft"
mkdir -p "$webpeft_cache"

# sha256 of a file, as a bare hex string.
webpeft_hash() { sha256sum "$1" | cut -d' ' -f1; }

# --- 1. system packages -------------------------------------------------------------------------
# The stamp lives outside the checkout (no .gitignore entry needed) and holds the hash of the install
# script, so another engineer adding a package there makes every machine install it once more.
webpeft_system_deps() {
  local stamp="$webpeft_cache/system-deps.sha256" want
  want="$(webpeft_hash "$webpeft_root/scripts/install-system-deps.sh")"
  if [ "${WEBPEFT_SKIP_SYSTEM_DEPS:-0}" = "1" ]; then
    echo "setup: system packages skipped (WEBPEFT_SKIP_SYSTEM_DEPS=1)"
  elif [ "${WEBPEFT_FORCE_SETUP:-0}" != "1" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "setup: system packages already installed"
  elif ! command -v apt-get >/dev/null; then
    # Not Debian/Ubuntu: the user's own GPU driver (or Mesa) has to provide Vulkan/Metal/D3D12.
    echo "setup: no apt-get here; install a WebGPU-capable driver yourself (see README, Set up)"
  elif [ "$(id -u)" != "0" ] && ! command -v sudo >/dev/null; then
    echo "setup: not root and no sudo: run scripts/install-system-deps.sh as root once" >&2
  else
    bash "$webpeft_root/scripts/install-system-deps.sh"
    echo "$want" >"$stamp"
  fi
}

# --- 2. Node ------------------------------------------------------------------------------------
# True when `node` on PATH satisfies the minimum in package.json "engines" (a ">=x.y.z" range).
webpeft_node_ok() {
  command -v node >/dev/null || return 1
  node -e '
    const want = require(process.argv[1]).engines.node.replace(/^>=\s*/, "").split(".").map(Number);
    const have = process.versions.node.split(".").map(Number);
    for (let i = 0; i < 3; i++) if ((have[i] ?? 0) !== (want[i] ?? 0)) process.exit((have[i] ?? 0) > (want[i] ?? 0) ? 0 : 1);
  ' "$webpeft_root/package.json"
}

webpeft_node() {
  local major="${WEBPEFT_NODE_MAJOR:-24}"
  local prefix="$webpeft_cache/node-$major"
  local bin="$prefix/node_modules/.bin"
  # The machine's own Node when it is new enough, unless a line was asked for by name.
  if [ "${WEBPEFT_FORCE_SETUP:-0}" != "1" ] && [ -z "${WEBPEFT_NODE_MAJOR:-}" ] && webpeft_node_ok && [ "$(command -v node)" != "$bin/node" ]; then
    echo "setup: using this machine's Node $(node --version) ($(command -v node))"
    return
  fi
  if [ ! -x "$bin/node" ] || [ "${WEBPEFT_FORCE_SETUP:-0}" = "1" ]; then
    if ! command -v npm >/dev/null; then
      # npm is how we fetch a newer Node; Debian's own nodejs/npm (older) is enough to bootstrap it.
      if command -v apt-get >/dev/null && { [ "$(id -u)" = "0" ] || command -v sudo >/dev/null; }; then
        local sudo=""; [ "$(id -u)" = "0" ] || sudo=sudo
        $sudo apt-get install -y -q nodejs npm
      else
        echo "setup: no npm on PATH; install Node.js ≥ 22.19 (https://nodejs.org) and run again" >&2
        return 1
      fi
    fi
    echo "setup: this machine's Node ($(node --version 2>/dev/null || echo none)) is older than package.json engines; installing node@$major from the npm registry into $prefix"
    # The npm package `node` depends on node-<os>-<arch>, which ships the official binary; its
    # preinstall step links it. --no-save/--no-package-lock: this folder is a cache, not a project.
    npm install --prefix "$prefix" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "node@$major"
  fi
  case ":$PATH:" in
    *":$bin:"*) ;; # already first from an earlier `source` (test.sh after .ci/run)
    *) export PATH="$bin:$PATH" ;;
  esac
  hash -r
  webpeft_node_ok || { echo "setup: $bin/node ($(node --version)) does not satisfy package.json engines" >&2; return 1; }
  echo "setup: using Node $(node --version) from the npm registry ($bin/node)"
}

# --- 3. npm dependencies ------------------------------------------------------------------------
# The stamp sits inside node_modules, so anything that wipes node_modules also invalidates it. It names
# the lockfile's hash and the Node ABI (process.versions.modules) that installed it.
webpeft_npm_deps() {
  local stamp="$webpeft_root/node_modules/.webpeft-setup" want
  want="$(webpeft_hash "$webpeft_root/package-lock.json") abi-$(node -p process.versions.modules)"
  if [ "${WEBPEFT_FORCE_SETUP:-0}" != "1" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "setup: node_modules matches package-lock.json"
  else
    echo "setup: npm ci (package-lock.json changed or node_modules missing)"
    (cd "$webpeft_root" && npm ci --no-audit --no-fund)
    echo "$want" >"$stamp"
  fi
  echo "setup: Deno $("$webpeft_root/node_modules/.bin/deno" --version | head -n1 | cut -d' ' -f2) (npm package \"deno\", node_modules/.bin/deno)"
}

# --- 4. runtime dir -----------------------------------------------------------------------------
webpeft_runtime_dir() {
  export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-runtime-$(id -u)}"
  mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
}

webpeft_system_deps
webpeft_node
webpeft_npm_deps
webpeft_runtime_dir

# Run directly (not sourced): the PATH change dies with this process, so say how to keep it.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  echo "setup: done. In your shell: export PATH=\"$(dirname "$(command -v node)"):\$PATH\" (or use scripts/test.sh, scripts/demo.sh)"
fi
