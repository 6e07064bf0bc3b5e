// The one launcher of docsyncd for every Node test (the integration, sync and client suites, the
// raw-frame conformance script and the byte-wise unmasked-frame check). It starts the real binary
// on 127.0.0.1 with port 0 and a fresh temporary data dir (also its working directory, so that
// no stray .env is read), waits for the "listening on 127.0.0.1:<port>" log line and takes the
// port from it, keeps everything the server writes to stderr, and stops it by its pid. A server
// still running when the test process exits (a crash, an interrupt) is killed and its temporary
// dir removed.
//
// The harnesses build on it (subclasses adding their helpers) and decide what a failed stop is:
// stop() throws on a sanitizer report (and, with cleanExit, on a non-zero exit); shutdown() only
// reports, for scripts that print their own verdict.
//
// Environment:
//   DOCSYNCD    path of the server binary (set by CMake); scripts given the path as an argument
//               pass it as `bin`.
//   ITEST_ENV   development aid: a JSON object of settings for every server any test starts,
//               e.g. ITEST_ENV='{"DOCSYNC_EVENT_LOOP":"poll"}'. A test's own settings (opts.env)
//               still win, so it cannot undo what a test configures.
//   ASAN_OPTIONS, UBSAN_OPTIONS  passed on; when unset, detect_leaks=1 and print_stacktrace=1.
// No other REVERB_* or DOCSYNC_* variable of the caller's environment reaches the server.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { within, sleep } from './wait.mjs';

/** Reports of ASan, LeakSanitizer, UBSan, and valgrind (when a test runs the server under it). */
export const SANITIZER_RE =
  /ERROR: (AddressSanitizer|LeakSanitizer)|==\d+==ERROR|runtime error:|SUMMARY: UndefinedBehaviorSanitizer|==\d+== (Invalid (read|write|free)|Conditional jump|Syscall param|Use of uninit)/;

/** The part of `text` around its first sanitizer or valgrind report, or null when there is none. */
export function sanitizerReport(text) {
  const m = SANITIZER_RE.exec(text);
  return m ? text.slice(Math.max(0, m.index - 200), m.index + 2000) : null;
}

function itestEnv() {
  return process.env.ITEST_ENV ? JSON.parse(process.env.ITEST_ENV) : {};
}

// Servers with a process or a temporary dir not yet cleaned up (killed and removed on exit).
const LIVE = new Set();

function killAll() {
  for (const s of LIVE) s.abandon();
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    killAll();
    // Alone on this signal (a plain script, not the test runner): end as the default would.
    if (process.listenerCount(sig) === 1) process.exit(1);
  });
}

/**
 * A docsyncd process. opts (all optional; read again at every start, so a test may change env
 * or wrap before a restart):
 *   bin        server binary (default $DOCSYNCD)
 *   app        {id, key, secret} set as REVERB_APP_*; null: none, the server makes its
 *              development app and start() reads its credentials from <data dir>/dev-app.env
 *              into .app
 *   env        the test's settings (REVERB_*, DOCSYNC_*, ASAN_OPTIONS ...), applied last
 *   args       extra command-line flags
 *   logLevel   DOCSYNC_LOG_LEVEL (default info)
 *   dotenv     text of a .env file written into the working directory before each start
 *   dataDir    an existing data dir to use instead of a fresh temporary one
 *   port       a fixed port instead of 0
 *   wrap       argv prefix to run the server under (e.g. ['strace', '-f', ...] or valgrind)
 *   name       names the temporary dir (docsync-<name>-XXXXXX) and the error messages
 *   captureStdout  also keep what the process writes to stdout (docsyncd writes none)
 */
export class DocsyncServer {
  constructor(opts = {}) {
    this.opts = opts;
    this.name = opts.name || 'server';
    this.app = opts.app === undefined ? { id: '1001', key: 'test-key', secret: 'test-secret' } : opts.app;
    this.devApp = opts.app === null;
    this.host = '127.0.0.1';
    this.port = opts.port || 0;
    this.stderr = ''; // everything the server wrote to stderr, over all its starts
    this.proc = null; // the spawned process while it runs (the wrapper when wrapped)
    this.exited = null; // resolves with {code, signal} when that process ends
    this.tempDir = null;
  }

  /** The data dir, created on first use (so a test can put files there before start()). */
  get dataDir() {
    if (this.opts.dataDir) return this.opts.dataDir;
    if (!this.tempDir) {
      this.tempDir = fs.mkdtempSync(path.join(os.tmpdir(), `docsync-${this.name}-`));
      LIVE.add(this);
    }
    return this.tempDir;
  }

  /** The server's environment: the caller's without its REVERB_ and DOCSYNC_ variables, then the
   * app, the log level, ITEST_ENV, and the test's own settings, in that order. */
  env() {
    const env = {};
    for (const [k, v] of Object.entries(process.env)) if (!/^(REVERB_|DOCSYNC_)/.test(k)) env[k] = v;
    env.ASAN_OPTIONS ||= 'detect_leaks=1';
    env.UBSAN_OPTIONS ||= 'print_stacktrace=1';
    if (this.app && !this.devApp) {
      Object.assign(env, { REVERB_APP_ID: this.app.id, REVERB_APP_KEY: this.app.key, REVERB_APP_SECRET: this.app.secret });
    }
    env.DOCSYNC_LOG_LEVEL = this.opts.logLevel || 'info';
    return Object.assign(env, itestEnv(), this.opts.env || {});
  }

  /** What to spawn: {file, args, env?}. The address and data dir are flags, which win over the
   * environment and .env, so no setting can move the server off loopback or out of its dir. */
  command() {
    const bin = this.opts.bin || process.env.DOCSYNCD;
    if (!bin) throw new Error('DOCSYNCD is not set (path of the docsyncd binary)');
    const args = ['--host', this.host, '--port', String(this.port), '--data', this.dataDir, ...(this.opts.args || [])];
    const wrap = this.opts.wrap || [];
    return wrap.length ? { file: wrap[0], args: [...wrap.slice(1), bin, ...args] } : { file: bin, args };
  }

  /** The port once `log` (this start's output so far) shows the server ready, else null. */
  readyPort(log) {
    const m = /listening on 127\.0\.0\.1:(\d+)/.exec(log);
    return m ? Number(m[1]) : null;
  }

  /** Starts the server and waits until it listens (30 s at most). Returns this. */
  async start() {
    const { file, args, env = this.env() } = this.command();
    if (this.opts.dotenv !== undefined) fs.writeFileSync(path.join(this.dataDir, '.env'), this.opts.dotenv);
    const from = this.stderr.length; // this start's output begins here
    const proc = spawn(file, args, {
      env,
      cwd: this.dataDir,
      stdio: ['ignore', this.opts.captureStdout ? 'pipe' : 'ignore', 'pipe'],
    });
    this.proc = proc;
    LIVE.add(this);
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
    let port = null;
    const ready = new Promise((resolve, reject) => {
      const onData = (chunk) => {
        this.stderr += chunk;
        if (port !== null) return;
        port = this.readyPort(this.stderr.slice(from));
        if (port !== null) resolve(port);
      };
      proc.stderr.setEncoding('utf8').on('data', onData);
      if (proc.stdout) proc.stdout.setEncoding('utf8').on('data', onData);
      proc.once('exit', (code, signal) =>
        reject(new Error(`${this.name}: ${file} exited before it was ready (code ${code}, signal ${signal}):\n${this.stderr.slice(from)}`)),
      );
      proc.once('error', (e) => reject(new Error(`${this.name}: cannot start ${file}: ${e.message}`)));
    });
    try {
      this.port = await within(ready, 30000, `${this.name}: "listening on" line`);
    } catch (e) {
      try {
        proc.kill('SIGKILL');
      } catch {
        /* already gone */
      }
      this.proc = null;
      throw e;
    }
    if (this.devApp) this.app = this.devAppCredentials();
    return this;
  }

  /** The development app's credentials, from the dev-app.env the server keeps in its data dir
   * (the log names the file but never holds the secret). */
  devAppCredentials() {
    const file = path.join(this.dataDir, 'dev-app.env');
    const text = fs.readFileSync(file, 'utf8');
    const get = (k) => new RegExp(`^${k}=(\\S+)$`, 'm').exec(text)?.[1];
    const app = { id: get('REVERB_APP_ID'), key: get('REVERB_APP_KEY'), secret: get('REVERB_APP_SECRET') };
    if (!app.id || !app.key || !app.secret) throw new Error(`${this.name}: incomplete ${file}:\n${text}`);
    return app;
  }

  /** The pid of docsyncd itself (the wrapper's child when wrapped, e.g. by strace). */
  serverPid() {
    if (!this.opts.wrap?.length) return this.proc.pid;
    try {
      const kids = fs.readFileSync(`/proc/${this.proc.pid}/task/${this.proc.pid}/children`, 'utf8').trim().split(/\s+/);
      return Number(kids[0]) || this.proc.pid;
    } catch {
      return this.proc.pid;
    }
  }

  /** Sends `signal` to the server (SIGKILL: a crash) and waits for the exit; {code, signal}. */
  async kill(signal = 'SIGKILL') {
    if (!this.proc) return null;
    process.kill(this.serverPid(), signal);
    const r = await within(this.exited, 15000, `${this.name} exit after ${signal}`);
    this.proc = null;
    return r;
  }

  /** Starts again on the same port and data dir (after kill); retries while the port lingers. */
  async restart() {
    for (let i = 0; ; i++) {
      try {
        return await this.start();
      } catch (e) {
        if (i >= 20) throw e;
        await sleep(100);
      }
    }
  }

  /**
   * Stops the server (SIGTERM, SIGKILL after graceMs) and removes the data dir unless keepData.
   * Returns {code, signal, forced} (null when it was not running); never throws.
   */
  async shutdown({ keepData = false, graceMs = 10000 } = {}) {
    let result = null;
    if (this.proc) {
      const proc = this.proc;
      const pid = this.serverPid();
      let forced = false;
      const signal = (p, s) => {
        try {
          process.kill(p, s);
        } catch {
          /* already gone */
        }
      };
      signal(pid, 'SIGTERM');
      const t = setTimeout(() => {
        forced = true;
        signal(pid, 'SIGKILL');
        signal(proc.pid, 'SIGKILL');
      }, graceMs);
      const r = await this.exited;
      clearTimeout(t);
      this.proc = null;
      result = { ...r, forced };
    }
    const dir = this.opts.dataDir || this.tempDir;
    if (dir && !keepData) fs.rmSync(dir, { recursive: true, force: true });
    this.tempDir = null;
    LIVE.delete(this);
    return result;
  }

  /**
   * shutdown(), then throws (with the end of the log) when the log holds a sanitizer report or,
   * with cleanExit, when the server did not exit with status 0 within graceMs of SIGTERM.
   */
  async stop({ keepData = false, graceMs = 10000, cleanExit = false } = {}) {
    const r = await this.shutdown({ keepData, graceMs });
    let problem = null;
    if (cleanExit && r?.forced) problem = `server did not exit within ${graceMs / 1000} s of SIGTERM`;
    else if (cleanExit && r && (r.code !== 0 || r.signal)) problem = `server exit after SIGTERM: code ${r.code}, signal ${r.signal}`;
    if (sanitizerReport(this.stderr)) problem = 'sanitizer report in server stderr';
    if (problem) throw new Error(`${problem}:\n${this.stderr.slice(-8000)}`);
    return r;
  }

  /** At process exit: kill a server still running (by pid) and remove its temporary dir. */
  abandon() {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) {
      for (const pid of new Set([this.serverPid(), this.proc.pid])) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
    if (this.tempDir) fs.rmSync(this.tempDir, { recursive: true, force: true });
  }
}
