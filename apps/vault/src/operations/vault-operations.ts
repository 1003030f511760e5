import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import type { NatsConnection } from 'nats';
import { checkNats, CONFIG, counter, histogram, LATENCY_BUCKETS, NATS_CONNECTION, Operations } from '@authpipe/platform';
import { vaultBucketNames } from '../storage/jetstream-kv-secret-store';
import { VaultConfig } from '../vault.config';

const SUBJECT_PREFIX = 'authpipe.vault.';

/**
 * What operators see of vault: ready when its NATS connection answers and both KV buckets exist; a counter and a
 * latency histogram of its operations (credential.read, secret.store, keys.rotate-tenant...) by outcome (`ok` or the
 * error code answered), from the NATS requests it answered.
 */
@Injectable()
export class VaultOperations implements OnModuleInit {
  constructor(
    private readonly ops: Operations,
    @Inject(NATS_CONNECTION) private readonly nats: NatsConnection,
    @Inject(CONFIG) private readonly config: VaultConfig,
  ) {}

  onModuleInit(): void {
    const buckets = vaultBucketNames(this.config.AUTHPIPE_VAULT_BUCKET_PREFIX);
    this.ops.addReadinessCheck('nats', () => checkNats(this.nats));
    this.ops.addReadinessCheck('kv_buckets', async () => {
      const jsm = await this.nats.jetstreamManager();
      // A KV bucket is the JetStream stream KV_<bucket>.
      for (const bucket of Object.values(buckets)) await jsm.streams.info(`KV_${bucket}`);
      return { buckets: Object.values(buckets) };
    });

    const operations = counter({
      name: 'authpipe_vault_operations_total',
      help: 'Vault operations answered, by operation and outcome (ok or the error code)',
      labelNames: ['operation', 'outcome'] as const,
    });
    const latency = histogram({
      name: 'authpipe_vault_operation_duration_seconds',
      help: 'Time vault took to answer an operation, by operation and outcome',
      labelNames: ['operation', 'outcome'] as const,
      buckets: LATENCY_BUCKETS,
    });
    this.ops.onRpcHandled(({ subject, outcome, seconds }) => {
      if (!subject.startsWith(SUBJECT_PREFIX) || subject.endsWith('.health')) return;
      const operation = subject.slice(SUBJECT_PREFIX.length);
      operations.inc({ operation, outcome });
      latency.observe({ operation, outcome }, seconds);
    });
  }
}
