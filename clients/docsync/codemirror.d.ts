// Types of codemirror.mjs: the CodeMirror 6 binding of a docsync Document (hand-written).
import type { AnnotationType, ChangeSpec, Extension, Text, Transaction } from '@codemirror/state';
import type { Command, EditorView } from '@codemirror/view';

/** The part of a docsync Document the binding uses (a `Document` of docsync.mjs has it all). */
export interface CollabDocument {
  /** The CRDT replica (crdt.mjs CrdtDoc); null before `ready` and after `leave()`. */
  readonly replica: CrdtReplica | null;
  text(): string;
  transact(fn: (replica: CrdtReplica) => void): void;
  typing(on?: boolean): void;
  setCursor(anchor: number | null, head?: number): void;
  remoteCursors(): Array<{ user: { id: string; name: string; color?: string }; anchor: number | null; head: number | null }>;
  on(event: 'change', fn: (e: { remote: boolean }) => void): () => void;
  on(event: 'cursors', fn: (e: unknown) => void): () => void;
  /** Resolves when the replica is loaded. An editor made before it is read-only until then
   * and shows the loaded text then, unless it shows the text of `preview`. */
  readonly ready?: Promise<unknown>;
  /** The text saved beside the replica, before it is loaded (a docsync Document's): an editor
   * made with it takes edits at once, applied to the replica once it is loaded. */
  readonly preview?: Promise<string | null>;
  /** The text `preview` resolved with, once it has: an editor made with it is editable from
   * its creation. */
  readonly previewText?: string | null;
  /** '#rrggbb' sent with this client's cursor (docsync.mjs Document). */
  cursorColor?: string | null;
}

/** A CRDT position bound to one character (see crdt.mjs `anchor`). */
export interface CrdtAnchor { agent: string; seq: number; side: 0 | 1 }

/** The CrdtDoc calls the binding makes (crdt.mjs). */
export interface CrdtReplica {
  readonly length: number;
  insert(index: number, text: string): void;
  delete(index: number, count: number): void;
  anchor(index: number, assoc?: number): CrdtAnchor;
  anchorIndex(anchor: CrdtAnchor): number | null;
}

export interface CollabOptions {
  /** This user as the others see it: `color` ('#rrggbb') draws its cursor; default from its id. */
  user?: { name?: string; color?: string };
  /** Share this editor's cursor and selection, draw the others' (default true). */
  cursors?: boolean;
  /** Own-edit undo/redo on Mod-z, Mod-Shift-z and Mod-y (default true). */
  undo?: boolean;
}

/** The extension: local edits to the CRDT, remote edits to the editor, cursors, undo. */
export function docsyncCollab(doc: CollabDocument, options?: CollabOptions): Extension;

/** Undoes this editor's last own edit (others' edits stay). */
export const undo: Command;
/** Redoes the last own edit undone. */
export const redo: Command;

/** A stable '#rrggbb' colour for a user id. */
export function userColor(id: string | number): string;

/** The annotation on transactions the binding makes from remote changes. */
export const remote: AnnotationType<boolean>;

/** One undo step: the ids the step inserted and the ids and text it deleted. */
export interface UndoStep {
  ins: Array<{ agent: string; seq: number; count: number }>;
  del: Array<{ agent: string; seq: number; count: number; text: string }>;
  time: number;
  closed?: boolean;
}

/** The smallest replacement turning the editor's text into `text`, or null when equal. */
export function difference(doc: Text, text: string): { from: number; to: number; insert: string } | null;

/** The changes (UTF-16 offsets of `replica` now) that revert `step`. */
export function revertChanges(replica: CrdtReplica, step: UndoStep): ChangeSpec[];

/** The binding without the DOM (what docsyncCollab's view plugin drives). */
export class CollabBinding {
  constructor(doc: CollabDocument, options?: CollabOptions);
  readonly doc: CollabDocument;
  readonly undoStack: UndoStep[];
  readonly redoStack: UndoStep[];
  /** Starts with anything that has an EditorState `state` and `dispatch(spec)`. */
  attach(view: Pick<EditorView, 'state' | 'dispatch'>): void;
  /** After a view update, with its transactions. */
  update(transactions: readonly Transaction[]): void;
  /** Before attach: the editor was made with `text`, the document's `previewText`, and takes
   * edits now; they are applied to the replica once it is loaded with that text. */
  early(text: string): void;
  /** Transactions before attach (kept for the replica after `early`). */
  beforeAttach(transactions: readonly Transaction[]): void;
  undo(): boolean;
  redo(): boolean;
  /** The next edit starts a new undo step. */
  stopCapturing(): void;
  destroy(): void;
}

/** The binding of an editor that has the extension, or null. */
export function collabBinding(view: EditorView): CollabBinding | null;
