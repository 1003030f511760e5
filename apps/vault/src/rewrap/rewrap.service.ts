import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { RewrapStatusReply } from '@authpipe/contracts';
import { CLOCK, Clock, CONFIG } from '@authpipe/platform';
import { KeyEncryptionKeyProvider } from '../crypto/key-encryption-key.provider';
import { JobStateStore } from '../storage/job-state.port';
import { SecretStore } from '../storage/secret-store.port';
import { VaultConfig } from '../vault.config';
import { JOB_STATE_STORE, KEY_ENCRYPTION_KEY_PROVIDER, SECRET_STORE } from '../vault.tokens';
import { JobLock } from './job-lock';
import { RewrapDependencies, RewrapJob } from './rewrap-job';
import { idleStatus, parseCheckpoint, RewrapCheckpoint, toStatus } from './rewrap-progress';

/**
 * The rewrap as vault runs it: at most one replica at a time (a lock record with owner and expiry), started or
 * resumed by `vaultStartRewrap`, reported by `vaultRewrapStatus` (live on the replica running it, from the
 * checkpoint elsewhere). An interrupted job (crash, shutdown) is resumed automatically: by a vault when it starts,
 * and by any running replica once the lock of the replica that ran it has expired.
 */
@Injectable()
export class RewrapService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('VaultRewrap');
  /** This replica, as named in the lock and the checkpoint. */
  private readonly owner = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private job: RewrapJob | null = null;
  private starting: Promise<RewrapStatusReply> | null = null;
  private watchdog?: NodeJS.Timeout;
  private closing = false;

  constructor(
    @Inject(SECRET_STORE) private readonly store: SecretStore,
    @Inject(JOB_STATE_STORE) private readonly jobs: JobStateStore,
    @Inject(KEY_ENCRYPTION_KEY_PROVIDER) private readonly kek: KeyEncryptionKeyProvider,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(CONFIG) private readonly config: VaultConfig,
  ) {}

  /**
   * Start the rewrap, resume an interrupted or failed run of the same master key version, or answer the status of
   * the run in progress (here or on another replica). A finished run is followed by a new one from the start: it
   * skips whatever is current, and retries what failed before.
   */
  start(): Promise<RewrapStatusReply> {
    if (this.job?.running) return Promise.resolve(this.job.status());
    this.starting ??= this.startOrJoin().finally(() => (this.starting = null));
    return this.starting;
  }

  async status(): Promise<RewrapStatusReply> {
    if (this.job?.running) return this.job.status();
    const checkpoint = await this.readCheckpoint();
    return checkpoint?.record ? toStatus(checkpoint.record) : idleStatus(this.kek.activeVersion);
  }

  onApplicationBootstrap(): void {
    void this.resumeInterrupted();
    this.watchdog = setInterval(() => void this.resumeInterrupted(), this.config.AUTHPIPE_VAULT_REWRAP_LOCK_TTL_MS);
    this.watchdog.unref();
  }

  /** On shutdown the job stops after the record in hand, saves its checkpoint and frees the lock for another replica. */
  async onModuleDestroy(): Promise<void> {
    this.closing = true;
    clearInterval(this.watchdog);
    await this.starting?.catch(() => undefined);
    await this.job?.stop();
  }

  private async startOrJoin(): Promise<RewrapStatusReply> {
    if (this.closing) return this.status();
    const lock = new JobLock(this.jobs, 'rewrap.lock', this.owner, this.config.AUTHPIPE_VAULT_REWRAP_LOCK_TTL_MS, this.clock);
    const attempt = await lock.acquire();
    const checkpoint = await this.readCheckpoint();
    if (!attempt.acquired) {
      // Running on another replica: its last checkpoint, or (just started, nothing saved yet) a run at zero.
      const running = checkpoint?.record?.state === 'running' ? checkpoint.record : null;
      return running ? toStatus(running) : { ...idleStatus(this.kek.activeVersion), state: 'running' };
    }
    const previous = checkpoint?.record;
    const resume = !!previous && previous.state !== 'done' && previous.masterKeyVersion === this.kek.activeVersion;
    let job: RewrapJob;
    try {
      job = await RewrapJob.begin(this.dependencies(), lock, checkpoint, resume);
    } catch (err) {
      await lock.release();
      throw err;
    }
    this.job = job;
    void job.run();
    return job.status();
  }

  /** An interrupted run (state `running` in the checkpoint, nobody holding the lock) is taken over. */
  private async resumeInterrupted(): Promise<void> {
    if (this.closing || this.job?.running || this.starting) return;
    try {
      const checkpoint = await this.readCheckpoint();
      if (checkpoint?.record?.state !== 'running') return;
      await this.start();
    } catch (err) {
      this.logger.warn(`could not check for an interrupted rewrap (${(err as Error).name}: ${(err as Error).message}); trying again later`);
    }
  }

  private async readCheckpoint(): Promise<{ record: RewrapCheckpoint | null; revision: number } | null> {
    const stored = await this.jobs.read('rewrap.checkpoint');
    return stored && { record: parseCheckpoint(stored.record), revision: stored.revision };
  }

  private dependencies(): RewrapDependencies {
    return {
      store: this.store,
      jobs: this.jobs,
      kek: this.kek,
      clock: this.clock,
      log: this.logger,
      settings: {
        batchSize: this.config.AUTHPIPE_VAULT_REWRAP_BATCH_SIZE,
        batchDelayMs: this.config.AUTHPIPE_VAULT_REWRAP_BATCH_DELAY_MS,
        logEvery: this.config.AUTHPIPE_VAULT_REWRAP_LOG_EVERY,
      },
    };
  }
}
