import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { connect, JSONCodec, NatsConnection } from 'nats';
import { connectionIdFor, connectionStream } from '@authpipe/contracts';
import { JetStreamEventStore } from '@authpipe/event-store';
import { browse, CookieJar } from '../support/oauth-server/browser-less';
import { OAuthServerHandle, startOAuthServer } from '../support/oauth-server/spawn';
import { eventually, gatewayUrlFor, NATS_ONLY_APPS, reservePorts, startTestPlatform, TestPlatform } from '../support/test-platform';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startApps } = require('../../scripts/lib/platform.js') as {
  startApps(options: { natsUrl: string; env: Record<string, string>; apps: string[]; onLine?: (app: string, line: string) => void }): Promise<{
    stop(): Promise<void>;
    children: Map<string, ChildProcess>;
  }>;
};

/*
 * Operations of the five apps as processes: the health endpoints (on the HTTP ports and on each NATS-only app's
 * HEALTH_PORT), the Prometheus metrics, JSON logs carrying the correlation id of a request through query-api, the
 * refresher, vault and the events, with no secret in any line whatever path it took (bodies, headers, queries, NATS
 * payloads, failing provider calls), and a SIGTERM to the refresher while on-demand refreshes are in flight against a
 * slow token endpoint with rotating refresh tokens: every read is answered or cleanly retried, no connection loses
 * its credential, the refresher exits 0.
 */

const TENANT = 'org_ops';
const GMAIL_READONLY = 'https://www.googleapis.com/auth/gmail.readonly';
const DISCORD_SECRET = `discord-secret-${Math.random().toString(36).slice(2)}`;
const GMAIL_SECRET = `gmail-secret-${Math.random().toString(36).slice(2)}`;
const GRACE_MS = 1_000;
const SHUTDOWN_TIMEOUT_MS = 20_000;
const ANONYMOUS_PER_MINUTE = 60;
const LOAD_USERS = Array.from({ length: 8 }, (_, i) => `load_${i}`);

interface LogLine {
  time: string;
  level: string;
  app: string;
  context?: string;
  message: string;
  correlationId?: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether Prometheus text has a sample of `name` with (at least) these labels and a value above 0. */
function sampled(text: string, name: string, labels: Record<string, string>): boolean {
  return text.split('\n').some((line) => {
    const match = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name || !(Number(match[3]) > 0)) return false;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    return Object.entries(labels).every(([key, value]) => found[key] === value);
  });
}

describe('operations: health, metrics, JSON logs, graceful shutdown', () => {
  let discord: OAuthServerHandle;
  let google: OAuthServerHandle;
  let platform: TestPlatform;
  let nats: NatsConnection;
  let apiKey: string;
  let dir: string;
  const secrets: string[] = [DISCORD_SECRET, GMAIL_SECRET];
  const replicas: { stop(): Promise<void> }[] = [];

  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${path.startsWith('/v1/connect-sessions') ? platform.gatewayUrl : platform.queryUrl}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
    });

  async function connectUser(provider: string, userId: string, scopes: string[]): Promise<void> {
    const session = await api('/v1/connect-sessions', { method: 'POST', body: JSON.stringify({ provider, userId, scopes }) });
    expect(session.status).toBe(201);
    const { connectUrl } = (await session.json()) as { connectUrl: string };
    const result = await browse(connectUrl, { jar: new CookieJar() });
    expect(result.response.status).toBe(200);
  }

  async function credential(provider: string, userId: string, headers: Record<string, string> = {}) {
    const res = await api(`/v1/credentials/${provider}/${userId}`, { headers });
    const body = (await res.json()) as { accessToken?: string; code?: string };
    if (body.accessToken) secrets.push(body.accessToken);
    return { status: res.status, body, retryAfter: Number(res.headers.get('retry-after') ?? 1), refresh: res.headers.get('authpipe-refresh') };
  }
  /** The refresh failed: an error, or the still-valid token with `Authpipe-Refresh: failed; ...`. */
  const refreshFailed = (read: { status: number; refresh: string | null }) => read.status !== 200 || read.refresh?.startsWith('failed') === true;

  /** The second refresher's lines. */
  const replicaLines: string[] = [];
  /** Every app's log lines (the second refresher's included) as parsed JSON; the harness prefixes each with `[app] `. */
  const jsonLines = (): LogLine[] => [...platform.logs.map((line) => line.slice(line.indexOf('] ') + 2)), ...replicaLines].map((line) => JSON.parse(line) as LogLine);

  beforeAll(async () => {
    const ports = await reservePorts();
    const redirect = (provider: string) => `${gatewayUrlFor(ports)}/v1/oauth/callback/${provider}`;
    discord = await startOAuthServer({
      profile: 'discord',
      accessTokenTtlSeconds: 600,
      clients: [{ client_id: 'discord-client', client_secret: DISCORD_SECRET, redirect_uris: [redirect('discord')] }],
    });
    google = await startOAuthServer({
      profile: 'google',
      clients: [{ client_id: 'gmail-client', client_secret: GMAIL_SECRET, redirect_uris: [redirect('gmail')] }],
    });
    const oauth2 = (s: OAuthServerHandle) => ({ authorizationUrl: s.authorizationEndpoint, tokenUrl: s.tokenEndpoint, revocationUrl: s.revocationEndpoint, issuer: s.issuer });
    const providers = {
      // Tokens of 600 s inside a 3000 s margin: every credential read refreshes on demand (and rotates).
      discord: { oauth2: { ...oauth2(discord), refresh: { marginSeconds: 3000, jitterSeconds: 0 } }, probe: { url: discord.probeEndpoint } },
      // Outside its margin: probed every 2 s.
      gmail: { oauth2: oauth2(google), probe: { url: google.probeEndpoint } },
    };
    const env = {
      AUTHPIPE_SHUTDOWN_GRACE_MS: String(GRACE_MS),
      AUTHPIPE_SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
      PROBE_INTERVAL_SECONDS: '2',
      REFRESH_MAX_ATTEMPTS: '2',
      REFRESH_BACKOFF_BASE_MS: '100',
      RATE_LIMIT_ANONYMOUS_PER_MINUTE: String(ANONYMOUS_PER_MINUTE),
      RATE_LIMIT_PER_MINUTE: '100000',
    };
    platform = await startTestPlatform({ ports, providers, env });
    dir = mkdtempSync(join(tmpdir(), 'authpipe-ops-e2e-'));
    writeFileSync(join(dir, 'providers.json'), JSON.stringify(providers));
    // A second refresher, so that work goes on while the first one stops (no health server: HEALTH_PORT=0).
    const lines = replicaLines;
    const replica = await startApps({
      natsUrl: platform.nats.url,
      env: { ...env, AUTHPIPE_PROVIDERS_FILE: join(dir, 'providers.json'), AUTHPIPE_LOG_LEVEL: 'debug' },
      apps: ['refresher'],
      onLine: (_app, line) => lines.push(line),
    });
    replicas.push(replica);
    await eventually(async () => (lines.some((l) => l.includes('refresher ready on NATS')) ? true : undefined), 30_000, 'refresher-2 ready');
    nats = await connect({ servers: platform.nats.url, name: 'operations-e2e' });

    const admin = (path: string, body: unknown) =>
      fetch(`${platform.queryUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${platform.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    secrets.push(platform.adminToken);
    expect((await admin('/v1/admin/tenants', { tenantId: TENANT, name: 'Ops' })).status).toBe(201);
    apiKey = ((await (await admin(`/v1/admin/tenants/${TENANT}/api-keys`, {})).json()) as { apiKey: string }).apiKey;
    secrets.push(apiKey);
    for (const [provider, clientId, clientSecret, scopes] of [
      ['discord', 'discord-client', DISCORD_SECRET, ['identify']],
      ['gmail', 'gmail-client', GMAIL_SECRET, [GMAIL_READONLY]],
    ] as const) {
      expect((await api(`/v1/integrations/${provider}`, { method: 'PUT', body: JSON.stringify({ clientId, clientSecret, scopes }) })).status).toBe(200);
    }
    await connectUser('gmail', 'probed', [GMAIL_READONLY]);
    for (const user of ['traced', 'failing', ...LOAD_USERS]) await connectUser('discord', user, ['identify']);
    await eventually(async () => ((await credential('discord', 'traced')).status === 200 ? true : undefined), 10_000, 'traced readable');
  }, 120_000);

  afterAll(async () => {
    await nats?.close();
    await Promise.all(replicas.map((r) => r.stop()));
    await platform?.stop();
    await discord?.stop();
    await google?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves /health/live and /health/ready on every app, with the checks of each', async () => {
    const expected: Record<string, string[]> = {
      'oauth-gateway': ['nats', 'event_store'],
      'query-api': ['nats', 'event_store', 'read_models', 'projector'],
      vault: ['nats', 'kv_buckets'],
      refresher: ['nats', 'event_store'],
      'health-monitor': ['nats', 'event_store'],
    };
    for (const [app, url] of Object.entries(platform.operationsUrls)) {
      const live = await fetch(`${url}/health/live`);
      expect({ app, status: live.status }).toEqual({ app, status: 200 });
      expect(await live.json()).toMatchObject({ status: 'ok', info: { process: { status: 'up' } } });
      const ready = await fetch(`${url}/health/ready`);
      const body = (await ready.json()) as { status: string; info: Record<string, { status: string }> };
      expect({ app, status: ready.status, checks: Object.keys(body.info).sort() }).toEqual({ app, status: 200, checks: ['shutdown', ...expected[app]].sort() });
      expect(Object.values(body.info).every((check) => check.status === 'up')).toBe(true);
      expect(ready.headers.get('cache-control')).toBe('no-store');
    }
    // The health server of a NATS-only app serves nothing else.
    for (const app of NATS_ONLY_APPS) expect((await fetch(`${platform.operationsUrls[app]}/v1/providers`)).status).toBe(404);
  });

  it('carries a request id through query-api, the refresher, vault and the event as the correlation id of logs and metadata', async () => {
    const requestId = `ops-trace-${Date.now()}`;
    const { status } = await credential('discord', 'traced', { 'x-request-id': requestId });
    expect(status).toBe(200);
    const connectionId = connectionIdFor(TENANT, 'discord', 'traced');
    const store = await JetStreamEventStore.create(nats);
    const refreshed = (await store.readStream(connectionStream(connectionId))).filter((e) => e.type === 'Refreshed').at(-1);
    expect(refreshed?.metadata.correlationId).toBe(requestId);
    await eventually(async () => {
      const apps = new Set(jsonLines().filter((l) => l.correlationId === requestId).map((l) => l.app));
      return ['query-api', 'refresher', 'vault'].every((app) => apps.has(app)) ? true : undefined;
    }, 5_000, 'lines of query-api, the refresher and vault with the request id');
    const traced = jsonLines().filter((l) => l.correlationId === requestId);
    expect(traced.find((l) => l.app === 'query-api' && l.context === 'Http')?.message).toMatch(/^GET \/v1\/credentials\/:provider\/:userId 200 in \d+ ms$/);
    expect(traced.some((l) => l.app === 'vault' && l.message.startsWith('authpipe.vault.credential.store answered ok'))).toBe(true);
  });

  it('keeps secrets out of every log line, whatever path they took', async () => {
    const planted = (name: string) => {
      const secret = `${name}-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
      secrets.push(secret);
      return secret;
    };
    const invalidKey = `apk_AAAAAAAAAAAA_${planted('k').padEnd(43, 'x').slice(0, 43)}`;
    // HTTP: secrets in bodies (valid, unknown fields, malformed JSON), headers and query strings.
    await api('/v1/connect-sessions', { method: 'POST', body: JSON.stringify({ provider: 'discord', userId: 'u1', access_token: planted('body-field') }) });
    await api('/v1/integrations/discord', { method: 'PUT', body: `{"clientId":"x","clientSecret":"${planted('malformed')}"` });
    await fetch(`${platform.queryUrl}/v1/connections`, { headers: { authorization: `Bearer ${planted('bearer')}` } });
    await fetch(`${platform.queryUrl}/v1/connections`, { headers: { authorization: `Bearer ${invalidKey}`, cookie: `session=${planted('cookie')}` } });
    await api(`/v1/connections?access_token=${planted('query')}&limit=5`);
    await fetch(`${platform.gatewayUrl}/v1/connect/start?session=${planted('session')}`);
    await fetch(`${platform.gatewayUrl}/v1/oauth/callback/discord?code=${planted('code')}&state=${planted('state')}`);
    // NATS: a credential store with tokens in an invalid payload, straight to vault.
    const codec = JSONCodec();
    const subject = 'authpipe.vault.credential.store';
    const payload = { tenantId: 'Not Valid', connectionId: 'x', provider: 'discord', credential: { type: 'oauth2', accessToken: planted('rpc-access'), refreshToken: planted('rpc-refresh') } };
    const reply = codec.decode((await nats.request(subject, codec.encode({ pattern: subject, data: payload, id: 'ops-1' }), { timeout: 5_000 })).data) as { err?: { code: string } };
    expect(reply.err?.code).toBe('INVALID_REQUEST');
    // Failing provider calls whose answers quote secrets: an OAuth error, a 500 whose body holds a token.
    await discord.faults({ token: { status: 400, error: 'invalid_request', error_description: `refresh_token ${planted('provider-desc')} is malformed`, times: 1, grantType: 'refresh_token' } });
    expect(refreshFailed(await credential('discord', 'failing'))).toBe(true);
    await discord.faults({ token: { status: 500, body: { access_token: planted('provider-body'), message: `Bearer ${planted('provider-bearer')}` }, times: 2, grantType: 'refresh_token' } });
    expect(refreshFailed(await credential('discord', 'failing'))).toBe(true);
    await discord.faults({ token: null });
    expect(refreshFailed(await credential('discord', 'failing'))).toBe(false);

    await sleep(500);
    const logs = [...platform.logs, ...replicaLines].join('\n');
    for (const secret of secrets) expect(logs).not.toContain(secret);
    // The errors were logged all the same, without what they quoted.
    expect(jsonLines().some((l) => l.app === 'refresher' && /refresh of con_\S+ \(discord\) failed/.test(l.message))).toBe(true);
  });

  // After the tests that send anonymous requests: this one uses up query-api's anonymous budget for a minute.
  it('exempts the health and metrics endpoints from the rate limits', async () => {
    for (const path of ['/health/live', '/health/ready', '/metrics']) {
      const statuses = await Promise.all(Array.from({ length: ANONYMOUS_PER_MINUTE + 10 }, async () => (await fetch(`${platform.queryUrl}${path}`)).status));
      expect(new Set(statuses)).toEqual(new Set([200]));
    }
    // The same number of anonymous API requests is over the limit.
    const statuses = await Promise.all(Array.from({ length: ANONYMOUS_PER_MINUTE + 10 }, async () => (await fetch(`${platform.queryUrl}/v1/providers`)).status));
    expect(statuses).toContain(429);
  });

  it('writes every line of every app as one JSON object with time, level, app and message', () => {
    expect(platform.logs.length).toBeGreaterThan(50);
    for (const line of platform.logs) {
      const json = line.slice(line.indexOf('] ') + 2);
      expect(() => JSON.parse(json)).not.toThrow();
      expect(JSON.parse(json)).toEqual(expect.objectContaining({ time: expect.any(String), level: expect.any(String), app: line.slice(1, line.indexOf(']')), message: expect.any(String) }));
    }
  });

  it('serves Prometheus metrics on every app: requests, refreshes, probes, projection lag, vault operations', async () => {
    const metrics = async (app: string) => (await fetch(`${platform.operationsUrls[app]}/metrics`)).text();
    await eventually(async () => (sampled(await metrics('health-monitor'), 'authpipe_probes_total', { provider: 'gmail', outcome: 'healthy', answer: '200' }) ? true : undefined), 10_000, 'a probe counted');
    const expected: Record<string, [string, Record<string, string>][]> = {
      'oauth-gateway': [['authpipe_http_request_duration_seconds_count', { method: 'POST', route: '/v1/connect-sessions', status: '201' }]],
      'query-api': [
        ['authpipe_http_request_duration_seconds_count', { method: 'GET', route: '/v1/credentials/:provider/:userId', status: '200' }],
        ['authpipe_projection_lag_seconds_count', { projector: 'query-api', phase: 'live' }],
        ['authpipe_projector_position', { projector: 'query-api' }],
        ['authpipe_rpc_request_duration_seconds_count', { subject: 'authpipe.query.integration.get', outcome: 'ok' }],
      ],
      vault: [
        ['authpipe_vault_operations_total', { operation: 'credential.read', outcome: 'ok' }],
        ['authpipe_vault_operations_total', { operation: 'credential.store', outcome: 'INVALID_REQUEST' }],
        ['authpipe_vault_operation_duration_seconds_count', { operation: 'credential.store', outcome: 'ok' }],
      ],
      refresher: [
        // Scheduled or on demand, depending on which comes first for the short-lived token: either is a refresh.
        ['authpipe_refresh_flights_total', { outcome: 'refreshed', failure_class: 'none' }],
        ['authpipe_refresh_duration_seconds_count', { outcome: 'refreshed' }],
        ['authpipe_rpc_request_duration_seconds_count', { subject: 'authpipe.refresher.refresh', outcome: 'ok' }],
      ],
      'health-monitor': [['authpipe_probe_duration_seconds_count', { provider: 'gmail', outcome: 'healthy' }]],
    };
    for (const [app, series] of Object.entries(expected)) {
      const text = await metrics(app);
      expect({ app, process: sampled(text, 'process_cpu_user_seconds_total', { app }) }).toEqual({ app, process: true });
      for (const [name, labels] of series) expect({ app, name, labels, counted: sampled(text, name, { ...labels, app }) }).toEqual({ app, name, labels, counted: true });
    }
  });

  it('SIGTERM mid-load: in-flight refreshes finish and are stored, every read is answered or retried, exit 0', async () => {
    const connectionIds = LOAD_USERS.map((u) => connectionIdFor(TENANT, 'discord', u));
    const before = await discord.stats();
    // A slow token endpoint: refreshes are in flight whenever the signal comes, and outlast the NATS grace period.
    await discord.faults({ token: { delayMs: 4_000, grantType: 'refresh_token' } });
    const statuses: number[] = [];
    let stop = false;
    const load = LOAD_USERS.map(async (user) => {
      while (!stop) {
        const { status, retryAfter } = await credential('discord', user);
        statuses.push(status);
        if (status === 503) await sleep(retryAfter * 1000);
        else if (status !== 200) return;
      }
    });
    await sleep(1_200);
    const refresher = platform.children.get('refresher')!;
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => refresher.once('exit', (code, signal) => resolve({ code, signal })));
    const signalledAt = Date.now();
    refresher.kill('SIGTERM');
    const exit = await exited;
    const stoppedAfterMs = Date.now() - signalledAt;
    // Reads go on against the other replica, the retried ones included.
    await sleep(3_000);
    stop = true;
    await Promise.all(load);
    await discord.faults({ token: null });

    const lines = jsonLines().filter((l) => l.app === 'refresher');
    const waited = lines.find((l) => l.message.startsWith('shutting down: waiting up to'));
    console.log(`operations e2e: refresher stopped ${stoppedAfterMs} ms after SIGTERM (${waited?.message ?? 'nothing in flight after the grace period'}); reads: ${statuses.length}, ${statuses.filter((s) => s === 503).length} answered 503 and retried`);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(stoppedAfterMs).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
    expect(waited?.message).toMatch(/[1-9]\d* refresh flights in flight/);
    expect(lines.some((l) => l.message.startsWith('in-flight work finished'))).toBe(true);
    // Every read answered: a token, or 503 with Retry-After and then a token.
    expect(statuses.filter((s) => s !== 200 && s !== 503)).toEqual([]);

    // No connection lost its credential: the provider rotated every refresh token it was sent, so a refresh whose
    // result had not been stored would make the next refresh reuse a spent token (invalid_grant, the grant revoked).
    for (const user of LOAD_USERS) {
      const { status, body } = await credential('discord', user);
      expect({ user, status }).toEqual({ user, status: 200 });
      expect({ user, probe: (await fetch(discord.probeEndpoint, { headers: { authorization: `Bearer ${body.accessToken}` } })).status }).toEqual({ user, probe: 200 });
    }
    const after = await discord.stats();
    expect(after.token_errors.invalid_grant ?? 0).toBe(before.token_errors.invalid_grant ?? 0);
    const store = await JetStreamEventStore.create(nats);
    for (const id of connectionIds) expect((await store.readStream(connectionStream(id))).filter((e) => e.type === 'Revoked')).toEqual([]);
    // And what the refresher appended agrees with vault: each Refreshed names a version, none skipped.
    for (const id of connectionIds) {
      const versions = (await store.readStream(connectionStream(id))).map((e) => (e.data as { credentialVersion?: number }).credentialVersion).filter((v) => v !== undefined);
      expect(versions).toEqual(versions.map((_, i) => i + 1));
    }
  }, 120_000);
});
