/* reader: history reads off the loop thread. See reader.h. */
#include "reader.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "document.h"

struct sync_reader {
    store *s;
    void (*notify)(void *arg);
    void *arg;
    size_t max_queue;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    size_t inflight; /* queued + running + done but not drained */
    struct reader_job *queue, **queue_tail;
    struct reader_job *done, **done_tail;
};

static void reader_job_free(struct reader_job *j)
{
    free(j->text);
    free(j);
}

static void *reader_main(void *arg)
{
    sync_reader *r = arg;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->stop && !r->queue)
            pthread_cond_wait(&r->cv, &r->mu);
        if (r->stop)
            break;
        struct reader_job *j = r->queue;
        r->queue = j->next;
        if (!r->queue)
            r->queue_tail = &r->queue;
        j->next = NULL;
        pthread_mutex_unlock(&r->mu);

        j->rc = document_text_at(r->s, j->req.doc, j->req.version, &j->text, &j->len, &j->oldest);

        pthread_mutex_lock(&r->mu);
        *r->done_tail = j;
        r->done_tail = &j->next;
        pthread_mutex_unlock(&r->mu);
        r->notify(r->arg);
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int reader_new(store *s, size_t max_queue, void (*notify)(void *arg), void *arg, sync_reader **out)
{
    *out = NULL;
    sync_reader *r = calloc(1, sizeof *r);
    if (!r)
        return READER_ENOMEM;
    r->s = s;
    r->notify = notify;
    r->arg = arg;
    r->max_queue = max_queue ? max_queue : 1;
    r->queue_tail = &r->queue;
    r->done_tail = &r->done;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    if (pthread_create(&r->th, NULL, reader_main, r) != 0) {
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        free(r);
        return READER_ENOMEM;
    }
    *out = r;
    return 0;
}

int reader_submit(sync_reader *r, const struct sync_request *req, const struct sync_reply *reply)
{
    if (r->inflight >= r->max_queue)
        return READER_EFULL;
    struct reader_job *j = calloc(1, sizeof *j);
    if (!j)
        return READER_ENOMEM;
    j->req = *req;
    j->req.update = NULL;
    j->req.update_len = 0;
    j->req.content = NULL;
    j->req.content_len = 0;
    j->reply = *reply;
    pthread_mutex_lock(&r->mu);
    *r->queue_tail = j;
    r->queue_tail = &j->next;
    r->inflight++;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return 0;
}

void reader_drain(sync_reader *r, void (*done)(void *ctx, const struct reader_job *job), void *ctx)
{
    pthread_mutex_lock(&r->mu);
    struct reader_job *list = r->done;
    r->done = NULL;
    r->done_tail = &r->done;
    pthread_mutex_unlock(&r->mu);
    while (list) {
        struct reader_job *next = list->next;
        r->inflight--;
        done(ctx, list);
        reader_job_free(list);
        list = next;
    }
}

void reader_free(sync_reader *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->th, NULL);
    struct reader_job *lists[2] = {r->queue, r->done};
    for (int i = 0; i < 2; i++) {
        for (struct reader_job *j = lists[i], *next; j; j = next) {
            next = j->next;
            reader_job_free(j);
        }
    }
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
