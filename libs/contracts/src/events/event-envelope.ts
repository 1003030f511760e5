import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
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
