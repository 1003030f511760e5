import { connectionStream, tenantStream } from '@authpipe/contracts';
import type { RecordedEvent } from '@authpipe/contracts';
import type { EventStore } from '@authpipe/event-store';

/** One event stream: a connection's (`connection-<id>`) or a tenant's own (`tenant-<id>`). */
export type HistorySubject = { connectionId: string } | { tenantId: string };

export function historyStreamId(subject: HistorySubject): string {
  return 'connectionId' in subject ? connectionStream(subject.connectionId) : tenantStream(subject.tenantId);
}

/** The raw events of one stream, oldest first ([] when the stream does not exist). */
export async function readHistory(events: EventStore, subject: HistorySubject): Promise<RecordedEvent[]> {
  return events.readStream(historyStreamId(subject));
}

/**
 * The raw history of one stream as JSON lines, oldest first: every field of the stored event (position,
 * streamId, revision, eventId, type, data, metadata). Lifecycle events carry no secret, so neither do these lines.
 */
export async function eventHistory(events: EventStore, subject: HistorySubject): Promise<string[]> {
  return (await readHistory(events, subject)).map(toJsonLine);
}

/**
 * One event as one line of JSON. Positions and revisions are numbers while they are exact in JSON (always, on
 * JetStream); a larger one (an EventStoreDB log beyond 2^53 bytes) is written as a string rather than rounded.
 */
export function toJsonLine(event: RecordedEvent): string {
  return JSON.stringify({
    position: exact(event.position),
    streamId: event.streamId,
    revision: exact(event.revision),
    eventId: event.eventId,
    type: event.type,
    data: event.data,
    metadata: event.metadata,
  });
}

function exact(value: bigint): number | string {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
}
