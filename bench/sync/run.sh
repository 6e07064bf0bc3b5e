#!/usr/bin/env bash
# Document sync benchmarks (never a test): builds docsyncd and syncbench in Release in
# build-sync-bench/, starts docsyncd on a temporary data dir on the real disk (fsync is real),
# and prints one line per figure. Usage: bench/sync/run.sh [seconds-per-run]
# (BUILD=dir to build elsewhere; PEERS=0 to skip the Node peers.)
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-3}
build=${BUILD:-build-sync-bench}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target docsyncd syncbench snapload fsyncprobe >/dev/null
data=$(mktemp -d /var/tmp/docsync-bench-XXXXXX)
# Below the ephemeral range (32768 and up on Debian): there, the local end of any connection,
# the load generator's own included, may hold the port and the server would fail to bind it.
port=$((20000 + RANDOM % 12000))
REVERB_APP_ID=1 REVERB_APP_KEY=bench-key REVERB_APP_SECRET=bench-secret DOCSYNC_DATA_DIR="$data" \
  DOCSYNC_LOG_LEVEL=warn DOCSYNC_OPS_RETAIN=200000 DOCSYNC_BROADCAST_CONTENT_MAX="${CONTENT_MAX:-0}" \
  "$build/src/docsyncd" --port "$port" 2>"$data/server.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
sleep 1
sb() { "$build/bench/syncbench" "$@" --port "$port" --key bench-key --secret bench-secret; }
echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
# The disk's commit latency now, in the data directory's file system: the floor of every
# durable figure below (it moves by 10x from hour to hour on a shared VM).
"$build/bench/fsyncprobe" "$(dirname "$data")" 500
for w in 1 10 100; do sb write --writers "$w" --window 16 --seconds "$secs"; done
sb write --writers 100 --window 16 --docs 100 --seconds "$secs"
sb fanout --subs 100 --rate 1000 --seconds "$secs"
sb fanout --subs 100 --rate 200 --seconds "$secs"
for m in 1000 10000 100000; do sb catchup --missed "$m"; sb catchup --missed "$m" --merge 1; done
"$build/bench/fsyncprobe" "$(dirname "$data")" 500
# Snapshot load of the automerge-paper document (docsync: store + crdt; Yjs: applyUpdate, and
# Hocuspocus+SQLite's fetch + applyUpdate).
"$build/bench/snapload" /work/shared/traces/sequential/automerge-paper.json.gz 21
if [ "${PEERS:-1}" != 0 ] && [ -d bench/node_modules/@hocuspocus/server ]; then
  node bench/sync/yload.mjs automerge-paper 21
  # The Yjs servers on comparable workloads (Node clients; see peers.mjs and peers-load.mjs for
  # what each figure means).
  node bench/sync/peers.mjs 10000
  for k in hocuspocus hocuspocus+sqlite y-websocket; do
    for w in 10 100; do node bench/sync/peers-load.mjs "$k" write "$w" "$secs"; done
    node bench/sync/peers-load.mjs "$k" fanout 100 1000 "$secs"
  done
fi
