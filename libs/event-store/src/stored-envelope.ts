import type { EventMetadata, RecordedEvent } from '@authpipe/contracts';
import type { UnreadableReason } from './event-store.port';

/** What every stored event carries besides its position, whatever the store. */
export interface StoredEnvelope {
  eventId: string;
  type: string;
  /** An object (checked); its fields are the contract of the type. */
  data: unknown;
  metadata: EventMetadata;
}

/** Event types are names (`TenantCreated`): never a key an object inherits (`constructor`, `__proto__`). */
const EVENT_TYPE = /^[A-Z][A-Za-z0-9]{0,99}$/;

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The envelope of a stored event, or undefined when `value` is not one: what every consumer relies on without
 * looking at the type (an id, a type name, data as an object, metadata with a correlation id and a time that parses).
 * The data of each type is not checked here: it was validated when it was appended (createEvent), and a type this
 * version does not know (written by a newer one) is still an event, which consumers pass over.
 */
export function envelopeOf(value: unknown): StoredEnvelope | undefined {
  if (!isRecord(value)) return undefined;
  const { eventId, type, data, metadata } = value;
  if (typeof eventId !== 'string' || eventId.length === 0 || typeof type !== 'string' || !EVENT_TYPE.test(type)) return undefined;
  if (!isRecord(data) || !isRecord(metadata)) return undefined;
  const { correlationId, causationId, occurredAt, schemaVersion, producer } = metadata;
  if (typeof correlationId !== 'string' || typeof producer !== 'string' || !Number.isInteger(schemaVersion)) return undefined;
  if (causationId !== undefined && typeof causationId !== 'string') return undefined;
  if (typeof occurredAt !== 'string' || Number.isNaN(Date.parse(occurredAt))) return undefined;
  return { eventId, type, data, metadata: metadata as unknown as EventMetadata };
}

/** A stored message as an event, or why it is not one. */
export type DecodedMessage = { event: RecordedEvent } | { unreadable: UnreadableReason };
