import { AcquireResult, RefreshLease, RefreshLock } from '../refresh-lock.port';
import { decideAcquire, LockRecord, leaseRecord } from '../lock-decisions';

/** The keys of an in-process lock, shareable between owners (tests play several replicas in one process). */
export class InProcessLockTable {
  readonly keys = new Map<string, { revision: number; record: LockRecord | null }>();
  private revision = 0;

  write(connectionId: string, record: LockRecord | null): number {
    this.revision += 1;
    this.keys.set(connectionId, { revision: this.revision, record });
    return this.revision;
  }
}

/**
 * The refresh lock inside one process, for an installation with a single refresher replica (and for tests): the
 * same decisions and fencing tokens as the shared adapter, on a Map. It excludes nobody in another process.
 */
export class InProcessRefreshLock implements RefreshLock {
  constructor(
    readonly owner: string,
    private readonly leaseMs: number,
    private readonly table = new InProcessLockTable(),
  ) {}

  async tryAcquire(connectionId: string, now: number): Promise<AcquireResult> {
    const decision = decideAcquire(this.table.keys.get(connectionId) ?? { revision: 0, record: null }, now);
    if (decision.kind === 'held') return { acquired: false, holder: decision.owner, until: decision.until };
    const record = leaseRecord(this.owner, now, this.leaseMs);
    const token = this.table.write(connectionId, record);
    return {
      acquired: true,
      lease: { connectionId, owner: this.owner, token, expiresAt: record.expiresAt },
      ...(decision.supersedes ? { superseded: decision.supersedes } : {}),
    };
  }

  async renew(lease: RefreshLease, now: number, extraMs = 0): Promise<RefreshLease | null> {
    if (this.table.keys.get(lease.connectionId)?.revision !== lease.token) return null;
    const record = leaseRecord(this.owner, now, this.leaseMs + extraMs);
    return { ...lease, token: this.table.write(lease.connectionId, record), expiresAt: record.expiresAt };
  }

  async release(lease: RefreshLease): Promise<boolean> {
    if (this.table.keys.get(lease.connectionId)?.revision !== lease.token) return false;
    this.table.write(lease.connectionId, null);
    return true;
  }

  async close(): Promise<void> {
    // Nothing outlives the process.
  }
}
