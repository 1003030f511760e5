import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { connect, NatsConnection } from 'nats';
import { connectionIdFor, RecordedEvent } from '@authpipe/contracts';
import { JetStreamEventStore, EventSubscription } from '@authpipe/event-store';
import { browse, CookieJar } from '../support/oauth-server/browser-less';
import { OAuthServerHandle, startOAuthServer } from '../support/oauth-server/spawn';
import { eventually, gatewayUrlFor, reservePorts, startTestPlatform, TestPlatform } from '../support/test-platform';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startApps } = require('../../scripts/lib/platform.js') as {
  startApps(options: {
    natsUrl: string;
    env: Record<string, string>;
    apps: string[];
    onLine?: (app: string, line: string) => void;
  }): Promise<{ stop(): Promise<void>; children: Map<string, ChildProcess> }>;
};

/*
 * The refresher as three replicas (the platform's one and two more processes on the same nats-server) keeping 200
 * Discord-like connections valid through rotating refreshes: a local oidc-provider with 24 s access tokens,
 * rotation and reuse detection (a refresh token used twice revokes the whole grant), and a catalog overlay of a
 * 10 s margin and 2 s jitter, so a refresh cycle is 12-14 s. Then, while 503s with Retry-After make flights hold
 * their lock through a backoff pause, one replica is killed with SIGKILL mid-cycle: the survivors take its locks
 * over after the lease. Every call the token endpoint saw is accounted for by an event. Plus, on a Google-like server, on-demand reads:
 * concurrent reads on different replicas share one refresh, transient failures are retried honouring
 * Retry-After, invalid_grant revokes.
 */

const TENANT = 'org_refresh';
const CONNECTIONS = 200;
const CONNECT_CONCURRENCY = 20;
const TTL_SECONDS = 24;
const MARGIN_SECONDS = 10;
const JITTER_SECONDS = 2;
const LEASE_MS = 5_000;
const FAULTS = 30;
const GMAIL_READONLY = 'https://www.googleapis.com/auth/gmail.readonly';

const users = Array.from({ length: CONNECTIONS }, (_, i) => `d${String(i).padStart(3, '0')}`);
const connectionOf = (userId: string, provider = 'discord') => connectionIdFor(TENANT, provider, userId);

describe('refresher: three replicas, 200 rotating connections, a replica killed', () => {
  let discord: OAuthServerHandle;
  let google: OAuthServerHandle;
  let platform: TestPlatform;
  let apiKey: string;
  let dir: string;
  let nats: NatsConnection;
  let subscription: EventSubscription;
  const events: RecordedEvent[] = [];
  const replicas: { name: string; handle: { stop(): Promise<void>; children: Map<string, ChildProcess> }; lines: string[] }[] = [];
  const secretsSeen: string[] = [];

  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${path.startsWith('/v1/connect-sessions') ? platform.gatewayUrl : platform.queryUrl}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
    });
  const ofType = (type: string, connectionId?: string) => events.filter((e) => e.type === type && (!connectionId || (e.data as { connectionId?: string }).connectionId === connectionId));
  const refreshedOf = (connectionId: string) => ofType('Refreshed', connectionId) as RecordedEvent<{ type: 'Refreshed'; data: { connectionId: string; tenantId: string; provider: string; expiresAt: string | null; credentialVersion: number; rotated: boolean } }>[];
  const revokedIds = () => new Set(ofType('Revoked').map((e) => (e.data as { connectionId: string }).connectionId));
  const discordIds = users.map((u) => connectionOf(u));

  async function connectUser(provider: string, userId: string, scopes: string[]): Promise<void> {
    const session = await api('/v1/connect-sessions', { method: 'POST', body: JSON.stringify({ provider, userId, scopes }) });
    if (session.status !== 201) throw new Error(`session for ${userId}: ${session.status}`);
    const { connectUrl } = (await session.json()) as { connectUrl: string };
    const result = await browse(connectUrl, { jar: new CookieJar() });
    if (result.response.status !== 200) throw new Error(`connect ${userId}: ${result.response.status} ${result.body.slice(0, 200)}`);
  }

  async function credential(provider: string, userId: string) {
    const res = await api(`/v1/credentials/${provider}/${userId}`);
    const body = (await res.json()) as { accessToken?: string; expiresAt?: string; code?: string };
    if (body.accessToken) secretsSeen.push(body.accessToken);
    return { status: res.status, body };
  }

  async function startReplica(name: string, env: Record<string, string>) {
    const lines: string[] = [];
    let markReady: () => void;
    const ready = new Promise<void>((resolve) => (markReady = resolve));
    const handle = await startApps({
      natsUrl: platform.nats.url,
      env,
      apps: ['refresher'],
      onLine: (_app, line) => {
        lines.push(line);
        if (process.env.AUTHPIPE_E2E_LOGS === '1') process.stdout.write(`[${name}] ${line}\n`);
        if (line.includes('refresher ready on NATS')) markReady();
      },
    });
    // The launcher's health check is answered by any replica: wait for this process's own line.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([ready, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${name} did not start: ${lines.slice(-20).join('\n')}`)), 30_000)))]);
    clearTimeout(timer);
    replicas.push({ name, handle, lines });
  }

  beforeAll(async () => {
    const ports = await reservePorts();
    const redirect = (provider: string) => `${gatewayUrlFor(ports)}/v1/oauth/callback/${provider}`;
    discord = await startOAuthServer({
      profile: 'discord',
      accessTokenTtlSeconds: TTL_SECONDS,
      clients: [{ client_id: 'discord-client', client_secret: 'discord-secret-e2e', redirect_uris: [redirect('discord')] }],
    });
    google = await startOAuthServer({
      profile: 'google',
      accessTokenTtlSeconds: 600,
      clients: [{ client_id: 'gmail-client', client_secret: 'gmail-secret-e2e', redirect_uris: [redirect('gmail')] }],
    });
    secretsSeen.push('discord-secret-e2e', 'gmail-secret-e2e');
    const oauth2 = (s: OAuthServerHandle) => ({ authorizationUrl: s.authorizationEndpoint, tokenUrl: s.tokenEndpoint, revocationUrl: s.revocationEndpoint, issuer: s.issuer });
    const providers = {
      discord: { oauth2: { ...oauth2(discord), refresh: { marginSeconds: MARGIN_SECONDS, jitterSeconds: JITTER_SECONDS } }, probe: { url: discord.probeEndpoint } },
      // Tokens of 600 s inside a 3000 s margin: every read refreshes on demand, and the schedule (at half the
      // lifetime, 300 s) stays out of these tests.
      gmail: { oauth2: { ...oauth2(google), refresh: { marginSeconds: 3000, jitterSeconds: 0 } }, probe: { url: google.probeEndpoint } },
    };
    const env = {
      REFRESH_LOCK_LEASE_MS: String(LEASE_MS),
      PROVIDER_TIMEOUT_MS: '2000',
      AUTHPIPE_RPC_TIMEOUT_MS: '2500',
      REFRESH_SCAN_INTERVAL_MS: '250',
      PROBE_INTERVAL_SECONDS: '86400',
      // 200 browser flows from one address in seconds, and 200 credential reads.
      RATE_LIMIT_ANONYMOUS_PER_MINUTE: '100000',
      RATE_LIMIT_PER_MINUTE: '100000',
    };
    platform = await startTestPlatform({ ports, providers, env });
    dir = mkdtempSync(join(tmpdir(), 'authpipe-refresher-e2e-'));
    const providersFile = join(dir, 'providers.json');
    writeFileSync(providersFile, JSON.stringify(providers));
    await startReplica('refresher-2', { ...env, AUTHPIPE_PROVIDERS_FILE: providersFile, AUTHPIPE_LOG_LEVEL: 'debug' });
    await startReplica('refresher-3', { ...env, AUTHPIPE_PROVIDERS_FILE: providersFile, AUTHPIPE_LOG_LEVEL: 'debug' });

    nats = await connect({ servers: platform.nats.url, name: 'refresher-e2e' });
    const store = await JetStreamEventStore.create(nats);
    subscription = store.subscribeToAll(async (event) => {
      events.push(event);
    });

    const admin = (path: string, body: unknown) =>
      fetch(`${platform.queryUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${platform.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await admin('/v1/admin/tenants', { tenantId: TENANT, name: 'Refresh' })).status).toBe(201);
    apiKey = ((await (await admin(`/v1/admin/tenants/${TENANT}/api-keys`, {})).json()) as { apiKey: string }).apiKey;
    secretsSeen.push(apiKey);
    for (const [provider, clientId, clientSecret, scopes] of [
      ['discord', 'discord-client', 'discord-secret-e2e', ['identify']],
      ['gmail', 'gmail-client', 'gmail-secret-e2e', [GMAIL_READONLY]],
    ] as const) {
      const res = await api(`/v1/integrations/${provider}`, { method: 'PUT', body: JSON.stringify({ clientId, clientSecret, scopes }) });
      expect(res.status).toBe(200);
    }
  }, 90_000);

  afterAll(async () => {
    await subscription?.stop();
    await nats?.close();
    await Promise.all(replicas.map((r) => r.handle.stop()));
    await platform?.stop();
    await discord?.stop();
    await google?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe('on demand (Google-like server, every read inside the margin)', () => {
    it('concurrent reads landing on different replicas share one refresh: the others wait for the holder', async () => {
      await connectUser('gmail', 'g_wait', [GMAIL_READONLY]);
      await eventually(async () => (ofType('Connected', connectionOf('g_wait', 'gmail')).length ? true : undefined), 10_000, 'g_wait connected');
      await eventually(async () => ((await credential('gmail', 'g_wait')).status === 200 ? true : undefined), 10_000, 'g_wait readable');
      const before = (await google.stats()).token_requests.refresh_token ?? 0;
      // A slow token endpoint, so that every read arrives while the first refresh is still in flight.
      await google.faults({ token: { delayMs: 1500, grantType: 'refresh_token', times: 1 } });
      const reads = await Promise.all(Array.from({ length: 12 }, () => credential('gmail', 'g_wait')));
      expect(reads.map((r) => r.status)).toEqual(Array(12).fill(200));
      expect((await google.stats()).token_requests.refresh_token).toBe(before + 1);
      expect(new Set(reads.map((r) => r.body.accessToken)).size).toBe(1);
      expect((await fetch(google.probeEndpoint, { headers: { authorization: `Bearer ${reads[0].body.accessToken}` } })).status).toBe(200);
    });

    it('retries a transient failure after Retry-After, reporting each failed attempt', async () => {
      await connectUser('gmail', 'g_retry', [GMAIL_READONLY]);
      await eventually(async () => (ofType('Connected', connectionOf('g_retry', 'gmail')).length ? true : undefined), 10_000, 'g_retry connected');
      await google.faults({ token: { status: 503, retryAfter: 1, times: 2, grantType: 'refresh_token' } });
      const started = Date.now();
      const { status } = await credential('gmail', 'g_retry');
      expect(status).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(2_000); // two pauses of at least Retry-After
      const id = connectionOf('g_retry', 'gmail');
      await eventually(async () => (refreshedOf(id).length ? true : undefined), 5_000, 'Refreshed');
      expect(ofType('RefreshFailed', id).map((e) => e.data)).toEqual([
        expect.objectContaining({ failure: 'transient', willRetry: true, attempt: 1 }),
        expect.objectContaining({ failure: 'transient', willRetry: true, attempt: 2 }),
      ]);
    });

    it('turns invalid_grant into Revoked after checking it was not a race, and the read says so', async () => {
      await connectUser('gmail', 'g_revoked', [GMAIL_READONLY]);
      const id = connectionOf('g_revoked', 'gmail');
      await eventually(async () => (ofType('Connected', id).length ? true : undefined), 10_000, 'g_revoked connected');
      const { body } = await credential('gmail', 'g_revoked');
      await google.revokeGrant({ access_token: body.accessToken! });
      const res = await credential('gmail', 'g_revoked');
      expect(res.status).toBe(409);
      expect(res.body.code).toBe('CONNECTION_REVOKED');
      expect(ofType('Revoked', id).map((e) => e.data)).toEqual([expect.objectContaining({ reason: 'invalid_grant', detectedBy: 'refresher' })]);
    });
  });

  describe('scheduled (Discord-like server: rotation with reuse detection)', () => {
    let connectedAt = 0;

    it(`connects ${CONNECTIONS} users, ${CONNECT_CONCURRENCY} at a time`, async () => {
      const started = Date.now();
      const queue = [...users];
      await Promise.all(
        Array.from({ length: CONNECT_CONCURRENCY }, async () => {
          for (let user = queue.shift(); user; user = queue.shift()) await connectUser('discord', user, ['identify']);
        }),
      );
      await eventually(async () => (discordIds.every((id) => ofType('Connected', id).length) ? true : undefined), 20_000, 'every Connected');
      connectedAt = Date.now();
      console.log(`refresher e2e: ${CONNECTIONS} discord connections in ${connectedAt - started} ms`);
    }, 60_000);

    it('refreshes every connection ahead of expiry, exactly once per cycle, spread over the three replicas', async () => {
      await eventually(async () => (discordIds.every((id) => refreshedOf(id).length >= 3) ? true : undefined), 75_000, 'three refresh cycles');
      const cycleTime = (Date.now() - connectedAt) / 1000;
      const gaps = gapsOf(discordIds);
      // Two refreshes in one cycle would be closer than half the token lifetime; a gap of the lifetime is an expiry.
      // (Expiry is computed when the token arrives, the event written a little later: a second of slack.)
      expect(Math.min(...gaps)).toBeGreaterThanOrEqual((TTL_SECONDS / 2) * 1000 - 1_000);
      expect(Math.max(...gaps)).toBeLessThan(TTL_SECONDS * 1000);
      expect(ofType('Revoked').filter((e) => (e.data as { provider: string }).provider === 'discord')).toHaveLength(0);
      expect(ofType('RefreshFailed').filter((e) => (e.data as { provider: string }).provider === 'discord')).toHaveLength(0);
      const perReplica = refreshesPerReplica();
      for (const count of Object.values(perReplica)) expect(count).toBeGreaterThan(0);
      console.log(
        `refresher e2e: 3 cycles for ${CONNECTIONS} connections in ${cycleTime.toFixed(1)} s; gap between refreshes of a connection ` +
          `${(Math.min(...gaps) / 1000).toFixed(1)}-${(Math.max(...gaps) / 1000).toFixed(1)} s (token ${TTL_SECONDS} s, margin ${MARGIN_SECONDS} s, ` +
          `jitter ${JITTER_SECONDS} s); refreshes per replica ${JSON.stringify(perReplica)}`,
      );
    }, 90_000);

    it('survives SIGKILL of a replica mid-cycle: every loss is detected and reported, every call accounted for', async () => {
      // The next refreshes get 503 with Retry-After: 2, so flights hold their lock through a backoff pause. The
      // victim is killed right after it starts such a pause: it dies holding a lock, which must be taken over.
      const victim = replicas[1];
      await discord.faults({ token: { status: 503, retryAfter: 2, times: FAULTS, grantType: 'refresh_token' } });
      await eventually(async () => (victim.lines.some((l) => l.includes('(discord) failed: transient') && l.includes('retrying in')) ? true : undefined), 30_000, 'the victim in a backoff pause');
      const killedAt = Date.now();
      victim.handle.children.get('refresher')!.kill('SIGKILL');
      const refreshedAfter = (id: string) => refreshedOf(id).filter((e) => Date.parse(e.metadata.occurredAt) > killedAt).length;

      // Every connection refreshed after the kill (those the victim held: once its lease ran out), or revoked.
      await eventually(
        async () => (discordIds.every((id) => revokedIds().has(id) || refreshedAfter(id) >= 1) ? true : undefined),
        45_000,
        'every connection refreshed after the kill',
      );
      // Quiesce: the next refresh of each connection gets a week-long token, after which nothing is due.
      await discord.settings({ accessTokenTtlSeconds: 604_800 });
      const settledFrom = Date.now();
      const quiet = (id: string) => {
        const last = refreshedOf(id).at(-1);
        return revokedIds().has(id) || (last?.data.expiresAt && Date.parse(last.data.expiresAt) > settledFrom + 3_600_000);
      };
      await eventually(async () => (discordIds.every(quiet) ? true : undefined), 40_000, 'every connection on a long token');
      await new Promise((r) => setTimeout(r, 1_000));

      const revoked = new Set(discordIds.filter((id) => revokedIds().has(id)));
      const live = discordIds.filter((id) => !revoked.has(id));
      // No connection expired: between its refreshes, and up to the long token, no gap reached the lifetime.
      expect(Math.max(...gapsOf(live))).toBeLessThan(TTL_SECONDS * 1000);

      // Accounting of every call the token endpoint saw.
      const stats = await discord.stats();
      const calls = stats.token_requests.refresh_token ?? 0;
      const refreshed = discordIds.reduce((n, id) => n + refreshedOf(id).length, 0);
      const invalidGrants = stats.token_errors.invalid_grant ?? 0;
      // A credential stored by the victim whose Refreshed it could not append shows as a skipped version.
      const storedWithoutEvent = discordIds.reduce((n, id) => n + skippedVersions(id), 0);
      // A loss: the provider rotated, the victim died before storing; the next holder's refresh gets invalid_grant.
      const losses = revoked.size;
      const takeovers = [harnessReplica(), ...replicas].reduce((n, r) => n + r.lines.filter((l) => l.includes('took over the refresh lock')).length, 0);
      console.log(
        `refresher e2e: SIGKILL of ${victim.name}: ${losses} connection(s) lost and revoked, ${takeovers} lock takeover(s) after the lease, ` +
          `${storedWithoutEvent} refresh(es) stored without their event; token endpoint: ${calls} refresh calls = ${refreshed} Refreshed + ` +
          `${stats.faults_injected.token ?? 0} injected 503 (retried) + ${storedWithoutEvent} stored without event + ${invalidGrants} invalid_grant + ` +
          `${calls - refreshed - (stats.faults_injected.token ?? 0) - storedWithoutEvent - invalidGrants} lost in flight`,
      );
      const faulted = stats.faults_injected.token ?? 0;
      const failed = ofType('RefreshFailed').filter((e) => (e.data as { provider: string }).provider === 'discord');
      expect(faulted).toBe(FAULTS);
      expect(failed).toHaveLength(FAULTS);
      expect(failed.every((e) => (e.data as { failure: string; willRetry: boolean }).failure === 'transient')).toBe(true);
      expect(takeovers).toBeGreaterThanOrEqual(1);
      expect(invalidGrants).toBe(losses);
      // Each lost connection costs exactly the call whose answer died with the victim (and its invalid_grant).
      expect(calls).toBe(refreshed + storedWithoutEvent + 2 * losses + faulted);
      expect(losses).toBeLessThanOrEqual(3);

      // What platform teams see agrees: revoked connections in the read model, inactive grants at the provider.
      expect(await countConnections('revoked')).toBe(losses);
      expect(await countConnections('connected')).toBe(CONNECTIONS - losses);
      const inactive = (await discord.grants()).filter((g) => g.client_id === 'discord-client' && !g.active);
      expect(inactive).toHaveLength(losses);

      // Every other connection's current token works at the provider.
      const live200 = await Promise.all(
        users
          .filter((u) => !revoked.has(connectionOf(u)))
          .map(async (u) => {
            const { status, body } = await credential('discord', u);
            if (status !== 200) return status;
            return (await fetch(discord.probeEndpoint, { headers: { authorization: `Bearer ${body.accessToken}` } })).status;
          }),
      );
      expect(live200.filter((s) => s !== 200)).toEqual([]);
      expect(live200).toHaveLength(CONNECTIONS - losses);
    }, 120_000);

    it('never wrote a token or client secret to any log', () => {
      const logs = [...platform.logs, ...replicas.flatMap((r) => r.lines)].join('\n');
      for (const secret of secretsSeen) expect(logs).not.toContain(secret);
    });
  });

  /** Discord connections with a status in query-api's read model, page by page. */
  async function countConnections(status: string): Promise<number> {
    let count = 0;
    for (let cursor: string | undefined, first = true; first || cursor; first = false) {
      const res = await api(`/v1/connections?provider=discord&status=${status}&limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(res.status).toBe(200);
      const page = (await res.json()) as { items: unknown[]; next?: string };
      count += page.items.length;
      cursor = page.next;
    }
    return count;
  }

  /** Times between a connection's Connected and its Refreshed events, and between consecutive Refreshed. */
  function gapsOf(ids: string[]): number[] {
    return ids.flatMap((id) => {
      const times = [...ofType('Connected', id), ...refreshedOf(id)].map((e) => Date.parse(e.metadata.occurredAt)).sort((a, b) => a - b);
      return times.slice(1).map((t, i) => t - times[i]);
    });
  }

  /** Versions stored in vault without a Refreshed event (the writer died between the two). */
  function skippedVersions(id: string): number {
    const versions = [...ofType('Connected', id), ...refreshedOf(id)].map((e) => (e.data as { credentialVersion: number }).credentialVersion).sort((a, b) => a - b);
    return versions.slice(1).reduce((n, v, i) => n + (v - versions[i] - 1), 0);
  }

  function harnessReplica() {
    return { name: 'refresher-1', lines: platform.logs.filter((l) => l.startsWith('[refresher]')) };
  }

  function refreshesPerReplica(): Record<string, number> {
    const count = (lines: string[]) => lines.filter((l) => l.includes('(discord) to version')).length;
    return Object.fromEntries([harnessReplica(), ...replicas].map((r) => [r.name, count(r.lines)]));
  }
});
