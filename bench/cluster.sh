#!/usr/bin/env bash
# Cluster benchmark: docsyncd nodes joined by one redis-server beside soketi 1.6.1 nodes on its
# Redis adapter, the same load generator (bench/loadgen) against both, in one run.
#
# Every scenario starts a fresh redis-server and fresh nodes, all pinned to one core
# (taskset -c $SRV_CPU) with loadgen on the other ($LG_CPU): on this 2-core machine the servers
# of a cluster share one core, so "deliveries per server CPU-second" is the comparable figure,
# not deliveries/s. Server CPU and RSS are the sum over every node and redis-server (loadgen
# --pid takes them all).
#
# Scenarios:
#   fan5     5,000 subscribers spread over the nodes (connection i on node i mod N), 5 events/s
#            published through node 1's HTTP API
#   fanfull  the same at full rate, 4 events in flight
#   xlat     1,000 events/s to 100 subscribers, all on node 2, published on node 1: every
#            delivery crosses the bus; beside it the same load on a single docsyncd (no cluster)
#            for the cross-node cost
#   presence 100 users, each on its own connection spread over the nodes, joining and leaving
#            one presence channel as fast as they can (bench/presence.mjs): joins/s, member
#            events delivered/s, server CPU per join
#   edits100 acknowledged durable document edits (bench/sync/syncbench write): 100 writers on
#            100 documents, writer i on node i mod N, 16 edits in flight each; each document's
#            home is the node of its writer (the first to use it), data on the real disk
#   edits1   the same 100 writers on ONE document: its home is one node, the other nodes'
#            writers are forwarded to it over Redis
#            (docsyncd only, cluster and one node: soketi keeps no documents)
# fan5 and fanfull also run on a single docsyncd without cluster mode ("docsyncd-1"), the
# baseline of the cluster's CPU per delivery.
#
# usage: bench/cluster.sh [--quick] [--nodes N] [--only "docsyncd docsyncd-1 soketi"] [--scenarios "fan5 fanfull xlat"]
#        bench/cluster.sh --table RESULTS
# env:   BUILD (Release build dir, default build-bench), SRV_CPU (0), LG_CPU (1), OUT, NICE (-10)
# Needs redis-server (Debian) and soketi (npm ci --prefix bench).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
SRV_CPU=${SRV_CPU:-0}
LG_CPU=${LG_CPU:-1}
# A session of its own with raised priority (bench/lib.sh). NICE=0 turns that off.
. "$ROOT/bench/lib.sh"
bench_own_session "$@"
OUT=${OUT:-$(mktemp -d /tmp/docsync-cluster-bench.XXXXXX)}
APP_ID=bench
APP_KEY=bench-key
APP_SECRET=bench-secret
NODES=3
QUICK=0
ONLY="docsyncd docsyncd-1 soketi"
SCENARIOS="fan5 fanfull xlat presence edits100 edits1"
TABLE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --nodes) NODES=$2; shift ;;
    --only) ONLY=$2; shift ;;
    --scenarios) SCENARIOS=$2; shift ;;
    --table) TABLE=$2; shift ;;
    *) echo "usage: $0 [--quick] [--nodes N] [--only LIST] [--scenarios LIST] [--table RESULTS]" >&2; exit 2 ;;
  esac
  shift
done

# The side-by-side table of a results file (lines: <scenario> <server> RESULT key=value ...).
print_table() {
  awk '
function get(line, key,   re) {
  re = " " key "=[^ ]*"
  return match(line, re) ? substr(line, RSTART + length(key) + 2, RLENGTH - length(key) - 2) : ""
}
{ r[$1, $2] = $0; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
function cell(sc, srv, key, scale, fmt,   v) {
  v = get(r[sc, srv], key)
  if (v == "") return "-"
  if (scale == -1) return v + 0 > 0 ? sprintf(fmt, 1e6 / v) : "-"
  return sprintf(fmt, v * scale)
}
function row(label, sc, key, scale, fmt) {
  printf "%-36s %12s %12s %12s\n", label, cell(sc, "docsyncd", key, scale, fmt),
    cell(sc, "soketi", key, scale, fmt), cell(sc, "docsyncd-1", key, scale, fmt)
}
END {
  printf "%-36s %12s %12s %12s\n", "scenario / metric", "docsyncd", "soketi", "docsyncd"
  printf "%-36s %12s %12s %12s\n", "", "cluster", "cluster", "one node"
  for (i = 1; i <= n; i++) {
    sc = order[i]
    if (sc == "fan5") print "fan-out, 5,000 subscribers over the nodes, 5 events/s"
    else if (sc == "fanfull") print "fan-out, 5,000 subscribers over the nodes, full rate, 4 in flight"
    else if (sc ~ /^edits/) {
      print (sc == "edits1") ? "durable edits: 100 writers over the nodes on 1 document" : \
                               "durable edits: 100 writers over the nodes on 100 documents"
      row("  acknowledged edits/s", sc, "acks_per_s", 1, "%.0f")
      row("  ack latency p50 ms", sc, "p50_ms", 1, "%.2f")
      row("  ack latency p99 ms", sc, "p99_ms", 1, "%.2f")
      row("  server CPU us/edit (all)", sc, "srv_us_per_ack", 1, "%.1f")
      row("  server CPU % (all processes)", sc, "srv_cpu_pct", 1, "%.0f")
      continue
    }
    else if (sc == "presence") {
      print "presence: 100 users over the nodes joining and leaving one channel"
      row("  joins/s (join + leave)", sc, "joins_per_s", 1, "%.0f")
      row("  member events delivered/s", sc, "member_events_per_s", 1, "%.0f")
      row("  join latency p50 ms", sc, "join_p50_ms", 1, "%.2f")
      row("  join latency p99 ms", sc, "join_p99_ms", 1, "%.2f")
      row("  server CPU us/join (all)", sc, "srv_us_per_join", 1, "%.1f")
      row("  server CPU % (all processes)", sc, "srv_cpu_pct", 1, "%.0f")
      row("  errors", sc, "errors", 1, "%d")
      row("  client CPU %", sc, "client_cpu_pct", 1, "%.0f")
      continue
    }
    else print "cross-node: 1,000 events/s, 100 subscribers on node 2, published on node 1"
    row("  deliveries/s", sc, "deliv_per_s", 1, "%.0f")
    row("  server CPU us/delivery (all)", sc, "srv_us_per_deliv", 1, "%.2f")
    row("  deliveries per server CPU-second", sc, "srv_us_per_deliv", -1, "%.0f")
    row("  server CPU % (all processes)", sc, "srv_cpu_pct", 1, "%.0f")
    row("  latency p50 ms", sc, "p50_us", 0.001, "%.2f")
    row("  latency p99 ms", sc, "p99_us", 0.001, "%.2f")
    row("  server RSS MB (all)", sc, "rss_kb", 1/1024, "%.1f")
    row("  lost deliveries", sc, "lost", 1, "%d")
    row("  loadgen CPU %", sc, "lg_cpu_pct", 1, "%.0f")
  }
}' "$1"
}

if [ -n "$TABLE" ]; then print_table "$TABLE"; exit 0; fi

WARMUP=3
DUR=10
[ "$QUICK" = 1 ] && { WARMUP=1; DUR=3; }
mkdir -p "$OUT"
RESULTS=$OUT/results.txt
: > "$RESULTS"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

echo "== build (Release, $BUILD) at commit $(git -C "$ROOT" rev-parse --short HEAD)" >&2
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DDOCSYNC_WERROR=OFF -DDOCSYNC_SANITIZE=OFF \
  -DDOCSYNC_SHARED_DIR="$ROOT/../shared" >"$OUT/configure.log" 2>&1
cmake --build "$BUILD" -j2 --target loadgen syncbench docsyncd >"$OUT/build.log" 2>&1
LOADGEN=$BUILD/bench/loadgen
SOKETI=$ROOT/bench/node_modules/@soketi/soketi/bin/server.js
if [ ! -f "$SOKETI" ]; then
  echo "soketi not installed (npm ci --prefix bench): docsyncd only" >&2
  ONLY=${ONLY/soketi/}
fi
{
  echo "started $(date -u +%FT%TZ); commit $(git -C "$ROOT" rev-parse --short HEAD); $NODES nodes"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); servers on CPU $SRV_CPU, loadgen on CPU $LG_CPU"
} > "$OUT/meta.txt"

PIDS=()
PORTS=()
start_redis() {
  local port
  port=$(free_port)
  (cd "$OUT" && exec taskset -c "$SRV_CPU" redis-server --port "$port" --bind 127.0.0.1 --save '' \
    --appendonly no --dir "$OUT" >"$OUT/redis-$port.log" 2>&1) &
  PIDS+=($!)
  wait_port "$port" $! 10 || { echo "redis-server did not start" >&2; return 1; }
  REDIS_PORT=$port
}

start_node() { # $1 = docsyncd|docsyncd-1|soketi, $2 = node number
  local port data log
  port=$(free_port)
  log=$OUT/$1-$2-$port.log
  case "$1" in
    docsyncd|docsyncd-1)
      data=$(mktemp -d "$OUT/data.XXXXXX")
      local cluster=()
      [ "$1" = docsyncd ] && cluster=(REVERB_SCALING_ENABLED=true "REDIS_URL=redis://127.0.0.1:$REDIS_PORT"
        "DOCSYNC_NODE_ID=node-$2")
      (cd "$OUT" && exec env REVERB_APP_ID=$APP_ID REVERB_APP_KEY=$APP_KEY REVERB_APP_SECRET=$APP_SECRET \
        DOCSYNC_CLIENT_EVENTS_PER_SECOND=0 DOCSYNC_API_REQUESTS_PER_SECOND=0 DOCSYNC_LOG_LEVEL=warn \
        DOCSYNC_BROADCAST_CONTENT_MAX=0 \
        "${cluster[@]}" taskset -c "$SRV_CPU" "$BUILD/src/docsyncd" --port "$port" --data "$data" >"$log" 2>&1) & ;;
    soketi)
      (cd "$OUT" && exec env SOKETI_PORT=$port SOKETI_DEFAULT_APP_ID=$APP_ID SOKETI_DEFAULT_APP_KEY=$APP_KEY \
        SOKETI_DEFAULT_APP_SECRET=$APP_SECRET SOKETI_DEFAULT_APP_ENABLE_CLIENT_MESSAGES=true \
        SOKETI_METRICS_SERVER_PORT="$(free_port)" SOKETI_ADAPTER_DRIVER=redis \
        SOKETI_DB_REDIS_HOST=127.0.0.1 SOKETI_DB_REDIS_PORT=$REDIS_PORT \
        taskset -c "$SRV_CPU" node "$SOKETI" start >"$log" 2>&1) & ;;
  esac
  PIDS+=($!)
  wait_port "$port" $! 10 || { echo "$1 node $2 did not start:" >&2; tail -5 "$log" >&2; return 1; }
  PORTS+=("$port")
}

stop_all() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  PIDS=()
  PORTS=()
}
trap stop_all EXIT

join() { local IFS=,; echo "$*"; }

for sc in $SCENARIOS; do
  for srv in $ONLY; do
    case "$sc:$srv" in edits*:soketi) continue ;; esac
    echo "== $sc on $srv" >&2
    n=$NODES
    [ "$srv" = docsyncd-1 ] && n=1
    ok=1
    if [ "$srv" != docsyncd-1 ]; then start_redis || ok=0; fi
    for i in $(seq 1 "$n"); do [ $ok = 1 ] && { start_node "$srv" "$i" || ok=0; }; done
    if [ $ok = 0 ]; then echo "$sc $srv RESULT error=1" >>"$RESULTS"; stop_all; continue; fi
    sleep 1 # the nodes hear each other's first heartbeat
    case "$sc" in
      fan5) args=(fanout -n 5000 --rate 5 --port "$(join "${PORTS[@]}")") ;;
      fanfull) args=(fanout -n 5000 --rate 0 --port "$(join "${PORTS[@]}")") ;;
      presence | edits*) args=() ;;
      xlat) sub=${PORTS[1]:-${PORTS[0]}}
            args=(fanout -n 100 --rate 1000 --port "$sub" --pub-port "${PORTS[0]}") ;;
    esac
    if [ "$sc" = edits100 ] || [ "$sc" = edits1 ]; then
      docs=100
      [ "$sc" = edits1 ] && docs=1
      line=$(taskset -c "$LG_CPU" timeout 90 "$BUILD/bench/syncbench" write --writers 100 --window 16 \
        --docs $docs --seconds $DUR --port "$(join "${PORTS[@]}")" --pid "$(join "${PIDS[@]}")" \
        --key $APP_KEY --secret $APP_SECRET 2> >(tee -a "$OUT/loadgen.log" >&2) | tee -a "$OUT/loadgen.log" |
        grep '^RESULT' || true)
    elif [ "$sc" = presence ]; then
      line=$(taskset -c "$LG_CPU" timeout 90 node "$ROOT/bench/presence.mjs" -n 100 --ports "$(join "${PORTS[@]}")" \
        --pids "$(join "${PIDS[@]}")" --key $APP_KEY --secret $APP_SECRET --label "$srv" \
        --warmup $WARMUP --duration $DUR 2> >(tee -a "$OUT/loadgen.log" >&2) | grep '^RESULT' || true)
    else
      line=$(taskset -c "$LG_CPU" "$LOADGEN" "${args[@]}" --warmup $WARMUP --duration $DUR \
        --pid "$(join "${PIDS[@]}")" --app-id $APP_ID --key $APP_KEY --secret $APP_SECRET \
        --label "$srv" --timeout 90 2> >(tee -a "$OUT/loadgen.log" >&2) | grep '^RESULT' || true)
    fi
    echo "$sc $srv ${line:-RESULT error=1}" >>"$RESULTS"
    stop_all
  done
done

echo "finished $(date -u +%FT%TZ); load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/meta.txt"
echo "Results: $RESULTS" >&2
print_table "$RESULTS"
