import { DynamicModule, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { NatsConnection } from 'nats';
import { CLOCK, Clock, CONFIG, healthController, NATS_CONNECTION, systemClock } from '@authpipe/platform';
import { KeyEncryptionKeyProvider } from './crypto/key-encryption-key.provider';
import { SecretStore } from './storage/secret-store.port';
import { VaultConfig } from './vault.config';
import { VaultController } from './vault.controller';
import { VaultService } from './vault.service';
import { KEY_ENCRYPTION_KEY_PROVIDER, SECRET_STORE } from './vault.tokens';

/**
 * What vault runs on, built before Nest starts: anything that can fail (key ring, NATS, buckets) fails there with
 * one clear line, instead of inside Nest's initialisation, which aborts the process.
 */
export interface VaultModuleOptions {
  config: VaultConfig;
  keyRing: KeyEncryptionKeyProvider;
  store: SecretStore;
  /** The connection behind `store`; vault drains it on shutdown. */
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

/** The vault app: NATS handlers over VaultService, with storage and master keys injected through their ports. */
@Module({})
export class VaultModule {
  static forRoot(options: VaultModuleOptions): DynamicModule {
    return {
      module: VaultModule,
      controllers: [VaultController, healthController('vault')],
      providers: [
        { provide: CONFIG, useValue: options.config },
        { provide: NATS_CONNECTION, useValue: options.nats },
        { provide: SECRET_STORE, useValue: options.store },
        { provide: KEY_ENCRYPTION_KEY_PROVIDER, useValue: options.keyRing },
        { provide: CLOCK, useValue: options.clock ?? systemClock },
        VaultService,
        DrainNatsOnShutdown,
      ],
    };
  }
}
