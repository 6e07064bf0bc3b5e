#!/bin/sh
# Proves calls.sh can fail: a library where conn.c calls up into server.c
# must be refused, and the same library without that call accepted.
# Usage: calls_selftest.sh CC.
set -eu
cc=${1:-cc}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
printf 'int server_tick(void);\nint conn_up(void) { return server_tick(); }\n' >conn.c
printf 'int conn_up(void);\nint server_tick(void) { return 1; }\nint server_run(void) { return conn_up(); }\n' >server.c
"$cc" -c conn.c -o conn.c.o && "$cc" -c server.c -o server.c.o && ar rcs bad.a conn.c.o server.c.o
if out=$(sh "$here/calls.sh" bad.a); then
    echo "calls.sh accepted conn.c calling server.c"
    exit 1
fi
echo "$out" | grep -q 'conn.c calls server_tick of server.c' || {
    echo "calls.sh did not name the upward call; it said: $out"
    exit 1
}
printf 'int conn_up(void) { return 1; }\n' >conn.c
"$cc" -c conn.c -o conn.c.o && ar rcs good.a conn.c.o server.c.o
sh "$here/calls.sh" good.a >/dev/null || {
    echo "calls.sh refused a library whose calls go down"
    exit 1
}
echo "calls_selftest: the upward call was refused, the downward one accepted"
