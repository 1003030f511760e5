import fc from 'fast-check';
import { connect, NatsConnection } from 'nats';
import { browse, CookieJar } from '../support/oauth-server/browser-less';
import { OAuthServerHandle, startOAuthServer } from '../support/oauth-server/spawn';
import { FakeClickSend, startFakeClickSend } from '../support/fake-clicksend';
import { eventually, gatewayUrlFor, reservePorts, setUpTenant, startTestPlatform, TestPlatform } from '../support/test-platform';
import { Credentials, describedCase, HttpCase, httpCases, Operation, operationsOf } from './support/fuzz-http-cases';
import { encodePart, FUZZ_SEED, hostileString, runs, SCRIPT_MARKER } from './support/fuzz-inputs';
import { RawResponse, sendRaw } from './support/fuzz-raw-http';
import { changedStreams, snapshotStreams, StoreSnapshot } from './support/fuzz-store-snapshot';
import { documentedRoutes, registeredRoutes } from './support/fuzz-routes';

/*
 * Bad input on every HTTP route of the running platform. The routes come from the OpenAPI documents the two HTTP apps
 * serve (a route added to a controller is fuzzed without touching this file; one missing from the documents fails
 * here), and each gets requests that are bad in one or more ways: credentials missing, malformed, of another kind or
 * of another tenant; bodies that are not JSON, not UTF-8, too large, too deep, of the wrong content type or encoding,
 * shaped like the DTO but wrongly typed or with unknown and prototype-polluting keys; path parameters and query strings
 * with NoSQL operators, traversal, header injection, script tags, bad percent-encoding. The answer must be a 4xx
 * problem+json with a code (a page on the browser routes), never a 5xx, never an echoed secret; every app stays up
 * and JetStream (event store, vault and flow buckets, audit and integration streams) is unchanged.
 * Replay a failure with FUZZ_SEED=<seed>; RESILIENCE_SCALE multiplies the cases.
 */

const BASE_RUNS = 100;

describe('fuzzed HTTP input', () => {
  let gmail: OAuthServerHandle;
  let clicksend: FakeClickSend;
  let platform: TestPlatform;
  let nc: NatsConnection;
  let credentials: Credentials;
  let operations: (Operation & { app: 'gateway' | 'query' })[] = [];
  let before: StoreSnapshot;
  const secrets: string[] = [];
  const sent: Record<string, { requests: number; statuses: Record<number, number> }> = {};
  const gmailSecret = `gmail-secret-${Math.random().toString(36).slice(2)}`;

  beforeAll(async () => {
    const ports = await reservePorts();
    gmail = await startOAuthServer({
      profile: 'google',
      clients: [{ client_id: 'gmail-client', client_secret: gmailSecret, redirect_uris: [`${gatewayUrlFor(ports)}/v1/oauth/callback/gmail`] }],
    });
    clicksend = await startFakeClickSend({ accounts: { acme_sms: 'good-clicksend-key' } });
    platform = await startTestPlatform({
      ports,
      providers: {
        gmail: { oauth2: { authorizationUrl: gmail.authorizationEndpoint, tokenUrl: gmail.tokenEndpoint, revocationUrl: gmail.revocationEndpoint, issuer: gmail.issuer }, probe: { url: gmail.probeEndpoint } },
        clicksend: { apiKey: { verifyUrl: clicksend.verifyUrl }, probe: { url: clicksend.verifyUrl } },
      },
      // The fuzzer sends thousands of requests a minute from one address; the limiter is not what is tested here.
      env: { RATE_LIMIT_PER_MINUTE: '1000000', RATE_LIMIT_ANONYMOUS_PER_MINUTE: '1000000' },
    });
    nc = await connect({ servers: platform.nats.url });
    const tenantKey = await setUpTenant(platform, 'org_fuzz_a', { provider: 'gmail', clientId: 'gmail-client', clientSecret: gmailSecret, scopes: ['openid'] });
    const admin = (path: string, body: unknown) =>
      fetch(`${platform.queryUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${platform.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await admin('/v1/admin/tenants', { tenantId: 'org_fuzz_b', name: 'B' })).status).toBe(201);
    const otherTenantKey = ((await (await admin('/v1/admin/tenants/org_fuzz_b/api-keys', {})).json()) as { apiKey: string }).apiKey;
    credentials = { tenantKey, otherTenantKey, adminToken: platform.adminToken };
    secrets.push(tenantKey, otherTenantKey, platform.adminToken, gmailSecret, 'good-clicksend-key');

    for (const app of ['gateway', 'query'] as const) {
      const res = await fetch(`${app === 'gateway' ? platform.gatewayUrl : platform.queryUrl}/openapi.json`);
      expect(res.status).toBe(200);
      operations.push(...operationsOf(await res.json()).map((op) => ({ ...op, app })));
    }
    // The projections are caught up (the second tenant's key works) before the store is measured.
    await eventually(async () => ((await fetch(`${platform.queryUrl}/v1/integrations`, { headers: { authorization: `Bearer ${otherTenantKey}` } })).status === 200 ? true : undefined));
    before = await snapshotStreams(nc);
  });

  afterAll(async () => {
    // eslint-disable-next-line no-console
    console.log(`fuzzed HTTP (seed ${FUZZ_SEED}): ${Object.values(sent).reduce((n, s) => n + s.requests, 0)} requests\n${Object.entries(sent).map(([route, s]) => `  ${route}: ${s.requests} -> ${JSON.stringify(s.statuses)}`).join('\n')}`);
    await nc?.close();
    await platform?.stop();
    await gmail?.stop();
    await clicksend?.stop();
  });

  const baseOf = (app: 'gateway' | 'query') => (app === 'gateway' ? platform.gatewayUrl : platform.queryUrl);

  function record(route: string, res: RawResponse) {
    const s = (sent[route] ??= { requests: 0, statuses: {} });
    s.requests++;
    s.statuses[res.status] = (s.statuses[res.status] ?? 0) + 1;
  }

  function appsAlive(): string[] {
    return [...platform.children.entries()].filter(([, child]) => child.exitCode !== null || child.signalCode !== null).map(([name]) => name);
  }

  /** The answer of one case, checked; a failure names the case so that it can be read without replaying. */
  function check(op: Operation, c: HttpCase, res: RawResponse): void {
    const fail = (why: string) => {
      throw new Error(`${why}\n  ${c.request.method} ${String(c.request.target).slice(0, 200)}\n  faults: ${c.faults.join('; ')}\n  -> ${res.status} ${res.headers['content-type'] ?? ''} ${res.body.toString('utf8').slice(0, 300)}`);
    };
    if (res.status >= 500) fail('a 5xx answer to bad input');
    if (!c.mayAccept && !(res.status >= 400 && res.status < 500)) fail('bad input was not refused with a 4xx');
    if (!(res.status >= 200 && res.status < 500)) fail(`unexpected status ${res.status}`);
    const text = res.body.toString('latin1');
    const headerText = Object.entries(res.headers).map(([k, v]) => `${k}: ${v}`).join('\n');
    for (const secret of secrets) if (text.includes(secret) || headerText.includes(secret)) fail('a secret was echoed');
    if (text.includes(SCRIPT_MARKER)) fail('a script tag from the request was reflected');
    if (res.headerNames.includes('x-injected') || /injected=1/.test(res.headers['set-cookie'] ?? '')) fail('a header was injected');
    if (res.status < 400 || c.request.method === 'HEAD') return;
    const type = res.headers['content-type'] ?? '';
    if (op.html && c.browserShaped) {
      if (!type.startsWith('text/html') || !/<html|<!doctype/i.test(text)) fail('a browser route did not answer with a page');
      return;
    }
    if (op.html && type.startsWith('text/html') && /<html|<!doctype/i.test(text)) return;
    if (!type.startsWith('application/problem+json')) fail('an error that is not application/problem+json');
    let problem: { code?: unknown; status?: unknown };
    try {
      problem = JSON.parse(res.body.toString('utf8'));
    } catch {
      return fail('a problem+json body that is not JSON');
    }
    if (typeof problem.code !== 'string' || !/^[A-Z][A-Z0-9_]*$/.test(problem.code)) fail('a problem without a stable code');
    if (problem.status !== res.status) fail('a problem whose status differs from the HTTP status');
  }

  it('fuzzes every route the apps register, from their OpenAPI documents', async () => {
    const documented = operations.map((op) => `${op.method} ${op.path}`);
    // The routers' own routes, read from the compiled modules: a route missing from a document is not fuzzed.
    const registered = await registeredRoutes();
    expect(registered.length).toBeGreaterThan(15);
    expect(registered.filter((route) => !documented.includes(route))).toEqual([]);
    expect(documented.length).toBe(new Set(documentedRoutes(operations)).size);
    expect(documented.length).toBeGreaterThan(15);
  });

  it('refuses bad input on every documented route with a 4xx and a code, and no app goes down', async () => {
    const known = { tenantId: ['org_fuzz_a', 'org_fuzz_b'], provider: ['gmail', 'clicksend', 'discord'], userId: ['user-1'], connectionId: ['con_AAAAAAAAAAAAAAAAAAAAAA'] };
    // Every route is fuzzed even when one fails, so that one run shows every route that mishandles bad input.
    const failures: string[] = [];
    for (const op of operations) {
      const route = `${op.method} ${op.path}`;
      await fc.assert(
        fc.asyncProperty(httpCases(op, credentials, known), async (c) => {
          const res = await sendRaw(baseOf(op.app), c.request);
          record(route, res);
          check(op, c, res);
        }),
        { seed: FUZZ_SEED, numRuns: runs(BASE_RUNS), endOnFailure: process.env.FUZZ_SHRINK !== '1' },
      ).catch((err: Error) => failures.push(`${route}: ${err.message.split('\n').slice(0, 3).join(' ')}\n${(err.cause as Error | undefined)?.message ?? ''}`));
      if (appsAlive().length) failures.push(`${route}: apps down after it: ${appsAlive().join(', ')}`);
    }
    expect(failures).toEqual([]);
  });

  it('answers unknown routes, methods and malformed targets with a 404 or 405 problem', async () => {
    const targets = fc.oneof(
      fc.constantFrom('/', '//', '/v1', '/v1/', '/v2/connections', '/v1/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/v1/%FF', '/v1/connections/%', '/v1/connections/%ZZ', '/.env', '/v1/admin', '*', '/v1/connections/a/b/c', '/__proto__', '/constructor'),
      hostileString().map((s) => `/v1/${encodePart(s)}`),
    );
    const cases = fc.record({ app: fc.constantFrom('gateway' as const, 'query' as const), method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'PROPFIND'), target: targets });
    await fc.assert(
      fc.asyncProperty(cases, async ({ app, method, target }) => {
        const res = await sendRaw(baseOf(app), { method, target, headers: [['Authorization', `Bearer ${credentials.tenantKey}`]] });
        record('(unrouted)', res);
        const op: Operation = { method, path: target, security: 'public', html: false, query: [] };
        check(op, describedCase({ request: { method, target, headers: [] }, faults: ['no such route'], mayAccept: false, browserShaped: false }), res);
      }),
      { seed: FUZZ_SEED, numRuns: runs(BASE_RUNS * 2), endOnFailure: process.env.FUZZ_SHRINK !== '1' },
    );
  });

  // Found by the fuzz suite: vault's NOT_FOUND (no data key) passed through the admin route as a 500.
  it('refuses to rotate the key of an unknown tenant (404) or of one without a data key yet (409)', async () => {
    const rotate = (tenantId: string) => fetch(`${platform.queryUrl}/v1/admin/tenants/${tenantId}/rotate-key`, { method: 'POST', headers: { authorization: `Bearer ${platform.adminToken}` } });
    const unknown = await rotate('prototype');
    expect({ status: unknown.status, code: ((await unknown.json()) as { code: string }).code }).toEqual({ status: 404, code: 'TENANT_NOT_FOUND' });
    const keyless = await rotate('org_fuzz_b');
    expect({ status: keyless.status, code: ((await keyless.json()) as { code: string }).code }).toEqual({ status: 409, code: 'NO_DATA_KEY' });
  });

  it('wrote nothing: every JetStream stream (events, vault, flows, audit, integration) is as it was, and every app is up', async () => {
    expect(changedStreams(before, await snapshotStreams(nc))).toEqual([]);
    expect(appsAlive()).toEqual([]);
    for (const [app, url] of Object.entries(platform.operationsUrls)) {
      expect({ app, status: (await fetch(`${url}/health/live`)).status }).toEqual({ app, status: 200 });
    }
    const logged = platform.logs.join('\n');
    for (const secret of secrets) expect(logged).not.toContain(secret);
    expect(logged).not.toMatch(/unhandled \w+ on /);
  });

  it('shows a 4xx page for a live state with a forged code, an error or a wrong issuer, and connects nothing', async () => {
    // Real authorization requests, paused where the provider redirects back: each state is live once, the rest is forged.
    const numRuns = runs(8);
    const states: string[] = [];
    for (let i = 0; i < numRuns + 2; i++) {
      const res = await fetch(`${platform.gatewayUrl}/v1/connect-sessions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${credentials.tenantKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ provider: 'gmail', userId: `fuzz-user-${i}`, scopes: ['openid'] }),
      });
      expect(res.status).toBe(201);
      const { connectUrl } = (await res.json()) as { connectUrl: string };
      const result = await browse(connectUrl, { jar: new CookieJar(), stopAt: (url) => url.href.startsWith(`${platform.gatewayUrl}/v1/oauth/callback/gmail`) });
      states.push(new URL(result.stoppedAt!).searchParams.get('state')!);
    }
    const start = await snapshotStreams(nc);
    const callbackOp = operations.find((op) => op.path === '/v1/oauth/callback/{provider}')!;
    // Found by the fuzz suite (each was a 502 page): a code the provider refuses, and a response with an empty code.
    for (const [state, code] of [[states.pop()!, 'forged-code-the-provider-never-issued'], [states.pop()!, '']]) {
      const c = describedCase({ request: { method: 'GET', target: `/v1/oauth/callback/gmail?${new URLSearchParams({ code, iss: gmail.issuer, state })}`, headers: [] }, faults: ['forged code'], mayAccept: false, browserShaped: true });
      const res = await sendRaw(platform.gatewayUrl, c.request);
      check(callbackOp, c, res);
      expect(res.status).toBe(400);
    }
    const forged = fc.oneof(
      // A code the provider never issued, with the right issuer: the exchange itself is refused.
      fc.record({ code: fc.oneof(hostileString(), fc.stringMatching(/^[A-Za-z0-9_-]{20,60}$/)), iss: fc.constant(gmail.issuer) }),
      fc.record({ code: hostileString(), iss: fc.oneof(hostileString(), fc.webUrl()) }, { requiredKeys: ['iss'] }),
      fc.record({ error: fc.oneof(fc.constantFrom('access_denied', 'server_error'), hostileString()), error_description: hostileString(), iss: fc.constant(gmail.issuer) }, { requiredKeys: ['error'] }),
    );
    let used = 0;
    await fc.assert(
      fc.asyncProperty(forged, async (fields) => {
        const query = new URLSearchParams({ ...(fields as Record<string, string>), state: states[used++ % states.length] }).toString();
        const c = describedCase({ request: { method: 'GET', target: `/v1/oauth/callback/gmail?${query}`, headers: [] }, faults: ['forged code, error or iss'], mayAccept: false, browserShaped: true });
        const res = await sendRaw(platform.gatewayUrl, c.request);
        record('GET /v1/oauth/callback/{provider} (live state)', res);
        check(callbackOp, c, res);
      }),
      { seed: FUZZ_SEED, numRuns, endOnFailure: process.env.FUZZ_SHRINK !== '1' },
    );
    // Each live state fails once, recorded as ConnectFailed in the event store (and relayed); the exchange read the
    // client secret (an audit record); no credential reaches vault's buckets.
    const after = await snapshotStreams(nc);
    const expectedToMove = ['AUTHPIPE_EVENTS', 'KV_authpipe_oauth_states', 'AUTHPIPE_AUDIT', 'AUTHPIPE_INTEGRATION', 'KV_authpipe_relay_checkpoints'];
    expect(changedStreams(start, after).filter((name) => !expectedToMove.includes(name))).toEqual([]);
    expect(after.AUTHPIPE_EVENTS.lastSeq - start.AUTHPIPE_EVENTS.lastSeq).toBeLessThanOrEqual(states.length + 2);
    const connections = await fetch(`${platform.queryUrl}/v1/connections`, { headers: { authorization: `Bearer ${credentials.tenantKey}` } });
    expect(((await connections.json()) as { items: { status: string }[] }).items.filter((c) => c.status === 'connected')).toEqual([]);
    expect(appsAlive()).toEqual([]);
  });
});
