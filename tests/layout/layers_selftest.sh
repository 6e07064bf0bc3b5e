#!/bin/sh
# Proves layers.sh can fail: on a copy of src/ with eight wrong includes it
# must exit 1 and name each of them. Usage: layers_selftest.sh SRC_DIR.
set -eu
src=${1:?usage: layers_selftest.sh SRC_DIR}
here=$(dirname "$0")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -R "$src" "$tmp/src"
echo '#include <libwebsockets.h>' >>"$tmp/src/pusher/message.c"
echo '#include "server/server.h"' >>"$tmp/src/common/hmap.c"
echo '#include "store.h"' >>"$tmp/src/server/conn.c"
echo '#include "crdt.h"' >>"$tmp/src/webhook/webhook.c"
echo '#include "webhook/webhook.h"' >>"$tmp/src/sync/engine.c"
echo '#include "webhook/webhook.h"' >>"$tmp/src/server/broadcast.c"
echo '#include "server/server.h"' >>"$tmp/src/redis/redis.c"
echo '#include "cluster/cluster.h"' >>"$tmp/src/laravel_redis/laravel_redis.c"
if out=$("$here/layers.sh" "$tmp/src"); then
    echo "layers.sh accepted a copy of src/ with wrong includes"
    exit 1
fi
for want in 'pusher/message.c:.*libwebsockets' 'common/hmap.c:.*common may not include server' \
    'server/conn.c:.*only sync/ and admin/' 'webhook/webhook.c:.*never the CRDT' \
    'sync/engine.c:.*sync may not include webhook' 'server/broadcast.c:.*server may not include webhook' \
    'redis/redis.c:.*redis may not include server' \
    'laravel_redis/laravel_redis.c:.*laravel_redis may not include cluster'; do
    echo "$out" | grep -q "$want" || {
        echo "layers.sh did not report $want; it said:"
        echo "$out"
        exit 1
    }
done
echo "layers_selftest: all eight wrong includes reported"
