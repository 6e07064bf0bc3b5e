// Snapshot load time of the automerge-paper document for the Yjs peers (never a test): the
// counterpart of bench/sync/snapload.c.
//   node bench/sync/yload.mjs [trace] [runs]
// Setup (not timed): replays the trace into a Y.Doc (bench/crdt/trace.mjs, UTF-16 positions),
// checks the text, encodes it with Y.encodeStateAsUpdate, and stores that state in a fresh
// SQLite file with @hocuspocus/extension-sqlite's own schema and upsert query.
// Timed, `runs` times each (median; the first run of each is reported apart as "cold", since it
// includes V8 compiling the code):
//   yjs:    new Y.Doc + Y.applyUpdate(state) + getText().toString()  (what any Yjs server does
//           with a stored state; y-websocket keeps documents in memory, or in y-leveldb)
//   sqlite: new better-sqlite3 Database(file) + the extension's selectQuery + the same applyUpdate
//           + toString + close  (Hocuspocus + SQLite loading the document: the Database
//           extension's onLoadDocument does fetch() then Y.applyUpdate)
// The text is checked against endContent after each load. Prints one JSON object.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import * as Y from 'yjs';
import Sqlite from 'better-sqlite3';
// The extension's own schema and queries (one yjs instance: ESM, as the extension loads it).
import { schema, selectQuery, upsertQuery } from '@hocuspocus/extension-sqlite';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BENCH = path.resolve(HERE, '..');
const { loadTrace } = await import(path.join(BENCH, 'crdt/trace.mjs'));

const traceName = process.argv[2] || 'automerge-paper';
const runs = Math.min(Math.max(Number(process.argv[3] || 21), 1), 1000);
const trace = loadTrace(traceName);

const src = new Y.Doc();
const st = src.getText('t');
for (const txn of trace.txns) {
  src.transact(() => {
    for (const p of txn) {
      if (p[4]) st.delete(p[3], p[4]);
      if (p[2]) st.insert(p[3], p[2]);
    }
  });
}
if (st.toString() !== trace.endContent) throw new Error('replayed text differs from endContent');
const state = Y.encodeStateAsUpdate(src);
src.destroy();

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yload-'));
const file = path.join(dir, 'db.sqlite');
{
  const db = new Sqlite(file);
  db.exec(schema);
  db.prepare(upsertQuery).run({ name: 'paper', data: state });
  db.close();
}

function check(doc) {
  if (doc.getText('t').toString() !== trace.endContent) throw new Error('loaded text differs');
}
function loadYjs() {
  const t0 = performance.now();
  const doc = new Y.Doc();
  Y.applyUpdate(doc, state);
  doc.getText('t').toString();
  const ms = performance.now() - t0;
  check(doc);
  doc.destroy();
  return ms;
}
function loadSqlite() {
  const t0 = performance.now();
  const db = new Sqlite(file);
  const row = db.prepare(selectQuery).get({ name: 'paper' });
  const doc = new Y.Doc();
  Y.applyUpdate(doc, row.data);
  doc.getText('t').toString();
  db.close();
  const ms = performance.now() - t0;
  check(doc);
  doc.destroy();
  return ms;
}
function series(fn) {
  const cold = fn();
  const xs = [];
  for (let i = 0; i < runs; i++) xs.push(fn());
  xs.sort((a, b) => a - b);
  const r = (x) => Number(x.toFixed(3));
  return { cold_ms: r(cold), median_ms: r(xs[runs >> 1]), min_ms: r(xs[0]), max_ms: r(xs[runs - 1]) };
}

const out = {
  trace: traceName, yjs_version: JSON.parse(fs.readFileSync(path.join(BENCH, 'node_modules/yjs/package.json'))).version, state_bytes: state.length,
  runs, yjs_applyUpdate: series(loadYjs), hocuspocus_sqlite_load: series(loadSqlite),
};
fs.rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify(out));
