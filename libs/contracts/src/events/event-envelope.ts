import 'reflect-metadata';
import { createHash, randomUUID } from 'node:crypto';
import { plainToInstance } from 'class-transformer';
import { validateSync, ValidationError } from 'class-validator';
import { AuthpipeEvent, EVENT_SCHEMAS, EventType, isEventType } from './lifecycle-events';

/** Metadata every stored event carries, whatever the store. */
export interface EventMetadata {
  /** The request or job that started the chain of work (propagated across HTTP, NATS and events). */
  correlationId: string;
  /** The id of the event or request that directly caused this event. */
  causationId?: string;
  /** When the fact happened (ISO 8601), set by the caller, never by the store. */
  occurredAt: string;
  schemaVersion: number;
  /** Which app wrote it. */
  producer: string;
}

/**
 * An event about to be appended. `eventId` is the idempotency key: appending it twice stores it once.
 * Distributive over the event union, so `switch (event.type)` narrows `event.data`.
 */
export type NewEvent<E extends AuthpipeEvent = AuthpipeEvent> = E extends AuthpipeEvent
  ? { eventId: string; type: E['type']; data: E['data']; metadata: EventMetadata }
  : never;

/** Where a stored event sits. */
export interface EventPosition {
  streamId: string;
  /** Opaque per adapter, increasing within a stream; pass it back as an expected revision. */
  revision: bigint;
  /** Global position, increasing across all streams: the checkpoint of a subscription. */
  position: bigint;
  /**
   * The revision of the event before this one in its stream, as the store knew it when it appended this one: null
   * for a stream's first event; absent when the store does not know (an append with 'any', an event stored before
   * the store recorded it). It lets a consumer prove that an event is its stream's next one without reading the
   * stream (StreamSequencer).
   */
  previousRevision?: bigint | null;
}

/** An event as read back from a store. */
export type RecordedEvent<E extends AuthpipeEvent = AuthpipeEvent> = NewEvent<E> & EventPosition;

export class InvalidEventError extends Error {
  readonly code = 'INVALID_EVENT';
  constructor(
    readonly eventType: string,
    readonly problems: string[],
  ) {
    super(`invalid ${eventType} event: ${problems.join('; ')}`);
    this.name = InvalidEventError.name;
  }
}

function flatten(errors: ValidationError[], prefix = ''): string[] {
  return errors.flatMap((e) => {
    const path = prefix ? `${prefix}.${e.property}` : e.property;
    const own = e.constraints ? [`${path}: ${Object.keys(e.constraints).join(', ')}`] : [];
    return [...own, ...flatten(e.children ?? [], path)];
  });
}

// Names that must never appear as a field of an event: defence in depth on top of the whitelist.
const SECRET_FIELD = /token|secret|password|passwd|api_?key|credential(?!Version)|authorization|code_?verifier/i;

/** Validate event data against its contract; unknown fields are rejected, so no secret can ride along. */
export function validateEvent(type: string, data: unknown): string[] {
  if (!isEventType(type)) return [`type: unknown event type "${type}"`];
  if (typeof data !== 'object' || data === null) return ['data: must be an object'];
  const secretFields = Object.keys(data).filter((k) => SECRET_FIELD.test(k));
  if (secretFields.length) return secretFields.map((k) => `${k}: secret-like field not allowed in events`);
  const instance = plainToInstance(EVENT_SCHEMAS[type].data as new () => object, data);
  return flatten(validateSync(instance, { whitelist: true, forbidNonWhitelisted: true }));
}

export interface EventContext {
  correlationId: string;
  causationId?: string;
  producer: string;
  now: Date;
}

/** The namespace of Authpipe's name-based event ids (a random UUID, fixed for ever). */
const EVENT_ID_NAMESPACE = '5b0c3c1e-8f2a-4d7e-9a61-c0d4e2b7f318';

/**
 * A name-based eventId (RFC 9562 s5.5, UUID version 5: SHA-1 over a namespace and a name) for a fact that has one
 * natural key, e.g. "credential version 7 of connection con_x was stored by a refresh": whoever appends it, however
 * often, the id is the same, so the event store's eventId deduplication keeps one copy. A UUID, as EventStoreDB wants.
 */
export function nameBasedEventId(name: string, namespace: string = EVENT_ID_NAMESPACE): string {
  const hash = createHash('sha1').update(Buffer.from(namespace.replace(/-/g, ''), 'hex')).update(name, 'utf8').digest();
  hash[6] = (hash[6] & 0x0f) | 0x50; // version 5
  hash[8] = (hash[8] & 0x3f) | 0x80; // RFC 9562 variant
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Build a validated event ready to append. Throws InvalidEventError naming each bad field. */
export function createEvent<E extends AuthpipeEvent>(event: E, context: EventContext, eventId: string = randomUUID()): NewEvent<E> {
  const problems = validateEvent(event.type, event.data);
  if (problems.length) throw new InvalidEventError(event.type, problems);
  return {
    eventId,
    type: event.type,
    data: event.data,
    metadata: {
      correlationId: context.correlationId,
      ...(context.causationId ? { causationId: context.causationId } : {}),
      occurredAt: context.now.toISOString(),
      schemaVersion: EVENT_SCHEMAS[event.type as EventType].schemaVersion,
      producer: context.producer,
    },
  } as NewEvent<E>;
}
