/* upgrade: checks on a WebSocket upgrade request before lws accepts it.
 *
 * upgrade_confirm runs in LWS_CALLBACK_HTTP_CONFIRM_UPGRADE and refuses
 * anything that is not a well-formed RFC 6455 upgrade on our route: a
 * non-"websocket" Upgrade (h2c: 400; lws answers other values with 403
 * itself), a path other than {prefix}/app/{key} (404 "Not found."), a
 * Sec-WebSocket-Version other than 13 (426 + Sec-WebSocket-Version: 13),
 * a malformed Sec-WebSocket-Key (400). It never reads the callback's `in`
 * (CVE-2025-11677: it can point into a freed header table); lws_hdr_copy
 * returns -1 when the table is gone and the request is then dropped.
 *
 * upgrade_filter runs in LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION and
 * records whether the key is our app's and whether the Origin is allowed;
 * those failures are reported after the upgrade as pusher:error frames
 * (4001, 4009), as Reverb does. */
#include "server_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config/origin.h"

static void upgrade_respond(struct lws *wsi, unsigned status, const char *reason, const char *body,
                            const char *extra)
{
    /* Formatted by hand: lws has not settled the HTTP version yet here. */
    unsigned char buf[LWS_PRE + 512];
    int n = snprintf((char *)buf + LWS_PRE, sizeof(buf) - LWS_PRE,
                     "HTTP/1.1 %u %s\r\nserver: docsync\r\ncontent-type: text/plain\r\n"
                     "content-length: %zu\r\nconnection: close\r\n%s\r\n%s",
                     status, reason, strlen(body), extra ? extra : "", body);
    if (n > 0 && (size_t)n < sizeof(buf) - LWS_PRE)
        (void)lws_write(wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_HTTP_FINAL);
}

/* Copies header `h` into buf; returns its length or -1 (absent / too long /
 * header table gone). */
static int upgrade_hdr(struct lws *wsi, enum lws_token_indexes h, char *buf, int cap)
{
    if (lws_hdr_total_length(wsi, h) >= cap)
        return -1;
    int n = lws_hdr_copy(wsi, buf, cap, h);
    return n < 0 ? -1 : n;
}

/* Does `path` name our WebSocket route? Sets *key to the key part. */
static int upgrade_path(const struct config *cfg, const char *path, const char **key)
{
    size_t plen = strlen(cfg->path);
    if (strncmp(path, cfg->path, plen) != 0)
        return 0;
    path += plen;
    if (strncmp(path, "/app/", 5) != 0)
        return 0;
    path += 5;
    if (!*path || strchr(path, '/'))
        return 0;
    *key = path;
    return 1;
}

/* Does `path` name the Engine.IO route ({prefix}/socket.io/)? */
static int upgrade_sio_path(const struct config *cfg, const char *path)
{
    size_t plen = strlen(cfg->path);
    return strncmp(path, cfg->path, plen) == 0 && strcmp(path + plen, "/socket.io/") == 0;
}

static int upgrade_key_valid(const char *k, int n)
{
    /* base64 of 16 bytes: 22 base64 chars then "==". */
    if (n != 24 || k[22] != '=' || k[23] != '=')
        return 0;
    for (int i = 0; i < 22; i++) {
        char ch = k[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '+' || ch == '/'))
            return 0;
    }
    return 1;
}

int upgrade_confirm(struct server *srv, struct lws *wsi)
{
    char up[32];
    /* <= 0: the header table is gone or was reset (lws already answered an
     * unknown Upgrade with 403): just hang up. */
    if (upgrade_hdr(wsi, WSI_TOKEN_UPGRADE, up, sizeof(up)) <= 0)
        return -1;
    if (strcasecmp(up, "websocket") != 0) {
        /* h2c (or anything lws let through): never switch protocols here. */
        upgrade_respond(wsi, 400, "Bad Request", "Bad request.", NULL);
        return -1;
    }
    char path[1024];
    int n = upgrade_hdr(wsi, WSI_TOKEN_GET_URI, path, sizeof(path));
    const char *key;
    if (n <= 0 || (!upgrade_path(srv->cfg, path, &key) && !upgrade_sio_path(srv->cfg, path))) {
        if (n <= 0)
            upgrade_respond(wsi, 405, "Method Not Allowed", "Method not allowed.",
                            "allow: GET\r\n");
        else
            upgrade_respond(wsi, 404, "Not Found", "Not found.", NULL);
        return -1;
    }
    char ver[16];
    n = upgrade_hdr(wsi, WSI_TOKEN_VERSION, ver, sizeof(ver));
    if (n <= 0 || strcmp(ver, "13") != 0) {
        upgrade_respond(wsi, 426, "Upgrade Required", "Upgrade required.",
                        "sec-websocket-version: 13\r\n");
        return -1;
    }
    char wskey[64];
    n = upgrade_hdr(wsi, WSI_TOKEN_KEY, wskey, sizeof(wskey));
    if (n < 0 || !upgrade_key_valid(wskey, n)) {
        upgrade_respond(wsi, 400, "Bad Request", "Bad request.", NULL);
        return -1;
    }
    return 0;
}

int upgrade_filter(struct server *srv, struct lws *wsi, int *app_ok, int *origin_ok, int *sio)
{
    char path[1024];
    const char *key = NULL;
    int n = upgrade_hdr(wsi, WSI_TOKEN_GET_URI, path, sizeof(path));
    *sio = n > 0 && upgrade_sio_path(srv->cfg, path);
    if (n <= 0 || (!*sio && !upgrade_path(srv->cfg, path, &key)))
        return -1;
    *app_ok = *sio || strcmp(key, srv->cfg->app_key) == 0;
    char origin[512];
    n = upgrade_hdr(wsi, WSI_TOKEN_ORIGIN, origin, sizeof(origin));
    if (n < 0 && lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) > 0) {
        *origin_ok = 0; /* present but absurdly long */
        return 0;
    }
    *origin_ok = origin_allowed(srv->cfg->allowed_origins, n > 0 ? origin : NULL);
    return 0;
}
