import { INestMicroservice } from '@nestjs/common';
import { connectNats } from '@authpipe/messaging';
import { startNatsApp } from '@authpipe/platform';
import { JetStreamAuditLog } from './audit/jetstream-audit-log';
import { LocalKeyRing } from './crypto/local-key-ring';
import { JetStreamKvSecretStore } from './storage/jetstream-kv-secret-store';
import { VaultConfig } from './vault.config';
import { VaultModule } from './vault.module';

/**
 * Start vault: read the master key ring (fails fast, before any connection), open the KV buckets and the audit
 * stream, then serve the vault subjects on NATS. Used by main.ts and by the integration tests.
 */
export async function startVault(config: VaultConfig): Promise<INestMicroservice> {
  const keyRing = LocalKeyRing.fromSettings(config);
  // The ring holds the keys now; the config handed to the app keeps no copy of them.
  const appConfig = Object.assign(new VaultConfig(), config, { AUTHPIPE_MASTER_KEYS: undefined });
  const nats = await connectNats(config, 'vault-store');
  try {
    const store = await JetStreamKvSecretStore.open(nats, {
      bucketPrefix: config.AUTHPIPE_VAULT_BUCKET_PREFIX,
      replicas: config.AUTHPIPE_VAULT_KV_REPLICAS,
    });
    const audit = await JetStreamAuditLog.open(nats, {
      maxAgeDays: config.AUTHPIPE_AUDIT_MAX_AGE_DAYS,
      replicas: config.AUTHPIPE_VAULT_KV_REPLICAS,
      ackTimeoutMs: config.AUTHPIPE_AUDIT_ACK_TIMEOUT_MS,
    });
    return await startNatsApp(VaultModule.forRoot({ config: appConfig, keyRing, store, jobs: store.jobState(), audit, nats }), 'vault', config);
  } catch (err) {
    await nats.close();
    throw err;
  }
}
