import { randomUUID } from 'node:crypto';
import { RewrapStatusReply } from '@authpipe/contracts';
import type { Clock } from '@authpipe/platform';
import { DecryptFailedError, UnknownKeyVersionError } from '../crypto/crypto.errors';
import { EncryptedField, reencryptField } from '../crypto/field-encryption';
import { KeyEncryptionKeyProvider } from '../crypto/key-encryption-key.provider';
import { DataKey, openDataKey, rewrapTenantKeys, TenantKeys } from '../crypto/tenant-data-keys';
import { JobStateStore } from '../storage/job-state.port';
import {
  ConcurrencyError,
  CorruptRecordError,
  CredentialRecord,
  Revisioned,
  SecretRecordRef,
  SecretStore,
  TenantSecretRecord,
} from '../storage/secret-store.port';
import { JobLock, LockLostError } from './job-lock';
import { REWRAP_CHECKPOINT_FORMAT, RewrapCheckpoint, toStatus } from './rewrap-progress';

export interface RewrapSettings {
  /** Records between checkpoints (and lock renewals). */
  batchSize: number;
  /** Pause after each batch. */
  batchDelayMs: number;
  /** A progress line every this many records. */
  logEvery: number;
}

export interface RewrapDependencies {
  store: SecretStore;
  jobs: JobStateStore;
  kek: KeyEncryptionKeyProvider;
  clock: Clock;
  log: { log(message: string): void; warn(message: string): void; error(message: string): void; debug(message: string): void };
  settings: RewrapSettings;
}

/** What happened to one record. `skipped`: gone meanwhile, or its tenant is erased. */
type Outcome = 'rewrapped' | 'current' | 'skipped' | 'failed';

/** A record is re-read and rewritten this often when concurrent writers keep winning its compare-and-set. */
const MAX_RECORD_ATTEMPTS = 5;

/** The job was asked to stop (vault shutting down): progress is saved, another start resumes it. */
class StopRequested extends Error {}

/**
 * The background rewrap after a key rotation, in two passes over the stores, in key order:
 * 1. every tenant data key record: versions wrapped by a master key other than the active one are unwrapped and
 *    wrapped again under it (same data key, so no ciphertext changes);
 * 2. every secret record (credentials, tenant secrets): fields encrypted under a data key version other than the
 *    tenant's active one are re-encrypted under it, keeping the record's logical `version`.
 * Each write is compare-and-set on the revision read: a concurrent writer wins and the job re-reads (a record it
 * then finds current is left alone). Records already current are skipped, so running it again is harmless; the
 * checkpoint after every batch lets a restarted vault continue after the last completed key. Records of erased
 * tenants are skipped. A record that cannot be moved (corrupt, sealed under a master key no longer held) is counted
 * as failed, logged by id, and left as it was.
 */
export class RewrapJob {
  private stopRequested = false;
  private wakeUp: (() => void) | null = null;
  private inBatch = 0;
  private skipped = 0;
  private lastLogAt = Date.now();
  private lastLogProcessed = 0;
  private finished = false;
  private done: Promise<void> | null = null;

  private constructor(
    private readonly deps: RewrapDependencies,
    private readonly lock: JobLock,
    private progress: RewrapCheckpoint,
    private revision: number,
  ) {}

  /**
   * Persist the job's first checkpoint (a new run, or the resumed one) and return the job, ready to `run()`.
   * The caller holds `lock`.
   * @param previous the stored checkpoint (its revision is the compare-and-set token), if any
   * @param resume continue `previous` after its last completed key instead of starting over
   */
  static async begin(deps: RewrapDependencies, lock: JobLock, previous: { record: RewrapCheckpoint | null; revision: number } | null, resume: boolean): Promise<RewrapJob> {
    const now = deps.clock.now().toISOString();
    const progress: RewrapCheckpoint =
      resume && previous?.record
        ? { ...previous.record, state: 'running', owner: lock.owner, updatedAt: now, error: undefined }
        : {
            format: REWRAP_CHECKPOINT_FORMAT,
            jobId: randomUUID(),
            state: 'running',
            masterKeyVersion: deps.kek.activeVersion,
            phase: 'data_keys',
            lastKey: null,
            processed: 0,
            total: 0,
            rewrapped: 0,
            failed: 0,
            owner: lock.owner,
            startedAt: now,
            updatedAt: now,
          };
    const revision = await deps.jobs.write('rewrap.checkpoint', withoutUndefined(progress), previous?.revision ?? 0);
    return new RewrapJob(deps, lock, progress, revision);
  }

  get running(): boolean {
    return !this.finished;
  }

  status(): RewrapStatusReply {
    return toStatus(this.progress);
  }

  /** Run to the end (or until stopped); never rejects. */
  run(): Promise<void> {
    this.done ??= this.execute().finally(() => (this.finished = true));
    return this.done;
  }

  /** Stop after the record in hand, save the checkpoint and release the lock; resolves when it has. */
  async stop(): Promise<void> {
    this.stopRequested = true;
    this.wakeUp?.();
    await this.done;
  }

  private async execute(): Promise<void> {
    const { log } = this.deps;
    const resumed = this.progress.processed > 0 || this.progress.phase !== 'data_keys';
    try {
      const tenants = await this.deps.store.listTenantIds();
      const secrets = await this.deps.store.listSecretRecords();
      const after = (key: string) => this.progress.lastKey === null || key > this.progress.lastKey;
      const remainingTenants = this.progress.phase === 'data_keys' ? tenants.filter(after) : [];
      const remainingSecrets = this.progress.phase === 'data_keys' ? secrets : this.progress.phase === 'secrets' ? secrets.filter((ref) => after(ref.key)) : [];
      this.progress.total = this.progress.processed + remainingTenants.length + remainingSecrets.length;
      log.log(
        `rewrap ${resumed ? 'resumed' : 'started'} (job ${this.progress.jobId}): master key ${this.progress.masterKeyVersion}, ` +
          `${this.progress.processed}/${this.progress.total} records done, ${remainingTenants.length} data key and ${remainingSecrets.length} secret records to check`,
      );
      await this.save();

      for (const tenantId of remainingTenants) await this.step(tenantId, () => this.rewrapDataKeys(tenantId));
      if (this.progress.phase === 'data_keys') {
        this.progress.phase = 'secrets';
        this.progress.lastKey = null;
        await this.save();
      }
      for (const ref of remainingSecrets) await this.step(ref.key, () => this.reencryptRecord(ref));

      Object.assign(this.progress, { phase: 'finished', lastKey: null, finishedAt: this.deps.clock.now().toISOString() });
      this.progress.state = 'done';
      await this.save();
      log.log(`rewrap done (job ${this.progress.jobId}): ${this.summary()}`);
    } catch (err) {
      if (err instanceof StopRequested) {
        const saved = await this.save().then(
          () => true,
          () => false,
        );
        const from = saved ? 'there' : 'its last saved checkpoint (saving this one failed)';
        log.log(`rewrap paused by shutdown at ${this.summary()}; the next vault to start (or vaultStartRewrap) resumes it from ${from}`);
      } else if (err instanceof LockLostError || err instanceof ConcurrencyError) {
        // Another replica owns the job now: write nothing more.
        log.warn(`rewrap stopped on this replica: another replica took the job over at ${this.summary()}`);
        return;
      } else {
        const name = err instanceof Error ? err.name : typeof err;
        this.progress.state = 'failed';
        this.progress.error = `${name}: ${err instanceof Error ? err.message : String(err)}`.slice(0, 300);
        await this.save().catch(() => undefined);
        log.error(`rewrap failed at ${this.summary()}: ${this.progress.error}; vaultStartRewrap resumes it`);
      }
    }
    await this.lock.release();
  }

  /** One record: renew the lock at the start of a batch, handle it, count it, checkpoint at the end of the batch. */
  private async step(key: string, work: () => Promise<Outcome>): Promise<void> {
    if (this.inBatch === 0) await this.lock.renew();
    const outcome = await work();
    const p = this.progress;
    p.processed++;
    if (outcome === 'rewrapped') p.rewrapped++;
    else if (outcome === 'failed') p.failed++;
    else if (outcome === 'skipped') this.skipped++;
    p.lastKey = key;
    if (p.processed % this.deps.settings.logEvery === 0) this.logProgress();
    if (++this.inBatch >= this.deps.settings.batchSize) {
      this.inBatch = 0;
      await this.save();
      if (this.deps.settings.batchDelayMs > 0 && !this.stopRequested) await this.pause(this.deps.settings.batchDelayMs);
    }
    if (this.stopRequested) throw new StopRequested();
  }

  private async rewrapDataKeys(tenantId: string): Promise<Outcome> {
    return this.attempt(`data key record of tenant ${tenantId}`, async () => {
      const current = await this.deps.store.readTenantKeys(tenantId);
      if (!current || current.record.status === 'erased') return 'skipped';
      const rewrapped = await rewrapTenantKeys(tenantId, current.record, this.deps.kek);
      if (!rewrapped) return 'current';
      await this.deps.store.writeTenantKeys(rewrapped, current.revision);
      return 'rewrapped';
    });
  }

  private async reencryptRecord(ref: SecretRecordRef): Promise<Outcome> {
    const what = ref.kind === 'credential' ? `credential of connection ${ref.connectionId} (tenant ${ref.tenantId})` : `${ref.field} of ${ref.ownerId} (tenant ${ref.tenantId})`;
    return this.attempt(what, async () => {
      const { store, kek } = this.deps;
      const stored: Revisioned<CredentialRecord | TenantSecretRecord> | null =
        ref.kind === 'credential' ? await store.readCredential(ref.tenantId, ref.connectionId) : await store.readTenantSecret(ref.tenantId, ref.ownerId, ref.field);
      if (!stored) return 'skipped';
      const keys = await store.readTenantKeys(ref.tenantId);
      if (!keys || keys.record.status === 'erased') return 'skipped';
      const active = keys.record.activeVersion;
      const fields = fieldsOf(ref, stored.record);
      if (fields.every(([, encrypted]) => encrypted.dekVersion === active)) return 'current';

      const to = await openDataKey(ref.tenantId, keys.record, 'active', kek);
      const opened = new Map<number, DataKey>();
      const ownerId = ref.kind === 'credential' ? ref.connectionId : ref.ownerId;
      const moved: Record<string, EncryptedField> = {};
      for (const [field, encrypted] of fields) {
        if (encrypted.dekVersion === active) {
          moved[field] = encrypted;
          continue;
        }
        const from = opened.get(encrypted.dekVersion) ?? (await openDataKey(ref.tenantId, keys.record as TenantKeys, encrypted.dekVersion, kek));
        opened.set(encrypted.dekVersion, from);
        moved[field] = reencryptField(from, to, encrypted, { tenantId: ref.tenantId, ownerId, field });
      }
      // Same logical version and updatedAt: only the encryption changed.
      if (ref.kind === 'credential') await store.writeCredential({ ...(stored.record as CredentialRecord), secrets: moved }, stored.revision);
      else await store.writeTenantSecret({ ...(stored.record as TenantSecretRecord), secret: moved[ref.field] }, stored.revision);
      return 'rewrapped';
    });
  }

  /**
   * Run one record's read-modify-write, from a fresh read each time a concurrent writer wins. Errors that concern the
   * record itself make it `failed` (logged by id, left as it was); anything else (the store is unreachable) fails the job.
   */
  private async attempt(what: string, work: () => Promise<Outcome>): Promise<Outcome> {
    for (let attempt = 1; attempt <= MAX_RECORD_ATTEMPTS; attempt++) {
      try {
        return await work();
      } catch (err) {
        if (err instanceof ConcurrencyError) {
          this.deps.log.debug(`rewrap: ${what} changed while being rewrapped (attempt ${attempt}); reading it again`);
          continue;
        }
        if (err instanceof CorruptRecordError || err instanceof DecryptFailedError || err instanceof UnknownKeyVersionError) {
          this.deps.log.warn(`rewrap: ${what} left as it was: ${err.message}`);
          return 'failed';
        }
        throw err;
      }
    }
    this.deps.log.warn(`rewrap: ${what} left as it was: it kept changing during ${MAX_RECORD_ATTEMPTS} attempts`);
    return 'failed';
  }

  /** Persist the progress, compare-and-set: losing it means another replica took the job over. */
  private async save(): Promise<void> {
    this.progress.updatedAt = this.deps.clock.now().toISOString();
    this.revision = await this.deps.jobs.write('rewrap.checkpoint', withoutUndefined(this.progress), this.revision);
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.wakeUp = null;
        resolve();
      }
      this.wakeUp = done;
    });
  }

  private logProgress(): void {
    const now = Date.now();
    const rate = ((this.progress.processed - this.lastLogProcessed) * 1000) / Math.max(1, now - this.lastLogAt);
    this.lastLogAt = now;
    this.lastLogProcessed = this.progress.processed;
    this.deps.log.log(`rewrap progress: ${this.summary()}, ${rate.toFixed(0)} records/s`);
  }

  private summary(): string {
    const p = this.progress;
    return `${p.processed}/${p.total} records (${p.phase === 'data_keys' ? 'data keys' : 'secrets'}), ${p.rewrapped} rewrapped, ${p.failed} failed, ${this.skipped} skipped (erased or gone)`;
  }
}

/** The encrypted fields of a record, with the field names they are bound to. */
function fieldsOf(ref: SecretRecordRef, record: CredentialRecord | TenantSecretRecord): Array<[string, EncryptedField]> {
  if (ref.kind === 'credential') return Object.entries((record as CredentialRecord).secrets) as Array<[string, EncryptedField]>;
  return [[ref.field, (record as TenantSecretRecord).secret]];
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
