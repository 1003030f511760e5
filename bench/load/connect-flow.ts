import { browse, CookieJar } from '../../test/support/oauth-server/browser-less';

/*
 * One whole connect flow as a user's browser and a tenant's backend make it, timed step by step, and a runner that
 * keeps a fixed number of flows in flight. autocannon drives one request shape at a time; a flow is five kinds of
 * request on two servers with a cookie jar and redirects in between, so it is driven here with the browser-less
 * helpers instead.
 */

export const FLOW_STEPS = ['session', 'start', 'provider', 'callback', 'readable'] as const;
export type FlowStep = (typeof FLOW_STEPS)[number];

export interface FlowUser {
  tenantId: string;
  apiKey: string;
  userId: string;
}

export type FlowOutcome =
  | { ok: true; user: FlowUser; totalMs: number; steps: Record<FlowStep, number> }
  | { ok: false; user: FlowUser; totalMs: number; step: FlowStep; detail: string };

export interface FlowTarget {
  gatewayUrl: string;
  queryUrl: string;
  provider: string;
  /** How long to wait for the credential to become readable after the callback (projection). */
  readableTimeoutMs: number;
}

/**
 * session: POST /v1/connect-sessions (tenant API key). start: the gateway's /v1/connect/start (state, PKCE, 302).
 * provider: every hop at the oidc-provider (authorize, auto-login and auto-consent interaction, resume).
 * callback: the gateway's callback (state check, code exchange at the provider, client secret from vault, tokens
 * stored in vault, Connected appended). readable: until query-api serves the credential (projection, vault read).
 */
export async function connectOnce(target: FlowTarget, user: FlowUser): Promise<FlowOutcome> {
  const steps: Record<FlowStep, number> = { session: 0, start: 0, provider: 0, callback: 0, readable: 0 };
  const started = performance.now();
  const fail = (step: FlowStep, detail: string): FlowOutcome => ({ ok: false, user, totalMs: performance.now() - started, step, detail });
  const auth = { authorization: `Bearer ${user.apiKey}` };

  let mark = performance.now();
  const created = await fetch(`${target.gatewayUrl}/v1/connect-sessions`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ provider: target.provider, userId: user.userId }),
  }).catch((err: Error) => err);
  if (created instanceof Error) return fail('session', created.message);
  if (created.status !== 201) return fail('session', `HTTP ${created.status}`);
  const { connectUrl } = (await created.json()) as { connectUrl: string };
  steps.session = performance.now() - mark;

  const gateway = new URL(target.gatewayUrl).origin;
  const stepOf = (url: URL): FlowStep =>
    url.origin !== gateway ? 'provider' : url.pathname.startsWith('/v1/oauth/callback/') ? 'callback' : 'start';
  const timedFetch: typeof fetch = async (input, init) => {
    const at = performance.now();
    try {
      return await fetch(input, init);
    } finally {
      steps[stepOf(new URL(input instanceof Request ? input.url : input))] += performance.now() - at;
    }
  };
  const page = await browse(connectUrl, { jar: new CookieJar(), fetch: timedFetch }).catch((err: Error) => err);
  if (page instanceof Error) return fail('provider', page.message);
  const landed = stepOf(page.url);
  if (landed !== 'callback') return fail(landed, `ended at ${page.response.status} ${page.url.origin}${page.url.pathname}`);
  if (page.response.status !== 200 || !page.body.includes('<h1>Connected</h1>')) {
    return fail('callback', `HTTP ${page.response.status}: ${/error: ([a-z_]+)/.exec(page.body)?.[1] ?? 'no success page'}`);
  }

  mark = performance.now();
  const deadline = mark + target.readableTimeoutMs;
  for (;;) {
    const res = await fetch(`${target.queryUrl}/v1/credentials/${target.provider}/${user.userId}`, { headers: auth }).catch((err: Error) => err);
    if (!(res instanceof Error)) {
      const body = res.status === 200 ? ((await res.json()) as { userId?: string; accessToken?: string }) : (await res.arrayBuffer(), undefined);
      if (body?.userId === user.userId && body.accessToken) break;
    }
    if (performance.now() > deadline) return fail('readable', `credential not readable after ${target.readableTimeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
  steps.readable = performance.now() - mark;
  return { ok: true, user, totalMs: performance.now() - started, steps };
}

/** Runs `work` over `items` with at most `concurrency` in flight; results in completion order. */
export async function runBounded<T, R>(items: T[], concurrency: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) results.push(await work(items[next++]));
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}
