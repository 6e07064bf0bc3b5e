// The hand-written .d.ts files of the package (clients/docsync: docsync.d.ts, crdt.d.ts,
// history.d.ts, codemirror.d.ts) against an app that uses every public name (types/example.ts): `tsc --noEmit`
// in strict mode must pass, its @ts-expect-error lines must stay errors (so the types are not
// `any`), and the example must import exactly the modules' runtime exports, so a new export
// without types, or a type of something that is gone, fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ROOT, tempDir, linkModule, typecheck, exampleImports } from './pkg_harness.mjs';

const PKG = path.join(ROOT, 'clients', 'docsync');

test('tsc --noEmit on the typed example passes', () => {
  const dir = tempDir('types');
  linkModule(dir, '@docsync/client', PKG); // resolved through package.json's "exports"
  linkModule(dir, 'laravel-echo');
  linkModule(dir, 'pusher-js');
  linkModule(dir, '@codemirror/state');
  linkModule(dir, '@codemirror/view');
  const r = typecheck(dir);
  assert.equal(r.out.trim(), '');
  assert.equal(r.status, 0);
});

test('the example imports every runtime export of each entry point, and only those', async () => {
  for (const [spec, file] of [['@docsync/client', 'docsync.mjs'], ['@docsync/client/crdt', 'crdt.mjs'],
    ['@docsync/client/history', 'history.mjs'], ['@docsync/client/codemirror', 'codemirror.mjs']]) {
    const runtime = Object.keys(await import(path.join(PKG, file))).sort();
    const values = [...exampleImports(spec)].filter((n) => !n.startsWith('type ')).sort();
    assert.deepEqual(values, runtime, spec);
  }
});

test('a wrong use is an error (the check can fail)', () => {
  const dir = tempDir('types-bad');
  linkModule(dir, '@docsync/client', PKG);
  linkModule(dir, 'laravel-echo');
  linkModule(dir, 'pusher-js');
  const r = typecheck(dir, "import { DocSync } from '@docsync/client';\nnew DocSync(null).document(1).insert('x', 0);\n");
  assert.notEqual(r.status, 0);
  assert.match(r.out, /example\.ts\(2,/);
});
