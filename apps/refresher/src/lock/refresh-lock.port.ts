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
  /** Give the lock up. false: it was no longer this lease's (superseded); nothing was changed. */
  release(lease: RefreshLease): Promise<boolean>;
  close(): Promise<void>;
}
