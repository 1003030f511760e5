import { AuthpipeEvent, createEvent, RecordedEvent } from '@authpipe/contracts';
import { ConnectionsProjection } from '@authpipe/projections';
import { InMemoryReadModelStore } from '@authpipe/read-models';
import { RefreshPlanBook } from './refresh-plan-book';
import { RefreshPlanProjection } from './refresh-plan.projection';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const ids = { a: 'con_AAAAAAAAAAAAAAAAAAAAAA', b: 'con_BBBBBBBBBBBBBBBBBBBBBB' };
const ref = (connectionId: string, tenantId = 'org_a') => ({ connectionId, tenantId, provider: 'discord' });
const connected = (connectionId: string, over: Record<string, unknown> = {}): AuthpipeEvent => ({
  type: 'Connected',
  data: { ...ref(connectionId), userId: 'u', scopes: ['identify'], expiresAt: new Date(T0 + 3_600_000).toISOString(), refreshable: true, credentialVersion: 1, ...over },
});

async function given(...events: [AuthpipeEvent, number][]): Promise<RefreshPlanBook> {
  const book = new RefreshPlanBook((p) => (p === 'discord' ? { marginSeconds: 300, jitterSeconds: 0 } : null), () => 0);
  // As in the refresher's projector: the connections view first, then the plans read from it.
  const projections = [new ConnectionsProjection(), new RefreshPlanProjection(book)];
  const store = new InMemoryReadModelStore();
  let position = 0;
  for (const [event, at] of events) {
    position += 1;
    const recorded = { ...createEvent(event, { correlationId: 'c', producer: 'test', now: new Date(at) }), streamId: 's', revision: BigInt(position), position: BigInt(position) };
    for (const projection of projections) await projection.apply(recorded as RecordedEvent, store);
  }
  return book;
}

describe('refresh plans from the connections view', () => {
  it('given Connected, a plan at the margin before expiry', async () => {
    const book = await given([connected(ids.a), T0]);
    expect(book.get(ids.a)).toMatchObject({ credentialVersion: 1, dueAt: T0 + 3_300_000 });
  });

  it('given Connected then Refreshed, the plan moves to the new expiry', async () => {
    const refreshedAt = T0 + 3_300_000;
    const book = await given(
      [connected(ids.a), T0],
      [{ type: 'Refreshed', data: { ...ref(ids.a), expiresAt: new Date(refreshedAt + 3_600_000).toISOString(), credentialVersion: 2, rotated: true } }, refreshedAt],
    );
    expect(book.get(ids.a)).toMatchObject({ credentialVersion: 2, dueAt: refreshedAt + 3_300_000 });
  });

  it('given a connection without refresh or expiry, no plan', async () => {
    const book = await given([connected(ids.a, { refreshable: false }), T0], [connected(ids.b, { expiresAt: null }), T0]);
    expect(book.size).toBe(0);
  });

  it('given Revoked or Disconnected, the plan is dropped; a Refreshed after Revoked does not bring it back', async () => {
    const book = await given(
      [connected(ids.a), T0],
      [connected(ids.b), T0],
      [{ type: 'Revoked', data: { ...ref(ids.a), reason: 'probe_unauthorized', detectedBy: 'health-monitor' } }, T0 + 1],
      [{ type: 'Refreshed', data: { ...ref(ids.a), expiresAt: new Date(T0 + 7_200_000).toISOString(), credentialVersion: 2, rotated: false } }, T0 + 2],
      [{ type: 'Disconnected', data: ref(ids.b) }, T0 + 3],
    );
    expect(book.size).toBe(0);
  });

  it('given a reconnect after a revocation, planned again', async () => {
    const book = await given(
      [connected(ids.a), T0],
      [{ type: 'Revoked', data: { ...ref(ids.a), reason: 'invalid_grant', detectedBy: 'refresher' } }, T0 + 1],
      [connected(ids.a, { credentialVersion: 3 }), T0 + 2],
    );
    expect(book.get(ids.a)?.credentialVersion).toBe(3);
  });

  it('given TenantErased, every plan of the tenant is dropped', async () => {
    const book = await given([connected(ids.a), T0], [connected(ids.b, { tenantId: 'org_b' }), T0], [{ type: 'TenantErased', data: { tenantId: 'org_a' } } as AuthpipeEvent, T0 + 1]);
    expect(book.get(ids.a)).toBeUndefined();
    expect(book.get(ids.b)).toBeDefined();
  });

  it('given IntegrationRegistered, connections blocked by invalid_client may refresh again', async () => {
    const book = await given([connected(ids.a), T0]);
    book.blockIntegration('org_a', 'discord', T0 + 10_000_000);
    expect(book.due(T0 + 3_400_000, 10, () => false)).toHaveLength(0);
    await new RefreshPlanProjection(book).apply(
      {
        ...createEvent(
          { type: 'IntegrationRegistered', data: { tenantId: 'org_a', provider: 'discord', clientId: 'c', scopes: ['identify'], vaultVersion: 2 } },
          { correlationId: 'c', producer: 't', now: new Date(T0) },
        ),
        streamId: 's',
        revision: 9n,
        position: 9n,
      } as RecordedEvent,
      new InMemoryReadModelStore(),
    );
    expect(book.due(T0 + 3_400_000, 10, () => false)).toHaveLength(1);
  });
});
