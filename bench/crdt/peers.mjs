// One adapter per CRDT library, all with the same shape, so that run-one.mjs
// measures every library with the same code:
//   create()            an empty replica
//   apply(doc, patches) one library transaction for one trace transaction;
//                       patch = [posCp, delCp, ins, posU16, delU16]
//   text(doc)           the current text (a JS string)
//   encode(doc)         the full encoded state (Uint8Array)
//   load(bytes)         a new replica from encode()'s output
//   recorder()          { doc, take() } where take() returns the update made by
//                       the last apply(doc, ...) (or by create, the first time)
//   replica()           an empty replica that accepts recorder() updates
//   applyRemote(doc, u) integrate one update
//   free(doc)           release wasm memory where the library needs it
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const version = (pkg) => JSON.parse(readFileSync(
  new URL(`../node_modules/${pkg}/package.json`, import.meta.url), 'utf8')).version;

function yjs() {
  const Y = require('yjs');
  const make = () => { const doc = new Y.Doc(); return { doc, t: doc.getText('t') }; };
  return {
    name: 'Yjs', version: version('yjs'),
    create: make,
    apply(d, patches) {
      d.doc.transact(() => {
        for (let i = 0; i < patches.length; i++) {
          const p = patches[i];
          if (p[4]) d.t.delete(p[3], p[4]);
          if (p[2]) d.t.insert(p[3], p[2]);
        }
      });
    },
    text: (d) => d.t.toString(),
    encode: (d) => Y.encodeStateAsUpdate(d.doc),
    load(bytes) { const d = make(); Y.applyUpdate(d.doc, bytes); return d; },
    recorder() {
      const d = make();
      let last = null;
      d.doc.on('update', (u) => { last = u; });
      return { doc: d, take() { const u = last; last = null; return u; } };
    },
    replica: make,
    applyRemote: (d, u) => Y.applyUpdate(d.doc, u),
    free: (d) => d.doc.destroy(),
  };
}

function loro() {
  const { LoroDoc } = require('loro-crdt');
  const make = () => { const doc = new LoroDoc(); return { doc, t: doc.getText('t') }; };
  const wrap = (doc) => ({ doc, t: doc.getText('t') });
  return {
    name: 'Loro', version: version('loro-crdt'),
    create: make,
    apply(d, patches) {
      for (let i = 0; i < patches.length; i++) {
        const p = patches[i];
        if (p[4]) d.t.delete(p[3], p[4]);
        if (p[2]) d.t.insert(p[3], p[2]);
      }
      d.doc.commit();
    },
    text: (d) => d.t.toString(),
    encode: (d) => d.doc.export({ mode: 'snapshot' }),
    load: (bytes) => wrap(LoroDoc.fromSnapshot(bytes)),
    recorder() {
      const d = make();
      let last = null;
      d.doc.subscribeLocalUpdates((u) => { last = u; });
      return { doc: d, take() { const u = last; last = null; return u; } };
    },
    replica: make,
    applyRemote: (d, u) => d.doc.import(u),
    free: (d) => d.doc.free(),
  };
}

function automerge() {
  const A = require('@automerge/automerge');
  return {
    name: 'Automerge', version: version('@automerge/automerge'),
    create: () => ({ doc: A.from({ t: '' }) }),
    apply(d, patches) {
      d.doc = A.change(d.doc, (x) => {
        for (let i = 0; i < patches.length; i++) {
          const p = patches[i];
          A.splice(x, ['t'], p[3], p[4], p[2]);
        }
      });
    },
    text: (d) => d.doc.t.toString(),
    encode: (d) => A.save(d.doc),
    load: (bytes) => ({ doc: A.load(bytes) }),
    recorder() {
      const d = { doc: A.from({ t: '' }) };
      return { doc: d, take: () => A.getLastLocalChange(d.doc) };
    },
    replica: () => ({ doc: A.init() }),
    applyRemote(d, u) { [d.doc] = A.applyChanges(d.doc, [u]); },
    free: (d) => A.free(d.doc),
  };
}

function diamond() {
  const { Doc } = require('diamond-types-node');
  // Diamond Types counts positions in Unicode code points, like the traces.
  return {
    name: 'diamond-types', version: version('diamond-types-node'),
    create: () => new Doc('a'),
    apply(d, patches) {
      for (let i = 0; i < patches.length; i++) {
        const p = patches[i];
        if (p[1]) d.del(p[0], p[1]);
        if (p[2]) d.ins(p[0], p[2]);
      }
    },
    text: (d) => d.get(),
    encode: (d) => d.toBytes(),
    load: (bytes) => Doc.fromBytes(bytes, 'b'),
    recorder() {
      const d = new Doc('a');
      let v = d.getLocalVersion();
      return {
        doc: d,
        take() { const u = d.getPatchSince(v); v = d.getLocalVersion(); return u; },
      };
    },
    replica: () => new Doc('b'),
    applyRemote: (d, u) => d.mergeBytes(u),
    free: (d) => d.free(),
  };
}

export const PEERS = { yjs, loro, automerge, dt: diamond };

/** Returns the adapter for a key of PEERS (or 'wasm', ours, loaded lazily). */
export async function loadPeer(key) {
  if (key === 'wasm') {
    const { docsyncWasmPeer } = await import('./wasm-peer.mjs');
    return docsyncWasmPeer();
  }
  if (!PEERS[key]) throw new Error(`unknown peer ${key}`);
  return PEERS[key]();
}
