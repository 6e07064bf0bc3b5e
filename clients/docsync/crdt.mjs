// crdt.mjs - JavaScript wrapper for the WebAssembly build of docsync's text
// CRDT (crdt/crdt.h compiled with clang for wasm32-wasi, see README.md).
// An ES module without dependencies, for Node >= 18 and browsers.
//
//   import { loadCrdt } from './crdt.mjs';
//   const crdt = await loadCrdt();              // fetches ./crdt.wasm
//   const doc = crdt.createDoc('alice');
//   doc.insert(0, 'héllo 👋');                  // UTF-16 offsets, like JS strings
//   const update = doc.encodeState();           // Uint8Array
//   const other = crdt.createDoc('bob');
//   other.apply(update);
//   other.text === doc.text;                    // true
//   doc.free(); other.free();
//
// Positions: insert()/delete() count UTF-16 code units (what String indexes,
// textarea.selectionStart and editors count); insertAt()/deleteAt() count
// Unicode code points (what crdt.h counts). The text is exchanged as UTF-8
// inside and converted at the boundary.
//
// Errors: calls that fail throw a CrdtError whose `code` is the negative
// CRDT_E* value of crdt.h (see CrdtError.codes) and, for CRDT_EMISSING, whose
// `missing` is { agent, seq } of the first operation the update depends on.
//
// Memory: a document lives in the module's linear memory until free(); a
// FinalizationRegistry frees documents that are garbage-collected without it,
// but call free() in long-running code: memory is given back to the module's
// allocator, never to the host.

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });

/** Error codes of crdt.h. */
export const CODES = Object.freeze({
  OK: 0, ENOMEM: -1, EINVAL: -2, EBADUPDATE: -3, EVERSION: -4, EMISSING: -5,
  ELIMIT: -6, EIDINUSE: -7, ERANGE: -8,
});

export class CrdtError extends Error {
  constructor(code, message, missing) {
    super(message);
    this.name = 'CrdtError';
    this.code = code;
    this.codeName = Object.keys(CODES).find((k) => CODES[k] === code) || 'UNKNOWN';
    if (missing) this.missing = missing;
  }
}

const AGENT_MAX = 64;
const isNode = typeof process !== 'undefined' && !!(process.versions && process.versions.node);

/** Reads a file in Node. Bundlers for the browser must not see an import of a Node module here
 * (esbuild fails on it, webpack and Vite warn): process.getBuiltinModule where Node has it
 * (>= 20.16), else an import whose specifier is computed. */
async function readNodeFile(file) {
  const fsp = globalThis.process?.getBuiltinModule?.('node:fs/promises') ??
    (await import(/* @vite-ignore */ /* webpackIgnore: true */ ['node:fs', 'promises'].join('/')));
  return fsp.readFile(file);
}

/**
 * Loads and instantiates the module. `source` may be a URL of crdt.wasm (a
 * URL object or a string; a relative string resolves against the page in a
 * browser and is a file path relative to the working directory in Node), its
 * bytes (ArrayBuffer / typed array), a compiled WebAssembly.Module, or a
 * fetch Response (or a promise of any of these). Default: crdt.wasm next to
 * this file. Returns a CrdtModule.
 */
export async function loadCrdt(source = new URL('./crdt.wasm', import.meta.url)) {
  source = await source;
  let instance;
  if (source instanceof WebAssembly.Module) {
    instance = await WebAssembly.instantiate(source, {});
  } else if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) {
    ({ instance } = await WebAssembly.instantiate(source, {}));
  } else if (typeof Response !== 'undefined' && source instanceof Response) {
    ({ instance } = await WebAssembly.instantiate(await source.arrayBuffer(), {}));
  } else if (typeof source === 'string' && !/^[a-z][a-z0-9+.-]*:/i.test(source) && isNode) {
    // A plain path in Node: relative to the working directory, like fs.
    ({ instance } = await WebAssembly.instantiate(await readNodeFile(source), {}));
  } else {
    // A URL; a relative one resolves against the page, as fetch() would.
    const base = globalThis.location ? globalThis.location.href : import.meta.url;
    const url = source instanceof URL ? source : new URL(String(source), base);
    if (url.protocol === 'file:') {
      ({ instance } = await WebAssembly.instantiate(await readNodeFile(url), {}));
    } else if (WebAssembly.instantiateStreaming) {
      ({ instance } = await WebAssembly.instantiateStreaming(fetch(url), {}));
    } else {
      const res = await fetch(url);
      ({ instance } = await WebAssembly.instantiate(await res.arrayBuffer(), {}));
    }
  }
  return new CrdtModule(instance);
}

/** One instance of the wasm module; creates documents. */
export class CrdtModule {
  #x;
  #mem;
  #u8 = new Uint8Array(0);
  #out = 0; // two uint32 result slots
  #missing = 0; // crdt_wasm_apply's missing-id buffer
  #in = 0; // input scratch buffer
  #inCap = 0;
  #registry;

  constructor(instance) {
    this.#x = instance.exports;
    this.#mem = this.#x.memory;
    if (this.#x._initialize) this.#x._initialize();
    this.#out = this.#alloc(8);
    this.#missing = this.#alloc(AGENT_MAX + 16);
    this.#reserve(256);
    const free = this.#x.crdt_wasm_doc_free;
    this.#registry = typeof FinalizationRegistry === 'function'
      ? new FinalizationRegistry((ptr) => free(ptr)) : null;
  }

  /** A new empty document whose local edits use `agent` (1..64 UTF-8 bytes). */
  createDoc(agent) {
    const n = this.#putString(agent);
    if (n < 1 || n > AGENT_MAX) throw new CrdtError(CODES.EINVAL, 'agent must be 1..64 UTF-8 bytes');
    this.#check(this.#x.crdt_wasm_doc_new(this.#in, n, this.#out));
    return new CrdtDoc(this, this.#outWord(0));
  }

  /** A new document for `agent` holding the state `bytes` (encodeState()).
   * Local edits continue after the highest seq of `agent` in that state, so
   * a replica rebuilt from its own saved state keeps its name safely. */
  loadDoc(agent, bytes) {
    const doc = this.createDoc(agent);
    try {
      doc.apply(bytes);
      doc.setAgent(agent);
    } catch (e) {
      doc.free();
      throw e;
    }
    return doc;
  }

  /** Bytes of linear memory the module holds (grows, never shrinks). */
  get memoryBytes() {
    return this.#mem.buffer.byteLength;
  }

  // ---- internals used by CrdtDoc (not part of the API) ----

  get _x() {
    return this.#x;
  }

  get _in() {
    return this.#in;
  }

  get _out() {
    return this.#out;
  }

  get _missing() {
    return this.#missing;
  }

  _register(doc, ptr) {
    if (this.#registry) this.#registry.register(doc, ptr, doc);
  }

  _unregister(doc) {
    if (this.#registry) this.#registry.unregister(doc);
  }

  _view() {
    // memory.grow() detaches the old buffer, which empties views on it; this
    // test is cheaper than reading memory.buffer on every call.
    if (this.#u8.length === 0) this.#u8 = new Uint8Array(this.#mem.buffer);
    return this.#u8;
  }

  #alloc(n) {
    const p = this.#x.crdt_wasm_alloc(n);
    if (!p) throw new CrdtError(CODES.ENOMEM, 'out of memory');
    return p;
  }

  #reserve(n) {
    if (n <= this.#inCap) return;
    const cap = Math.max(n, this.#inCap * 2);
    const p = this.#alloc(cap);
    if (this.#in) this.#x.crdt_wasm_free(this.#in);
    this.#in = p;
    this.#inCap = cap;
  }

  _outWord(i) {
    return this.#outWord(i);
  }

  #outWord(i) {
    const m = this._view();
    const p = this.#out + 4 * i;
    return (m[p] | (m[p + 1] << 8) | (m[p + 2] << 16) | (m[p + 3] << 24)) >>> 0;
  }

  /** Writes `s` as UTF-8 into the input buffer; returns its byte length. */
  _putString(s) {
    return this.#putString(s);
  }

  #putString(s) {
    const n = s.length;
    this.#reserve(n * 3);
    const m = this._view();
    const p = this.#in;
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      m[p + i] = c;
    }
    if (i === n) return n;
    const r = encoder.encodeInto(i ? s.slice(i) : s, m.subarray(p + i, p + this.#inCap));
    return i + r.written;
  }

  /** Copies bytes into the input buffer. */
  _putBytes(bytes) {
    if (!(bytes instanceof Uint8Array)) bytes = new Uint8Array(bytes);
    this.#reserve(bytes.length);
    this._view().set(bytes, this.#in);
    return bytes.length;
  }

  /** Takes the buffer described by the out slots: copies it and frees it. */
  _takeBytes() {
    const p = this.#outWord(0), n = this.#outWord(1);
    const bytes = this._view().slice(p, p + n);
    this.#x.crdt_wasm_free(p);
    return bytes;
  }

  _takeString() {
    const p = this.#outWord(0), n = this.#outWord(1);
    const s = decoder.decode(this._view().subarray(p, p + n));
    this.#x.crdt_wasm_free(p);
    return s;
  }

  _check(rc) {
    return this.#check(rc);
  }

  #check(rc) {
    if (rc >= 0) return rc;
    let missing;
    if (rc === CODES.EMISSING) {
      const m = this._view();
      const p = this.#missing;
      const dv = new DataView(m.buffer, p, 8);
      const len = dv.getUint32(0, true);
      const agentBytes = m.slice(p + 8, p + 8 + len);
      missing = { agent: decoder.decode(agentBytes), agentBytes, seq: dv.getUint32(4, true) };
    }
    throw new CrdtError(rc, this.#strerror(rc), missing);
  }

  #strerror(rc) {
    const m = this._view();
    const p = this.#x.crdt_wasm_strerror(rc);
    let e = p;
    while (m[e]) e++;
    return decoder.decode(m.subarray(p, e));
  }
}

const freedError = () => new CrdtError(CODES.EINVAL, 'document already freed');

/** One replica of a text document (see crdt.h). */
export class CrdtDoc {
  #m;
  #x;
  #p;
  /** The text as last read, until the next change: a 100k-character text costs a walk of the
   * sequence and a UTF-8 decode, and a change is often read by several listeners. */
  #text = null;

  constructor(mod, ptr) {
    this.#m = mod;
    this.#x = mod._x;
    this.#p = ptr;
    mod._register(this, ptr);
  }

  #ptr() {
    if (!this.#p) throw freedError();
    return this.#p;
  }

  /** Inserts `text` at UTF-16 offset `index` (0..length). */
  insert(index, text) {
    const p = this.#p; // not #ptr(): a call per keystroke while the engine interprets this
    if (!p) throw freedError();
    this.#text = null;
    // A keystroke goes as a number, without the input buffer; the checks of
    // the return code are calls only when it is an error. Both keep the
    // first thousands of edits cheap while the engine still interprets this
    // code.
    const c = text.length === 1 ? text.charCodeAt(0) : 0x80;
    let rc;
    if (c < 0x80) {
      rc = this.#x.crdt_wasm_insert_ascii_utf16(p, index, c);
    } else {
      const n = this.#m._putString(text);
      rc = this.#x.crdt_wasm_insert_utf16(p, index, this.#m._in, n);
    }
    if (rc < 0) this.#m._check(rc);
  }

  /** Deletes `count` UTF-16 code units at UTF-16 offset `index`. */
  delete(index, count) {
    const p = this.#p; // not #ptr(): a call per keystroke while the engine interprets this
    if (!p) throw freedError();
    this.#text = null;
    const rc = this.#x.crdt_wasm_delete_utf16(p, index, count);
    if (rc < 0) this.#m._check(rc);
  }

  /** Inserts `text` before code point `pos`. */
  insertAt(pos, text) {
    const p = this.#ptr();
    this.#text = null;
    const n = this.#m._putString(text);
    this.#m._check(this.#x.crdt_wasm_insert(p, pos, this.#m._in, n));
  }

  /** Deletes `count` code points at code point `pos`. */
  deleteAt(pos, count) {
    this.#text = null;
    this.#m._check(this.#x.crdt_wasm_delete(this.#ptr(), pos, count));
  }

  /** The whole text. */
  get text() {
    if (this.#text !== null && this.#p) return this.#text;
    this.#m._check(this.#x.crdt_wasm_text(this.#ptr(), this.#m._out));
    return (this.#text = this.#m._takeString());
  }

  toString() {
    return this.text;
  }

  /** Length in UTF-16 code units (= this.text.length). */
  get length() {
    return this.#x.crdt_wasm_length(this.#ptr(), 2) >>> 0;
  }

  /** Length in code points. */
  get codePointLength() {
    return this.#x.crdt_wasm_length(this.#ptr(), 0) >>> 0;
  }

  /** Length of the UTF-8 text in bytes. */
  get byteLength() {
    return this.#x.crdt_wasm_length(this.#ptr(), 1) >>> 0;
  }

  /** UTF-16 offset -> code point offset. */
  utf16ToPos(index) {
    this.#m._check(this.#x.crdt_wasm_utf16_to_pos(this.#ptr(), index, this.#m._out));
    return this.#m._outWord(1);
  }

  /** Code point offset -> UTF-16 offset. */
  posToUtf16(pos) {
    this.#m._check(this.#x.crdt_wasm_pos_to_utf16(this.#ptr(), pos, this.#m._out));
    return this.#m._outWord(1);
  }

  /** Use `agent` for later local edits, from `seq` (default: after the
   * highest seq of that agent this replica knows). */
  setAgent(agent, seq = -1) {
    const p = this.#ptr();
    const n = this.#m._putString(agent);
    if (n < 1 || n > AGENT_MAX) throw new CrdtError(CODES.EINVAL, 'agent must be 1..64 UTF-8 bytes');
    this.#m._check(this.#x.crdt_wasm_set_agent(p, this.#m._in, n, seq));
  }

  /** The full state: an update that brings an empty replica here. */
  encodeState() {
    this.#m._check(this.#x.crdt_wasm_encode(this.#ptr(), 0, this.#m._out));
    return this.#m._takeBytes();
  }

  /** The encoded version (set of operation ids this replica has). */
  encodeVersion() {
    this.#m._check(this.#x.crdt_wasm_encode(this.#ptr(), 1, this.#m._out));
    return this.#m._takeBytes();
  }

  /** Everything this replica has that the encoded `version` lacks. */
  encodeSince(version) {
    const p = this.#ptr();
    const n = this.#m._putBytes(version);
    this.#m._check(this.#x.crdt_wasm_encode_since(p, this.#m._in, n, this.#m._out));
    return this.#m._takeBytes();
  }

  /** Count of operations held; pass to encodeSinceMark() later. */
  mark() {
    return this.#x.crdt_wasm_mark(this.#ptr()) >>> 0;
  }

  /** The operations added since `mark` (e.g. by the last local edits). */
  encodeSinceMark(mark) {
    this.#m._check(this.#x.crdt_wasm_encode_since_mark(this.#ptr(), mark, this.#m._out));
    return this.#m._takeBytes();
  }

  /** Applies an update; returns true if it brought new operations. Throws
   * CrdtError (EMISSING with .missing, EBADUPDATE, ...); then the document
   * is unchanged. */
  apply(update) {
    const p = this.#ptr();
    const before = this.#x.crdt_wasm_mark(p);
    const n = this.#m._putBytes(update);
    this.#m._check(this.#x.crdt_wasm_apply(p, this.#m._in, n, this.#m._missing));
    const changed = this.#x.crdt_wasm_mark(p) !== before;
    if (changed) this.#text = null;
    return changed;
  }

  /** Applies an update as apply() does, and returns the visible changes it made: null when
   * it brought nothing new, else a list of {from, to, insert} in UTF-16 offsets, each in the
   * text as changed by the ones before it (replayed in order on the text before, they give the
   * text after), or `changes: null` inside when the list was too large to report (read the
   * text). Returns {changes} so an editor can make exactly those changes instead of comparing
   * the whole text. Throws as apply() does. */
  applyChanges(update) {
    const p = this.#ptr();
    const m = this.#m;
    const before = this.#x.crdt_wasm_mark(p);
    const n = m._putBytes(update);
    m._check(this.#x.crdt_wasm_apply_changes(p, m._in, n, m._missing, m._out));
    const at = m._outWord(0), len = m._outWord(1);
    if (this.#x.crdt_wasm_mark(p) === before) {
      if (at) this.#x.crdt_wasm_free(at);
      return null;
    }
    this.#text = null;
    if (!at) return { changes: null };
    const mem = m._view();
    const dv = new DataView(mem.buffer, at, len);
    const count = dv.getUint32(0, true);
    const changes = new Array(count);
    let o = 4;
    for (let i = 0; i < count; i++) {
      const from = dv.getUint32(o, true), del = dv.getUint32(o + 4, true), nb = dv.getUint32(o + 8, true);
      o += 12;
      let insert = '';
      if (nb) {
        insert = decoder.decode(mem.subarray(at + o, at + o + nb));
        o += nb;
      }
      changes[i] = { from, to: from + del, insert };
    }
    this.#x.crdt_wasm_free(at);
    return { changes };
  }

  /** A position that stays on its text while others edit (a remote cursor): the anchor of
   * UTF-16 offset `index`. assoc >= 0 binds it to the character after the offset (text typed
   * there later goes before it), assoc < 0 to the character before. Plain data:
   * {agent, seq, side}; agent '' is the document's start or end. */
  anchor(index, assoc = 1) {
    const out = this.#m._missing;
    this.#m._check(this.#x.crdt_wasm_anchor(this.#ptr(), index, assoc, out));
    const m = this.#m._view();
    const dv = new DataView(m.buffer, out, 12);
    const len = dv.getUint32(0, true);
    return { agent: decoder.decode(m.slice(out + 12, out + 12 + len)), seq: dv.getUint32(4, true), side: dv.getUint32(8, true) };
  }

  /** The UTF-16 offset `anchor` points at now, or null when this replica does not have its
   * character yet. */
  anchorIndex(anchor) {
    const n = this.#m._putString(anchor.agent);
    const rc = this.#x.crdt_wasm_anchor_pos(this.#ptr(), this.#m._in, n, anchor.seq, anchor.side, this.#m._out);
    if (rc === CODES.EMISSING) return null;
    this.#m._check(rc);
    return this.#m._outWord(1);
  }

  /** Runs the library's internal consistency check (tests). */
  check() {
    this.#m._check(this.#x.crdt_wasm_check(this.#ptr()));
  }

  /** Releases the document. Further calls throw. */
  free() {
    if (!this.#p) return;
    this.#m._unregister(this);
    this.#x.crdt_wasm_doc_free(this.#p);
    this.#p = 0;
    this.#text = null;
  }
}
