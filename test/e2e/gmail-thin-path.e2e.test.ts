import { browse, CookieJar } from '../support/oauth-server/browser-less';
import { OAuthServerHandle, startOAuthServer } from '../support/oauth-server/spawn';
import { eventually, gatewayUrlFor, reservePorts, startTestPlatform, TestPlatform } from '../support/test-platform';

/*
 * The thin path through all five apps, as real processes on a real nats-server, with a local authorization server
 * configured like Google (a refresh token only with access_type=offline and prompt=consent; refresh tokens do not
 * rotate and are not repeated on refresh).
 */

const GMAIL_READONLY = 'https://www.googleapis.com/auth/gmail.readonly';
const CLIENT_ID = 'acme-gmail-client.apps.local';
const CLIENT_SECRET = `gmail-client-secret-${Math.random().toString(36).slice(2)}`;

describe('gmail thin path (five processes, nats-server, Google-like oidc-provider)', () => {
  let google: OAuthServerHandle;
  let platform: TestPlatform;
  let apiKey: string;
  const secretsSeen: string[] = [CLIENT_SECRET];

  const admin = (path: string, body: unknown, token = platform.adminToken) =>
    fetch(`${platform.queryUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const api = (base: 'query' | 'gateway', path: string, init: RequestInit = {}, key = apiKey) =>
    fetch(`${base === 'query' ? platform.queryUrl : platform.gatewayUrl}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
    });

  /** Create a connect session for a user and drive the browser through the whole flow; returns the final page. */
  async function connect(userId: string) {
    const session = await api('gateway', '/v1/connect-sessions', { method: 'POST', body: JSON.stringify({ provider: 'gmail', userId, scopes: [GMAIL_READONLY] }) });
    expect(session.status).toBe(201);
    const { connectUrl, token } = (await session.json()) as { connectUrl: string; token: string };
    const result = await browse(connectUrl, { jar: new CookieJar() });
    return { result, token, connectUrl };
  }

  beforeAll(async () => {
    const ports = await reservePorts();
    google = await startOAuthServer({
      profile: 'google',
      clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [`${gatewayUrlFor(ports)}/v1/oauth/callback/gmail`] }],
    });
    platform = await startTestPlatform({
      ports,
      env: { PROBE_INTERVAL_SECONDS: '5' },
      providers: {
        gmail: {
          oauth2: { authorizationUrl: google.authorizationEndpoint, tokenUrl: google.tokenEndpoint, revocationUrl: google.revocationEndpoint, issuer: google.issuer },
          probe: { url: google.probeEndpoint },
        },
      },
    });
  });

  afterAll(async () => {
    await platform?.stop();
    await google?.stop();
  });

  it('an operator creates a tenant and its API key', async () => {
    const tenant = await admin('/v1/admin/tenants', { tenantId: 'org_acme', name: 'Acme' });
    expect(tenant.status).toBe(201);
    const again = await admin('/v1/admin/tenants', { tenantId: 'org_acme', name: 'Acme' });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { code: string }).code).toBe('TENANT_EXISTS');
    const key = await admin('/v1/admin/tenants/org_acme/api-keys', { label: 'backend' });
    expect(key.status).toBe(201);
    apiKey = ((await key.json()) as { apiKey: string }).apiKey;
    expect(apiKey).toMatch(/^apk_/);
    secretsSeen.push(apiKey);
  });

  it('rejects a wrong admin token and a wrong API key with 401 problem+json', async () => {
    const wrongAdmin = await admin('/v1/admin/tenants', { tenantId: 'org_evil', name: 'x' }, 'not-the-token');
    expect(wrongAdmin.status).toBe(401);
    expect(wrongAdmin.headers.get('content-type')).toContain('application/problem+json');
    const wrongKey = await api('query', '/v1/connections', {}, 'apk_AAAAAAAAAAAA_' + 'x'.repeat(43));
    expect(wrongKey.status).toBe(401);
    expect(((await wrongKey.json()) as { code: string }).code).toBe('UNAUTHORIZED');
    const noKey = await fetch(`${platform.gatewayUrl}/v1/connect-sessions`, { method: 'POST' });
    expect(noKey.status).toBe(401);
  });

  it('the tenant registers its Gmail OAuth app; the secret never comes back', async () => {
    const res = await api('query', '/v1/integrations/gmail', {
      method: 'PUT',
      body: JSON.stringify({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, scopes: [GMAIL_READONLY, 'openid', 'email'] }),
    });
    const body = await res.text();
    expect(res.status).toBe(200);
    expect(body).not.toContain(CLIENT_SECRET);
    const list = await (await api('query', '/v1/integrations')).text();
    expect(list).toContain(CLIENT_ID);
    expect(list).not.toContain(CLIENT_SECRET);
  });

  it('names invalid fields with 400 and unknown providers with 404', async () => {
    const missing = await api('query', '/v1/integrations/gmail', { method: 'PUT', body: JSON.stringify({ clientId: CLIENT_ID, scopes: [GMAIL_READONLY] }) });
    expect(missing.status).toBe(400);
    const problem = (await missing.json()) as { code: string; errors: { field: string }[] };
    expect(problem.code).toBe('INVALID_REQUEST');
    expect(problem.errors.map((e) => e.field)).toContain('clientSecret');
    const unknown = await api('query', '/v1/integrations/myspace', { method: 'PUT', body: JSON.stringify({ clientId: 'x', clientSecret: 'y', scopes: ['a'] }) });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { code: string }).code).toBe('UNKNOWN_PROVIDER');
    const badSession = await api('gateway', '/v1/connect-sessions', { method: 'POST', body: JSON.stringify({ provider: 'gmail', userId: 'has space' }) });
    expect(badSession.status).toBe(400);
    expect(JSON.stringify(await badSession.json())).toContain('userId');
    const outside = await api('gateway', '/v1/connect-sessions', {
      method: 'POST',
      body: JSON.stringify({ provider: 'gmail', userId: 'u1', scopes: ['https://www.googleapis.com/auth/gmail.send'] }),
    });
    expect(outside.status).toBe(400);
    expect(((await outside.json()) as { code: string }).code).toBe('SCOPE_NOT_ALLOWED');
  });

  it('connects a user end to end and serves a valid access token from the credential endpoint', async () => {
    const started = Date.now();
    const { result } = await connect('user_123');
    expect(result.response.status).toBe(200);
    expect(result.body).toContain('Connected');
    // The browser went gateway -> provider (PKCE S256, state) -> gateway callback.
    const authorize = result.hops.map((h) => new URL(h.url)).find((u) => u.href.startsWith(google.authorizationEndpoint))!;
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorize.searchParams.get('access_type')).toBe('offline');
    expect(authorize.searchParams.get('prompt')).toBe('consent');
    expect(authorize.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{32,}$/);

    const connection = await eventually(async () => {
      const res = await api('query', '/v1/connections?provider=gmail');
      const items = ((await res.json()) as { items: { userId: string; status: string }[] }).items;
      return items.find((c) => c.userId === 'user_123' && c.status === 'connected');
    }, 10_000, 'the connection to be projected');
    expect(connection).toMatchObject({ provider: 'gmail', scopes: [GMAIL_READONLY], refreshable: true });

    const res = await api('query', '/v1/credentials/gmail/user_123');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const credential = (await res.json()) as { accessToken: string; type: string; expiresAt: string };
    const elapsed = Date.now() - started;
    console.log(`connect-to-credential: ${elapsed} ms (session, browser flow, code exchange, vault, event, projection, credential)`);
    expect(credential.type).toBe('oauth2');
    expect(Date.parse(credential.expiresAt)).toBeGreaterThan(Date.now() + 3000_000);
    secretsSeen.push(credential.accessToken);
    // The token really works at the provider.
    const probe = await fetch(google.probeEndpoint, { headers: { authorization: `Bearer ${credential.accessToken}` } });
    expect(probe.status).toBe(200);
    // The connection view never carries the token.
    expect(JSON.stringify(connection)).not.toContain(credential.accessToken);
    expect((await google.stats()).token_requests.authorization_code).toBe(1);
  });

  it('refuses a replayed callback and a forged state with a page, storing nothing', async () => {
    const jar = new CookieJar();
    const session = await api('gateway', '/v1/connect-sessions', { method: 'POST', body: JSON.stringify({ provider: 'gmail', userId: 'user_replay', scopes: [GMAIL_READONLY] }) });
    const { connectUrl } = (await session.json()) as { connectUrl: string };
    const callbackPrefix = `${platform.gatewayUrl}/v1/oauth/callback/gmail`;
    const paused = await browse(connectUrl, { jar, stopAt: (url) => url.href.startsWith(callbackPrefix) });
    const callback = paused.stoppedAt!;
    const first = await fetch(callback);
    expect(first.status).toBe(200);
    const replay = await fetch(callback);
    expect(replay.status).toBe(400);
    expect(replay.headers.get('content-type')).toContain('text/html');
    expect(await replay.text()).toContain('already used');

    const forged = new URL(callback);
    forged.searchParams.set('state', 'forged-state-value-forged-state-value');
    const forgedRes = await fetch(forged);
    expect(forgedRes.status).toBe(400);
    expect(await forgedRes.text()).toContain('invalid_state');

    // A used connect link cannot start a second flow.
    const reused = await fetch(connectUrl, { redirect: 'manual' });
    expect(reused.status).toBe(400);
    expect((await google.stats()).token_requests.authorization_code).toBe(2);
  });

  it('refreshes through the refresher when a token is inside its margin, keeping the non-rotating refresh token', async () => {
    await google.settings({ accessTokenTtlSeconds: 60 }); // inside gmail's 300 s margin from the start
    await connect('user_456');
    await eventually(async () => {
      const res = await api('query', '/v1/connections?userId=user_456');
      return ((await res.json()) as { items: unknown[] }).items[0];
    }, 10_000, 'user_456 to be projected');
    const before = (await google.stats()).token_requests.refresh_token ?? 0;
    const first = (await (await api('query', '/v1/credentials/gmail/user_456')).json()) as { accessToken: string };
    const second = (await (await api('query', '/v1/credentials/gmail/user_456')).json()) as { accessToken: string };
    secretsSeen.push(first.accessToken, second.accessToken);
    expect((await google.stats()).token_requests.refresh_token).toBe(before + 2);
    expect(second.accessToken).not.toBe(first.accessToken);
    expect((await fetch(google.probeEndpoint, { headers: { authorization: `Bearer ${second.accessToken}` } })).status).toBe(200);
    const connection = await eventually(async () => {
      const res = await api('query', '/v1/connections?userId=user_456');
      const item = ((await res.json()) as { items: { lastRefreshedAt?: string }[] }).items[0];
      return item?.lastRefreshedAt ? item : undefined;
    }, 10_000, 'Refreshed to be projected');
    expect(connection.lastRefreshedAt).toBeDefined();
    await google.settings({ accessTokenTtlSeconds: 3600 });
  });

  it('the health monitor finds a grant revoked at the provider, and the credential endpoint says so', async () => {
    const { accessToken } = (await (await api('query', '/v1/credentials/gmail/user_123')).json()) as { accessToken: string };
    await google.revokeGrant({ access_token: accessToken });
    const revoked = await eventually(async () => {
      const res = await api('query', '/v1/connections?userId=user_123');
      const item = ((await res.json()) as { items: { status: string; revocationReason?: string }[] }).items[0];
      return item?.status === 'revoked' ? item : undefined;
    }, 20_000, 'the health monitor to revoke user_123');
    expect(revoked.revocationReason).toBe('probe_unauthorized');
    const res = await api('query', '/v1/credentials/gmail/user_123');
    expect(res.status).toBe(409);
    expect(((await res.json()) as { code: string }).code).toBe('CONNECTION_REVOKED');
  });

  it('answers unknown connections and providers with machine-readable codes', async () => {
    const nobody = await api('query', '/v1/credentials/gmail/nobody');
    expect(nobody.status).toBe(404);
    expect(((await nobody.json()) as { code: string }).code).toBe('NOT_CONNECTED');
    const unknown = await api('query', '/v1/credentials/myspace/user_123');
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { code: string }).code).toBe('UNKNOWN_PROVIDER');
  });

  it('never wrote a token, API key or client secret to any log', () => {
    const logs = platform.logs.join('\n');
    expect(platform.logs.length).toBeGreaterThan(10);
    for (const secret of secretsSeen) expect(logs).not.toContain(secret);
  });
});
