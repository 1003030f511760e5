import { startOAuthServer, OAuthServerHandle } from '../support/oauth-server/spawn';
import { authorizeInBrowser, CookieJar, createPkce, randomState } from '../support/oauth-server/browser-less';
import { startFakeClickSend, FakeClickSend } from '../support/fake-clicksend';

// The local OAuth server (test/support/oauth-server/server.mjs) as its own process, driven like a browser + client.

const REDIRECT = 'http://127.0.0.1:4000/v1/oauth/callback';
const GMAIL_READONLY = 'https://www.googleapis.com/auth/gmail.readonly';

interface TokenResponse {
  status: number;
  body: Record<string, any>;
}

async function tokenRequest(
  server: OAuthServerHandle,
  params: Record<string, string>,
  options: { basic?: [string, string]; json?: boolean } = {},
): Promise<TokenResponse> {
  const headers: Record<string, string> = {
    'content-type': options.json ? 'application/json' : 'application/x-www-form-urlencoded',
  };
  if (options.basic) {
    headers.authorization = `Basic ${Buffer.from(`${options.basic[0]}:${options.basic[1]}`).toString('base64')}`;
  }
  const res = await fetch(server.tokenEndpoint, {
    method: 'POST',
    headers,
    body: options.json ? JSON.stringify(params) : new URLSearchParams(params).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

async function probe(server: OAuthServerHandle, accessToken: string): Promise<{ status: number; body: any }> {
  const res = await fetch(server.probeEndpoint, { headers: { authorization: `Bearer ${accessToken}` } });
  return { status: res.status, body: await res.json() };
}

function authorizationUrl(server: OAuthServerHandle, params: Record<string, string>): URL {
  const url = new URL(server.authorizationEndpoint);
  for (const [key, value] of Object.entries({ response_type: 'code', ...params })) url.searchParams.set(key, value);
  return url;
}

/** Authorization code flow with PKCE; returns the callback and the verifier. */
async function authorize(
  server: OAuthServerHandle,
  clientId: string,
  redirectUri: string,
  params: Record<string, string>,
  jar = new CookieJar(),
) {
  const pkce = createPkce();
  const state = randomState();
  const callback = await authorizeInBrowser(
    authorizationUrl(server, {
      client_id: clientId,
      redirect_uri: redirectUri,
      state,
      code_challenge: pkce.challenge,
      code_challenge_method: 'S256',
      ...params,
    }),
    redirectUri,
    { jar },
  );
  return { callback, state, verifier: pkce.verifier };
}

describe('local OAuth server: google profile', () => {
  let server: OAuthServerHandle;
  const client = { client_id: 'gmail-client', client_secret: 'gmail-secret', redirect_uris: [`${REDIRECT}/gmail`] };
  const redirectUri = `${REDIRECT}/gmail`;

  beforeAll(async () => {
    server = await startOAuthServer({ profile: 'google', clients: [client] });
  });
  afterAll(async () => {
    await server?.stop();
  });

  async function codeExchange(code: string, verifier: string) {
    return tokenRequest(server, {
      grant_type: 'authorization_code',
      code,
      code_verifier: verifier,
      redirect_uri: redirectUri,
      client_id: client.client_id,
      client_secret: client.client_secret,
    });
  }

  it('prints a ready line with loopback endpoints', () => {
    expect(server.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.ready).toMatchObject({ ready: true, profile: 'google' });
    expect(server.tokenEndpoint).toBe(`${server.issuer}/token`);
    expect(server.probeEndpoint).toBe(`${server.issuer}/probe`);
  });

  it('issues no refresh token without access_type=offline and prompt=consent', async () => {
    const { callback, state, verifier } = await authorize(server, client.client_id, redirectUri, {
      scope: `openid email ${GMAIL_READONLY}`,
    });
    expect(callback.error).toBeUndefined();
    expect(callback.state).toBe(state);
    expect(callback.iss).toBe(server.issuer);
    expect(callback.code).toEqual(expect.any(String));

    const token = await codeExchange(callback.code!, verifier);
    expect(token.status).toBe(200);
    expect(token.body).toMatchObject({ token_type: 'Bearer', expires_in: 3600 });
    expect(token.body.refresh_token).toBeUndefined();
    expect(token.body.scope.split(' ')).toEqual(expect.arrayContaining(['openid', 'email', GMAIL_READONLY]));

    const probed = await probe(server, token.body.access_token);
    expect(probed.status).toBe(200);
    expect(probed.body).toMatchObject({ sub: 'alice', client_id: client.client_id });
    expect(probed.body.scope).toContain(GMAIL_READONLY);

    // access_type=offline alone is not enough
    const offlineOnly = await authorize(server, client.client_id, redirectUri, {
      scope: GMAIL_READONLY,
      access_type: 'offline',
    });
    const second = await codeExchange(offlineOnly.callback.code!, offlineOnly.verifier);
    expect(second.status).toBe(200);
    expect(second.body.refresh_token).toBeUndefined();
  });

  it('issues a non-rotating refresh token with access_type=offline&prompt=consent; revoke-grant kills it', async () => {
    const { callback, verifier } = await authorize(server, client.client_id, redirectUri, {
      scope: GMAIL_READONLY,
      access_type: 'offline',
      prompt: 'consent',
      login_hint: 'bob',
    });
    const token = await codeExchange(callback.code!, verifier);
    expect(token.status).toBe(200);
    const refreshToken = token.body.refresh_token;
    expect(refreshToken).toEqual(expect.any(String));
    expect((await probe(server, token.body.access_token)).body.sub).toBe('bob');

    // refresh twice with the same refresh token (client_secret_basic works too); Google omits refresh_token
    const first = await tokenRequest(server, { grant_type: 'refresh_token', refresh_token: refreshToken }, {
      basic: [client.client_id, client.client_secret],
    });
    expect(first.status).toBe(200);
    expect(first.body.refresh_token).toBeUndefined();
    expect(first.body.access_token).not.toBe(token.body.access_token);
    const again = await tokenRequest(server, {
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: client.client_id,
      client_secret: client.client_secret,
    });
    expect(again.status).toBe(200);

    const revoked = await server.revokeGrant({ sub: 'bob' });
    expect(revoked.revoked).toBe(1);
    expect((await probe(server, again.body.access_token)).status).toBe(401);
    const afterRevoke = await tokenRequest(server, {
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: client.client_id,
      client_secret: client.client_secret,
    });
    expect(afterRevoke.status).toBe(400);
    expect(afterRevoke.body.error).toBe('invalid_grant');
  });

  it('treats a reused authorization code as invalid_grant and revokes what it issued', async () => {
    const { callback, verifier } = await authorize(server, client.client_id, redirectUri, {
      scope: GMAIL_READONLY,
      access_type: 'offline',
      prompt: 'select_account consent',
    });
    const token = await codeExchange(callback.code!, verifier);
    expect(token.status).toBe(200);
    expect(token.body.refresh_token).toEqual(expect.any(String));
    const reused = await codeExchange(callback.code!, verifier);
    expect(reused.status).toBe(400);
    expect(reused.body.error).toBe('invalid_grant');
    expect((await probe(server, token.body.access_token)).status).toBe(401);
  });

  it('redirects a denied consent with error=access_denied, state and iss', async () => {
    const { callback, state } = await authorize(server, client.client_id, redirectUri, {
      scope: GMAIL_READONLY,
      login_hint: 'deny',
    });
    expect(callback.error).toBe('access_denied');
    expect(callback.state).toBe(state);
    expect(callback.iss).toBe(server.issuer);
    expect(callback.code).toBeUndefined();

    await server.denyConsent(true, 1); // the admin switch, any login_hint
    expect((await authorize(server, client.client_id, redirectUri, { scope: GMAIL_READONLY })).callback.error).toBe(
      'access_denied',
    );
    expect((await authorize(server, client.client_id, redirectUri, { scope: GMAIL_READONLY })).callback.code).toBeDefined();
  });

  it('rejects unknown scopes and switches users within one cookie jar', async () => {
    const unknown = await authorize(server, client.client_id, redirectUri, { scope: 'https://example.test/nope' });
    expect(unknown.callback.error).toBe('invalid_scope');

    const jar = new CookieJar();
    const asCarol = await authorize(server, client.client_id, redirectUri, { scope: GMAIL_READONLY, login_hint: 'carol' }, jar);
    const asDave = await authorize(server, client.client_id, redirectUri, { scope: GMAIL_READONLY, login_hint: 'dave' }, jar);
    const carol = await codeExchange(asCarol.callback.code!, asCarol.verifier);
    const dave = await codeExchange(asDave.callback.code!, asDave.verifier);
    expect((await probe(server, carol.body.access_token)).body.sub).toBe('carol');
    expect((await probe(server, dave.body.access_token)).body.sub).toBe('dave');
  });

  it('counts token requests by grant_type and injects token endpoint faults', async () => {
    await server.reset();
    const { callback, verifier } = await authorize(server, client.client_id, redirectUri, {
      scope: GMAIL_READONLY,
      access_type: 'offline',
      prompt: 'consent',
    });
    await server.faults({ token: { status: 503, times: 2, retryAfter: 1 } });
    const failed = await codeExchange(callback.code!, verifier);
    expect(failed.status).toBe(503);
    expect(failed.body.error).toBe('temporarily_unavailable');
    expect((await codeExchange(callback.code!, verifier)).status).toBe(503);
    const token = await codeExchange(callback.code!, verifier);
    expect(token.status).toBe(200);

    await server.faults({ token: { delayMs: 300, grantType: 'refresh_token', times: 1 } });
    const started = Date.now();
    const slow = await tokenRequest(server, {
      grant_type: 'refresh_token',
      refresh_token: token.body.refresh_token,
      client_id: client.client_id,
      client_secret: client.client_secret,
    });
    expect(slow.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);

    // Google-like: a JSON body is accepted here (the discord profile rejects it)
    const json = await tokenRequest(
      server,
      { grant_type: 'refresh_token', refresh_token: 'nope', client_id: client.client_id, client_secret: client.client_secret },
      { json: true },
    );
    expect(json.body.error).toBe('invalid_grant');

    const stats = await server.stats();
    expect(stats.token_requests).toEqual({ authorization_code: 3, refresh_token: 2 });
    expect(stats.token_responses).toEqual({ '200': 2, '400': 1, '503': 2 });
    expect(stats.faults_injected).toEqual({ token: 3 });
    expect(stats.token_errors).toEqual({ invalid_grant: 1 });
    expect(stats.authorizations.granted).toBe(1);
    expect(stats.probe_requests).toEqual({ ok: 0, unauthorized: 0 });
  });

  it('can drop iss from authorization responses', async () => {
    await server.settings({ issAuthResp: false });
    try {
      const { callback } = await authorize(server, client.client_id, redirectUri, { scope: GMAIL_READONLY });
      expect(callback.code).toBeDefined();
      expect(callback.iss).toBeUndefined();
    } finally {
      await server.reset();
    }
  });
});

describe('local OAuth server: discord profile', () => {
  let server: OAuthServerHandle;
  const client = {
    client_id: 'discord-client',
    client_secret: 'discord-secret',
    redirect_uris: [`${REDIRECT}/discord`],
  };
  const redirectUri = `${REDIRECT}/discord`;
  const auth = { client_id: client.client_id, client_secret: client.client_secret };

  beforeAll(async () => {
    server = await startOAuthServer({ profile: 'discord', clients: [client] });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('requires PKCE', async () => {
    const callback = await authorizeInBrowser(
      authorizationUrl(server, { client_id: client.client_id, redirect_uri: redirectUri, scope: 'identify', state: 's1' }),
      redirectUri,
    );
    expect(callback.error).toBe('invalid_request');
    expect(callback.errorDescription).toMatch(/PKCE/);
    expect(callback.state).toBe('s1');
  });

  it('rotates refresh tokens; reusing an old one revokes the whole grant', async () => {
    const { callback, verifier } = await authorize(server, client.client_id, redirectUri, { scope: 'identify email' });
    const exchange = {
      grant_type: 'authorization_code',
      code: callback.code!,
      code_verifier: verifier,
      redirect_uri: redirectUri,
      ...auth,
    };

    // form-encoded only
    const asJson = await tokenRequest(server, exchange, { json: true });
    expect(asJson.status).toBe(400);
    expect(asJson.body.error).toBe('invalid_request');

    const token = await tokenRequest(server, exchange);
    expect(token.status).toBe(200);
    expect(token.body).toMatchObject({ token_type: 'Bearer', expires_in: 604800, scope: 'identify email' });
    const rt1 = token.body.refresh_token;
    expect(rt1).toEqual(expect.any(String));

    const refreshed = await tokenRequest(server, { grant_type: 'refresh_token', refresh_token: rt1, ...auth });
    expect(refreshed.status).toBe(200);
    const rt2 = refreshed.body.refresh_token;
    expect(rt2).toEqual(expect.any(String));
    expect(rt2).not.toBe(rt1);
    expect((await probe(server, refreshed.body.access_token)).status).toBe(200);

    const reused = await tokenRequest(server, { grant_type: 'refresh_token', refresh_token: rt1, ...auth });
    expect(reused.status).toBe(400);
    expect(reused.body.error).toBe('invalid_grant');

    const successor = await tokenRequest(server, { grant_type: 'refresh_token', refresh_token: rt2, ...auth });
    expect(successor.body.error).toBe('invalid_grant');
    expect((await probe(server, refreshed.body.access_token)).status).toBe(401);

    const stats = await server.stats();
    expect(stats.token_requests).toEqual({ authorization_code: 2, refresh_token: 3 });
    expect(stats.probe_requests).toEqual({ ok: 1, unauthorized: 1 });
  });

  it('rejects a short PKCE verifier at the token endpoint', async () => {
    const { callback } = await authorize(server, client.client_id, redirectUri, { scope: 'identify' });
    const res = await tokenRequest(server, {
      grant_type: 'authorization_code',
      code: callback.code!,
      code_verifier: 'too-short',
      redirect_uri: redirectUri,
      ...auth,
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/43/) });
  });

  it('bot installs: guild_id and permissions on the callback, guild in the code exchange only', async () => {
    const exchange = (code: string, verifier: string) =>
      tokenRequest(server, {
        grant_type: 'authorization_code',
        code,
        code_verifier: verifier,
        redirect_uri: redirectUri,
        ...auth,
      });

    const install = await authorize(server, client.client_id, redirectUri, {
      scope: 'bot applications.commands',
      permissions: '2048',
      guild_id: '987654321098765432',
      disable_guild_select: 'true',
    });
    expect(install.callback.error).toBeUndefined();
    expect(install.callback.params.get('guild_id')).toBe('987654321098765432');
    expect(install.callback.params.get('permissions')).toBe('2048');
    expect(install.callback.iss).toBe(server.issuer);
    const token = await exchange(install.callback.code!, install.verifier);
    expect(token.status).toBe(200);
    expect(token.body.guild).toEqual({ id: '987654321098765432', name: 'Local Guild' });
    expect(token.body.scope).toBe('bot applications.commands');
    const grant = (await server.grants()).find((g) => g.scope === 'bot applications.commands');
    expect(grant).toMatchObject({ guild_id: '987654321098765432', permissions: '2048' });

    // the refresh response has no guild
    const refreshed = await tokenRequest(server, {
      grant_type: 'refresh_token',
      refresh_token: token.body.refresh_token,
      ...auth,
    });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.guild).toBeUndefined();

    // no guild_id / permissions requested: the defaults
    const defaults = await authorize(server, client.client_id, redirectUri, { scope: 'identify bot' });
    expect(defaults.callback.params.get('guild_id')).toBe('100200300400500600');
    expect(defaults.callback.params.get('permissions')).toBe('0');
    expect((await exchange(defaults.callback.code!, defaults.verifier)).body.guild).toEqual({
      id: '100200300400500600',
      name: 'Local Guild',
    });

    // no bot scope: a plain authorization
    const plain = await authorize(server, client.client_id, redirectUri, { scope: 'identify', guild_id: '1' });
    expect(plain.callback.params.has('guild_id')).toBe(false);
    expect(plain.callback.params.has('permissions')).toBe(false);
    expect((await exchange(plain.callback.code!, plain.verifier)).body.guild).toBeUndefined();

    // a denied bot install carries neither
    const denied = await authorize(server, client.client_id, redirectUri, { scope: 'bot', login_hint: 'deny' });
    expect(denied.callback.error).toBe('access_denied');
    expect(denied.callback.params.has('guild_id')).toBe(false);

    // botInstalls off (runtime setting): scope bot is an ordinary scope
    await server.settings({ botInstalls: false });
    try {
      const off = await authorize(server, client.client_id, redirectUri, { scope: 'bot', permissions: '8' });
      expect(off.callback.params.has('guild_id')).toBe(false);
      expect((await exchange(off.callback.code!, off.verifier)).body.guild).toBeUndefined();
    } finally {
      await server.reset();
    }
  });
});

describe('local OAuth server: dialpad and aircall profiles', () => {
  let dialpad: OAuthServerHandle;
  let aircall: OAuthServerHandle;
  const client = { client_id: 'c', client_secret: 's', redirect_uris: [`${REDIRECT}/x?tenant=t1`] };
  const redirectUri = `${REDIRECT}/x?tenant=t1`;

  beforeAll(async () => {
    [dialpad, aircall] = await Promise.all([
      startOAuthServer({ profile: 'dialpad', clients: [client] }),
      startOAuthServer({ profile: 'aircall', clients: [client] }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([dialpad?.stop(), aircall?.stop()]);
  });

  async function flow(server: OAuthServerHandle, scope: string) {
    const { callback, verifier } = await authorize(server, client.client_id, redirectUri, { scope });
    expect(callback.url.searchParams.get('tenant')).toBe('t1');
    return tokenRequest(server, {
      grant_type: 'authorization_code',
      code: callback.code!,
      code_verifier: verifier,
      redirect_uri: redirectUri,
      client_id: client.client_id,
      client_secret: client.client_secret,
    });
  }

  it('dialpad: a refresh token only with scope offline_access', async () => {
    const without = await flow(dialpad, 'calls:list');
    expect(without.status).toBe(200);
    expect(without.body.refresh_token).toBeUndefined();
    const withOffline = await flow(dialpad, 'offline_access calls:list');
    expect(withOffline.body.refresh_token).toEqual(expect.any(String));
    expect(withOffline.body.scope).toBe('offline_access calls:list');
  });

  it('aircall: permanent access token, no refresh token, PKCE ignored', async () => {
    const token = await flow(aircall, 'public_api');
    expect(token.status).toBe(200);
    expect(token.body.refresh_token).toBeUndefined();
    expect(token.body.expires_in).toBeUndefined();
    const probed = await probe(aircall, token.body.access_token);
    expect(probed.status).toBe(200);
    expect(probed.body.exp - Date.now() / 1000).toBeGreaterThan(5 * 365 * 24 * 3600);
    await aircall.revokeGrant({ access_token: token.body.access_token });
    expect((await probe(aircall, token.body.access_token)).status).toBe(401);
  });
});

// Not an OAuth server, but the same kind of provider stand-in: ClickSend's API-key check (test/support/fake-clicksend.ts).
describe('fake ClickSend account endpoint', () => {
  let clicksend: FakeClickSend;

  beforeAll(async () => {
    clicksend = await startFakeClickSend({ accounts: { 'ops@example.test': 'KEY-1' } });
  });
  afterAll(async () => {
    await clicksend?.stop();
  });

  async function verify(username: string, apiKey: string) {
    const res = await fetch(clicksend.verifyUrl, {
      headers: { authorization: `Basic ${Buffer.from(`${username}:${apiKey}`).toString('base64')}` },
    });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  }

  it('checks HTTP Basic username:api_key, can be forced to fail and can revoke', async () => {
    expect(clicksend.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(clicksend.verifyUrl).toBe(`${clicksend.url}/v3/account`);

    expect(await verify('ops@example.test', 'KEY-1')).toEqual({
      status: 200,
      body: {
        http_code: 200,
        response_code: 'SUCCESS',
        data: { user_id: 1, username: 'ops@example.test', balance: '12.50' },
      },
    });
    expect(await verify('ops@example.test', 'wrong')).toEqual({
      status: 401,
      body: { http_code: 401, response_code: 'INVALID_CREDENTIALS' },
    });
    const anonymous = await fetch(clicksend.verifyUrl);
    expect(anonymous.status).toBe(401);
    await anonymous.text();

    clicksend.setStatus(503);
    expect((await verify('ops@example.test', 'KEY-1')).status).toBe(503);
    clicksend.setStatus(null);
    expect((await verify('ops@example.test', 'KEY-1')).status).toBe(200);

    clicksend.revoke('ops@example.test');
    expect((await verify('ops@example.test', 'KEY-1')).status).toBe(401);
    expect(clicksend.requests()).toBe(6);
  });
});
