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

/** Why a stored message was passed over: fixed words, never anything of the message's content. */
export type UnreadableReason = 'not_utf8' | 'not_json' | 'not_an_envelope' | 'not_an_event_stream';

/**
 * A stored message that is not an event this store wrote: something published straight to an event subject
 * (JetStream), an event in one of our streams that is not our JSON envelope (EventStoreDB). It is no part of the
 * history: reads and subscriptions pass over it (a subscription's position moves past it), and the store reports it,
 * once per store instance (an error log, the apps' metric). Appends never write one, so nothing real is lost.
 */
export interface SkippedMessage {
  /** The JetStream stream sequence or the EventStoreDB commit position (-1 when the server gave none). */
  position: bigint;
  /** Where it was found: its subject (JetStream), `<stream>@<revision>` (EventStoreDB). */
  location: string;
  reason: UnreadableReason;
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
