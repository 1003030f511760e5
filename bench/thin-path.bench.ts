import { browse, CookieJar } from '../test/support/oauth-server/browser-less';
import { startOAuthServer } from '../test/support/oauth-server/spawn';
import { gatewayUrlFor, reservePorts, startTestPlatform, setUpTenant } from '../test/support/test-platform';
import { knob, percentile } from './stats';

/*
 * Connect-to-credential time on the thin path: connect session -> browser flow through the gateway and a local
 * Google-like server -> code exchange -> vault -> Connected -> projection -> credential endpoint.
 * `npm run bench -- bench/thin-path` ; BENCH_CONNECTS sets the number of users (default 50).
 */
const GMAIL_READONLY = 'https://www.googleapis.com/auth/gmail.readonly';

test('connect-to-credential latency', async () => {
  const count = knob('BENCH_CONNECTS', 50);
  const ports = await reservePorts();
  const google = await startOAuthServer({
    profile: 'google',
    clients: [{ client_id: 'bench', client_secret: 'bench-secret', redirect_uris: [`${gatewayUrlFor(ports)}/v1/oauth/callback/gmail`] }],
  });
  const platform = await startTestPlatform({
    ports,
    env: { AUTHPIPE_LOG_LEVEL: 'warn' },
    providers: { gmail: { oauth2: { authorizationUrl: google.authorizationEndpoint, tokenUrl: google.tokenEndpoint, issuer: google.issuer }, probe: { url: google.probeEndpoint } } },
  });
  try {
    const post = (url: string, token: string, body: unknown) =>
      fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const apiKey = await setUpTenant(platform, 'bench', { provider: 'gmail', clientId: 'bench', clientSecret: 'bench-secret', scopes: [GMAIL_READONLY] });
    const timings: number[] = [];
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      const session = (await (await post(`${platform.gatewayUrl}/v1/connect-sessions`, apiKey, { provider: 'gmail', userId: `user_${i}` })).json()) as { connectUrl: string };
      const page = await browse(session.connectUrl, { jar: new CookieJar() });
      if (page.response.status !== 200) throw new Error(`connect ${i} failed: ${page.response.status} ${page.url} ${page.body.slice(0, 300)}`);
      for (;;) {
        const res = await fetch(`${platform.queryUrl}/v1/credentials/gmail/user_${i}`, { headers: { authorization: `Bearer ${apiKey}` } });
        if (res.status === 200) break;
        await new Promise((r) => setTimeout(r, 2));
      }
      timings.push(performance.now() - started);
    }
    timings.sort((a, b) => a - b);
    const fmt = (n: number) => `${n.toFixed(1)} ms`;
    console.log(
      `connect-to-credential over ${count} users: p50 ${fmt(percentile(timings, 50))}, p90 ${fmt(percentile(timings, 90))}, ` +
        `p99 ${fmt(percentile(timings, 99))}, max ${fmt(timings[timings.length - 1])}`,
    );
  } finally {
    await platform.stop();
    await google.stop();
  }
});
