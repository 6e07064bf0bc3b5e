// The demo page: a CodeMirror 6 editor on one collaborative document, with the others' cursors
// and selections, undo/redo of one's own edits, presence, typing, version, connection state and
// an activity feed. Runs against docsyncd alone (development app): the server serves this page,
// issues a development token (POST /demo-token) and authorises the channels itself
// (/broadcasting/auth with the bearer token).
//
// Bundled with its npm packages (CodeMirror 6, laravel-echo, pusher-js, socket.io-client) by
// esbuild into the build directory (clients/demo/CMakeLists.txt), which docsyncd serves as
// /demo-dist/.
//
// Connection: pusher-js over a WebSocket; where the browser has no WebSocket, or one cannot be
// opened (a proxy that blocks them), Echo's socket.io connector instead, whose Engine.IO starts
// with HTTP long-polling and stays on it when the upgrade to a WebSocket fails.
//
// URL parameters: ?name=ada&doc=notes joins at once (name and document are remembered).
import Echo from 'laravel-echo';
import Pusher from 'pusher-js';
import { io } from 'socket.io-client';
import { EditorView, keymap, lineNumbers, drawSelection, highlightActiveLine } from '@codemirror/view';
import { defaultKeymap, indentWithTab } from '@codemirror/commands';
import { DocSync } from '../docsync/docsync.mjs';
import { recoverMissedEvents } from '../docsync/history.mjs';
import { docsyncCollab, collabBinding, userColor, undo, redo } from '../docsync/codemirror.mjs';

const $ = (id) => document.getElementById(id);
const base = location.pathname.replace(/\/demo\/.*$/, ''); // REVERB_SERVER_PATH, if any

const params = new URLSearchParams(location.search);
$('name').value = params.get('name') || localStorage.getItem('demo:name') || `guest${Math.floor(Math.random() * 1000)}`;
$('doc').value = params.get('doc') || localStorage.getItem('demo:doc') || 'demo';
$('join').addEventListener('submit', (ev) => {
  ev.preventDefault();
  join($('name').value, $('doc').value).catch((e) => feed(`Cannot join: ${e.message}`));
});
if (params.get('name')) join($('name').value, $('doc').value).catch((e) => feed(`Cannot join: ${e.message}`));

let lastEdit = null; // {user, from, li}: consecutive edits of one user share a line

function feed(text, edit = null) {
  const li = lastEdit && edit && lastEdit.user === edit.user && $('feed').firstChild === lastEdit.li
    ? lastEdit.li : document.createElement('li');
  const time = document.createElement('time');
  time.textContent = new Date().toLocaleTimeString();
  if (edit) {
    if (li !== lastEdit?.li) lastEdit = { user: edit.user, from: edit.version, li };
    text = lastEdit.from === edit.version ? `${edit.user} edited (version ${edit.version})`
      : `${edit.user} edited (versions ${lastEdit.from}-${edit.version})`;
  }
  li.replaceChildren(time, text);
  $('feed').prepend(li);
  while ($('feed').children.length > 100) $('feed').lastChild.remove();
}

async function join(name, docId) {
  $('join-button').disabled = true;
  localStorage.setItem('demo:name', name);
  localStorage.setItem('demo:doc', docId);

  // 1. A development token for `name`, and the document opened to every user.
  const res = await fetch(`${base}/demo-token`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, document: docId }),
  });
  if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
  const grant = await res.json();
  const acl = await fetch(grant.acl.url, { method: grant.acl.method, headers: { 'content-type': 'application/json' }, body: grant.acl.body });
  if (!acl.ok) throw new Error(`access list: ${acl.status}`);

  // 2. Echo against this server, authorised by its own /broadcasting/auth (socket.io: by the
  // same rules, from the bearer token its subscriptions carry).
  const echo = await connect(grant);
  window.echo = echo; // for the console (and the e2e tests)
  const onSocketIo = echo.options.broadcaster === 'socket.io';
  feed(onSocketIo ? `Connected over Socket.IO (${echo.connector.socket.io.engine?.transport?.name})` : 'Connected over WebSocket');

  // 3. The document (crdt.wasm is served next to the JS client's CRDT wrapper).
  const sync = new DocSync(echo, { userId: grant.user.id, name: grant.user.name, wasm: `${base}/clients/docsync/crdt.wasm` });
  const doc = sync.document(docId);
  window.sync = sync;
  window.doc = doc;
  showState(sync.connectionStatus());
  sync.onConnectionChange((s) => {
    showState(s);
    feed(`Connection: ${s}`);
  });
  // The text this browser saved with its replica comes first: the editor shows it (read-only)
  // while the replica loads. Without one, preview resolves once the replica is loaded.
  const shown = await doc.preview;
  $('join').hidden = true;
  $('main').hidden = false;
  document.title = `${docId} - docsync demo`;

  // 4. The editor: CodeMirror 6 bound to the document (cursors, own-edit undo).
  const me = grant.user.id;
  const view = new EditorView({
    doc: shown ?? doc.text(),
    parent: $('editor'),
    extensions: [
      lineNumbers(), drawSelection(), highlightActiveLine(), EditorView.lineWrapping,
      docsyncCollab(doc, { user: { name: grant.user.name, color: userColor(me) } }),
      keymap.of([...defaultKeymap, indentWithTab]),
    ],
  });
  window.view = view;
  window.collab = collabBinding(view); // its undo stacks, for the console
  await doc.ready;
  $('undo').addEventListener('click', () => { undo(view); view.focus(); });
  $('redo').addEventListener('click', () => { redo(view); view.focus(); });

  $('version').textContent = doc.version;
  doc.on('version', ({ version }) => { $('version').textContent = version; });
  const showSync = () => { $('sync').textContent = doc.synced ? 'saved' : `${doc.pending} unsaved`; };
  doc.on('synced', showSync);
  doc.on('unsynced', showSync);
  doc.on('change', showSync);
  showSync();
  doc.on('presence', ({ members, joined, left }) => {
    showMembers(members, me);
    if (joined) feed(`${label(joined)} joined`);
    if (left) feed(`${label(left)} left`);
  });
  showMembers(doc.members, me);
  doc.on('typing', ({ typists }) => {
    const names = typists.map((u) => u.name || u.id);
    $('typing').textContent = names.length ? `${names.join(', ')} ${names.length > 1 ? 'are' : 'is'} typing...` : '';
  });
  doc.on('updated', ({ version, user }) => feed('', { user, version }));
  doc.on('catchup', ({ from, replay, head }) =>
    feed(replay ? `Caught up from version ${from} to ${head}` : `Loaded a snapshot (head ${head})`));
  doc.on('error', (e) => feed(`Error: ${e.code}: ${e.message}`));

  // 5. The notification and activity channels a Laravel app broadcasts on. Both keep a history
  // on the server: after a reconnect the feed gets what it missed, in order (pusher-js only:
  // socket.io has no way to ask for it).
  if (!onSocketIo) {
    recoverMissedEvents(echo).onGap(({ channel }) =>
      feed(`Some events of ${channel} are no longer kept on the server: reload to see them all.`));
  }
  echo.private(`App.Models.User.${me}`)
    .notification((n) => feed(`Notification: ${n.message || n.type || JSON.stringify(n)}`));
  echo.private('activity')
    // Apps' own UserActivity names the user ({name}); the server's (document edits, joins and
    // leaves) carries the user's id ({id}).
    .listen('UserActivity', (e) => feed(`${e.user?.name || e.user?.id || e.user || 'someone'} ${e.action || 'did something'}`))
    .error(() => feed('The activity channel is not authorised (add a rule for private-activity to DOCSYNC_AUTH_RULES).'));
}

/** How long a WebSocket gets to open before the page falls back to Socket.IO's long-polling. */
const WS_WAIT_MS = 5000;

/** pusher-js over a WebSocket, or, when that cannot work, Echo's socket.io connector. */
async function connect(grant) {
  if (typeof WebSocket === 'function') {
    const secure = location.protocol === 'https:';
    const port = Number(location.port) || (secure ? 443 : 80);
    const echo = new Echo({
      broadcaster: 'reverb', key: grant.key, wsHost: location.hostname, wsPort: port, wssPort: port,
      wsPath: grant.path, forceTLS: secure, enabledTransports: ['ws', 'wss'], disableStats: true,
      authEndpoint: `${base}/broadcasting/auth`, bearerToken: grant.token, Pusher,
    });
    const conn = echo.connector.pusher.connection;
    const opened = await new Promise((resolve) => {
      if (conn.state === 'connected') return resolve(true);
      const timer = setTimeout(() => resolve(false), WS_WAIT_MS);
      conn.bind('state_change', ({ current }) => {
        if (current === 'connected') { clearTimeout(timer); resolve(true); }
        if (current === 'unavailable' || current === 'failed') { clearTimeout(timer); resolve(false); }
      });
    });
    if (opened) return echo;
    echo.disconnect();
    feed('WebSocket unavailable: using Socket.IO long-polling');
  }
  // socket.io-client's default transports: polling first, upgraded to a WebSocket when one
  // opens; without WebSocket in the browser, polling only.
  return new Echo({
    broadcaster: 'socket.io', client: io, host: location.origin, path: `${base}/socket.io`,
    bearerToken: grant.token, transports: typeof WebSocket === 'function' ? ['polling', 'websocket'] : ['polling'],
  });
}

function label(member) {
  return member.info?.name || member.id;
}

function showState(state) {
  $('status').dataset.state = state;
  $('status').textContent = state;
}

function showMembers(members, me) {
  $('members').replaceChildren(...members.map((m) => {
    const li = document.createElement('li');
    li.dataset.id = m.id;
    li.style.setProperty('--user-color', userColor(m.id));
    li.textContent = label(m) + (m.id === me ? ' (you)' : '');
    if (m.id === me) li.className = 'me';
    return li;
  }));
}
