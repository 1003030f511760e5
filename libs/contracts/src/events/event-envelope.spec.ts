import { connectionIdFor } from '../ids';
import { createEvent, InvalidEventError, nameBasedEventId, validateEvent } from './event-envelope';
import { getMetadataStorage } from 'class-validator';
import { EVENT_SCHEMAS } from './lifecycle-events';

const context = { correlationId: 'req-1', producer: 'oauth-gateway', now: new Date('2026-11-27T10:00:00Z') };
const connected = {
  connectionId: connectionIdFor('org_acme', 'gmail', 'user_123'),
  tenantId: 'org_acme',
  provider: 'gmail',
  userId: 'user_123',
  scopes: ['https://www.googleapis.com/auth/gmail.readonly'],
  expiresAt: '2026-11-27T11:00:00Z',
  refreshable: true,
  credentialVersion: 1,
};

describe('lifecycle event contracts', () => {
  it('builds an event with metadata and schema version', () => {
    const event = createEvent({ type: 'Connected', data: connected }, context);
    expect(event.eventId).toMatch(/^[0-9a-f-]{36}$/);
    expect(event.metadata).toEqual({
      correlationId: 'req-1',
      occurredAt: '2026-11-27T10:00:00.000Z',
      schemaVersion: 1,
      producer: 'oauth-gateway',
    });
  });

  it('names each invalid field', () => {
    expect(() => createEvent({ type: 'Connected', data: { ...connected, tenantId: 'Bad Tenant!', credentialVersion: 0 } }, context)).toThrow(
      InvalidEventError,
    );
    const problems = validateEvent('Connected', { ...connected, tenantId: 'Bad Tenant!' });
    expect(problems.join()).toMatch(/tenantId/);
  });

  it('rejects fields outside the contract, so no secret can ride along', () => {
    expect(validateEvent('Connected', { ...connected, extra: 'x' }).join()).toMatch(/extra/);
    expect(validateEvent('Connected', { ...connected, accessToken: 'ya29.x' }).join()).toMatch(/accessToken: secret-like/);
    expect(validateEvent('Refreshed', { refresh_token: 'x' }).join()).toMatch(/refresh_token: secret-like/);
  });

  it('declares no secret-like field in any event contract', () => {
    for (const [type, schema] of Object.entries(EVENT_SCHEMAS)) {
      const fields = Object.keys(new (schema.data as new () => object)());
      // class fields without initialisers are not own properties: read declared names from validation metadata
      const declared: string[] = getMetadataStorage()
        .getTargetValidationMetadatas(schema.data, '', true, false)
        .map((m: { propertyName: string }) => m.propertyName);
      for (const field of [...fields, ...declared]) {
        expect({ type, field }).not.toEqual({ type, field: expect.stringMatching(/token|secret|password|api_?key|verifier/i) });
      }
    }
  });

  it('makes name-based eventIds: UUID version 5 as RFC 9562 computes it, the same for the same name', () => {
    // RFC 9562 appendix A.4: the DNS namespace and www.example.com.
    expect(nameBasedEventId('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
    expect(nameBasedEventId('Refreshed/con_x/7')).toBe(nameBasedEventId('Refreshed/con_x/7'));
    expect(nameBasedEventId('Refreshed/con_x/7')).not.toBe(nameBasedEventId('Refreshed/con_x/8'));
    expect(createEvent({ type: 'Connected', data: connected }, context, nameBasedEventId('x')).eventId).toBe(nameBasedEventId('x'));
  });

  it('rejects unknown event types', () => {
    expect(validateEvent('Hacked', {})).toEqual(['type: unknown event type "Hacked"']);
  });

  it('derives one connection id per tenant, provider and user', () => {
    expect(connectionIdFor('org_acme', 'gmail', 'u1')).toBe(connectionIdFor('org_acme', 'gmail', 'u1'));
    expect(connectionIdFor('org_acme', 'gmail', 'u1')).not.toBe(connectionIdFor('org_acme', 'gmail', 'u2'));
    expect(connectionIdFor('org_acme', 'gmail', 'u1')).toMatch(/^con_[A-Za-z0-9_-]{22}$/);
  });
});
