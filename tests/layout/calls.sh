#!/bin/sh
# Checks that calls between the files of src/server/ go one way (see
# src/server/README.md): reads the static library's symbol table and fails
# when a file calls a function defined in a file at its own level or above.
# Usage: calls.sh LIBSERVER_A.
set -eu
lib=${1:?usage: calls.sh path/to/libserver.a}

# Lowest first. Leaves (metrics, the frame scanner, the io_uring sends) call nothing in the folder.
rank() {
    case $1 in
    metrics.c.o | wsmask.c.o | tls.c.o | iplimit.c.o | txring.c.o) echo 0 ;;
    conn.c.o) echo 1 ;;
    broadcast.c.o) echo 2 ;;
    http.c.o) echo 3 ;;
    subscribe.c.o | client_event.c.o | signin.c.o | http_api.c.o | sweep.c.o | upgrade.c.o) echo 4 ;;
    session.c.o) echo 5 ;;
    sio_echo.c.o) echo 6 ;;
    eio_transport.c.o) echo 7 ;;
    server.c.o) echo 8 ;;
    *) echo -1 ;;
    esac
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# "member symbol" for every function defined, and every symbol used.
nm -A "$lib" 2>/dev/null | awk -F'[: ]+' '$(NF-1) == "T" { print $2, $NF }' >"$tmp/defs"
nm -A "$lib" 2>/dev/null | awk -F'[: ]+' '$(NF-1) == "U" { print $2, $NF }' >"$tmp/uses"
bad=0
for m in $(cut -d' ' -f1 "$tmp/defs" | sort -u); do
    [ "$(rank "$m")" -ge 0 ] || { echo "calls: $m is not in the list of levels"; bad=1; }
done
while read -r user sym; do
    def=$(awk -v s="$sym" '$2 == s { print $1; exit }' "$tmp/defs")
    [ -n "$def" ] || continue
    [ "$def" = "$user" ] && continue
    if [ "$(rank "$def")" -ge "$(rank "$user")" ]; then
        echo "calls: ${user%.o} calls $sym of ${def%.o}, which is not below it"
        bad=1
    fi
done <"$tmp/uses"
[ "$bad" -eq 0 ] && echo "calls: every call in $lib goes down"
exit "$bad"
