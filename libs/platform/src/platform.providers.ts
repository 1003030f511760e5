import { Inject, Injectable, Logger, OnApplicationShutdown, Provider } from '@nestjs/common';
import type { NatsConnection } from 'nats';
import type { PlatformConfig } from '@authpipe/config';
import { createEventStore, EventStore } from '@authpipe/event-store';
import { connectNats, createRpcClient, RPC_CLIENT, RpcClient } from '@authpipe/messaging';
import { ProviderCatalog } from '@authpipe/providers';
import { CLOCK, CONFIG, EVENT_STORE, NATS_CONNECTION, PROVIDER_CATALOG, systemClock } from './tokens';

/** Closes what the platform providers opened, in dependency order, when the app shuts down. */
@Injectable()
export class PlatformShutdown implements OnApplicationShutdown {
  private readonly logger = new Logger(PlatformShutdown.name);

  constructor(
    @Inject(EVENT_STORE) private readonly events: EventStore,
    @Inject(RPC_CLIENT) private readonly rpc: RpcClient,
    @Inject(NATS_CONNECTION) private readonly nats: NatsConnection,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await this.events.close().catch((err: Error) => this.logger.warn(`closing the event store: ${err.message}`));
    await this.rpc.close().catch(() => undefined);
    await this.nats.drain().catch(() => undefined);
  }
}

/**
 * The providers every app shares: its config, a clock, a NATS connection, the configured event store, an RPC
 * client for requests to other apps, and the provider catalog.
 */
export function platformProviders(config: PlatformConfig, app: string): Provider[] {
  return [
    { provide: CONFIG, useValue: config },
    { provide: CLOCK, useValue: systemClock },
    { provide: NATS_CONNECTION, useFactory: () => connectNats(config, app) },
    {
      provide: EVENT_STORE,
      inject: [NATS_CONNECTION],
      useFactory: (nats: NatsConnection) =>
        config.AUTHPIPE_EVENT_STORE === 'eventstoredb'
          ? createEventStore({ kind: 'eventstoredb', url: config.EVENTSTORE_URL! })
          : createEventStore({ kind: 'jetstream', nats, streamName: config.AUTHPIPE_EVENT_STREAM }),
    },
    { provide: RPC_CLIENT, useFactory: () => createRpcClient(config, app) },
    { provide: PROVIDER_CATALOG, useFactory: () => ProviderCatalog.load(config.AUTHPIPE_PROVIDERS_FILE) },
    PlatformShutdown,
  ];
}
