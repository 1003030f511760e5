import type { RecordedEvent } from '@authpipe/contracts';
import { serverSentEvent } from './tenant-event-streams';

const recorded = (type: string, data: Record<string, unknown>): RecordedEvent =>
  ({
    eventId: '6f1c2b9e-0000-4000-8000-000000000001',
    type,
    data,
    metadata: { correlationId: 'c', occurredAt: '2026-11-27T10:00:00.000Z', schemaVersion: 1, producer: 'oauth-gateway' },
    streamId: 'tenant-org_acme',
    revision: 0n,
    position: 1n,
  }) as unknown as RecordedEvent;

describe('serverSentEvent', () => {
  it('writes id, event type and one data line of the facts with occurredAt', () => {
    const frame = serverSentEvent(recorded('Connected', { tenantId: 'org_acme', connectionId: 'con_x', userId: 'u\nnext', scopes: ['a'] }));
    expect(frame).toBe(
      'id: 6f1c2b9e-0000-4000-8000-000000000001\nevent: Connected\n' +
        'data: {"tenantId":"org_acme","connectionId":"con_x","userId":"u\\nnext","scopes":["a"],"occurredAt":"2026-11-27T10:00:00.000Z"}\n\n',
    );
  });

  it('leaves out the hash of an issued API key', () => {
    const frame = serverSentEvent(recorded('ApiKeyIssued', { tenantId: 'org_acme', keyId: 'abcdefgh', keyHash: 'f'.repeat(64), label: 'backend' }));
    expect(frame).not.toContain('keyHash');
    expect(frame).toContain('"keyId":"abcdefgh"');
  });
});
