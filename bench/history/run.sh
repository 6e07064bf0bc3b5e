#!/bin/bash
# Channel history benchmark: builds docsyncd in Release and runs history.mjs against it, which
# prints publish-to-delivery latency (p50/p99) and server CPU per event for a history channel
# beside a plain one (1,000 events/s to 100 subscribers by default), then the time to recover
# 1,000 and 10,000 missed events. Loopback only; never a pass/fail test.
# BUILD=dir builds elsewhere than build-history-bench; RATE, SUBS, SECONDS_EACH tune the load.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-history-bench}
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
nice -n 10 cmake --build "$BUILD" -j2 --target docsyncd >/dev/null
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
DOCSYNCD=$BUILD/src/docsyncd NODE_PATH=$ROOT/node_modules node "$ROOT/bench/history/history.mjs"
