// The docsync stack in the benchmark page: CodeMirror 6 + clients/docsync/codemirror.mjs + the
// JS client (docsync.mjs) + the wasm CRDT. No server: Echo is a stub that swallows what the
// client sends and lets the benchmark deliver DocumentUpdated events, so every figure is the
// client's own work (CRDT, binding, CodeMirror, layout). Bundled by run.mjs with esbuild.
import { EditorView } from '@codemirror/view';
import { loadCrdt } from '../../clients/docsync/crdt.mjs';
import { DocSync, MemoryStorage } from '../../clients/docsync/docsync.mjs';
import { docsyncCollab } from '../../clients/docsync/codemirror.mjs';
import { harness } from './harness.mjs';

/** An Echo stand-in: channels that record their listeners, a connection always 'connected'. */
function stubEcho() {
  const on = {};
  const channel = {
    listen(ev, fn) { on.updated = fn; return channel; },
    subscribed(fn) { on.subscribed = fn; return channel; },
    listenForWhisper() { return channel; },
    whisper() {},
    subscription: { bind() {}, subscribed: true },
  };
  const bound = {};
  const pusher = {
    connection: { state: 'connected', bind() {}, unbind() {} },
    bind(ev, fn) { bound[ev] = fn; },
    unbind() {},
    // The catch-up after subscribing: nothing new on the server (the saved state is the head).
    send_event(ev, data) {
      if (ev === 'docsync:catchup') {
        queueMicrotask(() => bound['docsync:catchup']?.({ documentId: data.documentId, replay: true, updates: [],
          nextVersion: data.version + 1, head: data.version, epoch: 'e', more: false }));
      }
      return true;
    },
  };
  return { echo: { connector: { pusher }, private: () => channel, join: () => channel, leave() {} }, on };
}

const b64 = (u8) => { let s = ''; for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode(...u8.subarray(i, i + 0x8000)); return btoa(s); };

let module, crdt, state, storage, view, stub, remoteReplica, version = 1;

harness({
  name: 'docsync',
  async setup(wasmBytes, stateBytes, text) {
    // Compiled before opening, as a page compiles it (compileStreaming) while its bundle runs
    // and the storage is read; instantiating it is part of opening.
    const t = performance.now();
    module = await WebAssembly.compile(wasmBytes);
    const compileMs = performance.now() - t;
    state = stateBytes;
    // What the client saved when the tab was closed, as it saves it (the state as bytes, which
    // IndexedDB and MemoryStorage keep): saving is not part of opening.
    storage = new MemoryStorage();
    const clientId = 'bench.000001';
    storage.set('index:paper/ada', JSON.stringify([clientId]));
    // The text beside the state, as a tab closing saves it (binary storages only).
    const saved = { clientId, epoch: 'e', version: 1, seq: 0, state, text, pending: [] };
    // (A client without binary storages saved JSON with the state in base64, and no text.)
    storage.set(`state:paper/${clientId}`, storage.binary ? saved : JSON.stringify({ ...saved, state: b64(state) }));
    return { compileMs };
  },
  /** Show the saved text, then load the saved replica (as a reloaded tab does, from the
   * client's storage) under it: the editor takes edits as soon as it shows the text. */
  async open(parent, mark) {
    // Stage marks around what the client calls (the client itself is not instrumented).
    const get = storage.get.bind(storage);
    storage.get = (k) => { if (k.startsWith('state:')) mark('slot'); const v = get(k); if (k.startsWith('state:')) mark('storage read'); return v; };
    // The module instantiated while the replica is claimed and read, as DocSync does with a
    // module it loads itself.
    const loading = loadCrdt(module).then((c) => {
      crdt = c;
      mark('instantiate');
      const loadDoc = crdt.loadDoc;
      crdt.loadDoc = (...a) => { mark('decode'); try { return loadDoc.apply(crdt, a); } finally { mark('loadDoc'); crdt.loadDoc = loadDoc; } };
      return crdt;
    });
    stub = stubEcho();
    const sync = new DocSync(stub.echo, { userId: 'ada', crdt: loading, storage });
    const doc = sync.document('paper');
    // (A client from before the saved text had no preview: it shows the text once loaded.)
    const text = 'preview' in doc ? await doc.preview : (await doc.ready, doc.text());
    mark('preview');
    view = new EditorView({ doc: text ?? '', parent, extensions: [docsyncCollab(doc, { user: { name: 'ada' } })] });
    mark('EditorView');
    view.contentDOM.offsetHeight; // laid out; on the screen at the next frame
    mark('shown');
    requestAnimationFrame(() => mark('frame'));
    // With the saved text, the binding takes edits from the next microtasks on (kept for the
    // replica until it is loaded).
    for (let i = 0; i < 100 && !view.state.facet(EditorView.editable); i++) await null;
    mark('editable');
    await doc.ready;
    mark('ready');
    stub.on.subscribed(); // caught up (next microtask): remote updates apply from version 2
    // The binding applies what was typed meanwhile and compares the texts in microtasks after
    // ready. Not a task (setTimeout): the browser would render a frame in between, counted for
    // this stack only.
    for (let i = 0; i < 4; i++) await null;
    mark('attach');
    if (!view.state.facet(EditorView.editable) || view.state.doc.length !== doc.text().length) {
      throw new Error('the editor is not on the loaded replica at the end of the open');
    }
    return view;
  },
  /** A remote replica's edit, delivered as a DocumentUpdated (not timed: made beforehand). */
  makeRemote(pos) {
    if (!remoteReplica) remoteReplica = crdt.loadDoc('remote', state);
    const m = remoteReplica.mark();
    remoteReplica.insert(Math.min(pos, remoteReplica.length), 'r');
    return { version: ++version, update: b64(remoteReplica.encodeSinceMark(m)), user: 'bob', clientId: 'remote' };
  },
  applyRemote(e) { stub.on.updated(e); },
});
