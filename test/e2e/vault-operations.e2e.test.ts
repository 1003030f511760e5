import { browse, CookieJar } from '../support/oauth-server/browser-less';
import { OAuthServerHandle, startOAuthServer } from '../support/oauth-server/spawn';
import { eventually, gatewayUrlFor, reservePorts, startTestPlatform, TestPlatform } from '../support/test-platform';

/*
 * The operator's key operations through the platform: the audit of reads per tenant, a tenant data key rotation and
 * the rewrap with its progress, and crypto-shredding of a tenant (its connections erased, its keys refused, other
 * tenants unaffected).
 */
describe('vault operations through the platform', () => {
  let google: OAuthServerHandle;
  let platform: TestPlatform;
  const keys: Record<string, string> = {};

  const admin = (method: string, path: string, body?: unknown) =>
    fetch(`${platform.queryUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${platform.adminToken}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const tenantCall = (tenant: string, path: string, init: RequestInit = {}, base?: string) =>
    fetch(`${base ?? platform.queryUrl}${path}`, { ...init, headers: { authorization: `Bearer ${keys[tenant]}`, 'content-type': 'application/json' } });

  beforeAll(async () => {
    const ports = await reservePorts();
    google = await startOAuthServer({ profile: 'google', clients: [{ client_id: 'c', client_secret: 'ops-secret', redirect_uris: [`${gatewayUrlFor(ports)}/v1/oauth/callback/gmail`] }] });
    platform = await startTestPlatform({
      ports,
      providers: { gmail: { oauth2: { authorizationUrl: google.authorizationEndpoint, tokenUrl: google.tokenEndpoint, issuer: google.issuer }, probe: { url: google.probeEndpoint } } },
    });
    for (const tenant of ['org_keep', 'org_gone']) {
      await admin('POST', '/v1/admin/tenants', { tenantId: tenant, name: tenant });
      keys[tenant] = ((await (await admin('POST', `/v1/admin/tenants/${tenant}/api-keys`, {})).json()) as { apiKey: string }).apiKey;
      await tenantCall(tenant, '/v1/integrations/gmail', { method: 'PUT', body: JSON.stringify({ clientId: 'c', clientSecret: 'ops-secret', scopes: ['https://www.googleapis.com/auth/gmail.readonly'] }) });
      const session = await tenantCall(tenant, '/v1/connect-sessions', { method: 'POST', body: JSON.stringify({ provider: 'gmail', userId: 'u1' }) }, platform.gatewayUrl);
      await browse(((await session.json()) as { connectUrl: string }).connectUrl, { jar: new CookieJar() });
      await eventually(async () => ((await tenantCall(tenant, '/v1/credentials/gmail/u1')).status === 200 ? true : undefined), 10_000, `${tenant}'s connection`);
    }
  });

  afterAll(async () => {
    await platform?.stop();
    await google?.stop();
  });

  it('records every credential read, with the key that asked, for the tenant only', async () => {
    const audit = (await (await tenantCall('org_keep', '/v1/audit/reads')).json()) as { items: { tenantId: string; caller: string; kind: string; connectionId?: string }[] };
    const reads = audit.items.filter((r) => r.kind === 'credential');
    expect(reads.length).toBeGreaterThanOrEqual(1);
    expect(audit.items.every((r) => r.tenantId === 'org_keep')).toBe(true);
    expect(reads.some((r) => r.caller.startsWith('query-api:'))).toBe(true);
    expect(JSON.stringify(audit)).not.toMatch(/accessToken|refreshToken|ops-secret/);
  });

  it('rotates a tenant data key and rewraps everything, reads keep working', async () => {
    const rotated = await admin('POST', '/v1/admin/tenants/org_keep/rotate-key');
    expect(rotated.status).toBe(200);
    expect(((await rotated.json()) as { activeVersion: number }).activeVersion).toBe(2);
    expect((await tenantCall('org_keep', '/v1/credentials/gmail/u1')).status).toBe(200);
    expect((await admin('POST', '/v1/admin/vault/rewrap')).status).toBe(202);
    const done = await eventually(async () => {
      const status = (await (await admin('GET', '/v1/admin/vault/rewrap')).json()) as { state: string; processed: number; rewrapped: number };
      return status.state === 'done' ? status : undefined;
    }, 15_000, 'the rewrap to finish');
    expect(done.rewrapped).toBeGreaterThanOrEqual(1);
    expect((await tenantCall('org_keep', '/v1/credentials/gmail/u1')).status).toBe(200);
  });

  it('crypto-shreds a tenant: connections erased, keys refused, another tenant unaffected', async () => {
    const erased = await admin('DELETE', '/v1/admin/tenants/org_gone');
    expect(erased.status).toBe(200);
    expect(((await erased.json()) as { erasedAt: string }).erasedAt).toMatch(/^\d{4}-/);
    const overview = (await (await admin('GET', '/v1/admin/tenants/org_gone')).json()) as { status: string; connections: Record<string, number> };
    expect(overview.status).toBe('erased');
    expect(overview.connections).toMatchObject({ connected: 0, erased: 1 });
    expect((await tenantCall('org_gone', '/v1/credentials/gmail/u1')).status).toBe(401);
    expect((await tenantCall('org_keep', '/v1/credentials/gmail/u1')).status).toBe(200);
    expect((await admin('DELETE', '/v1/admin/tenants/org_gone')).status).toBe(200); // idempotent
    expect((await admin('DELETE', '/v1/admin/tenants/org_never')).status).toBe(404);
  });
});
