// Adapter (see peers.mjs) for this project's CRDT compiled to WebAssembly,
// through the browser wrapper clients/docsync/crdt.mjs and its UTF-16 API (as a
// browser editor would call it). The module path comes from CRDT_WASM
// (bench/crdt.sh sets it to the Release build's crdt.wasm).
import { pathToFileURL } from 'node:url';
import { loadCrdt } from '../../clients/docsync/crdt.mjs';

export async function docsyncWasmPeer() {
  if (!process.env.CRDT_WASM) throw new Error('set CRDT_WASM to the path of crdt.wasm');
  const crdt = await loadCrdt(pathToFileURL(process.env.CRDT_WASM));
  return {
    name: 'docsync (wasm)', version: 'HEAD',
    create: () => crdt.createDoc('a'),
    apply(d, patches) {
      for (let i = 0; i < patches.length; i++) {
        const p = patches[i];
        if (p[4]) d.delete(p[3], p[4]);
        if (p[2]) d.insert(p[3], p[2]);
      }
    },
    text: (d) => d.text,
    encode: (d) => d.encodeState(),
    load: (bytes) => crdt.loadDoc('b', bytes),
    recorder() {
      const d = crdt.createDoc('a');
      let m = d.mark();
      return {
        doc: d,
        take() {
          const now = d.mark();
          if (now === m) return null;
          const u = d.encodeSinceMark(m);
          m = now;
          return u;
        },
      };
    },
    replica: () => crdt.createDoc('b'),
    applyRemote: (d, u) => d.apply(u),
    free: (d) => d.free(),
  };
}
