import { createHash } from 'node:crypto';
import { AuthpipeEvent, connectionIdFor, connectionStream, createEvent, RecordedEvent, tenantStream } from '@authpipe/contracts';
import { Document, InMemoryReadModelStore, ReadModelStore } from '@authpipe/read-models';
import { API_KEYS, INTEGRATIONS, integrationId, TENANTS, TenantsProjection } from './tenants.projection';

const projection = new TenantsProjection();
const tenantId = 'org_acme';
const keyId = 'k1a2b3c4d5';
// The API key's secret part: only its SHA-256 may reach an event or a read model.
const keySecret = 'ap_live_s3cr3t_value_that_must_never_be_stored';
const keyHash = createHash('sha256').update(keySecret).digest('hex');
const clientId = 'acme-client.apps.example.com';
const at = (minute: number) => new Date(Date.UTC(2026, 10, 27, 10, minute)).toISOString();

/** A stored event as a store would hand it to a projection; validated against its contract like a real one. */
function recorded(event: AuthpipeEvent, position: number, minute: number): RecordedEvent {
  const created = createEvent(event, { correlationId: `req-${position}`, producer: 'spec', now: new Date(at(minute)) });
  return { ...created, streamId: tenantStream(tenantId), revision: BigInt(position), position: BigInt(position) } as RecordedEvent;
}

const tenantCreated = (position: number, minute: number, name = 'Acme') =>
  recorded({ type: 'TenantCreated', data: { tenantId, name } }, position, minute);
const apiKeyIssued = (position: number, minute: number, label = 'production') =>
  recorded({ type: 'ApiKeyIssued', data: { tenantId, keyId, keyHash, label } }, position, minute);
const apiKeyRevoked = (position: number, minute: number) =>
  recorded({ type: 'ApiKeyRevoked', data: { tenantId, keyId } }, position, minute);
const integrationRegistered = (position: number, minute: number, vaultVersion = 1, scopes = ['openid', 'email']) =>
  recorded(
    { type: 'IntegrationRegistered', data: { tenantId, provider: 'gmail', clientId, scopes, vaultVersion } },
    position,
    minute,
  );
const integrationRemoved = (position: number, minute: number) =>
  recorded({ type: 'IntegrationRemoved', data: { tenantId, provider: 'gmail' } }, position, minute);

/** given(events).when(events).then(read model): each step applies events in order to one in-memory store. */
function given(...history: RecordedEvent[]) {
  const store = new InMemoryReadModelStore();
  const applied = (async () => {
    for (const event of history) await projection.apply(event, store);
  })();
  return {
    async when(...events: RecordedEvent[]) {
      await applied;
      for (const event of events) await projection.apply(event, store);
      return { all: () => snapshot(store) };
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

describe('TenantsProjection', () => {
  it('given an erased tenant, its keys stop authenticating and its integrations are gone; applying it again changes nothing', async () => {
    const erasure = tenantErased(4, 3);
    const world = given(tenantCreated(1, 0), apiKeyIssued(2, 1), integrationRegistered(3, 2));
    const { all } = await world.when(erasure);
    const after = await all();
    expect(after[TENANTS][0]).toMatchObject({ status: 'erased', erasedAt: at(3) });
    expect(after[API_KEYS][0]).toMatchObject({ status: 'revoked' });
    expect(after[INTEGRATIONS][0]).toMatchObject({ status: 'removed' });
    await world.when(erasure);
    expect(await all()).toEqual(after);
  });

  it('given a tenant, an API key and an integration, each reads as its events say', async () => {
    const history = [tenantCreated(1, 0), apiKeyIssued(2, 1), integrationRegistered(3, 2)];
    const { all } = await given().when(...history);

    expect(await all()).toStrictEqual({
      [TENANTS]: [{ _id: tenantId, name: 'Acme', status: 'active', createdAt: at(0), lastPosition: 1, lastEventId: history[0].eventId }],
      [API_KEYS]: [
        {
          _id: keyId,
          tenantId,
          keyHash,
          label: 'production',
          status: 'active',
          createdAt: at(1),
          lastPosition: 2,
          lastEventId: history[1].eventId,
        },
      ],
      [INTEGRATIONS]: [
        {
          _id: integrationId(tenantId, 'gmail'),
          tenantId,
          provider: 'gmail',
          clientId,
          scopes: ['openid', 'email'],
          vaultVersion: 1,
          status: 'active',
          updatedAt: at(2),
          lastPosition: 3,
          lastEventId: history[2].eventId,
        },
      ],
    });
  });

  it('a revoked key and a removed integration keep their facts with the new status', async () => {
    const history = given(tenantCreated(1, 0), apiKeyIssued(2, 1), integrationRegistered(3, 2));
    const { all } = await history.when(apiKeyRevoked(4, 3), integrationRemoved(5, 4));
    const documents = await all();
    expect(documents[API_KEYS]).toEqual([expect.objectContaining({ status: 'revoked', keyHash, createdAt: at(1), lastPosition: 4 })]);
    expect(documents[INTEGRATIONS]).toEqual([expect.objectContaining({ status: 'removed', clientId, updatedAt: at(4) })]);
  });

  it('re-registering a removed integration makes it active with the new secret version', async () => {
    const { all } = await given(integrationRegistered(1, 0), integrationRemoved(2, 1)).when(integrationRegistered(3, 2, 2, ['openid']));
    expect((await all())[INTEGRATIONS]).toEqual([
      expect.objectContaining({ status: 'active', vaultVersion: 2, scopes: ['openid'], lastPosition: 3 }),
    ]);
  });

  it('applying any event of the history a second time changes no document', async () => {
    const history = [
      tenantCreated(1, 0),
      apiKeyIssued(2, 1),
      integrationRegistered(3, 2),
      apiKeyRevoked(4, 3),
      integrationRemoved(5, 4),
      integrationRegistered(6, 5, 2),
    ];
    for (let applied = 1; applied <= history.length; applied++) {
      const before = await (await given(...history.slice(0, applied)).when()).all();
      for (const again of history.slice(0, applied)) {
        const after = await (await given(...history.slice(0, applied)).when(again)).all();
        const label = { applied, again: again.type };
        expect({ ...label, documents: after }).toStrictEqual({ ...label, documents: before });
      }
    }
  });

  it('an older event applied after a newer one changes nothing', async () => {
    const history = given(
      tenantCreated(10, 0),
      apiKeyIssued(20, 1),
      apiKeyRevoked(30, 2),
      integrationRegistered(40, 3, 2),
      integrationRemoved(50, 4),
    );
    const before = await (await history.when()).all();
    const older = [
      tenantCreated(5, 5, 'Renamed'),
      apiKeyIssued(25, 6, 'reissued'),
      apiKeyRevoked(15, 7),
      integrationRegistered(45, 8, 3),
      integrationRemoved(35, 9),
    ];
    for (const event of older) {
      const after = await (await history.when(event)).all();
      expect({ older: event.type, documents: after }).toStrictEqual({ older: event.type, documents: before });
    }
  });

  it('ignores connection events', async () => {
    const connectionId = connectionIdFor(tenantId, 'gmail', 'u1');
    const connected = createEvent(
      {
        type: 'Connected',
        data: { connectionId, tenantId, provider: 'gmail', userId: 'u1', scopes: [], expiresAt: null, refreshable: false, credentialVersion: 1 },
      },
      { correlationId: 'req', producer: 'spec', now: new Date(at(0)) },
    );
    const { all } = await given().when({ ...connected, streamId: connectionStream(connectionId), revision: 1n, position: 1n } as RecordedEvent);
    expect(await all()).toStrictEqual({ [TENANTS]: [], [API_KEYS]: [], [INTEGRATIONS]: [] });
  });

  it('keeps no secret-like field and never the API key itself, only its hash', async () => {
    const { all } = await given().when(tenantCreated(1, 0), apiKeyIssued(2, 1), integrationRegistered(3, 2), apiKeyRevoked(4, 3));
    const documents = await all();
    expect(secretLikeFields(Object.values(documents).flat())).toEqual([]);
    expect(JSON.stringify(documents)).not.toContain(keySecret);
  });
});
