import type { AuthpipeEvent, NewEvent, RecordedEvent } from '@authpipe/contracts';
import { createEvent } from '@authpipe/contracts';
import { EventStore, WrongExpectedRevisionError } from '@authpipe/event-store';
import type { Clock } from './tokens';

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
  ) {}

  /** The history of one stream (to check a precondition before a side effect). */
  readStream(streamId: string): Promise<RecordedEvent[]> {
    return this.store.readStream(streamId);
  }

  async decideAndAppend(
    streamId: string,
    decide: (history: RecordedEvent[]) => AuthpipeEvent[],
    context: CommandContext,
    maxAttempts = 5,
  ): Promise<{ events: NewEvent[]; position?: bigint }> {
    for (let attempt = 1; ; attempt++) {
      const history = await this.store.readStream(streamId);
      const decided = decide(history);
      if (!decided.length) return { events: [] };
      const events = decided.map((e) => createEvent(e, { ...context, producer: this.producer, now: this.clock.now() }));
      const expectedRevision = history.length ? history[history.length - 1].revision : 'no_stream';
      try {
        const { position } = await this.store.appendToStream(streamId, events, { expectedRevision });
        return { events, position };
      } catch (err) {
        if (!(err instanceof WrongExpectedRevisionError) || attempt >= maxAttempts) throw err;
      }
    }
  }
}
