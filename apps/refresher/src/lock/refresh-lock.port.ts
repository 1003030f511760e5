import type { StoreIntent } from './lock-decisions';

export type { StoreIntent };

/**
 * A held refresh lock. `token` is the fencing token: the store revision of the holder's latest write, increasing
 * with every acquisition and renewal of the key. Times are epoch milliseconds.
 */
export interface RefreshLease {
  connectionId: string;
  owner: string;
  token: number;
  /** The holder is superseded after this, by the holder's clock, unless it renews. */
  expiresAt: number;
  /**
   * The note the record carries: left by a predecessor whose store may lack its Refreshed event (handed on at
   * acquisition), or this holder's own (writeIntent). Every write of the record keeps it; release keeps it too unless
   * the holder dropped it from its lease (the event is appended, or the store certainly did not happen).
   */
  intent?: StoreIntent;
}

export type AcquireResult =
  | { acquired: true; lease: RefreshLease; /** the owner of an expired lease this one replaced */ superseded?: string }
  | { acquired: false; holder: string; /** the holder's lease ends then, unless renewed */ until: number };

/**
 * Single flight per connection across every refresher replica: at most one holder at a time, a holder that dies
 * is superseded when its lease runs out, and every change is compare-and-set on the store's revision. The lock
 * keeps duplicate calls away from the provider (a rotating provider revokes a whole grant when a refresh token is
 * used twice); the credential itself is fenced again in vault by `expectedVersion`, so even a holder that outlived
 * its lease cannot overwrite a newer credential.
 * Adapters: `jetstream-kv/` (shared by replicas) and `in-process/` (one replica).
 */
export interface RefreshLock {
  /** Who this lock acts for (one id per process). */
  readonly owner: string;
  /** One attempt, no waiting. */
  tryAcquire(connectionId: string, now: number): Promise<AcquireResult>;
  /** Extend a held lease to `now + lease + extraMs`. null: the lease was superseded, so the caller must stop. */
  renew(lease: RefreshLease, now: number, extraMs?: number): Promise<RefreshLease | null>;
  /**
   * Note, before storing a refreshed credential, what is being stored (compare-and-set, renewing the lease like
   * renew). null: the lease was superseded, so the caller must not store.
   */
  writeIntent(lease: RefreshLease, intent: StoreIntent, now: number): Promise<RefreshLease | null>;
  /**
   * Give the lock up: the key becomes free, keeping `lease.intent` for the next holder if there is one. false: it was
   * no longer this lease's (superseded); nothing was changed.
   */
  release(lease: RefreshLease): Promise<boolean>;
  close(): Promise<void>;
}
