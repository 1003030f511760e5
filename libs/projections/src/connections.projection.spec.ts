import { AuthpipeEvent, connectionIdFor, connectionStream, createEvent, RecordedEvent } from '@authpipe/contracts';
import { Document, InMemoryReadModelStore, ReadModelStore } from '@authpipe/read-models';
import { CONNECTIONS, ConnectionsProjection, ConnectionView, ERASED_TENANTS } from './connections.projection';

const projection = new ConnectionsProjection();
const tenantId = 'org_acme';
const provider = 'gmail';
const userId = 'user_123';
const connectionId = connectionIdFor(tenantId, provider, userId);
const at = (minute: number) => new Date(Date.UTC(2026, 10, 27, 10, minute)).toISOString();

/** A stored event as a store would hand it to a projection; validated against its contract like a real one. */
function recorded(event: AuthpipeEvent, position: number, minute: number): RecordedEvent {
  const created = createEvent(event, { correlationId: `req-${position}`, producer: 'spec', now: new Date(at(minute)) });
  return { ...created, streamId: connectionStream(connectionId), revision: BigInt(position), position: BigInt(position) } as RecordedEvent;
}

const connected = (position: number, minute: number, overrides: Partial<Extract<AuthpipeEvent, { type: 'Connected' }>['data']> = {}) =>
  recorded(
    {
      type: 'Connected',
      data: {
        connectionId,
        tenantId,
        provider,
        userId,
        scopes: ['https://www.googleapis.com/auth/gmail.readonly'],
        expiresAt: at(minute + 60),
        refreshable: true,
        credentialVersion: 1,
        ...overrides,
      },
    },
    position,
    minute,
  );
const refreshed = (position: number, minute: number, credentialVersion: number) =>
  recorded(
    { type: 'Refreshed', data: { connectionId, tenantId, provider, expiresAt: at(minute + 60), credentialVersion, rotated: true } },
    position,
    minute,
  );
const refreshFailed = (position: number, minute: number) =>
  recorded(
    { type: 'RefreshFailed', data: { connectionId, tenantId, provider, failure: 'transient', willRetry: true, attempt: 1 } },
    position,
    minute,
  );
const revoked = (position: number, minute: number, reason: 'invalid_grant' | 'erased' = 'invalid_grant') =>
  recorded({ type: 'Revoked', data: { connectionId, tenantId, provider, reason, detectedBy: 'refresher' } }, position, minute);
const disconnected = (position: number, minute: number) =>
  recorded({ type: 'Disconnected', data: { connectionId, tenantId, provider } }, position, minute);

/** given(events).when(events).then(read model): each step applies events in order to one in-memory store. */
function given(...history: RecordedEvent[]) {
  const store = new InMemoryReadModelStore();
  const applied = (async () => {
    for (const event of history) await projection.apply(event, store);
  })();
  return {
    store,
    async when(...events: RecordedEvent[]) {
      await applied;
      for (const event of events) await projection.apply(event, store);
      return { connection: () => store.collection<ConnectionView>(CONNECTIONS).findOne({ _id: connectionId }), all: () => snapshot(store) };
    },
  };
}

/** Every document of every collection the projection writes, in _id order. */
async function snapshot(store: ReadModelStore): Promise<Record<string, Document[]>> {
  const result: Record<string, Document[]> = {};
  for (const name of projection.collections) result[name] = await store.collection(name).find({}, { sort: { _id: 1 } });
  return result;
}

// Field names that would mean secret material reached a read model (the events' own rule, see event-envelope.ts).
const SECRET_FIELD = /token|secret|password|passwd|api_?key|credential(?!Version)|authorization|code_?verifier/i;
function secretLikeFields(value: unknown, path = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => secretLikeFields(item, `${path}[${i}]`));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([field, nested]) => [
    ...(SECRET_FIELD.test(field) ? [`${path}${field}`] : []),
    ...secretLikeFields(nested, `${path}${field}.`),
  ]);
}

const tenantErased = (position: number, minute: number) => recorded({ type: 'TenantErased', data: { tenantId } }, position, minute);

const degraded = (position: number, minute: number) =>
  recorded({ type: 'Degraded', data: { connectionId, tenantId, provider, consecutiveFailures: 3, lastFailure: '503' } }, position, minute);
const recovered = (position: number, minute: number) => recorded({ type: 'Recovered', data: { connectionId, tenantId, provider } }, position, minute);

describe('ConnectionsProjection', () => {
  it('given Degraded then Recovered, health follows the probes', async () => {
    const { connection, } = await given(connected(1, 0)).when(degraded(2, 10));
    expect(await connection()).toMatchObject({ health: 'degraded', degradedAt: at(10), status: 'connected' });
    const back = await given(connected(1, 0), degraded(2, 10)).when(recovered(3, 20));
    const healed = await back.connection();
    expect(healed).toMatchObject({ health: 'healthy' });
    expect(healed).not.toHaveProperty('degradedAt');
  });

  it('given an erased tenant, its connections read as erased, and applying it again changes nothing', async () => {
    const erasure = tenantErased(2, 5);
    const { store, when } = given(connected(1, 0));
    const { connection } = await when(erasure);
    const erased = await connection();
    expect(erased).toMatchObject({ status: 'erased', revocationReason: 'erased', revokedAt: at(5) });
    await projection.apply(erasure, store);
    expect(await connection()).toEqual(erased);
  });
  it('the tenant erasure and the connection stream give the same documents in any interleaving', async () => {
    const own = [connected(1, 0), refreshFailed(2, 10), refreshed(3, 20, 2), degraded(5, 40)];
    const erasure = tenantErased(4, 30);
    const clean = await (await given().when(...own.slice(0, 3), erasure, own[3])).all();
    expect(clean[CONNECTIONS][0]).toMatchObject({ status: 'erased', revokedAt: at(30), credentialVersion: 2, health: 'degraded', updatedAt: at(40), lastPosition: 5 });
    for (let at = 0; at <= own.length; at++) {
      const interleaved = [...own.slice(0, at), erasure, ...own.slice(at)];
      expect({ at, documents: await (await given().when(...interleaved)).all() }).toStrictEqual({ at, documents: clean });
    }
  });

  it('the same holds when every connection event happened before the erasure, and only status events look the erasure up', async () => {
    // Ends with refreshes and probes: nothing after them repeats the overlay.
    const own = [connected(1, 0), refreshFailed(2, 10), revoked(3, 12), connected(5, 15, { credentialVersion: 2 }), refreshed(6, 20, 3), degraded(7, 25), recovered(8, 26)];
    const erasure = tenantErased(4, 30);
    const clean = await (await given().when(...own.slice(0, 3), erasure, ...own.slice(3))).all();
    expect(clean[CONNECTIONS][0]).toMatchObject({ status: 'erased', revokedAt: at(30), credentialVersion: 3, updatedAt: at(30), lastPosition: 8 });
    for (let at = 0; at <= own.length; at++) {
      const interleaved = [...own.slice(0, at), erasure, ...own.slice(at)];
      expect({ at, documents: await (await given().when(...interleaved)).all() }).toStrictEqual({ at, documents: clean });
    }

    const store = new InMemoryReadModelStore();
    const lookups = jest.spyOn(store, 'collection');
    for (const event of own) await projection.apply(event, store);
    const erasureLookups = lookups.mock.calls.filter(([name]) => name === ERASED_TENANTS).length;
    expect(erasureLookups).toBe(own.filter((e) => ['Connected', 'Revoked', 'Disconnected'].includes(e.type)).length);
  });

  it('an event appended late with an older time (a reconciled Refreshed) moves no shown time backwards', async () => {
    const late = refreshed(4, 15, 3); // stored by a refresh at minute 15, recorded after the probe's events
    const { connection } = await given(connected(1, 0), refreshed(2, 20, 2), degraded(3, 40)).when(late);
    expect(await connection()).toMatchObject({ credentialVersion: 3, expiresAt: at(75), lastRefreshedAt: at(20), updatedAt: at(40), lastPosition: 4 });
  });

  it('given Connected, Refreshed and Revoked, the connection reads as revoked with the refreshed credential facts', async () => {
    const history = [connected(1, 0), refreshed(2, 50, 2), revoked(3, 55)];
    const { connection } = await given().when(...history);

    expect(await connection()).toStrictEqual({
      _id: connectionId,
      tenantId,
      provider,
      userId,
      status: 'revoked',
      scopes: ['https://www.googleapis.com/auth/gmail.readonly'],
      expiresAt: at(110),
      metadata: {},
      health: 'healthy',
      refreshable: true,
      credentialVersion: 2,
      connectedAt: at(0),
      firstConnectedAt: at(0),
      lastRefreshedAt: at(50),
      revokedAt: at(55),
      revocationReason: 'invalid_grant',
      updatedAt: at(55),
      lastPosition: 3,
      lastEventId: history[2].eventId,
    });
  });

  it('given Connected then a transient RefreshFailed, the failure is shown until the next Refreshed clears it', async () => {
    const history = given(connected(1, 0), refreshFailed(2, 50));
    const failing = await history.when();
    expect(await failing.connection()).toMatchObject({
      status: 'connected',
      lastRefreshFailure: { failure: 'transient', at: at(50), willRetry: true },
      updatedAt: at(50),
    });

    const recovered = await history.when(refreshed(3, 51, 2));
    expect(await recovered.connection()).not.toHaveProperty('lastRefreshFailure');
    expect(await recovered.connection()).toMatchObject({ credentialVersion: 2, lastRefreshedAt: at(51), lastPosition: 3 });
  });

  it('reads status erased after a Revoked for erasure, and disconnected after Disconnected', async () => {
    expect(await (await given(connected(1, 0)).when(revoked(2, 5, 'erased'))).connection()).toMatchObject({
      status: 'erased',
      revocationReason: 'erased',
    });
    expect(await (await given(connected(1, 0)).when(disconnected(2, 5))).connection()).toMatchObject({
      status: 'disconnected',
      updatedAt: at(5),
    });
  });

  it('applying any event of the history a second time changes no document', async () => {
    const history = [
      connected(1, 0),
      refreshFailed(2, 10),
      refreshed(3, 20, 2),
      revoked(4, 30),
      connected(5, 40, { credentialVersion: 3 }),
      disconnected(6, 50),
    ];
    // After every prefix of the history, replay each event already applied: a redelivery or a replay.
    for (let applied = 1; applied <= history.length; applied++) {
      const { all } = await given(...history.slice(0, applied)).when();
      const before = await all();
      for (const again of history.slice(0, applied)) {
        const after = await (await given(...history.slice(0, applied)).when(again)).all();
        const label = { applied, again: again.type };
        expect({ ...label, documents: after }).toStrictEqual({ ...label, documents: before });
      }
    }
  });

  it('an older event applied after a newer one changes nothing', async () => {
    // Events this projection has not seen yet but that are older than what the document reflects.
    const history = given(connected(10, 0), refreshed(20, 20, 3));
    const before = await (await history.when()).all();
    const older = [
      connected(5, 1, { credentialVersion: 9, scopes: ['other'] }),
      refreshed(15, 15, 2),
      refreshFailed(12, 12),
      revoked(19, 19),
      disconnected(11, 11),
    ];
    for (const event of older) {
      const after = await (await history.when(event)).all();
      expect({ older: event.type, documents: after }).toStrictEqual({ older: event.type, documents: before });
    }
  });

  it('a reconnect after Revoked clears the revocation and the last refresh failure', async () => {
    const reconnect = connected(4, 30, { credentialVersion: 3, scopes: ['https://www.googleapis.com/auth/gmail.send'] });
    const { connection } = await given(connected(1, 0), refreshFailed(2, 10), revoked(3, 20)).when(reconnect);

    const document = await connection();
    expect(document).toMatchObject({
      status: 'connected',
      scopes: ['https://www.googleapis.com/auth/gmail.send'],
      credentialVersion: 3,
      connectedAt: at(30),
      updatedAt: at(30),
      lastPosition: 4,
      lastEventId: reconnect.eventId,
    });
    expect(document).not.toHaveProperty('revokedAt');
    expect(document).not.toHaveProperty('revocationReason');
    expect(document).not.toHaveProperty('lastRefreshFailure');
  });

  it('ignores events it does not project, and Refreshed for a connection it never saw creates nothing', async () => {
    const failed = recorded(
      {
        type: 'ConnectFailed',
        data: { tenantId, provider, userId, connectionId, reason: 'access_denied', providerError: 'access_denied' },
      },
      1,
      0,
    );
    const { all } = await given().when(failed, refreshed(2, 1, 2), revoked(3, 2));
    expect(await all()).toStrictEqual({ [CONNECTIONS]: [], [ERASED_TENANTS]: [] });
  });

  it('keeps no secret-like field in any document', async () => {
    const { all } = await given().when(
      connected(1, 0),
      refreshFailed(2, 10),
      refreshed(3, 20, 2),
      revoked(4, 30),
      connected(5, 40),
      disconnected(6, 50),
    );
    const documents = await all();
    expect(documents[CONNECTIONS]).toHaveLength(1);
    expect(secretLikeFields(documents[CONNECTIONS])).toEqual([]);
  });
});
