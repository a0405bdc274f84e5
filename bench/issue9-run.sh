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
#   torch-blas.txt                 PyTorch's own matmul 1024² GFLOP/s with 1 and 2 threads: Debian's
#                                  python3-torch calls whatever libblas.so.3 is installed, and with only the
#                                  reference libblas3 it runs at ~5 GFLOP/s (a PyTorch step ~20× slower than
#                                  with OpenBLAS: `apt-get install libopenblas0-pthread`). The script warns.
# Usage: bash bench/issue9-run.sh [OUT_DIR]   (default results/perf/<UTC date>; about 10 minutes)
# A bench that fails leaves its log and the script goes on; the exit status says whether any failed.
cd "$(dirname "$0")/.."
# shellcheck source=../scripts/setup.sh
source scripts/setup.sh > /dev/null # the Node of package.json "engines" first on PATH, node_modules, XDG_RUNTIME_DIR
set +e -uo pipefail
out="${1:-results/perf/$(date -u +%Y-%m-%d)}"
mkdir -p "$out"
failed=0
python="${WEBPEFT_PYTHON:-/usr/bin/python3}"
if "$python" -c "import torch" 2> /dev/null; then
  "$python" - > "$out/torch-blas.txt" << 'PY'
import time, torch
a = torch.randn(1024, 1024)
for threads in (1, 2):
    torch.set_num_threads(threads)
    a @ a
    start = time.perf_counter()
    for _ in range(10):
        a @ a
    seconds = (time.perf_counter() - start) / 10
    print(f"torch {torch.__version__} matmul 1024² with {threads} thread(s): {2 * 1024**3 / seconds / 1e9:.1f} GFLOP/s")
PY
  cat "$out/torch-blas.txt"
  if awk '{ if ($(NF-1) + 0 < 20) bad = 1 } END { exit !bad }' "$out/torch-blas.txt"; then
    echo "WARNING: PyTorch's matmul is slow: a reference BLAS? (apt-get install libopenblas0-pthread)" | tee -a "$out/torch-blas.txt"
  fi
fi
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
