import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { Logger } from '@nestjs/common';
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
import { JetStreamEventStore } from '@authpipe/event-store';
import {
  CHECKPOINTS,
  Checkpoint,
  CONNECTIONS,
  ConnectionsProjection,
  ERASED_TENANTS,
  Projection,
  Projector,
  STREAM_CHECKPOINTS,
  TENANT_ACTIVITY,
  TenantActivityProjection,
  TenantsProjection,
} from '@authpipe/projections';
import { Document, InMemoryReadModelStore, MongoDbReadModelStore, ReadModelStore } from '@authpipe/read-models';
import { chooseMongoServer } from '../support/mongodb-server';

/*
 * The Projector over a real JetStream event store (the run's nats-server) and every read-model adapter. Other suites
 * share that server, so each test gets a JetStream stream and a subject prefix of its own.
 */

// The projector logs "caught up" and, in the failure cases here, an expected error: keep the test output clean.
Logger.overrideLogger(false);

const natsUrl = () => {
  const url = process.env.AUTHPIPE_TEST_NATS_URL;
  if (!url) throw new Error('AUTHPIPE_TEST_NATS_URL is not set: run through jest so that test/support/global-setup.ts starts nats-server');
  return url;
};
const uid = () => randomUUID().replace(/-/g, '').slice(0, 10);
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Read-model adapters: in memory always; MongoDB from MONGODB_URL, a mongo:7 container or FerretDB built with Go,
// chosen as in read-model-store.mongodb.test.ts, else skipped loudly.

interface ReadModelAdapter {
  label: string;
  /** Why this adapter cannot run here; the suite is skipped with this reason. */
  unavailable?: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** A new, empty read-model store (a database of its own). */
  open(): Promise<{ store: ReadModelStore; cleanup(): Promise<void> }>;
}

const PROJECTED = [CONNECTIONS, ERASED_TENANTS, 'tenants', 'api_keys', 'integrations', TENANT_ACTIVITY, CHECKPOINTS, STREAM_CHECKPOINTS];

const inMemory: ReadModelAdapter = {
  label: 'InMemoryReadModelStore',
  start: async () => undefined,
  stop: async () => undefined,
  open: async () => {
    const store = new InMemoryReadModelStore();
    return { store, cleanup: () => store.close() };
  },
};

function mongoDb(): ReadModelAdapter {
  const server = chooseMongoServer();
  let url = '';
  if (server.unavailable) console.warn(`SKIPPING the Projector suite on MongoDB: no MongoDB available. ${server.unavailable}`);
  return {
    label: `MongoDbReadModelStore on ${server.label}`,
    ...(server.unavailable ? { unavailable: server.unavailable } : {}),
    start: async () => {
      url = await server.start();
    },
    stop: () => server.stop(),
    open: async () => {
      const store = await MongoDbReadModelStore.connect(url, `authpipe_projector_${uid()}`, { serverSelectionTimeoutMS: 5_000 });
      return {
        store,
        // A shared server (MONGODB_URL) keeps nothing of this run.
        async cleanup() {
          for (const name of PROJECTED) await store.dropCollection(name);
          await store.close();
        },
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// A tenant's life: the history that exists before the projector starts, and what happens after.

const tenantId = 'org_proj';
const at = (minute: number) => new Date(Date.UTC(2026, 10, 27, 10, minute));
const con = (userId: string) => connectionIdFor(tenantId, 'gmail', userId);
const scopes = ['https://www.googleapis.com/auth/gmail.readonly'];

type Planned = { streamId: string; event: NewEvent };
function planned(event: AuthpipeEvent, minute: number): Planned {
  const streamId = 'connectionId' in event.data ? connectionStream(event.data.connectionId) : tenantStream(event.data.tenantId);
  return { streamId, event: createEvent(event, { correlationId: `req-${minute}`, producer: 'projector-test', now: at(minute) }) };
}
const connected = (userId: string, minute: number, credentialVersion = 1) =>
  planned(
    {
      type: 'Connected',
      data: {
        connectionId: con(userId),
        tenantId,
        provider: 'gmail',
        userId,
        scopes,
        expiresAt: at(minute + 60).toISOString(),
        refreshable: true,
        credentialVersion,
      },
    },
    minute,
  );
const refreshed = (userId: string, minute: number, credentialVersion: number) =>
  planned(
    {
      type: 'Refreshed',
      data: { connectionId: con(userId), tenantId, provider: 'gmail', expiresAt: at(minute + 60).toISOString(), credentialVersion, rotated: false },
    },
    minute,
  );

/** Tenant set up, three users connected, one refreshed, one failing to refresh. */
const earlier = (): Planned[] => [
  planned({ type: 'TenantCreated', data: { tenantId, name: 'Projector Test Inc' } }, 0),
  planned({ type: 'ApiKeyIssued', data: { tenantId, keyId: 'key0001abc', keyHash: 'a'.repeat(64), label: 'backend' } }, 1),
  planned({ type: 'IntegrationRegistered', data: { tenantId, provider: 'gmail', clientId: 'client-1', scopes, vaultVersion: 1 } }, 2),
  connected('alice', 3),
  connected('bob', 4),
  connected('carol', 5),
  refreshed('alice', 50, 2),
  planned(
    { type: 'RefreshFailed', data: { connectionId: con('bob'), tenantId, provider: 'gmail', failure: 'invalid_grant', willRetry: false, attempt: 1 } },
    51,
  ),
];
/** Bob revoked and reconnecting, carol leaving, alice refreshed again, the key revoked. */
const later = (): Planned[] => [
  planned(
    { type: 'Revoked', data: { connectionId: con('bob'), tenantId, provider: 'gmail', reason: 'invalid_grant', detectedBy: 'refresher' } },
    52,
  ),
  planned({ type: 'Disconnected', data: { connectionId: con('carol'), tenantId, provider: 'gmail' } }, 53),
  refreshed('alice', 100, 3),
  connected('bob', 101, 2),
  planned({ type: 'ApiKeyRevoked', data: { tenantId, keyId: 'key0001abc' } }, 102),
];

/** Records what the projector hands over, after the real projections ran; may be told to fail or to dawdle. */
class RecordingProjection implements Projection {
  readonly name = 'recording';
  readonly collections = [] as const;
  readonly seen: RecordedEvent[] = [];
  constructor(private readonly before: (event: RecordedEvent) => Promise<void> = async () => undefined) {}
  async apply(event: RecordedEvent): Promise<void> {
    await this.before(event);
    this.seen.push(event);
  }
}

const positions = (events: RecordedEvent[]) => events.map((e) => e.position);

describe.each([inMemory, mongoDb()])('Projector over JetStream with $label', (adapter) => {
  if (adapter.unavailable) {
    it.skip(`skipped: ${adapter.unavailable}`, () => undefined);
    return;
  }

  let nats: NatsConnection;
  let events: JetStreamEventStore;
  let streamName: string;
  let store: ReadModelStore;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    nats = await connect({ servers: natsUrl() });
    await adapter.start();
  }, 60_000);

  afterAll(async () => {
    await adapter.stop();
    await nats?.close();
  });

  beforeEach(async () => {
    const id = uid();
    streamName = `PROJ_TEST_${id}`;
    events = await JetStreamEventStore.create(nats, { streamName, subjectPrefix: `proj_test.${id}.events` });
    const opened = await adapter.open();
    store = opened.store;
    cleanups.push(opened.cleanup);
  });

  // Projectors first (they are at the front), then read-model stores, then the event stream.
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
    await events.close();
    await (await nats.jetstreamManager()).streams.delete(streamName);
  });

  const projectorOn = (readModels: ReadModelStore, ...extra: Projection[]) => {
    const projector = new Projector('query-api', events, readModels, [new ConnectionsProjection(), new TenantsProjection(), ...extra]);
    cleanups.unshift(() => projector.stop());
    return projector;
  };
  /** Appends in order; returns each event's global position. */
  const append = async (plan: Planned[]): Promise<bigint[]> => {
    const appended: bigint[] = [];
    for (const { streamId, event } of plan) {
      appended.push((await events.appendToStream(streamId, [event], { expectedRevision: 'any' })).position);
    }
    return appended;
  };
  /** Every projected document, in _id order per collection; the checkpoints are the projector's, not read models. */
  const readModels = async (readStore: ReadModelStore = store): Promise<Record<string, Document[]>> => {
    const result: Record<string, Document[]> = {};
    for (const name of PROJECTED.filter((n) => n !== CHECKPOINTS && n !== STREAM_CHECKPOINTS)) {
      result[name] = await readStore.collection(name).find({}, { sort: { _id: 1 } });
    }
    return result;
  };
  const checkpoint = () => store.collection<Checkpoint>(CHECKPOINTS).findOne({ _id: 'query-api' });
  /** The same history projected from scratch into a new, empty store of the same adapter. */
  const projectedFromScratch = async () => {
    const opened = await adapter.open();
    cleanups.push(opened.cleanup);
    await projectorOn(opened.store).start();
    return readModels(opened.store);
  };

  it('catches up with the existing history, then projects live events', async () => {
    const history = await append(earlier());
    const recording = new RecordingProjection();
    const projector = projectorOn(store, recording);
    const notified: bigint[] = [];
    projector.onProjected((position) => notified.push(position));

    await projector.start();
    expect(positions(recording.seen)).toEqual(history);
    expect(projector.position).toBe(history[history.length - 1]);
    expect(await checkpoint()).toMatchObject({ position: Number(history[history.length - 1]) });
    const caughtUp = await readModels();
    expect(caughtUp.connections.map((c) => [c.userId, c.status, c.credentialVersion])).toEqual(
      expect.arrayContaining([
        ['alice', 'connected', 2],
        ['bob', 'connected', 1],
        ['carol', 'connected', 1],
      ]),
    );
    expect(caughtUp.connections.find((c) => c.userId === 'bob')).toMatchObject({
      lastRefreshFailure: { failure: 'invalid_grant', willRetry: false },
    });
    expect(caughtUp.tenants).toEqual([expect.objectContaining({ _id: tenantId, name: 'Projector Test Inc' })]);

    const live = await append(later());
    await waitFor('live events projected', () => projector.position >= live[live.length - 1]);
    expect(positions(recording.seen)).toEqual([...history, ...live]);
    expect(notified).toEqual([...history, ...live]);
    expect(await checkpoint()).toMatchObject({ position: Number(live[live.length - 1]) });

    const now = await readModels();
    const byUser = Object.fromEntries(now.connections.map((c) => [c.userId, c]));
    expect(byUser.alice).toMatchObject({ status: 'connected', credentialVersion: 3 });
    expect(byUser.bob).toMatchObject({ status: 'connected', credentialVersion: 2, connectedAt: at(101).toISOString() });
    expect(byUser.bob).not.toHaveProperty('revokedAt');
    expect(byUser.bob).not.toHaveProperty('lastRefreshFailure');
    expect(byUser.carol).toMatchObject({ status: 'disconnected' });
    expect(now.api_keys).toEqual([expect.objectContaining({ _id: 'key0001abc', status: 'revoked' })]);
    // Live projection ends where projecting the whole history at once ends.
    expect(now).toEqual(await projectedFromScratch());
  });

  it('restarts from the stored checkpoint and projects only the later events', async () => {
    await append(earlier());
    const first = projectorOn(store);
    await first.start();
    await first.stop();
    const stoppedAt = (await checkpoint())!.position;

    const whileStopped = await append(later());
    const recording = new RecordingProjection();
    const restarted = projectorOn(store, recording);
    await restarted.start();

    expect(positions(recording.seen)).toEqual(whileStopped);
    expect(positions(recording.seen).every((p) => p > BigInt(stoppedAt))).toBe(true);
    expect(restarted.position).toBe(whileStopped[whileStopped.length - 1]);
    expect(await checkpoint()).toMatchObject({ position: Number(whileStopped[whileStopped.length - 1]) });
    expect(await readModels()).toEqual(await projectedFromScratch());
  });

  it('a checkpoint without per-stream revisions (a deployment from before they were kept, or lost records) hands nothing over twice', async () => {
    await append(earlier());
    const first = projectorOn(store, new TenantActivityProjection());
    await first.start();
    await first.stop();
    expect(await store.collection(STREAM_CHECKPOINTS).deleteMany({ projector: 'query-api' })).toBeGreaterThan(0);
    const stoppedAt = (await checkpoint())!.position;

    // Events of streams that have a history (alice, bob, carol, the tenant's) and of a new one (dave).
    const whileStopped = await append([...later(), connected('dave', 103)]);
    const recording = new RecordingProjection();
    const restarted = projectorOn(store, new TenantActivityProjection(), recording);
    await restarted.start();

    expect(positions(recording.seen)).toEqual(whileStopped);
    expect(positions(recording.seen).every((p) => p > BigInt(stoppedAt))).toBe(true);
    const now = await readModels();
    expect(now[TENANT_ACTIVITY].reduce((sum, doc) => sum + Number(doc.connected ?? 0), 0)).toBe(5); // alice, bob, carol; bob again, dave
    const scratch = await adapter.open();
    cleanups.push(scratch.cleanup);
    await projectorOn(scratch.store, new TenantActivityProjection()).start();
    expect(now).toEqual(await readModels(scratch.store));
  });

  it('a full replay from position 0 over an already-projected store leaves every document identical', async () => {
    const all = await append([...earlier(), ...later()]);
    await projectorOn(store).start();
    const before = await readModels();
    const checkpointBefore = await checkpoint();

    // Both checkpoints: the position to resume from and the per-stream revisions that recognise handled events.
    expect(await store.collection(CHECKPOINTS).deleteOne({ _id: 'query-api' })).toBe(1);
    expect(await store.collection(STREAM_CHECKPOINTS).deleteMany({ projector: 'query-api' })).toBeGreaterThan(0);
    // Not only the end state: after every replayed event (this runs once the real projections applied it), no
    // document may have moved, or readers would see the past during a replay.
    const moved: string[] = [];
    const recording = new RecordingProjection(async (event) => {
      if (!isDeepStrictEqual(await readModels(), before)) moved.push(`${event.type}@${event.position}`);
    });
    await projectorOn(store, recording).start();

    expect(positions(recording.seen)).toEqual(all); // really replayed from the first event
    expect(moved).toEqual([]);
    const after = await readModels();
    expect(after).toStrictEqual(before);
    expect(JSON.stringify(after)).toBe(JSON.stringify(before)); // same fields in the same order too
    expect(await checkpoint()).toMatchObject({ position: checkpointBefore!.position });
  });

  it('an event redelivered to the projections changes nothing, whether handed over again or re-read after a crash', async () => {
    await append([...earlier(), ...later()]);
    const recording = new RecordingProjection();
    await projectorOn(store, recording).start();
    const before = await readModels();

    // The very same RecordedEvent objects, each handed twice more to each projection on its own.
    for (const projection of [new ConnectionsProjection(), new TenantsProjection()]) {
      for (const event of recording.seen) {
        await projection.apply(event, store);
        await projection.apply(event, store);
        expect({ redelivered: `${event.type}@${event.position}`, documents: await readModels() }).toStrictEqual({
          redelivered: `${event.type}@${event.position}`,
          documents: before,
        });
      }
    }

    // A lost or lagging checkpoint: a restart delivers those events again, and the per-stream revisions recognise
    // every one of them: nothing is handed to the projections.
    const lagging = recording.seen[2].position;
    await store.collection<Checkpoint>(CHECKPOINTS).updateOne({ _id: 'query-api' }, { $set: { position: Number(lagging) } });
    const recognised = new RecordingProjection();
    await projectorOn(store, recognised).start();
    expect(recognised.seen).toEqual([]);
    expect(await checkpoint()).toMatchObject({ position: Number(recording.seen[recording.seen.length - 1].position) });

    // A crash between "applied" and "stream revision saved": both lag, so the events are handed over again, and the
    // per-document guards keep every document as it was.
    await store.collection<Checkpoint>(CHECKPOINTS).updateOne({ _id: 'query-api' }, { $set: { position: Number(lagging) } });
    for (const event of recording.seen.slice(3)) {
      await store
        .collection(STREAM_CHECKPOINTS)
        .updateOne({ _id: `query-api:${event.streamId}` }, { $min: { revision: Number(recording.seen.filter((e) => e.streamId === event.streamId && e.position <= lagging).at(-1)?.revision ?? 0) } });
    }
    const redelivered = new RecordingProjection();
    await projectorOn(store, redelivered).start();
    expect(positions(redelivered.seen)).toEqual(positions(recording.seen.slice(3)));
    expect(await readModels()).toStrictEqual(before);
  });

  describe('caughtUp', () => {
    it('on an empty history start resolves at once at position 0, and live events follow', async () => {
      const projector = projectorOn(store);
      await projector.start();
      expect(projector.position).toBe(0n);
      expect(await checkpoint()).toBeNull();

      const [position] = await append([planned({ type: 'TenantCreated', data: { tenantId, name: 'Late' } }, 0)]);
      await waitFor('the first live event', () => projector.position === position);
      expect(await checkpoint()).toMatchObject({ position: Number(position) });
      expect((await readModels()).tenants).toEqual([expect.objectContaining({ name: 'Late' })]);
    });

    it('start resolves only once every event that existed at the call is projected and checkpointed', async () => {
      const history = await append([...earlier(), ...later()]);
      // A slow projection: start must wait for it, not merely for delivery.
      const recording = new RecordingProjection(() => delay(15));
      const projector = projectorOn(store, recording);
      const started = projector.start();
      const late = append([connected('dave', 200)]);

      await started;
      // Read synchronously at resolution: nothing of the history may still be pending.
      expect(positions(recording.seen).slice(0, history.length)).toEqual(history);
      expect(projector.position).toBeGreaterThanOrEqual(history[history.length - 1]);
      expect((await checkpoint())!.position).toBeGreaterThanOrEqual(Number(history[history.length - 1]));
      // An event appended during catch-up is projected too, before or after caughtUp.
      const [davePosition] = await late;
      await waitFor('the event appended during catch-up', () => projector.position >= davePosition);
      expect((await readModels()).connections.map((c) => c.userId)).toContain('dave');
    });

    it('a projector stopped before it caught up rejects start, and a restart finishes the job', async () => {
      const history = await append([...earlier(), ...later()]);
      const projector = projectorOn(store, new RecordingProjection(() => delay(10)));
      projector.onProjected(() => void projector.stop());

      await expect(projector.start()).rejects.toThrow(/before it caught up/);
      const stoppedAt = (await checkpoint())!.position;
      expect(stoppedAt).toBeLessThan(Number(history[history.length - 1]));

      const recording = new RecordingProjection();
      await projectorOn(store, recording).start();
      expect(positions(recording.seen)).toEqual(history.filter((p) => p > BigInt(stoppedAt)));
      expect(await readModels()).toEqual(await projectedFromScratch());
    });

    it('a projection that throws rejects start, keeps the checkpoint before the failed event, and is retried on restart', async () => {
      const history = await append([...earlier(), ...later()]);
      const failing = history[4];
      const broken = new RecordingProjection(async (event) => {
        if (event.position === failing) throw new Error('read model write failed');
      });
      // start() rejects with the projection's own error.
      await expect(projectorOn(store, broken).start()).rejects.toThrow('read model write failed');
      expect(await checkpoint()).toMatchObject({ position: Number(history[3]) });

      const recording = new RecordingProjection();
      await projectorOn(store, recording).start();
      expect(positions(recording.seen)).toEqual(history.slice(4));
      expect(await readModels()).toEqual(await projectedFromScratch());
    });
  });
});
