import type { NewEvent, RecordedEvent } from '@authpipe/contracts';

/**
 * The expected state of a stream for an append (optimistic concurrency):
 * - a revision read from the stream (the `revision` of its last event, or `nextExpectedRevision` of an append);
 * - 'no_stream': the stream must not exist yet;
 * - 'any': no check.
 */
export type ExpectedRevision = bigint | 'no_stream' | 'any';

export interface AppendResult {
  /** The revision of the last appended event: pass it as the next expected revision. */
  nextExpectedRevision: bigint;
  /** Global position of the last appended event. */
  position: bigint;
}

export interface SubscribeOptions {
  /** Exclusive checkpoint: deliver events with a position strictly greater. Omit to start at the beginning. */
  fromPosition?: bigint;
}

export interface ReadStreamOptions {
  /** Exclusive: only the events with a revision strictly greater (the events after one already handled). */
  after?: bigint;
}

export interface EventSubscription {
  /** Resolves once every event that existed when the subscription started has been handled. */
  readonly caughtUp: Promise<void>;
  /** Stop delivering; resolves when the handler is no longer running. */
  stop(): Promise<void>;
  /** Rejects if the subscription dies (the handler threw, or the store failed beyond reconnecting). */
  readonly closed: Promise<void>;
}

/**
 * The event store port. Adapters: NATS JetStream (embedded default) and EventStoreDB (production).
 * Both pass test/integration/event-store.contract.ts.
 */
export interface EventStore {
  /**
   * Append events to one stream if it is at `expectedRevision`. A stale revision throws
   * WrongExpectedRevisionError and writes nothing. Re-appending an event whose eventId is already stored
   * (a retry) stores nothing new and returns success.
   */
  appendToStream(streamId: string, events: NewEvent[], options: { expectedRevision: ExpectedRevision }): Promise<AppendResult>;
  /** All events of one stream in order (those after `options.after` only); [] when there are none. */
  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  /**
   * Deliver every event of every stream in global order from a checkpoint: catch up, then live.
   * The handler is awaited: one event at a time, in order.
   */
  subscribeToAll(handler: (event: RecordedEvent) => Promise<void>, options?: SubscribeOptions): EventSubscription;
  close(): Promise<void>;
}
