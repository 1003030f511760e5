import type { NatsConnection } from 'nats';
import type { EventStore } from './event-store.port';
import type { SkippedMessageListener } from './skipped-messages';
import { JetStreamEventStore } from './jetstream/jetstream-event-store';
import { EventStoreDbEventStore } from './eventstoredb/eventstoredb-event-store';

export * from './event-store.port';
export * from './errors';
export * from './stream-sequencer';
export type { SkippedMessageListener } from './skipped-messages';
export { JetStreamEventStore, DEFAULT_EVENT_STREAM } from './jetstream/jetstream-event-store';
export type { JetStreamEventStoreOptions } from './jetstream/jetstream-event-store';
export { DEFAULT_SUBJECT_PREFIX, isStoredEvent } from './jetstream/jetstream-mapping';
export type { StoredMessage } from './jetstream/jetstream-mapping';
export { EventStoreDbEventStore } from './eventstoredb/eventstoredb-event-store';
export type { EventStoreDbEventStoreOptions } from './eventstoredb/eventstoredb-event-store';

/** Which event store to open: the embedded JetStream one on a borrowed NATS connection, or EventStoreDB. */
export type EventStoreConfig = (
  | { kind: 'jetstream'; nats: NatsConnection; streamName?: string; subjectPrefix?: string }
  | { kind: 'eventstoredb'; url: string }
) & {
  /** Told of each stored message reads and subscriptions pass over because it is not an event (a metric). */
  onSkipped?: SkippedMessageListener;
};

/**
 * Open the configured event store. JetStream: creates the stream if absent; close() leaves the NATS connection
 * open. EventStoreDB: a client of its own from the `esdb://` URL; close() disposes it.
 */
export async function createEventStore(config: EventStoreConfig): Promise<EventStore> {
  if (config.kind === 'jetstream') {
    return JetStreamEventStore.create(config.nats, { streamName: config.streamName, subjectPrefix: config.subjectPrefix, onSkipped: config.onSkipped });
  }
  return EventStoreDbEventStore.fromConnectionString(config.url, { onSkipped: config.onSkipped });
}
