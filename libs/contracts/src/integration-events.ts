/**
 * Integration events for outside subscribers (a platform team reacting to revocations): lifecycle events relayed
 * from the event store to a JetStream stream, one subject per tenant, provider and event type, each message with
 * `Nats-Msg-Id` = the event id, so a redelivery is stored once. Payloads carry no secret (they are the events).
 *
 *   authpipe.integration.<tenantId>.<provider>.<EventType>     e.g. authpipe.integration.org_acme.gmail.Revoked
 */
export const INTEGRATION_STREAM = 'AUTHPIPE_INTEGRATION';
export const INTEGRATION_SUBJECT_PREFIX = 'authpipe.integration';

export const integrationSubject = (tenantId: string, provider: string, eventType: string): string =>
  `${INTEGRATION_SUBJECT_PREFIX}.${tenantId}.${provider}.${eventType}`;

/** What a subscriber receives. */
export interface IntegrationEventMessage {
  eventId: string;
  type: string;
  occurredAt: string;
  tenantId: string;
  provider: string;
  connectionId?: string;
  userId?: string;
  data: Record<string, unknown>;
}

/** Event types relayed (connection lifecycle; tenant administration stays internal). */
export const RELAYED_EVENT_TYPES = ['Connected', 'ConnectFailed', 'Refreshed', 'RefreshFailed', 'Revoked', 'Degraded', 'Recovered', 'Disconnected'] as const;
