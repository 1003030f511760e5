import { inspect } from 'node:util';
import { connectionIdFor as serverConnectionIdFor } from '@authpipe/contracts';
import {
  Authpipe,
  AuthpipeError,
  AuthpipeNotConnectedError,
  AuthpipeRequestError,
  AuthpipeRevokedError,
  AuthpipeUnauthorizedError,
  AuthpipeUnavailableError,
  AuthpipeStreamEvent,
  connectionIdFor,
  EventStreamStatus,
} from '../src';
import { Answer, API_KEY, FakeAuthpipe, Problems, startFakeAuthpipe } from './fake-authpipe';

const TENANT = 'org_acme';
const HOUR = 3_600_000;

/** Polls until `check` is true (the SDK's background work is asynchronous). */
async function until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('@authpipe/node', () => {
  let server: FakeAuthpipe;
  let clock: number;
  const clients: Authpipe[] = [];
  /** Issued tokens by request number, to tell which fetch a caller got. */
  const token = (n: number) => `ya29.token-${n}-${'s'.repeat(20)}`;
  const oauth = (userId: string, n: number, expiresAt = new Date(clock + HOUR).toISOString(), extra: Partial<Answer> = {}): Answer => ({
    status: 200,
    body: { connectionId: connectionIdFor(TENANT, 'gmail', userId), provider: 'gmail', userId, type: 'oauth2', accessToken: token(n), tokenType: 'bearer', expiresAt, scopes: ['s'] },
    ...extra,
  });
  const client = (options: Partial<ConstructorParameters<typeof Authpipe>[0]> = {}) => {
    const c = new Authpipe({ baseUrl: server.url, gatewayUrl: server.url, apiKey: API_KEY, now: () => clock, events: { initialDelayMs: 20, maxDelayMs: 200 }, ...options });
    clients.push(c);
    return c;
  };
  const get = (c: Authpipe, userId = 'user_123') => c.getCredential({ provider: 'gmail', tenantId: TENANT, userId });

  beforeEach(async () => {
    clock = Date.parse('2026-11-27T10:00:00Z');
    server = await startFakeAuthpipe();
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await server.stop();
  });

  it('derives connection ids exactly as the server does', () => {
    for (const [t, p, u] of [['org_acme', 'gmail', 'user_123'], ['demo', 'discord', 'a@b.c'], ['t-1', 'clicksend', 'x:y|z=+']]) {
      expect(connectionIdFor(t, p, u)).toBe(serverConnectionIdFor(t, p, u));
    }
  });

  it('answers a cache hit without a request', async () => {
    server.onCredential((_p, userId, n) => oauth(userId, n));
    const c = client();
    const first = await get(c);
    expect(first.credential.accessToken).toBe(token(1));
    expect(server.requests.credentials).toBe(1);
    for (let i = 0; i < 100; i++) expect(await get(c)).toBe(first);
    expect(server.requests.credentials).toBe(1);
    expect(c.stats()).toMatchObject({ hits: 100, misses: 1, fetches: 1, entries: 1, eventStream: 'open' });
    // Another user, another tenant id: other keys.
    await get(c, 'user_456');
    expect(server.requests.credentials).toBe(2);
    expect(Object.isFrozen(first.credential)).toBe(true);
  });

  it('refreshes in the background ahead of expiry: the caller gets the cached token at once', async () => {
    server.onCredential((_p, userId, n) => oauth(userId, n, new Date(clock + HOUR).toISOString(), n === 2 ? { delayMs: 300 } : {}));
    const c = client();
    expect((await get(c)).credential.accessToken).toBe(token(1));
    clock += HOUR - 200_000; // 200 s before expiry: inside the 240 s refresh-ahead window, outside the 30 s skew
    const started = Date.now();
    const during = await get(c);
    expect(Date.now() - started).toBeLessThan(200); // did not wait for the 300 ms answer
    expect(during.credential.accessToken).toBe(token(1));
    await until(() => server.requests.credentials === 2, 'the background refresh to reach the server');
    expect(server.answered()).toBe(1);
    // More callers while the refresh is under way: still the cached token, still one refresh.
    expect((await get(c)).credential.accessToken).toBe(token(1));
    expect(server.requests.credentials).toBe(2);
    let latest = during;
    const deadline = Date.now() + 5000;
    while (latest.credential.accessToken !== token(2) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
      latest = await get(c);
    }
    expect(latest.credential.accessToken).toBe(token(2));
    expect(server.requests.credentials).toBe(2);
    expect(c.stats().revalidations).toBe(1);
  });

  it('does not hand out a token about to expire: the caller waits for a fresh one', async () => {
    server.onCredential((_p, userId, n) => oauth(userId, n));
    const c = client();
    await get(c);
    clock += HOUR - 10_000; // inside the 30 s skew
    expect((await get(c)).credential.accessToken).toBe(token(2));
    expect(server.requests.credentials).toBe(2);
  });

  it('keeps serving the cached token when a background refresh fails, and retries at most every 10 s', async () => {
    server.onCredential((_p, userId, n) => (n === 1 ? oauth(userId, n) : Problems.problem(503, 'UNAVAILABLE', 'retry shortly')));
    const c = client();
    await get(c);
    clock += HOUR - 200_000;
    expect((await get(c)).credential.accessToken).toBe(token(1));
    await until(() => server.answered() === 2, 'the failed refresh');
    clock += 5_000;
    expect((await get(c)).credential.accessToken).toBe(token(1));
    expect(server.requests.credentials).toBe(2);
    clock += 6_000;
    expect((await get(c)).credential.accessToken).toBe(token(1));
    await until(() => server.requests.credentials === 3, 'the next background refresh');
  });

  it('says when the server served the current token because its refresh failed, and asks again at the next revalidation', async () => {
    const expiresAt = () => new Date(clock + 200_000).toISOString(); // inside the 240 s refresh-ahead window
    server.onCredential((_p, userId, n) =>
      n <= 2 ? oauth(userId, n, expiresAt(), { headers: { 'authpipe-refresh': 'failed; code=PROVIDER_TIMEOUT' } }) : oauth(userId, n),
    );
    const c = client();
    const stale = await get(c);
    expect(stale.refreshFailure).toEqual({ code: 'PROVIDER_TIMEOUT' });
    expect(stale.credential.accessToken).toBe(token(1));
    // Cached and served (the token is valid), revalidated at most every 10 s until a refresh succeeds.
    clock += 5_000;
    expect(await get(c)).toBe(stale);
    expect(server.requests.credentials).toBe(1);
    clock += 6_000;
    expect(await get(c)).toBe(stale);
    await until(() => server.answered() === 2, 'the first revalidation');
    clock += 11_000;
    await get(c);
    await until(() => server.answered() === 3, 'the second revalidation');
    const fresh = await get(c);
    expect(fresh.credential.accessToken).toBe(token(3));
    expect(fresh.refreshFailure).toBeUndefined();
  });

  it('makes one request for ten concurrent callers of a cold key', async () => {
    server.onCredential((_p, userId, n) => oauth(userId, n, undefined, { delayMs: 100 }));
    const c = client();
    const results = await Promise.all(Array.from({ length: 10 }, () => get(c)));
    expect(server.requests.credentials).toBe(1);
    expect(new Set(results.map((r) => r.credential.accessToken))).toEqual(new Set([token(1)]));
    expect(c.stats()).toMatchObject({ misses: 10, fetches: 1 });
  });

  it('shares one failure among concurrent callers, and does not cache it', async () => {
    server.onCredential((_p, userId, n) => (n === 1 ? { ...Problems.problem(404, 'NOT_CONNECTED', 'user_123 has not connected gmail'), delayMs: 50 } : oauth(userId, n)));
    const c = client();
    const settled = await Promise.allSettled(Array.from({ length: 10 }, () => get(c)));
    expect(settled.every((s) => s.status === 'rejected' && s.reason instanceof AuthpipeNotConnectedError)).toBe(true);
    expect(server.requests.credentials).toBe(1);
    expect((await get(c)).credential.accessToken).toBe(token(2));
  });

  it('drops a credential the event stream says was revoked, at once', async () => {
    let revoked = false;
    server.onCredential((_p, userId, n) => (revoked ? Problems.problem(409, 'CONNECTION_REVOKED', 'the gmail connection was revoked (probe_unauthorized)') : oauth(userId, n)));
    const events: AuthpipeStreamEvent[] = [];
    const c = client({ onEvent: (e) => events.push(e) });
    await get(c);
    await get(c);
    expect(server.requests.credentials).toBe(1);
    revoked = true;
    const connectionId = connectionIdFor(TENANT, 'gmail', 'user_123');
    server.emit('Revoked', { connectionId, tenantId: TENANT, provider: 'gmail', reason: 'probe_unauthorized', occurredAt: new Date().toISOString() }, 'evt-1');
    await until(() => events.length === 1, 'the Revoked event');
    expect(events[0]).toMatchObject({ type: 'Revoked', id: 'evt-1', data: { connectionId } });
    expect(c.stats().entries).toBe(0);
    await expect(get(c)).rejects.toBeInstanceOf(AuthpipeRevokedError);
    expect(server.requests.credentials).toBe(2);
  });

  it('drops on Disconnected and Connected, and ignores events of connections it does not hold', async () => {
    server.onCredential((_p, userId, n) => oauth(userId, n));
    const events: AuthpipeStreamEvent[] = [];
    const c = client({ onEvent: (e) => events.push(e) });
    await get(c);
    server.emit('Degraded', { connectionId: connectionIdFor(TENANT, 'gmail', 'user_123'), consecutiveFailures: 3 });
    server.emit('Revoked', { connectionId: connectionIdFor(TENANT, 'gmail', 'someone_else') });
    await until(() => events.length === 2, 'two events');
    expect(c.stats().entries).toBe(1);
    server.emit('Disconnected', { connectionId: connectionIdFor(TENANT, 'gmail', 'user_123') });
    await until(() => c.stats().entries === 0, 'the Disconnected event');
    await get(c);
    server.emit('Connected', { connectionId: connectionIdFor(TENANT, 'gmail', 'user_123') });
    await until(() => c.stats().entries === 0, 'the Connected event');
    expect((await get(c)).credential.accessToken).toBe(token(3));
  });

  it('replaces a credential refreshed elsewhere in the background, and ignores the refresh it already holds', async () => {
    server.onCredential((_p, userId, n) => oauth(userId, n, new Date(clock + n * HOUR).toISOString()));
    const c = client();
    const first = await get(c);
    const connectionId = first.credential.connectionId;
    server.emit('Refreshed', { connectionId, provider: 'gmail', expiresAt: first.credential.expiresAt, rotated: false });
    await new Promise((r) => setTimeout(r, 100));
    expect(server.requests.credentials).toBe(1);
    server.emit('Refreshed', { connectionId, provider: 'gmail', expiresAt: new Date(clock + 2 * HOUR).toISOString(), rotated: true });
    await until(() => server.answered() === 2, 'the prefetch after Refreshed');
    await until(() => c.stats().entries === 1, 'the prefetched entry');
    expect((await get(c)).credential.accessToken).toBe(token(2));
    expect(server.requests.credentials).toBe(2);
  });

  it('lets a read under way finish when a Refreshed arrives meanwhile, without starting another', async () => {
    server.onCredential((_p, userId, n) => oauth(userId, n, new Date(clock + n * HOUR).toISOString(), { delayMs: 150 }));
    const c = client();
    const pending = get(c);
    await until(() => server.requests.credentials === 1, 'the first request');
    server.emit('Refreshed', { connectionId: connectionIdFor(TENANT, 'gmail', 'user_123'), expiresAt: new Date(clock + HOUR).toISOString() });
    await pending;
    await new Promise((r) => setTimeout(r, 100));
    expect(server.requests.credentials).toBe(1);
    expect((await get(c)).credential.accessToken).toBe(token(1));
  });

  it('does not cache an answer fetched while a revocation arrived', async () => {
    server.onCredential((_p, userId, n) => oauth(userId, n, undefined, n === 1 ? { delayMs: 200 } : {}));
    const c = client();
    const pending = get(c);
    await until(() => server.requests.credentials === 1, 'the first request');
    server.emit('Revoked', { connectionId: connectionIdFor(TENANT, 'gmail', 'user_123') });
    await new Promise((r) => setTimeout(r, 50));
    expect((await pending).credential.accessToken).toBe(token(1));
    // The caller that asked before the revocation got its answer; nothing stale stayed in the cache.
    expect(c.stats().entries).toBe(0);
  });

  it('reconnects the stream with backoff and Last-Event-ID, and trusts nothing cached across the gap', async () => {
    server.onCredential((_p, userId, n) => oauth(userId, n));
    const statuses: EventStreamStatus[] = [];
    const events: AuthpipeStreamEvent[] = [];
    const c = client({ onEventStreamStatus: (s) => statuses.push(s), onEvent: (e) => events.push(e) });
    await get(c);
    server.emit('Recovered', { connectionId: 'con_AAAAAAAAAAAAAAAAAAAAAA' }, 'evt-41');
    await until(() => events.length === 1, 'an event with an id');
    expect(c.stats().entries).toBe(1);
    server.dropStreams();
    await server.waitForStreams(1);
    await until(() => c.eventStreamStatus === 'open', 'the reconnect');
    expect(server.lastEventIds).toEqual(['', 'evt-41']);
    expect(statuses).toEqual(['connecting', 'open', 'reconnecting', 'open']);
    expect(c.stats().entries).toBe(0);
    expect((await get(c)).credential.accessToken).toBe(token(2));
  });

  it('reconnects a stream that went silent (no heartbeat within idleTimeoutMs)', async () => {
    server.onCredential((_p, userId, n) => oauth(userId, n));
    const errors: string[] = [];
    const c = client({ events: { initialDelayMs: 20, maxDelayMs: 200, idleTimeoutMs: 150 }, onEventStreamStatus: (_s, e) => e && errors.push(e.message) });
    await get(c);
    await until(() => server.requests.stream >= 2, 'a reconnect after silence');
    expect(errors[0]).toBe('the event stream was silent for 150 ms');
  });

  it('parses events split across writes, with CRLF, comments and multi-line data', async () => {
    server.onCredential((_p, userId, n) => oauth(userId, n));
    const events: AuthpipeStreamEvent[] = [];
    const c = client({ onEvent: (e) => events.push(e) });
    await get(c);
    const connectionId = connectionIdFor(TENANT, 'gmail', 'user_123');
    server.write(': keep-alive\r\n\r\nevent: Revo');
    await new Promise((r) => setTimeout(r, 20));
    server.write(`ked\r\nid: evt-9\r\ndata: {"connectionId":\r\ndata: "${connectionId}"}\r`);
    await new Promise((r) => setTimeout(r, 20));
    server.write('\n\r\n');
    await until(() => events.length === 1, 'the split event');
    expect(events[0]).toEqual({ type: 'Revoked', id: 'evt-9', data: { connectionId } });
    expect(c.stats().entries).toBe(0);
  });

  it('works without an event stream (404), serving from cache by expiry and max age', async () => {
    server.streamStatus = 404;
    server.onCredential((_p, userId, n) => oauth(userId, n));
    const statuses: [EventStreamStatus, string | undefined][] = [];
    const c = client({ onEventStreamStatus: (s, e) => statuses.push([s, e?.message]) });
    await get(c);
    await get(c);
    expect(server.requests.credentials).toBe(1);
    expect(statuses[1]).toEqual(['reconnecting', 'this Authpipe has no event stream (HTTP 404)']);
    clock += 301_000; // older than maxAge: served, and revalidated in the background
    expect((await get(c)).credential.accessToken).toBe(token(1));
    await until(() => server.answered() === 2, 'the max-age revalidation');
  });

  it('opens the event stream on request, before any getCredential', async () => {
    const c = client();
    expect(c.eventStreamStatus).toBe('idle');
    await c.openEventStream();
    expect(c.eventStreamStatus).toBe('open');
    expect(server.requests.stream).toBe(1);
    expect(new Authpipe({ baseUrl: server.url, apiKey: API_KEY, events: false }).eventStreamStatus).toBe('disabled');
  });

  it('fetches every time with cache: false', async () => {
    server.onCredential((_p, userId, n) => oauth(userId, n));
    const c = client({ cache: false });
    await get(c);
    await get(c);
    expect(server.requests.credentials).toBe(2);
    expect(server.requests.stream).toBe(0);
  });

  it('refuses a credential of another tenant than the one asked for', async () => {
    server.onCredential((_p, userId, n) => oauth(userId, n));
    const c = client();
    const err = await c.getCredential({ provider: 'gmail', tenantId: 'org_other', userId: 'user_123' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthpipeUnauthorizedError);
    expect(err).toMatchObject({ code: 'TENANT_MISMATCH' });
    expect(String((err as Error).message)).not.toContain(token(1));
  });

  describe('typed errors', () => {
    const secrets = () => [API_KEY, token(1), 'client-secret-value'];
    const everything = (err: unknown) =>
      [String(err), (err as Error).stack ?? '', JSON.stringify(err), inspect(err, { depth: 10, showHidden: true }), JSON.stringify((err as { errors?: unknown }).errors ?? null)].join('\n');

    it.each([
      [401, 'UNAUTHORIZED', AuthpipeUnauthorizedError],
      [403, 'FORBIDDEN', AuthpipeUnauthorizedError],
      [404, 'NOT_CONNECTED', AuthpipeNotConnectedError],
      [409, 'CONNECTION_REVOKED', AuthpipeRevokedError],
      [410, 'CONNECTION_ERASED', AuthpipeRevokedError],
      [503, 'UNAVAILABLE', AuthpipeUnavailableError],
      [502, 'BAD_GATEWAY', AuthpipeUnavailableError],
      [404, 'UNKNOWN_PROVIDER', AuthpipeRequestError],
      [400, 'INVALID_REQUEST', AuthpipeRequestError],
    ])('HTTP %i %s is a %p without a secret, even when the server echoes one', async (status, code, type) => {
      // A misbehaving server (or proxy) that quotes the key and a token in its answer.
      server.onCredential(() => ({
        status,
        headers: { 'retry-after': '2' },
        body: { code, status, detail: `detail quoting ${API_KEY} and Authorization: Bearer ${token(1)}`, errors: [{ field: 'apiKey', message: `was ${API_KEY}` }] },
      }));
      const c = client({ events: false });
      const err = await get(c).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(type);
      expect(err).toBeInstanceOf(AuthpipeError);
      expect(err).toMatchObject({ code, status, requestId: 'req-test-1', name: type.name });
      expect((err as AuthpipeError).retryable).toBe(type === AuthpipeUnavailableError);
      if (type === AuthpipeUnavailableError) expect((err as AuthpipeUnavailableError).retryAfterSeconds).toBe(2);
      const text = everything(err);
      for (const secret of secrets()) expect(text).not.toContain(secret);
      expect(text).not.toContain('kkkkkkkkkk');
    });

    it('a network error and a timeout are AuthpipeUnavailableError without a secret', async () => {
      const unreachable = new Authpipe({ baseUrl: 'http://127.0.0.1:9', apiKey: API_KEY, events: false });
      const network = await unreachable.getCredential({ provider: 'gmail', tenantId: TENANT, userId: 'u' }).catch((e: unknown) => e);
      expect(network).toBeInstanceOf(AuthpipeUnavailableError);
      expect(network).toMatchObject({ code: 'NETWORK_ERROR', retryable: true });
      expect(everything(network)).not.toContain(API_KEY);

      server.onCredential((_p, userId, n) => oauth(userId, n, undefined, { delayMs: 500 }));
      const slow = client({ events: false, timeoutMs: 100 });
      const timeout = await get(slow).catch((e: unknown) => e);
      expect(timeout).toBeInstanceOf(AuthpipeUnavailableError);
      expect(timeout).toMatchObject({ code: 'TIMEOUT' });
      expect(everything(timeout)).not.toContain(API_KEY);
    });

    it('a wrong API key on the event stream is reported without the key', async () => {
      const statuses: [EventStreamStatus, Error | undefined][] = [];
      const wrongKey = `apk_WRONGKEY0000_${'w'.repeat(43)}`;
      const c = new Authpipe({ baseUrl: server.url, apiKey: wrongKey, onEventStreamStatus: (s, e) => statuses.push([s, e]) });
      clients.push(c);
      await expect(c.getCredential({ provider: 'gmail', tenantId: TENANT, userId: 'u' })).rejects.toBeInstanceOf(AuthpipeUnauthorizedError);
      const [, error] = statuses.find(([, e]) => e) ?? [];
      expect(error).toBeInstanceOf(AuthpipeUnauthorizedError);
      expect(everything(error)).not.toContain(wrongKey);
    });

    it('never shows the API key when the client is logged', () => {
      const c = client({ events: false });
      expect(inspect(c, { showHidden: true, depth: 10 })).not.toContain(API_KEY);
      expect(JSON.stringify(c)).not.toContain(API_KEY);
      expect(`${Object.values(c)}`).not.toContain(API_KEY);
    });
  });

  describe('helpers', () => {
    it('creates a connect session at the gateway', async () => {
      const c = client({ events: false });
      const session = await c.createConnectSession({ provider: 'discord', userId: 'u1', scopes: ['identify', 'bot'], params: { permissions: '2048' }, returnOrigin: 'http://127.0.0.1:3002' });
      expect(session.connectUrl).toContain('/v1/connect/start?session=');
      expect(server.sessions).toEqual([{ provider: 'discord', userId: 'u1', scopes: ['identify', 'bot'], params: { permissions: '2048' }, returnOrigin: 'http://127.0.0.1:3002' }]);
      const noGateway = new Authpipe({ baseUrl: server.url, apiKey: API_KEY, events: false });
      await expect(noGateway.createConnectSession({ provider: 'gmail', userId: 'u' })).rejects.toThrow('gatewayUrl');
    });

    it('lists connections page by page, and all of them across pages', async () => {
      const all = Array.from({ length: 5 }, (_, i) => ({ connectionId: `con_${String(i).repeat(22)}`, provider: 'gmail', userId: `u${i}`, status: 'connected' }));
      server.onConnections((query) => {
        const start = Number(query.get('cursor') ?? 0);
        const limit = Number(query.get('limit') ?? 100);
        const items = all.slice(start, start + limit);
        return { status: 200, body: { items, ...(start + limit < all.length ? { next: String(start + limit) } : {}) } };
      });
      const c = client({ events: false });
      const page = await c.listConnections({ provider: 'gmail', limit: 2 });
      expect(page.items.map((i) => i.userId)).toEqual(['u0', 'u1']);
      expect(page.next).toBe('2');
      const users: string[] = [];
      for await (const connection of c.allConnections({ limit: 2 })) users.push(connection.userId);
      expect(users).toEqual(['u0', 'u1', 'u2', 'u3', 'u4']);
      expect(server.requests.connections).toBe(4);
    });

    it('disconnects and drops the cached credential', async () => {
      server.onCredential((_p, userId, n) => oauth(userId, n));
      const c = client({ events: false });
      const { credential } = await get(c);
      const result = await c.disconnect(credential.connectionId);
      expect(result).toEqual({ connectionId: credential.connectionId, status: 'disconnected', providerRevocation: 'revoked' });
      expect(c.stats().entries).toBe(0);
      await expect(c.disconnect('not-an-id')).rejects.toThrow(TypeError);
    });
  });
});
