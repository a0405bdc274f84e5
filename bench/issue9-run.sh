#!/usr/bin/env bash
# The performance figures of one run on this kind of machine (2 cores, lavapipe, Debian's python3-torch),
# every bench in sequence so that none shares the cores with another, into one folder:
#   step.out / step.err           `bench -- step --json`: T5-small KronA and LoRA steps on webgpu (8×128→8),
#                                  the small model on cpu, each against a same-run PyTorch CPU step
#   step-quick.out               `bench -- step --quick --json --no-torch`: the tiny batch where device
#                                  time is small, for host µs per launch (min and median of the rounds)
#   t5.out                         `bench -- t5`: forward vs forward+backward (backward ÷ forward)
#   matmul.out                     `bench -- matmul`: GFLOP/s, WGSL kernels and the cpu backend vs its JS loop
#   peers-node.out / peers-deno.out  `bench -- peers`: webpeft vs tfjs-webgpu and jax-js, Node and Deno
# Usage: bash bench/issue9-run.sh [OUT_DIR]   (default results/perf/<UTC date>; about 20 minutes)
# A bench that fails leaves its log and the script goes on; the exit status says whether any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-results/perf/$(date -u +%Y-%m-%d)}"
mkdir -p "$out"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
failed=0
run() { # name, command...
  local name="$1"; shift
  echo "== $name: $* ($(date -u +%H:%M:%S))"
  if ! "$@" > "$out/$name.out" 2> "$out/$name.err"; then echo "   FAILED (see $out/$name.err)"; failed=1; fi
}
run step npx tsx bench/run.ts step --json
run step-quick npx tsx bench/run.ts step --quick --json --no-torch
run t5 npx tsx bench/run.ts t5
run matmul npx tsx bench/run.ts matmul
run peers-node npx tsx bench/run.ts peers
run peers-deno node_modules/.bin/deno run -A bench/run.ts peers
git rev-parse HEAD > "$out/commit.txt" 2>/dev/null
echo "done: $out (failed: $failed)"
exit "$failed"
