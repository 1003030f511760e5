import { browse, CookieJar } from '../support/oauth-server/browser-less';
import { OAuthServerHandle, startOAuthServer } from '../support/oauth-server/spawn';
import { eventually, gatewayUrlFor, reservePorts, startTestPlatform, TestPlatform } from '../support/test-platform';

/*
 * What platform teams read: tenant isolation across every endpoint (the whole matrix of A's key against B's
 * resources), bad query input, pagination, the connection timeline, disconnect, and the overview.
 */
const GMAIL_READONLY = 'https://www.googleapis.com/auth/gmail.readonly';

describe('query API: isolation, bad input, timeline, disconnect', () => {
  let google: OAuthServerHandle;
  let platform: TestPlatform;
  const keys: Record<'a' | 'b', string> = { a: '', b: '' };
  const connectionIds: Record<'a' | 'b', string> = { a: '', b: '' };

  const call = (tenant: 'a' | 'b', path: string, init: RequestInit = {}, base?: string) =>
    fetch(`${base ?? platform.queryUrl}${path}`, { ...init, headers: { authorization: `Bearer ${keys[tenant]}`, 'content-type': 'application/json' } });

  beforeAll(async () => {
    const ports = await reservePorts();
    google = await startOAuthServer({ profile: 'google', clients: [{ client_id: 'c', client_secret: 'shared-secret', redirect_uris: [`${gatewayUrlFor(ports)}/v1/oauth/callback/gmail`] }] });
    platform = await startTestPlatform({
      ports,
      providers: { gmail: { oauth2: { authorizationUrl: google.authorizationEndpoint, tokenUrl: google.tokenEndpoint, revocationUrl: google.revocationEndpoint, issuer: google.issuer }, probe: { url: google.probeEndpoint } } },
    });
    const admin = (path: string, body: unknown) =>
      fetch(`${platform.queryUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${platform.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    for (const tenant of ['a', 'b'] as const) {
      await admin('/v1/admin/tenants', { tenantId: `org_${tenant}`, name: tenant });
      keys[tenant] = ((await (await admin(`/v1/admin/tenants/org_${tenant}/api-keys`, {})).json()) as { apiKey: string }).apiKey;
      await call(tenant, '/v1/integrations/gmail', { method: 'PUT', body: JSON.stringify({ clientId: 'c', clientSecret: 'shared-secret', scopes: [GMAIL_READONLY] }) });
      for (let i = 0; i < 3; i++) {
        const session = await call(tenant, '/v1/connect-sessions', { method: 'POST', body: JSON.stringify({ provider: 'gmail', userId: `${tenant}_user_${i}` }) }, platform.gatewayUrl);
        await browse(((await session.json()) as { connectUrl: string }).connectUrl, { jar: new CookieJar() });
      }
      const items = await eventually(async () => {
        const res = (await (await call(tenant, '/v1/connections')).json()) as { items: { connectionId: string }[] };
        return res.items.length === 3 ? res.items : undefined;
      }, 10_000, `tenant ${tenant}'s connections`);
      connectionIds[tenant] = items[0].connectionId;
    }
  });

  afterAll(async () => {
    await platform?.stop();
    await google?.stop();
  });

  it("tenant A's key never sees tenant B's data, on any endpoint", async () => {
    const listA = (await (await call('a', '/v1/connections')).json()) as { items: { userId: string }[] };
    expect(listA.items.every((c) => c.userId.startsWith('a_'))).toBe(true);
    expect((await call('a', `/v1/connections/${connectionIds.b}`)).status).toBe(404);
    expect((await call('a', `/v1/connections/${connectionIds.b}`, { method: 'DELETE' })).status).toBe(404);
    const credential = await call('a', '/v1/credentials/gmail/b_user_0');
    expect(credential.status).toBe(404);
    expect(JSON.stringify(await credential.json())).not.toContain(connectionIds.b);
    const overview = (await (await call('a', '/v1/overview')).json()) as { connections: { gmail: { connected: number } } };
    expect(overview.connections.gmail.connected).toBe(3);
    const audit = (await (await call('a', '/v1/audit/reads')).json()) as { items: { tenantId: string }[] };
    expect(audit.items.every((r) => r.tenantId === 'org_a')).toBe(true);
    const byUser = (await (await call('a', '/v1/connections?userId=b_user_0')).json()) as { items: unknown[] };
    expect(byUser.items).toHaveLength(0);
    const integrations = (await (await call('a', '/v1/integrations')).json()) as { items: unknown[] };
    expect(integrations.items).toHaveLength(1);
  });

  it.each([
    ['a MongoDB operator in a filter', '/v1/connections?status[$ne]=revoked'],
    ['$where', '/v1/connections?$where=sleep(1000)'],
    ['an operator on userId', '/v1/connections?userId[$gt]='],
    ['an unknown sort', '/v1/connections?sort=$natural'],
    ['a malformed cursor', '/v1/connections?cursor=%7B%22s%22%3A1%7D'],
    ['a non-numeric limit', '/v1/connections?limit=lots'],
  ])('rejects %s with 400 problem+json, never a 500', async (_name, path) => {
    const res = await call('a', path);
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
  });

  it('clamps oversized pages and pages with a stable cursor', async () => {
    const huge = (await (await call('a', '/v1/connections?limit=100000')).json()) as { items: unknown[] };
    expect(huge.items.length).toBeLessThanOrEqual(100);
    const seen: string[] = [];
    let next: string | undefined;
    do {
      const page = (await (await call('a', `/v1/connections?limit=1&sort=userId${next ? `&cursor=${next}` : ''}`)).json()) as { items: { userId: string }[]; next?: string };
      seen.push(...page.items.map((c) => c.userId));
      next = page.next;
    } while (next);
    expect(seen).toEqual(['a_user_0', 'a_user_1', 'a_user_2']);
  });

  it('shows a connection with its timeline, and disconnects it: revoked at the provider, secrets erased', async () => {
    const detail = (await (await call('a', `/v1/connections/${connectionIds.a}`)).json()) as { userId: string; timeline: { type: string }[] };
    expect(detail.timeline.map((e) => e.type)).toEqual(['Connected']);
    const { accessToken } = (await (await call('a', `/v1/credentials/gmail/${detail.userId}`)).json()) as { accessToken: string };
    expect((await fetch(google.probeEndpoint, { headers: { authorization: `Bearer ${accessToken}` } })).status).toBe(200);

    const res = await call('a', `/v1/connections/${connectionIds.a}`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'disconnected', providerRevocation: 'revoked' });
    expect((await fetch(google.probeEndpoint, { headers: { authorization: `Bearer ${accessToken}` } })).status).toBe(401);
    const credential = await call('a', `/v1/credentials/gmail/${detail.userId}`);
    expect(credential.status).toBe(404);
    const after = (await (await call('a', `/v1/connections/${connectionIds.a}`)).json()) as { status: string; timeline: { type: string }[] };
    expect(after.status).toBe('disconnected');
    expect(after.timeline.map((e) => e.type)).toEqual(['Connected', 'Disconnected']);
    // again: nothing left to revoke or erase
    expect(await (await call('a', `/v1/connections/${connectionIds.a}`, { method: 'DELETE' })).json()).toMatchObject({ providerRevocation: 'skipped' });
  });
});
