#!/usr/bin/env bash
# The README's test command: set up what is missing (scripts/setup.sh: system packages, a Node that
# satisfies package.json engines, npm ci when the lockfile changed), then type-check and run every suite
# on Node and Deno, cpu and webgpu backends (`npm test`). The WebGPU suites fail, never skip, without an
# adapter. Environment knobs pass through: WEBPEFT_TEST_FILTER=matmul, WEBPEFT_TEST_BACKENDS=cpu, ….
set -euo pipefail
cd "$(dirname "$0")/.."

# Sourced, not run: its PATH (the npm registry's Node where the machine's is too old) must reach npm.
source scripts/setup.sh

echo "--- npm test on Node $(node --version)"
npm test
