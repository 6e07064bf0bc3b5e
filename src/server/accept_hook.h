/* accept_hook: what docsyncd does when it runs out of descriptors.
 *
 * libwebsockets 4.1.6 accepts with accept(); when that fails with EMFILE or
 * ENFILE it logs and returns to its loop with the listening socket still
 * readable, so the loop wakes again at once: the process spins on a full
 * backlog. The `accept` defined in accept_hook.c (linked into docsyncd
 * itself, like the recv() of wsmask_recv.c, so that lws's calls bind to
 * it) keeps one descriptor in reserve (/dev/null): on EMFILE/ENFILE it
 * closes the reserve, accepts the waiting connection, closes it at once
 * (the client sees its connection closed, not a hang), takes the reserve
 * back and tells lws EAGAIN. Each such connection is counted
 * (docsync_accept_shed_total). Service resumes by itself as descriptors
 * are freed. Loop thread (lws accepts there). */
#ifndef DOCSYNC_ACCEPT_HOOK_H
#define DOCSYNC_ACCEPT_HOOK_H

#include <stdint.h>

/* Opens the reserve descriptor (before lws listens). 0 or -1. */
int accept_hook_init(void);

/* Closes the reserve descriptor. */
void accept_hook_free(void);

/* Connections shed for lack of descriptors since the start. */
uint64_t accept_hook_shed(void);

#endif
