// Helpers of the package tests (types.test.mjs, package.test.mjs): throwaway npm projects in a
// temporary directory whose dependencies come from this repository (never from the registry),
// and TypeScript's `tsc --noEmit` on the typed example (types/example.ts) in such a project.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const MODULES = path.join(ROOT, 'node_modules');
export const EXAMPLE = path.join(ROOT, 'tests', 'client', 'types', 'example.ts');

/** A temporary directory, removed at process exit. */
export function tempDir(name) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `docsync-${name}-`));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Links node_modules/<name> of `dir` to the repository's installed package `name`. */
export function linkModule(dir, name, target = path.join(MODULES, name)) {
  const link = path.join(dir, 'node_modules', name);
  fs.mkdirSync(path.dirname(link), { recursive: true });
  fs.symlinkSync(target, link, 'dir');
}

/** Runs a command; returns {status, stdout, out} (out: stdout + stderr). */
export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120000, ...opts });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, out: `${r.stdout}${r.stderr}` };
}

/** `tsc --noEmit` (strict, bundler resolution, as Vite / esbuild / webpack apps use) on the
 * typed example in project `dir`, whose node_modules must hold @docsync/client, laravel-echo,
 * pusher-js, @codemirror/state and @codemirror/view (`source`: another program instead). Library .d.ts files are checked too (no
 * skipLibCheck). */
export function typecheck(dir, source = fs.readFileSync(EXAMPLE, 'utf8')) {
  fs.writeFileSync(path.join(dir, 'example.ts'), source);
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true, noEmit: true, target: 'es2022', module: 'esnext', moduleResolution: 'bundler',
      lib: ['es2022', 'dom'], types: [], skipLibCheck: false, noUnusedLocals: true,
    },
    files: ['example.ts'],
  }));
  return run(process.execPath, [path.join(MODULES, 'typescript', 'bin', 'tsc'), '-p', dir]);
}

/** The names example.ts imports from `specifier` (values and types). */
export function exampleImports(specifier) {
  const src = fs.readFileSync(EXAMPLE, 'utf8');
  const names = new Set();
  const re = /import\s+(type\s+)?\{([^}]*)\}\s+from\s+'([^']+)'/g;
  for (let m; (m = re.exec(src));) {
    if (m[3] !== specifier) continue;
    for (const n of m[2].split(',').map((x) => x.trim()).filter(Boolean)) names.add(`${m[1] ? 'type ' : ''}${n}`);
  }
  return names;
}
