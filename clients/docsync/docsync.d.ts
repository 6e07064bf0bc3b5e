// Types of docsync.mjs (`@docsync/client`): collaborative text documents for Laravel Echo apps
// on docsyncd. Positions are UTF-16 offsets, as String, textarea.selectionStart and editors count.
// pusher-js and laravel-echo as `import('…').default`: the class under bundler and node16
// resolution alike (pusher-js's types are CommonJS ones).
type Pusher = import('pusher-js').default;
type Echo<T extends 'reverb' | 'pusher' | 'socket.io'> = import('laravel-echo').default<T>;
import type { CrdtAnchor, CrdtDoc, CrdtModule, CrdtSource } from './crdt.js';

export type { CrdtAnchor, CrdtDoc, CrdtModule, CrdtSource } from './crdt.js';

// ---- storages ----

/** A saved replica as a binary storage keeps it (its state as bytes, not base64 in JSON). */
export interface SavedReplica {
  clientId: string;
  epoch: string | null;
  version: number;
  seq: number;
  state: Uint8Array;
  delta?: Uint8Array;
  pending: { seq: number; update: string }[];
}

/** Where documents are saved: string values under string keys, each call sync or async.
 * update(), when there is one, reads and writes a key as one step no other tab comes between
 * (fn(old) returns the new value; null deletes). Shared by the tabs of a browser. A storage
 * with `binary: true` also keeps objects with Uint8Arrays (structured-clone-able): saved
 * replicas then go in as SavedReplica objects; otherwise as JSON strings (base64 state). */
export interface DocSyncStorage {
  binary?: boolean;
  get(key: string): string | SavedReplica | null | undefined | PromiseLike<string | SavedReplica | null | undefined>;
  set(key: string, value: string | SavedReplica): unknown;
  delete(key: string): unknown;
  update?(key: string, fn: (old: string | null) => string | null): unknown;
}

/** In memory (the default in Node): nothing survives the process. */
export declare class MemoryStorage implements DocSyncStorage {
  readonly binary: true;
  get(key: string): string | SavedReplica | null;
  set(key: string, value: string | SavedReplica): void;
  delete(key: string): void;
  update(key: string, fn: (old: string | null) => string | null): string | null;
}

/** window.localStorage under `prefix` (default 'docsync:'); browsers without IndexedDB. */
export declare class LocalStorage implements DocSyncStorage {
  constructor(prefix?: string);
  prefix: string;
  get(key: string): string | null;
  set(key: string, value: string): void;
  delete(key: string): void;
  update(key: string, fn: (old: string | null) => string | null): string | null;
}

export interface IndexedDBStorageOptions {
  /** Database name (default 'docsync'). */
  name?: string;
  /** The IDBFactory (default globalThis.indexedDB), e.g. fake-indexeddb's in Node. */
  indexedDB?: IDBFactory;
  /** Prefix of the localStorage entries of earlier versions, read as a fallback (default
   * 'docsync:'). */
  legacyPrefix?: string;
}

/** IndexedDB (the default in browsers that have it). Throws TypeError without an IDBFactory. */
export declare class IndexedDBStorage implements DocSyncStorage {
  constructor(options?: IndexedDBStorageOptions);
  name: string;
  factory: IDBFactory;
  legacyPrefix: string;
  readonly binary: true;
  get(key: string): Promise<string | SavedReplica | null>;
  set(key: string, value: string | SavedReplica): Promise<void>;
  delete(key: string): Promise<void>;
  update(key: string, fn: (old: string | null) => string | null): Promise<string | null>;
  /** Closes the database connection (reopened on next use). */
  close(): Promise<void>;
}

/** IndexedDBStorage where there is indexedDB, else LocalStorage, else MemoryStorage. */
export declare function defaultStorage(): IndexedDBStorage | LocalStorage | MemoryStorage;

/** The part of the Web Locks API (navigator.locks) the client uses. */
export interface DocSyncLocks {
  request(name: string, options: { ifAvailable: boolean }, callback: (lock: unknown) => unknown): Promise<unknown>;
}

/** Which saved replica of a (document, user) a tab uses (see the README, "Storage"). */
export declare class ReplicaSlots {
  constructor(storage: DocSyncStorage, docId: string, userId: string | null, owner: string,
    options?: { now?: () => number; locks?: DocSyncLocks | null });
  storage: DocSyncStorage;
  docId: string;
  indexKey: string;
  owner: string;
  now: () => number;
  locks: DocSyncLocks | null;
  /** The replica held, once acquired. */
  clientId: string | null;
  stateKey(clientId?: string): string;
  leaseKey(clientId?: string): string;
  /** Takes a free saved replica, or registers and takes `fresh`. */
  acquire(fresh: string): Promise<{ clientId: string; adopted: boolean }>;
  renew(): Promise<void>;
  replace(newId: string): Promise<void>;
  release(): Promise<void>;
}

// ---- DocSync ----

/** Echo 2's connection status names. */
export type ConnectionStatus = 'connected' | 'connecting' | 'reconnecting' | 'disconnected' | 'failed';

/** An Echo instance with the pusher-js connector ('reverb' / 'pusher'), or with the socket.io
 * connector (socket.io-client 3/4; with transports ['polling'] where WebSockets are blocked). */
export type DocSyncEcho = Echo<'reverb'> | Echo<'pusher'> | Echo<'socket.io'>;

export interface DocSyncOptions {
  /** Your user id: names the saved replicas (per document and user) and the typing whispers. */
  userId?: string | number | null;
  /** Your display name in typing whispers (default userId). */
  name?: string | null;
  /** Prefix of the clientIds of new replicas (default random). */
  clientId?: string;
  /** Where documents are saved (default defaultStorage()). */
  storage?: DocSyncStorage;
  /** The Web Locks manager deciding which tab uses a saved replica (default navigator.locks;
   * null: leases in the storage). */
  locks?: DocSyncLocks | null;
  /** A loaded CRDT module, or a promise of one (default loadCrdt(wasm)). */
  crdt?: CrdtModule | PromiseLike<CrdtModule>;
  /** Where crdt.wasm is, for loadCrdt() (default: next to crdt.mjs). */
  wasm?: CrdtSource;
}

export interface DocSyncEvents {
  /** pusher-js connection state: 'initialized', 'connecting', 'connected', 'unavailable',
   * 'failed', 'disconnected' (on socket.io the same names: 'connecting', 'connected',
   * 'unavailable' after a failed attempt, 'failed' / 'disconnected' when it gave up). */
  state: string;
}

/** A small event emitter; on() returns an unsubscribe function. */
declare class Emitter<Events> {
  on<K extends keyof Events>(name: K, fn: (arg: Events[K]) => void): () => void;
  emit<K extends keyof Events>(name: K, arg: Events[K]): void;
}

/** One per Echo instance. */
export declare class DocSync extends Emitter<DocSyncEvents> {
  constructor(echo: DocSyncEcho, options?: DocSyncOptions);
  readonly echo: DocSyncEcho;
  /** The pusher-js client of a 'reverb' / 'pusher' Echo; null on the socket.io connector. */
  readonly pusher: Pusher | null;
  readonly userId: string | null;
  readonly name: string | null;
  /** Prefix of new replicas' clientIds. */
  readonly clientId: string;
  /** This instance, as the holder of replica leases. */
  readonly owner: string;
  readonly storage: DocSyncStorage;
  readonly locks: DocSyncLocks | null;
  readonly crdt: Promise<CrdtModule>;
  /** Open documents by id. */
  readonly documents: Map<string, Document>;
  /** The connection state (pusher-js's names, on either connector). */
  state: string;
  connectionStatus(): ConnectionStatus;
  /** Calls fn with each new status; returns an unsubscribe function. */
  onConnectionChange(fn: (status: ConnectionStatus) => void): () => void;
  /** Opens document `id` once (later calls return the same Document). */
  document(id: string | number): Document;
  /** Leaves every document and unbinds from the connection (the Echo instance stays). */
  close(): void;
}

// ---- Document ----

/** A presence member's info, as the app's channel authorisation returns it. */
export type MemberInfo = Record<string, unknown> & { id?: string | number; name?: string };

export interface Member {
  id: string;
  info: MemberInfo;
}

export interface DocUser {
  id: string;
  name: string;
}

export interface RemoteCursor {
  /** `color`: the '#rrggbb' the member sent with its cursor, if any. */
  user: DocUser & { color?: string };
  /** UTF-16 offsets; null while this replica lacks the character. */
  anchor: number | null;
  head: number | null;
}

/** An error event: the server's docsync:error ({code, message, documentId, clientId?, seq?,
 * ...}), or the client's own codes 'lost', 'presence_unavailable' and 'storage'. */
export interface DocSyncErrorEvent {
  code: string;
  message?: string;
  /** One of our edits is refused for good (the text was rebuilt without it). */
  final?: boolean;
  seq?: number;
  clientId?: string;
  status?: number;
  [key: string]: unknown;
}

export interface DocumentEvents {
  /** `text` is built when read: read in the listener, it is the text after this change.
   * `changes` (remote updates applied in order only, else undefined or null): the visible
   * changes they made, in UTF-16 offsets, each in the text as changed by the ones before it;
   * an editor showing the text before can make exactly these instead of comparing texts. */
  change: {
    readonly text: string;
    remote: boolean;
    version: number;
    changes?: { from: number; to: number; insert: string }[] | null;
  };
  version: { version: number };
  presence: { members: Member[]; joined?: Member; left?: Member };
  typing: { user: DocUser; typing: boolean; typists: DocUser[] };
  cursors: { cursors: RemoteCursor[] };
  /** A DocumentUpdated: who made that version (the server's user id) and with which clientId. */
  updated: { version: number; user: string; clientId: string };
  catchup: { from: number; replay: boolean; head: number; updates: number };
  synced: { version: number };
  unsynced: { pending: number };
  error: DocSyncErrorEvent;
}

/** One collaborative document (DocSync.document()). */
export declare class Document extends Emitter<DocumentEvents> {
  private constructor();
  readonly sync: DocSync;
  readonly id: string;
  /** Resolves (with the document) once the replica is loaded, restored if it was saved. */
  readonly ready: Promise<Document>;
  /** The text saved with this tab's replica (binary storages: IndexedDB, MemoryStorage),
   * resolved as soon as it is read, before the replica is loaded; null when there is none.
   * Never rejects. An editor made with it before `ready` (docsyncCollab) takes edits at once
   * and applies them to the replica once it is loaded. */
  readonly preview: Promise<string | null>;
  /** The text `preview` resolved with, from then on; null before, and when there is none. */
  readonly previewText: string | null;
  /** This replica's clientId (also its CRDT agent); null until ready. */
  clientId: string | null;
  /** The store's epoch; null before the first catch-up. */
  epoch: string | null;
  /** The last server version applied in order. */
  version: number;
  members: Member[];
  /** Those typing now, by user id. */
  typists: Map<string, { user: DocUser; timer: unknown }>;
  /** Others' cursors by user id, as CRDT anchors (remoteCursors() resolves them). */
  cursors: Map<string, { user: DocUser & { color?: string }; anchor: CrdtAnchor; head: CrdtAnchor; timer: unknown }>;
  /** '#rrggbb' sent with this client's cursor, for others to draw it in (null: they choose). */
  cursorColor: string | null;
  /** The CRDT replica; null before ready and after leave(). */
  replica: CrdtDoc | null;
  /** The CRDT module, once ready. */
  crdt?: CrdtModule;
  /** Local transactions not yet acknowledged. */
  readonly pending: number;
  /** Subscribed, caught up, nothing pending or buffered. */
  readonly synced: boolean;
  text(): string;
  /** One transaction (texts over 1,500 UTF-16 units go as several). */
  insert(pos: number, text: string): void;
  delete(pos: number, len: number): void;
  /** The smallest prefix/suffix edit to `text`, as one transaction; null when unchanged. */
  setText(text: string): { pos: number; deleted: number; inserted: string } | null;
  /** fn's edits on the replica as one transaction. */
  transact(fn: (replica: CrdtDoc) => void): void;
  /** true on each keystroke; false stops at once. */
  typing(on?: boolean): void;
  /** Echo's presence callbacks (members' info), chainable. */
  here(fn: (members: MemberInfo[]) => void): this;
  joining(fn: (member: MemberInfo) => void): this;
  leaving(fn: (member: MemberInfo) => void): this;
  error(fn: (error: DocSyncErrorEvent) => void): this;
  /** Shares this client's cursor or selection (null hides it). */
  setCursor(anchor: number | null, head?: number | null): void;
  remoteCursors(): RemoteCursor[];
  /** Saves now; the storage's promise, if any. */
  flush(): unknown;
  /** Unsubscribes both channels; the saved state stays. */
  leave(): void;
}
