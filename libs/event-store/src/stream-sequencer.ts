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

export interface StreamSequencerOptions {
  /** Streams whose last handled revision stays in memory (least recently used leave first). Default 10 000. */
  cachedStreams?: number;
}

/**
 * Turns any delivery of events (repeated, reordered, with gaps) into handling that is in order and exactly once per
 * stream, the order a stream's own history has:
 * - an event at or below its stream's last handled revision is a duplicate: skipped;
 * - the stream's next event is handled;
 * - an event further ahead means events of its stream are missing: they are read from the event store (every event
 *   of the stream after the last handled one, which includes the delivered one) and handled in order first.
 *
 * Revisions are only known to increase within a stream, so "next" is provable only when no integer lies between
 * the last handled revision and the delivered one (always so with EventStoreDB, whose revisions count 0, 1, 2...).
 * Otherwise (JetStream revisions are stream sequences shared by all streams) the sequencer asks the store what
 * follows the last handled revision: one read of the stream's tail per event that advances it. Events read ahead
 * of the delivered one are handled too; their own deliveries then are duplicates and cost nothing.
 *
 * Order holds within a stream, not across streams: a consumer whose state combines streams must not depend on their
 * interleaving (see ConnectionsProjection's erasure and TenantActivityProjection's counters).
 *
 * Exactly once means: the handler runs once per event unless the process stops between the handler's effects and
 * the `save` of its revision; then the event is handled again after the restart, so effects must still be
 * idempotent (the projections' per-document guards, Nats-Msg-Id for the relay). Deliveries are handled one at a
 * time, in the order `deliver` was called.
 */
export class StreamSequencer {
  private readonly last = new Map<string, bigint | null>();
  private readonly cachedStreams: number;
  private queue: Promise<unknown> = Promise.resolve();
  readonly stats: SequencerStats = { delivered: 0, duplicates: 0, streamReads: 0, handled: 0 };

  constructor(
    private readonly events: Pick<EventStore, 'readStream'>,
    private readonly revisions: StreamRevisions,
    private readonly handler: (event: RecordedEvent) => Promise<void>,
    options: StreamSequencerOptions = {},
  ) {
    this.cachedStreams = options.cachedStreams ?? 10_000;
  }

  /** Take one delivered event; resolves with the events it handled (none for a duplicate), in order. */
  deliver(event: RecordedEvent): Promise<RecordedEvent[]> {
    const next = this.queue.then(() => this.sequence(event));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async sequence(event: RecordedEvent): Promise<RecordedEvent[]> {
    this.stats.delivered++;
    const last = await this.lastHandled(event.streamId);
    if (last !== undefined && event.revision <= last) {
      this.stats.duplicates++;
      return [];
    }
    // Revisions are non-negative integers: nothing can lie between `last` and `last + 1`, nor before 0.
    if (event.revision === (last === undefined ? 0n : last + 1n)) {
      await this.handle(event);
      return [event];
    }
    this.stats.streamReads++;
    const tail = await this.events.readStream(event.streamId, last === undefined ? {} : { after: last });
    const handled: RecordedEvent[] = [];
    let cursor = last;
    for (const missing of tail) {
      // A store that ignores `after` (or a read racing a save) may hand back what is already handled.
      if (cursor !== undefined && missing.revision <= cursor) continue;
      await this.handle(missing);
      handled.push(missing);
      cursor = missing.revision;
    }
    // The store should have returned the delivered event itself; if its read lagged behind, handle the delivery.
    if (cursor === undefined || event.revision > cursor) {
      await this.handle(event);
      handled.push(event);
    }
    return handled;
  }

  private async handle(event: RecordedEvent): Promise<void> {
    await this.handler(event);
    await this.revisions.save(event.streamId, event.revision);
    this.remember(event.streamId, event.revision);
    this.stats.handled++;
  }

  private async lastHandled(streamId: string): Promise<bigint | undefined> {
    const cached = this.last.get(streamId);
    if (cached !== undefined) {
      this.remember(streamId, cached);
      return cached ?? undefined;
    }
    const loaded = await this.revisions.load(streamId);
    this.remember(streamId, loaded ?? null);
    return loaded;
  }

  private remember(streamId: string, revision: bigint | null): void {
    this.last.delete(streamId);
    this.last.set(streamId, revision);
    if (this.last.size > this.cachedStreams) this.last.delete(this.last.keys().next().value!);
  }
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
