import { connect, NatsConnection } from 'nats';
import { connectionIdFor, RecordedEvent } from '@authpipe/contracts';
import { EventSubscription, JetStreamEventStore } from '@authpipe/event-store';
import { FakeClickSend, startFakeClickSend } from '../support/fake-clicksend';
import { browse, CookieJar } from '../support/oauth-server/browser-less';
import { FaultSpec, OAuthServerHandle, startOAuthServer } from '../support/oauth-server/spawn';
import { eventually, gatewayUrlFor, reservePorts, startTestPlatform, TestPlatform } from '../support/test-platform';

/*
 * A provider that is slow (10 s, far above the platform's PROVIDER_TIMEOUT_MS of 1.5 s here), that answers 500, or
 * that answers garbage, at every place Authpipe calls one: the refresh (on demand, through the credential endpoint),
 * the code exchange at the callback, the probe, ClickSend's key verification, and the revocation on disconnect.
 * Each call must end with its classification (never with success after 10 s: the timeout code proves the bound),
 * leave the connection as it was (connected, never Revoked), leave no refresh lock behind (once the fault is
 * cleared a refresh succeeds at once), and keep the garbage (which plants a token) out of every log line.
 *
 * Gmail-like server: access tokens of 600 s inside a 3000 s margin, so every credential read refreshes on demand
 * and the schedule stays out of the way; while the refresh fails the read serves the current token (still valid for
 * minutes) with `Authpipe-Refresh: failed; code=...`, and answers the failure only for a token about to expire.
 * Discord-like server: probed every second.
 */

const TENANT = 'org_faults';
const SLOW_MS = 10_000;
const TIMEOUT_MS = 1_500;
const MAX_ATTEMPTS = 4;
const GMAIL_READONLY = 'https://www.googleapis.com/auth/gmail.readonly';
/** Planted in every garbage body: a token-looking string that must never be logged or echoed. */
const PLANTED = 'planted-PLANTED-token-in-a-garbage-body';
const HTML = `<html><head><title>Sign in</title></head><body>Portal ${PLANTED}</body></html>`;

/** Every kind of garbage a token endpoint may answer with, as oauth-server faults. */
const GARBAGE: [string, FaultSpec][] = [
  ['an HTML page', { status: 200, body: HTML, contentType: 'text/html' }],
  ['truncated JSON', { status: 200, body: `{"access_token":"${PLANTED}","token_ty`, contentType: 'application/json' }],
  ['JSON of the wrong shape', { status: 200, body: JSON.stringify([PLANTED]), contentType: 'application/json' }],
  ['a 200 without access_token', { status: 200, body: { token_type: 'Bearer', refresh_token: PLANTED, expires_in: 3600 } }],
  ['a 200 saying invalid_grant', { status: 200, body: { error: 'invalid_grant' } }],
  ['a 400 saying invalid_grant in HTML', { status: 400, body: '{"error":"invalid_grant"}', contentType: 'text/html' }],
  ['an empty body', { status: 200, body: '', contentType: 'application/json' }],
  ['a huge body (5 MB)', { status: 200, body: `{"access_token":"${PLANTED}","pad":"`, bodyBytes: 5_000_000 }],
];

describe('provider faults: slow, 500, garbage', () => {
  let google: OAuthServerHandle;
  let discord: OAuthServerHandle;
  let clicksend: FakeClickSend;
  let platform: TestPlatform;
  let apiKey: string;
  let nats: NatsConnection;
  let subscription: EventSubscription;
  const events: RecordedEvent[] = [];
  const secrets = ['gmail-secret-faults', 'discord-secret-faults', 'clicksend-key-faults'];

  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${/^\/v1\/(connect-sessions|api-key-connections)/.test(path) ? platform.gatewayUrl : platform.queryUrl}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
    });
  const eventsOf = (type: string, connectionId: string) =>
    events.filter((e) => e.type === type && (e.data as { connectionId?: string }).connectionId === connectionId).map((e) => e.data as unknown as Record<string, unknown>);
  const connectionOf = (provider: string, userId: string) => connectionIdFor(TENANT, provider, userId);

  async function startConnect(provider: string, userId: string, scopes: string[]) {
    const session = await api('/v1/connect-sessions', { method: 'POST', body: JSON.stringify({ provider, userId, scopes }) });
    expect(session.status).toBe(201);
    const { connectUrl } = (await session.json()) as { connectUrl: string };
    return browse(connectUrl, { jar: new CookieJar() });
  }

  async function connectUser(provider: string, userId: string, scopes: string[]): Promise<string> {
    const result = await startConnect(provider, userId, scopes);
    expect(result.response.status).toBe(200);
    const id = connectionOf(provider, userId);
    await eventually(async () => (eventsOf('Connected', id).length ? true : undefined), 15_000, `${userId} connected`);
    return id;
  }

  async function credential(provider: string, userId: string) {
    const res = await api(`/v1/credentials/${provider}/${userId}`);
    const body = (await res.json()) as { accessToken?: string; expiresAt?: string; code?: string; detail?: string };
    if (body.accessToken) secrets.push(body.accessToken);
    return { status: res.status, body, retryAfter: res.headers.get('retry-after'), type: res.headers.get('content-type'), refresh: res.headers.get('authpipe-refresh') };
  }

  /** The current token served through a failed refresh: 200, the failure's code in Authpipe-Refresh, the expiry it had. */
  const servedThrough = (code: string, id: string) => ({
    status: 200,
    refresh: `failed; code=${code}`,
    body: { accessToken: expect.any(String), expiresAt: (eventsOf('Connected', id)[0] as { expiresAt: string }).expiresAt },
  });

  /** Once the fault is cleared a refresh succeeds promptly: no lock was left behind. */
  async function refreshesAgain(userId: string): Promise<void> {
    await eventually(
      async () => {
        const read = await credential('gmail', userId);
        return read.status === 200 && read.refresh === null ? true : undefined;
      },
      20_000,
      `${userId} refreshes again`,
    );
  }

  async function statusOf(connectionId: string): Promise<string> {
    const res = await api(`/v1/connections/${connectionId}`);
    return ((await res.json()) as { status: string }).status;
  }

  beforeAll(async () => {
    const ports = await reservePorts();
    const redirect = (provider: string) => `${gatewayUrlFor(ports)}/v1/oauth/callback/${provider}`;
    google = await startOAuthServer({
      profile: 'google',
      accessTokenTtlSeconds: 600,
      clients: [{ client_id: 'gmail-client', client_secret: 'gmail-secret-faults', redirect_uris: [redirect('gmail')] }],
    });
    discord = await startOAuthServer({
      profile: 'discord',
      accessTokenTtlSeconds: 7200,
      clients: [{ client_id: 'discord-client', client_secret: 'discord-secret-faults', redirect_uris: [redirect('discord')] }],
    });
    clicksend = await startFakeClickSend({ accounts: { acme_sms: 'clicksend-key-faults' } });
    const oauth2 = (s: OAuthServerHandle) => ({ authorizationUrl: s.authorizationEndpoint, tokenUrl: s.tokenEndpoint, revocationUrl: s.revocationEndpoint, issuer: s.issuer });
    platform = await startTestPlatform({
      ports,
      providers: {
        gmail: { oauth2: { ...oauth2(google), refresh: { marginSeconds: 3000, jitterSeconds: 0 } }, probe: { url: google.probeEndpoint } },
        // Outside its refresh margin for the whole run, so it is probed (a connection inside it is the refresher's).
        discord: { oauth2: { ...oauth2(discord), refresh: { marginSeconds: 300, jitterSeconds: 0 } }, probe: { url: discord.probeEndpoint } },
        clicksend: { apiKey: { verifyUrl: clicksend.verifyUrl }, probe: { url: clicksend.verifyUrl } },
      },
      env: {
        PROVIDER_TIMEOUT_MS: String(TIMEOUT_MS),
        REFRESH_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
        REFRESH_BACKOFF_BASE_MS: '200',
        REFRESH_ON_DEMAND_WAIT_MS: '4000',
        PROBE_INTERVAL_SECONDS: '1',
        PROBE_DEGRADED_AFTER: '2',
        RATE_LIMIT_ANONYMOUS_PER_MINUTE: '100000',
        RATE_LIMIT_PER_MINUTE: '100000',
      },
    });
    nats = await connect({ servers: platform.nats.url, name: 'provider-faults' });
    subscription = (await JetStreamEventStore.create(nats)).subscribeToAll(async (event) => {
      events.push(event);
    });
    const admin = (path: string, body: unknown) =>
      fetch(`${platform.queryUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${platform.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await admin('/v1/admin/tenants', { tenantId: TENANT, name: 'Faults' })).status).toBe(201);
    apiKey = ((await (await admin(`/v1/admin/tenants/${TENANT}/api-keys`, {})).json()) as { apiKey: string }).apiKey;
    secrets.push(apiKey);
    for (const [provider, clientId, clientSecret, scopes] of [
      ['gmail', 'gmail-client', 'gmail-secret-faults', [GMAIL_READONLY]],
      ['discord', 'discord-client', 'discord-secret-faults', ['identify']],
    ] as const) {
      expect((await api(`/v1/integrations/${provider}`, { method: 'PUT', body: JSON.stringify({ clientId, clientSecret, scopes }) })).status).toBe(200);
    }
  }, 90_000);

  afterAll(async () => {
    await subscription?.stop();
    await nats?.close();
    await platform?.stop();
    await Promise.all([google?.stop(), discord?.stop(), clicksend?.stop()]);
  });

  describe('refresh (the credential endpoint refreshing on demand)', () => {
    it('a slow token endpoint: PROVIDER_TIMEOUT within the bound, retried with backoff, then given up; the lock is free after', async () => {
      const id = await connectUser('gmail', 'g_slow', [GMAIL_READONLY]);
      const before = await google.stats();
      await google.faults({ token: { delayMs: SLOW_MS, grantType: 'refresh_token' } });

      const read = await credential('gmail', 'g_slow');
      expect(read).toMatchObject(servedThrough('PROVIDER_TIMEOUT', id));
      // The flight goes on retrying in the background, each attempt cut off at the timeout, until it gives up.
      const failures = await eventually(async () => {
        const failed = eventsOf('RefreshFailed', id);
        return failed.some((f) => f.willRetry === false) ? failed : undefined;
      }, 30_000, 'the flight to give up');
      expect(failures).toEqual(
        Array.from({ length: MAX_ATTEMPTS }, (_, i) =>
          expect.objectContaining({ failure: 'transient', code: 'provider_timeout', attempt: i + 1, willRetry: i + 1 < MAX_ATTEMPTS }),
        ),
      );
      const after = await google.stats();
      expect((after.token_requests.refresh_token ?? 0) - (before.token_requests.refresh_token ?? 0)).toBe(MAX_ATTEMPTS);
      // No attempt waited for the 10 s answer: none of them got one.
      expect((after.token_responses['200'] ?? 0) - (before.token_responses['200'] ?? 0)).toBe(0);
      expect(await statusOf(id)).toBe('connected');
      expect(eventsOf('Revoked', id)).toEqual([]);

      await google.faults({ token: null });
      await refreshesAgain('g_slow');
      await eventually(async () => (eventsOf('Refreshed', id).length ? true : undefined), 10_000, 'Refreshed');
    });

    it('a token endpoint answering 500: PROVIDER_UNAVAILABLE (retryable) after every attempt; the lock is free after', async () => {
      const id = await connectUser('gmail', 'g_500', [GMAIL_READONLY]);
      const before = (await google.stats()).token_requests.refresh_token ?? 0;
      await google.faults({ token: { status: 500, body: HTML, contentType: 'text/html', grantType: 'refresh_token' } });
      const read = await credential('gmail', 'g_500');
      expect(read).toMatchObject(servedThrough('PROVIDER_UNAVAILABLE', id));
      expect(eventsOf('RefreshFailed', id).length).toBeGreaterThan(0);
      const failures = await eventually(async () => {
        const failed = eventsOf('RefreshFailed', id);
        return failed.some((f) => f.willRetry === false) ? failed : undefined;
      }, 15_000, 'the flight to give up');
      expect(failures.map((f) => [f.code, f.attempt])).toEqual(Array.from({ length: MAX_ATTEMPTS }, (_, i) => ['provider_unavailable', i + 1]));
      expect((await google.stats()).token_requests.refresh_token).toBe(before + MAX_ATTEMPTS);
      expect(await statusOf(id)).toBe('connected');

      await google.faults({ token: null });
      await refreshesAgain('g_500');
    });

    it.each(GARBAGE)('garbage (%s): INVALID_PROVIDER_RESPONSE, not retried, never a revocation', async (_name, fault) => {
      const user = `g_${_name.replace(/[^a-z0-9]+/gi, '_').slice(0, 30)}`;
      const id = await connectUser('gmail', user, [GMAIL_READONLY]);
      const before = (await google.stats()).token_requests.refresh_token ?? 0;
      await google.faults({ token: { ...fault, grantType: 'refresh_token' } });
      const read = await credential('gmail', user);
      expect(read).toMatchObject(servedThrough('INVALID_PROVIDER_RESPONSE', id));
      expect(JSON.stringify(read.body)).not.toContain(PLANTED);
      await eventually(async () => (eventsOf('RefreshFailed', id).length ? true : undefined), 10_000, 'RefreshFailed');
      expect(eventsOf('RefreshFailed', id)).toEqual([expect.objectContaining({ failure: 'unexpected', code: 'invalid_provider_response', attempt: 1, willRetry: false })]);
      expect((await google.stats()).token_requests.refresh_token).toBe(before + 1);
      expect(await statusOf(id)).toBe('connected');
      expect(eventsOf('Revoked', id)).toEqual([]);

      await google.faults({ token: null });
      await refreshesAgain(user);
    });
  });

  describe('the credential endpoint when the refresh fails and the token is about to expire', () => {
    it('answers the failure (504 PROVIDER_TIMEOUT, retryable) instead of a token with less than 5 s left', async () => {
      await google.faults({ token: { delayMs: SLOW_MS, grantType: 'refresh_token' } });
      await google.settings({ accessTokenTtlSeconds: 4 });
      let id: string;
      try {
        id = await connectUser('gmail', 'g_expiring', [GMAIL_READONLY]);
      } finally {
        await google.settings({ accessTokenTtlSeconds: 600 });
      }
      const read = await credential('gmail', 'g_expiring');
      expect(read).toMatchObject({ status: 504, body: { code: 'PROVIDER_TIMEOUT' }, retryAfter: expect.any(String), type: expect.stringContaining('application/problem+json'), refresh: null });
      expect(await statusOf(id)).toBe('connected');

      await google.faults({ token: null });
      await refreshesAgain('g_expiring');
    });
  });

  describe('code exchange at the callback', () => {
    it.each([
      ['slow (10 s)', { delayMs: SLOW_MS }, 504, 'provider_timeout', /did not answer in time/],
      ['500', { status: 500 }, 502, 'provider_unavailable', /unavailable right now/],
      ['an HTML page', { status: 200, body: HTML, contentType: 'text/html' }, 502, 'invalid_provider_response', /could not be read/],
      ['a 200 without access_token', { status: 200, body: { token_type: 'Bearer', refresh_token: PLANTED } }, 502, 'invalid_provider_response', /could not be read/],
    ] as [string, FaultSpec, number, string, RegExp][])('%s: a readable page, ConnectFailed with the code, nothing stored', async (name, fault, status, code, text) => {
      const user = `x_${name.replace(/[^a-z0-9]+/gi, '_')}`;
      await google.faults({ token: { ...fault, grantType: 'authorization_code' } });
      const result = await startConnect('gmail', user, [GMAIL_READONLY]);
      await google.faults({ token: null });
      expect(result.response.status).toBe(status);
      expect(result.body).toMatch(text);
      expect(result.body).not.toContain(PLANTED);
      const id = connectionOf('gmail', user);
      await eventually(async () => (eventsOf('ConnectFailed', id).length ? true : undefined), 10_000, 'ConnectFailed');
      expect(eventsOf('ConnectFailed', id)).toEqual([expect.objectContaining({ reason: 'exchange_failed', code })]);
      expect(eventsOf('Connected', id)).toEqual([]);
      expect((await credential('gmail', user)).body.code).toBe('NOT_CONNECTED');
      // The same user connects once the provider is back.
      await connectUser('gmail', user, [GMAIL_READONLY]);
    });
  });

  describe('probes', () => {
    it('a 401 or 200 that is not the provider API, a slow and a huge probe answer: transient (Degraded), never Revoked; Recovered after', async () => {
      const id = await connectUser('discord', 'd_probe', ['identify']);
      await eventually(async () => ((await discord.stats()).probe_requests.ok > 0 ? true : undefined), 15_000, 'a first healthy probe');
      // A 401 whose body is an HTML page (a proxy's, a portal's): not the provider saying the token is revoked.
      await discord.faults({ probe: { status: 401, body: HTML, contentType: 'text/html' } });
      const degraded = await eventually(async () => eventsOf('Degraded', id)[0], 20_000, 'Degraded');
      expect(degraded).toMatchObject({ lastFailure: 'invalid_provider_response' });
      const logged = (answer: string) => platform.logs.some((l) => l.includes(`probe of ${id} (discord) failed transiently: ${answer}`));
      for (const [fault, answer] of [
        [{ delayMs: SLOW_MS }, 'timeout'],
        [{ status: 200, body: '{"id":"1", "username":', contentType: 'application/json' }, 'invalid_provider_response'],
        [{ status: 200, body: '{"id":"', bodyBytes: 5_000_000 }, 'invalid_provider_response'],
        [{ status: 503 }, '503'],
      ] as [FaultSpec, string][]) {
        const injected = (await discord.stats()).faults_injected.probe ?? 0;
        await discord.faults({ probe: fault });
        await eventually(async () => (((await discord.stats()).faults_injected.probe ?? 0) > injected + 1 ? true : undefined), 20_000, `probes with ${answer}`);
        await eventually(async () => (logged(answer) ? true : undefined), 10_000, `a probe failing with ${answer}`);
      }
      expect(await statusOf(id)).toBe('connected');
      expect(eventsOf('Revoked', id)).toEqual([]);
      await discord.faults({ probe: null });
      await eventually(async () => (eventsOf('Recovered', id).length ? true : undefined), 20_000, 'Recovered');
    });
  });

  describe('ClickSend key verification at connect', () => {
    const connectKey = () =>
      api('/v1/api-key-connections', { method: 'POST', body: JSON.stringify({ provider: 'clicksend', userId: 'c_faults', username: 'acme_sms', apiKey: 'clicksend-key-faults' }) });

    it.each([
      ['slow (10 s)', { delayMs: SLOW_MS }, 504, 'PROVIDER_TIMEOUT'],
      ['500', { status: 500, body: HTML, contentType: 'text/html' }, 502, 'PROVIDER_UNAVAILABLE'],
      ['a 200 HTML page', { status: 200, body: HTML, contentType: 'text/html' }, 502, 'INVALID_PROVIDER_RESPONSE'],
      ['truncated JSON', { status: 200, body: '{"http_code":200,"response_code":"SUCC' }, 502, 'INVALID_PROVIDER_RESPONSE'],
      ['a huge body', { status: 200, body: '{"data":"', bodyBytes: 5_000_000 }, 502, 'INVALID_PROVIDER_RESPONSE'],
    ] as const)('%s: a problem with the classification, nothing stored', async (_name, fault, status, code) => {
      clicksend.setFault(fault);
      const res = await connectKey();
      clicksend.setFault(null);
      expect(res.status).toBe(status);
      const body = (await res.json()) as { code: string; detail: string };
      expect(body.code).toBe(code);
      expect(JSON.stringify(body)).not.toContain(PLANTED);
      expect((await api(`/v1/connections/${connectionOf('clicksend', 'c_faults')}`)).status).toBe(404);
    });

    it('connects once ClickSend answers again', async () => {
      expect((await connectKey()).status).toBe(201);
    });
  });

  describe('revocation on disconnect', () => {
    it.each([
      ['slow (10 s)', { delayMs: SLOW_MS }, 'failed', 'provider_timeout'],
      ['500', { status: 500 }, 'failed', 'provider_unavailable'],
      // RFC 7009 s2.2: any 200 means revoked, whatever the body says.
      ['a 200 HTML page', { status: 200, body: HTML, contentType: 'text/html' }, 'revoked', undefined],
    ] as [string, FaultSpec, string, string | undefined][])('%s: the disconnect completes within the bound, saying what the provider did', async (name, fault, outcome, code) => {
      const user = `r_${name.replace(/[^a-z0-9]+/gi, '_')}`;
      const id = await connectUser('gmail', user, [GMAIL_READONLY]);
      await google.faults({ revocation: fault });
      const res = await api(`/v1/connections/${id}`, { method: 'DELETE' });
      await google.faults({ revocation: null });
      expect(res.status).toBe(200);
      const body = (await res.json()) as Record<string, unknown>;
      expect(body).toEqual({ connectionId: id, status: 'disconnected', providerRevocation: outcome, ...(code ? { providerRevocationError: code } : {}) });
      await eventually(async () => (eventsOf('Disconnected', id).length ? true : undefined), 10_000, 'Disconnected');
    });
  });

  describe('a reconnect soon after a disconnect (vault starts the new credential at version 1 again)', () => {
    it('records the Refreshed of the new life too, under an id of its own (within JetStream\'s 2-minute duplicate window)', async () => {
      const user = 'g_reconnects';
      const id = await connectUser('gmail', user, [GMAIL_READONLY]);
      const refreshedOf = () => events.filter((e) => e.type === 'Refreshed' && (e.data as { connectionId?: string }).connectionId === id);
      expect((await credential('gmail', user)).status).toBe(200); // inside the margin: refreshed on demand to version 2
      await eventually(async () => (refreshedOf().length === 1 ? true : undefined), 10_000, 'the first life\'s Refreshed');
      expect((await api(`/v1/connections/${id}`, { method: 'DELETE' })).status).toBe(200);

      await startConnect('gmail', user, [GMAIL_READONLY]);
      await eventually(async () => (eventsOf('Connected', id).length === 2 ? true : undefined), 15_000, `${user} connected again`);
      const read = await credential('gmail', user);
      expect(read).toMatchObject({ status: 200, refresh: null });
      await eventually(async () => (refreshedOf().length === 2 ? true : undefined), 10_000, 'the second life\'s Refreshed');
      const [first, second] = refreshedOf();
      expect([first.data, second.data]).toEqual([expect.objectContaining({ credentialVersion: 2 }), expect.objectContaining({ credentialVersion: 2 })]);
      expect(second.eventId).not.toBe(first.eventId);
      expect((await api(`/v1/connections/${id}`)).status).toBe(200);
    });
  });

  it('logged no secret, no token and nothing of the garbage bodies', () => {
    const leaks = platform.logs.filter((line) => line.includes(PLANTED) || line.includes('<html') || line.includes('Portal ') || secrets.some((s) => line.includes(s)));
    expect(leaks).toEqual([]);
    // The classifications did reach the logs, so the check above looked at the right lines.
    expect(platform.logs.some((l) => l.includes('invalid_provider_response'))).toBe(true);
    expect(platform.logs.some((l) => l.includes('provider_timeout'))).toBe(true);
  });
});
