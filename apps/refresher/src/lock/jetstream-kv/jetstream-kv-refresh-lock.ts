import { JSONCodec, KV, NatsConnection } from 'nats';
import { AcquireResult, RefreshLease, RefreshLock } from '../refresh-lock.port';
import { decideAcquire, LockRecord, LockState, leaseRecord, lockValue, parseLockValue, StoreIntent } from '../lock-decisions';

/** JetStream API error: the subject's last sequence is not the expected one (compare-and-set lost). */
const WRONG_LAST_SEQUENCE = 10071;

const codec = JSONCodec<unknown>();

function isWrongLastSequence(err: unknown): boolean {
  return (err as { api_error?: { err_code?: number } } | null)?.api_error?.err_code === WRONG_LAST_SEQUENCE;
}

export interface JetStreamKvRefreshLockOptions {
  bucket: string;
  /** JetStream replicas of the bucket; applies when the bucket is created. */
  replicas: number;
  leaseMs: number;
  owner: string;
}

/**
 * The refresh lock on a JetStream KV bucket (nats-server 2.9 has no per-key TTL, so the lease expiry is kept in the
 * value). Key = connection id. Every write names the revision it replaces (Nats-Expected-Last-Subject-Sequence):
 * create-if-absent is "expect 0", superseding or renewing is "expect the revision read", and releasing deletes only
 * the holder's own revision. The revision written is the fencing token. A holder's note (StoreIntent) rides in the
 * same value, so it is handed on with the key: a release that keeps a note writes the note alone (a free key).
 * Reads are not served by direct get (allow_direct off): on a cluster a follower could show a released lock as held
 * or, worse, an old holder's record.
 */
export class JetStreamKvRefreshLock implements RefreshLock {
  private constructor(
    private readonly kv: KV,
    private readonly leaseMs: number,
    readonly owner: string,
  ) {}

  static async open(nats: NatsConnection, options: JetStreamKvRefreshLockOptions): Promise<JetStreamKvRefreshLock> {
    const kv = await nats.jetstream().views.kv(options.bucket, {
      history: 1,
      replicas: options.replicas,
      allow_direct: false,
      // Records of connections that are gone would stay for ever; a day is far beyond any lease and backoff.
      ttl: 24 * 60 * 60 * 1000,
      description: 'authpipe refresher: one refresh per connection at a time',
    });
    return new JetStreamKvRefreshLock(kv, options.leaseMs, options.owner);
  }

  async tryAcquire(connectionId: string, now: number): Promise<AcquireResult> {
    const state = await this.read(connectionId);
    const decision = decideAcquire(state, now);
    if (decision.kind === 'held') return { acquired: false, holder: decision.owner, until: decision.until };
    const record = leaseRecord(this.owner, now, this.leaseMs);
    // A predecessor's note is handed on: it stays in the record until a holder has dealt with it.
    const { intent } = state;
    const token = await this.write(connectionId, record, intent, decision.expectedRevision);
    if (token === null) {
      // Another contender wrote between our read and our write: it holds the lock now.
      const state = await this.read(connectionId);
      return { acquired: false, holder: state.record?.owner ?? 'unknown', until: state.record?.expiresAt ?? now };
    }
    return {
      acquired: true,
      lease: { connectionId, owner: this.owner, token, expiresAt: record.expiresAt, ...(intent ? { intent } : {}) },
      ...(decision.supersedes ? { superseded: decision.supersedes } : {}),
    };
  }

  async renew(lease: RefreshLease, now: number, extraMs = 0): Promise<RefreshLease | null> {
    const record = leaseRecord(this.owner, now, this.leaseMs + extraMs);
    const token = await this.write(lease.connectionId, record, lease.intent, lease.token);
    return token === null ? null : { ...lease, token, expiresAt: record.expiresAt };
  }

  async writeIntent(lease: RefreshLease, intent: StoreIntent, now: number): Promise<RefreshLease | null> {
    const record = leaseRecord(this.owner, now, this.leaseMs);
    const token = await this.write(lease.connectionId, record, intent, lease.token);
    return token === null ? null : { ...lease, token, expiresAt: record.expiresAt, intent };
  }

  async release(lease: RefreshLease): Promise<boolean> {
    // Only the revision this holder wrote can be replaced: after a takeover the key is at another revision.
    if (lease.intent) return (await this.write(lease.connectionId, null, lease.intent, lease.token)) !== null;
    try {
      await this.kv.delete(lease.connectionId, { previousSeq: lease.token });
      return true;
    } catch (err) {
      if (isWrongLastSequence(err)) return false;
      throw err;
    }
  }

  async close(): Promise<void> {
    // The bucket outlives the process; the NATS connection is the platform's to close.
  }

  private async read(connectionId: string): Promise<LockState> {
    const entry = await this.kv.get(connectionId);
    if (!entry) return { revision: 0, record: null };
    if (entry.operation !== 'PUT') return { revision: entry.revision, record: null };
    let value: unknown;
    try {
      value = codec.decode(entry.value);
    } catch {
      value = null;
    }
    return { revision: entry.revision, ...parseLockValue(value) };
  }

  /** @returns the new revision, or null when the key is no longer at `expectedRevision` */
  private async write(connectionId: string, record: LockRecord | null, intent: StoreIntent | undefined, expectedRevision: number): Promise<number | null> {
    try {
      return await this.kv.put(connectionId, codec.encode(lockValue(record, intent)), { previousSeq: expectedRevision });
    } catch (err) {
      if (isWrongLastSequence(err)) return null;
      throw err;
    }
  }
}
