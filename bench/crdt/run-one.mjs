// One measurement in a fresh process (run.mjs starts it; needs --expose-gc).
//   node --expose-gc run-one.mjs main <peer> <trace> <state-file> [budget-ms]
//     apply every trace transaction (timed), check the text, encode the state
//     (written to <state-file>), then replay per-transaction updates into a
//     second replica (timed, at most budget-ms for making and for applying).
//   node --expose-gc run-one.mjs load <peer> <state-file> <expected-length>
//     decode the state and read the text back (timed), and the memory that the
//     loaded replica retains (V8 heap + external, which includes wasm memory).
// Prints one JSON object on stdout.
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { loadTrace } from './trace.mjs';
import { loadPeer } from './peers.mjs';

const [phase, peerKey, ...rest] = process.argv.slice(2);
if (typeof gc !== 'function') throw new Error('run with node --expose-gc');
const mem = () => { const m = process.memoryUsage(); return m.heapUsed + m.external; };

async function main() {
  const [traceName, stateFile, budgetArg] = rest;
  const budget = Number(budgetArg || 4000);
  const trace = loadTrace(traceName);
  const peer = await loadPeer(peerKey);
  const out = { peer: peer.name, version: peer.version, trace: trace.name, txns: trace.txns.length };

  const doc = peer.create();
  gc(); gc(); // collect what loading the trace left, not during apply
  // Indexed loops here and in every peer's apply, not for-of: a fresh process runs this
  // code interpreted for most of the trace, where for-of's iterator protocol costs about
  // 4 ms over the 260k transactions of automerge-paper (the harness, not the library).
  const txns = trace.txns;
  let t0 = performance.now();
  for (let i = 0; i < txns.length; i++) peer.apply(doc, txns[i]);
  out.apply_ms = performance.now() - t0;
  const text = peer.text(doc);
  if (text !== trace.endContent) {
    throw new Error(`${peer.name}: text after ${trace.name} differs from endContent ` +
      `(${text.length} vs ${trace.endContent.length} UTF-16 units)`);
  }
  t0 = performance.now();
  const bytes = peer.encode(doc);
  out.encode_ms = performance.now() - t0;
  out.encoded_bytes = bytes.length;
  writeFileSync(stateFile, bytes);
  peer.free(doc);

  // Remote integration: the updates one replica sends for each transaction,
  // applied in order by another. Making and applying are each capped by the
  // budget so that the slow libraries finish; a partial run is flagged.
  const rec = peer.recorder();
  const first = rec.take();
  const updates = [];
  t0 = performance.now();
  for (const txn of trace.txns) {
    peer.apply(rec.doc, txn);
    updates.push(rec.take());
    if ((updates.length & 255) === 0 && performance.now() - t0 > budget) break;
  }
  const dst = peer.replica();
  if (first) peer.applyRemote(dst, first);
  let n = 0;
  gc(); gc();
  t0 = performance.now();
  for (; n < updates.length; n++) {
    peer.applyRemote(dst, updates[n]);
    if ((n & 63) === 63 && performance.now() - t0 > budget) { n++; break; }
  }
  out.remote_us = ((performance.now() - t0) * 1000) / n;
  out.remote_updates = n;
  out.remote_bytes = updates.slice(0, n).reduce((s, u) => s + u.length, 0);
  if (n === trace.txns.length && peer.text(dst) !== trace.endContent) {
    throw new Error(`${peer.name}: remote replica differs from endContent`);
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

async function load() {
  const [stateFile, expectedLength] = rest;
  const peer = await loadPeer(peerKey);
  const bytes = new Uint8Array(readFileSync(stateFile));
  // The first load in this fresh process gives the memory it retains (and a
  // cold time); the second, after dropping the first, gives the decode time
  // once the code is compiled and warm, which is what load_ms reports.
  gc(); gc();
  const m0 = mem();
  let t0 = performance.now();
  let doc = peer.load(bytes);
  let text = peer.text(doc);
  const coldMs = performance.now() - t0;
  if (text.length !== Number(expectedLength)) {
    throw new Error(`${peer.name}: loaded text has ${text.length} units, want ${expectedLength}`);
  }
  text = null;
  gc(); gc();
  const retained = mem() - m0;
  peer.free(doc);
  doc = null;
  gc();
  t0 = performance.now();
  doc = peer.load(bytes);
  text = peer.text(doc);
  const loadMs = performance.now() - t0;
  peer.free(doc);
  process.stdout.write(JSON.stringify({ peer: peer.name, load_ms: loadMs, load_cold_ms: coldMs,
    mem_bytes: retained }) + '\n');
}

await (phase === 'main' ? main() : phase === 'load' ? load() : Promise.reject(new Error(`phase ${phase}?`)));
