// Loads an editing trace (gzipped JSON, /work/shared/traces format) and gives
// every patch twice: with code-point positions (as stored) and with UTF-16
// positions (what JS strings, Yjs, Loro and Automerge count). Conversion happens
// here, outside every timed section.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
export const TRACES_DIR = process.env.DOCSYNC_TRACES ||
  path.resolve(here, '../../../shared/traces');

/** Resolves a short name ("automerge-paper") or a path to a .json.gz file. */
export function tracePath(name) {
  if (name.endsWith('.gz')) return path.resolve(name);
  return path.join(TRACES_DIR, 'sequential', `${name}.json.gz`);
}


/**
 * Returns { name, endContent, txns, patchCount } where txns[i] is an array of
 * patches [posCp, delCp, ins, posU16, delU16]. UTF-16 positions are derived by
 * tracking where astral characters (above U+FFFF) sit in the document, which is
 * cheap because traces hold at most a handful of them.
 */
export function loadTrace(name) {
  const file = tracePath(name);
  const t = JSON.parse(gunzipSync(readFileSync(file)).toString('utf8'));
  if (t.startContent) throw new Error(`${file}: non-empty startContent not supported`);
  let astral = []; // sorted code-point positions of astral chars in the document
  let patchCount = 0;
  const txns = t.txns.map((txn) => txn.patches.map(([pos, del, ins]) => {
    patchCount++;
    let before = 0, inside = 0;
    for (const a of astral) {
      if (a < pos) before++;
      else if (a < pos + del) inside++;
    }
    const posU = pos + before, delU = del + inside;
    const insCp = [...ins];
    if (astral.length || insCp.length !== ins.length) {
      const next = [];
      for (const a of astral) {
        if (a < pos) next.push(a);
        else if (a >= pos + del) next.push(a - del + insCp.length);
      }
      insCp.forEach((ch, k) => { if (ch.length === 2) next.push(pos + k); });
      astral = next.sort((x, y) => x - y);
    }
    return [pos, del, ins, posU, delU];
  }));
  return { name: path.basename(file, '.json.gz'), endContent: t.endContent, txns, patchCount };
}

