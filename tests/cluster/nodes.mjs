// The cluster suites' set-up: one real redis-server and three real docsyncd nodes on it, started
// for the enclosing describe() (clients closed after each test, everything stopped after the
// last), and what the tests ask the nodes (/up, /metrics).
import { before, after, afterEach } from 'node:test';
import { startServer, cleanup, until } from '../integration/harness.mjs';
import { RedisServer } from '../lib/redis.mjs';

/** The settings of a node `id` on `redis`, with a short heartbeat (s) and node timeout (s). */
export function nodeEnv(redis, id, { prefix = 'itest', heartbeat = 1, timeout = 3, ...extra } = {}) {
  return {
    REVERB_SCALING_ENABLED: 'true',
    REVERB_SCALING_CHANNEL: prefix,
    REDIS_URL: redis.url,
    DOCSYNC_NODE_ID: id,
    DOCSYNC_CLUSTER_HEARTBEAT: String(heartbeat),
    DOCSYNC_CLUSTER_NODE_TIMEOUT: String(timeout),
    ...extra,
  };
}

/** GET /up of a node: {status, body}. */
export async function up(server) {
  const r = await fetch(`http://${server.host}:${server.port}/up`);
  return { status: r.status, body: await r.json() };
}

/** The value of one line of the node's /metrics (name with its labels), undefined when absent. */
export async function metric(server, name) {
  const text = await (await fetch(`http://${server.host}:${server.port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

/** Waits until every node sees `n` live nodes and is on Redis. */
export async function converged(nodes, n, ms = 15000) {
  await until(async () => {
    for (const s of nodes) {
      const u = await up(s);
      if (u.body.redis !== 'connected' || u.body.nodes !== n) return false;
    }
    return true;
  }, ms, `every node sees ${n} nodes`);
}

/**
 * A Redis user of node `id`'s own (every key, channel and command, password "pw-<id>"), so that
 * a test can cut that node alone from Redis (cutFromRedis) while the others stay connected;
 * returns the REDIS_URL that logs in as it.
 */
export async function nodeRedisUser(redis, id) {
  await redis.cli(['ACL', 'SETUSER', id, 'on', `>pw-${id}`, '~*', '&*', '+@all']);
  return `redis://${id}:pw-${id}@127.0.0.1:${redis.port}`;
}

/**
 * Cuts node `id` (logged in as its nodeRedisUser) from Redis: its user disabled, then its
 * connections closed; its reconnections fail at AUTH until uncutFromRedis. Pub/sub messages
 * published meanwhile never reach it (Redis keeps none for an absent subscriber).
 */
export async function cutFromRedis(redis, id) {
  await redis.cli(['ACL', 'SETUSER', id, 'off']);
  await redis.cli(['CLIENT', 'KILL', 'USER', id]);
}

/** Lets node `id` log in again: its next reconnection attempt succeeds. */
export async function uncutFromRedis(redis, id) {
  await redis.cli(['ACL', 'SETUSER', id, 'on']);
}

/**
 * A redis-server and three nodes (node-a, node-b, node-c) for the enclosing describe(): each
 * started with `start(id, env)`, its settings nodeEnv(redis, id, {...opts, ...await extra(redis,
 * id)}); `teardown` runs after the last test, before the nodes stop (the suite's own clients).
 * Returns {redis, nodes}: the nodes are there once the tests run.
 */
export function clusterOf({ start, opts = {}, extra = async () => ({}), teardown = () => {}, convergeMs = 15000 }) {
  const redis = new RedisServer();
  const nodes = [];
  before(async () => {
    await redis.start();
    for (const id of ['node-a', 'node-b', 'node-c']) {
      nodes.push(await start(id, nodeEnv(redis, id, { ...opts, ...(await extra(redis, id)) })));
    }
    await converged(nodes, 3, convergeMs);
  });
  after(async () => {
    await teardown();
    for (const s of nodes) await s.stop();
    await redis.stop();
  });
  return { redis, nodes };
}

/** clusterOf with the integration harness's servers, clients closed after each test. */
export function clusterSuite(opts = {}) {
  afterEach(cleanup);
  return clusterOf({ start: (id, env) => startServer({ env }), opts });
}
