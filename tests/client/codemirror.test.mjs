// The CodeMirror binding's pieces that need no browser (ctest client.codemirror, label unit):
// CollabBinding between a CodeMirror EditorState (a stand-in for the EditorView: state +
// dispatch) and a wasm CRDT replica. Replicas exchange their updates by hand, so concurrency
// is exact: local transactions become CRDT edits (large ones split under the message limit),
// remote ones become editor changes with the selection kept on its characters, and undo/redo
// revert only this editor's own edits, wherever others' edits moved them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { EditorState, EditorSelection, Text } from '@codemirror/state';
import { EditorView } from '@codemirror/view';
import { loadCrdt } from '../../clients/docsync/crdt.mjs';
import { CollabBinding, difference, docsyncCollab, remote, revertChanges, userColor } from '../../clients/docsync/codemirror.mjs';

const crdt = await loadCrdt(fs.readFileSync(process.env.CRDT_WASM));

/** The part of a docsync Document the binding uses, over one replica; `sent` collects the
 * updates of its transactions (one per transaction, as docsync:submit sends them). */
class FakeDoc {
  constructor(agent) {
    this.replica = crdt.createDoc(agent);
    this.sent = [];
    this.handlers = new Map();
    this.cursorsSet = [];
    this.typed = 0;
  }

  on(name, fn) {
    if (!this.handlers.has(name)) this.handlers.set(name, new Set());
    this.handlers.get(name).add(fn);
    return () => this.handlers.get(name).delete(fn);
  }

  emit(name, arg) { for (const fn of this.handlers.get(name) || []) fn(arg); }
  text() { return this.replica.text; }
  typing() { this.typed++; }
  setCursor(a, h) { this.cursorsSet.push([a, h]); }
  remoteCursors() { return []; }

  transact(fn) {
    const m = this.replica.mark();
    fn(this.replica);
    if (this.replica.mark() !== m) this.sent.push(this.replica.encodeSinceMark(m));
    this.emit('change', { remote: false });
  }

  /** Another replica's updates arrive. With `report`, as the Document passes them on: with the
   * visible changes they made (applyChanges). */
  receive(updates) {
    let changes = [];
    for (const u of updates) {
      if (!this.report) this.replica.apply(u);
      else changes = changes.concat(this.replica.applyChanges(u)?.changes ?? []);
    }
    this.emit('change', { remote: true, changes: this.report ? changes : undefined });
  }
}

/** An editor on `doc`: EditorState plus dispatch, as the ViewPlugin drives the binding. */
function editor(doc, options = {}, text = '') {
  const binding = new CollabBinding(doc, { cursors: false, ...options });
  const view = {
    state: EditorState.create({ doc: text }),
    dispatch(spec) {
      const tr = this.state.update(spec);
      this.state = tr.state;
      binding.update([tr]);
    },
  };
  binding.attach(view);
  return { view, binding, doc, text: () => view.state.doc.toString() };
}

/** A pair of replicas that both started from `text` (written by a third agent). */
function pair(text = '', options) {
  const base = crdt.createDoc('base');
  base.insert(0, text);
  const a = new FakeDoc('ada'), b = new FakeDoc('bob');
  a.replica.apply(base.encodeState());
  b.replica.apply(base.encodeState());
  return [editor(a, options), editor(b, options)];
}

/** Delivers each side's unsent updates to the other. */
function exchange(x, y) {
  const fromX = x.doc.sent.splice(0), fromY = y.doc.sent.splice(0);
  y.doc.receive(fromX);
  x.doc.receive(fromY);
}

const type = (e, pos, text, userEvent = 'input.type') =>
  e.view.dispatch({ changes: { from: pos, insert: text }, selection: { anchor: pos + text.length }, userEvent });
const erase = (e, from, to) => e.view.dispatch({ changes: { from, to }, selection: { anchor: from }, userEvent: 'delete' });

test('local transactions become CRDT transactions; remote ones keep the selection on its characters', () => {
  const [a, b] = pair('hello world');
  assert.equal(a.text(), 'hello world'); // the document's text wins at attach
  type(a, 5, ',');
  assert.equal(a.doc.text(), 'hello, world');
  assert.equal(a.doc.typed, 1);
  // Several changes in one transaction, positions in the old document.
  a.view.dispatch({ changes: [{ from: 0, to: 1, insert: 'H' }, { from: 7, to: 12, insert: 'World' }] });
  assert.equal(a.doc.text(), 'Hello, World');
  assert.equal(a.doc.sent.length, 2);
  exchange(a, b);
  assert.equal(b.text(), 'Hello, World');
  // Bob selects "World", Ada edits before it and at its end: the selection stays on "World".
  b.view.dispatch({ selection: EditorSelection.single(7, 12) });
  type(a, 0, '>> ');
  type(a, a.text().length, '!'); // at the selection's end: stays out of it
  exchange(a, b);
  assert.equal(b.text(), '>> Hello, World!');
  assert.deepEqual([b.view.state.selection.main.from, b.view.state.selection.main.to], [10, 15]);
  // A caret stays after the character it follows when text is inserted right there.
  b.view.dispatch({ selection: { anchor: 3 } });
  type(a, 3, 'xyz');
  exchange(a, b);
  assert.equal(b.view.state.selection.main.head, 3);
  assert.equal(b.text(), a.text());
});

test('remote changes the CRDT reports go to the editor as they are, without reading the whole text', () => {
  const [a, b] = pair('hello wörld 😀');
  b.doc.report = true;
  let reads = 0;
  const read = b.doc.text.bind(b.doc);
  b.doc.text = () => { reads++; return read(); };
  b.view.dispatch({ selection: EditorSelection.single(6, 11) }); // "wörld"
  type(a, 0, '>> ');
  erase(a, 4, 6); // "el"
  type(a, a.text().length, '😀!');
  exchange(a, b);
  assert.equal(a.text(), '>> hlo wörld 😀😀!');
  assert.equal(b.text(), a.text());
  assert.equal(reads, 0);
  assert.deepEqual([b.view.state.selection.main.from, b.view.state.selection.main.to], [7, 12]);
  // Changes that do not fit the editor's text, or do not end at the replica's: the texts are
  // compared instead, and the editor shows the replica's text.
  b.doc.emit('change', { remote: true, changes: [{ from: 1000, to: 1001, insert: '' }] });
  assert.equal(reads, 1);
  b.doc.emit('change', { remote: true, changes: [{ from: 0, to: 0, insert: 'zz' }] });
  assert.equal(reads, 2);
  assert.equal(b.text(), a.text());
  // A change someone else marked remote: the editor no longer holds the replica's text, so the
  // next remote changes are checked against the whole text, which takes the editor back.
  b.view.dispatch({ changes: { from: 0, to: 1, insert: '?' }, annotations: remote.of(true) }); // same length
  type(a, 0, '#');
  exchange(a, b);
  assert.equal(reads, 3);
  assert.equal(b.text(), a.text());
  // Nothing visible (a deletion of a character already deleted): no change, no read.
  erase(b, 0, 1);
  erase(a, 0, 1);
  exchange(a, b);
  assert.equal(b.text(), a.text());
  assert.equal(reads, 3);
});

test('a large paste and a large deletion go as pieces under the message limit, with emoji kept whole', () => {
  const [a, b] = pair('');
  const big = '😀ab'.repeat(2000) + 'é'.repeat(3001); // 11,001 UTF-16 units
  a.view.dispatch({ changes: { from: 0, insert: big }, userEvent: 'input.paste' });
  assert.equal(a.doc.text(), big);
  assert.ok(a.doc.sent.length >= 8, `${a.doc.sent.length} pieces`);
  for (const u of a.doc.sent) assert.ok(u.length <= 10000, `piece of ${u.length} bytes`);
  exchange(a, b);
  assert.equal(b.text(), big);
  // Bob's own edits fragment the text; Ada then deletes nearly all of it.
  for (let i = 0; i < 300; i++) type(b, i * 37, 'x');
  exchange(a, b);
  a.view.dispatch({ changes: { from: 1, to: a.text().length - 1 }, userEvent: 'delete' });
  for (const u of a.doc.sent) assert.ok(u.length <= 10000, `deletion piece of ${u.length} bytes`);
  exchange(a, b);
  assert.equal(a.text().length, 2);
  assert.equal(b.text(), a.text());
  // Ada's undo restores the whole text she deleted (Bob's characters included).
  assert.equal(a.binding.undo(), true);
  for (const u of a.doc.sent) assert.ok(u.length <= 10000, `restoring piece of ${u.length} bytes`);
  exchange(a, b);
  assert.equal(b.text().length, big.length + 300);
  // Replacing all of it with as much new text: deletions and insertions share the budget.
  a.view.dispatch({ changes: { from: 0, to: a.text().length, insert: 'ü'.repeat(9000) }, userEvent: 'input.paste' });
  for (const u of a.doc.sent) assert.ok(u.length <= 10000, `replacing piece of ${u.length} bytes`);
  exchange(a, b);
  assert.equal(b.text(), 'ü'.repeat(9000));
  assert.equal(a.binding.undo(), true);
  for (const u of a.doc.sent) assert.ok(u.length <= 10000, `restoring piece of ${u.length} bytes`);
  exchange(a, b);
  assert.equal(b.text().length, big.length + 300);
  assert.equal(b.text(), a.text());
});

test('undo removes exactly own insertions wherever they moved, and never others\' edits', () => {
  const [a, b] = pair('0123456789');
  type(a, 2, 'AAA');
  a.binding.stopCapturing();
  type(a, a.text().length, 'ZZ');
  // Bob, concurrently, types inside Ada's insertion and at the start.
  type(b, 0, 'b');
  exchange(a, b);
  type(b, 4, 'bb'); // b01A|AA...
  exchange(a, b);
  assert.equal(a.text(), 'b01AbbAA23456789ZZ');
  // Ada's first undo: the ZZ step.
  assert.equal(a.binding.undo(), true);
  assert.equal(a.text(), 'b01AbbAA23456789');
  // The second: the AAA step, whose characters Bob's text now splits.
  assert.equal(a.binding.undo(), true);
  assert.equal(a.text(), 'b01bb23456789');
  assert.equal(a.binding.undo(), false); // nothing of Ada's left
  exchange(a, b);
  assert.equal(b.text(), 'b01bb23456789');
  // Redo puts both back (new characters), still around Bob's.
  assert.equal(a.binding.redo(), true);
  assert.equal(a.binding.redo(), true);
  assert.equal(a.binding.redo(), false);
  exchange(a, b);
  assert.equal(a.text(), b.text());
  assert.equal(a.text().replace(/b/g, ''), '01AAA23456789ZZ');
  // Bob's undo takes only his own three characters out.
  while (b.binding.undo());
  exchange(a, b);
  assert.equal(a.text(), '01AAA23456789ZZ');
  assert.equal(b.text(), a.text());
});

test('undo of a deletion restores the text at its place after others\' edits; typed-and-erased text stays gone', () => {
  const [a, b] = pair('The quick brown fox');
  a.view.dispatch({ selection: { anchor: 10 } });
  erase(a, 4, 10); // "quick ", backwards from the caret
  exchange(a, b);
  type(b, 0, '> ');
  type(b, b.text().length, '.');
  exchange(a, b);
  assert.equal(a.text(), '> The brown fox.');
  a.binding.undo();
  assert.equal(a.text(), '> The quick brown fox.');
  // The caret goes back to where it was before the deletion: after "quick ".
  assert.equal(a.view.state.selection.main.head, 12);
  exchange(a, b);
  assert.equal(b.text(), a.text());

  // One step: typing, then backspacing over part of it and over others' text.
  const [c, d] = pair('abc');
  type(c, 3, 'x');
  type(c, 4, 'yz');
  erase(c, 4, 6); // "yz": typed in this step, erased in it
  erase(c, 2, 4); // "cx": "c" was there before
  assert.equal(c.text(), 'ab');
  exchange(c, d);
  c.binding.undo();
  assert.equal(c.text(), 'abc');
  exchange(c, d);
  assert.equal(d.text(), 'abc');
});

test('steps: quick edits form one step, a pause or a paste starts another; a new edit clears redo', () => {
  const [a] = pair('');
  type(a, 0, 'a');
  type(a, 1, 'b');
  a.view.dispatch({ changes: { from: 2, insert: 'PASTE' }, userEvent: 'input.paste' });
  type(a, 7, 'c');
  assert.equal(a.binding.undoStack.length, 3);
  a.binding.undo();
  assert.equal(a.text(), 'abPASTE');
  a.binding.undo();
  assert.equal(a.text(), 'ab');
  type(a, 2, 'd');
  assert.equal(a.binding.redoStack.length, 0);
  assert.equal(a.binding.redo(), false);
  a.binding.undo();
  a.binding.undo();
  assert.equal(a.text(), '');
  // Moving the caret between two quick edits ends the step.
  type(a, 0, 'one');
  a.view.dispatch({ selection: { anchor: 0 } });
  type(a, 0, 'two');
  a.binding.undo();
  assert.equal(a.text(), 'one');
});

test('revertChanges on the CRDT alone: ids of a step resolve on any replica', () => {
  const x = crdt.createDoc('x'), y = crdt.createDoc('y');
  let m = x.mark();
  x.insert(0, 'hi 👋 there');
  const id = x.anchor(0, 1);
  y.apply(x.encodeSinceMark(m));
  m = y.mark();
  y.insert(3, '(y)');
  x.apply(y.encodeSinceMark(m));
  const step = { ins: [{ agent: id.agent, seq: id.seq, count: 10 }], del: [] };
  const specs = revertChanges(x, step);
  assert.deepEqual(specs, [{ from: 0, to: 3 }, { from: 6, to: 14 }]);
  // On the other replica, the same step resolves to the same ranges.
  assert.deepEqual(revertChanges(y, step), specs);
});

test('user colours are stable #rrggbb per id', () => {
  assert.match(userColor('ada'), /^#[0-9a-f]{6}$/);
  assert.equal(userColor('ada'), userColor('ada'));
  assert.notEqual(userColor('ada'), userColor('bob'));
});

test('difference: the smallest replacement between the editor\'s lines and a text, pairs kept whole', () => {
  let seed = 7;
  const rnd = (n) => { seed = (seed * 1103515245 + 12345) >>> 0; return seed % n; };
  const alphabet = ['a', 'b', '\n', '😀', '😁', 'é'];
  const word = (n) => Array.from({ length: n }, () => alphabet[rnd(alphabet.length)]).join('');
  for (let i = 0; i < 2000; i++) {
    const a = word(rnd(40));
    const from = rnd(a.length + 1), to = from + rnd(a.length - from + 1);
    let b = a.slice(0, from) + word(rnd(4)) + a.slice(to);
    if (rnd(10) === 0) b = a;
    const doc = Text.of(a.split('\n'));
    const d = difference(doc, b);
    if (a === b) { assert.equal(d, null); continue; }
    // Applying it gives the text; it is no larger than the edit made; no pair is split.
    assert.equal(a.slice(0, d.from) + d.insert + a.slice(d.to), b, JSON.stringify({ a, b, d }));
    assert.ok(d.to - d.from <= to - from + 2 && d.insert.length <= b.length - a.length + (to - from) + 2, JSON.stringify({ a, b, d }));
    for (const p of [d.from, d.to]) assert.ok(!/[\uDC00-\uDFFF]/.test(a[p] || ''), `split pair at ${p}: ${JSON.stringify({ a, b, d })}`);
  }
});

test('an editor made before the document is ready shows its text once it is', async () => {
  const d = new FakeDoc('late');
  const replica = d.replica;
  d.replica = null;
  let open;
  d.ready = new Promise((r) => { open = r; });
  const e = editor(d);
  assert.equal(e.text(), '');
  replica.insert(0, 'saved text');
  d.replica = replica;
  open(d);
  await d.ready;
  await Promise.resolve();
  assert.equal(e.text(), 'saved text');
  type(e, 10, '!');
  assert.equal(d.text(), 'saved text!');
});

/** A FakeDoc before its replica is loaded, its preview resolved with `preview`: load(text)
 * gives it the replica, holding `text`, and resolves ready. */
function loading(agent, preview) {
  const d = new FakeDoc(agent);
  const replica = d.replica;
  d.replica = null;
  let open;
  d.ready = new Promise((r) => { open = r; });
  d.preview = Promise.resolve(preview);
  return { d, load: (text) => { replica.insert(0, text); d.replica = replica; open(d); } };
}

test('an editor made with the saved text before the document is ready takes edits at once, applied once it is', async () => {
  const saved = 'saved text';
  const before = (preview, text) => {
    const { d, load } = loading('early', preview);
    return { d, e: editor(d, {}, text), load };
  };
  // Shown with the saved text: typed into at once (before the replica), then applied in order,
  // one CRDT transaction per editor transaction, and undone as own edits.
  let { d, e, load } = before(saved, saved);
  await d.preview;
  await null;
  type(e, 10, '!');
  type(e, 0, '> ');
  erase(e, 2, 3);
  assert.equal(e.text(), '> aved text!');
  assert.deepEqual([d.replica, d.sent.length], [null, 0]);
  load(saved);
  await d.ready;
  await null;
  assert.deepEqual([d.text(), e.text(), d.sent.length], ['> aved text!', '> aved text!', 3]);
  e.binding.stopCapturing();
  type(e, 12, '?');
  assert.equal(d.text(), '> aved text!?');
  assert.ok(e.binding.undo());
  assert.equal(d.text(), '> aved text!');
  assert.ok(e.binding.undo()); // the edits made while loading: one quick step
  assert.deepEqual([d.text(), e.text()], [saved, saved]);
  // Shown with other text than the saved one: no early edits taken; the loaded text wins.
  ({ d, e, load } = before(saved, 'draft'));
  await d.preview;
  await null;
  type(e, 5, '!');
  load(saved);
  await d.ready;
  await null;
  assert.deepEqual([d.text(), e.text(), d.sent.length], [saved, saved, 0]);
  // The replica loaded as something else than the saved text (a damaged saved state): the
  // early edits cannot be placed and are dropped, the editor takes the loaded text.
  ({ d, e, load } = before(saved, saved));
  await d.preview;
  await null;
  type(e, 0, 'x');
  const errors = [];
  const orig = console.error;
  console.error = (m) => errors.push(String(m));
  try {
    load('other');
    await d.ready;
    await null;
  } finally {
    console.error = orig;
  }
  assert.deepEqual([d.text(), e.text(), d.sent.length], ['other', 'other', 0]);
  assert.equal(errors.length, 1);
  assert.match(errors[0], /edits made meanwhile are dropped/);
});

test('an editor made once the preview is read is editable from its creation, and a dispatch before attach reaches the replica', async () => {
  const saved = 'saved text';
  const made = (text) => {
    const { d, load } = loading('early2', saved);
    d.previewText = saved;
    return { d, load, state: EditorState.create({ doc: text, extensions: docsyncCollab(d, { cursors: false }) }) };
  };
  // With the saved text: editable and not read-only in its first state, no transaction needed.
  let { d, state, load } = made(saved);
  assert.deepEqual([state.facet(EditorView.editable), state.readOnly], [true, false]);
  // With other text: read-only until the replica is loaded, as before.
  const other = made('draft').state;
  assert.deepEqual([other.facet(EditorView.editable), other.readOnly], [false, true]);
  // What the plugin does at creation (early), then a change dispatched before attach, then
  // typing: all applied to the replica, in order, once it is loaded.
  const binding = new CollabBinding(d, { cursors: false });
  binding.early(d.previewText);
  const tr = state.update({ changes: { from: 0, insert: '# ' } });
  state = tr.state;
  binding.beforeAttach([tr]);
  const view = {
    state,
    dispatch(spec) { const t = this.state.update(spec); this.state = t.state; binding.update([t]); },
  };
  binding.attach(view);
  await d.preview;
  await null;
  view.dispatch({ changes: { from: 12, insert: '!' }, userEvent: 'input.type' });
  assert.deepEqual([view.state.doc.toString(), d.replica, d.sent.length], ['# saved text!', null, 0]);
  load(saved);
  await d.ready;
  await null;
  assert.deepEqual([d.text(), view.state.doc.toString(), d.sent.length], ['# saved text!', '# saved text!', 2]);
});
