import { AuthpipeEvent, connectionIdFor, createEvent, RecordedEvent } from '@authpipe/contracts';
import { InMemoryReadModelStore } from '@authpipe/read-models';
import { TENANT_ACTIVITY, TenantActivityProjection } from './tenant-activity.projection';

const tenantId = 'org_acme';
const connectionId = connectionIdFor(tenantId, 'gmail', 'u1');
const recorded = (event: AuthpipeEvent, position: number, at: string): RecordedEvent =>
  ({ ...createEvent(event, { correlationId: 'c', producer: 'spec', now: new Date(at) }), streamId: 's', revision: BigInt(position), position: BigInt(position) }) as RecordedEvent;

describe('TenantActivityProjection', () => {
  it('counts outcomes per tenant and hour, once per event even when redelivered', async () => {
    const store = new InMemoryReadModelStore();
    const projection = new TenantActivityProjection();
    const refreshed = (p: number, at: string) =>
      recorded({ type: 'Refreshed', data: { connectionId, tenantId, provider: 'gmail', expiresAt: null, credentialVersion: p, rotated: false } }, p, at);
    const events = [
      refreshed(1, '2026-11-27T10:05:00Z'),
      refreshed(2, '2026-11-27T10:55:00Z'),
      recorded({ type: 'Revoked', data: { connectionId, tenantId, provider: 'gmail', reason: 'invalid_grant', detectedBy: 'refresher' } }, 3, '2026-11-27T11:01:00Z'),
    ];
    for (const e of events) await projection.apply(e, store);
    for (const e of events) await projection.apply(e, store); // redelivered
    const hours = await store.collection(TENANT_ACTIVITY).find({ tenantId }, { sort: { hour: 1 } });
    expect(hours.map(({ hour, refreshed: r, revoked }) => ({ hour, refreshed: r, revoked }))).toEqual([
      { hour: '2026-11-27T10:00:00.000Z', refreshed: 2, revoked: undefined },
      { hour: '2026-11-27T11:00:00.000Z', refreshed: undefined, revoked: 1 },
    ]);
  });
});
