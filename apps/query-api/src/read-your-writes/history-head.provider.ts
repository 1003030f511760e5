import { Provider } from '@nestjs/common';
import { EventStoreDBClient } from '@eventstore/db-client';
import type { NatsConnection } from 'nats';
import { NATS_CONNECTION, Operations } from '@authpipe/platform';
import { eventStoreDbHead, HistoryHead, jetStreamHead } from '@authpipe/replay';
import { QueryApiConfig } from '../query-api.config';
import { HISTORY_HEAD } from '../query-api.tokens';

/**
 * The head of the configured event store. EventStoreDB: a client of its own (the event store adapter keeps its
 * client to itself), closed with the app.
 */
export function historyHeadProvider(config: QueryApiConfig): Provider {
  return {
    provide: HISTORY_HEAD,
    inject: [NATS_CONNECTION, Operations],
    useFactory: (nats: NatsConnection, ops: Operations): HistoryHead => {
      if (config.AUTHPIPE_EVENT_STORE !== 'eventstoredb') return jetStreamHead(nats, config.AUTHPIPE_EVENT_STREAM);
      const client = EventStoreDBClient.connectionString(config.EVENTSTORE_URL!);
      ops.addCloser('event store head client', () => client.dispose());
      return eventStoreDbHead(client);
    },
  };
}
