// The browser page of the package test (tests/client/package.test.mjs), as an app would write it
// against the installed npm package: bundled by esbuild from a project whose node_modules hold
// the packed @docsync/client, laravel-echo and pusher-js. crdt.wasm comes from the package's
// `./crdt.wasm` export through esbuild's file loader (a URL next to the bundle), passed to
// DocSync as `wasm`. Settings come from the query: key, token, user, doc.
import Echo from 'laravel-echo';
import Pusher from 'pusher-js';
import { DocSync } from '@docsync/client';
import wasm from '@docsync/client/crdt.wasm';

const q = new URLSearchParams(location.search);
const port = Number(location.port);
const echo = new Echo({
  broadcaster: 'reverb', key: q.get('key'), wsHost: location.hostname, wsPort: port, wssPort: port,
  forceTLS: false, enabledTransports: ['ws'], disableStats: true, Pusher,
  authEndpoint: `${location.origin}/broadcasting/auth`, bearerToken: q.get('token'),
});
const sync = new DocSync(echo, { userId: q.get('user'), name: q.get('user'), wasm });
const doc = sync.document(q.get('doc'));
Object.assign(window, { echo, sync, doc });

const editor = document.getElementById('editor');
doc.ready.then(() => {
  editor.value = doc.text();
  editor.disabled = false;
  editor.addEventListener('input', () => doc.setText(editor.value));
  doc.on('change', ({ text, remote }) => {
    if (remote && editor.value !== text) editor.value = text; // (the demo keeps the caret; not needed here)
  });
  window.ready = true;
});
