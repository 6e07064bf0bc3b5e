#!/bin/bash
# Soak and storms (soak.mjs): builds docsyncd in Release and runs MINUTES (default 30) of steady
# load on CONNS (5,000) connections, then the STORM (10,000) reconnect test. Not part of the
# README's test command; figures go to the README by hand. Loopback only.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-soak}
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
nice -n 10 cmake --build "$BUILD" -j2 --target docsyncd >/dev/null
ulimit -n "$(ulimit -Hn)"
DOCSYNCD=$BUILD/src/docsyncd NODE_PATH=$ROOT/node_modules node "$ROOT/tests/soak/soak.mjs"
