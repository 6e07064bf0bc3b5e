#!/usr/bin/env bash
# TLS beside plain text, docsyncd beside soketi 1.6.1 (bench/tls.mjs says what is measured).
# Builds Release in $BUILD (default build-bench, as fanout.sh), then runs the Node benchmark.
# soketi must be installed: npm ci --prefix bench (without it, docsyncd only).
# usage: bench/tls.sh [--quick] [--only docsyncd|soketi] [--modes "plain tls"] [--conns N] [--subs S] [--events K]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
if [ -z "${DOCSYNCD:-}" ]; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD" -j2 --target docsyncd >/dev/null
  DOCSYNCD=$BUILD/src/docsyncd
fi
NODE_PATH="$ROOT/node_modules" exec node "$ROOT/bench/tls.mjs" --docsyncd "$DOCSYNCD" "$@"
