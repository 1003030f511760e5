import { browse, CookieJar } from '../support/oauth-server/browser-less';
import { OAuthServerHandle, startOAuthServer } from '../support/oauth-server/spawn';
import { gatewayUrlFor, reservePorts, startTestPlatform, TestPlatform } from '../support/test-platform';

/* State and sessions expire: a platform whose gateway keeps them for one second. */
describe('expired connect sessions and states', () => {
  let google: OAuthServerHandle;
  let platform: TestPlatform;
  let apiKey: string;

  beforeAll(async () => {
    const ports = await reservePorts();
    google = await startOAuthServer({ profile: 'google', clients: [{ client_id: 'c', client_secret: 's-expiry', redirect_uris: [`${gatewayUrlFor(ports)}/v1/oauth/callback/gmail`] }] });
    platform = await startTestPlatform({
      ports,
      env: { OAUTH_STATE_TTL_SECONDS: '1', CONNECT_SESSION_TTL_SECONDS: '1' },
      providers: { gmail: { oauth2: { authorizationUrl: google.authorizationEndpoint, tokenUrl: google.tokenEndpoint, issuer: google.issuer } } },
    });
    const admin = (path: string, body: unknown) =>
      fetch(`${platform.queryUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${platform.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    await admin('/v1/admin/tenants', { tenantId: 'org_slow', name: 'Slow' });
    apiKey = ((await (await admin('/v1/admin/tenants/org_slow/api-keys', {})).json()) as { apiKey: string }).apiKey;
    await fetch(`${platform.queryUrl}/v1/integrations/gmail`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ clientId: 'c', clientSecret: 's-expiry', scopes: ['https://www.googleapis.com/auth/gmail.readonly'] }),
    });
  });

  afterAll(async () => {
    await platform?.stop();
    await google?.stop();
  });

  const newSession = async () => {
    const res = await fetch(`${platform.gatewayUrl}/v1/connect-sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ provider: 'gmail', userId: 'late' }),
    });
    return ((await res.json()) as { connectUrl: string }).connectUrl;
  };

  it('a state used after it expired is refused and nothing is stored', async () => {
    const callback = (await browse(await newSession(), { jar: new CookieJar(), stopAt: (u) => u.pathname.startsWith('/v1/oauth/callback/') })).stoppedAt!;
    await new Promise((r) => setTimeout(r, 1500));
    const res = await fetch(callback);
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/state_expired|invalid_state/);
    expect((await google.stats()).token_requests.authorization_code ?? 0).toBe(0);
    const credential = await fetch(`${platform.queryUrl}/v1/credentials/gmail/late`, { headers: { authorization: `Bearer ${apiKey}` } });
    expect(credential.status).toBe(404);
  });

  it('a connect link opened after it expired is refused', async () => {
    const connectUrl = await newSession();
    await new Promise((r) => setTimeout(r, 1500));
    const res = await fetch(connectUrl, { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('invalid_session');
  });
});
