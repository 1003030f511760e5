import { AuthpipeEvent, createEvent, RecordedEvent } from '@authpipe/contracts';
import type { RefreshPolicy } from '@authpipe/providers';
import { connectionLife, decideReconciliation, decideRefreshed, decideRefreshFailed, decideRevoked, recordedCredentialVersion, refreshedEventId, shouldRefresh } from './refresh-decisions';

const connection = { connectionId: 'con_AAAAAAAAAAAAAAAAAAAAAA', tenantId: 'org_a', provider: 'discord' };
const NOW = new Date('2026-01-01T00:00:00Z');
const policy: RefreshPolicy = { supported: true, rotatesRefreshToken: true, marginSeconds: 300, jitterSeconds: 60 };

function given(...events: AuthpipeEvent[]): RecordedEvent[] {
  return events.map((e, i) => ({
    ...createEvent(e, { correlationId: 'c', producer: 'test', now: NOW }),
    streamId: `connection-${connection.connectionId}`,
    revision: BigInt(i),
    position: BigInt(i + 1),
  })) as RecordedEvent[];
}
const connected: AuthpipeEvent = {
  type: 'Connected',
  data: { ...connection, userId: 'u1', scopes: ['identify'], expiresAt: NOW.toISOString(), refreshable: true, credentialVersion: 1 },
};
const stored = (version: number, expiresInMs: number, refreshToken: string | null = 'rt') => ({
  version,
  credential: { ...(refreshToken ? { refreshToken } : {}), expiresAt: new Date(NOW.getTime() + expiresInMs).toISOString() },
});

describe('whether a credential read under the lock still needs a refresh', () => {
  it('on demand: only inside the provider margin', () => {
    expect(shouldRefresh({ kind: 'on_demand' }, stored(1, 299_000), policy, NOW)).toBe(true);
    expect(shouldRefresh({ kind: 'on_demand' }, stored(1, 301_000), policy, NOW)).toBe(false);
  });

  it('on demand after waiting for another worker: not when vault holds a newer version than before the wait', () => {
    expect(shouldRefresh({ kind: 'on_demand', seenVersion: 3 }, stored(4, 1_000), policy, NOW)).toBe(false);
    expect(shouldRefresh({ kind: 'on_demand', seenVersion: 3 }, stored(3, 1_000), policy, NOW)).toBe(true);
    expect(shouldRefresh({ kind: 'on_demand', seenVersion: 3 }, stored(3, 301_000), policy, NOW)).toBe(false);
  });

  it('scheduled: while vault still holds the planned version; a newer one was refreshed by someone else', () => {
    expect(shouldRefresh({ kind: 'scheduled', plannedVersion: 4 }, stored(4, 3_000_000), policy, NOW)).toBe(true);
    expect(shouldRefresh({ kind: 'scheduled', plannedVersion: 4 }, stored(5, 100), policy, NOW)).toBe(false);
  });

  it('never without a refresh token, an expiry or provider support', () => {
    expect(shouldRefresh({ kind: 'on_demand' }, stored(1, 0, null), policy, NOW)).toBe(false);
    expect(shouldRefresh({ kind: 'on_demand' }, { version: 1, credential: { refreshToken: 'rt', expiresAt: null } }, policy, NOW)).toBe(false);
    expect(shouldRefresh({ kind: 'on_demand' }, stored(1, 0), { ...policy, supported: false }, NOW)).toBe(false);
    expect(shouldRefresh({ kind: 'on_demand' }, stored(1, 0), undefined, NOW)).toBe(false);
  });
});

describe('refresh events', () => {
  it('given Connected, when the provider refuses the grant, then Revoked (invalid_grant, by the refresher)', () => {
    expect(decideRevoked(given(connected), connection)).toEqual([
      { type: 'Revoked', data: { ...connection, reason: 'invalid_grant', detectedBy: 'refresher' } },
    ]);
  });

  it('given an already revoked or disconnected connection, then nothing more', () => {
    const revoked: AuthpipeEvent = { type: 'Revoked', data: { ...connection, reason: 'probe_unauthorized', detectedBy: 'health-monitor' } };
    expect(decideRevoked(given(connected, revoked), connection)).toEqual([]);
    expect(decideRevoked(given(connected, { type: 'Disconnected', data: connection }), connection)).toEqual([]);
    expect(decideRefreshFailed(given(connected, revoked), connection, { failure: 'transient', willRetry: true, attempt: 1 })).toEqual([]);
  });

  it('given a reconnect after a revocation, then the new connection can be revoked again', () => {
    const revoked: AuthpipeEvent = { type: 'Revoked', data: { ...connection, reason: 'invalid_grant', detectedBy: 'refresher' } };
    expect(decideRevoked(given(connected, revoked, connected), connection)).toHaveLength(1);
  });

  it('reports every transient attempt with its number and whether another follows', () => {
    const first = { failure: 'transient' as const, willRetry: true, attempt: 1 };
    const history = given(connected, { type: 'RefreshFailed', data: { ...connection, ...first } });
    expect(decideRefreshFailed(history, connection, { failure: 'transient', willRetry: false, attempt: 2 })).toEqual([
      { type: 'RefreshFailed', data: { ...connection, failure: 'transient', willRetry: false, attempt: 2 } },
    ]);
  });

  it('says invalid_client once, not again at every cool-down, until something else happens', () => {
    const failed: AuthpipeEvent = { type: 'RefreshFailed', data: { ...connection, failure: 'invalid_client', willRetry: false, attempt: 1 } };
    const report = { failure: 'invalid_client' as const, willRetry: false, attempt: 1 };
    expect(decideRefreshFailed(given(connected), connection, report)).toHaveLength(1);
    expect(decideRefreshFailed(given(connected, failed), connection, report)).toEqual([]);
    const refreshed: AuthpipeEvent = { type: 'Refreshed', data: { ...connection, expiresAt: null, credentialVersion: 2, rotated: true } };
    expect(decideRefreshFailed(given(connected, failed, refreshed), connection, report)).toHaveLength(1);
  });

  it('a stored credential becomes Refreshed with its version, whether the refresh token rotated, and an id of its own', () => {
    const history = given(connected);
    expect(decideRefreshed(history, connection, { expiresAt: '2026-01-01T01:00:00.000Z', credentialVersion: 2, rotated: true })).toEqual([
      {
        type: 'Refreshed',
        data: { ...connection, expiresAt: '2026-01-01T01:00:00.000Z', credentialVersion: 2, rotated: true },
        eventId: refreshedEventId(connection.connectionId, history[0].eventId, 2),
      },
    ]);
  });

  it('records a credential version once: whoever appends it, the same eventId, and nothing when the history has it', () => {
    const result = { expiresAt: '2026-01-01T01:00:00.000Z', credentialVersion: 2, rotated: false };
    const life = 'f0e7d1c2-0000-4000-8000-000000000001';
    expect(refreshedEventId(connection.connectionId, life, 2)).toBe(refreshedEventId(connection.connectionId, life, 2));
    expect(refreshedEventId(connection.connectionId, life, 2)).not.toBe(refreshedEventId(connection.connectionId, life, 3));
    expect(refreshedEventId(connection.connectionId, life, 2)).not.toBe(refreshedEventId('con_BBBBBBBBBBBBBBBBBBBBBB', life, 2));
    // The refresh that stored it and a holder reconciling it later decide on the same life: the same id.
    const history = given(connected, { type: 'RefreshFailed', data: { ...connection, failure: 'transient', willRetry: true, attempt: 1 } });
    expect(decideRefreshed(history, connection, result)[0].eventId).toBe(decideRefreshed(history.slice(0, 1), connection, result)[0].eventId);
    const refreshed: AuthpipeEvent = { type: 'Refreshed', data: { ...connection, ...result } };
    expect(decideRefreshed(given(connected, refreshed), connection, result)).toEqual([]);
    expect(recordedCredentialVersion(given(connected, refreshed))).toBe(2);
    expect(recordedCredentialVersion([])).toBe(0);
  });

  it('after a disconnect and a reconnect (vault starts again at version 1), the same version number is a new Refreshed with a new id', () => {
    const refreshed = (credentialVersion: number): AuthpipeEvent => ({ type: 'Refreshed', data: { ...connection, expiresAt: null, credentialVersion, rotated: true } });
    const result = { expiresAt: '2026-01-01T01:00:00.000Z', credentialVersion: 2, rotated: true };
    const history = given(connected, refreshed(2), refreshed(3), { type: 'Disconnected', data: connection }, connected);
    const [before] = decideRefreshed(history.slice(0, 1), connection, result); // the first life's version 2
    const [after] = decideRefreshed(history, connection, result);
    expect(after).toMatchObject({ type: 'Refreshed', data: { credentialVersion: 2 } });
    expect(after.eventId).not.toBe(before.eventId);
    expect(connectionLife(history)).toBe(history[4].eventId);
    expect(after.eventId).toBe(refreshedEventId(connection.connectionId, history[4].eventId, 2));
    expect(connectionLife([])).toBeUndefined();
  });

  it('a Refreshed appended late says when the store happened', () => {
    const at = new Date('2025-12-31T23:59:00Z');
    expect(decideRefreshed(given(connected), connection, { expiresAt: null, credentialVersion: 2, rotated: false }, at)[0]).toMatchObject({ occurredAt: at });
  });
});

describe('reconciling a refresh that may not have recorded its Refreshed (the note in the lock)', () => {
  const intent = { version: 3, expiresAt: '2026-01-01T01:00:00.000Z', rotated: true, at: NOW.getTime() };

  it('records it when vault holds exactly the noted credential', () => {
    expect(decideReconciliation(intent, { version: 3, expiresAt: '2026-01-01T01:00:00Z' })).toBe('record');
    expect(decideReconciliation({ ...intent, expiresAt: null }, { version: 3, expiresAt: null })).toBe('record');
  });

  it('drops it when vault holds another credential at or past that version (a reconnect won, or a later refresh)', () => {
    expect(decideReconciliation(intent, { version: 3, expiresAt: '2026-01-01T02:00:00.000Z' })).toBe('drop');
    expect(decideReconciliation(intent, { version: 3, expiresAt: null })).toBe('drop');
    expect(decideReconciliation(intent, { version: 4, expiresAt: '2026-01-01T01:00:00.000Z' })).toBe('drop');
  });

  it('keeps it while vault is behind it (the store did not happen, or has not yet)', () => {
    expect(decideReconciliation(intent, { version: 2, expiresAt: '2026-01-01T00:30:00.000Z' })).toBe('keep');
  });
});
