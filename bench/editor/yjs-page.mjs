// The Yjs stack in the benchmark page: CodeMirror 6 + y-codemirror.next (yCollab with an
// awareness and its UndoManager, as its README sets it up) + yjs, all from bench/node_modules.
// Bundled by run.mjs with esbuild. Updates go nowhere (no provider), as docsync's go to a stub.
import { EditorView } from '@codemirror/view';
import * as Y from 'yjs';
import { yCollab } from 'y-codemirror.next';
import { Awareness } from 'y-protocols/awareness';
import { harness } from './harness.mjs';

let state, view, ydoc, remote;

harness({
  name: 'yjs',
  async setup(_wasm, stateBytes) { state = stateBytes; },
  /** Load the saved document (as y-indexeddb hands it over: one update) and show it. */
  async open(parent, mark) {
    ydoc = new Y.Doc();
    Y.applyUpdate(ydoc, state);
    mark('applyUpdate');
    const ytext = ydoc.getText('t');
    const awareness = new Awareness(ydoc);
    awareness.setLocalStateField('user', { name: 'ada', color: '#30bced' });
    ydoc.on('update', () => {}); // a provider would send it
    const text = ytext.toString();
    mark('text');
    view = new EditorView({ doc: text, parent, extensions: [yCollab(ytext, awareness)] });
    mark('EditorView');
    return view;
  },
  makeRemote(pos) {
    if (!remote) { remote = new Y.Doc(); Y.applyUpdate(remote, state); }
    const sv = Y.encodeStateVector(remote);
    const t = remote.getText('t');
    t.insert(Math.min(pos, t.length), 'r');
    return Y.encodeStateAsUpdate(remote, sv);
  },
  applyRemote(u) { Y.applyUpdate(ydoc, u, 'remote'); },
});
