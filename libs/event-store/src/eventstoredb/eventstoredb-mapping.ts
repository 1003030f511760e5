import {
  ANY,
  AppendExpectedRevision,
  CancelledError,
  convertToCommandError,
  DeadlineExceededError,
  EventData,
  jsonEvent,
  NO_STREAM,
  NotLeaderError,
  Position,
  RecordedEvent as EsdbRecordedEvent,
  TimeoutError,
  UnavailableError,
} from '@eventstore/db-client';
import { isValidStreamId } from '@authpipe/contracts';
import type { NewEvent, RecordedEvent } from '@authpipe/contracts';
import { DecodedMessage, envelopeOf } from '../stored-envelope';
import type { ExpectedRevision } from '../event-store.port';

export function toEventData(event: NewEvent): EventData {
  // Spread into plain object literals: the client wants JSON records, not our class-typed shapes.
  return jsonEvent({ id: event.eventId, type: event.type, data: { ...event.data }, metadata: { ...event.metadata } });
}

export function toEsdbExpectedRevision(expected: ExpectedRevision): AppendExpectedRevision {
  if (expected === 'no_stream') return NO_STREAM;
  if (expected === 'any') return ANY;
  return expected;
}

/**
 * Our global position is the event's commit position in the transaction log. Every gRPC append writes
 * self-committed prepares, whose commit and prepare positions are both the event's own log position, so the
 * commit position alone is unique per event and resuming from `{ commit: p, prepare: p }` continues right after
 * that event. (Legacy explicit TCP transactions shared one commit position; this store never writes them.)
 */
export function toEsdbPosition(position: bigint): Position {
  return { commit: position, prepare: position };
}

/** Events in `<category>-<id>` streams are ours; anything else on $all (another application's streams) is passed over. */
export function isInOurStream(event: EsdbRecordedEvent): boolean {
  return isValidStreamId(event.streamId);
}

/**
 * An event of one of our streams, or why it is not one we wrote (not JSON, not our envelope). EventStoreDB revisions
 * count 0, 1, 2... within a stream, so the previous revision is always known.
 *
 * `position` is -1n when the server did not report one: stream reads carry positions only from EventStoreDB
 * 22.6 on.
 */
export function toRecordedEvent(event: EsdbRecordedEvent): DecodedMessage {
  if (!event.isJson) return { unreadable: 'not_json' };
  const envelope = envelopeOf({ eventId: event.id, type: event.type, data: event.data, metadata: event.metadata });
  if (!envelope) return { unreadable: 'not_an_envelope' };
  return {
    event: {
      ...envelope,
      streamId: event.streamId,
      revision: event.revision,
      position: event.position?.commit ?? -1n,
      previousRevision: event.revision === 0n ? null : event.revision - 1n,
    } as RecordedEvent,
  };
}

/** Errors after which the same call may succeed: no server, no leader, a deadline hit. */
export function isTransient(err: unknown): boolean {
  // Some client paths (connecting, feature discovery) reject with the raw gRPC error: classify it the same way.
  const error = err instanceof Error ? convertToCommandError(err) : err;
  return (
    error instanceof UnavailableError ||
    error instanceof DeadlineExceededError ||
    error instanceof TimeoutError ||
    error instanceof NotLeaderError ||
    error instanceof CancelledError
  );
}
