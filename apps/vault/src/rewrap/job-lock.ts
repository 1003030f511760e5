import type { Clock } from '@authpipe/platform';
import { JobRecordName, JobStateStore } from '../storage/job-state.port';
import { ConcurrencyError } from '../storage/secret-store.port';

interface LockRecord {
  format: number;
  owner: string;
  renewedAt: string;
  expiresAt: string;
}

/** Another replica took the lock (ours expired unrenewed): this replica must stop writing for the job at once. */
export class LockLostError extends Error {
  constructor(name: string) {
    super(`the ${name} lock was taken over by another replica`);
    this.name = LockLostError.name;
  }
}

export type LockAttempt = { acquired: true } | { acquired: false; owner: string; expiresAt: string };

/**
 * A lease held by one replica at a time: a record with an owner and an expiry, written with compare-and-set. It is
 * free when absent, expired, or already ours; the holder renews it before its expiry and releases it when done.
 * Every write names the revision read, so two replicas can never both take it, and a holder that was too slow to
 * renew learns it lost the lock (LockLostError) instead of overwriting the new holder. Expiry compares clocks of
 * replicas: keep them in sync (NTP) to well under the TTL.
 */
export class JobLock {
  private revision = 0;

  constructor(
    private readonly store: JobStateStore,
    private readonly name: JobRecordName,
    readonly owner: string,
    private readonly ttlMs: number,
    private readonly clock: Clock,
  ) {}

  async acquire(): Promise<LockAttempt> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const current = await this.store.read(this.name);
      const held = current && parseLock(current.record);
      if (held && held.owner !== this.owner && Date.parse(held.expiresAt) > this.clock.now().getTime()) {
        return { acquired: false, owner: held.owner, expiresAt: held.expiresAt };
      }
      try {
        this.revision = await this.store.write(this.name, this.record(), current?.revision ?? 0);
        return { acquired: true };
      } catch (err) {
        if (!(err instanceof ConcurrencyError)) throw err; // someone else wrote it meanwhile: look again
      }
    }
    const current = await this.store.read(this.name);
    const held = current && parseLock(current.record);
    return { acquired: false, owner: held?.owner ?? 'unknown', expiresAt: held?.expiresAt ?? this.clock.now().toISOString() };
  }

  /** Extend the lease by a TTL from now. @throws LockLostError */
  async renew(): Promise<void> {
    try {
      this.revision = await this.store.write(this.name, this.record(), this.revision);
    } catch (err) {
      if (err instanceof ConcurrencyError) throw new LockLostError(this.name);
      throw err;
    }
  }

  /** Free the lease at once (an expired record), if it is still ours. Never throws. */
  async release(): Promise<void> {
    const now = this.clock.now().toISOString();
    await this.store
      .write(this.name, { format: 1, owner: this.owner, renewedAt: now, expiresAt: new Date(0).toISOString() } satisfies LockRecord, this.revision)
      .catch(() => undefined);
  }

  private record(): LockRecord {
    const now = this.clock.now();
    return { format: 1, owner: this.owner, renewedAt: now.toISOString(), expiresAt: new Date(now.getTime() + this.ttlMs).toISOString() };
  }
}

function parseLock(value: unknown): LockRecord | null {
  const v = value as Partial<LockRecord> | null;
  return typeof v?.owner === 'string' && typeof v.expiresAt === 'string' && !Number.isNaN(Date.parse(v.expiresAt)) ? (v as LockRecord) : null;
}
