/*
 * The lock's rules as pure functions: what a store holds for a key in, what to write (and on which revision) out.
 * Times are epoch milliseconds; `now` is the caller's clock.
 */

/** The value kept under a connection's key while it is held. */
export interface LockRecord {
  owner: string;
  /** By the holder's clock: replicas need clocks in step (NTP) to within a small part of the lease. */
  expiresAt: number;
}

/** A key as read: its last revision (0 = never written) and the record, or null when released. */
export interface LockState {
  revision: number;
  record: LockRecord | null;
}

export type AcquireDecision =
  /** Write a new record, compare-and-set on `expectedRevision` (0 = the key must not exist). */
  | { kind: 'take'; expectedRevision: number; supersedes?: string }
  | { kind: 'held'; owner: string; until: number };

/**
 * Free (never held, or released): take it. Held with a lease that ran out: supersede the holder, which is presumed
 * dead. Held and live, whoever holds it (this owner too: a lock is not re-entrant, flights in one process are
 * joined before they get here): wait.
 */
export function decideAcquire(state: LockState, now: number): AcquireDecision {
  const { record } = state;
  if (!record) return { kind: 'take', expectedRevision: state.revision };
  if (record.expiresAt <= now) return { kind: 'take', expectedRevision: state.revision, supersedes: record.owner };
  return { kind: 'held', owner: record.owner, until: record.expiresAt };
}

export function leaseRecord(owner: string, now: number, leaseMs: number): LockRecord {
  return { owner, expiresAt: now + leaseMs };
}

/** A stored value is a lock record, or it is treated as free (a corrupt value must not block refreshes forever). */
export function parseLockRecord(value: unknown): LockRecord | null {
  const v = value as Partial<LockRecord> | null;
  if (!v || typeof v.owner !== 'string' || typeof v.expiresAt !== 'number' || !Number.isFinite(v.expiresAt)) return null;
  return { owner: v.owner, expiresAt: v.expiresAt };
}

/**
 * How long a waiter sleeps before looking again at a lock someone else holds: the poll interval with up to half of it
 * again at random (waiters on one key do not look in lockstep), never past its deadline. null: the deadline passed.
 */
export function nextLook(now: number, deadline: number, pollMs: number, random: number): number | null {
  if (now >= deadline) return null;
  return Math.min(deadline - now, Math.round(pollMs * (1 + random / 2)));
}

/**
 * Whether a holder renews before its next provider call: when what is left of its lease cannot cover one attempt
 * (the provider's timeout and the store). A holder that stalled past its lease always renews, and a renewal is
 * compare-and-set on its own revision, so it learns it was superseded before it spends the refresh token.
 */
export function mustRenew(leaseExpiresAt: number, now: number, attemptBudgetMs: number): boolean {
  return leaseExpiresAt - now < attemptBudgetMs;
}
