#!/usr/bin/env bash
# The README's demo command: set up what is missing (scripts/setup.sh), then fine-tune with the
# `webpeft train` command from the sources (`npm run webpeft` = tsx runners/node/cli.ts, no build step;
# an installed package runs the same command as `npx webpeft train`). Arguments go to `train`.
set -euo pipefail
cd "$(dirname "$0")/.."

# Sourced, not run: its PATH (the npm registry's Node where the machine's is too old) must reach npm.
source scripts/setup.sh

echo "--- webpeft train on Node $(node --version)"
npm run --silent webpeft -- train "$@"
