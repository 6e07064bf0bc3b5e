#!/bin/sh
# Checks the direction of dependencies between the folders of src/ (see
# src/README.md). Usage: layers.sh SRC_DIR. Exits 1 and prints every offending
# line when a folder includes a header of a folder above it (or of a folder at
# its own level), when a protocol folder includes libwebsockets or libev, when
# a folder below sync/ includes the CRDT or the store, or when webhook/ (which
# keeps only its outbox in the store) includes the CRDT.
set -eu
src=${1:?usage: layers.sh SRC_DIR}

# The folders from the bottom up; a folder may include the ones with a lower rank.
rank() {
    case $1 in
    common) echo 0 ;; config) echo 1 ;; pusher | redis) echo 2 ;; socketio) echo 3 ;; server) echo 4 ;;
    auth | cluster | laravel_redis) echo 5 ;; sync | webhook | history) echo 6 ;; demo | admin) echo 7 ;; main) echo 8 ;;
    *) echo -1 ;;
    esac
}

bad=0
fail() {
    echo "layers: $*"
    bad=1
}

for f in $(find "$src" -name '*.[ch]' | sort); do
    rel=${f#"$src"/}
    case $rel in
    */*) dir=${rel%%/*} ;;
    *) dir=main ;;
    esac
    r=$(rank "$dir")
    if [ "$r" -lt 0 ]; then
        fail "$rel: folder $dir is not in the list of layers"
        continue
    fi
    # "folder/header.h" includes: only from lower folders (or the same one).
    grep -n '^#include "[a-z_]*/' "$f" | while IFS= read -r line; do
        to=$(echo "$line" | sed 's/^[0-9]*:#include "\([a-z_]*\)\/.*/\1/')
        tr=$(rank "$to")
        if [ "$tr" -lt 0 ] || [ "$tr" -gt "$r" ] || { [ "$tr" -eq "$r" ] && [ "$to" != "$dir" ]; }; then
            echo "layers: $rel:$line: $dir may not include $to"
        fi
    done
    # Bare "header.h" includes name a header of the same folder, or crdt.h / store.h.
    grep -n '^#include "[a-z_]*\.h"' "$f" | while IFS= read -r line; do
        h=$(echo "$line" | sed 's/^[0-9]*:#include "\(.*\)"/\1/')
        case $h in
        crdt.h | store.h)
            if [ "$r" -lt 6 ] || [ "$dir" = demo ]; then
                echo "layers: $rel:$line: only sync/ and admin/ use the CRDT and the store (webhook/ and history/ the store)"
            elif { [ "$dir" = webhook ] || [ "$dir" = history ]; } && [ "$h" = crdt.h ]; then
                echo "layers: $rel:$line: $dir/ uses the store, never the CRDT"
            fi
            ;;
        *) [ -f "$(dirname "$f")/$h" ] || echo "layers: $rel:$line: not a header of $dir/" ;;
        esac
    done
    case $dir in
    common | config | pusher | socketio)
        grep -nE '^#include <(libwebsockets|ev)\.h>' "$f" | sed "s|^|layers: $rel:|; s|\$|: $dir/ is pure (no libwebsockets, no event loop)|"
        ;;
    esac
done >"${TMPDIR:-/tmp}/layers.$$" 2>&1 || true
if [ -s "${TMPDIR:-/tmp}/layers.$$" ]; then
    cat "${TMPDIR:-/tmp}/layers.$$"
    bad=1
fi
rm -f "${TMPDIR:-/tmp}/layers.$$"
[ "$bad" -eq 0 ] && echo "layers: $src: every include goes down"
exit "$bad"
