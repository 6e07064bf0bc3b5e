#!/usr/bin/env bash
# Pusher fan-out / connection / whisper benchmark: docsyncd and soketi 1.6.1 side by side.
#
# Builds Release (own build dir), then for every scenario starts a FRESH server pinned to one core
# (taskset -c $SRV_CPU), runs bench/loadgen pinned to the other core (taskset -c $LG_CPU) against
# it, stops it, and does the same with the other server. Server CPU comes from /proc/<pid>/stat
# (utime+stime, all threads) sampled by loadgen at the edges of the measured window, RSS from
# /proc/<pid>/status (VmRSS). Prints one side-by-side table at the end; raw RESULT lines are kept in
# $OUT/results.txt. Loopback only; every loadgen run is bounded by --timeout.
#
# The fan-out scenarios also run against bench/floor.c (one write() per delivery, nothing else:
# the kernel's share) and "floor coalesce" (all frames queued for a subscriber in one write()). PROFILE=1 additionally records `perf record -g` of the server during the
# fan-out and whisper scenarios into $OUT/<scenario>-<server>.perf (figures of such a run include perf overhead).
#
# Scenario ids: see scenario_args below; fbig (fan-out to the largest connection count) is not
# in the default list.
#
# --repeat N runs every scenario N times, the servers in their listed order in odd repetitions
# and in reverse order in even ones, so that a slow stretch of the machine early or late in a
# scenario does not always fall on the same server; the table then shows the median of each
# figure over the N runs and lists the runs' CPU per delivery and p99 in the order they ran.
# --duration S measures S seconds instead of 10 in every fan-out and whisper run: at 5 events/s
# a 10-second window holds 50 bursts, and its p99 is decided by its two or three slowest.
# usage: bench/fanout.sh [--quick] [--repeat N] [--duration S] [--only docsyncd|soketi|floor] [--scenarios "f5000 f5000r5 ..."]
#        bench/fanout.sh --table RESULTS   (print the table of an earlier run again)
#        --from-head builds the committed HEAD (git archive) instead of the working tree
# env:   BUILD (build dir, default build-bench), SRV_CPU (0), LG_CPU (1), OUT (output dir),
#        FLOOR=0 (skip the floor servers), LG_ARGS (extra loadgen flags), PROFILE=1,
#        DS_ENV (extra NAME=value settings for docsyncd, e.g. DOCSYNC_EVENT_LOOP=libev), NICE (priority of server and loadgen, -10)
# soketi must be installed: npm ci --prefix bench
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
SRV_CPU=${SRV_CPU:-0}
LG_CPU=${LG_CPU:-1}
# A session of its own with raised priority (bench/lib.sh). NICE=0 turns that off.
. "$ROOT/bench/lib.sh"
bench_own_session "$@"
OUT=${OUT:-$(mktemp -d /tmp/docsync-bench.XXXXXX)}
APP_ID=bench
APP_KEY=bench-key
APP_SECRET=bench-secret
QUICK=0
ONLY=""
TABLE=""
FROM_HEAD=0
REPEAT=1
DURATION=""
SCENARIOS="f5000 f5000d f5000r5 f5000r20 f1000 w500 w500r c5000 c5000s cbig"
FLOOR_SCENARIOS=${FLOOR_SCENARIOS:-"f5000 f5000r5"}

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --repeat) REPEAT=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --only) ONLY=$2; shift ;;
    --scenarios) SCENARIOS=$2; shift ;;
    --table) TABLE=$2; shift ;;
    --from-head) FROM_HEAD=1 ;;
    *) echo "usage: $0 [--quick] [--repeat N] [--duration S] [--only docsyncd|soketi|floor] [--scenarios LIST] [--table RESULTS]" >&2; exit 2 ;;
  esac
  shift
done
case "$REPEAT" in
  '' | *[!0-9]* | 0) echo "--repeat takes a positive whole number, not '$REPEAT'" >&2; exit 2 ;;
esac
case "$DURATION" in
  *[!0-9]* | 0) echo "--duration takes a positive whole number of seconds, not '$DURATION'" >&2; exit 2 ;;
esac

# Prints the side-by-side table of a results file (lines: <scenario> <server> RESULT key=value ...).
# A scenario run several times on a server (--repeat) shows the median of each figure.
print_table() {
  awk -v bigc="${BIGC:-50000}" '
function get(line, key,   re, m) {
  re = " " key "=[^ ]*"
  if (match(line, re)) { m = substr(line, RSTART + length(key) + 2, RLENGTH - length(key) - 2); return m }
  return ""
}
# The median of a figure over the runs of scenario sc on server srv ("" if no run has it).
function med(sc, srv, key,   i, j, n, v, t) {
  n = 0
  for (i = 1; i <= runs[sc, srv]; i++) {
    t = get(r[sc, srv, i], key)
    if (t == "") continue
    v[++n] = t + 0
    for (j = n; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
  }
  if (n == 0) return ""
  return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
# The figure of every run of scenario sc on server srv, in the order they ran.
function each(sc, srv, key, fmt, scale,   i, t, out) {
  out = ""
  for (i = 1; i <= runs[sc, srv]; i++) {
    t = get(r[sc, srv, i], key)
    out = out (i > 1 ? " / " : "") (t == "" ? "-" : sprintf(fmt, t * scale))
  }
  return out
}
{ sc = $1; srv = $2; r[sc, srv, ++runs[sc, srv]] = $0; if (runs[sc, srv] > most) most = runs[sc, srv]
  if (!(sc in seen)) { seen[sc] = 1; order[++n] = sc }
  if (!((sc, srv) in known)) { known[sc, srv] = 1; names[sc] = names[sc] " " srv } }
# scale -1 prints 1e6 / v (a per-delivery cost turned into a rate at 100 % of one core).
function fmtv(v, fmt, scale) { return v == "" ? "-" : (scale == -1 ? (v + 0 > 0 ? sprintf(fmt, 1e6 / v) : "-") : sprintf(fmt, v * scale)) }
# The last column: the docsyncd figure divided by the figure of the one-write floor.
function row(label, sc, key, scale, fmt, better,   a, b, c, d, ra, rf) {
  a = med(sc, "docsyncd", key); b = med(sc, "soketi", key); c = med(sc, "floor", key); d = med(sc, "floorc", key)
  if (a == "" && b == "") return
  ra = "-"; rf = "-"
  if (better != "" && a != "" && b != "" && a + 0 > 0 && b + 0 > 0) ra = sprintf("%.2fx", (better == "hi") ? a / b : b / a)
  if (better != "" && scale != -1 && a != "" && c != "" && a + 0 > 0 && c + 0 > 0) rf = sprintf("%.2fx", a / c)
  printf "%-34s %10s %10s %9s %9s %9s %9s\n", label, fmtv(a, fmt, scale), fmtv(b, fmt, scale), ra, fmtv(c, fmt, scale), fmtv(d, fmt, scale), rf
}
END {
  if (most > 1) printf "medians of up to %d runs per scenario and server\n", most
  printf "%-34s %10s %10s %9s %9s %9s %9s\n", "scenario / metric", "docsyncd", "soketi", "docsyncd", "floor", "floor", "docsyncd"
  printf "%-34s %10s %10s %9s %9s %9s %9s\n", "", "", "", "better by", "1 write", "coalesced", "/ floor"
  for (i = 1; i <= n; i++) {
    sc = order[i]
    if (sc == "f5000" || sc == "f1000" || sc == "f5000d" || sc == "fbig") {
      nsub = (sc == "f1000") ? "1,000" : (sc == "fbig") ? bigc : "5,000"
      print "fan-out, " nsub " subscribers, full rate, " ((sc == "f5000d") ? "16" : "4") " events in flight"
      row("  deliveries/s", sc, "deliv_per_s", 1, "%.0f", "hi")
      row("  server CPU us/delivery", sc, "srv_us_per_deliv", 1, "%.2f", "lo")
      row("  deliveries per server CPU-second", sc, "srv_us_per_deliv", -1, "%.0f", "lo")
      row("  server CPU %", sc, "srv_cpu_pct", 1, "%.0f", "")
      row("  latency p50 ms", sc, "p50_us", 0.001, "%.1f", "lo")
      row("  latency p99 ms", sc, "p99_us", 0.001, "%.1f", "lo")
      row("  latency max ms", sc, "max_us", 0.001, "%.1f", "lo")
      row("  lost deliveries", sc, "lost", 1, "%d", "")
      row("  connections dropped by server", sc, "lost_conns", 1, "%d", "")
      row("  loadgen CPU %", sc, "lg_cpu_pct", 1, "%.0f", "")
    } else if (sc == "f5000r5" || sc == "f5000r20") {
      print "fan-out, 5,000 subscribers, " ((sc == "f5000r5") ? "5 events/s (25,000 deliveries/s)" : "20 events/s (100,000 deliveries/s)")
      row("  deliveries/s", sc, "deliv_per_s", 1, "%.0f", "")
      row("  server CPU us/delivery", sc, "srv_us_per_deliv", 1, "%.2f", "lo")
      row("  latency p50 ms", sc, "p50_us", 0.001, "%.2f", "lo")
      row("  latency p99 ms", sc, "p99_us", 0.001, "%.2f", "lo")
      row("  latency max ms", sc, "max_us", 0.001, "%.2f", "lo")
      row("  server RSS MB (5,000 subscribed)", sc, "rss_kb", 1/1024, "%.1f", "lo")
      row("  lost deliveries", sc, "lost", 1, "%d", "")
    } else if (sc == "w500" || sc == "w500r") {
      print (sc == "w500") ? "whisper, 500 private pairs, ping-pong full rate" : "whisper, 500 private pairs, 1,000 whispers/s"
      row("  relays/s", sc, "deliv_per_s", 1, "%.0f", sc == "w500" ? "hi" : "")
      row("  server CPU us/relay", sc, "srv_us_per_deliv", 1, "%.2f", "lo")
      row("  latency p50 ms", sc, "p50_us", 0.001, "%.2f", "lo")
      row("  latency p99 ms", sc, "p99_us", 0.001, "%.2f", "lo")
      row("  latency max ms", sc, "max_us", 0.001, "%.2f", "lo")
      row("  lost", sc, "lost", 1, "%d", "")
    } else if (sc ~ /^c/) {
      print "connect " ((sc == "cbig") ? bigc : "5,000") " idle connections" ((sc == "c5000s") ? ", each subscribed to its own channel" : "")
      row("  established", sc, "established", 1, "%d", "")
      row("  connections/s", sc, "conn_per_s", 1, "%.0f", "hi")
      row("  server CPU us/connection", sc, "srv_us_per_conn", 1, "%.1f", "lo")
      row("  RSS before MB", sc, "rss_before_kb", 1/1024, "%.1f", "lo")
      row("  RSS held MB", sc, "rss_after_kb", 1/1024, "%.1f", "lo")
      row("  RSS per idle connection KB", sc, "rss_per_conn_b", 1/1024, "%.2f", "lo")
    }
  }
  if (most > 1) {
    print "\nevery run, in the order it ran: server CPU us per delivery; latency p99 ms"
    for (i = 1; i <= n; i++) {
      sc = order[i]
      if (sc ~ /^c/) continue
      k = split(names[sc], list, " ")
      for (j = 1; j <= k; j++)
        printf "  %-9s %-9s %s; %s\n", sc, list[j], each(sc, list[j], "srv_us_per_deliv", "%.2f", 1),
          each(sc, list[j], "p99_us", "%.1f", 0.001)
    }
  }
}' "$1"
}

if [ -n "$TABLE" ]; then print_table "$TABLE"; exit 0; fi

WARMUP=3
DUR=10
HOLD=3
if [ "$QUICK" = 1 ]; then WARMUP=1; DUR=3; HOLD=1; fi
[ -n "$DURATION" ] && DUR=$DURATION

mkdir -p "$OUT"
RESULTS=$OUT/results.txt
: > "$RESULTS"

# 50,000 connections need > 50,000 descriptors in both the server and loadgen. Raising the hard
# limit needs CAP_SYS_RESOURCE; without it the big connect scenario is cut to what fits.
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
BIGC=50000
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 50500 ]; then
  BIGC=$(( $(ulimit -n) - 500 ))
  echo "RLIMIT_NOFILE hard limit is $(ulimit -Hn) and cannot be raised here:" \
       "the big connect scenario holds $BIGC connections instead of 50,000" >&2
fi
echo "fd limit $(ulimit -n); ephemeral ports $(tr '\t' - < /proc/sys/net/ipv4/ip_local_port_range);" \
     "somaxconn $(cat /proc/sys/net/core/somaxconn); $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

SRC=$ROOT
if [ "$FROM_HEAD" = 1 ]; then
  # Build the committed tree, not the shared working tree (which other people are editing).
  SRC=$OUT/src
  mkdir -p "$SRC"
  git -C "$ROOT" archive HEAD | tar -x -C "$SRC"
  BUILD=$OUT/build
  echo "building commit $(git -C "$ROOT" rev-parse --short HEAD) (git archive into $SRC)" >&2
else
  echo "building the working tree at commit $(git -C "$ROOT" rev-parse --short HEAD)" \
       "($(git -C "$ROOT" status --porcelain -- src crdt store bench | wc -l) changed paths in src/ crdt/ store/ bench/)" >&2
fi
echo "== build (Release, $BUILD)" >&2
if ! cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DDOCSYNC_WERROR=OFF -DDOCSYNC_SANITIZE=OFF \
     -DDOCSYNC_SHARED_DIR="$ROOT/../shared" >"$OUT/configure.log" 2>&1; then
  echo "the tree does not configure (see $OUT/configure.log)" >&2
  exit 1
fi
cmake --build "$BUILD" -j2 --target loadgen floor >/dev/null
LOADGEN=$BUILD/bench/loadgen
SERVERS="docsyncd soketi"
if ! cmake --build "$BUILD" -j2 --target docsyncd >"$OUT/build-docsyncd.log" 2>&1; then
  echo "docsyncd does not build (see $OUT/build-docsyncd.log); soketi only" >&2
  SERVERS="soketi"
fi
{
  echo "started $(date -u +%FT%TZ); commit $(git -C "$ROOT" rev-parse --short HEAD) (from-head=$FROM_HEAD)"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); autogroup nice $NICE; $(nproc) cores;" \
       "server CPU $SRV_CPU, loadgen CPU $LG_CPU; warm-up $WARMUP s, measured $DUR s; DS_ENV=${DS_ENV:-}"
} > "$OUT/meta.txt"
SOKETI=$ROOT/bench/node_modules/@soketi/soketi/bin/server.js
if [ ! -f "$SOKETI" ]; then
  echo "soketi not installed (npm ci --prefix bench); docsyncd only" >&2
  SERVERS=${SERVERS/soketi/}
fi
[ -n "$ONLY" ] && SERVERS=$ONLY

SRV_PID=""
SRV_PORT=""
start_server() { # $1 = docsyncd|soketi
  SRV_PORT=$(free_port)
  local log=$OUT/$1-$SRV_PORT.log
  if [ "$1" = floor ] || [ "$1" = floorc ]; then
    local mode=""
    [ "$1" = floorc ] && mode=coalesce
    (cd "$OUT" && exec taskset -c "$SRV_CPU" "$BUILD/bench/floor" "$SRV_PORT" $mode >"$log" 2>&1) &
  elif [ "$1" = docsyncd ]; then
    local data
    data=$(mktemp -d "$OUT/data.XXXXXX")
    (cd "$OUT" && exec env REVERB_APP_ID=$APP_ID REVERB_APP_KEY=$APP_KEY REVERB_APP_SECRET=$APP_SECRET \
      DOCSYNC_CLIENT_EVENTS_PER_SECOND=0 DOCSYNC_API_REQUESTS_PER_SECOND=0 DOCSYNC_LOG_LEVEL=warn ${DS_ENV:-} \
      taskset -c "$SRV_CPU" "$BUILD/src/docsyncd" --port "$SRV_PORT" --data "$data" >"$log" 2>&1) &
  else
    (cd "$OUT" && exec env SOKETI_PORT=$SRV_PORT SOKETI_DEFAULT_APP_ID=$APP_ID SOKETI_DEFAULT_APP_KEY=$APP_KEY \
      SOKETI_DEFAULT_APP_SECRET=$APP_SECRET SOKETI_DEFAULT_APP_ENABLE_CLIENT_MESSAGES=true \
      SOKETI_METRICS_SERVER_PORT="$(free_port)" \
      taskset -c "$SRV_CPU" node "$SOKETI" start >"$log" 2>&1) &
  fi
  SRV_PID=$!
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$SRV_PORT") 2>/dev/null; then sleep 0.3; return 0; fi
    kill -0 "$SRV_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "$1 did not start; log:" >&2
  tail -5 "$log" >&2
  return 1
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
trap stop_server EXIT

scenario_args() { # $1 = scenario id
  case "$1" in
    f5000) echo "fanout -n 5000 --rate 0 --warmup $WARMUP --duration $DUR" ;;
    f5000d) echo "fanout -n 5000 --rate 0 --publishers 16 --warmup $WARMUP --duration $DUR" ;;
    f5000r5) echo "fanout -n 5000 --rate 5 --warmup $WARMUP --duration $DUR" ;;
    f5000r20) echo "fanout -n 5000 --rate 20 --warmup $WARMUP --duration $DUR" ;;
    f1000) echo "fanout -n 1000 --rate 0 --warmup $WARMUP --duration $DUR" ;;
    fbig) echo "fanout -n $BIGC --src 4 --rate 0 --warmup $WARMUP --duration $DUR" ;;
    w500) echo "whisper -n 500 --rate 0 --warmup $WARMUP --duration $DUR" ;;
    w500r) echo "whisper -n 500 --rate 1000 --warmup $WARMUP --duration $DUR" ;;
    c5000) echo "connect -n 5000 --hold $HOLD" ;;
    c5000s) echo "connect -n 5000 --hold $HOLD --subscribe" ;;
    cbig) echo "connect -n $BIGC --hold $HOLD --src 4 --pending 256" ;;
  esac
}

for rep in $(seq "$REPEAT"); do
  for sc in $SCENARIOS; do
    servers=$SERVERS
    # The kernel floor (bench/floor.c) only makes sense for plain fan-out.
    if [ -z "$ONLY" ] && [ "${FLOOR:-1}" = 1 ] && [[ " $FLOOR_SCENARIOS " == *" $sc "* ]]; then
      servers="$servers floor floorc"
    fi
    # Even repetitions run the servers in reverse order.
    if [ $((rep % 2)) = 0 ]; then servers=$(echo $servers | tr ' ' '\n' | tac | tr '\n' ' '); fi
    for srv in $servers; do
      echo "== $sc on $srv (run $rep of $REPEAT, $(date -u +%T))" >&2
      if ! start_server "$srv"; then stop_server; continue; fi
      # shellcheck disable=SC2046
      if [ "${PROFILE:-0}" = 1 ] && [ "${sc#c}" = "$sc" ]; then
        # Profiled runs: the figures of such a run include perf's own overhead.
        perf record -F 499 -g -p "$SRV_PID" -o "$OUT/$sc-$srv.perf" -- sleep $((WARMUP + DUR + 2)) \
          >/dev/null 2>&1 &
        PERF_PID=$!
      fi
      line=$(taskset -c "$LG_CPU" "$LOADGEN" $(scenario_args "$sc") --port "$SRV_PORT" --pid "$SRV_PID" \
        --app-id $APP_ID --key $APP_KEY --secret $APP_SECRET --label "$srv" --timeout 90 ${LG_ARGS:-} \
        2> >(grep -v '^loadgen: connection .* lost' | tee -a "$OUT/loadgen.log" >&2) | grep '^RESULT' || true)
      kill -0 "$SRV_PID" 2>/dev/null || echo "$srv died during $sc" >&2
      echo "$sc $srv ${line:-RESULT error=1}" >>"$RESULTS"
      stop_server
      if [ -n "${PERF_PID:-}" ]; then wait "$PERF_PID" 2>/dev/null || true; PERF_PID=""; fi
    done
  done
done

echo >&2
echo "Results ($RESULTS); server on CPU $SRV_CPU, loadgen on CPU $LG_CPU, session autogroup nice $NICE;" \
     "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "finished $(date -u +%FT%TZ); load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/meta.txt"
print_table "$RESULTS"
