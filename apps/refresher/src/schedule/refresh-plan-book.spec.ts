import { RefreshPlanBook } from './refresh-plan-book';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
const view = (over: Partial<Parameters<RefreshPlanBook['upsert']>[0]> = {}) => ({
  _id: 'con_a',
  tenantId: 'org_a',
  provider: 'discord',
  status: 'connected' as const,
  refreshable: true,
  expiresAt: iso(T0 + 3_600_000),
  credentialVersion: 1,
  connectedAt: iso(T0),
  ...over,
});

describe('the refresh plan book', () => {
  const timing = (provider: string) => (provider === 'aircall' ? null : { marginSeconds: 300, jitterSeconds: 60 });

  it('plans a connected, refreshable connection and drops it when it is revoked', () => {
    const book = new RefreshPlanBook(timing, () => 0);
    book.upsert(view());
    expect(book.get('con_a')).toMatchObject({ credentialVersion: 1, dueAt: T0 + 3_300_000 });
    book.upsert(view({ status: 'revoked' }));
    expect(book.get('con_a')).toBeUndefined();
  });

  it('does not plan what does not refresh: no expiry, not refreshable, a provider without refresh', () => {
    const book = new RefreshPlanBook(timing);
    book.upsert(view({ _id: 'con_1', expiresAt: null }));
    book.upsert(view({ _id: 'con_2', refreshable: false }));
    book.upsert(view({ _id: 'con_3', provider: 'aircall' }));
    expect(book.size).toBe(0);
  });

  it('keeps one jitter draw per credential version, and a Refreshed (a newer version) moves the due time', () => {
    const draws = [0, 0.5, 0.9];
    const book = new RefreshPlanBook(timing, () => draws.shift()!);
    book.upsert(view());
    book.upsert(view()); // the same version again (RefreshFailed, Degraded...): no new draw
    expect(book.get('con_a')!.dueAt).toBe(T0 + 3_300_000);
    const refreshedAt = T0 + 3_300_000;
    book.upsert(view({ credentialVersion: 2, expiresAt: iso(refreshedAt + 3_600_000), lastRefreshedAt: iso(refreshedAt) }));
    expect(book.get('con_a')!.dueAt).toBe(refreshedAt + 3_600_000 - 330_000);
  });

  it('re-plans on a newer credential (Refreshed, or what a flight read in vault first), and ignores older news', () => {
    const book = new RefreshPlanBook(timing, () => 0);
    book.upsert(view());
    book.refreshed('con_a', { version: 3, expiresAt: iso(T0 + 7_200_000) }, T0 + 60_000);
    expect(book.get('con_a')).toMatchObject({ credentialVersion: 3, dueAt: T0 + 7_200_000 - 300_000 });
    book.upsert(view({ credentialVersion: 2 }));
    expect(book.get('con_a')!.credentialVersion).toBe(3);
  });

  it('hands out due plans, the earliest expiry first, skipping deferred, in-flight and blocked ones', () => {
    const book = new RefreshPlanBook(timing, () => 0);
    book.upsert(view({ _id: 'con_late', expiresAt: iso(T0 + 200_000) }));
    book.upsert(view({ _id: 'con_soon', expiresAt: iso(T0 + 100_000) }));
    book.upsert(view({ _id: 'con_busy', expiresAt: iso(T0 + 50_000) }));
    book.upsert(view({ _id: 'con_later', expiresAt: iso(T0 + 10_000_000) }));
    book.upsert(view({ _id: 'con_other', tenantId: 'org_b', expiresAt: iso(T0 + 10_000) }));
    const now = T0 + 150_000;
    expect(book.due(now, 10, (id) => id === 'con_busy').map((p) => p.connectionId)).toEqual(['con_other', 'con_soon', 'con_late']);
    expect(book.due(now, 1, () => false).map((p) => p.connectionId)).toEqual(['con_other']);
    book.defer('con_soon', now + 1);
    book.blockIntegration('org_b', 'discord', now + 1);
    expect(book.due(now, 10, () => false).map((p) => p.connectionId)).toEqual(['con_busy', 'con_late']);
    book.unblockIntegration('org_b', 'discord');
    expect(book.due(now + 1, 10, () => false).map((p) => p.connectionId)).toContain('con_other');
  });

  it('forgets every plan of an erased tenant', () => {
    const book = new RefreshPlanBook(timing);
    book.upsert(view({ _id: 'con_1' }));
    book.upsert(view({ _id: 'con_2', tenantId: 'org_b' }));
    book.removeTenant('org_a');
    expect(book.get('con_1')).toBeUndefined();
    expect(book.get('con_2')).toBeDefined();
  });
});
