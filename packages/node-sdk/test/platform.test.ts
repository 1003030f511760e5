import { browse, CookieJar } from '../../../test/support/oauth-server/browser-less';
import { OAuthServerHandle, startOAuthServer } from '../../../test/support/oauth-server/spawn';
import { eventually, gatewayUrlFor, reservePorts, startTestPlatform, TestPlatform } from '../../../test/support/test-platform';
import { Authpipe, AuthpipeNotConnectedError, AuthpipeRevokedError, AuthpipeStreamEvent, AuthpipeUnauthorizedError } from '../src';

/*
 * The SDK against the real platform (five apps on their own nats-server, a Google-like oidc-provider): the
 * credential endpoint, query-api's event stream (GET /v1/events/stream) pushing Revoked, Refreshed and Disconnected
 * into the cache, connect sessions at the gateway and the connections API.
 */

const GMAIL_READONLY = 'https://www.googleapis.com/auth/gmail.readonly';
const TENANT = 'org_sdk';

describe('@authpipe/node against the platform', () => {
  let google: OAuthServerHandle;
  let platform: TestPlatform;
  let apiKey: string;
  const clients: Authpipe[] = [];

  const client = (options: Partial<ConstructorParameters<typeof Authpipe>[0]> = {}) => {
    const c = new Authpipe({ baseUrl: platform.queryUrl, gatewayUrl: platform.gatewayUrl, apiKey, ...options });
    clients.push(c);
    return c;
  };

  /** A connect session from the SDK, driven through the browser flow without a browser. */
  async function connect(authpipe: Authpipe, userId: string) {
    const session = await authpipe.createConnectSession({ provider: 'gmail', userId, scopes: [GMAIL_READONLY] });
    const page = await browse(session.connectUrl, { jar: new CookieJar() });
    expect(page.body).toContain('Connected');
    await eventually(async () => (await authpipe.listConnections({ userId, status: 'connected' })).items[0], 10_000, `${userId} to be projected`);
  }

  beforeAll(async () => {
    const ports = await reservePorts();
    google = await startOAuthServer({
      profile: 'google',
      clients: [{ client_id: 'sdk-gmail', client_secret: 'sdk-gmail-secret', redirect_uris: [`${gatewayUrlFor(ports)}/v1/oauth/callback/gmail`] }],
    });
    platform = await startTestPlatform({
      ports,
      env: { PROBE_INTERVAL_SECONDS: '3', EVENT_STREAM_HEARTBEAT_SECONDS: '2' },
      providers: {
        gmail: { oauth2: { authorizationUrl: google.authorizationEndpoint, tokenUrl: google.tokenEndpoint, revocationUrl: google.revocationEndpoint, issuer: google.issuer }, probe: { url: google.probeEndpoint } },
      },
    });
    const admin = (path: string, body: unknown) =>
      fetch(`${platform.queryUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${platform.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    await admin('/v1/admin/tenants', { tenantId: TENANT, name: 'SDK' });
    apiKey = ((await (await admin(`/v1/admin/tenants/${TENANT}/api-keys`, {})).json()) as { apiKey: string }).apiKey;
    await fetch(`${platform.queryUrl}/v1/integrations/gmail`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ clientId: 'sdk-gmail', clientSecret: 'sdk-gmail-secret', scopes: [GMAIL_READONLY] }),
    });
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await platform?.stop();
    await google?.stop();
  });

  it('serves a connected user from the cache after one read, with the event stream open', async () => {
    const authpipe = client();
    await connect(authpipe, 'user_hot');
    const { credential } = await authpipe.getCredential({ provider: 'gmail', tenantId: TENANT, userId: 'user_hot' });
    expect(credential).toMatchObject({ provider: 'gmail', userId: 'user_hot', type: 'oauth2', tokenType: 'bearer', scopes: [GMAIL_READONLY] });
    expect((await fetch(google.probeEndpoint, { headers: { authorization: `Bearer ${credential.accessToken}` } })).status).toBe(200);
    for (let i = 0; i < 50; i++) await authpipe.getCredential({ provider: 'gmail', tenantId: TENANT, userId: 'user_hot' });
    expect(authpipe.stats()).toMatchObject({ fetches: 1, hits: 50, eventStream: 'open' });
  });

  it('checks the tenant: a key of org_sdk cannot be used as another tenant', async () => {
    const authpipe = client({ events: false });
    await expect(authpipe.getCredential({ provider: 'gmail', tenantId: 'org_other', userId: 'user_hot' })).rejects.toBeInstanceOf(AuthpipeUnauthorizedError);
    await expect(authpipe.getCredential({ provider: 'gmail', tenantId: TENANT, userId: 'nobody' })).rejects.toBeInstanceOf(AuthpipeNotConnectedError);
  });

  it('drops a credential when the health monitor revokes it, pushed by the event stream', async () => {
    const events: AuthpipeStreamEvent[] = [];
    const authpipe = client({ onEvent: (e) => events.push(e) });
    await connect(authpipe, 'user_revoked');
    const { credential } = await authpipe.getCredential({ provider: 'gmail', tenantId: TENANT, userId: 'user_revoked' });
    await google.revokeGrant({ access_token: credential.accessToken! });
    const revoked = await eventually(async () => events.find((e) => e.type === 'Revoked' && e.data.connectionId === credential.connectionId), 20_000, 'the Revoked event');
    expect(revoked).toMatchObject({ data: { provider: 'gmail', reason: 'probe_unauthorized' } });
    expect(revoked.id).toBeDefined();
    expect(authpipe.stats().entries).toBe(0);
    await expect(authpipe.getCredential({ provider: 'gmail', tenantId: TENANT, userId: 'user_revoked' })).rejects.toBeInstanceOf(AuthpipeRevokedError);
  });

  it('takes in a refresh made by another process, without a loop of reads', async () => {
    await google.settings({ accessTokenTtlSeconds: 60 }); // inside gmail's 300 s margin: every read refreshes
    const events: AuthpipeStreamEvent[] = [];
    const authpipe = client({ onEvent: (e) => events.push(e), cache: { refreshAheadSeconds: 1, expirySkewSeconds: 1 } });
    await connect(authpipe, 'user_refreshed');
    const key = { provider: 'gmail', tenantId: TENANT, userId: 'user_refreshed' };
    const first = (await authpipe.getCredential(key)).credential;
    // Another backend process reads the same credential: query-api refreshes it and appends Refreshed.
    const other = (await (await fetch(`${platform.queryUrl}/v1/credentials/gmail/user_refreshed`, { headers: { authorization: `Bearer ${apiKey}` } })).json()) as { accessToken: string };
    expect(other.accessToken).not.toBe(first.accessToken);
    const replaced = await eventually(async () => {
      const { credential } = await authpipe.getCredential(key);
      return credential.accessToken !== first.accessToken ? credential : undefined;
    }, 10_000, 'the cache to take in the refresh');
    expect((await fetch(google.probeEndpoint, { headers: { authorization: `Bearer ${replaced.accessToken}` } })).status).toBe(200);
    const fetches = authpipe.stats().fetches;
    await new Promise((r) => setTimeout(r, 1500));
    expect(authpipe.stats().fetches).toBe(fetches);
    expect(events.filter((e) => e.type === 'Refreshed').length).toBeGreaterThanOrEqual(2);
    await google.settings({ accessTokenTtlSeconds: 3600 });
  });

  it('disconnects through the SDK and lists connections across pages', async () => {
    const authpipe = client();
    const { credential } = await authpipe.getCredential({ provider: 'gmail', tenantId: TENANT, userId: 'user_hot' });
    const result = await authpipe.disconnect(credential.connectionId);
    expect(result).toMatchObject({ connectionId: credential.connectionId, status: 'disconnected', providerRevocation: 'revoked' });
    await expect(authpipe.getCredential({ provider: 'gmail', tenantId: TENANT, userId: 'user_hot' })).rejects.toBeInstanceOf(AuthpipeNotConnectedError);
    const page = await authpipe.listConnections({ limit: 1 });
    expect(page.items).toHaveLength(1);
    expect(page.next).toBeDefined();
    const all: string[] = [];
    for await (const c of authpipe.allConnections({ limit: 1 })) all.push(`${c.userId}:${c.status}`);
    expect(all.sort()).toEqual(['user_hot:disconnected', 'user_refreshed:connected', 'user_revoked:revoked']);
  });

  it('never wrote the API key to any log', () => {
    expect(platform.logs.join('\n')).not.toContain(apiKey);
  });
});
