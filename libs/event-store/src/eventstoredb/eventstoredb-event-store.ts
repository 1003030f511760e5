import { EventStoreDBClient, FORWARDS, START, StreamNotFoundError, WrongExpectedVersionError } from '@eventstore/db-client';
import { parseStreamId } from '@authpipe/contracts';
import type { NewEvent, RecordedEvent } from '@authpipe/contracts';
import type { AppendResult, EventStore, EventSubscription, ExpectedRevision, ReadStreamOptions, SubscribeOptions } from '../event-store.port';
import { EventStoreUnavailableError, WrongExpectedRevisionError } from '../errors';
import { isInOurStream, isTransient, toEsdbExpectedRevision, toEventData, toRecordedEvent } from './eventstoredb-mapping';
import { SkippedMessageListener, SkippedMessages } from '../skipped-messages';
import { EventStoreDbSubscription, ResubscribePolicy } from './eventstoredb-subscription';

export interface EventStoreDbEventStoreOptions {
  /** Whether close() disposes the client (true when the store created it from a connection string). */
  ownsClient?: boolean;
  /** Re-opening a dropped $all subscription. Default 5 attempts, 1 s apart and growing. */
  resubscribe?: ResubscribePolicy;
  /** Told of each event of our streams passed over because it is not our JSON envelope (besides the error log). */
  onSkipped?: SkippedMessageListener;
}

/**
 * The production event store on EventStoreDB (gRPC client).
 *
 * - Revision is the EventStoreDB stream revision; position is the commit position in the transaction log
 *   (see toEsdbPosition for why that is unique per event and how subscriptions resume from it).
 * - The eventId is the EventStoreDB event id, so it must be a UUID (createEvent makes one). The server
 *   recognises a retried append of the same events at the same expected revision and answers success without
 *   writing again; with 'any' it does so on a best-effort basis (recent events only).
 * - An append is atomic: all events or none.
 */
export class EventStoreDbEventStore implements EventStore {
  private readonly subscriptions = new Set<EventStoreDbSubscription>();
  private readonly skipped: SkippedMessages;

  constructor(
    private readonly client: EventStoreDBClient,
    private readonly options: EventStoreDbEventStoreOptions = {},
  ) {
    this.skipped = new SkippedMessages(options.onSkipped);
  }

  /** A store on its own client, from an `esdb://` connection string; close() disposes the client. */
  static fromConnectionString(url: string, options: Omit<EventStoreDbEventStoreOptions, 'ownsClient'> = {}): EventStoreDbEventStore {
    return new EventStoreDbEventStore(EventStoreDBClient.connectionString(url), { ...options, ownsClient: true });
  }

  async appendToStream(streamId: string, events: NewEvent[], options: { expectedRevision: ExpectedRevision }): Promise<AppendResult> {
    parseStreamId(streamId); // the same stream names as every other adapter accepts
    if (events.length === 0) throw new RangeError(`append to ${streamId}: no events`);
    try {
      const result = await this.client.appendToStream(streamId, events.map(toEventData), {
        expectedRevision: toEsdbExpectedRevision(options.expectedRevision),
      });
      // Only with throwOnAppendFailure=false in the connection string does a conflict arrive as a result.
      if (!result.success) throw new WrongExpectedRevisionError(streamId, String(options.expectedRevision));
      if (!result.position) throw new EventStoreUnavailableError(`append to ${streamId}: the server reported no position`);
      return { nextExpectedRevision: result.nextExpectedRevision, position: result.position.commit };
    } catch (err) {
      if (err instanceof WrongExpectedVersionError) {
        throw new WrongExpectedRevisionError(streamId, String(options.expectedRevision), { cause: err });
      }
      throw mapError(`append to ${streamId}`, err);
    }
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    parseStreamId(streamId);
    const events: RecordedEvent[] = [];
    // EventStoreDB revisions are consecutive within a stream: the one after `after` is `after + 1`.
    const fromRevision = options.after === undefined ? START : options.after + 1n;
    try {
      for await (const resolved of this.client.readStream(streamId, { direction: FORWARDS, fromRevision })) {
        if (!resolved.event || !isInOurStream(resolved.event)) continue;
        const decoded = toRecordedEvent(resolved.event);
        if ('event' in decoded) events.push(decoded.event);
        else this.skipped.report({ position: resolved.event.position?.commit ?? -1n, location: `${streamId}@${resolved.event.revision}`, reason: decoded.unreadable });
      }
    } catch (err) {
      if (err instanceof StreamNotFoundError) return [];
      throw mapError(`read ${streamId}`, err);
    }
    return events;
  }

  subscribeToAll(handler: (event: RecordedEvent) => Promise<void>, options: SubscribeOptions = {}): EventSubscription {
    const subscription = new EventStoreDbSubscription(this.client, handler, options.fromPosition, this.options.resubscribe, this.skipped);
    this.subscriptions.add(subscription);
    subscription.closed.then(
      () => this.subscriptions.delete(subscription),
      () => this.subscriptions.delete(subscription),
    );
    return subscription;
  }

  async close(): Promise<void> {
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    if (this.options.ownsClient) await this.client.dispose();
  }
}

function mapError(action: string, err: unknown): unknown {
  if (isTransient(err)) return new EventStoreUnavailableError(`${action}: ${(err as Error).message}`, { cause: err });
  return err;
}
