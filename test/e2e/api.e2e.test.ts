import SwaggerParser from '@apidevtools/swagger-parser';
import Ajv from 'ajv';
import { browse, CookieJar } from '../support/oauth-server/browser-less';
import { OAuthServerHandle, startOAuthServer } from '../support/oauth-server/spawn';
import { eventually, gatewayUrlFor, reservePorts, startTestPlatform, TestPlatform } from '../support/test-platform';

/*
 * The API around the routes, on the five apps as processes: the OpenAPI documents and docs pages, the live event
 * stream of a tenant, and per-tenant rate limits. The platform runs with low limits (RATE_LIMIT_PER_MINUTE=5), so
 * this file counts every request each tenant makes and never polls with a tenant key. The JSON answers it gets
 * are checked at the end against the response schemas of the apps' own OpenAPI documents.
 */

const GMAIL_READONLY = 'https://www.googleapis.com/auth/gmail.readonly';
const LIMIT = 5;
const ANONYMOUS_LIMIT = 10;

type TenantName = 'a' | 'b';
type App = 'query' | 'gateway';

/** A JSON answer to check against the document: `GET /v1/integrations/{provider}`, status, body. */
interface Answer {
  app: App;
  operation: string;
  status: number;
  contentType: string;
  body: Promise<unknown>;
}

interface StreamedEvent {
  id: string;
  event: string;
  data: Record<string, unknown>;
}

/** A text/event-stream client on fetch: collects events and comment lines until closed. */
function openEventStream(url: string, key: string) {
  const controller = new AbortController();
  const events: StreamedEvent[] = [];
  const comments: string[] = [];
  const opened = fetch(url, { headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream' }, signal: controller.signal });
  const reading = (async () => {
    const res = await opened;
    if (res.status !== 200 || !res.body) return;
    const decoder = new TextDecoder();
    let buffered = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffered.indexOf('\n\n')) >= 0) {
          const frame = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const fields: Record<string, string> = {};
          for (const line of frame.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim());
            else if (line.includes(':')) fields[line.slice(0, line.indexOf(':'))] = line.slice(line.indexOf(':') + 1).trimStart();
          }
          if (fields.data !== undefined) events.push({ id: fields.id, event: fields.event, data: JSON.parse(fields.data) as Record<string, unknown> });
        }
      }
    } catch (err) {
      if ((err as Error).name !== 'AbortError') throw err;
    }
  })();
  return {
    opened,
    events,
    comments,
    async close() {
      controller.abort();
      await reading.catch(() => undefined);
    },
  };
}

describe('API: OpenAPI documents, tenant event stream, rate limits (five processes)', () => {
  let google: OAuthServerHandle;
  let platform: TestPlatform;
  const keys: Record<TenantName, string> = { a: '', b: '' };
  /** Requests each tenant, and this address without a key, made to query-api in this (sub-minute) run. */
  const used: Record<TenantName | 'anonymous', number> = { a: 0, b: 0, anonymous: 0 };
  const answers: Answer[] = [];

  /** Keep a JSON answer for the schema check; `operation` names it as the document does. */
  const answered = (app: App, operation: string, res: Response): Response => {
    const contentType = (res.headers.get('content-type') ?? '').split(';')[0];
    if (contentType.endsWith('json')) answers.push({ app, operation, status: res.status, contentType, body: res.clone().json() });
    return res;
  };

  /** A tenant's request to query-api; `template` is the path as the document names it when it has parameters. */
  const query = async (tenant: TenantName, path: string, init: RequestInit = {}, template = path.split('?')[0]) => {
    used[tenant]++;
    const res = await fetch(`${platform.queryUrl}${path}`, { ...init, headers: { authorization: `Bearer ${keys[tenant]}`, 'content-type': 'application/json' } });
    return answered('query', `${init.method ?? 'GET'} ${template}`, res);
  };

  async function connectUser(tenant: TenantName, userId: string) {
    const session = await fetch(`${platform.gatewayUrl}/v1/connect-sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys[tenant]}`, 'content-type': 'application/json' },
      body: JSON.stringify({ provider: 'gmail', userId, scopes: [GMAIL_READONLY] }),
    });
    answered('gateway', 'POST /v1/connect-sessions', session);
    expect(session.status).toBe(201);
    const result = await browse(((await session.json()) as { connectUrl: string }).connectUrl, { jar: new CookieJar() });
    expect(result.response.status).toBe(200);
  }

  beforeAll(async () => {
    const ports = await reservePorts();
    google = await startOAuthServer({
      profile: 'google',
      clients: [{ client_id: 'api-test-client', client_secret: 'api-test-secret', redirect_uris: [`${gatewayUrlFor(ports)}/v1/oauth/callback/gmail`] }],
    });
    platform = await startTestPlatform({
      ports,
      env: { RATE_LIMIT_PER_MINUTE: String(LIMIT), RATE_LIMIT_ANONYMOUS_PER_MINUTE: String(ANONYMOUS_LIMIT), EVENT_STREAM_HEARTBEAT_SECONDS: '1' },
      providers: {
        gmail: { oauth2: { authorizationUrl: google.authorizationEndpoint, tokenUrl: google.tokenEndpoint, revocationUrl: google.revocationEndpoint, issuer: google.issuer }, probe: { url: google.probeEndpoint } },
      },
    });
    // The operator's admin token is a principal of its own: these four requests count against it, not the tenants.
    const admin = (path: string, body: unknown) =>
      fetch(`${platform.queryUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${platform.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    for (const tenant of ['a', 'b'] as const) {
      expect((await admin('/v1/admin/tenants', { tenantId: `org_${tenant}`, name: tenant })).status).toBe(201);
      keys[tenant] = ((await (await admin(`/v1/admin/tenants/org_${tenant}/api-keys`, {})).json()) as { apiKey: string }).apiKey;
    }
  });

  afterAll(async () => {
    await platform?.stop();
    await google?.stop();
  });

  it('serves each app\'s OpenAPI 3 document and an offline docs page, without an API key', async () => {
    for (const [base, route] of [
      [platform.queryUrl, '/v1/credentials/{provider}/{userId}'],
      [platform.gatewayUrl, '/v1/connect-sessions'],
    ]) {
      const res = await fetch(`${base}/openapi.json`);
      expect(res.status).toBe(200);
      const document = (await res.json()) as { openapi: string; paths: Record<string, unknown> };
      expect(document.openapi).toMatch(/^3\./);
      expect(Object.keys(document.paths)).toContain(route);
      const docs = await fetch(`${base}/docs`);
      expect(docs.status).toBe(200);
      expect(docs.headers.get('content-security-policy')).toContain("connect-src 'self'");
      expect(await docs.text()).not.toMatch(/(src|href)=["'](https?:)?\/\//);
    }
  });

  it("streams a tenant's own lifecycle events live, and none of another tenant's", async () => {
    const streams = { a: openEventStream(`${platform.queryUrl}/v1/events/stream`, keys.a), b: openEventStream(`${platform.queryUrl}/v1/events/stream`, keys.b) };
    used.a++;
    used.b++;
    try {
      for (const tenant of ['a', 'b'] as const) {
        const res = await streams[tenant].opened;
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toContain('text/event-stream');
        expect(res.headers.get('cache-control')).toBe('no-store');
      }
      for (const tenant of ['a', 'b'] as const) {
        const registered = await query(
          tenant,
          '/v1/integrations/gmail',
          { method: 'PUT', body: JSON.stringify({ clientId: 'api-test-client', clientSecret: 'api-test-secret', scopes: [GMAIL_READONLY] }) },
          '/v1/integrations/{provider}',
        );
        expect(registered.status).toBe(200);
      }
      await connectUser('b', 'b_user');
      await connectUser('a', 'a_user');

      const connectedOf = (tenant: TenantName) =>
        eventually(async () => streams[tenant].events.find((e) => e.event === 'Connected'), 15_000, `tenant ${tenant}'s Connected event`);
      const [a, b] = await Promise.all([connectedOf('a'), connectedOf('b')]);
      expect(a.data).toMatchObject({ tenantId: 'org_a', provider: 'gmail', userId: 'a_user', scopes: [GMAIL_READONLY] });
      expect(a.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(Date.parse(a.data.occurredAt as string)).toBeGreaterThan(Date.now() - 60_000);
      expect(b.data).toMatchObject({ tenantId: 'org_b', userId: 'b_user' });
      expect(streams.a.events.map((e) => e.event)).toEqual(expect.arrayContaining(['IntegrationRegistered', 'Connected']));

      // Tenant B connected first, on the same replica: A's stream saw none of it, and B's none of A's.
      expect(streams.a.events.length).toBeGreaterThan(0);
      expect(streams.a.events.every((e) => e.data.tenantId === 'org_a')).toBe(true);
      expect(streams.b.events.every((e) => e.data.tenantId === 'org_b')).toBe(true);
      expect(JSON.stringify(streams.a.events)).not.toContain('b_user');
      expect(JSON.stringify([...streams.a.events, ...streams.b.events])).not.toMatch(/api-test-secret|access_token|keyHash/);
      // A comment line every EVENT_STREAM_HEARTBEAT_SECONDS (1 s here) keeps idle streams open.
      await eventually(async () => (streams.a.comments.includes('heartbeat') ? true : undefined), 5_000, 'a heartbeat');
    } finally {
      await Promise.all([streams.a.close(), streams.b.close()]);
    }
  });

  it('refuses the event stream without a valid API key', async () => {
    const res = answered('query', 'GET /v1/events/stream', await fetch(`${platform.queryUrl}/v1/events/stream`));
    used.anonymous++;
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
  });

  it(`answers tenant A's request ${LIMIT + 1} within a minute with 429 RATE_LIMITED and Retry-After, while tenant B is served`, async () => {
    expect(used.a).toBeLessThan(LIMIT);
    while (used.a < LIMIT) {
      const res = await query('a', '/v1/connections');
      expect(res.status).toBe(200);
      expect(res.headers.get('x-ratelimit-limit')).toBe(String(LIMIT));
    }
    const refused = await query('a', '/v1/connections');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toContain('application/problem+json');
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(await refused.json()).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
    // The budget is per tenant, across routes.
    expect((await query('a', '/v1/integrations')).status).toBe(429);

    expect(used.b).toBeLessThan(LIMIT);
    const other = await query('b', '/v1/connections');
    expect(other.status).toBe(200);
    expect(((await other.json()) as { items: { userId: string }[] }).items.map((c) => c.userId)).toEqual(['b_user']);
  });

  it('limits requests without a valid API key by client address, separately from the tenants', async () => {
    const anonymous = async () => (used.anonymous++, answered('query', 'GET /v1/providers', await fetch(`${platform.queryUrl}/v1/providers`)));
    const badKey = async () => (
      used.anonymous++,
      answered('query', 'GET /v1/connections', await fetch(`${platform.queryUrl}/v1/connections`, { headers: { authorization: `Bearer apk_AAAAAAAAAAAA_${'x'.repeat(43)}` } }))
    );
    while (used.anonymous < ANONYMOUS_LIMIT) {
      const withBadKey = used.anonymous % 2 === 1;
      expect((await (withBadKey ? badKey() : anonymous())).status).toBe(withBadKey ? 401 : 200);
    }
    const refused = await anonymous();
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(((await refused.json()) as { code: string }).code).toBe('RATE_LIMITED');
    expect((await badKey()).status).toBe(429);
    // Tenant B keeps its own budget.
    expect((await query('b', '/v1/connections')).status).toBe(200);
  });

  it('answered every request above in a shape its OpenAPI document declares', async () => {
    const documents: Record<App, { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: object }> }> }>> }> = {
      query: (await SwaggerParser.dereference((await (await fetch(`${platform.queryUrl}/openapi.json`)).json()) as never)) as never,
      gateway: (await SwaggerParser.dereference((await (await fetch(`${platform.gatewayUrl}/openapi.json`)).json()) as never)) as never,
    };
    // OpenAPI 3.0 schemas: `nullable` is understood, formats and examples are not checked.
    const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
    const statuses = new Set(answers.map((a) => `${a.operation} ${a.status}`));
    expect([...statuses]).toEqual(expect.arrayContaining(['PUT /v1/integrations/{provider} 200', 'GET /v1/connections 200', 'GET /v1/connections 429', 'GET /v1/providers 200', 'POST /v1/connect-sessions 201']));
    for (const answer of answers) {
      const [method, path] = answer.operation.split(' ');
      const responses = documents[answer.app].paths[path][method.toLowerCase()].responses;
      const schema = (responses[String(answer.status)] ?? responses.default)?.content?.[answer.contentType]?.schema;
      const valid = schema ? ajv.validate(schema, await answer.body) : false;
      expect({ answer: `${answer.operation} ${answer.status} ${answer.contentType}`, documented: Boolean(schema), errors: valid ? null : ajv.errors }).toEqual({
        answer: `${answer.operation} ${answer.status} ${answer.contentType}`,
        documented: true,
        errors: null,
      });
    }
  });
});
