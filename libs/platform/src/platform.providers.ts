import { Provider } from '@nestjs/common';
import type { NatsConnection } from 'nats';
import type { PlatformConfig } from '@authpipe/config';
import { createEventStore, EventStore, ReadStreamOptions, SkippedMessage, SubscribeOptions } from '@authpipe/event-store';
import { connectNats, createRpcClient, RPC_CLIENT, RpcClient } from '@authpipe/messaging';
import { ProviderCatalog } from '@authpipe/providers';
import { currentCorrelationId, runWithCorrelationId } from './logging/request-context';
import { Operations } from './operations/operations';
import { counter } from './operations/metrics';
import { CLOCK, CONFIG, EVENT_STORE, NATS_CONNECTION, PROVIDER_CATALOG, systemClock } from './tokens';

/** A stream id no event is ever appended to: reading it proves the event store answers. */
const READINESS_STREAM = 'readiness-probe';

/** The event store, with every subscription handler run under the event's correlation id (for the logs). */
class CorrelatedEventStore implements EventStore {
  constructor(private readonly store: EventStore) {}
  appendToStream(...args: Parameters<EventStore['appendToStream']>) {
    return this.store.appendToStream(...args);
  }
  readStream(streamId: string, options?: ReadStreamOptions) {
    return this.store.readStream(streamId, options);
  }
  subscribeToAll(handler: Parameters<EventStore['subscribeToAll']>[0], options?: SubscribeOptions) {
    return this.store.subscribeToAll((event) => runWithCorrelationId(event.metadata.correlationId, () => handler(event)), options);
  }
  close() {
    return this.store.close();
  }
}

/** The NATS connection answers a round trip. */
export async function checkNats(nats: NatsConnection): Promise<Record<string, unknown>> {
  if (nats.isClosed()) throw new Error('the NATS connection is closed');
  await nats.flush();
  return { server: nats.getServer() };
}

/**
 * The providers every app shares: its config, a clock, a NATS connection, the configured event store, an RPC
 * client for requests to other apps, and the provider catalog. Each registers its readiness check and its closing
 * with Operations (OperationsModule), which closes them last, after the app's own shutdown hooks.
 */
export function platformProviders(config: PlatformConfig, app: string): Provider[] {
  return [
    { provide: CONFIG, useValue: config },
    { provide: CLOCK, useValue: systemClock },
    {
      provide: NATS_CONNECTION,
      inject: [Operations],
      useFactory: async (ops: Operations) => {
        const nats = await connectNats(config, app);
        ops.addReadinessCheck('nats', () => checkNats(nats));
        ops.addCloser('NATS connection', async () => (nats.isClosed() ? undefined : nats.drain()));
        return nats;
      },
    },
    {
      provide: EVENT_STORE,
      inject: [NATS_CONNECTION, Operations],
      useFactory: async (nats: NatsConnection, ops: Operations): Promise<EventStore> => {
        // Messages on event subjects that are not events (anyone allowed to publish there can put one): the store
        // skips and logs them; operators see how many here.
        const skipped = counter({
          name: 'authpipe_event_store_skipped_messages_total',
          help: 'Stored messages that event reads and subscriptions passed over because they are not events (not UTF-8, not JSON, not an event envelope, not an event stream), by reason',
          labelNames: ['reason'] as const,
        });
        const onSkipped = (message: SkippedMessage) => skipped.inc({ reason: message.reason });
        const store = new CorrelatedEventStore(
          config.AUTHPIPE_EVENT_STORE === 'eventstoredb'
            ? await createEventStore({ kind: 'eventstoredb', url: config.EVENTSTORE_URL!, onSkipped })
            : await createEventStore({ kind: 'jetstream', nats, streamName: config.AUTHPIPE_EVENT_STREAM, onSkipped }),
        );
        ops.addReadinessCheck('event_store', async () => {
          await store.readStream(READINESS_STREAM);
          return { kind: config.AUTHPIPE_EVENT_STORE };
        });
        ops.addCloser('event store', () => store.close());
        return store;
      },
    },
    {
      provide: RPC_CLIENT,
      inject: [Operations],
      useFactory: (ops: Operations): RpcClient => {
        const rpc = createRpcClient(config, app);
        // Requests sent while handling a request or an event carry its correlation id.
        rpc.takeCorrelationIdsFrom(currentCorrelationId);
        ops.addCloser('RPC client', () => rpc.close());
        return rpc;
      },
    },
    { provide: PROVIDER_CATALOG, useFactory: () => ProviderCatalog.load(config.AUTHPIPE_PROVIDERS_FILE) },
  ];
}
