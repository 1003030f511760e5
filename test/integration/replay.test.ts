import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { MongoClient } from 'mongodb';
import { connect, NatsConnection } from 'nats';
import {
  AuthpipeEvent,
  connectionIdFor,
  connectionStream,
  createEvent,
  NewEvent,
  RecordedEvent,
  tenantStream,
} from '@authpipe/contracts';
import { EventStore, EventStoreDbEventStore, JetStreamEventStore } from '@authpipe/event-store';
import {
  API_KEYS,
  CHECKPOINTS,
  Checkpoint,
  CONNECTIONS,
  ConnectionsProjection,
  ERASED_TENANTS,
  INTEGRATIONS,
  Projection,
  Projector,
  TENANTS,
  TenantsProjection,
} from '@authpipe/projections';
import { Document, InMemoryReadModelStore, MongoDbReadModelStore, ReadModelStore } from '@authpipe/read-models';
import {
  eventHistory,
  eventStoreDbHead,
  HistoryHead,
  jetStreamHead,
  readHistory,
  rebuildReadModels,
  RebuildOptions,
  ReplayProgress,
} from '@authpipe/replay';
import { chooseMongoServer } from '../support/mongodb-server';

/*
 * `replay rebuild` and `replay history` over real event stores (JetStream on the run's nats-server; EventStoreDB
 * where EVENTSTORE_URL or a container runtime exists) and every read-model adapter (in memory; MongoDB from
 * MONGODB_URL, a mongo:7 container or FerretDB, as in projector.test.ts).
 *
 * EventStoreDB's $all is shared by every test on the server, so each test uses tenant ids of its own and compares
 * only the documents of its tenants. JetStream gets a stream of its own per test.
 */

Logger.overrideLogger(process.env.REPLAY_TEST_LOGS ? ["error","warn","log"] : false);

const natsUrl = () => {
  const url = process.env.AUTHPIPE_TEST_NATS_URL;
  if (!url) throw new Error('AUTHPIPE_TEST_NATS_URL is not set: run through jest so that test/support/global-setup.ts starts nats-server');
  return url;
};
const uid = () => randomUUID().replace(/-/g, '').slice(0, 10);
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Event-store adapters

interface EventStoreAdapter {
  label: string;
  unavailable?: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** An event store for one test (JetStream: a stream of its own) and where its history ends. */
  open(): Promise<{ events: EventStore; head: HistoryHead; cleanup(): Promise<void> }>;
}

function jetStream(): EventStoreAdapter {
  let nats: NatsConnection;
  return {
    label: 'JetStream',
    start: async () => {
      nats = await connect({ servers: natsUrl() });
    },
    stop: async () => {
      await nats?.close();
    },
    open: async () => {
      const id = uid();
      const streamName = `REPLAY_TEST_${id}`;
      const events = await JetStreamEventStore.create(nats, { streamName, subjectPrefix: `replay_test.${id}.events` });
      return {
        events,
        head: jetStreamHead(nats, streamName, `replay_test.${id}.events`),
        async cleanup() {
          await events.close();
          await (await nats.jetstreamManager()).streams.delete(streamName);
        },
      };
    },
  };
}

function eventStoreDb(): EventStoreAdapter {
  const externalUrl = process.env.EVENTSTORE_URL;
  const containers = process.env.AUTHPIPE_TEST_CONTAINERS === '1';
  const image = process.env.EVENTSTORE_IMAGE ?? 'eventstore/eventstore:24.10';
  let url = externalUrl ?? '';
  let stopServer: (() => Promise<void>) | undefined;
  if (!externalUrl && !containers) {
    const reason = process.env.AUTHPIPE_TEST_CONTAINERS_REASON ?? 'container runtime not probed';
    process.stderr.write(
      [
        'SKIPPED: replay over EventStoreDB. Rebuild and history were NOT tested on the EventStoreDB adapter in this run.',
        `  why: EVENTSTORE_URL is not set and no container runtime is available (${reason}).`,
        '  to run it: set EVENTSTORE_URL=esdb://host:2113?tls=false, or run where Docker is reachable.',
      ].join('\n') + '\n',
    );
    return { label: 'EventStoreDB', unavailable: `EVENTSTORE_URL not set, no container runtime (${reason})`, start: async () => undefined, stop: async () => undefined, open: () => Promise.reject(new Error('unreachable')) };
  }
  return {
    label: externalUrl ? 'EventStoreDB (EVENTSTORE_URL)' : `EventStoreDB (${image} in a container)`,
    start: async () => {
      if (externalUrl) return;
      const { GenericContainer, Wait } = await import('testcontainers');
      const container = await new GenericContainer(image)
        .withCommand(['--insecure', '--run-projections=All', '--mem-db'])
        .withExposedPorts(2113)
        .withWaitStrategy(Wait.forHttp('/health/live', 2113).forStatusCode(204))
        .withStartupTimeout(120_000)
        .start();
      url = `esdb://${container.getHost()}:${container.getMappedPort(2113)}?tls=false`;
      stopServer = async () => {
        await container.stop();
      };
    },
    stop: async () => stopServer?.(),
    open: async () => {
      const { EventStoreDBClient } = await import('@eventstore/db-client');
      const client = EventStoreDBClient.connectionString(url);
      const events = new EventStoreDbEventStore(client, { ownsClient: true });
      return { events, head: eventStoreDbHead(client), cleanup: () => events.close() };
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Read-model adapters

interface ReadModelAdapter {
  label: string;
  unavailable?: string;
  /** Whether renameCollection works (FerretDB 1.x cannot rename over a collection: the rebuild copies there). */
  renames: boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
  open(): Promise<{ store: ReadModelStore; collectionNames(): Promise<string[]>; cleanup(): Promise<void> }>;
}

const inMemory: ReadModelAdapter = {
  label: 'InMemoryReadModelStore',
  renames: true,
  start: async () => undefined,
  stop: async () => undefined,
  open: async () => {
    const store = new InMemoryReadModelStore();
    // The port cannot list collections; the test looks inside the in-memory store for that one assertion.
    const collectionNames = async () => [...(store as unknown as { collections: Map<string, unknown> }).collections.keys()];
    return { store, collectionNames, cleanup: () => store.close() };
  },
};

function mongoDb(): ReadModelAdapter {
  const server = chooseMongoServer();
  let url = '';
  if (server.unavailable) console.warn(`SKIPPING replay on MongoDB: no MongoDB available. ${server.unavailable}`);
  return {
    label: `MongoDbReadModelStore on ${server.label}`,
    ...(server.unavailable ? { unavailable: server.unavailable } : {}),
    // FerretDB 1.24 rejects renameCollection with dropTarget (read-model-store.mongodb.test.ts lists it).
    renames: server.kind !== 'ferretdb',
    start: async () => {
      url = await server.start();
    },
    stop: () => server.stop(),
    open: async () => {
      const dbName = `authpipe_replay_${uid()}`;
      const store = await MongoDbReadModelStore.connect(url, dbName, { serverSelectionTimeoutMS: 5_000 });
      const client = await MongoClient.connect(url, { serverSelectionTimeoutMS: 5_000 });
      return {
        store,
        collectionNames: async () => (await client.db(dbName).listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name),
        async cleanup() {
          await client.db(dbName).dropDatabase();
          await client.close();
          await store.close();
        },
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// A history: three tenants, connections connected, refreshed, failing, revoked, reconnected, degraded, recovered,
// disconnected, a tenant erased. Tenant ids are unique per test (EventStoreDB's $all is shared).

type Planned = { streamId: string; event: NewEvent };
const at = (minute: number) => new Date(Date.UTC(2026, 10, 27, 10, 0) + minute * 60_000);
const scopes = ['https://www.googleapis.com/auth/gmail.readonly'];

function plan(event: AuthpipeEvent, minute: number): Planned {
  const streamId = 'connectionId' in event.data ? connectionStream(event.data.connectionId) : tenantStream(event.data.tenantId);
  return { streamId, event: createEvent(event, { correlationId: `req-${minute}`, producer: 'replay-test', now: at(minute) }) };
}

class Tenant {
  constructor(readonly id: string) {}
  con = (userId: string) => connectionIdFor(this.id, 'gmail', userId);
  created = (m: number) => plan({ type: 'TenantCreated', data: { tenantId: this.id, name: `Tenant ${this.id}` } }, m);
  erased = (m: number) => plan({ type: 'TenantErased', data: { tenantId: this.id } }, m);
  key = (keyId: string, m: number) =>
    plan({ type: 'ApiKeyIssued', data: { tenantId: this.id, keyId, keyHash: 'a'.repeat(64), label: 'backend' } }, m);
  keyRevoked = (keyId: string, m: number) => plan({ type: 'ApiKeyRevoked', data: { tenantId: this.id, keyId } }, m);
  integration = (m: number) =>
    plan({ type: 'IntegrationRegistered', data: { tenantId: this.id, provider: 'gmail', clientId: `client-${this.id}`, scopes, vaultVersion: 1 } }, m);
  integrationRemoved = (m: number) => plan({ type: 'IntegrationRemoved', data: { tenantId: this.id, provider: 'gmail' } }, m);
  connected = (userId: string, m: number, credentialVersion = 1) =>
    plan(
      {
        type: 'Connected',
        data: {
          connectionId: this.con(userId),
          tenantId: this.id,
          provider: 'gmail',
          userId,
          scopes,
          expiresAt: at(m + 60).toISOString(),
          refreshable: true,
          credentialVersion,
        },
      },
      m,
    );
  refreshed = (userId: string, m: number, credentialVersion: number) =>
    plan(
      {
        type: 'Refreshed',
        data: { connectionId: this.con(userId), tenantId: this.id, provider: 'gmail', expiresAt: at(m + 60).toISOString(), credentialVersion, rotated: false },
      },
      m,
    );
  refreshFailed = (userId: string, m: number) =>
    plan(
      { type: 'RefreshFailed', data: { connectionId: this.con(userId), tenantId: this.id, provider: 'gmail', failure: 'invalid_grant', willRetry: false, attempt: 1 } },
      m,
    );
  revoked = (userId: string, m: number) =>
    plan({ type: 'Revoked', data: { connectionId: this.con(userId), tenantId: this.id, provider: 'gmail', reason: 'invalid_grant', detectedBy: 'refresher' } }, m);
  degraded = (userId: string, m: number) =>
    plan({ type: 'Degraded', data: { connectionId: this.con(userId), tenantId: this.id, provider: 'gmail', consecutiveFailures: 3, lastFailure: '503' } }, m);
  recovered = (userId: string, m: number) =>
    plan({ type: 'Recovered', data: { connectionId: this.con(userId), tenantId: this.id, provider: 'gmail' } }, m);
  disconnected = (userId: string, m: number) =>
    plan({ type: 'Disconnected', data: { connectionId: this.con(userId), tenantId: this.id, provider: 'gmail' } }, m);
}

function tenants() {
  const id = uid();
  return { acme: new Tenant(`acme-${id}`), beta: new Tenant(`beta-${id}`), gone: new Tenant(`gone-${id}`) };
}

function history({ acme, beta, gone }: ReturnType<typeof tenants>): Planned[] {
  return [
    acme.created(0),
    acme.key('key0001acme', 1),
    acme.integration(2),
    beta.created(3),
    beta.key('key0001beta', 4),
    acme.connected('alice', 5),
    acme.connected('bob', 6),
    beta.connected('dave', 7),
    acme.connected('carol', 8),
    gone.created(9),
    gone.connected('erin', 10),
    acme.refreshed('alice', 50, 2),
    beta.refreshed('dave', 51, 2),
    acme.refreshFailed('bob', 52),
    acme.revoked('bob', 53),
    acme.degraded('alice', 54),
    beta.revoked('dave', 55),
    acme.recovered('alice', 56),
    acme.connected('bob', 57, 2),
    acme.disconnected('carol', 58),
    gone.erased(59),
    acme.keyRevoked('key0001acme', 60),
    beta.integration(61),
    beta.integrationRemoved(62),
  ];
}

/** Events that arrive while a rebuild runs. */
function laterHistory({ acme, beta }: ReturnType<typeof tenants>, minute: number): Planned[] {
  return [acme.refreshed('alice', minute, 10 + minute), beta.connected(`late${minute}`, minute + 1), acme.revoked('alice', minute + 2), acme.connected('alice', minute + 3, 100 + minute)];
}

const LIVE = [TENANTS, API_KEYS, INTEGRATIONS, CONNECTIONS, ERASED_TENANTS];
const projections = (): Projection[] => [new TenantsProjection(), new ConnectionsProjection()];

/** Calls `before` before each event, then does nothing: a hook into the rebuild's progress through the history. */
class Hook implements Projection {
  readonly name = 'hook';
  readonly collections = [] as const;
  constructor(private readonly before: (event: RecordedEvent) => Promise<void>) {}
  apply(event: RecordedEvent): Promise<void> {
    return this.before(event);
  }
}

const positions = (events: RecordedEvent[]) => events.map((e) => e.position);

const combinations: [EventStoreAdapter, ReadModelAdapter][] = (() => {
  const js = jetStream();
  const esdb = eventStoreDb();
  const mongo = mongoDb();
  return [
    [js, inMemory],
    [js, mongo],
    [esdb, inMemory],
    [esdb, mongo],
  ];
})();

describe.each(combinations.map(([eventAdapter, readAdapter]) => ({ eventAdapter, readAdapter, title: `${eventAdapter.label} with ${readAdapter.label}` })))(
  'replay over $title',
  ({ eventAdapter, readAdapter }) => {
  const unavailable = eventAdapter.unavailable ?? readAdapter.unavailable;
  if (unavailable) {
    it.skip(`skipped: ${unavailable}`, () => undefined);
    return;
  }

  let events: EventStore;
  let head: HistoryHead;
  let store: ReadModelStore;
  let collectionNames: () => Promise<string[]>;
  let t: ReturnType<typeof tenants>;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    await eventAdapter.start();
    await readAdapter.start();
  }, 300_000);

  afterAll(async () => {
    await readAdapter.stop();
    await eventAdapter.stop();
  }, 60_000);

  beforeEach(async () => {
    const openedEvents = await eventAdapter.open();
    events = openedEvents.events;
    head = openedEvents.head;
    const openedStore = await readAdapter.open();
    store = openedStore.store;
    collectionNames = openedStore.collectionNames;
    cleanups.push(openedStore.cleanup, openedEvents.cleanup);
    t = tenants();
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  const projectorOn = (readModels: ReadModelStore, ...extra: Projection[]) => {
    const projector = new Projector('query-api', events, readModels, [...projections(), ...extra]);
    cleanups.unshift(() => projector.stop());
    return projector;
  };
  const append = async (planned: Planned[]): Promise<bigint[]> => {
    const appended: bigint[] = [];
    for (const { streamId, event } of planned) appended.push((await events.appendToStream(streamId, [event], { expectedRevision: 'any' })).position);
    return appended;
  };
  const ours = (tenantIds: string[]) => (name: string) => (name === TENANTS ? { _id: { $in: tenantIds } } : { tenantId: { $in: tenantIds } });
  /** This test's documents (its tenants only), per live collection, in _id order. */
  const readModels = async (readStore: ReadModelStore = store, tenantIds = [t.acme.id, t.beta.id, t.gone.id]): Promise<Record<string, Document[]>> => {
    const filter = ours(tenantIds);
    const result: Record<string, Document[]> = {};
    for (const name of LIVE) result[name] = await readStore.collection(name).find(filter(name), { sort: { _id: 1 } });
    return result;
  };
  const checkpoint = async () => (await store.collection<Checkpoint>(CHECKPOINTS).findOne({ _id: 'query-api' }))?.position;
  /** The same history projected from scratch by the projector into a new store of the same adapter. */
  const fromScratch = async (tenantIds?: string[]) => {
    const opened = await readAdapter.open();
    cleanups.push(opened.cleanup);
    const projector = projectorOn(opened.store);
    await projector.start();
    await projector.stop();
    return readModels(opened.store, tenantIds);
  };
  /** Project the history live, then damage the live documents as a projection bug would. */
  const projectAndDamage = async () => {
    const projector = projectorOn(store);
    await projector.start();
    await projector.stop();
    await store.collection(CONNECTIONS).updateOne({ _id: t.acme.con('alice') }, { $set: { status: 'wrong', credentialVersion: 999 } });
    await store.collection(CONNECTIONS).updateOne({ _id: t.beta.con('dave') }, { $set: { status: 'wrong' } });
    await store.collection(TENANTS).updateOne({ _id: t.acme.id }, { $set: { name: 'Damaged' } });
    await store.collection(CONNECTIONS).insertOne({ _id: 'con_strayxxxxxxxxxxxxxxxxxx', tenantId: t.acme.id, status: 'stray' });
    await store.collection(CONNECTIONS).insertOne({ _id: 'con_straybetaxxxxxxxxxxxxx', tenantId: t.beta.id, status: 'stray' });
  };
  const rebuild = (options: Partial<RebuildOptions> = {}) => rebuildReadModels({ events, store, head, projections: projections(), ...options });
  const expectedSwap = readAdapter.renames ? 'renamed' : 'copied';
  // A JetStream history is this test's alone; EventStoreDB's $all may hold other tests' events, even meanwhile.
  const isolated = eventAdapter.label === 'JetStream';
  const expectPosition = (actual: bigint | number | undefined, expected: bigint) =>
    isolated ? expect(BigInt(actual!)).toBe(expected) : expect(BigInt(actual!)).toBeGreaterThanOrEqual(expected);

  it('a full rebuild ends equal to projecting the history from scratch, swaps every collection and sets the checkpoint', async () => {
    const appended = await append(history(t));
    await projectAndDamage();
    const damaged = await readModels();
    expect(damaged.connections.map((c) => c.status)).toContain('wrong');

    const result = await rebuild({ suffix: '__rebuild_t1' });

    const scratch = await fromScratch();
    const rebuilt = await readModels();
    expect(rebuilt).toEqual(scratch);
    // Sanity of the history itself: what each kind of event did is there.
    const byUser = Object.fromEntries(rebuilt.connections.map((c) => [c.userId, c]));
    expect(byUser.alice).toMatchObject({ status: 'connected', credentialVersion: 2, health: 'healthy' });
    expect(byUser.bob).toMatchObject({ status: 'connected', credentialVersion: 2 });
    expect(byUser.carol).toMatchObject({ status: 'disconnected' });
    expect(byUser.dave).toMatchObject({ status: 'revoked', revocationReason: 'invalid_grant' });
    expect(byUser.erin).toMatchObject({ status: 'erased' });
    expect(rebuilt.tenants.map((x) => [x._id, x.status])).toEqual(
      expect.arrayContaining([
        [t.acme.id, 'active'],
        [t.gone.id, 'erased'],
      ]),
    );
    expect(rebuilt.api_keys.map((k) => k.status).sort()).toEqual(['active', 'revoked']);
    expect(rebuilt.integrations.map((i) => i.status).sort()).toEqual(['active', 'removed']);

    const last = appended[appended.length - 1];
    expect(result).toMatchObject({ mode: 'full', dryRun: false, checkpoint: { name: 'query-api' } });
    expectPosition(result.rebuiltTo, last);
    expectPosition(result.position, last);
    expect(result.checkpoint!.position).toBe(result.position);
    expect(result.collections.map((c) => [c.live, c.fresh, c.swap])).toEqual(LIVE.map((name) => [name, `${name}__rebuild_t1`, expectedSwap]));
    expect(await checkpoint()).toBe(Number(result.position));
    expect((await collectionNames()).filter((name) => name.includes('__rebuild_'))).toEqual([]);
    if (!readAdapter.renames) expect(result.notes.join('\n')).toMatch(/cannot rename over a collection/);

    // The projector resumes from the rebuild's checkpoint: nothing left to project.
    const seen: RecordedEvent[] = [];
    await projectorOn(store, new Hook(async (e) => void seen.push(e))).start();
    if (isolated) expect(seen).toEqual([]);
    expect(positions(seen).every((p) => p > result.position)).toBe(true);
  });

  it('the live collections serve unchanged until the swap, while the fresh ones fill', async () => {
    await append(history(t));
    await projectAndDamage();
    const before = await readModels();
    const checkpointBefore = await checkpoint();
    const observed: { live: Record<string, Document[]>; fresh: number }[] = [];
    const hook = new Hook(async () => {
      observed.push({ live: await readModels(), fresh: await store.collection(`${CONNECTIONS}__rebuild_t2`).countDocuments({}) });
    });

    await rebuild({ projections: [...projections(), hook], suffix: '__rebuild_t2' });

    expect(observed.length).toBeGreaterThanOrEqual(history(t).length);
    for (const seen of observed) expect(seen.live).toEqual(before);
    expect(Math.max(...observed.map((o) => o.fresh))).toBeGreaterThan(0);
    expect(await checkpoint()).toBeGreaterThanOrEqual(checkpointBefore!);
    expect(await readModels()).toEqual(await fromScratch());
  });

  it('a failed rebuild leaves the live collections and the checkpoint untouched and drops its fresh collections', async () => {
    const appended = await append(history(t));
    await projectAndDamage();
    const before = await readModels();
    const checkpointBefore = await checkpoint();
    const failing = appended[10];
    const broken = new Hook(async (event) => {
      if (event.position === failing) throw new Error('projection bug');
    });

    await expect(rebuild({ projections: [...projections(), broken], suffix: '__rebuild_t3' })).rejects.toThrow('projection bug');

    expect(await readModels()).toEqual(before);
    expect(await checkpoint()).toBe(checkpointBefore);
    expect((await collectionNames()).filter((name) => name.includes('__rebuild_'))).toEqual([]);

    // An operator's abort (Ctrl-C) midway is a failure like any other.
    const controller = new AbortController();
    const aborting = new Hook(async (event) => {
      if (event.position === failing) controller.abort(new Error('aborted by the operator'));
    });
    await expect(rebuild({ projections: [...projections(), aborting], signal: controller.signal })).rejects.toThrow('aborted by the operator');
    expect(await readModels()).toEqual(before);
    expect(await checkpoint()).toBe(checkpointBefore);
    expect((await collectionNames()).filter((name) => name.includes('__rebuild_'))).toEqual([]);
  });

  it('a dry run rebuilds, counts and discards: nothing live changes', async () => {
    await append(history(t));
    await projectAndDamage();
    const before = await readModels();
    const result = await rebuild({ dryRun: true });
    expect(await readModels()).toEqual(before);
    const scratch = await fromScratch();
    expect(result.collections.every((c) => c.swap === 'discarded')).toBe(true);
    // Counts cover every tenant in the history (on EventStoreDB: every earlier test's too), at least ours.
    expect(result.collections.find((c) => c.live === CONNECTIONS)!.documents).toBeGreaterThanOrEqual(scratch.connections.length);
    expect((await collectionNames()).filter((name) => name.includes('__rebuild_'))).toEqual([]);
  });

  it('events appended during the rebuild: the swapped-in collections catch up and the checkpoint lets the projector continue', async () => {
    const appended = await append(history(t));
    const live = projectorOn(store);
    await live.start();
    // Appended while the rebuild is halfway; the live projector above projects them into the old collections, which
    // the swap then replaces. (The test waits for that, so that no event is projected during the swap itself: see
    // the README for that race.)
    let during: Promise<bigint[]> | undefined;
    const hook = new Hook(async (event) => {
      if (event.position === appended[12] && !during) {
        during = append(laterHistory(t, 200));
        const added = await during;
        await waitFor('the live projector', () => live.position >= added[added.length - 1]);
      }
    });

    const result = await rebuild({ projections: [...projections(), hook] });
    const duringPositions = await during!;

    // Caught up with the history as it was at the start, possibly more; the rest was applied after the swap.
    expect(result.rebuiltTo).toBeGreaterThanOrEqual(appended[appended.length - 1]);
    expectPosition(result.position, duringPositions[duringPositions.length - 1]);
    expect(await checkpoint()).toBe(Number(result.position));
    expect(await readModels()).toEqual(await fromScratch());

    // More events after the rebuild: the projector (still running from before) carries on over the swapped-in collections.
    const after = await append(laterHistory(t, 300));
    const resumed = projectorOn(store);
    await resumed.start();
    await waitFor('events after the rebuild', async () => (await checkpoint())! >= Number(after[after.length - 1]));
    expect(await readModels()).toEqual(await fromScratch());
  });

  it('in process: the live projector pauses for the swap and resumes from the checkpoint while events keep coming', async () => {
    await append(history(t));
    let projector = projectorOn(store);
    await projector.start();
    let keepAppending = true;
    let minute = 400;
    const appender = (async () => {
      // A few events at a time, as a live platform would, bounded so that a slow store (FerretDB) keeps up.
      for (let batch = 0; keepAppending && batch < 40; batch++) {
        await append(laterHistory(t, minute));
        minute += 5;
        await delay(10);
      }
    })();

    const phases: string[] = [];
    const batchesBefore = minute;
    await rebuild({
      // A little slower than it would be, so that batches surely arrive during the replay.
      projections: [...projections(), new Hook(() => delay(3))],
      onProgress: (p) => phases.push(p.phase),
      beforeSwap: () => projector.stop(),
      afterSwap: async () => {
        projector = projectorOn(store);
        await projector.start();
      },
    });
    const batchesDuring = (minute - batchesBefore) / 5;
    keepAppending = false;
    await appender;
    expect(batchesDuring).toBeGreaterThan(0);
    const [last] = await append([t.beta.connected('final', 999)]);
    await waitFor('the resumed projector', () => projector.position >= last, 30_000);

    expect(await readModels()).toEqual(await fromScratch());
    expect(phases).toEqual(expect.arrayContaining(['replaying', 'swapping', 'catching-up', 'done']));
  });

  it('one tenant: only that tenant\'s documents are rebuilt; other tenants and the checkpoint stay as they were', async () => {
    await append(history(t));
    await projectAndDamage();
    const before = await readModels();
    const checkpointBefore = await checkpoint();

    const result = await rebuild({ tenantId: t.acme.id });

    const acmeNow = await readModels(store, [t.acme.id]);
    expect(acmeNow).toEqual(await fromScratch([t.acme.id])); // damage repaired, the stray document deleted
    const others = await readModels(store, [t.beta.id, t.gone.id]);
    const othersBefore = Object.fromEntries(
      Object.entries(before).map(([name, docs]) => [name, docs.filter((d) => (name === TENANTS ? d._id !== t.acme.id : d.tenantId !== t.acme.id))]),
    );
    expect(others).toEqual(othersBefore); // beta's damage and stray document are still there
    expect(others.connections.find((c) => c.userId === 'dave')).toMatchObject({ status: 'wrong' });
    expect(await checkpoint()).toBe(checkpointBefore);
    expect(result).toMatchObject({ mode: 'tenant', tenantId: t.acme.id, checkpoint: null });
    expect(result.applied).toBe(history(t).filter((p) => (p.event.data as { tenantId: string }).tenantId === t.acme.id).length);
    expect(result.collections.find((c) => c.live === CONNECTIONS)).toMatchObject({ swap: 'merged', documents: 3, deleted: 1 });
    expect((await collectionNames()).filter((name) => name.includes('__rebuild_'))).toEqual([]);
  });

  it('from a position: applies the later events over the live collections and moves the checkpoint only when that joins up', async () => {
    const planned = history(t);
    const firstPart = await append(planned.slice(0, 12));
    const projector = projectorOn(store);
    await projector.start();
    await projector.stop();
    const stoppedAt = BigInt((await checkpoint())!);
    expectPosition(stoppedAt, firstPart[firstPart.length - 1]);
    const rest = await append(planned.slice(12));

    const joined = await rebuild({ fromPosition: stoppedAt });
    expect(joined).toMatchObject({ mode: 'from-position', fromPosition: stoppedAt });
    if (isolated) expect(joined.events).toBe(rest.length);
    expectPosition(joined.checkpoint!.position, rest[rest.length - 1]);
    expect(joined.collections.every((c) => c.swap === 'in place')).toBe(true);
    expect(await readModels()).toEqual(await fromScratch());
    expect(await checkpoint()).toBe(Number(joined.checkpoint!.position));

    // Replaying events already applied changes nothing (idempotent projections).
    const before = await readModels();
    await rebuild({ fromPosition: firstPart[3] });
    expect(await readModels()).toEqual(before);

    // From a position past the checkpoint: the gap is not replayed, so the checkpoint must not jump over it.
    await store.collection(CHECKPOINTS).updateOne({ _id: 'query-api' }, { $set: { position: Number(firstPart[2]) } });
    const gap = await rebuild({ fromPosition: rest[0] });
    expect(gap.checkpoint).toBeNull();
    expect(gap.notes.join('\n')).toMatch(/checkpoint of query-api left at/);
    expect(await checkpoint()).toBe(Number(firstPart[2]));
  });

  it('reports progress: percent by position, events per second, time left, and the phase', async () => {
    const appended = await append(history(t));
    const reports: ReplayProgress[] = [];
    await rebuild({ onProgress: (p) => reports.push(p), progressIntervalMs: 0 });

    const replaying = reports.filter((r) => r.phase === 'replaying');
    expect(replaying.length).toBeGreaterThan(history(t).length);
    const fractions = replaying.map((r) => r.fraction!);
    expect(fractions.every((f, i) => i === 0 || f >= fractions[i - 1])).toBe(true);
    expect(fractions[0]).toBe(0);
    expect(fractions[fractions.length - 1]).toBe(1);
    const lastReport = replaying[replaying.length - 1];
    expectPosition(lastReport.position, appended[appended.length - 1]);
    expect(lastReport.eventsPerSecond).toBeGreaterThan(0);
    expect(lastReport.secondsLeft).toBe(0);
    if (head.contiguous) expect(replaying[0].totalEvents).toBe(appended.length);
    expect(reports[reports.length - 1].phase).toBe('done');
  });

  it('history: the raw events of one connection and of one tenant, in order, as JSON lines', async () => {
    await append(history(t));
    const bob = await readHistory(events, { connectionId: t.acme.con('bob') });
    expect(bob.map((e) => e.type)).toEqual(['Connected', 'RefreshFailed', 'Revoked', 'Connected']);
    expect(bob.map((e) => e.position)).toEqual([...positions(bob)].sort((a, b) => (a < b ? -1 : 1)));
    expect(bob.every((e) => e.streamId === connectionStream(t.acme.con('bob')))).toBe(true);

    const lines = await eventHistory(events, { tenantId: t.acme.id });
    const parsed = lines.map((line) => JSON.parse(line));
    expect(parsed.map((e) => e.type)).toEqual(['TenantCreated', 'ApiKeyIssued', 'IntegrationRegistered', 'ApiKeyRevoked']);
    const raw = await readHistory(events, { tenantId: t.acme.id });
    expect(parsed).toEqual(
      raw.map((e) => ({
        position: Number(e.position),
        streamId: e.streamId,
        revision: Number(e.revision),
        eventId: e.eventId,
        type: e.type,
        data: e.data,
        metadata: e.metadata,
      })),
    );
    expect(parsed[0]).toMatchObject({ streamId: tenantStream(t.acme.id), data: { tenantId: t.acme.id, name: `Tenant ${t.acme.id}` } });
    expect(await eventHistory(events, { connectionId: t.acme.con('nobody') })).toEqual([]);
  });
  },
);
