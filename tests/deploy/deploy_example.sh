#!/usr/bin/env bash
# Tests the deployment example in deploy/: the systemd unit passes `systemd-analyze verify`
# (when systemd-analyze is installed), docsyncd runs with the unit's own ExecStart line and the
# example settings file, nginx (Debian's) runs with deploy/nginx/docsync.conf in front of it, and
# a WebSocket client and the `pusher` SDK work through the proxy over TLS; SIGTERM (the unit's
# KillSignal) stops docsyncd with status 0.
# systemd cannot run as PID 1 here, so the sandboxing options themselves (ProtectSystem, ...)
# are checked for syntax by `verify` only, not enforced. nginx runs as a normal process with a
# config written into a temporary dir, on free ports; only the paths, ports and names of the
# example are substituted.
# Usage: deploy_example.sh DOCSYNCD REPO_ROOT
set -euo pipefail
BIN=$(realpath "$1")
ROOT=$(realpath "$2")
UNIT=$ROOT/deploy/docsyncd.service
SITE=$ROOT/deploy/nginx/docsync.conf
command -v nginx >/dev/null || { echo "nginx missing (apt-get install nginx)"; exit 1; }
command -v openssl >/dev/null || { echo "openssl missing"; exit 1; }

tmp=$(mktemp -d /tmp/docsync-deploy-XXXXXX)
chmod 755 "$tmp"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- docsyncd log"; cat "$tmp/docsyncd.log" 2>/dev/null || true; echo "--- nginx error log"; cat "$tmp/nginx/error.log" 2>/dev/null || true; exit 1; }
freeport() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

# 1. The unit, with the binary where the build put it.
if command -v systemd-analyze >/dev/null; then
  sed "s|/usr/local/bin/docsyncd|$BIN|" "$UNIT" >"$tmp/docsyncd.service"
  out=$(systemd-analyze verify "$tmp/docsyncd.service" 2>&1) || fail "systemd-analyze verify: $out"
  # verify prints problems as warnings too; any line naming the unit file is one.
  if grep -q "docsyncd.service" <<<"$out"; then fail "systemd-analyze verify: $out"; fi
  echo "ok unit: systemd-analyze verify"
else
  echo "skip unit verification: systemd-analyze not installed"
fi

# 2. docsyncd with the unit's ExecStart line and the example settings.
exec_start=$(sed -n 's/^ExecStart=//p' "$UNIT")
[ -n "$exec_start" ] || fail "no ExecStart in $UNIT"
mkdir -p "$tmp/etc" "$tmp/data"
APP_PORT=$(freeport)
sed -e "s/^REVERB_SERVER_PORT=.*/REVERB_SERVER_PORT=$APP_PORT/" \
    -e "s/^REVERB_APP_ALLOWED_ORIGINS=.*/REVERB_APP_ALLOWED_ORIGINS=*/" \
    "$ROOT/deploy/docsync.env.example" >"$tmp/etc/docsync.env"
cmd=${exec_start//\/usr\/local\/bin\/docsyncd/$BIN}
cmd=${cmd//\/etc\/docsync\/docsync.env/$tmp/etc/docsync.env}
cmd=${cmd//\/var\/lib\/docsync/$tmp/data}
echo "ExecStart: $cmd"
(cd "$tmp/data" && exec env -i PATH="$PATH" ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" $cmd) >"$tmp/docsyncd.log" 2>&1 &
dpid=$!
pids+=("$dpid")
for _ in $(seq 100); do grep -q "listening on 127.0.0.1:$APP_PORT" "$tmp/docsyncd.log" && break; sleep 0.1; done
grep -q "listening on 127.0.0.1:$APP_PORT" "$tmp/docsyncd.log" || fail "docsyncd did not listen"
echo "ok docsyncd on 127.0.0.1:$APP_PORT"

# 3. nginx with the site file: paths, ports and names substituted, nothing else.
mkdir -p "$tmp/nginx/tmp" "$tmp/tls"
chmod 777 "$tmp/nginx/tmp"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -keyout "$tmp/tls/privkey.pem" -out "$tmp/tls/fullchain.pem" -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
NG_PORT=$(freeport)
sed -e "s|listen 443 ssl;|listen 127.0.0.1:$NG_PORT ssl;|" -e '/listen \[::\]:443 ssl;/d' \
    -e "s|/etc/ssl/docsync/|$tmp/tls/|" -e "s|server 127.0.0.1:8080;|server 127.0.0.1:$APP_PORT;|" \
    -e "s|server_name ws.example.com;|server_name localhost;|" "$SITE" >"$tmp/nginx/site.conf"
cat >"$tmp/nginx/nginx.conf" <<NGX
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 256; }
http {
    access_log $tmp/nginx/access.log;
    client_body_temp_path $tmp/nginx/tmp/body;
    proxy_temp_path $tmp/nginx/tmp/proxy;
    fastcgi_temp_path $tmp/nginx/tmp/fastcgi;
    uwsgi_temp_path $tmp/nginx/tmp/uwsgi;
    scgi_temp_path $tmp/nginx/tmp/scgi;
    include $tmp/nginx/site.conf;
}
NGX
nginx -t -q -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" 2>"$tmp/nginx-t.log" || fail "nginx -t: $(cat "$tmp/nginx-t.log")"
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -g 'daemon off;' 2>>"$tmp/nginx/stderr.log" &
pids+=("$!")
for _ in $(seq 50); do curl -s -o /dev/null --cacert "$tmp/tls/fullchain.pem" "https://localhost:$NG_PORT/up" \
  --resolve "localhost:$NG_PORT:127.0.0.1" && break; sleep 0.1; done
echo "ok nginx on 127.0.0.1:$NG_PORT"

# 4. Through the proxy over TLS.
curl_tls() { curl -sS --cacert "$tmp/tls/fullchain.pem" --resolve "localhost:$NG_PORT:127.0.0.1" "$@"; }
body=$(curl_tls "https://localhost:$NG_PORT/up")
[ "$body" = '{"health":"OK"}' ] || fail "/up through nginx: $body"
# Read whole before it is searched: `curl | grep -q` under pipefail fails when grep has its
# match and exits while curl still writes the rest (curl: (23) Failed writing body).
metrics=$(curl_tls "https://localhost:$NG_PORT/metrics") || fail "/metrics through nginx: curl failed"
grep -q '^docsync_connections ' <<<"$metrics" || fail "/metrics through nginx: no docsync_connections"
status=$(curl_tls -o /dev/null -w '%{http_code}' -H "X-Big: $(head -c 5000 /dev/zero | tr '\0' a)" "https://localhost:$NG_PORT/up")
[ "$status" = 431 ] || fail "oversized header through nginx: $status, expected docsyncd's 431"
echo "ok https: /up, /metrics, 431 passed on"
app() { sed -n "s/^$1=//p" "$tmp/etc/docsync.env"; }
NODE_PATH="$ROOT/node_modules" node "$ROOT/tests/deploy/through_proxy.mjs" "$NG_PORT" "$tmp/tls/fullchain.pem" \
  "$(app REVERB_APP_ID)" "$(app REVERB_APP_KEY)" "$(app REVERB_APP_SECRET)" || fail "WebSocket/API through nginx"

# 5. The unit's stop: SIGTERM, exit status 0.
kill -TERM "$dpid"
rc=0
wait "$dpid" || rc=$?
pids=("${pids[@]:1}")
[ "$rc" -eq 0 ] || fail "docsyncd exit status $rc after SIGTERM"
grep -q "stopping: closing" "$tmp/docsyncd.log" || fail "no graceful stop in the log"
if grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$tmp/docsyncd.log"; then fail "sanitizer report"; fi
echo "ok SIGTERM: exit 0"
echo "PASS deploy example"
