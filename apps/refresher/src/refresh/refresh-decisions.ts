import type { AuthpipeEvent, CredentialSecret, RecordedEvent } from '@authpipe/contracts';
import { nameBasedEventId } from '@authpipe/contracts';
import type { DecidedEvent } from '@authpipe/platform';
import type { RefreshPolicy } from '@authpipe/providers';
import { needsRefresh } from '@authpipe/providers';
import type { StoreIntent } from '../lock/lock-decisions';
import type { FailedAttempt } from './retry-policy';

/**
 * Why a flight runs: a read found the credential inside its margin (`seenVersion`: the version vault held when the
 * request had to wait for another worker's lock), or the scheduler planned it for a version.
 */
export type RefreshTrigger = { kind: 'on_demand'; seenVersion?: number } | { kind: 'scheduled'; plannedVersion: number };

/**
 * Whether the credential read under the lock still needs refreshing. A version newer than the one the trigger knew
 * means another worker (or a reconnect) replaced it meanwhile: that worker's result is the answer, whatever the
 * margin says (a token shorter than its margin is always inside it). Otherwise on demand: it is inside the
 * provider's margin; scheduled: it is the planned version.
 */
export function shouldRefresh(
  trigger: RefreshTrigger,
  stored: { version: number; credential: Pick<CredentialSecret, 'refreshToken' | 'expiresAt'> },
  policy: RefreshPolicy | undefined,
  now: Date,
): boolean {
  if (!policy?.supported || !stored.credential.refreshToken || !stored.credential.expiresAt) return false;
  if (trigger.kind === 'scheduled') return stored.version <= trigger.plannedVersion;
  if (trigger.seenVersion !== undefined && stored.version > trigger.seenVersion) return false;
  return needsRefresh(stored.credential.expiresAt, true, policy.marginSeconds, now);
}

type ConnectionRef = { connectionId: string; tenantId: string; provider: string };

const isClosed = (history: RecordedEvent[]): boolean => {
  const last = [...history].reverse().find((e) => e.type === 'Connected' || e.type === 'Revoked' || e.type === 'Disconnected');
  return last !== undefined && last.type !== 'Connected';
};

/** The provider refused the grant and no other worker replaced the credential: Revoked, unless already closed. */
export function decideRevoked(history: RecordedEvent[], connection: ConnectionRef): AuthpipeEvent[] {
  if (isClosed(history)) return [];
  return [{ type: 'Revoked', data: { ...connection, reason: 'invalid_grant', detectedBy: 'refresher' } }];
}

/**
 * One failed attempt as a fact. A flight that ends the way the previous one did (invalid_client again, after the
 * cool-down) adds nothing: one RefreshFailed says it until something changes.
 */
export function decideRefreshFailed(history: RecordedEvent[], connection: ConnectionRef, attempt: FailedAttempt): AuthpipeEvent[] {
  if (isClosed(history)) return [];
  const last = history[history.length - 1];
  if (
    !attempt.willRetry &&
    attempt.failure !== 'transient' &&
    last?.type === 'RefreshFailed' &&
    last.data.failure === attempt.failure &&
    last.data.code === attempt.code &&
    !last.data.willRetry
  ) {
    return [];
  }
  return [{ type: 'RefreshFailed', data: { ...connection, ...attempt } }];
}

/** The credential version the history has recorded last (Connected or Refreshed); 0 when none. */
export function recordedCredentialVersion(history: RecordedEvent[]): number {
  for (let i = history.length - 1; i >= 0; i--) {
    const e = history[i];
    if (e.type === 'Connected' || e.type === 'Refreshed') return e.data.credentialVersion;
  }
  return 0;
}

/**
 * Which life of the connection the history is in: the eventId of its last Connected (undefined before the first).
 * A connection's id is fixed per (tenant, provider, user), and vault purges the credential on disconnect, so a
 * reconnect starts again at credential version 1: a version alone does not name one credential.
 */
export function connectionLife(history: RecordedEvent[]): string | undefined {
  for (let i = history.length - 1; i >= 0; i--) if (history[i].type === 'Connected') return history[i].eventId;
  return undefined;
}

/**
 * The eventId of the Refreshed of one credential version in one life of the connection (connectionLife): one fact,
 * one id, whoever appends it (the refresh that stored it, a retry of its append, or a later holder reconciling it,
 * all deciding on a history with the same last Connected), so the event store keeps one copy; and a new id for the
 * same version number after a reconnect, which the event store must not take for a copy of the old life's.
 */
export function refreshedEventId(connectionId: string, life: string | undefined, credentialVersion: number): string {
  return nameBasedEventId(`Refreshed/${connectionId}/${life ?? 'none'}/${credentialVersion}`);
}

/**
 * A refresh stored credential version `credentialVersion` in vault: Refreshed, unless the history already records that
 * version or a later one (the append is being retried, or another worker reconciled it). Vault fenced the store
 * itself, so nothing else in the history matters. `occurredAt`: when the store was sent, for an event appended late.
 */
export function decideRefreshed(
  history: RecordedEvent[],
  connection: ConnectionRef,
  result: { expiresAt: string | null; credentialVersion: number; rotated: boolean },
  occurredAt?: Date,
): DecidedEvent[] {
  if (recordedCredentialVersion(history) >= result.credentialVersion) return [];
  return [
    {
      type: 'Refreshed',
      data: { ...connection, ...result },
      eventId: refreshedEventId(connection.connectionId, connectionLife(history), result.credentialVersion),
      ...(occurredAt ? { occurredAt } : {}),
    },
  ];
}

/**
 * What a holder does with the note a refresh left in the lock record (StoreIntent), given the credential vault holds:
 * - `record`: vault holds exactly the noted credential (same version, same expiry): the refresh stored it and may not
 *   have appended its Refreshed (its worker died, or vault's reply was lost); record it (decideRefreshed appends it
 *   only if the history lacks it), then drop the note;
 * - `drop`: vault holds something else at or past that version (the store lost to a reconnect, or a later store
 *   replaced it): the note is moot;
 * - `keep`: vault is behind the note: the store never happened, or is still on its way; decide again next time.
 * Only a refresh writes a note, so a credential a reconnect stored is never taken for a refresh's (its Connected
 * may simply not be appended yet).
 */
export function decideReconciliation(intent: StoreIntent, stored: { version: number; expiresAt: string | null }): 'record' | 'drop' | 'keep' {
  if (stored.version < intent.version) return 'keep';
  return stored.version === intent.version && sameInstant(stored.expiresAt, intent.expiresAt) ? 'record' : 'drop';
}

function sameInstant(a: string | null, b: string | null): boolean {
  return a === null || b === null ? a === b : Date.parse(a) === Date.parse(b);
}
