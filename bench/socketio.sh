#!/usr/bin/env bash
# Socket.IO benchmark: docsyncd and laravel-echo-server 1.6.3 side by side, both fed through
# Redis exactly as a Laravel app with BROADCAST_DRIVER=redis feeds them (bench/README-socketio.md).
#
# Builds Release (own build dir), starts one redis-server (pinned with the load generator), then
# for every scenario a FRESH server pinned to one core (taskset -c $SRV_CPU) and the load
# generator on the other ($LG_CPU), and does the same with the other server:
#   s1000    fan-out to 1,000 socket.io subscribers over WebSocket, Engine.IO 3 for both (the same
#            bytes on the wire: laravel-echo-server's socket.io 2 speaks only protocol 3), full rate
#   s1000v4  docsyncd only: the same over Engine.IO 4 (socket.io-client 3 and 4)
#   p1000    docsyncd only: the same 1,000 subscribers on the Pusher protocol, the same Redis input:
#            socket.io CPU per delivery beside the Pusher protocol's in one run
#   poll     delivery latency over long-polling: bench/socketio/poll.mjs, $POLL_CLIENTS
#            socket.io-client 2 clients with transports ['polling'], $POLL_RATE events/s
#   c2000    2,000 idle socket.io connections (Engine.IO 3), each subscribed to a channel of
#            its own: server RSS per connection
# Server CPU from /proc/<pid>/stat (all threads), RSS from /proc/<pid>/status. Prints one table;
# raw RESULT lines are kept in $OUT/results.txt.
# usage: bench/socketio.sh [--quick] [--only docsyncd|les] [--scenarios "s1000 p1000 ..."]
#        bench/socketio.sh --table RESULTS
# env:   BUILD (default build-bench), SRV_CPU (0), LG_CPU (1), OUT, NICE (-10), POLL_CLIENTS (300),
#        POLL_RATE (10)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
SRV_CPU=${SRV_CPU:-0}
LG_CPU=${LG_CPU:-1}
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_own_session "$@"
OUT=${OUT:-$(mktemp -d /tmp/docsync-sio-bench.XXXXXX)}
PREFIX=bench_database_ # what Laravel derives from APP_NAME=bench
QUICK=0
ONLY=""
TABLE=""
SCENARIOS="s1000 s1000v4 p1000 poll c2000"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --only) ONLY=$2; shift ;;
    --scenarios) SCENARIOS=$2; shift ;;
    --table) TABLE=$2; shift ;;
    *) echo "usage: $0 [--quick] [--only docsyncd|les] [--scenarios LIST] [--table RESULTS]" >&2; exit 2 ;;
  esac
  shift
done

print_table() {
  awk '
function get(line, key,   re) {
  re = " " key "=[^ ]*"
  if (match(line, re)) return substr(line, RSTART + length(key) + 2, RLENGTH - length(key) - 2)
  return ""
}
{ r[$1, $2] = $0; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
function fmtv(v, fmt, scale) { return v == "" ? "-" : (scale == -1 ? (v + 0 > 0 ? sprintf(fmt, 1e6 / v) : "-") : sprintf(fmt, v * scale)) }
function row(label, sc, key, scale, fmt, better,   a, b, ra) {
  a = get(r[sc, "docsyncd"], key); b = get(r[sc, "les"], key)
  if (a == "" && b == "") return
  ra = "-"
  if (better != "" && a != "" && b != "" && a + 0 > 0 && b + 0 > 0) ra = sprintf("%.2fx", (better == "hi") ? a / b : b / a)
  printf "%-40s %11s %11s %9s\n", label, fmtv(a, fmt, scale), fmtv(b, fmt, scale), ra
}
END {
  printf "%-40s %11s %11s %9s\n", "scenario / metric", "docsyncd", "l-e-server", "docsyncd"
  printf "%-40s %11s %11s %9s\n", "", "", "1.6.3", "better by"
  for (i = 1; i <= n; i++) {
    sc = order[i]
    if (sc ~ /^[sp]1000/) {
      print (sc == "s1000") ? "socket.io over WebSocket (Engine.IO 3), 1,000 subscribers, Redis input" : \
            (sc == "s1000v4") ? "socket.io over WebSocket (Engine.IO 4), 1,000 subscribers, Redis input" : \
                                "Pusher protocol, 1,000 subscribers, Redis input"
      row("  deliveries/s", sc, "deliv_per_s", 1, "%.0f", "hi")
      row("  server CPU us/delivery", sc, "srv_us_per_deliv", 1, "%.3f", "lo")
      row("  deliveries per server CPU-second", sc, "srv_us_per_deliv", -1, "%.0f", "lo")
      row("  server CPU %", sc, "srv_cpu_pct", 1, "%.0f", "")
      row("  latency p50 ms", sc, "p50_us", 0.001, "%.1f", "lo")
      row("  latency p99 ms", sc, "p99_us", 0.001, "%.1f", "lo")
      row("  lost deliveries", sc, "lost", 1, "%d", "")
      row("  connections dropped by server", sc, "lost_conns", 1, "%d", "")
    } else if (sc == "poll") {
      print "socket.io long-polling (socket.io-client 2), fixed rate, Redis input"
      row("  polling clients connected", sc, "connected", 1, "%d", "")
      row("  deliveries/s", sc, "deliv_per_s", 1, "%.0f", "")
      row("  latency p50 ms", sc, "p50_us", 0.001, "%.2f", "lo")
      row("  latency p99 ms", sc, "p99_us", 0.001, "%.2f", "lo")
      row("  latency max ms", sc, "max_us", 0.001, "%.2f", "lo")
      row("  server CPU us/delivery", sc, "srv_us_per_deliv", 1, "%.2f", "lo")
      row("  lost deliveries", sc, "lost", 1, "%d", "")
      row("  client process CPU % (100: clients limit)", sc, "client_cpu_pct", 1, "%.0f", "")
    } else if (sc == "c2000") {
      print "2,000 idle socket.io connections (Engine.IO 3, WebSocket), one channel each"
      row("  established", sc, "established", 1, "%d", "")
      row("  RSS before MB", sc, "rss_before_kb", 1/1024, "%.1f", "lo")
      row("  RSS held MB", sc, "rss_after_kb", 1/1024, "%.1f", "lo")
      row("  RSS per connection KB", sc, "rss_per_conn_b", 1/1024, "%.2f", "lo")
    }
  }
  if (r["s1000", "docsyncd"] != "" && r["p1000", "docsyncd"] != "") {
    a = get(r["s1000", "docsyncd"], "srv_us_per_deliv"); b = get(r["p1000", "docsyncd"], "srv_us_per_deliv")
    if (b + 0 > 0) printf "docsyncd socket.io (Engine.IO 3) / Pusher CPU per delivery: %.2f\n", a / b
  }
  if (r["s1000v4", "docsyncd"] != "" && r["p1000", "docsyncd"] != "") {
    a = get(r["s1000v4", "docsyncd"], "srv_us_per_deliv"); b = get(r["p1000", "docsyncd"], "srv_us_per_deliv")
    if (b + 0 > 0) printf "docsyncd socket.io (Engine.IO 4) / Pusher CPU per delivery: %.2f\n", a / b
  }
}' "$1"
}

if [ -n "$TABLE" ]; then print_table "$TABLE"; exit 0; fi

WARMUP=3; DUR=10; HOLD=3; PWARM=2; PDUR=10
if [ "$QUICK" = 1 ]; then WARMUP=1; DUR=3; HOLD=1; PWARM=1; PDUR=3; fi
POLL_CLIENTS=${POLL_CLIENTS:-300}
POLL_RATE=${POLL_RATE:-10}
mkdir -p "$OUT"
RESULTS=$OUT/results.txt
: > "$RESULTS"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "$(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg); output in $OUT" >&2

echo "== build (Release, $BUILD)" >&2
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DDOCSYNC_WERROR=OFF -DDOCSYNC_SANITIZE=OFF \
  -DDOCSYNC_SHARED_DIR="$ROOT/../shared" >"$OUT/configure.log" 2>&1
cmake --build "$BUILD" -j2 --target loadgen docsyncd >"$OUT/build.log" 2>&1
LOADGEN=$BUILD/bench/loadgen
LES=$ROOT/bench/node_modules/laravel-echo-server/bin/server.js
SERVERS="docsyncd les"
if [ ! -f "$LES" ]; then
  echo "laravel-echo-server not installed (npm ci --prefix bench); docsyncd only" >&2
  SERVERS=docsyncd
fi
[ -n "$ONLY" ] && SERVERS=$ONLY
{
  echo "started $(date -u +%FT%TZ); commit $(git -C "$ROOT" rev-parse --short HEAD)"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); server CPU $SRV_CPU, loadgen and redis CPU $LG_CPU;" \
       "warm-up $WARMUP s, measured $DUR s"
} > "$OUT/meta.txt"

REDIS_PORT=$(free_port)
taskset -c "$LG_CPU" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
  --dir "$OUT" >"$OUT/redis.log" 2>&1 &
REDIS_PID=$!
wait_port "$REDIS_PORT" "$REDIS_PID" || { echo "redis-server did not start" >&2; exit 1; }

SRV_PID=""
SRV_PORT=""
start_server() { # $1 = docsyncd|les
  SRV_PORT=$(free_port)
  local log=$OUT/$1-$SRV_PORT.log
  if [ "$1" = docsyncd ]; then
    local data
    data=$(mktemp -d "$OUT/data.XXXXXX")
    (cd "$OUT" && exec env REVERB_APP_ID=bench REVERB_APP_KEY=bench-key REVERB_APP_SECRET=bench-secret \
      BROADCAST_DRIVER=redis APP_NAME=bench REDIS_HOST=127.0.0.1 REDIS_PORT="$REDIS_PORT" \
      DOCSYNC_CLIENT_EVENTS_PER_SECOND=0 DOCSYNC_LOG_LEVEL=warn \
      taskset -c "$SRV_CPU" "$BUILD/src/docsyncd" --port "$SRV_PORT" --data "$data" >"$log" 2>&1) &
  else
    # laravel-echo-server with its Redis subscriber and Redis as its presence store, devMode off.
    local dir
    dir=$(mktemp -d "$OUT/les.XXXXXX")
    cat >"$dir/laravel-echo-server.json" <<JSON
{ "authHost": "http://127.0.0.1:9", "authEndpoint": "/broadcasting/auth", "clients": [],
  "database": "redis",
  "databaseConfig": { "redis": { "host": "127.0.0.1", "port": $REDIS_PORT, "keyPrefix": "$PREFIX" } },
  "devMode": false, "host": "127.0.0.1", "port": $SRV_PORT, "protocol": "http",
  "socketio": {}, "sslCertPath": "", "sslKeyPath": "",
  "subscribers": { "http": false, "redis": true },
  "apiOriginAllow": { "allowCors": false } }
JSON
    (cd "$dir" && exec taskset -c "$SRV_CPU" node "$LES" start --dir="$dir" >"$log" 2>&1) &
  fi
  SRV_PID=$!
  if ! wait_port "$SRV_PORT" "$SRV_PID"; then
    echo "$1 did not start; log:" >&2
    tail -5 "$log" >&2
    return 1
  fi
  sleep 1 # the Redis subscription is made after the port opens
}
stop_server() {
  if [ -n "$SRV_PID" ]; then
    kill "$SRV_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SRV_PID" 2>/dev/null || true
    wait "$SRV_PID" 2>/dev/null || true
  fi
  SRV_PID=""
}
cleanup() {
  stop_server
  kill "$REDIS_PID" 2>/dev/null || true
  wait "$REDIS_PID" 2>/dev/null || true
}
trap cleanup EXIT

lg_args() { # $1 = scenario
  local feed="--redis-port $REDIS_PORT --redis-prefix $PREFIX"
  case "$1" in
    s1000) echo "fanout -n 1000 --sio 3 --rate 0 --warmup $WARMUP --duration $DUR $feed" ;;
    s1000v4) echo "fanout -n 1000 --sio 4 --rate 0 --warmup $WARMUP --duration $DUR $feed" ;;
    p1000) echo "fanout -n 1000 --rate 0 --warmup $WARMUP --duration $DUR $feed" ;;
    c2000) echo "connect -n 2000 --sio 3 --subscribe --hold $HOLD" ;;
  esac
}

for sc in $SCENARIOS; do
  servers=$SERVERS
  case "$sc" in s1000v4 | p1000) servers=${servers/les/} ;; esac
  for srv in $servers; do
    echo "== $sc on $srv" >&2
    if ! start_server "$srv"; then stop_server; continue; fi
    if [ "$sc" = poll ]; then
      line=$(taskset -c "$LG_CPU" node "$ROOT/bench/socketio/poll.mjs" --port "$SRV_PORT" \
        --redis-port "$REDIS_PORT" --prefix "$PREFIX" --pid "$SRV_PID" --clients "$POLL_CLIENTS" \
        --rate "$POLL_RATE" --warmup "$PWARM" --duration "$PDUR" --client 2 --label "$srv" \
        2> >(tee -a "$OUT/poll.log" >&2) | grep '^RESULT' || true)
    else
      # shellcheck disable=SC2046
      line=$(taskset -c "$LG_CPU" "$LOADGEN" $(lg_args "$sc") --port "$SRV_PORT" --pid "$SRV_PID" \
        --app-id bench --key bench-key --secret bench-secret --label "$srv" --timeout 90 \
        2> >(grep -v '^loadgen: connection .* lost' | tee -a "$OUT/loadgen.log" >&2) | grep '^RESULT' || true)
    fi
    kill -0 "$SRV_PID" 2>/dev/null || echo "$srv died during $sc" >&2
    echo "$sc $srv ${line:-RESULT error=1}" >>"$RESULTS"
    stop_server
  done
done

echo >&2
echo "Results ($RESULTS); server on CPU $SRV_CPU, loadgen and redis on CPU $LG_CPU;" \
     "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "finished $(date -u +%FT%TZ); load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/meta.txt"
print_table "$RESULTS"
