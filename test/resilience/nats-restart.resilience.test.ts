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
 * nats-server is stopped (SIGTERM; its JetStream store stays on disk) and started again on the same port after a few
 * seconds, while a steady load of connect flows and credential reads runs and the refresher refreshes every
 * connection every few seconds (Google-like tokens of 24 s refreshed at half their life: 12 s of slack, twice the outage). Without restarting any app:
 * - every app reports ready again by itself, and new work succeeds;
 * - what was in flight during the outage failed with a clear retryable answer (503 UNAVAILABLE with Retry-After, or
 *   the connect page's `unavailable`), never a 500 and never a hang;
 * - no lifecycle event is lost or doubled, vault and the history agree, the read models catch up with the history.
 */

const OUTAGE_MS = 3_000;
const WARM_UP_MS = 8_000 * SCALE;
const AFTER_MS = 10_000 * SCALE;
const users = Array.from({ length: 20 * SCALE }, (_, i) => `n${String(i).padStart(3, '0')}`);

describe('nats-server restarted under a steady load', () => {
  let lp: LoadPlatform;
  let nats: NatsConnection;
  let outcomes: readonly Outcome[] = [];
  let downAt = 0;
  let upAt = 0;
  const readyAfterMs: Record<string, number> = {};
  const notReadyDuringOutage = new Set<string>();
  let history: RecordedEvent[] = [];
  let findings: HistoryFindings;

  beforeAll(async () => {
    lp = await startLoadPlatform({ accessTokenTtlSeconds: 24, marginSeconds: 12 });
    const load = startSteadyLoad(lp.target, { users, connectWorkers: 2, readWorkers: 3 });
    try {
      await new Promise((r) => setTimeout(r, WARM_UP_MS));
      await eventually(async () => (load.connected.size === users.length ? true : undefined), 30_000, 'every user connected once');

      // The outage, with every app's readiness sampled meanwhile.
      downAt = Date.now();
      let restarting = true;
      const restarted = lp.platform.nats.restart({ downMs: OUTAGE_MS }).finally(() => (restarting = false));
      const sampling = (async () => {
        while (restarting) {
          await Promise.all(APPS.map(async (app) => (await isReady(lp.platform, app)) || notReadyDuringOutage.add(app)));
          await new Promise((r) => setTimeout(r, 250));
        }
      })();
      await restarted;
      upAt = Date.now();
      await sampling;
      await Promise.all(
        APPS.map(async (app) => {
          await eventually(async () => ((await isReady(lp.platform, app)) ? true : undefined), 60_000, `${app} ready again`);
          readyAfterMs[app] = Date.now() - upAt;
        }),
      );
      await new Promise((r) => setTimeout(r, AFTER_MS));
    } finally {
      outcomes = await load.stop();
    }
    history = await settle(lp);
    nats = await connect({ servers: lp.platform.nats.url, name: 'resilience-nats-restart' });
    findings = await checkHistory(history, outcomes, nats);
  }, 240_000);

  afterAll(async () => {
    await nats?.close();
    await lp?.stop();
  });

  it('every app goes ready again on its own after the restart', () => {
    expect(Object.keys(readyAfterMs).sort()).toEqual([...APPS].sort());
    // The readiness checks noticed the outage (they check NATS), so "ready again" means something.
    expect([...notReadyDuringOutage].sort()).toEqual([...APPS].sort());
    console.log(
      `nats restart: outage ${upAt - downAt} ms (nats-server down ${OUTAGE_MS} ms + its start); ready again after it came back: ` +
        APPS.map((app) => `${app} ${readyAfterMs[app]} ms`).join(', '),
    );
  });

  it('fails what was in flight during the outage with a clear retryable answer, never a hang or a 500', () => {
    const failed = outcomes.filter((o) => o.outcome !== 'ok');
    const unclear = failed.filter((o) => !isClearRetryable(o));
    expect(unclear).toEqual([]);
    expect(outcomes.filter((o) => o.outcome === 'hang')).toEqual([]);
    // Failures only around the outage: from its start to a few seconds after every app was ready again.
    const allReadyAt = upAt + Math.max(...Object.values(readyAfterMs));
    expect(failed.filter((o) => o.endedAt < downAt || o.startedAt > allReadyAt + 5_000)).toEqual([]);
    const during = inFlightDuring(outcomes, downAt, upAt);
    console.log(
      `nats restart: ${during.length} operations in flight during the outage: ${JSON.stringify(tally(during))}; ` +
        `all failures: ${JSON.stringify(tally(failed))}`,
    );
  });

  it('serves new work after the restart without restarting any app', () => {
    const allReadyAt = upAt + Math.max(...Object.values(readyAfterMs));
    const after = outcomes.filter((o) => o.startedAt > allReadyAt + 1_000);
    expect(after.filter((o) => o.kind === 'connect' && o.outcome === 'ok').length).toBeGreaterThan(0);
    expect(after.filter((o) => o.kind === 'read' && o.outcome === 'ok').length).toBeGreaterThan(0);
    for (const child of lp.platform.children.values()) expect(child.exitCode).toBeNull();
    const connects = outcomes.filter((o) => o.kind === 'connect');
    const reads = outcomes.filter((o) => o.kind === 'read');
    console.log(
      `nats restart: load ${connects.length} connects (${connects.filter((o) => o.outcome === 'ok').length} ok, p50/p99 ` +
        `${latencies(outcomes, 'connect').p50}/${latencies(outcomes, 'connect').p99} ms), ${reads.length} credential reads ` +
        `(${reads.filter((o) => o.outcome === 'ok').length} ok, p50/p99 ${latencies(outcomes, 'read').p50}/${latencies(outcomes, 'read').p99} ms)`,
    );
  });

  it('loses no lifecycle event: every connect told success and every stored refresh is in the history, none twice', async () => {
    expect(findings.problems).toEqual([]);
    const { requests, issued } = await refreshesIssued(lp.provider);
    // Every Refreshed stands for a token the provider issued; a token issued whose store the outage cut off is
    // dropped (the old refresh token stays valid: Google does not rotate), never half-recorded.
    expect(findings.refreshed).toBeLessThanOrEqual(issued);
    expect(findings.refreshed).toBeGreaterThan(0);
    console.log(
      `nats restart: history ${findings.events} events, ${findings.connectionStreams} connections, ${findings.connected} Connected, ` +
        `${findings.refreshed} Refreshed, ${findings.refreshFailed} RefreshFailed, ${findings.revoked} Revoked; provider: ` +
        `${requests} refresh requests, ${issued} tokens issued, ${issued - findings.refreshed} dropped by the outage`,
    );
    expect(findings.revoked).toBe(0);
  });

  it('catches the read models up with the history, leaves no refresh lock held, and every credential valid', async () => {
    const { problems } = await readModelsAgree(lp.target, lp.platform.nats.url);
    expect(problems).toEqual([]);
    expect(await heldRefreshLocks(nats)).toEqual([]);
    const live = await checkCredentialsLive(lp.target, lp.provider, history);
    expect(live.problems).toEqual([]);
    expect(live.checked).toBe(users.length);
  });
});

/** A failure a client can act on: retry later. */
function isClearRetryable(o: Outcome): boolean {
  if (o.outcome !== 'error') return false;
  if (o.kind === 'connect' && o.step === 'browser') return o.status === 503 && o.code === 'unavailable';
  return o.status === 503 && o.code === 'UNAVAILABLE' && o.retryAfter !== undefined;
}
