// A real redis-server for the cluster tests: Debian's binary on 127.0.0.1 with a free port, a
// temporary working dir, no persistence (a restart starts empty, as after a crash without
// AOF), stopped by its pid. A server still running when the test process exits is killed and
// its dir removed. publish() goes through redis-cli, so tests can put hostile bytes on a channel.
import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { within, sleep } from './wait.mjs';

const LIVE = new Set();
process.on('exit', () => {
  for (const r of LIVE) r.abandon();
});

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export class RedisServer {
  constructor() {
    this.port = 0;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'docsync-redis-'));
    this.proc = null;
    this.log = '';
    LIVE.add(this);
  }

  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts (again, on the same port after a stop) and waits until it accepts connections. */
  async start() {
    if (!this.port) this.port = await freePort();
    for (let i = 0; ; i++) {
      try {
        return await this.startOnce();
      } catch (e) {
        if (i >= 20) throw e; // the old socket may linger a moment after a kill
        await sleep(100);
      }
    }
  }

  async startOnce() {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir];
    const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    this.exited = new Promise((r) => proc.once('exit', (code, signal) => r({ code, signal })));
    const from = this.log.length;
    const ready = new Promise((resolve, reject) => {
      const on = (d) => {
        this.log += d;
        if (this.log.slice(from).includes('Ready to accept connections')) resolve(this);
      };
      proc.stdout.setEncoding('utf8').on('data', on);
      proc.stderr.setEncoding('utf8').on('data', on);
      proc.once('exit', (code) => reject(new Error(`redis-server exited (${code}):\n${this.log.slice(from)}`)));
    });
    return within(ready, 10000, 'redis-server ready');
  }

  /** Kills it (SIGKILL: a crash) and waits for the exit. */
  async kill() {
    if (!this.proc) return;
    const p = this.proc;
    this.proc = null;
    p.kill('SIGKILL');
    await within(this.exited, 5000, 'redis-server exit');
  }

  /** redis-cli with these arguments (and `input` on its stdin, for -x); resolves with its stdout. */
  cli(args, input) {
    return new Promise((resolve, reject) => {
      const child = execFile('redis-cli', ['-p', String(this.port), ...args], { maxBuffer: 16 << 20 }, (err, out) => (err ? reject(err) : resolve(out)));
      // redis-cli may exit before reading its stdin (it reads it only for -x): the EPIPE that
      // writing then gets is not the command's outcome, which its exit status and output give.
      child.stdin.on('error', () => {});
      child.stdin.end(input ?? '');
    });
  }

  async stop() {
    await this.kill();
    this.abandon();
  }

  abandon() {
    if (this.proc) {
      try {
        this.proc.kill('SIGKILL');
      } catch {
        /* gone */
      }
      this.proc = null;
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
    LIVE.delete(this);
  }
}
