// A TCP relay between test clients and a server on 127.0.0.1, so that a test can take "the
// network" away: cut() drops every relayed connection, and while paused new ones are dropped at
// once; resume() lets them through again, retarget(port) sends new ones to another server (a
// client that reconnects lands on another node of a cluster).
import net from 'node:net';

export class Relay {
  constructor(targetPort) {
    this.targetPort = targetPort;
    this.sockets = new Set();
    this.paused = false;
    this.server = net.createServer((c) => {
      if (this.paused) return c.destroy();
      const up = net.connect(this.targetPort, '127.0.0.1');
      for (const s of [c, up]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {});
      }
      c.pipe(up);
      up.pipe(c);
      c.on('close', () => up.destroy());
      up.on('close', () => c.destroy());
    });
  }

  /** Listens on a random port; resolves to it (also this.port). */
  start() {
    return new Promise((r) => this.server.listen(0, '127.0.0.1', () => r((this.port = this.server.address().port))));
  }

  cut() {
    this.paused = true;
    for (const s of this.sockets) s.destroy();
  }

  resume() {
    this.paused = false;
  }

  retarget(port) {
    this.targetPort = port;
    this.paused = false;
  }

  close() {
    this.cut();
    return new Promise((r) => this.server.close(r));
  }
}
