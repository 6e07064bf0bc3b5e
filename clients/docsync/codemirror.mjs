// codemirror.mjs - CodeMirror 6 binding of a docsync Document (docsync.mjs).
//
//   import { EditorView, basicSetup } from 'codemirror';
//   import { docsyncCollab } from './codemirror.mjs';
//   const doc = sync.document('42'); await doc.ready;
//   new EditorView({ doc: doc.text(), extensions: [basicSetup, docsyncCollab(doc, { user: { name, color } })] });
//
// Or shown before the replica is loaded, with the text saved beside it (edits made before the
// replica is loaded are applied to it once it is):
//   const doc = sync.document('42');
//   new EditorView({ doc: (await doc.preview) ?? doc.text(), extensions: [basicSetup, docsyncCollab(doc, ...)] });
//
// One extension: local transactions become CRDT transactions (split so that no submit exceeds
// the server's message limit); remote changes become CodeMirror changes, and the local
// selection is put back on the characters it was on (CRDT anchors, not offsets); the others'
// cursors and selections are drawn with their names and colours, resolved from CRDT anchors so
// they stay on their characters while anyone edits; this editor's cursor and typing go out as
// client events on presence-document.{id} through the Document (throttled there: one cursor
// whisper per 200 ms, typing once per 2 s, so a fast typist stays under the server's 10 client
// events a second); and undo/redo of this editor's own edits only (Mod-z, Mod-Shift-z, Mod-y).
//
// Undo works on CRDT ids, as Yjs' UndoManager works on its items: an undo step remembers the
// ids of the characters its transactions inserted and the ids and text of those they deleted.
// Undoing deletes whichever of the inserted characters are still visible, wherever others'
// edits moved them, and inserts the deleted text again where its first character's tombstone
// is now (characters inserted and deleted by the same step are neither). Others' edits are
// never touched: they are not in the step.
//
// Imports only @codemirror/state and @codemirror/view (peer dependencies of the package).
import { Annotation, ChangeSet, EditorSelection, EditorState, Facet, Prec, StateEffect, StateField } from '@codemirror/state';
import { Decoration, EditorView, ViewPlugin, WidgetType, keymap } from '@codemirror/view';

// A submit must stay under the server's message limit (REVERB_APP_MAX_MESSAGE_SIZE, 10,000
// bytes of update by default): 1,500 UTF-16 units of text are at most 4,500 UTF-8 bytes plus
// ids; a deletion costs about 5 bytes per fragment of the text it removes, so 1,000 units are
// at most about 5,000 bytes even when every character came from another edit. One transaction
// holds at most BUDGET: an inserted unit weighs 2, a deleted one 3 (1,500 inserted, or 1,000
// deleted, or a mix of both under about 5,000 bytes).
const INSERT_WEIGHT = 2;
const DELETE_WEIGHT = 3;
const BUDGET = 3000;
const CAPTURE_MS = 500; // edits closer than this in time are one undo step (as Yjs' captureTimeout)
const CURSOR_REFRESH_MS = 10000; // re-send an unmoved cursor: others drop one silent for 30 s
const STACK_MAX = 500; // undo steps kept
const CHANGES_MAX = 256; // remote changes composed one by one; more: compare the texts instead

/** Transactions the binding makes from remote changes (never sent back, never undone). */
export const remote = Annotation.define();
/** 'undo' | 'redo' on the transactions of undo() / redo(). */
const undoKind = Annotation.define();

const isHigh = (c) => c >= 0xd800 && c <= 0xdbff;
const isLow = (c) => c >= 0xdc00 && c <= 0xdfff;

/** Code points of a string. */
function codePoints(s) {
  let n = 0;
  for (let i = 0; i < s.length; i++) if (!isHigh(s.charCodeAt(i)) || i + 1 === s.length) n++;
  return n;
}

/** A colour for a user id, the same on every screen (for users who choose none). */
export function userColor(id) {
  let h = 0;
  for (const ch of String(id)) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  const hue = h % 360;
  // HSL(hue, 70%, 40%) as #rrggbb: readable on white, with a light tint for selections.
  const s = 0.7, l = 0.4;
  const f = (n) => {
    const k = (n + hue / 30) % 12;
    const c = l - s * Math.min(l, 1 - l) * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(c * 255).toString(16).padStart(2, '0');
  };
  return `#${f(0)}${f(8)}${f(4)}`;
}

// ---- undo steps on CRDT ids --------------------------------------------------------------

/** Records one local transaction's CRDT operations into a step, as they are applied. */
class StepRecorder {
  constructor(step) { this.step = step; }

  /** Before deleting [pos, pos + len) of replica r: the ids and text of those characters. */
  deleting(r, pos, len, text) {
    const runs = this.step.del;
    for (let i = 0; i < len;) {
      const w = isHigh(text.charCodeAt(i)) && i + 1 < len ? 2 : 1;
      const id = r.anchor(pos + i, 1); // side 0: the character at pos + i
      const last = runs[runs.length - 1];
      const ch = text.slice(i, i + w);
      if (last && last.open && last.agent === id.agent && last.seq + last.count === id.seq) {
        last.count++;
        last.text += ch;
      } else {
        if (last) last.open = false;
        runs.push({ agent: id.agent, seq: id.seq, count: 1, text: ch, open: true });
      }
      i += w;
    }
    const last = runs[runs.length - 1];
    if (last) last.open = false; // runs never span two deletions
  }

  /** After inserting `text` at pos of replica r: the ids of the new characters. */
  inserted(r, pos, text) {
    if (!text) return;
    const id = r.anchor(pos, 1);
    const runs = this.step.ins, last = runs[runs.length - 1], count = codePoints(text);
    if (last && last.agent === id.agent && last.seq + last.count === id.seq) last.count += count; // typing
    else runs.push({ agent: id.agent, seq: id.seq, count });
  }
}

const newStep = (time, selection) => ({ ins: [], del: [], time, selection });

/** Whether character (agent, seq) was inserted by `step`. */
function insertedBy(step, agent, seq) {
  return step.ins.some((r) => r.agent === agent && seq >= r.seq && seq < r.seq + r.count);
}

/**
 * The CodeMirror changes that revert `step` on replica r now: delete the visible characters it
 * inserted, insert again the text it deleted (but not what it had inserted itself) at its
 * tombstones. Positions are UTF-16 offsets of r's current text.
 */
export function revertChanges(r, step) {
  const changes = [];
  let del = null; // merge adjacent deletions
  const spans = [];
  for (const run of step.ins) {
    for (let j = 0; j < run.count; j++) {
      const at = { agent: run.agent, seq: run.seq + j, side: 0 };
      const from = r.anchorIndex(at);
      if (from == null) continue; // not in this replica (e.g. after a new client id)
      const to = r.anchorIndex({ ...at, side: 1 });
      if (to > from) spans.push([from, to]);
    }
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (const [from, to] of spans) {
    if (del && from <= del.to) del.to = Math.max(del.to, to);
    else changes.push((del = { from, to }));
  }
  for (const run of step.del) {
    // Split the run where it holds characters this step inserted (typed then erased: gone).
    let start = -1, u = 0, u0 = 0;
    const flush = (end, uEnd) => {
      if (start < 0) return;
      const at = r.anchorIndex({ agent: run.agent, seq: run.seq + start, side: 0 });
      if (at != null) changes.push({ from: at, insert: run.text.slice(u0, uEnd) });
      start = -1;
    };
    for (let k = 0; k < run.count; k++) {
      const w = isHigh(run.text.charCodeAt(u)) && u + 1 < run.text.length ? 2 : 1;
      if (insertedBy(step, run.agent, run.seq + k)) flush(k, u);
      else if (start < 0) { start = k; u0 = u; }
      u += w;
    }
    flush(run.count, u);
  }
  return changes;
}

/**
 * The smallest replacement {from, to, insert} turning the editor's `doc` (a CodeMirror Text)
 * into `text`, or null when they are equal. Compares the document's chunks (lines) with native
 * string comparisons, then characters only inside the first and last differing chunks: a
 * 100,000-character document costs tens of microseconds, not milliseconds.
 */
export function difference(doc, text) {
  const len = doc.length;
  let a = 0;
  for (const it = doc.iter(); !it.next().done;) {
    const chunk = it.value;
    if (text.startsWith(chunk, a)) { a += chunk.length; continue; }
    const end = Math.min(chunk.length, text.length - a);
    let k = 0;
    while (k < end && chunk.charCodeAt(k) === text.charCodeAt(a + k)) k++;
    a += k;
    break;
  }
  if (a === len && a === text.length) return null;
  const max = Math.min(len, text.length) - a; // the suffix may not overlap the prefix
  let b = 0;
  for (const it = doc.iter(-1); b < max && !it.next().done;) {
    const chunk = it.value;
    if (chunk.length <= max - b && text.startsWith(chunk, text.length - b - chunk.length)) { b += chunk.length; continue; }
    let k = 0;
    while (b + k < max && k < chunk.length &&
      chunk.charCodeAt(chunk.length - 1 - k) === text.charCodeAt(text.length - 1 - b - k)) k++;
    b += k;
    break;
  }
  // Never split a surrogate pair.
  if (a > 0 && isHigh(text.charCodeAt(a - 1))) a--;
  if (b > 0 && isLow(text.charCodeAt(text.length - b))) b--;
  return { from: a, to: len - b, insert: text.slice(a, text.length - b) };
}

// ---- the binding -------------------------------------------------------------------------

/**
 * The binding of one editor to one Document, without the DOM: `attach(view)` with anything
 * that has `state` and `dispatch` (an EditorView, or a stand-in in tests), then
 * `update(transactions)` after each view update. docsyncCollab() wraps it in a ViewPlugin.
 */
export class CollabBinding {
  constructor(doc, options = {}) {
    this.doc = doc;
    this.options = { cursors: true, undo: true, ...options };
    this.user = options.user || {};
    this.undoStack = [];
    this.redoStack = [];
    this.view = null;
    this.selAnchors = null; // the local selection as CRDT anchors
    this.lastCursor = null;
    this.#off = [];
    this.#timer = null;
  }

  #off;
  #timer;
  /** Made before the replica was loaded, showing the text saved beside it: {text, trs}, the
   * local transactions made since, applied to the replica once it is loaded. */
  #early = null;
  /** The editor's text is the replica's (pulled whole, then every change passed on): a remote
   * update's own changes may be applied to it. */
  #inSync = false;
  #pulling = false; // pull() is dispatching

  attach(view) {
    this.view = view;
    const doc = this.doc;
    if (this.user.color && 'cursorColor' in doc) doc.cursorColor = this.user.color;
    this.#off.push(doc.on('change', ({ remote: isRemote, changes }) => { if (isRemote) this.pull(changes); }));
    if (this.options.cursors) {
      this.#off.push(doc.on('cursors', () => this.pushCursors()));
      this.#timer = setInterval(() => this.shareCursor(true), CURSOR_REFRESH_MS);
      this.#timer.unref?.();
    }
    // The editor may have been created before doc.ready, or with other text: the document wins.
    this.pull();
    if (!doc.replica && doc.ready) {
      // Made with the text saved beside the replica (doc.preview), it takes edits at once:
      // they wait here and go to the replica, in order, once it is loaded with that text.
      // (Made after the preview was read, it took them from its creation: see early().)
      Promise.resolve(doc.preview).then((saved) => {
        if (!this.view || doc.replica || this.#early || !shows(this.view.state.doc, saved)) return;
        this.early(saved);
        this.#unlock();
      }, () => {});
      Promise.resolve(doc.ready).then(() => { if (this.view) this.#loaded(); }, () => {});
    }
    this.track();
    this.shareCursor();
  }

  /** The editor shows `text`, the preview's, before the replica is loaded: its edits from now
   * on wait for the replica, which takes them in order once it is loaded with that text. From
   * the editor's creation (docsyncCollab made it editable: even a dispatch before attach is
   * kept), or once attach has compared the texts. */
  early(text) {
    this.#early = { text, trs: [] };
  }

  /** Transactions before attach: kept for the replica when made with the preview's text. */
  beforeAttach(transactions) {
    if (this.#early) for (const tr of transactions) if (tr.docChanged) this.#early.trs.push(tr);
  }

  /** The replica is loaded: the edits made meanwhile go to it, then the editor follows it. */
  #loaded() {
    const early = this.#early;
    this.#early = null;
    let inSync = false;
    if (early && this.doc.text() === early.text) {
      // The replica holds the text the editor was made with: the edits made since go to it in
      // order, and then both hold the same text (no comparison of the editor's).
      inSync = early.trs.every((tr) => this.#tryPush(tr)); // a refusal: pull below
    } else if (early && early.trs.length) {
      // Only a damaged saved state loads as something else: those edits cannot be placed.
      console.error('docsync: the document loaded differs from the text shown while it loaded; the edits made meanwhile are dropped');
    }
    this.#inSync = inSync;
    if (!inSync) this.pull();
    this.track();
    this.shareCursor();
    this.#unlock();
  }

  /** Makes an editor made before the replica was loaded editable (docsyncCollab's field). */
  #unlock() {
    const view = this.view;
    if (view?.state.field(loadingField, false)) view.dispatch({ effects: loaded.of(null), annotations: remote.of(true) });
  }

  destroy() {
    for (const off of this.#off) off();
    this.#off = [];
    clearInterval(this.#timer);
    if (this.options.cursors && this.doc.replica) this.doc.setCursor(null);
    this.view = null;
  }

  /** After a view update: local changes to the CRDT, typing, cursor. */
  update(transactions) {
    let moved = false, local = false, typed = false;
    for (const tr of transactions) {
      moved = moved || !!tr.selection || tr.docChanged;
      if (tr.annotation(remote)) {
        // Marked remote by someone else than pull(): the editor may no longer hold the
        // replica's text, so the next remote changes are checked against the whole text.
        if (tr.docChanged && !this.#pulling) this.#inSync = false;
        continue;
      }
      local = local || !!tr.selection || tr.docChanged;
      if (!tr.docChanged) {
        if (tr.selection) this.stopCapturing(); // moving the caret ends an undo step
        continue;
      }
      typed = typed || tr.isUserEvent('input') || tr.isUserEvent('delete');
      if (this.#early) {
        this.#early.trs.push(tr);
        continue;
      }
      if (!this.#tryPush(tr)) queueMicrotask(() => this.pull()); // after this update
    }
    if (typed) this.doc.typing(true);
    if (moved) this.track();
    // A remote change moves our offsets but not our characters: nothing new to tell.
    if (local) this.shareCursor();
  }

  /** push(tr); false when the document refused the edit (e.g. one splitting a surrogate
   * pair): then the editor is to take the document's text back (pull) rather than drift. */
  #tryPush(tr) {
    try {
      this.push(tr);
      return true;
    } catch (e) {
      console.error(e);
      this.#inSync = false;
      return false;
    }
  }

  /** One local transaction into CRDT transactions, recorded for undo. */
  push(tr) {
    const doc = this.doc;
    if (!doc.replica) return;
    const kind = tr.annotation(undoKind);
    const rec = this.options.undo ? new StepRecorder(this.#stepFor(kind, tr)) : null;
    // Changes in order, each at its position in the text as changed so far.
    const edits = [];
    let shift = 0;
    tr.changes.iterChanges((fromA, toA, _fromB, _toB, ins) => {
      const text = ins.toString();
      edits.push({ pos: fromA + shift, del: toA - fromA, text });
      shift += text.length - (toA - fromA);
    });
    // One CRDT transaction per piece within BUDGET.
    let batch = [], used = 0;
    const flush = () => {
      const todo = batch;
      batch = [];
      used = 0;
      if (todo.length) doc.transact((r) => { for (const f of todo) f(r); });
    };
    const old = tr.startState.doc;
    let oldShift = 0; // positions in the old document, for the deleted text
    for (const e of edits) {
      const from = e.pos - oldShift;
      for (let done = 0; done < e.del;) {
        let n = Math.min(e.del - done, Math.floor((BUDGET - used) / DELETE_WEIGHT));
        if (n <= 0) { flush(); continue; }
        const a = from + done;
        let gone = old.sliceString(a, a + n);
        if (n < e.del - done && isHigh(gone.charCodeAt(n - 1))) { n--; gone = gone.slice(0, n); } // whole pairs
        if (n <= 0) { flush(); continue; }
        const at = e.pos;
        batch.push((r) => { rec?.deleting(r, at, n, gone); r.delete(at, n); });
        used += n * DELETE_WEIGHT;
        done += n;
      }
      for (let i = 0; i < e.text.length;) {
        let n = Math.min(e.text.length - i, Math.floor((BUDGET - used) / INSERT_WEIGHT));
        if (n <= 0) { flush(); continue; }
        if (i + n < e.text.length && isHigh(e.text.charCodeAt(i + n - 1))) n--;
        if (n <= 0) { flush(); continue; }
        const piece = e.text.slice(i, i + n), at = e.pos + i;
        batch.push((r) => { r.insert(at, piece); rec?.inserted(r, at, piece); });
        used += n * INSERT_WEIGHT;
        i += n;
      }
      oldShift += e.text.length - e.del;
    }
    flush();
  }

  /** The undo step a transaction records into: the open one (edits in quick succession), a
   * new one, or for undo/redo the step pushed on the other stack. */
  #stepFor(kind, tr) {
    const now = Date.now();
    const selection = this.selAnchors;
    if (kind === 'undo' || kind === 'redo') {
      const step = newStep(0, selection);
      (kind === 'undo' ? this.redoStack : this.undoStack).push(step);
      return step;
    }
    this.redoStack = [];
    const top = this.undoStack[this.undoStack.length - 1];
    if (top && !top.closed && now - top.time < CAPTURE_MS && !tr.isUserEvent('input.paste')) {
      top.time = now;
      return top;
    }
    if (top) top.closed = true;
    const step = newStep(now, selection);
    if (tr.isUserEvent('input.paste')) step.closed = true;
    this.undoStack.push(step);
    if (this.undoStack.length > STACK_MAX) this.undoStack.shift();
    return step;
  }

  /** The next undo (or redo) becomes its own step. */
  stopCapturing() {
    const top = this.undoStack[this.undoStack.length - 1];
    if (top) top.closed = true;
  }

  /** Reverts the last own step still making a change; false when there is none. */
  undo() { return this.#revert('undo'); }

  redo() { return this.#revert('redo'); }

  #revert(kind) {
    const view = this.view, r = this.doc.replica;
    if (!view || !r) return false;
    const stack = kind === 'undo' ? this.undoStack : this.redoStack;
    this.stopCapturing();
    while (stack.length) {
      const step = stack.pop();
      const specs = revertChanges(r, step);
      if (!specs.length) continue; // already undone by others' edits: try the one before
      const changes = view.state.changes(specs);
      let selection;
      const back = step.selection && this.#resolve(step.selection);
      if (back) {
        // Where the step's edit started, in the text after the revert.
        // An end bound after its character (side 1) stays after text put back there.
        const side = (x) => (x?.side === 1 ? 1 : -1);
        selection = EditorSelection.create(back.map(([a, h], i) => {
          const [sa, sh] = step.selection[i];
          return EditorSelection.range(changes.mapPos(a, side(sa)), changes.mapPos(h, side(sh || sa)));
        }));
      }
      view.dispatch({ changes, selection, annotations: undoKind.of(kind), userEvent: kind, scrollIntoView: true });
      return true;
    }
    return false;
  }

  /** The local selection's CRDT anchors, kept current (a remote change is applied to the
   * replica before the binding hears of it). */
  track() {
    const r = this.doc.replica, view = this.view;
    if (!r || !view) return;
    const doc = view.state.doc;
    if (doc.length !== r.length) return; // mid-rebuild; pull() follows
    this.selAnchors = view.state.selection.ranges.map((s) => {
      const [a, h] = [s.anchor, s.head];
      if (a === h) return [r.anchor(a, -1), null];
      // Each end binds to the selected character beside it: text typed at an end stays out.
      return a < h ? [r.anchor(a, 1), r.anchor(h, -1)] : [r.anchor(a, -1), r.anchor(h, 1)];
    });
    this.selMain = view.state.selection.mainIndex;
  }

  #resolve(anchors) {
    const r = this.doc.replica;
    const out = [];
    for (const [a, h] of anchors) {
      const pa = r.anchorIndex(a);
      const ph = h ? r.anchorIndex(h) : pa;
      if (pa == null || ph == null) return null;
      out.push([pa, ph]);
    }
    return out;
  }

  /** The document's text into the editor (after remote changes), the local selection back
   * on its characters, and the remote cursors refreshed in the same transaction. `remoteChanges`
   * (optional): the visible changes the remote updates made, in order (Document 'change'); the
   * editor makes exactly those when its text was the replica's before them, instead of reading
   * the whole text and comparing it with the editor's. */
  pull(remoteChanges) {
    const view = this.view;
    if (!view || !this.doc.replica) return;
    let changes = remoteChanges && this.#inSync ? this.#compose(view.state.doc.length, remoteChanges) : null;
    let length;
    if (changes) {
      length = changes.newLength;
      if (changes.empty) changes = null;
    } else {
      const text = this.doc.text();
      length = text.length;
      // The editor made with the document's text (at attach): one native comparison of the
      // whole text instead of a walk of its lines.
      const doc = view.state.doc;
      changes = doc.length === length && doc.toString() === text ? null : difference(doc, text);
      this.#inSync = true;
    }
    const deco = this.options.cursors ? this.decorations(length) : null;
    // No cursors to draw and none drawn: no transaction (an editor update) for them.
    const effects = deco && (deco.size || view.state.field(cursorField, false)?.size) ? [setCursors.of(deco)] : [];
    if (!changes) {
      if (effects.length) view.dispatch({ effects, annotations: remote.of(true) });
      return;
    }
    let selection;
    const back = this.selAnchors && this.#resolve(this.selAnchors);
    if (back && back.every(([x, y]) => x <= length && y <= length)) {
      selection = EditorSelection.create(back.map(([x, y]) => EditorSelection.range(x, y)),
        Math.min(this.selMain || 0, back.length - 1));
    }
    this.#pulling = true;
    try {
      view.dispatch({ changes, selection, effects, annotations: remote.of(true) });
    } finally {
      this.#pulling = false;
    }
  }

  /** The ChangeSet of sequential changes over a text of `length`, or null when they do not fit
   * it or do not end at the replica's length (then the texts are compared instead). */
  #compose(length, list) {
    if (list.length > CHANGES_MAX) return null;
    let set = ChangeSet.empty(length);
    try {
      for (const c of list) {
        const one = ChangeSet.of(c, set.newLength);
        set = set.compose(one);
      }
    } catch {
      return null; // a range beyond the editor's text
    }
    return set.newLength === this.doc.replica.length ? set : null;
  }

  /** Shares the main selection with the others (the Document throttles and coalesces). */
  shareCursor(force = false) {
    if (!this.options.cursors || !this.view || !this.doc.replica) return;
    const { anchor, head } = this.view.state.selection.main;
    const key = `${anchor}:${head}:${this.view.state.doc.length}`;
    if (!force && key === this.lastCursor) return;
    this.lastCursor = key;
    if (this.view.state.doc.length === this.doc.replica.length) this.doc.setCursor(anchor, head);
  }

  /** Remote cursors changed (moved, joined, left, expired). */
  pushCursors() {
    const view = this.view;
    if (!view || !this.doc.replica || view.state.doc.length !== this.doc.replica.length) return;
    view.dispatch({ effects: setCursors.of(this.decorations(view.state.doc.length)), annotations: remote.of(true) });
  }

  /** Decorations of the remote cursors for a text of length `len`. */
  decorations(len) {
    const ranges = [];
    for (const c of this.doc.remoteCursors()) {
      if (c.head == null || c.head > len) continue;
      const color = c.user.color || userColor(c.user.id);
      const name = c.user.name || c.user.id;
      if (c.anchor != null && c.anchor !== c.head && c.anchor <= len) {
        ranges.push(Decoration.mark({
          class: 'cm-docsync-selection',
          attributes: { style: `background-color: ${color}33`, 'data-user': c.user.id },
        }).range(Math.min(c.anchor, c.head), Math.max(c.anchor, c.head)));
      }
      ranges.push(Decoration.widget({ widget: new CaretWidget(c.user.id, name, color), side: -1 }).range(c.head));
    }
    return Decoration.set(ranges, true);
  }
}

// ---- remote cursors ----------------------------------------------------------------------

const setCursors = StateEffect.define();

/** The remote cursors' decorations: replaced from the Document's anchors when they move or
 * the text changes remotely; mapped through local edits (where a CRDT anchor and a mapped
 * position agree: a caret binds to the character before it). */
const cursorField = StateField.define({
  create: () => Decoration.none,
  update(deco, tr) {
    deco = deco.map(tr.changes);
    for (const e of tr.effects) if (e.is(setCursors)) deco = e.value;
    return deco;
  },
  provide: (f) => EditorView.decorations.from(f),
});

class CaretWidget extends WidgetType {
  constructor(id, name, color) {
    super();
    Object.assign(this, { id, name, color });
  }

  eq(o) { return o.id === this.id && o.name === this.name && o.color === this.color; }

  toDOM() {
    const caret = document.createElement('span');
    caret.className = 'cm-docsync-caret';
    caret.dataset.user = this.id;
    caret.style.borderLeftColor = this.color;
    const label = document.createElement('span');
    label.className = 'cm-docsync-name';
    label.textContent = this.name;
    label.style.backgroundColor = this.color;
    caret.appendChild(label);
    return caret;
  }

  ignoreEvent() { return true; }
}

const cursorTheme = EditorView.baseTheme({
  '.cm-docsync-caret': {
    position: 'relative', borderLeft: '2px solid', marginLeft: '-1px', marginRight: '-1px',
    boxSizing: 'border-box', display: 'inline', pointerEvents: 'none',
  },
  '.cm-docsync-name': {
    position: 'absolute', top: '-1.15em', left: '-2px', fontSize: '0.7em', lineHeight: '1.1',
    color: 'white', padding: '0 3px', borderRadius: '3px 3px 3px 0', whiteSpace: 'nowrap',
    userSelect: 'none', fontFamily: 'sans-serif', opacity: '0.9',
  },
});

/** Whether the editor's text (a CodeMirror Text) is `saved`, a string. One native comparison:
 * the view's code is still cold when this runs, a walk of lines is not. */
function shows(text, saved) {
  return typeof saved === 'string' && text.length === saved.length && text.toString() === saved;
}

// ---- the extension -----------------------------------------------------------------------

const bindingFacet = Facet.define({ combine: (v) => v[0] ?? null });

// True while the editor cannot take edits: made before the replica was loaded, until the
// replica is, or until the binding knows the editor shows the text saved beside it (whose
// edits it keeps for the replica); false from the start when the editor is made with that
// text once it has been read, so that no transaction is needed to make it editable (a cold
// page's first one costs several ms). Read-only and not editable meanwhile. A field that one
// effect clears, rather than a compartment to reconfigure: CodeMirror takes a reconfiguration
// as a new configuration and compares the whole view again.
const loaded = StateEffect.define();
const loadingField = StateField.define({
  create: () => false,
  update: (v, tr) => (v && tr.effects.some((e) => e.is(loaded)) ? false : v),
  provide: (f) => [EditorView.editable.from(f, (v) => !v), EditorState.readOnly.from(f)],
});

function withBinding(fn) {
  return (view) => {
    const plugin = view.plugin(bindingPlugin);
    return plugin ? fn(plugin.binding) : false;
  };
}

const bindingPlugin = ViewPlugin.fromClass(class {
  constructor(view) {
    const { doc, options } = view.state.facet(bindingFacet);
    this.binding = new CollabBinding(doc, options);
    // Made editable with the preview's text (loadingField's init): it is shown and kept so.
    if (view.state.field(loadingField, false) === false && !doc.replica) this.binding.early(doc.previewText);
    // Not during the view's construction: attaching dispatches (the document's text).
    queueMicrotask(() => { if (!this.destroyed) this.binding.attach(view); });
  }

  update(u) {
    if (this.binding.view) this.binding.update(u.transactions);
    else this.binding.beforeAttach(u.transactions);
  }

  destroy() {
    this.destroyed = true;
    this.binding.destroy();
  }
});

/** Undoes this editor's last own edit (others' edits stay). A CodeMirror command. */
export const undo = withBinding((b) => b.undo());
/** Redoes the last undone own edit. A CodeMirror command. */
export const redo = withBinding((b) => b.redo());

/**
 * The CodeMirror 6 extension binding the editor to `doc` (a docsync Document). Made before the
 * document is ready: with the text of `doc.preview`, it takes edits at once and applies them
 * to the replica when it is loaded; with another text, it is read-only until then and then
 * shows the loaded text.
 * options: user {name, color} (color: '#rrggbb' shown to others; default derived from the user
 * id), cursors (default true: share this cursor, show the others'), undo (default true:
 * own-edit undo/redo on Mod-z / Mod-Shift-z / Mod-y; do not also use @codemirror/commands'
 * history()).
 */
export function docsyncCollab(doc, options = {}) {
  const opts = { cursors: true, undo: true, ...options };
  const ext = [bindingFacet.of({ doc, options: opts }), bindingPlugin];
  // Made before the replica is loaded: read-only until the binding can keep what is typed,
  // which it can at once when the editor shows the saved text (one native comparison).
  if (!doc.replica) {
    ext.push(loadingField.init((state) => !shows(state.doc, doc.previewText)));
  }
  if (opts.cursors) ext.push(cursorField, cursorTheme);
  if (opts.undo) {
    ext.push(Prec.high(keymap.of([
      { key: 'Mod-z', run: undo, preventDefault: true },
      { key: 'Mod-Shift-z', run: redo, preventDefault: true },
      { key: 'Mod-y', run: redo, preventDefault: true },
    ])));
  }
  return ext;
}

/** The binding of an editor (its undo stacks, for tests and custom commands), or null. */
export function collabBinding(view) {
  return view.plugin(bindingPlugin)?.binding ?? null;
}
