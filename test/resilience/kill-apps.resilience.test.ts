import { connect, NatsConnection } from 'nats';
import type { RecordedEvent } from '@authpipe/contracts';
import { eventually } from '../support/test-platform';
import {
  APPS,
  checkCredentialsLive,
  checkHistory,
  HistoryFindings,
  heldRefreshLocks,
  isReady,
  LoadPlatform,
  readModelsAgree,
  refreshesIssued,
  SCALE,
  startLoadPlatform,
} from './support/load-platform';
import { settle } from './support/settle';
import { inFlightDuring, latencies, Outcome, startSteadyLoad, tally } from './support/steady-load';

/*
 * Each of the five apps in turn is killed with SIGKILL (no shutdown hook runs: a crash) under a steady load of
 * connect flows and credential reads while the refresher refreshes every connection (tokens of 40 s, refreshed at half
 * their life: 20 s of slack, more than the refresher's own restart and the lease its dead predecessor held), and
 * started again a moment later. Afterwards, at rest:
 * - no duplicate event (eventIds unique, one Connected per flow, one Refreshed per token the provider issued at most);
 * - no lost event (every connect told success has its Connected; every credential vault stored has its event);
 * - no connection in a wrong state (read models equal the fold of the history, every credential readable and valid
 *   at the provider, no refresh lock left held);
 * - requests during a crash fail cleanly: a retryable 503, or no connection at all to the app that is down; never a
 *   500 and never a hang.
 */

const DOWN_MS = 1_000;
const BETWEEN_MS = 4_000 * SCALE;
const WARM_UP_MS = 5_000 * SCALE;
const users = Array.from({ length: 20 * SCALE }, (_, i) => `k${String(i).padStart(3, '0')}`);
/** The apps that serve HTTP: while one is down its requests find no listener. */
const HTTP_APPS: Record<string, 'connect' | 'read'> = { 'oauth-gateway': 'connect', 'query-api': 'read' };

interface Crash {
  app: string;
  killedAt: number;
  /** Answering on NATS again (the launcher's health check). */
  restartedAt: number;
  /** GET /health/ready says 200. */
  readyAt: number;
}

describe('each app killed with SIGKILL under a steady load, then restarted', () => {
  let lp: LoadPlatform;
  let nats: NatsConnection;
  let outcomes: readonly Outcome[] = [];
  const crashes: Crash[] = [];
  let history: RecordedEvent[] = [];
  let findings: HistoryFindings;

  beforeAll(async () => {
    lp = await startLoadPlatform({ accessTokenTtlSeconds: 40, marginSeconds: 20 });
    const load = startSteadyLoad(lp.target, { users, connectWorkers: 2, readWorkers: 3 });
    try {
      await new Promise((r) => setTimeout(r, WARM_UP_MS));
      await eventually(async () => (load.connected.size === users.length ? true : undefined), 30_000, 'every user connected once');
      for (const app of APPS) {
        const killedAt = Date.now();
        await lp.platform.killApp(app);
        await new Promise((r) => setTimeout(r, DOWN_MS));
        await lp.platform.restartApp(app);
        const restartedAt = Date.now();
        await eventually(async () => ((await isReady(lp.platform, app)) ? true : undefined), 60_000, `${app} ready after its restart`);
        crashes.push({ app, killedAt, restartedAt, readyAt: Date.now() });
        await new Promise((r) => setTimeout(r, BETWEEN_MS));
      }
    } finally {
      outcomes = await load.stop();
    }
    history = await settle(lp);
    nats = await connect({ servers: lp.platform.nats.url, name: 'resilience-kill-apps' });
    findings = await checkHistory(history, outcomes, nats);
  }, 240_000);

  afterAll(async () => {
    await nats?.close();
    await lp?.stop();
  });

  it('restarts every app after its crash', () => {
    expect(crashes.map((c) => c.app)).toEqual([...APPS]);
    for (const crash of crashes) {
      const during = inFlightDuring(outcomes, crash.killedAt, crash.readyAt);
      console.log(
        `kill -9 ${crash.app} at ${new Date(crash.killedAt).toISOString()}: down ${crash.restartedAt - crash.killedAt} ms until it answered on NATS again (${DOWN_MS} ms dead + its start), ` +
          `ready ${crash.readyAt - crash.killedAt} ms after the kill; ${during.length} operations meanwhile: ${JSON.stringify(tally(during))}`,
      );
    }
  });

  it('fails requests during a crash cleanly: a retryable 503, or no connection to the app that is down; never a 500 or a hang', () => {
    expect(outcomes.filter((o) => o.outcome === 'hang')).toEqual([]);
    const unclean = outcomes.filter((o) => o.outcome !== 'ok' && !isClean(o, crashes));
    expect(unclean).toEqual([]);
    // Failures only while an app was down or just restarted.
    const outside = outcomes.filter((o) => o.outcome !== 'ok' && !crashes.some((c) => o.startedAt <= c.readyAt + 5_000 && o.endedAt >= c.killedAt));
    expect(outside).toEqual([]);
    const connects = outcomes.filter((o) => o.kind === 'connect');
    const reads = outcomes.filter((o) => o.kind === 'read');
    console.log(
      `kill -9: load ${connects.length} connects (${connects.filter((o) => o.outcome === 'ok').length} ok, p50/p99 ` +
        `${latencies(outcomes, 'connect').p50}/${latencies(outcomes, 'connect').p99} ms), ${reads.length} credential reads ` +
        `(${reads.filter((o) => o.outcome === 'ok').length} ok, p50/p99 ${latencies(outcomes, 'read').p50}/${latencies(outcomes, 'read').p99} ms); ` +
        `failures: ${JSON.stringify(tally(outcomes.filter((o) => o.outcome !== 'ok')))}`,
    );
  });

  it('duplicates no event and loses none: one Connected per flow, a Refreshed per stored credential, none twice', async () => {
    expect(findings.problems).toEqual([]);
    const { requests, issued } = await refreshesIssued(lp.provider);
    // One Refreshed per token the provider issued at most; a token whose refresher or vault died before storing it
    // is dropped (Google does not rotate: the old refresh token stays valid), never recorded twice or half.
    expect(findings.refreshed).toBeLessThanOrEqual(issued);
    expect(findings.refreshed).toBeGreaterThan(0);
    console.log(
      `kill -9: history ${findings.events} events, ${findings.connectionStreams} connections, ${findings.connected} Connected, ` +
        `${findings.refreshed} Refreshed, ${findings.refreshFailed} RefreshFailed, ${findings.revoked} Revoked; provider: ` +
        `${requests} refresh requests, ${issued} tokens issued, ${issued - findings.refreshed} dropped by a crash`,
    );
    expect(findings.revoked).toBe(0);
  });

  it('leaves no connection in a wrong state: read models equal the history, credentials valid, no lock held', async () => {
    const { problems } = await readModelsAgree(lp.target, lp.platform.nats.url);
    expect(problems).toEqual([]);
    expect(await heldRefreshLocks(nats)).toEqual([]);
    const live = await checkCredentialsLive(lp.target, lp.provider, history);
    expect(live.problems).toEqual([]);
    expect(live.checked).toBe(users.length);
  });
});

/** A failure a client can act on: a retryable 503, or the app it calls not listening while it is down. */
function isClean(o: Outcome, crashes: Crash[]): boolean {
  if (o.outcome === 'network_error') {
    return crashes.some((c) => HTTP_APPS[c.app] === o.kind && o.startedAt <= c.restartedAt + 1_000 && o.endedAt >= c.killedAt);
  }
  if (o.outcome !== 'error') return false;
  if (o.kind === 'connect' && o.step === 'browser') return o.status === 503 && o.code === 'unavailable';
  return o.status === 503 && o.code === 'UNAVAILABLE' && o.retryAfter !== undefined;
}
