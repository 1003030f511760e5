import type { RecordedEvent } from '@authpipe/contracts';
import type { EventStore } from './event-store.port';

/**
 * Where a consumer keeps, per stream, the revision of the last event it handled. It must be as durable as the
 * handler's effects and kept next to them (a projector: its read-model store; the relay: its checkpoint bucket), so
 * that after a restart the consumer still tells a redelivered event from a new one.
 */
export interface StreamRevisions {
  /** The revision of the stream's last handled event; undefined when none was handled. */
  load(streamId: string): Promise<bigint | undefined>;
  /** Record that the stream's events up to `revision` are handled. Called once the handler's effects are stored. */
  save(streamId: string, revision: bigint): Promise<void>;
}

/** What the sequencer has seen since it was created (for logs and tests). */
export interface SequencerStats {
  delivered: number;
  /** Deliveries of an event already handled: skipped. */
  duplicates: number;
  /** Deliveries that found (or could not rule out) a gap in their stream and read the stream to fill it. */
  streamReads: number;
  /** Events handled, each exactly once: delivered in turn, or read from the store to fill a gap. */
  handled: number;
}

/** Streams whose last handled revision a sequencer keeps in memory, unless told otherwise. */
export const DEFAULT_CACHED_STREAMS = 10_000;

export interface StreamSequencerOptions {
  /** Streams whose last handled revision stays in memory (least recently used leave first). Default 10 000. */
  cachedStreams?: number;
  /**
   * The global position the consumer's subscription resumed from (its checkpoint): every event at or below it was
   * handled before. It stands in for a stream's revision where none is stored (a consumer that ran before it kept
   * per-stream revisions, or a lost record), so such a stream's history is not handled again.
   */
  floor?: bigint;
}

/** What the sequencer knows of one stream. */
interface StreamState {
  /** Revision of the last handled event; null when none is known (then the floor tells what is handled). */
  last: bigint | null;
  /** Revisions the store holds after `last`, ascending, as of the last read: they prove which event is next. */
  ahead: bigint[];
}

/**
 * Turns any delivery of events (repeated, reordered, with gaps) into handling that is in order and exactly once per
 * stream, the order a stream's own history has:
 * - an event at or below its stream's last handled revision is a duplicate: skipped; so is, in a stream with no
 *   stored revision, an event at or below the floor (the checkpoint the consumer resumed from);
 * - the stream's next event is handled;
 * - an event further ahead means events of its stream are missing: they are read from the event store and handled
 *   in order first, then the delivered one.
 *
 * "Next" is proven without reading the stream when the event carries its predecessor (`previousRevision`, recorded by
 * the store at append: null for a stream's first event) and that is the last handled revision; or when no integer
 * lies between the last handled revision and the delivered one (EventStoreDB's revisions count 0, 1, 2...); or when a
 * read of the stream showed what follows. Otherwise (an event whose predecessor the store did not record: appended
 * with 'any', or stored before the store recorded it; JetStream's revisions are sequences shared by all streams) the
 * sequencer reads the stream's events after the last handled one. A read is remembered (the revisions beyond the
 * delivered event), so such a stream's history delivered in order costs one read, and a live event one read at most.
 * An in-order delivery of events that carry their predecessor costs no read at all.
 *
 * Order holds within a stream, not across streams: a consumer whose state combines streams must not depend on their
 * interleaving (see ConnectionsProjection's erasure and TenantActivityProjection's counters). A delivery in global
 * order is handled in that order.
 *
 * Exactly once means: the handler runs once per event unless the process stops between the handler's effects and
 * the `save` of its revision; then the event is handled again after the restart, so effects must still be
 * idempotent (the projections' per-document guards, Nats-Msg-Id for the relay). Deliveries are handled one at a
 * time, in the order `deliver` was called.
 */
export class StreamSequencer {
  private readonly streams = new Map<string, StreamState>();
  private readonly cachedStreams: number;
  private readonly floor: bigint | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  readonly stats: SequencerStats = { delivered: 0, duplicates: 0, streamReads: 0, handled: 0 };

  constructor(
    private readonly events: Pick<EventStore, 'readStream'>,
    private readonly revisions: StreamRevisions,
    private readonly handler: (event: RecordedEvent) => Promise<void>,
    options: StreamSequencerOptions = {},
  ) {
    this.cachedStreams = options.cachedStreams ?? DEFAULT_CACHED_STREAMS;
    this.floor = options.floor;
  }

  /** Take one delivered event; resolves with the events it handled (none for a duplicate), in order. */
  deliver(event: RecordedEvent): Promise<RecordedEvent[]> {
    const next = this.queue.then(() => this.sequence(event));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async sequence(event: RecordedEvent): Promise<RecordedEvent[]> {
    this.stats.delivered++;
    const state = await this.stateOf(event.streamId);
    if (this.handledBefore(state, event)) {
      this.stats.duplicates++;
      return [];
    }
    if (isNext(state, event)) {
      await this.handle(state, event);
      return [event];
    }
    this.stats.streamReads++;
    const tail = (await this.events.readStream(event.streamId, state.last === null ? {} : { after: state.last }))
      // A store that ignores `after` may hand back what is already handled; without `after`, all at or below the floor is.
      .filter((e) => !this.handledBefore(state, e));
    state.ahead = tail.filter((e) => e.revision > event.revision).map((e) => e.revision);
    const handled: RecordedEvent[] = [];
    for (const missing of tail) {
      if (missing.revision >= event.revision) break;
      await this.handle(state, missing);
      handled.push(missing);
    }
    // The delivered event itself (also when the store's read lagged behind the delivery).
    await this.handle(state, event);
    handled.push(event);
    return handled;
  }

  /**
   * Whether `event` was handled before: by its stream's last handled revision, or, for a stream with none, by the
   * floor. Once a stream has one, it alone decides: a stored revision says what the consumer's effects reflect, and
   * one this sequencer recorded belongs to an event after the floor, so the stream's events at or below the floor
   * lie below it too.
   */
  private handledBefore(state: StreamState, event: RecordedEvent): boolean {
    if (state.last !== null) return event.revision <= state.last;
    return this.floor !== undefined && event.position <= this.floor;
  }

  private async handle(state: StreamState, event: RecordedEvent): Promise<void> {
    await this.handler(event);
    await this.revisions.save(event.streamId, event.revision);
    state.last = event.revision;
    while (state.ahead.length > 0 && state.ahead[0] <= event.revision) state.ahead.shift();
    this.stats.handled++;
  }

  private async stateOf(streamId: string): Promise<StreamState> {
    let state = this.streams.get(streamId);
    if (state) {
      this.streams.delete(streamId);
    } else {
      state = { last: (await this.revisions.load(streamId)) ?? null, ahead: [] };
      if (this.streams.size >= this.cachedStreams) this.streams.delete(this.streams.keys().next().value!);
    }
    this.streams.set(streamId, state); // most recently used last
    return state;
  }
}

/** Whether `event` provably follows the last handled event of its stream (see StreamSequencer). */
function isNext(state: StreamState, event: RecordedEvent): boolean {
  if (event.previousRevision !== undefined && event.previousRevision === state.last) return true;
  // Revisions are non-negative integers: nothing lies between `last` and `last + 1`, nor before 0.
  if (event.revision === (state.last === null ? 0n : state.last + 1n)) return true;
  return state.ahead.length > 0 && state.ahead[0] === event.revision;
}

/** Per-stream revisions in memory only: for a consumer whose effects do not outlive the process (a rebuild). */
export class InMemoryStreamRevisions implements StreamRevisions {
  readonly revisions = new Map<string, bigint>();

  async load(streamId: string): Promise<bigint | undefined> {
    return this.revisions.get(streamId);
  }

  async save(streamId: string, revision: bigint): Promise<void> {
    const current = this.revisions.get(streamId);
    if (current === undefined || revision > current) this.revisions.set(streamId, revision);
  }
}
