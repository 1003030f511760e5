import { browse, CookieJar } from '../test/support/oauth-server/browser-less';
import { startOAuthServer } from '../test/support/oauth-server/spawn';
import { gatewayUrlFor, reservePorts, startTestPlatform, setUpTenant } from '../test/support/test-platform';
import { knob, percentile } from './stats';

/*
 * The credential endpoint behind getCredential (no SDK cache) at a fixed arrival rate with all five apps on this
 * machine: open-loop load (requests start on schedule whether or not earlier ones finished), latency from the
 * scheduled start. `npm run bench -- bench/credential-endpoint` ; BENCH_RPS (default 500), BENCH_SECONDS (default 15).
 */

test('credential endpoint at a fixed request rate', async () => {
  const rps = knob('BENCH_RPS', 500);
  const seconds = knob('BENCH_SECONDS', 15);
  const users = 50;
  const ports = await reservePorts();
  const google = await startOAuthServer({ profile: 'google', clients: [{ client_id: 'b', client_secret: 'bench-secret', redirect_uris: [`${gatewayUrlFor(ports)}/v1/oauth/callback/gmail`] }] });
  const platform = await startTestPlatform({
    ports,
    env: { AUTHPIPE_LOG_LEVEL: 'warn', RATE_LIMIT_PER_MINUTE: '1000000' },
    providers: { gmail: { oauth2: { authorizationUrl: google.authorizationEndpoint, tokenUrl: google.tokenEndpoint, issuer: google.issuer }, probe: { url: google.probeEndpoint } } },
  });
  try {
    const post = (url: string, token: string, body: unknown) =>
      fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const apiKey = await setUpTenant(platform, 'bench', { provider: 'gmail', clientId: 'b', clientSecret: 'bench-secret', scopes: ['https://www.googleapis.com/auth/gmail.readonly'] });
    for (let i = 0; i < users; i++) {
      const session = (await (await post(`${platform.gatewayUrl}/v1/connect-sessions`, apiKey, { provider: 'gmail', userId: `user_${i}` })).json()) as { connectUrl: string };
      await browse(session.connectUrl, { jar: new CookieJar() });
    }
    const url = (i: number) => `${platform.queryUrl}/v1/credentials/gmail/user_${i % users}`;
    const headers = { authorization: `Bearer ${apiKey}` };
    for (let i = 0; i < 200; i++) await (await fetch(url(i), { headers })).arrayBuffer(); // warm-up
    const latencies: number[] = [];
    let errors = 0;
    const total = rps * seconds;
    const started = performance.now();
    const inFlight: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
      const due = started + (i * 1000) / rps;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      inFlight.push(
        fetch(url(i), { headers }).then(
          async (res) => {
            await res.arrayBuffer();
            if (res.status === 200) latencies.push(performance.now() - due);
            else errors++;
          },
          () => void errors++,
        ),
      );
    }
    await Promise.all(inFlight);
    const elapsed = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    console.log(
      `credential endpoint, ${total} requests at ${rps}/s offered (${(latencies.length / elapsed).toFixed(0)}/s served, ${errors} errors): ` +
        `p50 ${percentile(latencies, 50).toFixed(1)} ms, p90 ${percentile(latencies, 90).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${latencies[latencies.length - 1].toFixed(1)} ms`,
    );
  } finally {
    await platform.stop();
    await google.stop();
  }
});
