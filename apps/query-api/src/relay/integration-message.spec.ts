import { AuthpipeEvent, connectionIdFor, createEvent, EVENT_SCHEMAS, integrationSubject, RecordedEvent, RELAYED_EVENT_TYPES } from '@authpipe/contracts';
import { isRelayed, relaySubject, toIntegrationMessage } from './integration-message';

const tenantId = 'org_acme';
const connectionId = connectionIdFor(tenantId, 'gmail', 'user_1');
const recorded = (event: AuthpipeEvent, position = 7n): RecordedEvent =>
  ({ ...createEvent(event, { correlationId: 'req-1', producer: 'test', now: new Date('2026-06-01T12:00:00.000Z') }), streamId: 'x', revision: position, position }) as RecordedEvent;

describe('integration messages', () => {
  it('relays the connection lifecycle and keeps tenant administration internal', () => {
    expect(RELAYED_EVENT_TYPES.every(isRelayed)).toBe(true);
    const internal = Object.keys(EVENT_SCHEMAS).filter((t) => !isRelayed(t));
    expect(internal.sort()).toEqual(['ApiKeyIssued', 'ApiKeyRevoked', 'IntegrationRegistered', 'IntegrationRemoved', 'TenantCreated', 'TenantErased']);
    expect(toIntegrationMessage(recorded({ type: 'TenantCreated', data: { tenantId, name: 'Acme' } }))).toBeUndefined();
  });

  it('publishes a Revoked on authpipe.integration.<tenant>.<provider>.Revoked with the event as payload', () => {
    const event = recorded({ type: 'Revoked', data: { connectionId, tenantId, provider: 'gmail', reason: 'probe_unauthorized', detectedBy: 'health-monitor' } });
    const relayed = toIntegrationMessage(event)!;
    expect(relayed.subject).toBe('authpipe.integration.org_acme.gmail.Revoked');
    expect(relayed.subject).toBe(integrationSubject(tenantId, 'gmail', 'Revoked'));
    expect(relayed.message).toEqual({
      eventId: event.eventId,
      type: 'Revoked',
      occurredAt: '2026-06-01T12:00:00.000Z',
      tenantId,
      provider: 'gmail',
      connectionId,
      data: { connectionId, tenantId, provider: 'gmail', reason: 'probe_unauthorized', detectedBy: 'health-monitor' },
    });
  });

  it('carries the user id of Connected', () => {
    const event = recorded({
      type: 'Connected',
      data: { connectionId, tenantId, provider: 'gmail', userId: 'user_1', scopes: ['s'], expiresAt: null, refreshable: false, credentialVersion: 1 },
    });
    expect(toIntegrationMessage(event)!.message).toMatchObject({ type: 'Connected', userId: 'user_1', connectionId });
  });

  it('uses another subject prefix only when asked (tests sharing one nats-server)', () => {
    expect(relaySubject(tenantId, 'discord', 'Degraded')).toBe('authpipe.integration.org_acme.discord.Degraded');
    expect(relaySubject(tenantId, 'discord', 'Degraded', 'test.abc.integration')).toBe('test.abc.integration.org_acme.discord.Degraded');
  });
});
