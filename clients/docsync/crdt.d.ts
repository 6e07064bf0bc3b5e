// Types of crdt.mjs: the WebAssembly build of docsync's text CRDT (`@docsync/client/crdt`).
// Offsets are UTF-16 code units unless a name says code points.

/** Error codes of crdt.h (negative; OK is 0). */
export declare const CODES: Readonly<{
  OK: 0;
  ENOMEM: -1;
  EINVAL: -2;
  EBADUPDATE: -3;
  EVERSION: -4;
  EMISSING: -5;
  ELIMIT: -6;
  EIDINUSE: -7;
  ERANGE: -8;
}>;

/** One of the values of CODES. */
export type CrdtCode = (typeof CODES)[keyof typeof CODES];

/** An operation id: the agent (a replica's name) and its sequence number. */
export interface CrdtId {
  agent: string;
  seq: number;
}

/** A position that stays on its character while text changes around it (plain data, can be
 * sent as JSON). `agent` '' is the document's start or end; side 0 binds to the character
 * before the position, 1 to the character after it. */
/** One visible change: the UTF-16 range [from, to) of the text replaced by `insert`. */
export interface CrdtTextChange {
  from: number;
  to: number;
  insert: string;
}

export interface CrdtAnchor {
  agent: string;
  seq: number;
  side: 0 | 1;
}

/** Thrown by calls that fail; the document is then unchanged. */
export declare class CrdtError extends Error {
  constructor(code: number, message: string, missing?: CrdtId);
  name: 'CrdtError';
  /** The negative CRDT_E* code (see CODES). */
  code: number;
  /** Its name in CODES, or 'UNKNOWN'. */
  codeName: keyof typeof CODES | 'UNKNOWN';
  /** For EMISSING: the first operation the update depends on that this replica lacks. */
  missing?: CrdtId;
}

/** What loadCrdt() accepts: a URL of crdt.wasm (a string is a path relative to the working
 * directory in Node, a URL relative to the page in browsers), its bytes, a compiled module or a
 * fetch Response, or a promise of one of them. */
export type CrdtSource =
  | string
  | URL
  | ArrayBuffer
  | ArrayBufferView
  | WebAssembly.Module
  | Response
  | PromiseLike<string | URL | ArrayBuffer | ArrayBufferView | WebAssembly.Module | Response>;

/** Loads and instantiates crdt.wasm (default: the file next to crdt.mjs). */
export declare function loadCrdt(source?: CrdtSource): Promise<CrdtModule>;

/** One instance of the wasm module; it makes documents. */
export declare class CrdtModule {
  constructor(instance: WebAssembly.Instance);
  /** A new empty document whose local edits use `agent` (1..64 UTF-8 bytes, unique per writer). */
  createDoc(agent: string): CrdtDoc;
  /** A new document for `agent` holding `state` (encodeState()); local edits continue after
   * the highest seq of `agent` in it. */
  loadDoc(agent: string, state: Uint8Array): CrdtDoc;
  /** Bytes of linear memory the module holds (grows, never shrinks). */
  readonly memoryBytes: number;
}

/** One replica of a text document, in the module's memory until free(). */
export declare class CrdtDoc {
  private constructor();
  /** Inserts at a UTF-16 offset (a range splitting a surrogate pair throws EINVAL). */
  insert(index: number, text: string): void;
  /** Deletes `count` UTF-16 units at `index`. */
  delete(index: number, count: number): void;
  /** Inserts at a code point offset. */
  insertAt(pos: number, text: string): void;
  /** Deletes `count` code points at code point offset `pos`. */
  deleteAt(pos: number, count: number): void;
  /** The whole text. */
  readonly text: string;
  toString(): string;
  /** Length in UTF-16 code units. */
  readonly length: number;
  /** Length in code points. */
  readonly codePointLength: number;
  /** Length of the UTF-8 text in bytes. */
  readonly byteLength: number;
  /** UTF-16 offset to code point offset. */
  utf16ToPos(index: number): number;
  /** Code point offset to UTF-16 offset. */
  posToUtf16(pos: number): number;
  /** Later local edits use `agent`, from `seq` (default: after its highest known seq). */
  setAgent(agent: string, seq?: number): void;
  /** The full state: an update that brings an empty replica here. */
  encodeState(): Uint8Array;
  /** The set of operation ids this replica holds. */
  encodeVersion(): Uint8Array;
  /** What this replica has that a replica at the encoded `version` lacks. */
  encodeSince(version: Uint8Array): Uint8Array;
  /** The count of operations held, for encodeSinceMark(). */
  mark(): number;
  /** The update made of the operations added since `mark`. */
  encodeSinceMark(mark: number): Uint8Array;
  /** Integrates an update; true when it brought new operations. Throws CrdtError. */
  apply(update: Uint8Array): boolean;
  /** Integrates an update as apply() does and reports the visible changes it made: null when
   * it brought nothing new; else `changes`, in UTF-16 offsets, each in the text as changed by
   * the ones before it (replayed in order on the text before, they give the text after), or
   * null when there were too many to report (read the text instead). Throws CrdtError. */
  applyChanges(update: Uint8Array): { changes: CrdtTextChange[] | null } | null;
  /** The anchor of UTF-16 offset `index`: assoc >= 0 (default) binds it to the character
   * after the offset, assoc < 0 to the character before. */
  anchor(index: number, assoc?: number): CrdtAnchor;
  /** The UTF-16 offset an anchor points at now; null while this replica lacks its character. */
  anchorIndex(anchor: CrdtAnchor): number | null;
  /** The library's internal consistency check (throws CrdtError). */
  check(): void;
  /** Releases the document; later calls throw. */
  free(): void;
}
