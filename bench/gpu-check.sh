#!/usr/bin/env bash
# GPU check, for a machine with a real GPU, in under 5 minutes: prints the WebGPU adapter (vendor,
# architecture, device, description, the limits that matter, subgroup sizes, features), then runs
#   step --backend webgpu --json   the training-step bench on the GPU (bench/step.ts; full size on a GPU:
#                                  T5-small, 8×128→8), with its same-run PyTorch CPU step of that model;
#                                  its webgpu-captured rows are replayed steps (what `webpeft train` runs):
#                                  on a GPU their host ms, not the device, should bound the step
#   matmul --quick                 GFLOP/s of the WGSL matmul kernels, every case (bench/matmul.ts)
#   step --backend cpu --json      the step bench's cpu engine (small model) and PyTorch's, in the time left
# (together what `npm run bench -- step --json` and `npm run bench -- matmul --quick` print, split so that
# the GPU's rows come first and survive a time limit). Each bench has a time limit; a bench cut short is
# reported as "partial", whatever it printed is kept. PyTorch: $WEBPEFT_PYTHON, else /usr/bin/python3, else
# the `python3` on PATH when only that one imports torch (the H200 image's /opt/torch/.venv).
#
# Output folder (--out DIR, else $OUT when set, else bench-results/gpu-check-<UTC timestamp>):
#   gpu-check.log   everything printed          adapter.json   the adapter: info, limits, features
#   matmul.log      the matmul bench's output   step.jsonl     one JSON line per engine and method
#   step.log        the step benches' output (their stderr included)
#
# Fails (non-zero, with a message) when there is no WebGPU adapter (exit 3), or when the adapter is a
# CPU/software one (lavapipe's "llvmpipe", SwiftShader: exit 4) unless --allow-cpu is given; then every
# bench runs in its quick mode with short limits. Exit 5: a bench failed; 2: bad arguments or pack.
#
# Usage:  bash bench/gpu-check.sh [--allow-cpu] [--pack DIR] [--out DIR] [--quick|--full]
#   default   Node and node_modules from scripts/setup.sh (sourced: Node 24 first on PATH, npm ci when
#             needed), benches through `npm run bench`
#   --pack D  offline: everything from D, made by `bash bench/gpu-pack.sh` (D normally .gpu-pack): the
#             bundled benches, the webgpu addon, a Node binary; no npm, no network. Unpacks D/gl/*.deb and
#             .gl/*.deb (the Vulkan loader) when the host has no libvulkan.so.1
#   --quick   quick mode for the GPU step bench too;  --full  matmul in full size too (adds CPU products
#             up to 2048³: minutes)
# Knobs: GPU_CHECK_BUDGET_S (total seconds for the benches, default 280), GPU_CHECK_GL_ROOT (where the
# debs are unpacked: / as root, else a private folder on LD_LIBRARY_PATH), GPU_CHECK_FORCE_GL=1 (unpack
# them even when a loader is there).
#
# On the lent GPU machine (the `run` tool; an NVIDIA H200 host with no internet and maybe no Node):
#   here, once per change to the code:   bash bench/gpu-pack.sh        (prints its size: must be < 60 MiB)
#   then the call:   run(command: "bash bench/gpu-check.sh --pack .gpu-pack",
#                        carry: [".gpu-pack"], timeout_s: 420)
#   add ".gl" to carry if you brought loader debs there yourself (device README); results come back
#   from $OUT. Driver fallback, as that README says: when no Vulkan ICD for NVIDIA is in the standard
#   folders (or no GPU adapter shows up), VK_DRIVER_FILES is set to
#   /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ALLOW_CPU=0
PACK=""
OUTDIR=""
MODE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --allow-cpu) ALLOW_CPU=1 ;;
    --pack) PACK="${2:?--pack needs a folder}"; shift ;;
    --pack=*) PACK="${1#--pack=}" ;;
    --out) OUTDIR="${2:?--out needs a folder}"; shift ;;
    --out=*) OUTDIR="${1#--out=}" ;;
    --quick) MODE=quick ;;
    --full) MODE=full ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-check: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ -n "$PACK" ]; then
  [ -f "$PACK/SHA256SUMS" ] && [ -f "$PACK/bench/run.mjs" ] || { echo "gpu-check: $PACK is no gpu pack (make one with: bash bench/gpu-pack.sh)" >&2; exit 2; }
  PACK="$(cd "$PACK" && pwd)"
fi
OUTDIR="${OUTDIR:-${OUT:-$ROOT/bench-results/gpu-check-$(date -u +%Y%m%dT%H%M%SZ)}}"
mkdir -p "$OUTDIR" || exit 2
OUTDIR="$(cd "$OUTDIR" && pwd)"
BUDGET_S="${GPU_CHECK_BUDGET_S:-280}"
NVIDIA_ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
NVIDIA_EGL=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json

say() { echo "gpu-check: $*"; }
die() { local rc="$1"; shift; echo "gpu-check: FAILED: $*" >&2; exit "$rc"; }

have_vulkan_loader() {
  { ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null; } | grep -q 'libvulkan\.so\.1' && return 0
  local d
  for d in ${LD_LIBRARY_PATH:+${LD_LIBRARY_PATH//:/ }} /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu /usr/lib64 /usr/lib /usr/local/lib; do
    [ -e "$d/libvulkan.so.1" ] && return 0
  done
  return 1
}

# Vulkan ICD manifests in the loader's standard folders.
icd_files() {
  local d
  for d in "${XDG_CONFIG_HOME:-$HOME/.config}/vulkan/icd.d" /etc/xdg/vulkan/icd.d /etc/vulkan/icd.d \
    "${XDG_DATA_HOME:-$HOME/.local/share}/vulkan/icd.d" /usr/local/share/vulkan/icd.d /usr/share/vulkan/icd.d; do
    ls "$d"/*.json 2>/dev/null
  done
}

use_nvidia_icd() {
  export VK_DRIVER_FILES="$NVIDIA_ICD"
  [ -f "$NVIDIA_EGL" ] && export __EGL_VENDOR_LIBRARY_FILENAMES="$NVIDIA_EGL"
  say "VK_DRIVER_FILES=$VK_DRIVER_FILES (the NVIDIA driver's own ICD manifest)"
}

# Decompress an .xz file: xz when there, else Python's lzma (bare images often lack xz-utils).
unxz_to() {
  if command -v xz >/dev/null; then
    xz -dc "$1" >"$2.tmp"
  elif command -v python3 >/dev/null; then
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"), 1 << 20)' "$1" "$2.tmp"
  else
    echo "gpu-check: neither xz nor python3 here to unpack $1" >&2
    return 1
  fi && mv "$2.tmp" "$2"
}

# --pack: the runtime tree (bench/run.mjs, node/node, node_modules/webgpu with dawn.node) unpacked once per pack
# into a temporary folder, outside the checkout (so it never travels), and checked against SHA256SUMS.
unpack_runtime() {
  local key rt f
  key="$(sha256sum "$PACK/SHA256SUMS" | cut -c1-16)"
  rt="${TMPDIR:-/tmp}/webpeft-gpu-pack-$(id -u)/$key"
  if [ ! -f "$rt/.ok" ]; then
    local t0=$SECONDS
    rm -rf "$rt"
    mkdir -p "$rt" || return 1
    while IFS= read -r f; do
      mkdir -p "$rt/$(dirname "$f")"
      case "$f" in
        *.xz) unxz_to "$PACK/$f" "$rt/${f%.xz}" || return 1 ;;
        *) cp "$PACK/$f" "$rt/$f" ;;
      esac
    done < <(cd "$PACK" && find . -type f ! -path './gl/*' -printf '%P\n')
    chmod +x "$rt/node/node"
    (cd "$rt" && sha256sum -c --quiet "$PACK/SHA256SUMS") || { echo "gpu-check: $PACK does not match its SHA256SUMS" >&2; return 1; }
    touch "$rt/.ok"
    say "pack unpacked into $rt in $((SECONDS - t0)) s" >&2
  fi
  echo "$rt"
}

# Loader debs (device README): into / as root (then ldconfig), else into a private folder on LD_LIBRARY_PATH.
unpack_gl_debs() {
  local debs=() f root
  shopt -s nullglob
  debs=("$PACK"/gl/*.deb "$ROOT"/.gl/*.deb)
  shopt -u nullglob
  if [ ${#debs[@]} = 0 ]; then
    have_vulkan_loader || say "no libvulkan.so.1 on this host and no loader debs in $PACK/gl or .gl: Dawn will find no adapter"
    return 0
  fi
  if have_vulkan_loader && [ "${GPU_CHECK_FORCE_GL:-0}" != 1 ]; then
    say "libvulkan.so.1 present: loader debs left packed"
    return 0
  fi
  command -v dpkg >/dev/null || { say "no dpkg here: cannot unpack the loader debs"; return 0; }
  root="${GPU_CHECK_GL_ROOT:-}"
  if [ -z "$root" ]; then
    if [ "$(id -u)" = 0 ]; then root=/; else root="$RT/gl-root"; fi
  fi
  mkdir -p "$root"
  for f in "${debs[@]}"; do dpkg -x "$f" "$root" || say "dpkg -x $f failed"; done
  if [ "$root" = / ]; then
    ldconfig
  else
    export LD_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    say "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  fi
  say "unpacked ${#debs[@]} loader debs into $root"
}

# The adapter, as the benches get it (runners/node/webgpu.ts: create([]), requestAdapter() with no
# options): prints it, writes adapter.json; exit 0 hardware, 3 none, 4 CPU/software.
PROBE='
import { pathToFileURL } from "node:url";
import { writeFileSync } from "node:fs";
const [webgpuPath, outPath] = process.argv.slice(2);
const write = (o) => writeFileSync(outPath, JSON.stringify(o, null, 2) + "\n");
let mod;
try { mod = await import(pathToFileURL(webgpuPath).href); }
catch (e) { write({ adapter: null, error: String(e) }); console.error(`cannot load the webgpu package (${webgpuPath}): ${e.message}`); process.exit(3); }
Object.assign(globalThis, mod.globals);
let adapter = null, error = null;
try { adapter = await mod.create([]).requestAdapter(); } catch (e) { error = String(e); }
if (!adapter) { write({ adapter: null, error }); console.log(`no WebGPU adapter${error ? `: ${error}` : " (requestAdapter returned null)"}`); process.exit(3); }
const info = {}; for (const k in adapter.info) info[k] = adapter.info[k];
const limits = {}; for (const k in adapter.limits) limits[k] = adapter.limits[k];
const features = [...adapter.features].sort();
const names = ["vendor", "architecture", "device", "description"].map((k) => info[k] ?? "").join(" ");
const software = /llvmpipe|lavapipe|softpipe|swiftshader/i.test(names) || info.architecture === "software" || info.isFallbackAdapter === true;
let device = "ok";
try { const d = await adapter.requestDevice(); d.destroy(); } catch (e) { device = `requestDevice failed: ${e}`; }
const sub = { min: info.subgroupMinSize ?? limits.minSubgroupSize, max: info.subgroupMaxSize ?? limits.maxSubgroupSize };
write({ adapter: { info, limits, features }, software, device });
const MiB = (n) => `${n} (${(n / 1048576).toFixed(0)} MiB)`;
console.log(`vendor:        ${info.vendor || "-"}`);
console.log(`architecture:  ${info.architecture || "-"}`);
console.log(`device:        ${info.device || "-"}`);
console.log(`description:   ${info.description || "-"}`);
console.log(`kind:          ${software ? "CPU / software (fallback) adapter" : "hardware"}${info.isFallbackAdapter !== undefined ? `, isFallbackAdapter ${info.isFallbackAdapter}` : ""}`);
console.log(`subgroups:     ${sub.min === undefined ? "sizes not exposed" : `min ${sub.min}, max ${sub.max}`}${features.includes("subgroups") ? "" : " (no subgroups feature)"}`);
console.log(`limits:        maxComputeWorkgroupStorageSize ${limits.maxComputeWorkgroupStorageSize}, maxStorageBufferBindingSize ${MiB(limits.maxStorageBufferBindingSize)}, maxBufferSize ${MiB(limits.maxBufferSize)}`);
console.log(`               maxComputeInvocationsPerWorkgroup ${limits.maxComputeInvocationsPerWorkgroup}, maxComputeWorkgroupSizeX/Y/Z ${limits.maxComputeWorkgroupSizeX}/${limits.maxComputeWorkgroupSizeY}/${limits.maxComputeWorkgroupSizeZ}, maxComputeWorkgroupsPerDimension ${limits.maxComputeWorkgroupsPerDimension}, maxStorageBuffersPerShaderStage ${limits.maxStorageBuffersPerShaderStage}`);
console.log(`features:      ${features.join(" ")}`);
console.log(`requestDevice: ${device}`);
process.exit(software ? 4 : 0);
'

# The step benches' JSON lines → a table (rows of both runs, in order; a "measured": false line says why
# PyTorch was not measured).
STEP_TABLE='
const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
const f = (x, d = 1) => (typeof x === "number" ? x.toFixed(d) : "-");
const col = (x, w) => String(x ?? "-").padEnd(w);
console.log(`${col("engine", 16)} ${col("method", 6)} ${col("model", 9)} ${col("batch", 9)} ${"launches".padStart(8)} ${"host ms med".padStart(11)} ${"µs/launch".padStart(9)} ${"step ms min/med".padStart(17)} ${"÷ pytorch".padStart(9)} ${"bind groups".padStart(11)}`);
for (const r of lines) {
  if (r.measured === false) { console.log(`${col(r.engine, 16)} not measured: ${r.reason}`); continue; }
  console.log(`${col(r.engine, 16)} ${col(r.method, 6)} ${col(r.model, 9)} ${col(r.batch, 9)} ${String(r.launchesPerStep ?? "-").padStart(8)} ${f(r.hostMs?.median).padStart(11)} ${f(r.usPerLaunch).padStart(9)} ${`${f(r.stepMs?.min)} / ${f(r.stepMs?.median)}`.padStart(17)} ${f(r.vsPytorch, 2).padStart(9)} ${f(r.bindGroupsPerStep).padStart(11)}`);
}
'

declare -A STATUS=()
ORDER=()
# run_bench LABEL CAP_S LOGFILE ARGS…: one bench under a time limit (within what is left of the budget).
run_bench() {
  local label="$1" cap="$2" log="$3" left rc t0
  shift 3
  ORDER+=("$label")
  left=$((BUDGET_S - (SECONDS - BENCH_START)))
  [ "$cap" -gt "$left" ] && cap="$left"
  if [ "$cap" -lt 10 ]; then
    STATUS[$label]="skipped (no time left in the ${BUDGET_S} s budget)"
    say "$label: ${STATUS[$label]}"
    return 0
  fi
  echo
  echo "== $label (args: $*; limit ${cap} s) =="
  t0=$SECONDS
  timeout --kill-after=10 "$cap" "${BENCH[@]}" "$@" 2>&1 | tee -a "$log"
  rc=${PIPESTATUS[0]}
  case "$rc" in
    0) STATUS[$label]="ok in $((SECONDS - t0)) s" ;;
    124|137) STATUS[$label]="partial: stopped at its ${cap} s limit (output kept)" ;;
    *) STATUS[$label]="FAILED (exit $rc) after $((SECONDS - t0)) s"; FAILED=1 ;;
  esac
  say "$label: ${STATUS[$label]}"
}

main() {
  echo "== gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ) =="
  say "output: $OUTDIR"
  say "host: $(uname -srm), $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null) memory"
  if command -v nvidia-smi >/dev/null; then
    say "nvidia-smi: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -n 4 | tr '\n' ';')"
  fi
  export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-runtime-$(id -u)}"
  mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

  if [ -n "$PACK" ]; then
    say "pack: $PACK"
    sed 's/^/  /' "$PACK/MANIFEST.txt" 2>/dev/null
    RT="$(unpack_runtime)" || die 2 "could not unpack $PACK"
    # Warn when the repository's sources changed since the bundle was made (when they are here to compare).
    if [ -f "$PACK/inputs.txt" ] && [ -f "$PACK/source.sha256" ] && (cd "$ROOT" && xargs -a "$PACK/inputs.txt" ls >/dev/null 2>&1); then
      if [ "$(cd "$ROOT" && xargs -a "$PACK/inputs.txt" sha256sum | sha256sum | cut -d' ' -f1)" != "$(cat "$PACK/source.sha256")" ]; then
        say "WARNING: the sources changed since $PACK was made: the benches run the packed (older) code; rerun bash bench/gpu-pack.sh"
      fi
    fi
    unpack_gl_debs
    NODE="$RT/node/node"
    WEBGPU_JS="$RT/node_modules/webgpu/index.js"
    BENCH=("$NODE" "$RT/bench/run.mjs")
  else
    # shellcheck disable=SC1091
    source "$ROOT/scripts/setup.sh" || die 2 "scripts/setup.sh failed"
    set +e
    NODE="$(command -v node)"
    WEBGPU_JS="$ROOT/node_modules/webgpu/index.js"
    BENCH=(npm run --silent bench --)
  fi
  say "node: $("$NODE" --version) ($NODE)"

  # Vulkan: the loader, the ICDs, and the NVIDIA driver's own manifest when none is in the standard folders.
  if have_vulkan_loader; then say "vulkan loader: libvulkan.so.1 found"; else say "vulkan loader: libvulkan.so.1 NOT found"; fi
  say "vulkan ICDs: $(icd_files | tr '\n' ' ')${VK_DRIVER_FILES:+ VK_DRIVER_FILES=$VK_DRIVER_FILES}${VK_ICD_FILENAMES:+ VK_ICD_FILENAMES=$VK_ICD_FILENAMES}"
  local set_icd=0
  if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] && [ -f "$NVIDIA_ICD" ] && ! icd_files | grep -qi nvidia; then
    use_nvidia_icd
    set_icd=1
  fi

  echo
  echo "== WebGPU adapter =="
  local probe rc
  probe="$(mktemp --suffix=.mjs "${TMPDIR:-/tmp}/gpu-check-probe.XXXXXX")"
  printf '%s' "$PROBE" >"$probe"
  timeout 60 "$NODE" "$probe" "$WEBGPU_JS" "$OUTDIR/adapter.json" 2>&1
  rc=$?
  if [ "$rc" != 0 ] && [ "$set_icd" = 0 ] && [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] && [ -f "$NVIDIA_ICD" ]; then
    say "no hardware adapter; trying again with the NVIDIA driver's ICD"
    use_nvidia_icd
    timeout 60 "$NODE" "$probe" "$WEBGPU_JS" "$OUTDIR/adapter.json" 2>&1
    rc=$?
  fi
  rm -f "$probe"
  local software=0
  case "$rc" in
    0) ;;
    4)
      software=1
      if [ "$ALLOW_CPU" = 1 ]; then
        say "CPU/software adapter, allowed by --allow-cpu: quick benches with short limits"
      else
        die 4 "the WebGPU adapter is a CPU/software one (see above), not a GPU. Is the GPU's Vulkan driver installed (ICD manifest in /usr/share/vulkan/icd.d, or VK_DRIVER_FILES)? Pass --allow-cpu to run anyway."
      fi ;;
    3) die 3 "no WebGPU adapter found. Dawn needs the Vulkan loader (libvulkan.so.1) and a driver ICD; on the lent H200 use --pack (it unpacks the loader debs) or see /work/.library/device/README.md." ;;
    *) die 3 "the adapter probe failed (exit $rc)" ;;
  esac

  # quick everywhere on a CPU adapter; on a GPU the step bench at T5-small size, matmul quick (all GPU cases)
  local step_args=() matmul_args=(--quick) cap_step=120 cap_matmul=100 cap_cpu=150
  if [ "$software" = 1 ]; then
    [ "$MODE" = full ] || { step_args=(--quick); }
    cap_step=60 cap_matmul=60 cap_cpu=60
  elif [ "$MODE" = quick ]; then
    step_args=(--quick)
  fi
  [ "$MODE" = full ] && matmul_args=()
  # PyTorch for the step bench's reference rows (bench/step.ts: $WEBPEFT_PYTHON, else /usr/bin/python3)
  if [ -z "${WEBPEFT_PYTHON:-}" ] && ! timeout 60 /usr/bin/python3 -c 'import torch' >/dev/null 2>&1; then
    local py
    py="$(command -v python3 || true)"
    if [ -n "$py" ] && [ "$py" != /usr/bin/python3 ] && timeout 60 "$py" -c 'import torch' >/dev/null 2>&1; then
      export WEBPEFT_PYTHON="$py"
    fi
  fi
  say "PyTorch reference: ${WEBPEFT_PYTHON:-/usr/bin/python3}"
  : >"$OUTDIR/step.log"
  BENCH_START=$SECONDS
  FAILED=0
  run_bench "step webgpu" "$cap_step" "$OUTDIR/step.log" step --backend webgpu --json "${step_args[@]}"
  run_bench "matmul" "$cap_matmul" "$OUTDIR/matmul.log" matmul "${matmul_args[@]}"
  run_bench "step cpu" "$cap_cpu" "$OUTDIR/step.log" step --backend cpu --json "${step_args[@]}"
  grep '^{"bench":"step"' "$OUTDIR/step.log" >"$OUTDIR/step.jsonl"

  echo
  echo "== summary =="
  say "adapter: $("$NODE" -e 'const a = require(process.argv[1]).adapter?.info ?? {}; console.log(["vendor", "architecture", "device", "description"].map((k) => a[k] || "-").join(" / "))' "$OUTDIR/adapter.json" 2>&1) ($([ "$software" = 1 ] && echo "CPU/software, --allow-cpu" || echo hardware))"
  local l
  for l in "${ORDER[@]}"; do say "$l: ${STATUS[$l]}"; done
  if [ -s "$OUTDIR/step.jsonl" ]; then
    "$NODE" -e "$STEP_TABLE" "$OUTDIR/step.jsonl"
  fi
  say "files: $(cd "$OUTDIR" && ls | tr '\n' ' ')in $OUTDIR"
  say "total $SECONDS s"
  [ "$FAILED" = 0 ] || die 5 "a bench failed (see above)"
  say "OK"
}

main 2>&1 | tee "$OUTDIR/gpu-check.log"
exit "${PIPESTATUS[0]}"
