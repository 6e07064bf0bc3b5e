/* Temporary placeholder so that code written against crdt.h links while the
 * implementation lands. Every call fails with CRDT_EINVAL. */
#include "crdt.h"

#include <stdlib.h>

const char *crdt_strerror(int err)
{
    switch (err) {
    case CRDT_OK: return "success";
    case CRDT_ENOMEM: return "out of memory";
    case CRDT_EINVAL: return "invalid argument";
    case CRDT_EBADUPDATE: return "malformed update";
    case CRDT_EVERSION: return "unsupported format version";
    case CRDT_EMISSING: return "update depends on a missing operation";
    case CRDT_ELIMIT: return "size limit exceeded";
    case CRDT_EIDINUSE: return "operation id already in use";
    case CRDT_ERANGE: return "output buffer too small";
    default: return "unknown error";
    }
}
void crdt_free_bytes(const crdt_allocator *alloc, void *p) { if (alloc) alloc->free_fn(alloc->ctx, p); else free(p); }
int crdt_version_new(const crdt_allocator *alloc, crdt_version **out) { (void)alloc; (void)out; return CRDT_EINVAL; }
void crdt_version_free(crdt_version *v) { (void)v; }
int crdt_version_encode(const crdt_version *v, uint8_t **out, size_t *out_len) { (void)v; (void)out; (void)out_len; return CRDT_EINVAL; }
int crdt_version_decode(crdt_version *v, const uint8_t *data, size_t len) { (void)v; (void)data; (void)len; return CRDT_EINVAL; }
int crdt_version_contains(const crdt_version *v, const char *agent, size_t agent_len, uint64_t seq) { (void)v; (void)agent; (void)agent_len; (void)seq; return 0; }
uint64_t crdt_version_count(const crdt_version *v) { (void)v; return 0; }
int crdt_doc_new(const crdt_allocator *alloc, const char *agent, size_t agent_len, crdt_doc **out) { (void)alloc; (void)agent; (void)agent_len; (void)out; return CRDT_EINVAL; }
void crdt_doc_free(crdt_doc *doc) { (void)doc; }
int crdt_doc_set_agent(crdt_doc *doc, const char *agent, size_t agent_len, uint64_t seq) { (void)doc; (void)agent; (void)agent_len; (void)seq; return CRDT_EINVAL; }
uint64_t crdt_doc_next_seq(const crdt_doc *doc) { (void)doc; return 0; }
int crdt_doc_insert(crdt_doc *doc, size_t pos, const char *utf8, size_t len) { (void)doc; (void)pos; (void)utf8; (void)len; return CRDT_EINVAL; }
int crdt_doc_delete(crdt_doc *doc, size_t pos, size_t count) { (void)doc; (void)pos; (void)count; return CRDT_EINVAL; }
size_t crdt_doc_length(const crdt_doc *doc) { (void)doc; return 0; }
size_t crdt_doc_byte_length(const crdt_doc *doc) { (void)doc; return 0; }
size_t crdt_doc_utf16_length(const crdt_doc *doc) { (void)doc; return 0; }
int crdt_doc_read(const crdt_doc *doc, size_t pos, size_t count, char *buf, size_t cap, size_t *out_len) { (void)doc; (void)pos; (void)count; (void)buf; (void)cap; (void)out_len; return CRDT_EINVAL; }
int crdt_doc_text(const crdt_doc *doc, char **out, size_t *out_len) { (void)doc; (void)out; (void)out_len; return CRDT_EINVAL; }
int crdt_doc_utf16_to_pos(const crdt_doc *doc, size_t utf16_off, size_t *pos) { (void)doc; (void)utf16_off; (void)pos; return CRDT_EINVAL; }
int crdt_doc_pos_to_utf16(const crdt_doc *doc, size_t pos, size_t *utf16_off) { (void)doc; (void)pos; (void)utf16_off; return CRDT_EINVAL; }
int crdt_doc_version(const crdt_doc *doc, crdt_version *out) { (void)doc; (void)out; return CRDT_EINVAL; }
int crdt_doc_encode_version(const crdt_doc *doc, uint8_t **out, size_t *out_len) { (void)doc; (void)out; (void)out_len; return CRDT_EINVAL; }
int crdt_doc_encode_state(const crdt_doc *doc, uint8_t **out, size_t *out_len) { (void)doc; (void)out; (void)out_len; return CRDT_EINVAL; }
int crdt_doc_encode_since(const crdt_doc *doc, const crdt_version *since, uint8_t **out, size_t *out_len) { (void)doc; (void)since; (void)out; (void)out_len; return CRDT_EINVAL; }
uint64_t crdt_doc_mark(const crdt_doc *doc) { (void)doc; return 0; }
int crdt_doc_encode_since_mark(const crdt_doc *doc, uint64_t mark, uint8_t **out, size_t *out_len) { (void)doc; (void)mark; (void)out; (void)out_len; return CRDT_EINVAL; }
int crdt_doc_apply(crdt_doc *doc, const uint8_t *data, size_t len, crdt_id *missing) { (void)doc; (void)data; (void)len; (void)missing; return CRDT_EINVAL; }
int crdt_doc_covers(const crdt_doc *doc, const crdt_version *v, crdt_id *missing) { (void)doc; (void)v; (void)missing; return CRDT_EINVAL; }
int crdt_doc_check(const crdt_doc *doc) { (void)doc; return CRDT_EINVAL; }
