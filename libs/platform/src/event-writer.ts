import type { AuthpipeEvent, NewEvent, RecordedEvent } from '@authpipe/contracts';
import { createEvent } from '@authpipe/contracts';
import { EventStore, EventStoreUnavailableError, ExpectedRevision, WrongExpectedRevisionError } from '@authpipe/event-store';
import type { Clock } from './tokens';

/**
 * An event a decision produced. `eventId`: for a fact with a natural key (nameBasedEventId), so that every writer
 * appends the same event and the store keeps one; otherwise a random one. `occurredAt`: when the fact happened, if
 * that was before it is recorded (an event appended late, by reconciliation); otherwise now.
 */
export type DecidedEvent = AuthpipeEvent & { eventId?: string; occurredAt?: Date };

export interface CommandContext {
  correlationId: string;
  causationId?: string;
}

/**
 * Runs a decision against a stream's history and appends what it decides, with optimistic concurrency:
 * read the stream, `decide(history)`, append at the revision read; if another writer got there first, read again
 * and decide again. The decision is a pure function of the history, so retrying it is always safe.
 */
export class EventWriter {
  constructor(
    private readonly store: EventStore,
    private readonly producer: string,
    private readonly clock: Clock,
    private readonly unavailableRetryMs = 10_000,
  ) {}

  /** The history of one stream (to check a precondition before a side effect). */
  readStream(streamId: string): Promise<RecordedEvent[]> {
    return this.store.readStream(streamId);
  }

  /**
   * A short outage of the event store (a nats-server restart) is ridden out for up to `unavailableRetryMs`: the
   * side effect the events record (a credential stored in vault) has already happened, so giving up would leave it
   * without its event. A retry re-sends the very same events (same eventIds, same expected revision), which the
   * store deduplicates: an append whose acknowledgement was lost is not stored twice.
   */
  async decideAndAppend(
    streamId: string,
    decide: (history: RecordedEvent[]) => DecidedEvent[],
    context: CommandContext,
    maxAttempts = 5,
  ): Promise<{ events: NewEvent[]; position?: bigint }> {
    const giveUpAt = performance.now() + this.unavailableRetryMs;
    let conflicts = 0;
    let pending: { events: NewEvent[]; expectedRevision: ExpectedRevision } | undefined;
    for (let pause = 100; ; ) {
      try {
        if (!pending) {
          const history = await this.store.readStream(streamId);
          const decided = decide(history);
          if (!decided.length) return { events: [] };
          const events = decided.map((e) => createEvent(e, { ...context, producer: this.producer, now: e.occurredAt ?? this.clock.now() }, e.eventId));
          pending = { events, expectedRevision: history.length ? history[history.length - 1].revision : 'no_stream' };
        }
        const { position } = await this.store.appendToStream(streamId, pending.events, { expectedRevision: pending.expectedRevision });
        return { events: pending.events, position };
      } catch (err) {
        if (err instanceof WrongExpectedRevisionError && ++conflicts < maxAttempts) {
          pending = undefined; // another writer got there first: decide again on the new history
          continue;
        }
        if (!(err instanceof EventStoreUnavailableError) || performance.now() + pause > giveUpAt) throw err;
        await new Promise((resolve) => setTimeout(resolve, pause));
        pause = Math.min(pause * 2, 1_000);
      }
    }
  }
}
