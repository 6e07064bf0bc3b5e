// The floor of the editor benchmark: CodeMirror 6 with no collaboration at all, in the same
// harness. Its open is `new EditorView` of the text already in memory, its keystroke is
// CodeMirror's own handling of the key with the DOM update and layout, and its remote update a
// plain dispatch of the same one-character change. What the two collaborative stacks take on
// top of these is theirs; what these take is the editor's and this machine's, which no binding
// can go below. Bundled by run.mjs with esbuild.
import { EditorView } from '@codemirror/view';
import { harness } from './harness.mjs';

let text, view;

harness({
  name: 'plain',
  async setup(_wasm, stateBytes) { text = new TextDecoder().decode(stateBytes); },
  async open(parent, mark) {
    view = new EditorView({ doc: text, parent });
    mark('EditorView');
    return view;
  },
  makeRemote(pos) { return pos; },
  applyRemote(pos) { view.dispatch({ changes: { from: Math.min(pos, view.state.doc.length), insert: 'r' } }); },
});
