import { Authpipe } from '../packages/node-sdk/src';
import { browse, CookieJar } from '../test/support/oauth-server/browser-less';
import { startOAuthServer } from '../test/support/oauth-server/spawn';
import { gatewayUrlFor, reservePorts, startTestPlatform, setUpTenant } from '../test/support/test-platform';
import { knob, percentile } from './stats';

/*
 * getCredential on a cache hit (@authpipe/node) against a plain HTTP fetch of the same credential from query-api
 * (GET /v1/credentials/gmail/:userId, a token well outside its refresh margin, so no refresh at the provider).
 * `npm run bench -- bench/sdk` ; BENCH_SDK_CALLS (default 200 000 cache hits) and BENCH_HTTP_CALLS (default 3 000).
 * query-api's per-tenant rate limit is raised for the run: at its default (600 a minute) the plain fetches would be
 * refused with 429 after the first 600.
 */
const GMAIL_READONLY = 'https://www.googleapis.com/auth/gmail.readonly';

interface Sample {
  p50: number;
  p99: number;
  max: number;
  perSecond: number;
}

/** Times each call, then the same number of calls in one stretch for the rate (without the timer's own cost). */
async function measure(calls: number, call: () => Promise<unknown>): Promise<Sample> {
  const each: number[] = new Array(calls);
  for (let i = 0; i < calls; i++) {
    const start = process.hrtime.bigint();
    await call();
    each[i] = Number(process.hrtime.bigint() - start) / 1e6;
  }
  const start = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) await call();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  each.sort((a, b) => a - b);
  return { p50: percentile(each, 50), p99: percentile(each, 99), max: each[each.length - 1], perSecond: calls / seconds };
}

/** `concurrency` callers at once, each making calls/concurrency calls: the rate only. */
async function rate(calls: number, concurrency: number, call: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (let i = 0; i < calls / concurrency; i++) await call();
  }));
  return calls / (Number(process.hrtime.bigint() - start) / 1e9);
}

const ms = (n: number) => (n < 0.01 ? `${(n * 1000).toFixed(2)} µs` : n < 1 ? `${(n * 1000).toFixed(1)} µs` : `${n.toFixed(2)} ms`);

test('getCredential cache hit vs plain HTTP fetch of the credential', async () => {
  const sdkCalls = knob('BENCH_SDK_CALLS', 200_000);
  const httpCalls = knob('BENCH_HTTP_CALLS', 3_000);
  const ports = await reservePorts();
  const google = await startOAuthServer({
    profile: 'google',
    clients: [{ client_id: 'bench', client_secret: 'bench-secret', redirect_uris: [`${gatewayUrlFor(ports)}/v1/oauth/callback/gmail`] }],
  });
  const platform = await startTestPlatform({
    ports,
    env: { AUTHPIPE_LOG_LEVEL: 'warn', RATE_LIMIT_PER_MINUTE: '1000000' },
    providers: { gmail: { oauth2: { authorizationUrl: google.authorizationEndpoint, tokenUrl: google.tokenEndpoint, issuer: google.issuer }, probe: { url: google.probeEndpoint } } },
  });
  const authpipe: { client?: Authpipe } = {};
  try {
    const post = (url: string, token: string, body: unknown) =>
      fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const apiKey = await setUpTenant(platform, 'bench', { provider: 'gmail', clientId: 'bench', clientSecret: 'bench-secret', scopes: [GMAIL_READONLY] });
    const session = (await (await post(`${platform.gatewayUrl}/v1/connect-sessions`, apiKey, { provider: 'gmail', userId: 'user_bench' })).json()) as { connectUrl: string };
    await browse(session.connectUrl, { jar: new CookieJar() });
    const url = `${platform.queryUrl}/v1/credentials/gmail/user_bench`;
    const plain = async () => {
      const res = await fetch(url, { headers: { authorization: `Bearer ${apiKey}` } });
      if (res.status !== 200) throw new Error(`credential endpoint: HTTP ${res.status}`);
      return res.json();
    };
    for (let i = 0; i < 10 && (await fetch(url, { headers: { authorization: `Bearer ${apiKey}` } })).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));

    for (let i = 0; i < 200; i++) await plain(); // warm-up: JIT, connections, vault's data key
    const http = await measure(httpCalls, plain);
    const http16 = await rate(httpCalls, 16, plain);

    authpipe.client = new Authpipe({ baseUrl: platform.queryUrl, apiKey });
    const key = { provider: 'gmail', tenantId: 'bench', userId: 'user_bench' };
    const cold = process.hrtime.bigint();
    await authpipe.client.getCredential(key);
    const coldMs = Number(process.hrtime.bigint() - cold) / 1e6;
    for (let i = 0; i < 10_000; i++) await authpipe.client.getCredential(key);
    const sdk = await measure(sdkCalls, () => authpipe.client!.getCredential(key));
    const stats = authpipe.client.stats();
    if (stats.fetches !== 1) throw new Error(`expected one read from query-api, got ${stats.fetches}`);

    console.log(
      [
        `getCredential, cache hit (${sdkCalls} calls, event stream ${stats.eventStream}): p50 ${ms(sdk.p50)}, p99 ${ms(sdk.p99)}, max ${ms(sdk.max)}, ${Math.round(sdk.perSecond).toLocaleString('en')} calls/s`,
        `  its first (cold) call: ${ms(coldMs)} (opens the event stream, then one read)`,
        `plain fetch of GET /v1/credentials (${httpCalls} calls, one at a time): p50 ${ms(http.p50)}, p99 ${ms(http.p99)}, max ${ms(http.max)}, ${Math.round(http.perSecond).toLocaleString('en')} calls/s`,
        `plain fetch, 16 at a time: ${Math.round(http16).toLocaleString('en')} calls/s`,
        `ratio of p50s: ${Math.round(http.p50 / sdk.p50).toLocaleString('en')}x`,
      ].join('\n'),
    );
  } finally {
    authpipe.client?.close();
    await platform.stop();
    await google.stop();
  }
});
