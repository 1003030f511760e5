import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap, Provider } from '@nestjs/common';
import type { NatsConnection } from 'nats';
import type { EventStore } from '@authpipe/event-store';
import { EVENT_STORE, NATS_CONNECTION } from '@authpipe/platform';
import type { QueryApiConfig } from '../query-api.config';
import { IntegrationRelay } from './integration-relay';

export const INTEGRATION_RELAY = Symbol('INTEGRATION_RELAY');

/**
 * Runs the relay for the app's lifetime. It starts in the background (the API does not wait for it to publish the
 * history) and stops before the platform drains the NATS connection, so no publish is cut off half way.
 */
@Injectable()
export class IntegrationRelayRunner implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(@Inject(INTEGRATION_RELAY) private readonly relay: IntegrationRelay) {}

  onApplicationBootstrap(): void {
    this.relay.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.relay.stop();
  }
}

/** The relay's providers for query-api's module (none when INTEGRATION_RELAY=off). */
export function integrationRelayProviders(config: QueryApiConfig): Provider[] {
  if (config.INTEGRATION_RELAY === 'off') return [];
  return [
    {
      provide: INTEGRATION_RELAY,
      inject: [NATS_CONNECTION, EVENT_STORE],
      useFactory: (nats: NatsConnection, events: EventStore) =>
        new IntegrationRelay(nats, events, { maxAgeMs: config.INTEGRATION_STREAM_MAX_AGE_HOURS * 3_600_000 }),
    },
    IntegrationRelayRunner,
  ];
}
