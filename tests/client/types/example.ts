// A typed app using every public name of @docsync/client (docsync.mjs, ./crdt, ./history,
// ./codemirror; the binding's own typed example is tests/client/codemirror-types/):
// tests/client/types.test.mjs runs `tsc --noEmit` on it against the hand-written .d.ts files
// and checks that the names imported here are exactly the modules' runtime exports.
// The lines marked @ts-expect-error must stay errors: they prove the types are not `any`.
import Echo from 'laravel-echo';
import Pusher from 'pusher-js';
import {
  DocSync, Document, MemoryStorage, LocalStorage, IndexedDBStorage, ReplicaSlots, defaultStorage,
} from '@docsync/client';
import type {
  DocSyncStorage, DocSyncOptions, DocSyncLocks, DocSyncEcho, DocSyncEvents, DocumentEvents,
  ConnectionStatus, Member, MemberInfo, DocUser, RemoteCursor, DocSyncErrorEvent,
  IndexedDBStorageOptions, SavedReplica,
} from '@docsync/client';
import { loadCrdt, CrdtModule, CrdtDoc, CrdtError, CODES } from '@docsync/client/crdt';
import type { CrdtAnchor, CrdtCode, CrdtId, CrdtSource, CrdtTextChange } from '@docsync/client/crdt';
import { recoverMissedEvents } from '@docsync/client/history';
import type { Recovery, RecoveryGap, RecoveryPosition } from '@docsync/client/history';
import {
  docsyncCollab, undo, redo, userColor, collabBinding, revertChanges, CollabBinding, remote, difference,
} from '@docsync/client/codemirror';
import type {
  CollabDocument, CollabOptions, CrdtAnchor as CmAnchor, CrdtReplica, UndoStep,
} from '@docsync/client/codemirror';
import { EditorView } from '@codemirror/view';

declare const textarea: { value: string; selectionStart: number; selectionEnd: number };
/** socket.io-client's io(), as an app imports it. */
declare const ioClient: (uri?: string, opts?: Record<string, unknown>) => unknown;

export async function app(): Promise<void> {
  const echo: DocSyncEcho = new Echo({
    broadcaster: 'reverb', key: 'key', wsHost: 'localhost', wsPort: 8080, forceTLS: false,
    enabledTransports: ['ws', 'wss'], Pusher,
  });

  // The CRDT on its own.
  const source: CrdtSource = new URL('https://example.test/crdt.wasm');
  const crdt: CrdtModule = await loadCrdt(source);
  const replica: CrdtDoc = crdt.createDoc('alice');
  replica.insert(0, 'héllo 👋');
  replica.delete(0, 1);
  replica.insertAt(0, 'h');
  replica.deleteAt(0, 0);
  const mark: number = replica.mark();
  const update: Uint8Array = replica.encodeSinceMark(mark);
  const copy: CrdtDoc = crdt.loadDoc('bob', replica.encodeState());
  const fresh: boolean = copy.apply(update);
  const reported = copy.applyChanges(update);
  const changes: CrdtTextChange[] | null | undefined = reported?.changes;
  console.log(changes?.map((c) => [c.from, c.to, c.insert]));
  const delta: Uint8Array = replica.encodeSince(copy.encodeVersion());
  const anchor: CrdtAnchor = replica.anchor(2, -1);
  const at: number | null = copy.anchorIndex(anchor);
  const lengths: number = replica.length + replica.codePointLength + replica.byteLength +
    replica.utf16ToPos(1) + replica.posToUtf16(1) + crdt.memoryBytes;
  replica.setAgent('alice', 3);
  replica.check();
  console.log(replica.text, replica.toString(), fresh, delta, at, lengths);
  try {
    copy.apply(new Uint8Array([1, 2, 3]));
  } catch (e) {
    if (e instanceof CrdtError && e.code === CODES.EMISSING) {
      const missing: CrdtId | undefined = e.missing;
      const code: CrdtCode = CODES.EMISSING;
      console.log(missing?.agent, missing?.seq, e.codeName, code);
    }
  }
  // @ts-expect-error an anchor's side is 0 or 1
  const badAnchor: CrdtAnchor = { agent: '', seq: 0, side: 2 };
  console.log(badAnchor);
  replica.free();
  copy.free();

  // Storages.
  const stores: DocSyncStorage[] = [
    new MemoryStorage(), new LocalStorage('app:'), defaultStorage(),
    new IndexedDBStorage({ name: 'app', legacyPrefix: 'docsync:' } satisfies IndexedDBStorageOptions),
  ];
  const idb = new IndexedDBStorage();
  const value: string | SavedReplica | null = await idb.get('k');
  await idb.set('k', 'v');
  // Saved replicas go into binary storages as objects with their state as bytes.
  const record: SavedReplica = { clientId: 'c-1', epoch: null, version: 0, seq: 0, state: new Uint8Array(0), pending: [] };
  if (idb.binary && new MemoryStorage().binary) await idb.set('r', record);
  await idb.update('k', (old) => (old ?? '') + '!');
  await idb.delete('k');
  await idb.close();
  console.log(value, stores.length);
  const locks: DocSyncLocks | null = globalThis.navigator?.locks ?? null;
  const slots = new ReplicaSlots(stores[0], 'doc', 'ada', 'tab-1', { locks, now: () => Date.now() });
  const got: { clientId: string; adopted: boolean } = await slots.acquire('c-1');
  console.log(got, slots.stateKey(), slots.leaseKey('c-1'));
  await slots.renew();
  await slots.replace('c-2');
  await slots.release();

  // The client.
  const options: DocSyncOptions = { userId: 7, name: 'Ada', storage: idb, locks, crdt, clientId: 'ada' };
  const sync = new DocSync(echo, options);
  const status: ConnectionStatus = sync.connectionStatus();
  const stop: () => void = sync.onConnectionChange((s: ConnectionStatus) => console.log(s, status));
  stop();
  sync.on('state', (s: DocSyncEvents['state']) => console.log(s, sync.state, sync.pusher?.connection.state));
  // On Echo's socket.io connector (socket.io-client; long-polling where WebSockets are blocked).
  const sioEcho: DocSyncEcho = new Echo({
    broadcaster: 'socket.io', host: 'localhost:8080', client: ioClient, transports: ['polling'],
  });
  const sioSync = new DocSync(sioEcho, { userId: 7 });
  const none: null = sioSync.pusher === null ? null : null;
  console.log(none, sioSync.connectionStatus());
  // @ts-expect-error pusher may be null (the socket.io connector)
  console.log(sync.pusher.connection.state);
  // @ts-expect-error not a status Echo 2 has
  const badStatus: ConnectionStatus = 'unavailable';
  console.log(badStatus);

  const doc: Document = sync.document(42);
  const shown: string | null = await doc.preview;
  const shownNow: string | null = doc.previewText;
  console.log(shownNow === shown);
  textarea.value = shown ?? '';
  await doc.ready;
  textarea.value = doc.text();
  doc.setText(textarea.value + '!');
  doc.insert(0, '# ');
  doc.delete(0, 2);
  doc.transact((r) => { r.insert(0, 'a'); r.delete(0, 1); });
  doc.typing(true);
  doc.typing(false);
  doc.setCursor(textarea.selectionStart, textarea.selectionEnd);
  doc.setCursor(null);
  const cursors: RemoteCursor[] = doc.remoteCursors();
  doc
    .here((members: MemberInfo[]) => console.log(members.map((m) => m.name)))
    .joining((m: MemberInfo) => console.log(m.id))
    .leaving((m: MemberInfo) => console.log(m.id))
    .error((e: DocSyncErrorEvent) => console.log(e.code, e.final, e.seq));
  doc.on('change', ({ text, remote, version }) => { if (remote) textarea.value = text; console.log(version); });
  doc.on('version', ({ version }) => console.log(version));
  doc.on('presence', ({ members, joined, left }) => {
    const list: Member[] = members;
    console.log(list, joined?.info, left?.id);
  });
  doc.on('typing', ({ user, typing, typists }) => {
    const u: DocUser = user;
    console.log(u.name, typing, typists.length);
  });
  doc.cursorColor = '#3366ff';
  doc.on('cursors', ({ cursors: now }) => console.log(now[0]?.user.name, now[0]?.user.color, now[0]?.anchor, now[0]?.head));
  doc.on('updated', ({ version, user, clientId }) => console.log(version, user, clientId));
  doc.on('catchup', ({ from, replay, head, updates }) => console.log(from, replay, head, updates));
  doc.on('synced', ({ version }) => console.log(version));
  doc.on('unsynced', ({ pending }) => console.log(pending));
  const off = doc.on('error', (e: DocumentEvents['error']) => console.log(e.message));
  off();
  // @ts-expect-error no such event
  doc.on('changed', () => {});
  // @ts-expect-error change events carry text, not a number
  doc.on('change', (e: { text: number }) => console.log(e));
  console.log(cursors, doc.id, doc.clientId, doc.epoch, doc.version, doc.pending, doc.synced,
    doc.members, doc.typists.size, doc.cursors.size, doc.replica?.text, doc.crdt, doc.sync === sync);
  // The CodeMirror binding takes the package's Document as it is.
  const collab: CollabDocument = doc;
  const cmOptions: CollabOptions = { user: { name: 'Ada', color: userColor(7) }, cursors: true, undo: true };
  const view = new EditorView({ doc: doc.text(), extensions: [docsyncCollab(collab, cmOptions)] });
  const binding: CollabBinding | null = collabBinding(view);
  const cmReplica: CrdtReplica | null = collab.replica;
  const step: UndoStep | undefined = binding?.undoStack[0];
  if (step && cmReplica) view.dispatch({ changes: revertChanges(cmReplica, step) });
  const cmAnchor: CmAnchor = anchor;
  const diff: { from: number; to: number; insert: string } | null = difference(view.state.doc, doc.text());
  console.log(diff);
  console.log(undo(view) || redo(view), cmAnchor, view.state.update({ annotations: remote.of(true) }).annotation(remote));
  view.destroy();
  await doc.flush();
  doc.leave();
  console.log(sync.echo, sync.userId, sync.name, sync.clientId, sync.owner, sync.storage, sync.locks,
    await sync.crdt, sync.documents.get('42'));
  sync.close();

  // Missed events of history channels.
  const recovery: Recovery = recoverMissedEvents(echo);
  const offGap = recovery.onGap((gap: RecoveryGap) => console.log(gap.channel, gap.gap, gap.message, gap.epoch, gap.offset));
  const pos: RecoveryPosition | undefined = recovery.position('private-chat.1');
  console.log(pos?.epoch, pos?.offset);
  offGap();
  recovery.stop();
  recoverMissedEvents(new Pusher('key', { cluster: 'mt1' })).stop();
}
