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

  it('counts the same whatever the interleaving of the connection streams, and once per event', async () => {
    const other = connectionIdFor(tenantId, 'discord', 'u2');
    const event = (id: string, stream: string, position: number, revision: number): RecordedEvent =>
      ({
        ...createEvent(
          { type: 'RefreshFailed', data: { connectionId: id, tenantId, provider: 'gmail', failure: 'transient', willRetry: true, attempt: 1 } },
          { correlationId: 'c', producer: 'spec', now: new Date('2026-11-27T10:30:00Z') },
        ),
        streamId: stream,
        revision: BigInt(revision),
        position: BigInt(position),
      }) as RecordedEvent;
    const a = [event(connectionId, `connection-${connectionId}`, 1, 1), event(connectionId, `connection-${connectionId}`, 3, 3)];
    const b = [event(other, `connection-${other}`, 2, 2), event(other, `connection-${other}`, 4, 4)];
    const project = async (order: RecordedEvent[]) => {
      const store = new InMemoryReadModelStore();
      const projection = new TenantActivityProjection();
      for (const e of order) await projection.apply(e, store);
      return store.collection(TENANT_ACTIVITY).find({});
    };
    const inOrder = await project([a[0], b[0], a[1], b[1]]);
    expect(inOrder).toMatchObject([{ refreshFailed: 4 }]);
    // Stream b first (each stream still in its order), with copies of already counted events.
    expect(await project([b[0], b[1], a[0], b[1], a[1], a[0]])).toEqual(inOrder);
  });
});
