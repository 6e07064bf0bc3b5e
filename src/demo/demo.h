/* demo: the demo page of docsyncd (clients/demo/) and the files it needs,
 * served by the server itself so the collaborative editor runs without a
 * Laravel app (README "Demo").
 *
 * Routes (under REVERB_SERVER_PATH), GET only:
 *   /                       302 to /demo/
 *   /demo/ *                clients/demo/   (index.html for the directory)
 *   /clients/docsync/ *     clients/docsync/ (the JS client and its CRDT
 *                           wrapper), and crdt.wasm from DOCSYNC_WASM
 *   /vendor/pusher-js/ *    node_modules/pusher-js/dist/web/
 *   /vendor/laravel-echo/ * node_modules/laravel-echo/dist/
 *   /demo-dist/ *           the page's bundle (DOCSYNC_DEMO_BUNDLE), built by
 *                           clients/demo/CMakeLists.txt with esbuild
 * and, with the development app only, POST /demo-token (a development
 * bearer token for a chosen user name, see demo.c).
 *
 * Files: only regular files under those directories (resolved with
 * realpath, so neither `..` nor symbolic links lead outside), names of
 * [A-Za-z0-9._-/] without hidden segments, known extensions (content type
 * by extension), at most DEMO_FILE_MAX bytes.
 *
 * Settings (struct config: environment, .env):
 *   DOCSYNC_DEMO       on/off; default on with the development app only
 *   DOCSYNC_DEMO_ROOT  the tree holding clients/ and node_modules/
 *                      (default: the source tree docsyncd was built from)
 *   DOCSYNC_WASM       crdt.wasm (default: <build dir>/clients/crdt/crdt.wasm
 *                      of the build that made docsyncd)
 *   DOCSYNC_DEMO_BUNDLE the bundle's directory (default: <build dir>/clients/demo)
 */
#ifndef DOCSYNC_DEMO_H
#define DOCSYNC_DEMO_H

#include "server/server.h"

#define DEMO_FILE_MAX (4u << 20) /* largest file served, bytes */

/* Registers the demo routes when the demo is enabled (else does nothing).
 * main.c calls it on the loop thread before the loop runs. Returns 0, or a negative SERVER_E* code
 * when a route cannot be registered (start-up then fails). A missing root directory is not an
 * error: the demo is disabled with a warning. A second call does nothing. */
int demo_start(struct server *srv);

/* Releases what demo_start allocated; safe when it did nothing. */
void demo_stop(struct server *srv);

#endif
