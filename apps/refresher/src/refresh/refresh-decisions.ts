import type { AuthpipeEvent, CredentialSecret, RecordedEvent } from '@authpipe/contracts';
import type { RefreshPolicy } from '@authpipe/providers';
import { needsRefresh } from '@authpipe/providers';
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

/** A new credential version is stored: Refreshed (the history is not consulted: vault already fenced the write). */
export function decideRefreshed(
  connection: ConnectionRef,
  result: { expiresAt: string | null; credentialVersion: number; rotated: boolean },
): AuthpipeEvent[] {
  return [{ type: 'Refreshed', data: { ...connection, ...result } }];
}
