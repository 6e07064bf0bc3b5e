// The demo page: a collaborative textarea on one document, with presence, typing, version,
// connection state and an activity feed. Runs against docsyncd alone (development app): the
// server serves this page, issues a development token (POST /demo-token) and authorises the
// channels itself (/broadcasting/auth with the bearer token).
//
// URL parameters: ?name=ada&doc=notes joins at once (name and document are remembered).
import { DocSync } from '../clients/docsync/docsync.mjs';
import { recoverMissedEvents } from '../clients/docsync/history.mjs';

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

  // 2. Echo against this server, authorised by its own /broadcasting/auth.
  const secure = location.protocol === 'https:';
  const port = Number(location.port) || (secure ? 443 : 80);
  const echo = new window.Echo.default({
    broadcaster: 'reverb', key: grant.key, wsHost: location.hostname, wsPort: port, wssPort: port,
    wsPath: grant.path, forceTLS: secure, enabledTransports: ['ws', 'wss'], disableStats: true,
    authEndpoint: `${base}/broadcasting/auth`, bearerToken: grant.token,
  });
  window.echo = echo; // for the console (and the e2e test)

  // 3. The document.
  const sync = new DocSync(echo, { userId: grant.user.id, name: grant.user.name });
  const doc = sync.document(docId);
  window.doc = doc;
  showState(sync.state);
  sync.on('state', (s) => {
    showState(s);
    feed(`Connection: ${s}`);
  });
  await doc.ready;
  $('join').hidden = true;
  $('main').hidden = false;
  document.title = `${docId} - docsync demo`;
  bindEditor(doc);
  $('version').textContent = doc.version;
  doc.on('version', ({ version }) => { $('version').textContent = version; });
  doc.on('presence', ({ members, joined, left }) => {
    showMembers(members, grant.user.id);
    if (joined) feed(`${label(joined)} joined`);
    if (left) feed(`${label(left)} left`);
  });
  doc.on('typing', ({ typists }) => {
    const names = typists.map((u) => u.name || u.id);
    $('typing').textContent = names.length ? `${names.join(', ')} ${names.length > 1 ? 'are' : 'is'} typing...` : '';
  });
  doc.on('updated', ({ version, user }) => feed('', { user, version }));
  doc.on('catchup', ({ from, replay, head }) =>
    feed(replay ? `Caught up from version ${from} to ${head}` : `Loaded a snapshot (head ${head})`));
  doc.on('error', (e) => feed(`Error: ${e.code}: ${e.message}`));

  // 4. The notification and activity channels a Laravel app broadcasts on. Both keep a history
  // on the server: after a reconnect the feed gets what it missed, in order.
  recoverMissedEvents(echo).onGap(({ channel }) =>
    feed(`Some events of ${channel} are no longer kept on the server: reload to see them all.`));
  echo.private(`App.Models.User.${grant.user.id}`)
    .notification((n) => feed(`Notification: ${n.message || n.type || JSON.stringify(n)}`));
  echo.private('activity')
    // Apps' own UserActivity names the user ({name}); the server's (document edits, joins and
    // leaves) carries the user's id ({id}).
    .listen('UserActivity', (e) => feed(`${e.user?.name || e.user?.id || e.user || 'someone'} ${e.action || 'did something'}`))
    .error(() => feed('The activity channel is not authorised (add a rule for private-activity to DOCSYNC_AUTH_RULES).'));
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
    li.textContent = label(m) + (m.id === me ? ' (you)' : '');
    if (m.id === me) li.className = 'me';
    return li;
  }));
}

/** Two-way binding of the textarea and the document, keeping the caret across remote edits. */
function bindEditor(doc) {
  // The textarea always equals doc.text() between events: every input is applied at once
  // (IME compositions included, so a remote edit never meets an unsent local one).
  const ta = $('editor');
  ta.value = doc.text();
  ta.addEventListener('input', () => {
    doc.typing(true);
    doc.setText(ta.value);
  });
  doc.on('change', ({ text, remote }) => {
    if (!remote || ta.value === text) return;
    const { selectionStart: s, selectionEnd: e } = ta;
    const d = diff(ta.value, text);
    ta.value = text;
    const move = (p) => (p <= d.pos ? p : p >= d.pos + d.deleted ? p + d.inserted - d.deleted : d.pos + d.inserted);
    ta.setSelectionRange(move(s), move(e));
  });
}

/** The common prefix / suffix difference of two strings: {pos, deleted, inserted}. */
function diff(a, b) {
  let p = 0;
  const max = Math.min(a.length, b.length);
  while (p < max && a[p] === b[p]) p++;
  let s = 0;
  while (s < max - p && a[a.length - 1 - s] === b[b.length - 1 - s]) s++;
  return { pos: p, deleted: a.length - p - s, inserted: b.length - p - s };
}
