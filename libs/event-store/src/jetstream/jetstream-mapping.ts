import { isValidStreamId, parseStreamId } from '@authpipe/contracts';
import type { EventMetadata, NewEvent, RecordedEvent } from '@authpipe/contracts';

/** Subjects of the default event stream: `authpipe.events.<category>.<id>`. */
export const DEFAULT_SUBJECT_PREFIX = 'authpipe.events';

const SUBJECT_PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/**
 * Maps event stream ids (`<category>-<id>`) onto NATS subjects (`<prefix>.<category>.<id>`) and back.
 * The category has no `-` and the id no `.`, so the mapping is one-to-one.
 */
export class StreamSubjects {
  constructor(readonly prefix: string = DEFAULT_SUBJECT_PREFIX) {
    if (!SUBJECT_PREFIX.test(prefix)) throw new Error(`invalid subject prefix "${prefix}": dot-separated tokens of [A-Za-z0-9_-]`);
  }

  /** The wildcard that captures every event stream. */
  get all(): string {
    return `${this.prefix}.>`;
  }

  subjectOf(streamId: string): string {
    const { category, id } = parseStreamId(streamId);
    return `${this.prefix}.${category}.${id}`;
  }

  streamIdOf(subject: string): string {
    const rest = subject.startsWith(`${this.prefix}.`) ? subject.slice(this.prefix.length + 1) : '';
    const dot = rest.indexOf('.');
    const streamId = dot > 0 ? `${rest.slice(0, dot)}-${rest.slice(dot + 1)}` : '';
    if (!isValidStreamId(streamId)) throw new Error(`subject "${subject}" is not an event stream under "${this.prefix}"`);
    return streamId;
  }
}

/** What one JetStream message carries. The eventId rides in the payload too, so reads return it. */
interface StoredPayload {
  eventId: string;
  type: string;
  data: unknown;
  metadata: EventMetadata;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeEvent(event: NewEvent): Uint8Array {
  const payload: StoredPayload = { eventId: event.eventId, type: event.type, data: event.data, metadata: event.metadata };
  return encoder.encode(JSON.stringify(payload));
}

/** The parts of a JetStream message (JsMsg or StoredMsg) an event is read from. */
export interface StoredMessage {
  subject: string;
  seq: number;
  data: Uint8Array;
}

/** The stream sequence is both the event's revision and its global position. */
export function decodeEvent(message: StoredMessage, subjects: StreamSubjects): RecordedEvent {
  const payload = JSON.parse(decoder.decode(message.data)) as StoredPayload;
  const sequence = BigInt(message.seq);
  return {
    eventId: payload.eventId,
    type: payload.type,
    data: payload.data,
    metadata: payload.metadata,
    streamId: subjects.streamIdOf(message.subject),
    revision: sequence,
    position: sequence,
  } as RecordedEvent;
}

/** A bigint revision or position as the number JetStream headers and consumer options take. */
export function toSequence(value: bigint, what: string): number {
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`${what} ${value} is not a JetStream sequence`);
  return Number(value);
}
