import { createEvent, RecordedEvent, tenantStream } from '@authpipe/contracts';
import type { EventStore, EventSubscription } from '@authpipe/event-store';
import { API_KEYS, CHECKPOINTS, INTEGRATIONS, Projection, STREAM_CHECKPOINTS, TENANTS, TenantsProjection } from '@authpipe/projections';
import { InMemoryReadModelStore, ReadModelStore } from '@authpipe/read-models';
import { defaultTenantFilter, PartialSwapError, rebuildReadModels } from './rebuild';

// The rebuild's own decisions on a tiny in-process history; test/integration/replay.test.ts runs it over real stores.

/** subscribeToAll over an array: delivers, says caught up, stops. */
class ArrayEventStore implements Pick<EventStore, 'subscribeToAll' | 'readStream'> {
  constructor(readonly events: RecordedEvent[]) {}
  subscribeToAll(handler: (event: RecordedEvent) => Promise<void>, options: { fromPosition?: bigint } = {}): EventSubscription {
    let stopped = false;
    const run = (async () => {
      for (const event of this.events) {
        if (stopped) throw new Error('event subscription stopped before it caught up');
        if (options.fromPosition === undefined || event.position > options.fromPosition) await handler(event);
      }
    })();
    // As the real subscriptions do: a rejection nobody awaits must not crash the process.
    run.catch(() => undefined);
    return {
      caughtUp: run,
      closed: run,
      stop: async () => {
        stopped = true;
        await run.catch(() => undefined);
      },
    };
  }
  async readStream(streamId: string): Promise<RecordedEvent[]> {
    return this.events.filter((e) => e.streamId === streamId);
  }
}

let position = 0n;
function recorded(type: 'TenantCreated', tenantId: string): RecordedEvent {
  position++;
  const event = createEvent({ type, data: { tenantId, name: tenantId } }, { correlationId: 'c', producer: 'spec', now: new Date(0) });
  return { ...event, streamId: tenantStream(tenantId), revision: position, position } as RecordedEvent;
}

const history = () => new ArrayEventStore([recorded('TenantCreated', 'acme'), recorded('TenantCreated', 'beta')]) as unknown as EventStore;

/** The in-memory store, with renameCollection replaced. */
function storeWithRename(rename: (from: string, to: string, real: () => Promise<void>) => Promise<void>): InMemoryReadModelStore {
  const store = new InMemoryReadModelStore();
  const real = store.renameCollection.bind(store);
  store.renameCollection = (from: string, to: string) => rename(from, to, () => real(from, to));
  return store;
}

const names = (store: ReadModelStore) => [...(store as unknown as { collections: Map<string, unknown> }).collections.keys()].sort();

async function seedLive(store: ReadModelStore): Promise<void> {
  await store.collection(TENANTS).insertOne({ _id: 'old', name: 'old' });
  await store.collection(API_KEYS).insertOne({ _id: 'k', tenantId: 'old' });
}

describe('rebuildReadModels', () => {
  it('falls back to copying where the engine cannot rename over a collection (FerretDB), and says so', async () => {
    const store = storeWithRename(async () => {
      throw Object.assign(new Error('support for field "dropTarget" with non-default value true is not implemented yet'), { code: 238 });
    });
    await seedLive(store);
    const result = await rebuildReadModels({ events: history(), store, projections: [new TenantsProjection()], suffix: '__r' });
    expect(result.collections.map((c) => [c.live, c.swap, c.deleted])).toEqual([
      [TENANTS, 'copied', 1],
      [API_KEYS, 'emptied', undefined],
      [INTEGRATIONS, 'emptied', undefined],
    ]);
    expect((await store.collection(TENANTS).find({}, { sort: { _id: 1 } })).map((t) => t._id)).toEqual(['acme', 'beta']);
    expect(await store.collection(API_KEYS).countDocuments({})).toBe(0);
    expect(names(store)).toEqual([CHECKPOINTS, STREAM_CHECKPOINTS, TENANTS]);
    expect(result.notes.join()).toMatch(/tenants: the read-model engine cannot rename/);
  });

  it('a swap that fails on the first collection changes nothing live and drops every fresh collection', async () => {
    const store = storeWithRename(async () => {
      throw new Error('disk full');
    });
    await seedLive(store);
    await expect(rebuildReadModels({ events: history(), store, projections: [new TenantsProjection()] })).rejects.toThrow('disk full');
    expect(await store.collection(TENANTS).find({})).toEqual([{ _id: 'old', name: 'old' }]);
    expect(names(store)).toEqual([API_KEYS, TENANTS]);
  });

  it('a swap that fails midway says which collections were replaced and which were not', async () => {
    const twoCollections: Projection = {
      name: 'two',
      collections: ['a', 'b'],
      apply: async (event, store) => {
        await store.collection('a').insertOne({ _id: event.eventId });
        await store.collection('b').insertOne({ _id: event.eventId });
      },
    };
    const store = storeWithRename(async (from, to, real) => {
      if (to === 'b') throw new Error('lost the server');
      return real();
    });
    const error = await rebuildReadModels({ events: history(), store, projections: [twoCollections] }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(PartialSwapError);
    expect(error).toMatchObject({ swapped: ['a'], notSwapped: ['b'] });
    expect(names(store)).toEqual(['a']);
  });

  it('beforeSwap failing aborts before anything live changes; afterSwap still runs to restart the projector', async () => {
    const store = new InMemoryReadModelStore();
    await seedLive(store);
    const afterSwap = jest.fn(async () => undefined);
    await expect(
      rebuildReadModels({
        events: history(),
        store,
        projections: [new TenantsProjection()],
        beforeSwap: async () => {
          throw new Error('projector would not stop');
        },
        afterSwap,
      }),
    ).rejects.toThrow('projector would not stop');
    expect(afterSwap).toHaveBeenCalledTimes(1);
    expect(names(store)).toEqual([API_KEYS, TENANTS]);
    expect(await store.collection(TENANTS).find({})).toEqual([{ _id: 'old', name: 'old' }]);
  });

  it('a projection touching a collection it does not declare fails the rebuild before it could write a live one', async () => {
    const sneaky: Projection = { name: 'sneaky', collections: ['mine'], apply: async (_e, store) => void (await store.collection(TENANTS).insertOne({ _id: 'x' })) };
    const store = new InMemoryReadModelStore();
    await seedLive(store);
    await expect(rebuildReadModels({ events: history(), store, projections: [sneaky] })).rejects.toThrow(/which no projection declares/);
    expect(await store.collection(TENANTS).find({})).toEqual([{ _id: 'old', name: 'old' }]);
    expect(names(store)).toEqual([API_KEYS, TENANTS]);
  });

  it('refuses what makes no sense', async () => {
    const store = new InMemoryReadModelStore();
    await expect(rebuildReadModels({ events: history(), store, projections: [] })).rejects.toThrow(/no projection/);
    await expect(rebuildReadModels({ events: history(), store, projections: [new TenantsProjection()], fromPosition: 1n, dryRun: true })).rejects.toThrow(/not both/);
    const checkpoints: Projection = { name: 'bad', collections: [CHECKPOINTS], apply: async () => undefined };
    await expect(rebuildReadModels({ events: history(), store, projections: [checkpoints] })).rejects.toThrow(/belongs to the projector/);
  });
});

describe('defaultTenantFilter', () => {
  it('the tenant document by _id, everything else by tenantId', () => {
    expect(defaultTenantFilter(TENANTS, 'acme')).toEqual({ _id: 'acme' });
    expect(defaultTenantFilter('connections', 'acme')).toEqual({ tenantId: 'acme' });
  });
});
