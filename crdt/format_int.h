/* format_int.h - the wire format's identifiers and op header bits, shared
 * by the reader (apply.c, version.c) and the writer (encode.c, version.c).
 * The byte layout they belong to is described in FORMAT.md. Not installed. */
#ifndef DOCSYNC_CRDT_FORMAT_INT_H
#define DOCSYNC_CRDT_FORMAT_INT_H

/* First two bytes of every update and every encoded version. */
#define CRDT_MAGIC_UPDATE 0xD5
#define CRDT_MAGIC_VERSION 0xD6
#define CRDT_FORMAT_VERSION 1
/* The packed full state: the ops of a version 1 update in compressed
 * columns (packed.c). Versions stay version 1. */
#define CRDT_FORMAT_PACKED 2

/* Op header byte. Bits 0-1 are the kind (below); the flags say which
 * fields are left out because they follow from the previous op. Bit 7 is
 * always 0. */
#define CRDT_OP_KIND_MASK 0x03
#define CRDT_OP_SAME 0x04       /* id continues the previous op's run */
#define CRDT_OP_LEFT_PREV 0x08  /* inserts: left origin is (agent, seq - 1) */
#define CRDT_OP_LEFT_NONE 0x10  /* inserts: left origin is the document start */
#define CRDT_OP_RIGHT_NONE 0x20 /* inserts: bound is the document end */
#define CRDT_OP_RIGHT_SAME 0x40 /* inserts: bound of the previous insert op */
/* The flags only an insert may carry. */
#define CRDT_OP_INS_FLAGS                                                                          \
    (CRDT_OP_LEFT_PREV | CRDT_OP_LEFT_NONE | CRDT_OP_RIGHT_NONE | CRDT_OP_RIGHT_SAME)

/* Op kinds (header bits 0-1). */
enum { CRDT_KIND_INS = 0, CRDT_KIND_INS_DEL = 1, CRDT_KIND_DEL = 2, CRDT_KIND_DEL_REV = 3 };

#endif
