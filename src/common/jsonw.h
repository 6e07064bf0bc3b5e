/* jsonw: a JSON text writer, the one every reply and frame of the server is
 * written with (Pusher frames, document acks and updates, activity
 * entries). Appends to a buffer that starts in the caller's storage (a stack
 * array, say) and moves to the heap when it grows. The text is always
 * NUL-terminated. Strings are escaped as JSON requires; bytes that are not
 * valid UTF-8 become U+FFFD, so what is written is always valid UTF-8 and
 * fits in a WebSocket text frame.
 *
 * Running out of memory is sticky: the writer sets `oom`, drops what
 * follows, and jsonw_take() returns NULL, so a caller checks once at the
 * end. Not thread-safe; no global state. */
#ifndef DOCSYNC_JSONW_H
#define DOCSYNC_JSONW_H

#include <stddef.h>
#include <stdint.h>

struct jsonw {
    char *p;    /* the text so far, NUL-terminated */
    size_t len; /* bytes before the NUL */
    size_t cap; /* bytes p can hold, NUL included */
    int heap;   /* p was allocated here (else it is the caller's buffer) */
    int oom;    /* an allocation failed; nothing more is written */
};

/* Starts an empty text in `buf` (`cap` bytes, at least 1), or on the heap
 * with room for about `cap` bytes when `buf` is NULL. */
void jsonw_init(struct jsonw *w, char *buf, size_t cap);

/* Makes room for `more` bytes after the text (and its NUL), to be written
 * in place at w->p + w->len by a caller that then advances w->len (base64
 * straight into the text, say). Returns 0, or -1 when out of memory (then
 * oom is set). */
int jsonw_room(struct jsonw *w, size_t more);

/* Appends `n` bytes verbatim (already JSON, or headroom). */
void jsonw_raw(struct jsonw *w, const void *s, size_t n);

/* Appends `n` zero bytes (room a caller fills in later, e.g. the space a
 * WebSocket header needs in front of a frame). */
void jsonw_zero(struct jsonw *w, size_t n);

/* Appends the NUL-terminated `s` verbatim. */
void jsonw_lit(struct jsonw *w, const char *s);

/* Appends an integer in decimal. */
void jsonw_u64(struct jsonw *w, uint64_t v);
void jsonw_i64(struct jsonw *w, int64_t v);

/* Appends the `n` bytes at `s` as a JSON string literal, quotes included. */
void jsonw_str(struct jsonw *w, const char *s, size_t n);

/* The same for a NUL-terminated string; NULL writes "". */
void jsonw_cstr(struct jsonw *w, const char *s);

/* Appends the string literal `s` (its length known at compile time). */
#define JSONW_LIT(w, s) jsonw_raw((w), "" s, sizeof(s) - 1)

/* Appends `,"k":` for an object member after the first (`k` a literal key
 * of the caller's, never input; the first member is written with
 * JSONW_LIT, e.g. JSONW_LIT(w, "{\"id\":")). */
#define JSONW_KEY(w, k) JSONW_LIT((w), ",\"" k "\":")

/* Hands the text over: returns it as a heap string the caller frees (with
 * its length in *len when `len` is not NULL) and leaves the writer empty and
 * finished, or returns NULL after running out of memory (the writer is
 * freed either way). */
char *jsonw_take(struct jsonw *w, size_t *len);

/* Frees what the writer allocated; the text is gone. */
void jsonw_free(struct jsonw *w);

#endif
