import { DynamicModule, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { NatsConnection } from 'nats';
import { CLOCK, Clock, CONFIG, healthController, NATS_CONNECTION, OperationsModule, systemClock } from '@authpipe/platform';
import { AuditLog } from './audit/audit-log.port';
import { KeyEncryptionKeyProvider } from './crypto/key-encryption-key.provider';
import { TenantKeysService } from './keys/tenant-keys.service';
import { RewrapService } from './rewrap/rewrap.service';
import { JobStateStore } from './storage/job-state.port';
import { SecretStore } from './storage/secret-store.port';
import { VaultConfig } from './vault.config';
import { VaultController } from './vault.controller';
import { VaultKeysController } from './vault-keys.controller';
import { VaultService } from './vault.service';
import { VaultOperations } from './operations/vault-operations';
import { AUDIT_LOG, JOB_STATE_STORE, KEY_ENCRYPTION_KEY_PROVIDER, SECRET_STORE } from './vault.tokens';

/**
 * What vault runs on, built before Nest starts: anything that can fail (key ring, NATS, buckets) fails there with
 * one clear line, instead of inside Nest's initialisation, which aborts the process.
 */
export interface VaultModuleOptions {
  config: VaultConfig;
  keyRing: KeyEncryptionKeyProvider;
  store: SecretStore;
  /** The rewrap's checkpoint and lock. */
  jobs: JobStateStore;
  /** Where every read is recorded before it is answered. */
  audit: AuditLog;
  /** The connection behind `store`, `jobs` and `audit`; vault drains it on shutdown. */
  nats: NatsConnection;
  clock?: Clock;
}

@Injectable()
class DrainNatsOnShutdown implements OnApplicationShutdown {
  constructor(@Inject(NATS_CONNECTION) private readonly nats: NatsConnection) {}

  async onApplicationShutdown(): Promise<void> {
    if (!this.nats.isClosed()) await this.nats.drain();
  }
}

/** The vault app: NATS handlers over VaultService, TenantKeysService and RewrapService, with storage, master keys and the audit injected through their ports. */
@Module({})
export class VaultModule {
  static forRoot(options: VaultModuleOptions): DynamicModule {
    return {
      module: VaultModule,
      imports: [OperationsModule.forApp('vault', options.config)],
      controllers: [VaultController, VaultKeysController, healthController('vault')],
      providers: [
        { provide: CONFIG, useValue: options.config },
        { provide: NATS_CONNECTION, useValue: options.nats },
        { provide: SECRET_STORE, useValue: options.store },
        { provide: KEY_ENCRYPTION_KEY_PROVIDER, useValue: options.keyRing },
        { provide: JOB_STATE_STORE, useValue: options.jobs },
        { provide: AUDIT_LOG, useValue: options.audit },
        { provide: CLOCK, useValue: options.clock ?? systemClock },
        VaultService,
        TenantKeysService,
        RewrapService,
        DrainNatsOnShutdown,
        VaultOperations,
      ],
    };
  }
}
