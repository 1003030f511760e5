import { randomUUID } from 'node:crypto';
import { browse, CookieJar } from '../../support/oauth-server/browser-less';

/*
 * A steady load against a running test platform, as a tenant's users and backend make it: connect flows driven over
 * HTTP (browser-less, through the local oidc-provider) and credential reads on query-api. With short-lived access
 * tokens the refresher refreshes continuously under it, and reads inside the margin refresh on demand.
 *
 * Every operation's outcome is recorded: HTTP status, the problem's `code` (or the result page's error reason),
 * latency. Every request carries an AbortSignal timeout well above the platform's own RPC timeouts, so a request the
 * platform never answers is recorded as a `hang`, a distinct outcome, instead of making the test slow.
 */

export type OperationKind = 'connect' | 'read';

/**
 * - `ok`: a 2xx (a connect: the result page says Connected);
 * - `error`: any other answer (status and code recorded);
 * - `network_error`: no answer at all (connection refused or reset: the app is down);
 * - `hang`: no answer within `hangAfterMs`.
 */
export type OutcomeKind = 'ok' | 'error' | 'network_error' | 'hang';

export interface Outcome {
  kind: OperationKind;
  userId: string;
  /** Connects: the X-Request-Id of the flow, which becomes the correlation id of its Connected event. */
  flowId?: string;
  startedAt: number;
  endedAt: number;
  latencyMs: number;
  outcome: OutcomeKind;
  /** HTTP status of the answer that decided the outcome (undefined for network_error and hang). */
  status?: number;
  /** problem+json `code`, or for the connect result page its `error: <reason>`. */
  code?: string;
  retryAfter?: string;
  /** Which step of a connect failed: `session` (POST /v1/connect-sessions) or `browser` (start, provider, callback). */
  step?: 'session' | 'browser';
  /** Reads: the access token returned (to check it at the provider). */
  accessToken?: string;
}

export interface SteadyLoadTarget {
  gatewayUrl: string;
  queryUrl: string;
  apiKey: string;
  provider: string;
  scopes: string[];
}

export interface SteadyLoadOptions {
  /** The users the connect workers connect, each once, in order. */
  users: string[];
  /**
   * Then the users reconnected, in turn, over and over (a reconnect is a new flow, a new Connected). Default: the
   * first quarter of `users`; the others keep their first connection, so only the refresher keeps them valid.
   */
  reconnectUsers?: string[];
  /** Parallel connect flows. Default 2. */
  connectWorkers?: number;
  /** Parallel credential readers. Default 3. */
  readWorkers?: number;
  /**
   * Pause between two connects of one worker. Default 400 ms: each user reconnects only every few seconds, so that
   * its tokens live long enough to be refreshed in between.
   */
  connectPauseMs?: number;
  /** Pause between two reads of one reader. Default 50 ms. */
  readPauseMs?: number;
  /** A request with no answer after this long is a hang. Default 40 s: well above the RPC and on-demand refresh timeouts. */
  hangAfterMs?: number;
}

export interface SteadyLoad {
  readonly outcomes: readonly Outcome[];
  /** Users the platform has told were connected at least once (the readers read only those). */
  readonly connected: ReadonlySet<string>;
  /** Stop starting operations and wait for those in flight. */
  stop(): Promise<readonly Outcome[]>;
}

/** Start the load in the background; it runs until stop(). */
export function startSteadyLoad(target: SteadyLoadTarget, options: SteadyLoadOptions): SteadyLoad {
  const hangAfterMs = options.hangAfterMs ?? 40_000;
  const outcomes: Outcome[] = [];
  const connected = new Set<string>();
  let stopping = false;
  let nextUser = 0;
  const reconnectUsers = options.reconnectUsers ?? options.users.slice(0, Math.ceil(options.users.length / 4));

  const record = (o: Omit<Outcome, 'endedAt' | 'latencyMs'>): Outcome => {
    const endedAt = Date.now();
    const full = { ...o, endedAt, latencyMs: endedAt - o.startedAt };
    outcomes.push(full);
    return full;
  };

  async function connectOnce(): Promise<void> {
    const n = nextUser++;
    const userId = n < options.users.length ? options.users[n] : reconnectUsers[(n - options.users.length) % reconnectUsers.length];
    const outcome = await connectUser(target, userId, hangAfterMs);
    outcomes.push(outcome);
    if (outcome.outcome === 'ok') connected.add(userId);
  }

  async function readOnce(): Promise<void> {
    const users = [...connected];
    if (!users.length) return sleep(100);
    const userId = users[Math.floor(Math.random() * users.length)];
    const startedAt = Date.now();
    const read = await timed(hangAfterMs, (signal) =>
      fetch(`${target.queryUrl}/v1/credentials/${target.provider}/${encodeURIComponent(userId)}`, {
        headers: { authorization: `Bearer ${target.apiKey}` },
        signal,
      }).then(async (res) => ({ res, body: await res.text() })),
    );
    const answer = answerOf(read, problemCode);
    const accessToken = answer.outcome === 'ok' && read.outcome === 'ok' ? (JSON.parse(read.value.body) as { accessToken?: string }).accessToken : undefined;
    record({ kind: 'read', userId, startedAt, ...answer, ...(accessToken ? { accessToken } : {}) });
  }

  const worker = async (operation: () => Promise<void>, pauseMs: number) => {
    while (!stopping) {
      await operation();
      await sleep(pauseMs);
    }
  };
  const workers = [
    ...Array.from({ length: options.connectWorkers ?? 2 }, () => worker(connectOnce, options.connectPauseMs ?? 400)),
    ...Array.from({ length: options.readWorkers ?? 3 }, () => worker(readOnce, options.readPauseMs ?? 50)),
  ];

  return {
    outcomes,
    connected,
    async stop() {
      stopping = true;
      await Promise.all(workers);
      return outcomes;
    },
  };
}

/** One connect flow of one user over HTTP (session, authorize, provider, callback), with its outcome. */
export async function connectUser(target: SteadyLoadTarget, userId: string, hangAfterMs = 40_000): Promise<Outcome> {
  const flowId = `flow-${randomUUID()}`;
  const startedAt = Date.now();
  const done = (o: Omit<Outcome, 'kind' | 'userId' | 'flowId' | 'startedAt' | 'endedAt' | 'latencyMs'>): Outcome => {
    const endedAt = Date.now();
    return { kind: 'connect', userId, flowId, startedAt, endedAt, latencyMs: endedAt - startedAt, ...o };
  };
  const session = await timed(hangAfterMs, (signal) =>
    fetch(`${target.gatewayUrl}/v1/connect-sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${target.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ provider: target.provider, userId, scopes: target.scopes }),
      signal,
    }).then(async (res) => ({ res, body: await res.text() })),
  );
  if (session.outcome !== 'ok' || session.value.res.status !== 201) return done({ step: 'session', ...answerOf(session, problemCode) });
  const { connectUrl } = JSON.parse(session.value.body) as { connectUrl: string };
  // Each hop of the browser gets its own timeout; the first carries the flow's id.
  const flow = await timed(hangAfterMs * 3, () =>
    browse(connectUrl, {
      jar: new CookieJar(),
      headers: { 'x-request-id': flowId },
      fetch: (input, init) => fetch(input, { ...init, signal: AbortSignal.timeout(hangAfterMs) }),
    }).then((result) => ({ res: result.response, body: result.body })),
  );
  const answer = answerOf(flow, pageReason);
  const ok = answer.outcome === 'ok' && /<h1>Connected<\/h1>/.test(flow.outcome === 'ok' ? flow.value.body : '');
  return done({ step: 'browser', ...answer, outcome: ok ? 'ok' : answer.outcome === 'ok' ? 'error' : answer.outcome });
}

type Timed<T> = { outcome: 'ok'; value: T } | { outcome: 'network_error' | 'hang'; error: Error };

/** Run a request with an AbortSignal timeout; tell a hang (the timeout) from a network error. */
async function timed<T>(timeoutMs: number, run: (signal: AbortSignal) => Promise<T>): Promise<Timed<T>> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    return { outcome: 'ok', value: await run(signal) };
  } catch (err) {
    const hang = signal.aborted || isTimeout(err);
    return { outcome: hang ? 'hang' : 'network_error', error: err as Error };
  }
}

function isTimeout(err: unknown): boolean {
  for (let e = err as { name?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e.name === 'TimeoutError') return true;
  }
  return false;
}

function answerOf(result: Timed<{ res: Response; body: string }>, codeOf: (body: string) => string | undefined) {
  if (result.outcome !== 'ok') return { outcome: result.outcome } as const;
  const { res, body } = result.value;
  const retryAfter = res.headers.get('retry-after') ?? undefined;
  const ok = res.status >= 200 && res.status < 300;
  return {
    outcome: ok ? ('ok' as const) : ('error' as const),
    status: res.status,
    ...(ok ? {} : { code: codeOf(body) ?? 'unknown' }),
    ...(retryAfter ? { retryAfter } : {}),
  };
}

function problemCode(body: string): string | undefined {
  try {
    return (JSON.parse(body) as { code?: string }).code;
  } catch {
    return undefined;
  }
}

/** The connect result page shows `error: <reason>` when it failed. */
function pageReason(body: string): string | undefined {
  return /<code>error: ([a-z_]+)<\/code>/.exec(body)?.[1] ?? problemCode(body);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Outcomes whose request was running at some moment of [from, to]. */
export function inFlightDuring(outcomes: readonly Outcome[], from: number, to: number): Outcome[] {
  return outcomes.filter((o) => o.startedAt <= to && o.endedAt >= from);
}

/** Counts by kind, outcome, status and code, e.g. `{ "read ok 200": 812, "read error 503 UNAVAILABLE": 4 }`. */
export function tally(outcomes: readonly Outcome[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) {
    const key = [o.kind, o.step === 'session' ? 'session' : '', o.outcome, o.status ?? '', o.code ?? ''].filter(Boolean).join(' ');
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
}

/** p50 and p99 latency of successful operations of a kind, in ms. */
export function latencies(outcomes: readonly Outcome[], kind: OperationKind): { count: number; p50: number; p99: number } {
  const sorted = outcomes.filter((o) => o.kind === kind && o.outcome === 'ok').map((o) => o.latencyMs).sort((a, b) => a - b);
  const at = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : 0);
  return { count: sorted.length, p50: at(0.5), p99: at(0.99) };
}
