#!/bin/bash
# Activity-log export benchmark: builds docsync-audit and audit_fill in Release, fills a fresh
# store with N entries (default 1,000,000) on the real disk, then times, each RUNS times (default
# 3): `docsync-audit export` to /dev/null, the same to a file, `docsync-audit verify --file` of
# that file (offline, SHA-256 of every entry), `verify` of the stored chain, and a filtered export
# (--user); then (unless HTTP=0) the same log read through a Release docsyncd's signed
# GET /audit/export, page after page (http_export.mjs). Prints one line per figure with entries/s.
# Never a pass/fail test. BUILD=dir builds elsewhere than build-audit-bench; DATA=dir keeps the
# store there.
set -euo pipefail
N=${1:-1000000}
RUNS=${RUNS:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-audit-bench}
DATA=${DATA:-$(mktemp -d "${TMPDIR:-/tmp}/audit-bench-XXXXXX")}
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
nice -n 10 cmake --build "$BUILD" -j2 --target docsync-audit audit_fill docsyncd >/dev/null
AUDIT=$BUILD/src/admin/docsync-audit
if [ ! -s "$DATA/data.mdb" ]; then
  t0=$(date +%s.%N)
  "$BUILD/bench/audit_fill" "$DATA" "$N"
  t1=$(date +%s.%N)
  echo "fill: $(echo "$t1 - $t0" | bc) s (10,000 entries per commit)"
fi
echo "store: $(du -sh "$DATA/data.mdb" | cut -f1), load average $(cut -d' ' -f1-3 /proc/loadavg)"

# time_it LABEL COMMAND...: RUNS runs; prints the best and the median rate in entries/s.
time_it() {
  local label=$1; shift
  local times=()
  for _ in $(seq "$RUNS"); do
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    t1=$(date +%s.%N)
    times+=("$(echo "$t1 - $t0" | bc)")
  done
  local sorted best med
  sorted=$(printf '%s\n' "${times[@]}" | sort -n)
  best=$(echo "$sorted" | head -1)
  med=$(echo "$sorted" | sed -n "$(( (RUNS + 1) / 2 ))p")
  printf '%-44s best %6.3f s (%9.0f entries/s), median %6.3f s (%9.0f entries/s)\n' "$label" \
    "$best" "$(echo "$N / $best" | bc -l)" "$med" "$(echo "$N / $med" | bc -l)"
}

OUT=$DATA/export.jsonl
time_it "export -> /dev/null" "$AUDIT" --data "$DATA" export --out /dev/null
time_it "export -> file" "$AUDIT" --data "$DATA" export --out "$OUT"
echo "export file: $(du -sh "$OUT" | cut -f1), $(wc -l <"$OUT") lines"
time_it "verify --file (offline)" "$AUDIT" verify --file "$OUT"
time_it "verify (stored chain)" "$AUDIT" --data "$DATA" verify
time_it "export --user u7 (parses every entry)" "$AUDIT" --data "$DATA" export --user u7 --out /dev/null
"$AUDIT" verify --file "$OUT"
[ -n "${KEEP:-}" ] || rm -f "$OUT"

if [ "${HTTP:-1}" != 0 ]; then
  LOG=$(mktemp)
  REVERB_APP_ID=1 REVERB_APP_KEY=bench-key REVERB_APP_SECRET=bench-secret DOCSYNC_DATA_DIR="$DATA" \
    DOCSYNC_LOG_LEVEL=info "$BUILD/src/docsyncd" --host 127.0.0.1 --port 0 2>"$LOG" &
  PID=$!
  PORT=
  for _ in $(seq 100); do
    PORT=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$LOG" | head -1)
    [ -n "$PORT" ] && break
    sleep 0.1
  done
  for _ in $(seq "$RUNS"); do
    node "$ROOT/bench/audit/http_export.mjs" "$PORT" 1 bench-key bench-secret
  done
  kill "$PID"
  wait "$PID" || true
  rm -f "$LOG"
fi
