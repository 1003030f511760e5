import { AcquireResult, RefreshLease, RefreshLock } from '../refresh-lock.port';
import { decideAcquire, LockRecord, LockState, leaseRecord, StoreIntent } from '../lock-decisions';

/** The keys of an in-process lock, shareable between owners (tests play several replicas in one process). */
export class InProcessLockTable {
  readonly keys = new Map<string, LockState>();
  private revision = 0;

  write(connectionId: string, record: LockRecord | null, intent?: StoreIntent): number {
    this.revision += 1;
    this.keys.set(connectionId, { revision: this.revision, record, ...(intent ? { intent } : {}) });
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
    const state = this.table.keys.get(connectionId) ?? { revision: 0, record: null };
    const decision = decideAcquire(state, now);
    if (decision.kind === 'held') return { acquired: false, holder: decision.owner, until: decision.until };
    const record = leaseRecord(this.owner, now, this.leaseMs);
    const { intent } = state;
    const token = this.table.write(connectionId, record, intent);
    return {
      acquired: true,
      lease: { connectionId, owner: this.owner, token, expiresAt: record.expiresAt, ...(intent ? { intent } : {}) },
      ...(decision.supersedes ? { superseded: decision.supersedes } : {}),
    };
  }

  async renew(lease: RefreshLease, now: number, extraMs = 0): Promise<RefreshLease | null> {
    if (this.table.keys.get(lease.connectionId)?.revision !== lease.token) return null;
    const record = leaseRecord(this.owner, now, this.leaseMs + extraMs);
    return { ...lease, token: this.table.write(lease.connectionId, record, lease.intent), expiresAt: record.expiresAt };
  }

  async writeIntent(lease: RefreshLease, intent: StoreIntent, now: number): Promise<RefreshLease | null> {
    if (this.table.keys.get(lease.connectionId)?.revision !== lease.token) return null;
    const record = leaseRecord(this.owner, now, this.leaseMs);
    return { ...lease, token: this.table.write(lease.connectionId, record, intent), expiresAt: record.expiresAt, intent };
  }

  async release(lease: RefreshLease): Promise<boolean> {
    if (this.table.keys.get(lease.connectionId)?.revision !== lease.token) return false;
    this.table.write(lease.connectionId, null, lease.intent);
    return true;
  }

  async close(): Promise<void> {
    // Nothing outlives the process.
  }
}
