import { EventStoreDBClient } from '@eventstore/db-client';
import { connect } from 'nats';
import type { ReadModelConfig } from '@authpipe/config';
import { EventStore, EventStoreDbEventStore, JetStreamEventStore } from '@authpipe/event-store';
import { ConnectionsProjection, Projection, TenantsProjection } from '@authpipe/projections';
import { MongoDbReadModelStore, ReadModelStore } from '@authpipe/read-models';
import { eventStoreDbHead, HistoryHead, jetStreamHead } from './head';

/** JetStream API error: no such stream. */
const JS_STREAM_NOT_FOUND = 10059;

/**
 * The projections query-api runs, in its order (apps/query-api/src/query-api.module.ts): what `replay rebuild`
 * rebuilds. A projection added there must be added here.
 */
export function queryApiProjections(): Projection[] {
  return [new TenantsProjection(), new ConnectionsProjection()];
}

/** The stores an operator command works on, opened from the same settings the apps read. */
export interface ReplayEnvironment {
  events: EventStore;
  head: HistoryHead;
  /** Which event store, for messages: `JetStream stream AUTHPIPE_EVENTS at nats://...` or `EventStoreDB`. */
  eventStoreLabel: string;
  /** The read models (MongoDB only: in-memory read models live inside query-api's process). */
  store?: ReadModelStore;
  readModelsLabel: string;
  close(): Promise<void>;
}

/**
 * Open the configured event store and, when `readModels` and the read models are in MongoDB, the read-model store.
 * The JetStream stream must exist already: an operator command never creates an empty event store by mistake.
 */
export async function openReplayEnvironment(config: ReadModelConfig, options: { readModels: boolean }): Promise<ReplayEnvironment> {
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const closer of closers.splice(0).reverse()) await closer().catch(() => undefined);
  };
  try {
    let events: EventStore;
    let head: HistoryHead;
    let eventStoreLabel: string;
    if (config.AUTHPIPE_EVENT_STORE === 'eventstoredb') {
      const client = EventStoreDBClient.connectionString(config.EVENTSTORE_URL!);
      events = new EventStoreDbEventStore(client, { ownsClient: true });
      closers.push(() => events.close());
      head = eventStoreDbHead(client);
      eventStoreLabel = 'EventStoreDB';
    } else {
      // Unlike the apps (which wait for NATS for ever), an operator command fails fast when NATS is not there.
      const nats = await connect({
        servers: config.NATS_URL.split(','),
        name: 'authpipe-replay',
        ...(config.NATS_USER ? { user: config.NATS_USER, pass: config.NATS_PASSWORD } : {}),
        timeout: 5_000,
      }).catch((err: Error) => {
        throw new Error(`cannot connect to NATS at ${config.NATS_URL}: ${err.message}`, { cause: err });
      });
      closers.push(() => nats.drain());
      const streamName = config.AUTHPIPE_EVENT_STREAM;
      const jsm = await nats.jetstreamManager();
      const exists = await jsm.streams.info(streamName).then(
        () => true,
        (err: { api_error?: { err_code?: number } }) => {
          if (err.api_error?.err_code === JS_STREAM_NOT_FOUND) return false;
          throw err;
        },
      );
      if (!exists) {
        throw new Error(`no JetStream stream ${streamName} at ${config.NATS_URL}: is this the platform's NATS, and AUTHPIPE_EVENT_STREAM right?`);
      }
      events = await JetStreamEventStore.create(nats, { streamName });
      closers.push(() => events.close());
      head = jetStreamHead(nats, streamName);
      eventStoreLabel = `JetStream stream ${streamName} at ${config.NATS_URL}`;
    }

    let store: ReadModelStore | undefined;
    let readModelsLabel = 'in memory (inside query-api)';
    if (config.AUTHPIPE_READ_MODELS === 'mongodb') {
      readModelsLabel = `MongoDB database ${config.MONGODB_DB}`;
      if (options.readModels) {
        store = await MongoDbReadModelStore.connect(config.MONGODB_URL!, config.MONGODB_DB, { serverSelectionTimeoutMS: 10_000 });
        const opened = store;
        closers.push(() => opened.close());
      }
    }
    return { events, head, eventStoreLabel, store, readModelsLabel, close };
  } catch (err) {
    await close();
    throw err;
  }
}
