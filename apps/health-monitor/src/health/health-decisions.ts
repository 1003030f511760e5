import type { AuthpipeEvent } from '@authpipe/contracts';
import type { ConnectionView } from '@authpipe/projections';
import type { ProbeOutcome } from '../probe/probe-outcome';

/*
 * Where connection health is decided: pure functions, time passed in. The scheduler feeds them a connection's
 * state (from its own read model as a cheap pre-check, then from the connection's event history, which is the
 * authority when something is about to be appended) and what the probe answered.
 */

/** What the decisions need to know about a connection, built from its history or from the read model. */
export interface ConnectionState {
  status: 'none' | 'connected' | 'revoked' | 'disconnected' | 'erased';
  /** A Degraded was appended and no Recovered (or reconnect) since. */
  degraded: boolean;
  /** Expiry of the access token; null when it does not expire (API keys, permanent tokens). */
  expiresAt: string | null;
  refreshable: boolean;
  /** When the last refresh failed, if none succeeded since. */
  lastRefreshFailureAt?: string;
}

export interface ConnectionRef {
  connectionId: string;
  tenantId: string;
  provider: string;
}

export interface HealthSettings {
  /** Transient probe failures in a row before Degraded. */
  degradedAfter: number;
  /**
   * A refreshable connection is declared expired when a refresh still failed this long after its access token
   * expired (the refresher keeps failing past expiry), not before: a provider outage must not end connections.
   */
  refreshGraceMs: number;
  /**
   * A token that expires within this margin is not probed: it could expire in flight and its 401 would be taken
   * for a revocation.
   */
  expirySkewMs: number;
}

/** A history event with the one piece of metadata the decisions read. */
export type HistoryEvent = AuthpipeEvent & { metadata: { occurredAt: string } };

export const initialState: ConnectionState = { status: 'none', degraded: false, expiresAt: null, refreshable: false };

export function evolve(state: ConnectionState, event: HistoryEvent): ConnectionState {
  switch (event.type) {
    case 'Connected':
      return { status: 'connected', degraded: false, expiresAt: event.data.expiresAt ?? null, refreshable: event.data.refreshable };
    case 'Refreshed': {
      const { lastRefreshFailureAt: _cleared, ...rest } = state;
      return { ...rest, expiresAt: event.data.expiresAt ?? null };
    }
    case 'RefreshFailed':
      return { ...state, lastRefreshFailureAt: event.metadata.occurredAt };
    case 'Degraded':
      return { ...state, degraded: true };
    case 'Recovered':
      return { ...state, degraded: false };
    case 'Revoked':
      return { ...state, status: event.data.reason === 'erased' ? 'erased' : 'revoked' };
    case 'Disconnected':
      return { ...state, status: 'disconnected' };
    default:
      return state;
  }
}

/** The state of a connection from its stream's history. */
export const stateFromHistory = (history: readonly HistoryEvent[]): ConnectionState => history.reduce(evolve, initialState);

/** The same state from the monitor's read model (may lag the history by a few milliseconds). */
export const stateFromView = (view: ConnectionView): ConnectionState => ({
  status: view.status,
  degraded: view.health === 'degraded',
  expiresAt: view.expiresAt ?? null,
  refreshable: view.refreshable,
  ...(view.lastRefreshFailure ? { lastRefreshFailureAt: view.lastRefreshFailure.at } : {}),
});

export type ProbePlan =
  | { action: 'probe' }
  /** `refresher`: a refreshable token inside its refresh margin (or past expiry) is the refresher's business. */
  | { action: 'skip'; reason: 'refresher' | 'expiring' }
  /** The credential is known to be dead without asking the provider. */
  | { action: 'revoke_expired' };

/**
 * Whether to probe a connection now. A token known to be expired is never sent to the provider:
 * - not refreshable and expired: nothing can bring it back, it is revoked as `expired`;
 * - refreshable and inside the provider's refresh margin (or expired): the refresher's business, skipped; unless
 *   a refresh was still failing `refreshGraceMs` after expiry, then it is revoked as `expired`.
 */
export function planProbe(state: ConnectionState, refreshMarginMs: number, now: Date, settings: HealthSettings): ProbePlan {
  if (state.expiresAt === null) return { action: 'probe' };
  const expiresAt = Date.parse(state.expiresAt);
  const left = expiresAt - now.getTime();
  if (!state.refreshable) {
    if (left <= 0) return { action: 'revoke_expired' };
    return left <= settings.expirySkewMs ? { action: 'skip', reason: 'expiring' } : { action: 'probe' };
  }
  if (left <= 0 && state.lastRefreshFailureAt !== undefined && Date.parse(state.lastRefreshFailureAt) >= expiresAt + settings.refreshGraceMs) {
    return { action: 'revoke_expired' };
  }
  return left <= Math.max(refreshMarginMs, settings.expirySkewMs) ? { action: 'skip', reason: 'refresher' } : { action: 'probe' };
}

/** Events for a connection found expired (only while it is still connected). */
export function decideExpired(state: ConnectionState, connection: ConnectionRef, refreshMarginMs: number, now: Date, settings: HealthSettings): AuthpipeEvent[] {
  if (state.status !== 'connected') return [];
  if (planProbe(state, refreshMarginMs, now, settings).action !== 'revoke_expired') return [];
  return [{ type: 'Revoked', data: { ...connection, reason: 'expired', detectedBy: 'health-monitor' } }];
}

/** A probe's result as the scheduler hands it to the decision. */
export interface ProbeResult {
  outcome: ProbeOutcome;
  /** For failures: the HTTP status (`503`), `network_error`, `timeout` or `invalid_provider_response`. */
  failure?: string;
  /** Transient failures in a row, this one included (0 after a success). Kept in memory by the scheduler. */
  failuresInARow: number;
}

/** Consecutive transient failures after a probe: counting restarts at every answer that is not a transient failure. */
export function countFailures(previous: number, outcome: ProbeOutcome): number {
  return outcome === 'transient' ? previous + 1 : 0;
}

/**
 * What a probe means for a connection:
 * - one of the provider's revoked statuses: Revoked (`probe_unauthorized`);
 * - `degradedAfter` transient failures in a row: Degraded, once per episode;
 * - a success after Degraded: Recovered.
 * Nothing for a connection that is no longer connected.
 */
export function decideOnProbe(state: ConnectionState, connection: ConnectionRef, probe: ProbeResult, settings: HealthSettings): AuthpipeEvent[] {
  if (state.status !== 'connected') return [];
  switch (probe.outcome) {
    case 'revoked':
      return [{ type: 'Revoked', data: { ...connection, reason: 'probe_unauthorized', detectedBy: 'health-monitor' } }];
    case 'transient':
      if (state.degraded || probe.failuresInARow < settings.degradedAfter) return [];
      return [{ type: 'Degraded', data: { ...connection, consecutiveFailures: probe.failuresInARow, lastFailure: probe.failure ?? 'network_error' } }];
    case 'healthy':
      return state.degraded ? [{ type: 'Recovered', data: { ...connection } }] : [];
  }
}
