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

/**
 * A holder's note, written to its lock record just before it stores a refreshed credential in vault: "version
 * `version` of this connection's credential, expiring at `expiresAt`, is being stored by a refresh". It stays in the
 * record (held or released) until the holder has appended the Refreshed event for it. If the holder dies or loses
 * vault's reply in between, whoever takes the lock next finds the note and records the Refreshed (see
 * decideReconciliation): the lock record is the refresh's write-ahead log. No secret: metadata only.
 */
export interface StoreIntent {
  version: number;
  expiresAt: string | null;
  /** Whether the provider rotated the refresh token (the Refreshed event says so). */
  rotated: boolean;
  /** When the store was sent (epoch ms): when the fact happened, for the event appended late. */
  at: number;
}

/** What a key holds: the holder's record (null when released or never held) and a note left for the next holder. */
export interface LockValue {
  record: LockRecord | null;
  intent?: StoreIntent;
}

/** A key as read: its last revision (0 = never written) and its value. */
export interface LockState extends LockValue {
  revision: number;
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

/** A stored note, or none when it is not one (a corrupt note is dropped: reconciliation then cannot happen, nothing worse). */
export function parseStoreIntent(value: unknown): StoreIntent | undefined {
  const i = (value as { intent?: Partial<StoreIntent> } | null)?.intent;
  if (!i || !Number.isInteger(i.version) || (i.version as number) < 1 || typeof i.rotated !== 'boolean' || typeof i.at !== 'number') return undefined;
  if (i.expiresAt !== null && (typeof i.expiresAt !== 'string' || Number.isNaN(Date.parse(i.expiresAt)))) return undefined;
  return { version: i.version as number, expiresAt: i.expiresAt, rotated: i.rotated, at: i.at };
}

/** What a key stores: the holder's record and its note, as one JSON object (a released key with a note: the note alone). */
export function lockValue(record: LockRecord | null, intent: StoreIntent | undefined): Record<string, unknown> {
  return { ...(record ?? {}), ...(intent ? { intent } : {}) };
}

export function parseLockValue(value: unknown): LockValue {
  const intent = parseStoreIntent(value);
  return { record: parseLockRecord(value), ...(intent ? { intent } : {}) };
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
