import { AuthpipeEvent, connectionIdFor, validateEvent } from '@authpipe/contracts';
import {
  ConnectionState,
  countFailures,
  decideExpired,
  decideOnProbe,
  HealthSettings,
  HistoryEvent,
  planProbe,
  ProbeResult,
  stateFromHistory,
} from './health-decisions';
import type { ProbeOutcome } from '../probe/probe-outcome';

/*
 * Given a connection's history, when a probe answers (or the clock says its token expired), then these events.
 */

const tenantId = 'org_health';
const connectionId = connectionIdFor(tenantId, 'gmail', 'u1');
const ref = { connectionId, tenantId, provider: 'gmail' };
const settings: HealthSettings = { degradedAfter: 3, refreshGraceMs: 3_600_000, expirySkewMs: 60_000 };
const MARGIN = 300_000; // gmail's refresh margin
const T0 = Date.UTC(2026, 5, 1, 12, 0, 0);
const at = (ms: number) => new Date(T0 + ms);
const iso = (ms: number) => at(ms).toISOString();

const event = (e: AuthpipeEvent, occurredAtMs = 0): HistoryEvent => ({ ...e, metadata: { occurredAt: iso(occurredAtMs) } }) as HistoryEvent;
const connected = (opts: { expiresAt?: string | null; refreshable?: boolean } = {}) =>
  event({
    type: 'Connected',
    data: { ...ref, userId: 'u1', scopes: ['s'], expiresAt: opts.expiresAt === undefined ? null : opts.expiresAt, refreshable: opts.refreshable ?? false, credentialVersion: 1 },
  });
const degraded = event({ type: 'Degraded', data: { ...ref, consecutiveFailures: 3, lastFailure: '503' } });
const recovered = event({ type: 'Recovered', data: { ...ref } });
const revoked = event({ type: 'Revoked', data: { ...ref, reason: 'invalid_grant', detectedBy: 'refresher' } });
const disconnected = event({ type: 'Disconnected', data: { ...ref } });
const refreshFailed = (ms: number) => event({ type: 'RefreshFailed', data: { ...ref, failure: 'transient', willRetry: true, attempt: 1 } }, ms);
const refreshed = (expiresAt: string) => event({ type: 'Refreshed', data: { ...ref, expiresAt, credentialVersion: 2, rotated: false } });

/** given(history).whenProbed(answers...) -> the events decided at each probe, the failure count kept as the scheduler keeps it. */
function given(...history: HistoryEvent[]) {
  return {
    whenProbed(...answers: { outcome: ProbeOutcome; failure?: string }[]): AuthpipeEvent[][] {
      let failures = 0;
      const decided: AuthpipeEvent[][] = [];
      for (const answer of answers) {
        failures = countFailures(failures, answer.outcome);
        const result: ProbeResult = { ...answer, failuresInARow: failures };
        const events = decideOnProbe(stateFromHistory(history), ref, result, settings);
        history = [...history, ...events.map((e) => event(e))];
        decided.push(events);
      }
      return decided;
    },
    state: (): ConnectionState => stateFromHistory(history),
  };
}
const ok = { outcome: 'healthy' as const };
const fail = (failure = '503') => ({ outcome: 'transient' as const, failure });
const unauthorized = { outcome: 'revoked' as const };

describe('health decisions', () => {
  describe('a probe answered with a revoked status', () => {
    it('revokes a connected connection (probe_unauthorized, by the health monitor)', () => {
      expect(given(connected()).whenProbed(unauthorized)).toEqual([
        [{ type: 'Revoked', data: { ...ref, reason: 'probe_unauthorized', detectedBy: 'health-monitor' } }],
      ]);
    });

    it('revokes a degraded connection too', () => {
      expect(given(connected(), degraded).whenProbed(unauthorized)[0][0]).toMatchObject({ type: 'Revoked' });
    });

    it('decides nothing for a connection already revoked, disconnected or never connected', () => {
      expect(given(connected(), revoked).whenProbed(unauthorized)).toEqual([[]]);
      expect(given(connected(), disconnected).whenProbed(unauthorized)).toEqual([[]]);
      expect(given().whenProbed(unauthorized)).toEqual([[]]);
    });

    it('revokes once: a second probe after the Revoked decides nothing', () => {
      expect(given(connected()).whenProbed(unauthorized, unauthorized).map((e) => e.length)).toEqual([1, 0]);
    });
  });

  describe('transient failures', () => {
    it('degrade a connection after `degradedAfter` in a row, with the count and the last failure', () => {
      const decided = given(connected()).whenProbed(fail('503'), fail('429'), fail('timeout'));
      expect(decided.slice(0, 2)).toEqual([[], []]);
      expect(decided[2]).toEqual([{ type: 'Degraded', data: { ...ref, consecutiveFailures: 3, lastFailure: 'timeout' } }]);
    });

    it('degrade once per episode, however long it lasts', () => {
      const decided = given(connected()).whenProbed(fail(), fail(), fail(), fail(), fail(), fail());
      expect(decided.flat().map((e) => e.type)).toEqual(['Degraded']);
    });

    it('restart counting after a success: failures that are not in a row do not degrade', () => {
      expect(given(connected()).whenProbed(fail(), fail(), ok, fail(), fail(), ok).flat()).toEqual([]);
    });

    it('never degrade an already degraded connection again (the count restarted, e.g. after a monitor restart)', () => {
      expect(given(connected(), degraded).whenProbed(fail(), fail(), fail()).flat()).toEqual([]);
    });

    it('degrade a reconnected connection afresh (a reconnect clears the degradation)', () => {
      expect(given(connected(), degraded, connected()).whenProbed(fail(), fail(), fail()).flat().map((e) => e.type)).toEqual(['Degraded']);
    });
  });

  describe('recovery', () => {
    it('a success after Degraded recovers the connection, once', () => {
      const decided = given(connected()).whenProbed(fail(), fail(), fail(), ok, ok);
      expect(decided.map((e) => e.map((x) => x.type))).toEqual([[], [], ['Degraded'], ['Recovered'], []]);
      expect(decided[3]).toEqual([{ type: 'Recovered', data: { ...ref } }]);
    });

    it('a success without a degradation decides nothing', () => {
      expect(given(connected()).whenProbed(ok, ok)).toEqual([[], []]);
      expect(given(connected(), degraded, recovered).whenProbed(ok)).toEqual([[]]);
    });

    it('a degraded connection can degrade again after it recovered', () => {
      const decided = given(connected()).whenProbed(fail(), fail(), fail(), ok, fail(), fail(), fail());
      expect(decided.flat().map((e) => e.type)).toEqual(['Degraded', 'Recovered', 'Degraded']);
    });
  });

  describe('expiry: planning a probe', () => {
    const plan = (state: ConnectionState, nowMs: number) => planProbe(state, MARGIN, at(nowMs), settings);

    it('probes credentials that do not expire (API keys, permanent tokens)', () => {
      expect(plan(stateFromHistory([connected({ expiresAt: null, refreshable: false })]), 0)).toEqual({ action: 'probe' });
    });

    it('probes a token with time left before its refresh margin', () => {
      expect(plan(stateFromHistory([connected({ expiresAt: iso(3_600_000), refreshable: true })]), 0)).toEqual({ action: 'probe' });
      expect(plan(stateFromHistory([connected({ expiresAt: iso(3_600_000), refreshable: false })]), 0)).toEqual({ action: 'probe' });
    });

    it("skips a refreshable token inside its margin or past expiry: that is the refresher's business", () => {
      const state = stateFromHistory([connected({ expiresAt: iso(3_600_000), refreshable: true })]);
      expect(plan(state, 3_600_000 - MARGIN + 1)).toEqual({ action: 'skip', reason: 'refresher' });
      expect(plan(state, 3_600_000 + 10 * 86_400_000)).toEqual({ action: 'skip', reason: 'refresher' });
    });

    it('never sends a token that is about to expire (its 401 would look like a revocation)', () => {
      const state = stateFromHistory([connected({ expiresAt: iso(30_000), refreshable: false })]);
      expect(plan(state, 0)).toEqual({ action: 'skip', reason: 'expiring' });
    });

    it('revokes an expired token that cannot be refreshed, without probing it', () => {
      const state = stateFromHistory([connected({ expiresAt: iso(3_600_000), refreshable: false })]);
      expect(plan(state, 3_600_000)).toEqual({ action: 'revoke_expired' });
    });

    it('revokes a refreshable connection whose refresh still failed a grace period after expiry', () => {
      const expiry = 3_600_000;
      const history = [connected({ expiresAt: iso(expiry), refreshable: true })];
      // Failing since before expiry, and for a while after: not yet.
      expect(plan(stateFromHistory([...history, refreshFailed(expiry - 1000), refreshFailed(expiry + 60_000)]), expiry + 120_000).action).toBe('skip');
      // Still failing a grace period after expiry: expired.
      expect(plan(stateFromHistory([...history, refreshFailed(expiry + settings.refreshGraceMs)]), expiry + settings.refreshGraceMs + 1)).toEqual({
        action: 'revoke_expired',
      });
      // A refresh that succeeded since clears the failure.
      const afterRefresh = stateFromHistory([...history, refreshFailed(expiry + settings.refreshGraceMs), refreshed(iso(expiry * 3))]);
      expect(plan(afterRefresh, expiry + settings.refreshGraceMs + 1)).toEqual({ action: 'probe' });
    });
  });

  describe('expiry: deciding', () => {
    it('appends Revoked (expired) for a connected connection found expired', () => {
      const history = [connected({ expiresAt: iso(1000), refreshable: false })];
      expect(decideExpired(stateFromHistory(history), ref, MARGIN, at(2000), settings)).toEqual([
        { type: 'Revoked', data: { ...ref, reason: 'expired', detectedBy: 'health-monitor' } },
      ]);
    });

    it('decides nothing when the history shows a fresher token or an ended connection (the read model lagged)', () => {
      const refreshable = [connected({ expiresAt: iso(1000), refreshable: true }), refreshFailed(1000 + settings.refreshGraceMs)];
      expect(decideExpired(stateFromHistory([...refreshable, refreshed(iso(10_000_000))]), ref, MARGIN, at(settings.refreshGraceMs + 2000), settings)).toEqual([]);
      expect(decideExpired(stateFromHistory([connected({ expiresAt: iso(1000) }), revoked]), ref, MARGIN, at(2000), settings)).toEqual([]);
      expect(decideExpired(stateFromHistory([connected({ expiresAt: iso(1000) }), disconnected]), ref, MARGIN, at(2000), settings)).toEqual([]);
    });
  });

  it('decides only valid events (they pass the contracts)', () => {
    const all = [
      ...given(connected()).whenProbed(fail('network_error'), fail('timeout'), fail('502'), ok, unauthorized).flat(),
      ...decideExpired(stateFromHistory([connected({ expiresAt: iso(0) })]), ref, MARGIN, at(1), settings),
    ];
    expect(all.map((e) => e.type)).toEqual(['Degraded', 'Recovered', 'Revoked', 'Revoked']);
    for (const e of all) expect(validateEvent(e.type, e.data)).toEqual([]);
  });
});
