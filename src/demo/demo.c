/* demo: static files of the demo page and the development token endpoint
 * (see demo.h). */
#include "demo.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "auth/token.h"
#include "pusher/sign.h"

#ifndef DEMO_ROOT_DEFAULT
#define DEMO_ROOT_DEFAULT "."
#endif
#ifndef DEMO_WASM_DEFAULT
#define DEMO_WASM_DEFAULT "build/clients/crdt/crdt.wasm"
#endif
#ifndef DEMO_BUNDLE_DEFAULT
#define DEMO_BUNDLE_DEFAULT "build/clients/demo"
#endif

#define DEMO_NAME_MAX 32           /* user names of /demo-token */
#define DEMO_DOC_MAX 128           /* document ids (PROTOCOL-sync.md) */
#define DEMO_TOKEN_TTL (12 * 3600) /* seconds */
#define DEMO_REL_MAX 255           /* relative file names */

/* One directory served under a route prefix. */
struct demo_mount {
    struct demo *demo;
    const char *pattern; /* route, ending in "*" */
    const char *subdir;  /* under the root; NULL: the bundle directory */
    char dir[PATH_MAX];  /* realpath of root/subdir, "" when absent */
};

struct demo {
    struct server *srv;
    char root[PATH_MAX];
    char wasm[PATH_MAX]; /* as configured; resolved at each request */
    struct demo_mount mounts[5];
};

/* The one instance (one server per process), for deinit. */
static struct demo *demo_instance(struct demo *set, int clear)
{
    static struct demo *current;
    if (set)
        current = set;
    struct demo *d = current;
    if (clear)
        current = NULL;
    return d;
}

static const char *content_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".wasm", "application/wasm"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".md", "text/markdown; charset=utf-8"},
        {".svg", "image/svg+xml"},
    };
    const char *dot = strrchr(name, '.');
    if (!dot)
        return NULL;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(dot, types[i].ext))
            return types[i].type;
    return NULL;
}

/* 1 when `rel` is an acceptable relative file name: 1..DEMO_REL_MAX
 * characters of [A-Za-z0-9._-/], no empty segment, no segment starting with
 * '.' (so no "..", no hidden files). */
static int rel_valid(const char *rel)
{
    size_t n = strlen(rel);
    if (n == 0 || n > DEMO_REL_MAX)
        return 0;
    int seg_start = 1;
    for (size_t i = 0; i < n; i++) {
        char ch = rel[i];
        if (ch == '/') {
            if (seg_start)
                return 0; /* empty segment or leading '/' */
            seg_start = 1;
            continue;
        }
        if (seg_start && ch == '.')
            return 0;
        seg_start = 0;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return 0;
    }
    return !seg_start;
}

static void respond_text(struct http_req *req, int status, const char *text)
{
    http_req_respond(req, status, "text/plain; charset=utf-8", text, strlen(text), NULL, NULL);
}

/* Sends the regular file `path` if it resolves under `dir` (a realpath, or
 * NULL for no containment check: a configured file). */
static void send_file(struct server *srv, struct http_req *req, const char *dir, const char *path,
                      const char *type)
{
    char real[PATH_MAX];
    if (!realpath(path, real)) {
        respond_text(req, 404, "Not found.");
        return;
    }
    if (dir) {
        size_t dl = strlen(dir);
        if (strncmp(real, dir, dl) != 0 || real[dl] != '/') {
            respond_text(req, 404, "Not found.");
            return;
        }
    }
    int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        respond_text(req, 404, "Not found.");
        return;
    }
    if (st.st_size > (off_t)DEMO_FILE_MAX) {
        close(fd);
        respond_text(req, 413, "File too large.");
        return;
    }
    size_t size = (size_t)st.st_size, got = 0;
    char *buf = malloc(size ? size : 1);
    while (buf && got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (!buf || got != size) {
        free(buf);
        log_warn(server_logger(srv), "demo: cannot read %s", real);
        respond_text(req, 500, "Cannot read the file.");
        return;
    }
    http_req_respond(req, 200, type, buf, size, "cache-control", "no-cache");
    free(buf);
}

static void get_mount(struct server *srv, struct http_req *req, void *ud)
{
    struct demo_mount *mt = ud;
    const char *rel = http_req_param(req, 0);
    if (!rel || !*rel)
        rel = "index.html";
    const char *type = content_type(rel);
    if (!mt->dir[0] || !rel_valid(rel) || !type) {
        respond_text(req, 404, "Not found.");
        return;
    }
    /* crdt.mjs loads ./crdt.wasm next to itself: a build output, not in clients/docsync/. */
    if (mt->subdir && !strcmp(mt->subdir, "clients/docsync") && !strcmp(rel, "crdt.wasm")) {
        send_file(srv, req, NULL, mt->demo->wasm, type);
        return;
    }
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%s", mt->dir, rel);
    if (n < 0 || (size_t)n >= sizeof path) {
        respond_text(req, 404, "Not found.");
        return;
    }
    send_file(srv, req, mt->dir, path, type);
}

static void get_root(struct server *srv, struct http_req *req, void *ud)
{
    (void)ud;
    const char *q = http_req_query(req);
    char loc[CONFIG_PATH_MAX + 1024];
    int n = snprintf(loc, sizeof loc, "%s/demo/%s%s", server_config(srv)->path, *q ? "?" : "", q);
    if (n < 0 || (size_t)n >= sizeof loc) /* keep the query only when it fits */
        snprintf(loc, sizeof loc, "%s/demo/", server_config(srv)->path);
    http_req_respond(req, 302, "text/plain; charset=utf-8", "", 0, "location", loc);
}

static int name_valid(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

static int doc_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > DEMO_DOC_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-=@,.;", s[i]))
            return 0;
    return 1;
}

/* A signed request URL (path + query) of the Pusher HTTP API for `method
 * path` with `body`, valid for the server's timestamp window. */
static int sign_url(const struct config *cfg, int64_t now, const char *method, const char *path,
                    const char *body, char *out, size_t cap)
{
    char md5[SIGN_MD5_HEX_LEN + 1], sig[SIGN_HEX_LEN + 1], query[CONFIG_CRED_MAX + 128];
    char str[CONFIG_CRED_MAX * 2 + DEMO_DOC_MAX + 256];
    sign_md5_hex(body, strlen(body), md5);
    int n = snprintf(query, sizeof query,
                     "auth_key=%s&auth_timestamp=%lld&auth_version=1.0&body_md5=%s", cfg->app_key,
                     (long long)now, md5);
    if (n < 0 || (size_t)n >= sizeof query)
        return -1;
    n = snprintf(str, sizeof str, "%s\n%s\n%s", method, path, query);
    if (n < 0 || (size_t)n >= sizeof str)
        return -1;
    sign_hmac_hex(cfg->app_secret, strlen(cfg->app_secret), str, (size_t)n, sig);
    n = snprintf(out, cap, "%s%s?%s&auth_signature=%s", cfg->path, path, query, sig);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* POST /demo-token {"name":"ada","document":"demo"} (development app only):
 * {"token", "key", "path", "user":{"id","name"}, "acl":{"method","url","body"}} where the
 * token is an HS256 bearer token for user `name` (12 h) and `acl` a signed
 * HTTP API request that lets every user edit `document` (the built-in
 * /broadcasting/auth requires an access list on document channels). Anyone
 * who can reach the port can impersonate any user: development only. */
static void post_token(struct server *srv, struct http_req *req, void *ud)
{
    (void)ud;
    const struct config *cfg = server_config(srv);
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    cJSON *in = body ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *jn = cJSON_GetObjectItemCaseSensitive(in, "name");
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(in, "document");
    if (!cJSON_IsString(jn) || !name_valid(jn->valuestring, DEMO_NAME_MAX) ||
        (jd && (!cJSON_IsString(jd) || !doc_valid(jd->valuestring)))) {
        cJSON_Delete(in);
        respond_text(req, 422, "Expected {\"name\": 1-32 of A-Z a-z 0-9 _ -, \"document\"?: id}.");
        return;
    }
    int64_t now = server_now(srv);
    char token[TOKEN_MAX_LEN + 1];
    int rc = token_issue(cfg->app_secret, strlen(cfg->app_secret), jn->valuestring, jn->valuestring,
                         now + DEMO_TOKEN_TTL, NULL, token, sizeof token);
    cJSON *o = cJSON_CreateObject();
    cJSON *user = cJSON_AddObjectToObject(o, "user");
    cJSON_AddStringToObject(user, "id", jn->valuestring);
    cJSON_AddStringToObject(user, "name", jn->valuestring);
    cJSON_AddStringToObject(o, "token", token);
    cJSON_AddStringToObject(o, "key", cfg->app_key); /* public: Echo's `key` */
    cJSON_AddStringToObject(o, "path", cfg->path);   /* Echo's `wsPath` */
    if (rc == 0 && jd) {
        static const char acl_body[] = "{\"user\":\"*\",\"role\":\"editor\"}";
        char path[CONFIG_CRED_MAX + DEMO_DOC_MAX + 32], url[1024];
        int n =
            snprintf(path, sizeof path, "/apps/%s/documents/%s/acl", cfg->app_id, jd->valuestring);
        if (n > 0 && (size_t)n < sizeof path &&
            sign_url(cfg, now, "PUT", path, acl_body, url, sizeof url) == 0) {
            cJSON *acl = cJSON_AddObjectToObject(o, "acl");
            cJSON_AddStringToObject(acl, "method", "PUT");
            cJSON_AddStringToObject(acl, "url", url);
            cJSON_AddStringToObject(acl, "body", acl_body);
        } else {
            rc = -1;
        }
    }
    cJSON_Delete(in);
    char *s = rc == 0 ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (s)
        http_req_respond(req, 200, NULL, s, strlen(s), "cache-control", "no-store");
    else
        respond_text(req, 500, "Cannot issue a token.");
    free(s);
}

int demo_start(struct server *srv)
{
    const struct config *cfg = server_config(srv);
    const struct logger *lg = server_logger(srv);
    if (!(cfg->demo == 1 || (cfg->demo == -1 && cfg->dev_app)))
        return 0;
    if (demo_instance(NULL, 0))
        return 0; /* already initialised */
    struct demo *d = calloc(1, sizeof *d);
    if (!d)
        return SERVER_ENOMEM;
    d->srv = srv;
    const char *root = cfg->demo_root[0] ? cfg->demo_root : DEMO_ROOT_DEFAULT;
    snprintf(d->wasm, sizeof d->wasm, "%s", cfg->wasm[0] ? cfg->wasm : DEMO_WASM_DEFAULT);
    if (!realpath(root, d->root)) {
        log_warn(lg, "demo: root %s not found; the demo page is disabled", root);
        free(d);
        return 0;
    }
    static const struct {
        const char *pattern, *subdir;
    } mounts[] = {
        {"/demo/*", "clients/demo"},
        {"/clients/docsync/*", "clients/docsync"},
        {"/vendor/pusher-js/*", "node_modules/pusher-js/dist/web"},
        {"/vendor/laravel-echo/*", "node_modules/laravel-echo/dist"},
        /* The page's browser bundle (esbuild, from npm packages): a build output. */
        {"/demo-dist/*", NULL},
    };
    const char *bundle = cfg->demo_bundle[0] ? cfg->demo_bundle : DEMO_BUNDLE_DEFAULT;
    _Static_assert(sizeof mounts / sizeof mounts[0] == sizeof d->mounts / sizeof d->mounts[0],
                   "one slot per mount");
    demo_instance(d, 0);
    int rc = http_route(srv, "GET", "/", 0, get_root, d);
    for (size_t i = 0; rc == 0 && i < sizeof mounts / sizeof mounts[0]; i++) {
        struct demo_mount *mt = &d->mounts[i];
        char path[PATH_MAX + 64];
        mt->demo = d;
        mt->pattern = mounts[i].pattern;
        mt->subdir = mounts[i].subdir;
        if (mt->subdir)
            snprintf(path, sizeof path, "%s/%s", d->root, mt->subdir);
        else
            snprintf(path, sizeof path, "%s", bundle);
        if (!realpath(path, mt->dir)) {
            mt->dir[0] = '\0';
            log_warn(lg, "demo: %s not found (its files are not served)", path);
        }
        rc = http_route(srv, "GET", mt->pattern, 0, get_mount, mt);
    }
    if (rc == 0 && cfg->dev_app)
        rc = http_route(srv, "POST", "/demo-token", 0, post_token, d);
    if (rc != 0) {
        log_error(lg, "demo: cannot register the routes");
        return rc; /* deinit frees */
    }
    if (access(d->wasm, R_OK) != 0)
        log_warn(lg, "demo: %s not found (build the crdt_wasm target)", d->wasm);
    log_info(lg, "demo: page at %s/demo/ on the server's port (files from %s)", cfg->path, d->root);
    return 0;
}

void demo_stop(struct server *srv)
{
    (void)srv;
    free(demo_instance(NULL, 1));
}
