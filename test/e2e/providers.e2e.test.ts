import { browse, CookieJar } from '../support/oauth-server/browser-less';
import { OAuthServerHandle, startOAuthServer } from '../support/oauth-server/spawn';
import { FakeClickSend, startFakeClickSend } from '../support/fake-clicksend';
import { eventually, gatewayUrlFor, reservePorts, startTestPlatform, TestPlatform } from '../support/test-platform';

/*
 * Every provider of the catalog connected end to end against local servers configured like each (Discord: PKCE
 * required, rotating refresh tokens, form-only bodies, bot installs; Dialpad: a refresh token only with
 * offline_access; Aircall: a permanent token and no refresh token; ClickSend: an API key checked at its account
 * endpoint), and the attacks and failures of the connect flow, each showing a clear error and storing nothing.
 */

const GMAIL_READONLY = 'https://www.googleapis.com/auth/gmail.readonly';
type Connection = { connectionId: string; userId: string; provider: string; status: string; refreshable: boolean; expiresAt: string | null; metadata: Record<string, string>; lastRefreshedAt?: string };

describe('connect flow for every provider', () => {
  const servers: Record<string, OAuthServerHandle> = {};
  const secrets: Record<string, string> = {};
  let clicksend: FakeClickSend;
  let platform: TestPlatform;
  let apiKey: string;
  const seenSecrets: string[] = [];

  const json = (init: RequestInit & { key?: string } = {}): RequestInit => ({
    ...init,
    headers: { authorization: `Bearer ${init.key ?? apiKey}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
  });
  const query = (path: string, init?: RequestInit & { key?: string }) => fetch(`${platform.queryUrl}${path}`, json(init));
  const gateway = (path: string, init?: RequestInit & { key?: string }) => fetch(`${platform.gatewayUrl}${path}`, json(init));

  async function session(body: Record<string, unknown>): Promise<string> {
    const res = await gateway('/v1/connect-sessions', { method: 'POST', body: JSON.stringify(body) });
    expect(res.status).toBe(201);
    return ((await res.json()) as { connectUrl: string }).connectUrl;
  }

  async function connection(provider: string, userId: string): Promise<Connection | undefined> {
    const res = await query(`/v1/connections?provider=${provider}&userId=${encodeURIComponent(userId)}`);
    return ((await res.json()) as { items: Connection[] }).items[0];
  }

  const connected = (provider: string, userId: string) =>
    eventually(async () => {
      const c = await connection(provider, userId);
      return c?.status === 'connected' ? c : undefined;
    }, 10_000, `${provider}/${userId} to be connected`);

  async function credential(provider: string, userId: string) {
    const res = await query(`/v1/credentials/${provider}/${encodeURIComponent(userId)}`);
    const body = (await res.json()) as { accessToken?: string; apiKey?: string; username?: string; expiresAt: string | null; type: string; code?: string };
    if (body.accessToken) seenSecrets.push(body.accessToken);
    return { status: res.status, body };
  }

  /** After a failure: no connection, no credential. */
  async function nothingStored(provider: string, userId: string) {
    expect(await connection(provider, userId)).toBeUndefined();
    const { status, body } = await credential(provider, userId);
    expect(status).toBe(404);
    expect(body.code).toBe('NOT_CONNECTED');
  }

  const callbackOf = (provider: string) => `${platform.gatewayUrl}/v1/oauth/callback/${provider}`;
  const pauseAtCallback = (connectUrl: string, provider: string) =>
    browse(connectUrl, { jar: new CookieJar(), stopAt: (url) => url.href.startsWith(callbackOf(provider)) }).then((r) => r.stoppedAt!);

  beforeAll(async () => {
    const ports = await reservePorts();
    const profiles = { gmail: 'google', discord: 'discord', dialpad: 'dialpad', aircall: 'aircall' } as const;
    for (const [provider, profile] of Object.entries(profiles)) {
      secrets[provider] = `${provider}-secret-${Math.random().toString(36).slice(2)}`;
      seenSecrets.push(secrets[provider]);
      servers[provider] = await startOAuthServer({
        profile,
        clients: [{ client_id: `${provider}-client`, client_secret: secrets[provider], redirect_uris: [`${gatewayUrlFor(ports)}/v1/oauth/callback/${provider}`] }],
      });
    }
    clicksend = await startFakeClickSend({ accounts: { acme_sms: 'good-clicksend-key' } });
    seenSecrets.push('good-clicksend-key');
    const oauth2 = (s: OAuthServerHandle) => ({ authorizationUrl: s.authorizationEndpoint, tokenUrl: s.tokenEndpoint, revocationUrl: s.revocationEndpoint, issuer: s.issuer });
    platform = await startTestPlatform({
      ports,
      providers: {
        gmail: { oauth2: oauth2(servers.gmail), probe: { url: servers.gmail.probeEndpoint } },
        discord: { oauth2: oauth2(servers.discord), probe: { url: servers.discord.probeEndpoint } },
        dialpad: { oauth2: { ...oauth2(servers.dialpad), revocationUrl: undefined }, probe: { url: servers.dialpad.probeEndpoint } },
        aircall: { oauth2: { ...oauth2(servers.aircall), revocationUrl: undefined }, probe: { url: servers.aircall.probeEndpoint } },
        clicksend: { apiKey: { verifyUrl: clicksend.verifyUrl }, probe: { url: clicksend.verifyUrl } },
      },
    });
    const post = (path: string, body: unknown) =>
      fetch(`${platform.queryUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${platform.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    await post('/v1/admin/tenants', { tenantId: 'org_multi', name: 'Multi' });
    apiKey = ((await (await post('/v1/admin/tenants/org_multi/api-keys', {})).json()) as { apiKey: string }).apiKey;
    seenSecrets.push(apiKey);
    const scopes: Record<string, string[]> = {
      gmail: [GMAIL_READONLY],
      discord: ['identify', 'email', 'bot'],
      dialpad: ['offline_access', 'calls:list'],
      aircall: ['public_api'],
    };
    for (const provider of Object.keys(scopes)) {
      const res = await query(`/v1/integrations/${provider}`, { method: 'PUT', body: JSON.stringify({ clientId: `${provider}-client`, clientSecret: secrets[provider], scopes: scopes[provider] }) });
      expect(res.status).toBe(200);
    }
  });

  afterAll(async () => {
    await platform?.stop();
    await Promise.all(Object.values(servers).map((s) => s.stop()));
    await clicksend?.stop();
  });

  describe('discord', () => {
    it('installs a bot: permissions and guild_id go to Discord, the guild comes back onto the connection', async () => {
      const connectUrl = await session({ provider: 'discord', userId: 'd_bot', scopes: ['identify', 'bot'], params: { permissions: '2048', guild_id: '424242' } });
      const result = await browse(connectUrl, { jar: new CookieJar() });
      expect(result.response.status).toBe(200);
      const authorize = result.hops.map((h) => new URL(h.url)).find((u) => u.href.startsWith(servers.discord.authorizationEndpoint))!;
      expect(authorize.searchParams.get('permissions')).toBe('2048');
      expect(authorize.searchParams.get('guild_id')).toBe('424242');
      expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
      const c = await connected('discord', 'd_bot');
      expect(c.metadata).toEqual({ guild_id: '424242', permissions: '2048' });
    });

    it('refuses session parameters Discord does not declare', async () => {
      const res = await gateway('/v1/connect-sessions', { method: 'POST', body: JSON.stringify({ provider: 'discord', userId: 'd_x', params: { redirect_uri: 'https://evil.example' } }) });
      expect(res.status).toBe(400);
      expect(JSON.stringify(await res.json())).toContain('params.redirect_uri');
    });

    it('keeps a connection valid through rotating refreshes (each refresh token used once)', async () => {
      await servers.discord.settings({ accessTokenTtlSeconds: 60 }); // inside Discord's margin: every read refreshes
      await browse(await session({ provider: 'discord', userId: 'd_rotate', scopes: ['identify'] }), { jar: new CookieJar() });
      await connected('discord', 'd_rotate');
      const before = (await servers.discord.stats()).token_requests.refresh_token ?? 0;
      const tokens: string[] = [];
      for (let i = 0; i < 3; i++) {
        const { status, body } = await credential('discord', 'd_rotate');
        expect(status).toBe(200);
        tokens.push(body.accessToken!);
      }
      expect((await servers.discord.stats()).token_requests.refresh_token).toBe(before + 3);
      expect(new Set(tokens).size).toBe(3);
      // Reusing a rotated refresh token would have revoked the whole grant: the newest token still works.
      expect((await fetch(servers.discord.probeEndpoint, { headers: { authorization: `Bearer ${tokens[2]}` } })).status).toBe(200);
      await servers.discord.settings({ accessTokenTtlSeconds: 604800 });
    });
  });

  it('dialpad: offline_access brings a refresh token, so the connection is refreshable', async () => {
    const result = await browse(await session({ provider: 'dialpad', userId: 'p1' }), { jar: new CookieJar() });
    expect(result.response.status).toBe(200);
    const c = await connected('dialpad', 'p1');
    expect(c.refreshable).toBe(true);
    expect((await credential('dialpad', 'p1')).status).toBe(200);
  });

  it('aircall: a permanent token without refresh', async () => {
    const result = await browse(await session({ provider: 'aircall', userId: 'a1' }), { jar: new CookieJar() });
    expect(result.response.status).toBe(200);
    const c = await connected('aircall', 'a1');
    expect(c).toMatchObject({ refreshable: false, expiresAt: null });
    const { status, body } = await credential('aircall', 'a1');
    expect(status).toBe(200);
    expect(body.expiresAt).toBeNull();
    expect((await fetch(servers.aircall.probeEndpoint, { headers: { authorization: `Bearer ${body.accessToken}` } })).status).toBe(200);
    expect((await servers.aircall.stats()).token_requests.refresh_token ?? 0).toBe(0);
  });

  describe('clicksend (API key)', () => {
    it('a backend connects a key the provider accepts', async () => {
      const res = await gateway('/v1/api-key-connections', { method: 'POST', body: JSON.stringify({ provider: 'clicksend', userId: 'c1', username: 'acme_sms', apiKey: 'good-clicksend-key' }) });
      expect(res.status).toBe(201);
      expect(await res.text()).not.toContain('good-clicksend-key');
      await connected('clicksend', 'c1');
      const { body } = await credential('clicksend', 'c1');
      expect(body).toMatchObject({ type: 'api_key', apiKey: 'good-clicksend-key', username: 'acme_sms', expiresAt: null });
    });

    it('a bad key is rejected with a clear error and nothing is stored', async () => {
      const res = await gateway('/v1/api-key-connections', { method: 'POST', body: JSON.stringify({ provider: 'clicksend', userId: 'c_bad', username: 'acme_sms', apiKey: 'wrong-key' }) });
      expect(res.status).toBe(422);
      const problem = (await res.json()) as { code: string; detail: string };
      expect(problem.code).toBe('CREDENTIAL_REJECTED');
      expect(problem.detail).not.toContain('wrong-key');
      await nothingStored('clicksend', 'c_bad');
    });

    it('a user connects a key through the gateway form', async () => {
      const connectUrl = await session({ provider: 'clicksend', userId: 'c_form', returnOrigin: 'https://app.example.com' });
      const form = await fetch(connectUrl);
      expect(form.status).toBe(200);
      const html = await form.text();
      expect(html).toContain('name="apiKey"');
      expect(form.headers.get('content-security-policy')).toContain("form-action 'self'");
      const token = new URL(connectUrl).searchParams.get('session')!;
      const submit = () =>
        fetch(`${platform.gatewayUrl}/v1/connect/api-key`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ session: token, username: 'acme_sms', apiKey: 'good-clicksend-key' }),
        });
      const done = await submit();
      expect(done.status).toBe(200);
      const page = await done.text();
      expect(page).toContain('Connected');
      expect(page).toContain('https://app.example.com');
      expect(page).not.toContain('good-clicksend-key');
      await connected('clicksend', 'c_form');
      expect((await submit()).status).toBe(400); // the session is spent
    });
  });

  describe('attacks and failures', () => {
    it('a user who denies consent gets a readable page and nothing is stored', async () => {
      await servers.gmail.denyConsent(true, 1);
      const result = await browse(await session({ provider: 'gmail', userId: 'g_denied', returnOrigin: 'https://app.example.com' }), { jar: new CookieJar() });
      expect(result.response.status).toBe(400);
      expect(result.body).toContain('You did not allow access to Gmail');
      expect(result.body).toContain('"reason":"access_denied"');
      await nothingStored('gmail', 'g_denied');
    });

    it('a callback whose iss is not the provider (mix-up) is refused', async () => {
      const callback = await pauseAtCallback(await session({ provider: 'gmail', userId: 'g_iss' }), 'gmail');
      callback.searchParams.set('iss', 'https://attacker.example');
      const res = await fetch(callback);
      expect(res.status).toBe(400);
      expect(await res.text()).toContain('issuer_mismatch');
      await nothingStored('gmail', 'g_iss');
      expect((await servers.gmail.stats()).token_requests.authorization_code ?? 0).toBe(0);
    });

    it('a code injected into another flow fails PKCE at the provider and is not stored', async () => {
      const victim = await pauseAtCallback(await session({ provider: 'gmail', userId: 'g_victim' }), 'gmail');
      const attacker = await pauseAtCallback(await session({ provider: 'gmail', userId: 'g_attacker' }), 'gmail');
      victim.searchParams.set('code', attacker.searchParams.get('code')!);
      const res = await fetch(victim);
      // The provider refuses the code (invalid_grant): bad input, a 400 page, not a provider outage.
      expect(res.status).toBe(400);
      expect(await res.text()).toContain('exchange_failed');
      await nothingStored('gmail', 'g_victim');
    });

    it('reconnecting a user replaces the credential of the same connection', async () => {
      await browse(await session({ provider: 'gmail', userId: 'g_again' }), { jar: new CookieJar() });
      const first = await connected('gmail', 'g_again');
      const firstToken = (await credential('gmail', 'g_again')).body.accessToken;
      await browse(await session({ provider: 'gmail', userId: 'g_again' }), { jar: new CookieJar() });
      const second = await eventually(async () => {
        const c = await connection('gmail', 'g_again');
        const token = (await credential('gmail', 'g_again')).body.accessToken;
        return token !== firstToken ? c : undefined;
      }, 10_000, 'the second credential');
      expect(second!.connectionId).toBe(first.connectionId);
      const all = (await (await query('/v1/connections?userId=g_again')).json()) as { items: unknown[] };
      expect(all.items).toHaveLength(1);
    });

    it('a removed integration takes no new connect sessions and its secret is gone', async () => {
      expect((await query('/v1/integrations/aircall', { method: 'DELETE' })).status).toBe(204);
      expect((await query('/v1/integrations/aircall', { method: 'DELETE' })).status).toBe(204);
      const res = await gateway('/v1/connect-sessions', { method: 'POST', body: JSON.stringify({ provider: 'aircall', userId: 'a2' }) });
      expect(res.status).toBe(404);
      expect(((await res.json()) as { code: string }).code).toBe('INTEGRATION_NOT_FOUND');
      const list = (await (await query('/v1/integrations')).json()) as { items: { provider: string }[] };
      expect(list.items.map((i) => i.provider)).not.toContain('aircall');
      expect((await query('/v1/integrations/discord-x', { method: 'DELETE' })).status).toBe(404);
    });
  });

  it('wrote no token, API key or client secret to any log', () => {
    const logs = platform.logs.join('\n');
    for (const secret of seenSecrets) expect(logs).not.toContain(secret);
  });
});
