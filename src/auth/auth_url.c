/* auth_url: the app's auth endpoint for Socket.IO subscriptions (see
 * auth_url.h). Loop side: the authoriser builds the whole request and
 * queues it; the wake hook hands decisions to sio_auth_done. Threads: one
 * blocking HTTP/1.0 exchange each at a time, under a deadline. */
#include "auth_url.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct auth_url_job {
    struct auth_url_job *next;
    char socket_id[64];
    char *channel;
    char *request; /* the HTTP request, whole */
    size_t request_len;
    int status; /* -1: no answer */
    char *body;
    size_t body_len;
};

struct auth_url {
    struct server *srv;
    char host[256], port[8], path[1024];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct auth_url_job *todo, *done;
    size_t queued;
    int stop;
    pthread_t th[AUTH_URL_THREADS];
    size_t nth;
};

/* One server per process (main.c's modules take only the server). */
static struct auth_url *auth_url_instance;

int auth_url_parse(const char *url, char *host, size_t hcap, char *port, size_t pcap, char *path,
                   size_t pathcap)
{
    if (strncmp(url, "http://", 7) != 0)
        return -1;
    const char *h = url + 7;
    const char *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    const char *colon = memchr(h, ':', hl);
    size_t namel = colon ? (size_t)(colon - h) : hl;
    if (!namel || namel >= hcap)
        return -1;
    memcpy(host, h, namel);
    host[namel] = '\0';
    if (colon) {
        size_t pl = hl - namel - 1;
        if (!pl || pl >= pcap || pl > 5)
            return -1;
        for (size_t i = 0; i < pl; i++)
            if (colon[1 + i] < '0' || colon[1 + i] > '9')
                return -1;
        memcpy(port, colon + 1, pl);
        port[pl] = '\0';
    } else {
        if (pcap < 3)
            return -1;
        memcpy(port, "80", 3);
    }
    const char *p = slash ? slash : "/";
    if (strlen(p) >= pathcap)
        return -1;
    for (const char *c = p; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            return -1;
    memcpy(path, p, strlen(p) + 1);
    return 0;
}

/* ---- the request ----------------------------------------------------- */

/* A header name of token characters (RFC 9110), at most 64. */
static int auth_url_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 64)
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("!#$%&'*+-.^_`|~", c)))
            return 0;
    }
    return 1;
}

/* A header value without control characters, at most 8 KB. */
static int auth_url_value_ok(const char *s)
{
    if (strlen(s) > 8192)
        return 0;
    for (; *s; s++)
        if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
            return 0;
    return 1;
}

static void auth_url_pct(char **w, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            *(*w)++ = (char)ch;
        } else {
            *(*w)++ = '%';
            *(*w)++ = hex[ch >> 4];
            *(*w)++ = hex[ch & 15];
        }
    }
}

/* The request laravel-echo-server would send. NULL when out of memory. */
static char *auth_url_request(const struct auth_url *u, const struct sio_auth_request *rq,
                              size_t *len)
{
    char form[1024];
    char *w = form;
    memcpy(w, "channel_name=", 13);
    w += 13;
    auth_url_pct(&w, rq->channel); /* names are at most ~200 characters */
    *w = '\0';
    size_t flen = (size_t)(w - form);

    cJSON *headers = cJSON_Parse(rq->headers_json);
    size_t cap = 2048 + strlen(rq->headers_json) + (rq->cookie ? strlen(rq->cookie) : 0) + flen;
    char *r = malloc(cap);
    if (!r) {
        cJSON_Delete(headers);
        return NULL;
    }
    size_t n = (size_t)snprintf(r, cap,
                                "POST %s HTTP/1.0\r\nHost: %s:%s\r\nConnection: close\r\n"
                                "Content-Type: application/x-www-form-urlencoded\r\n"
                                "Content-Length: %zu\r\nX-Requested-With: XMLHttpRequest\r\n",
                                u->path, u->host, u->port, flen);
    int cookie = 0;
    const cJSON *h;
    static const char *const own[] = {"host",
                                      "content-length",
                                      "content-type",
                                      "connection",
                                      "transfer-encoding",
                                      "x-requested-with",
                                      "expect",
                                      "upgrade",
                                      "te",
                                      "proxy-connection"};
    cJSON_ArrayForEach(h, headers)
    {
        if (!cJSON_IsString(h) || !auth_url_name_ok(h->string) ||
            !auth_url_value_ok(h->valuestring))
            continue;
        int skip = 0;
        for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
            skip |= !strcasecmp(h->string, own[i]);
        if (skip)
            continue;
        cookie |= !strcasecmp(h->string, "cookie");
        n += (size_t)snprintf(r + n, cap - n, "%s: %s\r\n", h->string, h->valuestring);
    }
    cJSON_Delete(headers);
    if (!cookie && rq->cookie && auth_url_value_ok(rq->cookie))
        n += (size_t)snprintf(r + n, cap - n, "Cookie: %s\r\n", rq->cookie);
    n += (size_t)snprintf(r + n, cap - n, "\r\n%s", form);
    *len = n < cap ? n : cap - 1;
    return r;
}

/* ---- the threads ------------------------------------------------------- */

static int64_t auth_url_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for `ev` on fd until the deadline; 0 when ready, -1 otherwise. */
static int auth_url_wait(int fd, short ev, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - auth_url_ms();
        if (left <= 0)
            return -1;
        struct pollfd p = {.fd = fd, .events = ev};
        int rc = poll(&p, 1, (int)left);
        if (rc > 0)
            return 0;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
}

/* Connects to the app; the socket or -1. */
static int auth_url_connect(const struct auth_url *u, int64_t deadline)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(u->host, u->port, &hints, &ai) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0 &&
            (errno != EINPROGRESS || auth_url_wait(fd, POLLOUT, deadline) != 0)) {
            close(fd);
            fd = -1;
            continue;
        }
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    return fd;
}

/* One exchange: job->status and job->body. */
static void auth_url_exchange(const struct auth_url *u, struct auth_url_job *job)
{
    job->status = -1;
    int64_t deadline = auth_url_ms() + AUTH_URL_TIMEOUT_MS;
    int fd = auth_url_connect(u, deadline);
    if (fd < 0)
        return;
    size_t off = 0;
    while (off < job->request_len) {
        ssize_t k = send(fd, job->request + off, job->request_len - off, MSG_NOSIGNAL);
        if (k > 0) {
            off += (size_t)k;
        } else if ((k < 0 && errno != EAGAIN && errno != EINTR) ||
                   auth_url_wait(fd, POLLOUT, deadline) != 0) {
            close(fd);
            return;
        }
    }
    char *buf = malloc(AUTH_URL_MAX_ANSWER + 1);
    size_t used = 0;
    while (buf && used < AUTH_URL_MAX_ANSWER) {
        ssize_t k = recv(fd, buf + used, AUTH_URL_MAX_ANSWER - used, 0);
        if (k > 0) {
            used += (size_t)k;
        } else if (k == 0) {
            break;
        } else if ((errno != EAGAIN && errno != EINTR) ||
                   auth_url_wait(fd, POLLIN, deadline) != 0) {
            used = 0; /* cut or late: no decision */
            break;
        }
    }
    close(fd);
    if (!buf)
        return;
    buf[used] = '\0';
    char *eoh = strstr(buf, "\r\n\r\n");
    int status = 0;
    if (eoh && sscanf(buf, "HTTP/1.%*1[01] %3d", &status) == 1 && status >= 100) {
        job->status = status;
        job->body_len = used - (size_t)(eoh + 4 - buf);
        memmove(buf, eoh + 4, job->body_len);
        buf[job->body_len] = '\0';
        job->body = buf;
        return;
    }
    free(buf);
}

static void *auth_url_thread(void *arg)
{
    struct auth_url *u = arg;
    pthread_mutex_lock(&u->mu);
    for (;;) {
        while (!u->stop && !u->todo)
            pthread_cond_wait(&u->cv, &u->mu);
        if (u->stop)
            break;
        struct auth_url_job *job = u->todo;
        u->todo = job->next;
        pthread_mutex_unlock(&u->mu);
        auth_url_exchange(u, job);
        pthread_mutex_lock(&u->mu);
        job->next = u->done;
        u->done = job;
        server_wake(u->srv);
    }
    pthread_mutex_unlock(&u->mu);
    return NULL;
}

/* ---- the loop side --------------------------------------------------------- */

static void auth_url_job_free(struct auth_url_job *j)
{
    free(j->channel);
    free(j->request);
    free(j->body);
    free(j);
}

/* channel_data of a presence answer: {"channel_data": object or string}. */
static char *auth_url_channel_data(const char *body)
{
    cJSON *o = body ? cJSON_Parse(body) : NULL;
    const cJSON *cd = cJSON_GetObjectItemCaseSensitive(o, "channel_data");
    char *out = NULL;
    if (cJSON_IsString(cd))
        out = strdup(cd->valuestring);
    else if (cJSON_IsObject(cd))
        out = cJSON_PrintUnformatted(cd);
    cJSON_Delete(o);
    return out;
}

static void auth_url_wake(struct server *srv, void *ud)
{
    struct auth_url *u = ud;
    pthread_mutex_lock(&u->mu);
    struct auth_url_job *done = u->done;
    u->done = NULL;
    pthread_mutex_unlock(&u->mu);
    while (done) {
        struct auth_url_job *j = done;
        done = j->next;
        u->queued--;
        int ok = j->status == 200;
        char *cd =
            ok && !strncmp(j->channel, "presence-", 9) ? auth_url_channel_data(j->body) : NULL;
        if (!ok)
            log_info(server_logger(srv), "socket.io auth: %s refused on %s by the app (%d)",
                     j->socket_id, j->channel, j->status);
        sio_auth_done(srv, j->socket_id, j->channel, ok, cd);
        free(cd);
        auth_url_job_free(j);
    }
}

static int auth_url_authorize(struct server *srv, const struct sio_auth_request *rq,
                              char **channel_data, void *ud)
{
    (void)srv;
    (void)channel_data;
    struct auth_url *u = ud;
    if (u->queued >= AUTH_URL_MAX_QUEUED || strlen(rq->socket_id) >= 64 ||
        strlen(rq->channel) > 300)
        return SIO_AUTH_DENY;
    struct auth_url_job *j = calloc(1, sizeof *j);
    if (!j)
        return SIO_AUTH_DENY;
    memcpy(j->socket_id, rq->socket_id, strlen(rq->socket_id) + 1);
    j->channel = strdup(rq->channel);
    j->request = auth_url_request(u, rq, &j->request_len);
    if (!j->channel || !j->request) {
        auth_url_job_free(j);
        return SIO_AUTH_DENY;
    }
    u->queued++;
    pthread_mutex_lock(&u->mu);
    struct auth_url_job **t = &u->todo;
    while (*t)
        t = &(*t)->next;
    *t = j;
    pthread_cond_signal(&u->cv);
    pthread_mutex_unlock(&u->mu);
    return SIO_AUTH_LATER;
}

int auth_url_start(struct server *srv)
{
    const struct config *cfg = server_config(srv);
    if (!cfg->sio_auth_url[0])
        return 0;
    struct auth_url *u = calloc(1, sizeof *u);
    if (!u)
        return -1;
    u->srv = srv;
    if (auth_url_parse(cfg->sio_auth_url, u->host, sizeof u->host, u->port, sizeof u->port, u->path,
                       sizeof u->path) != 0) {
        log_error(server_logger(srv),
                  "DOCSYNC_SOCKETIO_AUTH_URL: %s is not an http://host[:port]/path URL",
                  cfg->sio_auth_url);
        free(u);
        return -1;
    }
    pthread_mutex_init(&u->mu, NULL);
    pthread_cond_init(&u->cv, NULL);
    if (server_on_wake(srv, auth_url_wake, u) != 0 ||
        sio_on_authorize(srv, auth_url_authorize, u) != 0) {
        free(u);
        return -1;
    }
    for (size_t i = 0; i < AUTH_URL_THREADS; i++)
        if (pthread_create(&u->th[u->nth], NULL, auth_url_thread, u) == 0)
            u->nth++;
    auth_url_instance = u;
    log_info(server_logger(srv), "socket.io subscriptions are checked at %s", cfg->sio_auth_url);
    return 0;
}

void auth_url_stop(struct server *srv)
{
    (void)srv;
    struct auth_url *u = auth_url_instance;
    if (!u)
        return;
    pthread_mutex_lock(&u->mu);
    u->stop = 1;
    pthread_cond_broadcast(&u->cv);
    pthread_mutex_unlock(&u->mu);
    for (size_t i = 0; i < u->nth; i++)
        pthread_join(u->th[i], NULL);
    for (struct auth_url_job *l[2] = {u->todo, u->done}, **p = l; p < l + 2; p++) {
        while (*p) {
            struct auth_url_job *j = *p;
            *p = j->next;
            auth_url_job_free(j);
        }
    }
    pthread_mutex_destroy(&u->mu);
    pthread_cond_destroy(&u->cv);
    free(u);
    auth_url_instance = NULL;
}
