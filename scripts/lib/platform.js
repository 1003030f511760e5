'use strict';
// Starts the five apps as separate processes from the compiled build, waits until each answers its NATS health
// subject, and stops them all on request. Used by `npm start` and by the end-to-end tests.
const { spawn } = require('node:child_process');
const { join } = require('node:path');
const { connect, JSONCodec } = require('nats');

const APPS = ['vault', 'query-api', 'oauth-gateway', 'refresher', 'health-monitor'];
/** The apps without an HTTP port: they serve health and metrics on HEALTH_PORT. */
const NATS_ONLY_APPS = ['vault', 'refresher', 'health-monitor'];
const ROOT = join(__dirname, '..', '..');
const codec = JSONCodec();

function entryOf(app) {
  return join(ROOT, 'dist', 'apps', app, 'src', 'main.js');
}

/** Ask an app's health subject the way a Nest NATS client does; resolves true when it answers ok. */
async function isHealthy(nc, app) {
  const subject = `authpipe.${app}.health`;
  try {
    const reply = await nc.request(subject, codec.encode({ pattern: subject, data: {}, id: `health-${Date.now()}` }), { timeout: 1000 });
    return codec.decode(reply.data)?.response?.status === 'ok';
  } catch {
    return false;
  }
}

/** Spawn one app from the compiled build; its output goes line by line to onLine. */
function spawnApp(app, options) {
  const child = spawn(process.execPath, ['--enable-source-maps', entryOf(app)], {
    cwd: ROOT,
    env: { ...process.env, ...options.env, NATS_URL: options.natsUrl, HEALTH_PORT: String(options.healthPorts?.[app] ?? 0) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const [stream, source] of [['out', child.stdout], ['err', child.stderr]]) {
    let buffered = '';
    source.on('data', (chunk) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop();
      for (const line of lines) options.onLine?.(app, line, stream);
    });
  }
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ app, code, signal })));
  return { child, exited };
}

/** Wait until every app of `apps` answers its NATS health subject; fail early when one of them exits. */
async function waitUntilHealthy(natsUrl, apps, exits, timeoutMs) {
  const nc = await connect({ servers: natsUrl, name: 'authpipe-launcher' });
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(apps);
  let exited = null;
  Promise.race(exits).then((e) => (exited = e));
  try {
    while (pending.size) {
      if (exited) throw new Error(`${exited.app} exited during start-up (code ${exited.code}, signal ${exited.signal}); see its log above`);
      if (Date.now() > deadline) throw new Error(`not ready in time: ${[...pending].join(', ')}`);
      for (const app of [...pending]) if (await isHealthy(nc, app)) pending.delete(app);
      if (pending.size) await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await nc.close();
  }
}

/**
 * `healthPorts` gives NATS-only apps their HEALTH_PORT (GET /health/live, /health/ready, /metrics); an app not
 * named gets HEALTH_PORT=0, no health server, so that apps (and replicas) sharing this machine never fight over one.
 * The result can also kill one app (SIGKILL, as a crash would) and start it again with the same settings, for the
 * fault tests; `children` always holds the current process of each app.
 * @param {{ natsUrl: string, env: Record<string,string>, onLine?: (app: string, line: string, stream: 'out'|'err') => void, readyTimeoutMs?: number, apps?: string[], healthPorts?: Record<string, number> }} options
 */
async function startApps(options) {
  const apps = options.apps ?? APPS;
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const children = new Map();
  const exits = new Map();
  const launch = (app, env = {}) => {
    const { child, exited } = spawnApp(app, { ...options, env: { ...options.env, ...env } });
    children.set(app, child);
    exits.set(app, exited);
    return exited;
  };
  const started = apps.map(launch);
  try {
    await waitUntilHealthy(options.natsUrl, apps, started, readyTimeoutMs);
  } catch (err) {
    await stopChildren(children);
    throw err;
  }
  return {
    children,
    /** Stop every app: SIGTERM, then SIGKILL after a grace period. */
    stop: () => stopChildren(children),
    /** SIGKILL one app (no shutdown hooks run: a crash) and resolve when it is gone. */
    async kill(app) {
      const child = children.get(app);
      if (!child) throw new Error(`no app ${app}`);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      return exits.get(app);
    },
    /**
     * Start one app again (after kill or a crash) with the same settings, changed by `env` for this start only (a
     * fault test arms or disarms AUTHPIPE_FAILPOINTS); resolves when it answers its health subject.
     */
    async restart(app, env = {}) {
      const child = children.get(app);
      if (child && child.exitCode === null && child.signalCode === null) throw new Error(`${app} is still running`);
      const exited = launch(app, env);
      try {
        await waitUntilHealthy(options.natsUrl, [app], [exited], readyTimeoutMs);
      } catch (err) {
        await stopChildren(new Map([[app, children.get(app)]]));
        throw err;
      }
    },
  };
}

async function stopChildren(children, graceMs = 10_000) {
  await Promise.all(
    [...children.values()].map(
      (child) =>
        new Promise((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
}

module.exports = { APPS, NATS_ONLY_APPS, startApps, isHealthy, entryOf };
