/* iplimit: per-client-IP connection accounting for the checks made when a
 * connection is accepted (LWS_CALLBACK_FILTER_NETWORK_CONNECTION, before
 * lws reads a byte): at most `max_open` connections open at once from one
 * address (DOCSYNC_IP_MAX_CONNECTIONS) and at most `per_second` new ones in
 * one wall-clock second (DOCSYNC_IP_CONNECTIONS_PER_SECOND). A refused
 * connection is closed by lws at once, before any TLS handshake or HTTP
 * parsing, so a flood from one address costs an accept() and a close().
 *
 * Connections are remembered by descriptor (a table of fd_limit entries),
 * released when lws destroys the wsi (LWS_CALLBACK_WSI_DESTROY, where the
 * descriptor is still open). If a release were ever missed, the next
 * accept on the same descriptor releases the stale entry first, so a count
 * cannot leak for longer than a descriptor's reuse. Addresses are keyed as
 * 16 bytes (IPv4 as v4-mapped IPv6). Entries with no open connection are
 * dropped by iplimit_sweep once their second is over. Loop thread only. */
#ifndef DOCSYNC_IPLIMIT_H
#define DOCSYNC_IPLIMIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define IPLIMIT_OK 0
#define IPLIMIT_OPEN (-1) /* the address is at max_open */
#define IPLIMIT_RATE (-2) /* the address opened per_second this second */
#define IPLIMIT_ENOMEM (-3)

struct iplimit;

/* The 16-byte key of an address (IPv4 as v4-mapped IPv6): 0, or -1 for a
 * family not counted. */
int iplimit_addr_key(const struct sockaddr *sa, uint8_t key[16]);

/* A table for descriptors 0..fd_limit-1; NULL when out of memory. */
struct iplimit *iplimit_new(unsigned fd_limit);
void iplimit_free(struct iplimit *t);

/* Accounts a new connection on `fd` from `addr` (AF_INET or AF_INET6;
 * other families and descriptors beyond the table are admitted without
 * accounting). `max_open` / `per_second` 0 = that check is off. `now` is
 * a second counter (monotonic). Returns IPLIMIT_OK (counted), or
 * IPLIMIT_OPEN / IPLIMIT_RATE (refused, nothing counted; a refused
 * attempt does not count towards the rate), or IPLIMIT_ENOMEM (admitted,
 * not counted). */
int iplimit_admit(struct iplimit *t, int fd, const struct sockaddr *addr, size_t max_open,
                  unsigned per_second, int64_t now);

/* The connection on `fd` is gone (no-op when it was not counted). */
void iplimit_release(struct iplimit *t, int fd);

/* Open connections currently counted, over every address. */
size_t iplimit_open(const struct iplimit *t);

/* Frees the entries of addresses with no open connection whose second is
 * over (call every few seconds). */
void iplimit_sweep(struct iplimit *t, int64_t now);

#endif
