import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { connect, NatsConnection } from 'nats';
import { loadConfig, PlatformConfig } from '@authpipe/config';
import { connectionIdFor, connectionStream, RecordedEvent } from '@authpipe/contracts';
import { createEventStore, EventStore, EventSubscription } from '@authpipe/event-store';
import { createRpcClient, RpcClient } from '@authpipe/messaging';
import { EventWriter } from '@authpipe/platform';
import { JetStreamKvRefreshLock } from '../apps/refresher/src/lock/jetstream-kv/jetstream-kv-refresh-lock';
import { freePort, startNatsServer } from '../test/support/nats-server';
import { knob, percentile } from './stats';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startApps } = require('../scripts/lib/platform.js') as {
  startApps(options: {
    natsUrl: string;
    env: Record<string, string>;
    apps: string[];
    onLine?: (app: string, line: string) => void;
  }): Promise<{ stop(): Promise<void>; children: Map<string, ChildProcess> }>;
};

/*
 * Scheduled refresh at scale: one refresher replica, a local token endpoint that answers in 50 ms (rotating refresh
 * tokens; a reused one is invalid_grant), credentials seeded through vault RPC and Connected events through the
 * EventWriter on the JetStream event store (no browser flows).
 *
 * A. The scenario, time scaled by 5 (10 minutes -> 2): 10,000 connections expiring over 2 minutes (from 90 s after
 *    seeding starts, so that the first are due, 30-40 s before expiry, once seeding is over), Discord with a 30 s
 *    margin and 10 s jitter (the catalog's 3600/600 s would not fit). All must be refreshed before expiry, each once.
 * B. Capacity: 10,000 connections all due at once (Gmail, 300 s margin, expiring in 5 minutes), drained by a
 *    refresher just started: refreshes per second, with the JetStream KV lock.
 * C. The same with REFRESH_LOCK=in-process: the lock's cost in throughput.
 * D. The lock alone: acquire + release round trips against nats-server.
 *
 * `npx jest -c jest.bench.config.js bench/refresh` (build first); BENCH_REFRESH_CONNECTIONS (default 10000),
 * BENCH_TOKEN_DELAY_MS (default 50), BENCH_REFRESH_PHASES (default A,B,C,D).
 */

const N = knob('BENCH_REFRESH_CONNECTIONS', 10_000);
const TOKEN_DELAY_MS = knob('BENCH_TOKEN_DELAY_MS', 50, 0);
const TENANT = 'bench_refresh';
const SEED_CONCURRENCY = 64;
/** Which phases to run (default all): e.g. BENCH_REFRESH_PHASES=B,D */
const PHASES = new Set((process.env.BENCH_REFRESH_PHASES ?? 'A,B,C,D').split(','));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A token endpoint: refresh_token grant with rotation, a fixed delay, counts per connection. */
class TokenEndpoint {
  private server!: Server;
  url = '';
  /** connectionId -> current refresh token generation, calls, times of successful refreshes */
  readonly grants = new Map<string, { generation: number; calls: number; refreshedAt: number[] }>();
  calls = 0;
  invalidGrants = 0;
  private inFlight = 0;
  maxInFlight = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  issue(connectionId: string): string {
    const grant = this.grants.get(connectionId) ?? { generation: 0, calls: 0, refreshedAt: [] };
    grant.generation += 1;
    this.grants.set(connectionId, grant);
    return `rt.${connectionId}.${grant.generation}`;
  }

  private async handle(req: IncomingMessage, res: import('node:http').ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.url !== '/token') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      return;
    }
    this.calls += 1;
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await sleep(TOKEN_DELAY_MS);
    this.inFlight -= 1;
    const form = new URLSearchParams(Buffer.concat(chunks).toString());
    const [, connectionId, generation] = (form.get('refresh_token') ?? '').split('.');
    const grant = this.grants.get(connectionId);
    const reply = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
    if (form.get('grant_type') !== 'refresh_token' || form.get('client_secret') !== 'bench-secret') return void reply(400, { error: 'invalid_client' });
    if (!grant) return void reply(400, { error: 'invalid_grant' });
    grant.calls += 1;
    if (Number(generation) !== grant.generation) {
      this.invalidGrants += 1;
      return void reply(400, { error: 'invalid_grant' });
    }
    grant.refreshedAt.push(Date.now());
    const refreshToken = this.issue(connectionId);
    reply(200, { access_token: `at.${randomBytes(12).toString('base64url')}`, token_type: 'Bearer', expires_in: 86_400, refresh_token: refreshToken });
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** CPU seconds a process has used so far (Linux /proc), or NaN elsewhere. */
function cpuSeconds(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** nats-server, vault and query-api on their own, a tenant with Discord and Gmail integrations on the token endpoint. */
async function startBenchPlatform(tokens: TokenEndpoint) {
  const nats = await startNatsServer();
  const dir = mkdtempSync(join(tmpdir(), 'authpipe-bench-refresh-'));
  const providersFile = join(dir, 'providers.json');
  writeFileSync(
    providersFile,
    JSON.stringify({
      discord: { oauth2: { tokenUrl: `${tokens.url}/token`, refresh: { marginSeconds: 30, jitterSeconds: 10 } }, probe: { url: `${tokens.url}/probe` } },
      gmail: { oauth2: { tokenUrl: `${tokens.url}/token` }, probe: { url: `${tokens.url}/probe` } },
    }),
  );
  const queryPort = await freePort();
  const adminToken = randomBytes(32).toString('base64url');
  const env = {
    AUTHPIPE_PROVIDERS_FILE: providersFile,
    AUTHPIPE_ADMIN_TOKEN: adminToken,
    AUTHPIPE_MASTER_KEYS: `v1:${randomBytes(32).toString('base64')}`,
    QUERY_API_PORT: String(queryPort),
    AUTHPIPE_LOG_LEVEL: 'warn',
    RATE_LIMIT_PER_MINUTE: '1000000',
    RATE_LIMIT_ANONYMOUS_PER_MINUTE: '1000000',
  };
  const apps = await startApps({ natsUrl: nats.url, env, apps: ['vault', 'query-api'] });
  const nc: NatsConnection = await connect({ servers: nats.url, name: 'bench' });
  const rpc: RpcClient = createRpcClient(loadConfig(PlatformConfig, { NATS_URL: nats.url, AUTHPIPE_RPC_TIMEOUT_MS: '30000' }), 'bench');
  const store: EventStore = await createEventStore({ kind: 'jetstream', nats: nc });
  const refreshed = new Map<string, number>();
  const failures: string[] = [];
  const subscription: EventSubscription = store.subscribeToAll(async (event: RecordedEvent) => {
    if (event.type === 'Refreshed' && !refreshed.has(event.data.connectionId)) refreshed.set(event.data.connectionId, Date.parse(event.metadata.occurredAt));
    if (event.type === 'RefreshFailed' || event.type === 'Revoked') failures.push(`${event.type} ${JSON.stringify(event.data)}`);
  });

  const admin = (path: string, body: unknown) =>
    fetch(`http://127.0.0.1:${queryPort}${path}`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await admin('/v1/admin/tenants', { tenantId: TENANT, name: 'Bench' });
  const { apiKey } = (await (await admin(`/v1/admin/tenants/${TENANT}/api-keys`, {})).json()) as { apiKey: string };
  for (const [provider, scopes] of [['discord', ['identify']], ['gmail', ['https://www.googleapis.com/auth/gmail.readonly']]] as const) {
    const res = await fetch(`http://127.0.0.1:${queryPort}/v1/integrations/${provider}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ clientId: 'bench', clientSecret: 'bench-secret', scopes }),
    });
    if (res.status !== 200) throw new Error(`integration ${provider}: ${res.status} ${await res.text()}`);
  }

  let refresher: { stop(): Promise<void>; children: Map<string, ChildProcess> } | undefined;

  return {
    refreshed,
    failures,
    /** Store credentials in vault and append Connected, SEED_CONCURRENCY at a time. */
    async seed(provider: string, prefix: string, expiresAtOf: (i: number) => number, connectedAt?: Date) {
      const writer = new EventWriter(store, 'oauth-gateway', { now: () => connectedAt ?? new Date() });
      const ids: string[] = [];
      const expiries = new Map<string, number>();
      const started = Date.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: SEED_CONCURRENCY }, async () => {
          for (let i = next++; i < N; i = next++) {
            const userId = `${prefix}${i}`;
            const connectionId = connectionIdFor(TENANT, provider, userId);
            const expiresAt = new Date(expiresAtOf(i)).toISOString();
            const scopes = provider === 'gmail' ? ['https://www.googleapis.com/auth/gmail.readonly'] : ['identify'];
            const { version } = await rpc.request('vaultStoreCredential', {
              tenantId: TENANT,
              connectionId,
              provider,
              credential: { type: 'oauth2', accessToken: `at.seed.${i}`, refreshToken: tokens.issue(connectionId), tokenType: 'Bearer', expiresAt, scopes },
              expectedVersion: 0,
              correlationId: `seed-${connectionId}`,
            });
            await writer.decideAndAppend(
              connectionStream(connectionId),
              () => [{ type: 'Connected', data: { connectionId, tenantId: TENANT, provider, userId, scopes, expiresAt, refreshable: true, credentialVersion: version } }],
              { correlationId: `seed-${connectionId}` },
            );
            ids.push(connectionId);
            expiries.set(connectionId, Date.parse(expiresAt));
          }
        }),
      );
      return { ids, ms: Date.now() - started, expiries };
    },
    /** Start the refresher; resolves when it has planned what the history holds. */
    async startRefresher(extra: Record<string, string> = {}) {
      const startedAt = Date.now();
      let plannedAt = 0;
      let planned = '';
      refresher = await startApps({
        natsUrl: nats.url,
        env: { ...env, AUTHPIPE_LOG_LEVEL: 'log', ...extra },
        apps: ['refresher'],
        onLine: (_app, line) => {
          if (process.env.BENCH_LOGS === '1') process.stderr.write(`[refresher] ${line}\n`);
          if (line.includes('refreshable connections in')) {
            plannedAt = Date.now();
            planned = /planned \d+ refreshable connections in \d+ ms/.exec(line)?.[0] ?? line;
          }
        },
      });
      while (!plannedAt) await sleep(20);
      return { startedAt, plannedAt, planned };
    },
    async waitAll(ids: string[], timeoutMs: number) {
      const deadline = Date.now() + timeoutMs;
      while (ids.some((id) => !refreshed.has(id))) {
        if (Date.now() > deadline) throw new Error(`${ids.filter((id) => !refreshed.has(id)).length} connections not refreshed in time`);
        await sleep(100);
      }
    },
    /** CPU seconds used so far by each process of the platform. */
    cpu(): Record<string, number> {
      return {
        'nats-server': cpuSeconds(nats.pid),
        vault: cpuSeconds(apps.children.get('vault')?.pid),
        'query-api': cpuSeconds(apps.children.get('query-api')?.pid),
        refresher: cpuSeconds(refresher?.children.get('refresher')?.pid),
        'bench (token endpoint, seeding)': process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6,
      };
    },
    nc,
    async stop() {
      await refresher?.stop();
      await subscription.stop();
      await rpc.close();
      await nc.close();
      await apps.stop();
      await nats.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const cpuDelta = (before: Record<string, number>, after: Record<string, number>) =>
  Object.entries(after)
    .map(([name, seconds]) => `${name} ${(seconds - before[name]).toFixed(1)} s`)
    .join(', ');

test('scheduled refresh of 10,000 connections', async () => {
  const tokens = new TokenEndpoint();
  await tokens.start();
  const report: string[] = [];
  const callsOf = (ids: string[]) => ids.map((id) => tokens.grants.get(id)!.calls);
  try {
    // A. The scenario (time scaled by 5): the refresher runs while connections arrive.
    if (PHASES.has('A')) {
      const platform = await startBenchPlatform(tokens);
      try {
        await platform.startRefresher();
        const cpu = platform.cpu();
        const seedStart = Date.now();
        const a = await platform.seed('discord', 'a', (i) => seedStart + 90_000 + Math.floor((i / N) * 120_000));
        report.push(`A seeded ${N} credentials (vault RPC) + Connected events in ${(a.ms / 1000).toFixed(1)} s (${Math.round(N / (a.ms / 1000))}/s, ${SEED_CONCURRENCY} at a time)`);
        await platform.waitAll(a.ids, 300_000);
        const headroom = a.ids.map((id) => (a.expiries.get(id)! - tokens.grants.get(id)!.refreshedAt[0]) / 1000).sort((x, y) => x - y);
        const late = headroom.filter((h) => h <= 0).length;
        const calls = callsOf(a.ids);
        const perSecond = new Map<number, number>();
        for (const id of a.ids) {
          const second = Math.floor(tokens.grants.get(id)!.refreshedAt[0] / 1000);
          perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
        }
        report.push(
          `A ${N} connections expiring over 120 s (margin 30 s, jitter 10 s): ${N - late} refreshed before expiry, ${late} late; ` +
            `refreshed ahead of expiry by min ${headroom[0].toFixed(1)} s, p1 ${percentile(headroom, 1).toFixed(1)} s, p50 ${percentile(headroom, 50).toFixed(1)} s, ` +
            `max ${headroom[headroom.length - 1].toFixed(1)} s; token calls per connection ${Math.min(...calls)}-${Math.max(...calls)}; ` +
            `peak ${Math.max(...perSecond.values())} refreshes/s; CPU ${cpuDelta(cpu, platform.cpu())}`,
        );
        expect(late).toBe(0);
        expect(Math.max(...calls)).toBe(1);
        expect(platform.failures).toEqual([]);
      } finally {
        await platform.stop();
      }
    }

    // B and C: capacity from a standing start, with the shared lock and with the in-process one.
    for (const [phase, lock] of [['B', 'jetstream-kv'], ['C', 'in-process']] as const) {
      if (!PHASES.has(phase)) continue;
      const platform = await startBenchPlatform(tokens);
      try {
        const now = Date.now();
        // Issued an hour ago, expiring in 5 minutes: inside Gmail's 300 s margin (+ up to 60 s jitter), so every
        // connection is due the moment the refresher has planned it.
        const seeded = await platform.seed('gmail', phase.toLowerCase(), () => now + 5 * 60_000, new Date(now - 3_600_000));
        const start = await platform.startRefresher({ REFRESH_LOCK: lock, ...(process.env.BENCH_REFRESHER_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_REFRESHER_NODE_OPTIONS } : {}) });
        const cpu = platform.cpu();
        await platform.waitAll(seeded.ids, 300_000);
        const times = seeded.ids.map((id) => platform.refreshed.get(id)!).sort((x, y) => x - y);
        const drainMs = times[times.length - 1] - start.plannedAt;
        const calls = callsOf(seeded.ids);
        report.push(
          `${phase} lock ${lock}: start-up ${start.planned} (${((start.plannedAt - start.startedAt) / 1000).toFixed(1)} s from spawn); ` +
            `${N} due at once drained in ${(drainMs / 1000).toFixed(1)} s = ${Math.round(N / (drainMs / 1000))} refreshes/s ` +
            `(REFRESH_CONCURRENCY ${process.env.REFRESH_CONCURRENCY ?? 32}, token endpoint ${TOKEN_DELAY_MS} ms, ${tokens.maxInFlight} max in flight there); calls per connection ` +
            `${Math.min(...calls)}-${Math.max(...calls)}; CPU ${cpuDelta(cpu, platform.cpu())}`,
        );
        expect(Math.max(...calls)).toBe(1);
        expect(platform.failures).toEqual([]);
      } finally {
        await platform.stop();
      }
    }

    // D. The lock alone, against nats-server.
    if (PHASES.has('D')) {
      const platform = await startBenchPlatform(tokens);
      try {
        const lock = await JetStreamKvRefreshLock.open(platform.nc, { bucket: 'bench_refresh_locks', replicas: 1, leaseMs: 30_000, owner: 'bench' });
        const keys = Array.from({ length: 2_000 }, (_, i) => `con_bench${String(i).padStart(17, '0')}`);
        const round = async () => {
          const pairs: number[] = [];
          for (const key of keys) {
            const t = performance.now();
            const r = await lock.tryAcquire(key, Date.now());
            if (!r.acquired) throw new Error('lock unexpectedly held');
            await lock.release(r.lease);
            pairs.push(performance.now() - t);
          }
          return pairs.sort((x, y) => x - y);
        };
        const fresh = await round(); // keys never held: get (absent) + put, delete
        const again = await round(); // keys released before: get (delete marker) + put, delete
        const parallelStart = performance.now();
        let cursor = 0;
        await Promise.all(
          Array.from({ length: 32 }, async () => {
            for (let i = cursor++; i < keys.length; i = cursor++) {
              const r = await lock.tryAcquire(keys[i], Date.now());
              if (r.acquired) await lock.release(r.lease);
            }
          }),
        );
        const parallelMs = performance.now() - parallelStart;
        report.push(
          `D lock acquire+release (3 KV round trips: get, put, delete), ${keys.length} keys one after another: ` +
            `p50 ${percentile(again, 50).toFixed(2)} ms, p99 ${percentile(again, 99).toFixed(2)} ms (first use of a key p50 ${percentile(fresh, 50).toFixed(2)} ms); ` +
            `32 in parallel: ${Math.round(keys.length / (parallelMs / 1000))} acquire+release pairs/s`,
        );
      } finally {
        await platform.stop();
      }
    }
    report.push(`token endpoint: ${tokens.calls} calls, ${tokens.invalidGrants} invalid_grant`);
  } finally {
    console.log(`refresh benchmark (${N} connections per phase, token endpoint ${TOKEN_DELAY_MS} ms)\n  ${report.join('\n  ')}`);
    await tokens.stop();
  }
}, 3_600_000);
