import {
  INTEGRATION_SUBJECT_PREFIX,
  IntegrationEventMessage,
  integrationSubject,
  RecordedEvent,
  RELAYED_EVENT_TYPES,
} from '@authpipe/contracts';

export type RelayedEventType = (typeof RELAYED_EVENT_TYPES)[number];

export const isRelayed = (type: string): type is RelayedEventType => (RELAYED_EVENT_TYPES as readonly string[]).includes(type);

/** The subject of an integration event; `prefix` other than the default only for tests sharing one nats-server. */
export function relaySubject(tenantId: string, provider: string, eventType: string, prefix: string = INTEGRATION_SUBJECT_PREFIX): string {
  return prefix + integrationSubject(tenantId, provider, eventType).slice(INTEGRATION_SUBJECT_PREFIX.length);
}

/**
 * What outside subscribers receive for a lifecycle event, and where: undefined for the types that stay internal
 * (tenant administration). The payload is the event's own data, which by contract carries no secret.
 */
export function toIntegrationMessage(event: RecordedEvent, prefix?: string): { subject: string; message: IntegrationEventMessage } | undefined {
  if (!isRelayed(event.type)) return undefined;
  const data = event.data as unknown as Record<string, unknown> & { tenantId: string; provider: string; connectionId?: string; userId?: string };
  const message: IntegrationEventMessage = {
    eventId: event.eventId,
    type: event.type,
    occurredAt: event.metadata.occurredAt,
    tenantId: data.tenantId,
    provider: data.provider,
    ...(data.connectionId ? { connectionId: data.connectionId } : {}),
    ...(data.userId ? { userId: data.userId } : {}),
    data: { ...data },
  };
  return { subject: relaySubject(data.tenantId, data.provider, event.type, prefix), message };
}
