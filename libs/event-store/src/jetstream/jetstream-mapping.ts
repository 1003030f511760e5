import { isValidStreamId, parseStreamId } from '@authpipe/contracts';
import type { NewEvent, RecordedEvent } from '@authpipe/contracts';
import { DecodedMessage, envelopeOf, StoredEnvelope } from '../stored-envelope';

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
    const streamId = this.streamIdOrUndefined(subject);
    if (streamId === undefined) throw new Error(`subject "${subject}" is not an event stream under "${this.prefix}"`);
    return streamId;
  }

  /** The stream id of a subject; undefined when the subject is no event stream's. */
  streamIdOrUndefined(subject: string): string | undefined {
    const rest = subject.startsWith(`${this.prefix}.`) ? subject.slice(this.prefix.length + 1) : '';
    const dot = rest.indexOf('.');
    const streamId = dot > 0 ? `${rest.slice(0, dot)}-${rest.slice(dot + 1)}` : '';
    return isValidStreamId(streamId) ? streamId : undefined;
  }
}


/**
 * The header appendToStream sets on each message: the revision of the event before it in its stream, `0` for a
 * stream's first event (JetStream sequences start at 1). Set by the adapter from the revision it expects, the same
 * one JetStream checks through `Nats-Expected-Last-Subject-Sequence`; never by callers. Absent after an 'any' append.
 */
export const PREVIOUS_REVISION_HEADER = 'Authpipe-Previous-Revision';

const encoder = new TextEncoder();
// Fatal: a message that is not UTF-8 is not one we wrote (a lenient decoder would turn it into U+FFFD and go on).
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeEvent(event: NewEvent): Uint8Array {
  // The eventId rides in the payload too, so reads return it.
  const payload: StoredEnvelope = { eventId: event.eventId, type: event.type, data: event.data, metadata: event.metadata };
  return encoder.encode(JSON.stringify(payload));
}

/** The header value for the event after `previous` (null: the stream's first event). */
export function previousRevisionHeader(previous: bigint | null): string {
  return previous === null ? '0' : String(previous);
}

/** The parts of a JetStream message (JsMsg) an event is read from. */
export interface StoredMessage {
  subject: string;
  seq: number;
  data: Uint8Array;
  headers?: { get(name: string): string };
}

/**
 * The stream sequence is both the event's revision and its global position. A message that is not an event this
 * store wrote (published straight to an event subject) comes back as the reason it is not; its body is never quoted.
 */
export function decodeEvent(message: StoredMessage, subjects: StreamSubjects): DecodedMessage {
  const streamId = subjects.streamIdOrUndefined(message.subject);
  if (streamId === undefined) return { unreadable: 'not_an_event_stream' };
  let text: string;
  try {
    text = decoder.decode(message.data);
  } catch {
    return { unreadable: 'not_utf8' };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { unreadable: 'not_json' };
  }
  const envelope = envelopeOf(parsed);
  if (!envelope) return { unreadable: 'not_an_envelope' };
  const sequence = BigInt(message.seq);
  const previousRevision = parsePreviousRevision(message.headers?.get(PREVIOUS_REVISION_HEADER), sequence);
  return {
    event: {
      eventId: envelope.eventId,
      type: envelope.type,
      data: envelope.data,
      metadata: envelope.metadata,
      streamId,
      revision: sequence,
      position: sequence,
      ...(previousRevision === undefined ? {} : { previousRevision }),
    } as RecordedEvent,
  };
}

/**
 * Whether a stored message is an event, which reads and subscriptions hand out, rather than one they skip: where the
 * history ends for a subscriber (HistoryHead reads past trailing messages that are not events).
 */
export function isStoredEvent(message: StoredMessage, subjectPrefix: string = DEFAULT_SUBJECT_PREFIX): boolean {
  return 'event' in decodeEvent(message, new StreamSubjects(subjectPrefix));
}

/** A header value that is not a sequence below this message's own says nothing: undefined (the consumer reads). */
function parsePreviousRevision(value: string | undefined, sequence: bigint): bigint | null | undefined {
  if (!value || !/^\d{1,16}$/.test(value)) return undefined;
  const revision = BigInt(value);
  if (revision >= sequence) return undefined;
  return revision === 0n ? null : revision;
}

/** A bigint revision or position as the number JetStream headers and consumer options take. */
export function toSequence(value: bigint, what: string): number {
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`${what} ${value} is not a JetStream sequence`);
  return Number(value);
}
