// A typed use of every public name of clients/docsync/codemirror.d.ts, checked by
// `tsc --noEmit` (ctest client.codemirror-types): the hand-written types must match the way the
// binding is meant to be used, with CodeMirror's own types.
import { EditorView } from '@codemirror/view';
import {
  docsyncCollab, undo, redo, userColor, collabBinding, revertChanges, CollabBinding, remote, difference,
  type CollabDocument, type CollabOptions, type CrdtAnchor, type CrdtReplica, type UndoStep,
} from 'docsync/codemirror';

declare const doc: CollabDocument;
const options: CollabOptions = { user: { name: 'ada', color: userColor('ada') }, cursors: true, undo: true };
const view = new EditorView({ doc: doc.text(), extensions: [docsyncCollab(doc, options)] });
const changed: boolean = undo(view) || redo(view);
const binding: CollabBinding | null = collabBinding(view);
const replica: CrdtReplica | null = doc.replica;
if (binding && replica) {
  const step: UndoStep | undefined = binding.undoStack[0];
  if (step) view.dispatch({ changes: revertChanges(replica, step) });
  binding.stopCapturing();
  const a: CrdtAnchor = replica.anchor(0, -1);
  const at: number | null = replica.anchorIndex(a);
  void at;
}
const standalone = new CollabBinding(doc, { cursors: false });
standalone.attach(view);
standalone.update([view.state.update({ changes: { from: 0, insert: 'x' } })]);
const fromRemote: boolean | undefined = view.state.update({ annotations: remote.of(true) }).annotation(remote);
standalone.destroy();
const d = difference(view.state.doc, 'new text');
if (d) view.dispatch({ changes: d });
void changed; void fromRemote;
