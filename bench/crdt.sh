#!/usr/bin/env bash
# CRDT benchmark: builds libcrdt in Release (native bench/crdt_bench and the
# wasm module) in its own build directory, then runs bench/crdt/run.mjs, which
# prints one table per trace with this library (native and wasm) beside Yjs,
# Loro, Automerge and diamond-types (median of 3 fresh processes). Extra
# arguments go to run.mjs, e.g.:
#   bash bench/crdt.sh --traces automerge-paper --runs 3
# Never a test; takes ~5 minutes (Automerge dominates).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${CRDT_BENCH_BUILD_DIR:-build-crdt-bench}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target crdt_bench crdt_wasm >/dev/null
if [ ! -d bench/node_modules/yjs ]; then
  npm ci --prefix bench --no-audit --no-fund --loglevel=error
fi
mkdir -p bench/results
exec node bench/crdt/run.mjs --native "$build/bench/crdt_bench" \
  --wasm "$build/clients/crdt/crdt.wasm" --json bench/results/crdt.json "$@"
