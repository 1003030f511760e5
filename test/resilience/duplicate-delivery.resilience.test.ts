import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import fc from 'fast-check';
import { connect, JSONCodec, NatsConnection } from 'nats';
import {
  AuthpipeEvent,
  connectionIdFor,
  connectionStream,
  createEvent,
  IntegrationEventMessage,
  RecordedEvent,
  RELAYED_EVENT_TYPES,
  tenantStream,
} from '@authpipe/contracts';
import { EventStore, EventSubscription, JetStreamEventStore, ReadStreamOptions, SubscribeOptions } from '@authpipe/event-store';
import { ConnectionsProjection, Projection, Projector, TenantActivityProjection, TenantsProjection } from '@authpipe/projections';
import { Document, InMemoryReadModelStore } from '@authpipe/read-models';
import { IntegrationRelay, IntegrationRelayOptions } from '../../apps/query-api/src/relay/integration-relay';

/*
 * Every event delivered twice and out of order to the projector and to the relay: the read models and the published
 * integration events must be the same as with one clean delivery.
 *
 * Per run (one seed): a realistic history of many tenants, providers and connections is appended to a real JetStream
 * event store (the run's nats-server); a clean projector and relay consume it through the store's own subscription;
 * a second projector and relay consume it through a delivery that hands every event twice in a seeded random order
 * (ChaoticDelivery: it stands in for a broker's redeliveries, not for our services; reads of a stream still go to the
 * real store). Then every read-model collection must be deep-equal, and the integration streams must hold the same
 * messages, each once, in the same order per connection.
 *
 * RESILIENCE_SCALE (default 1) multiplies the seeds run and the size of each history; RESILIENCE_SEED replays one
 * fast-check run (it prints the seed of a failure).
 */

Logger.overrideLogger(false);

const SCALE = Math.max(1, Number(process.env.RESILIENCE_SCALE ?? 1));
const RUNS = 5 * SCALE;
const TENANTS = 4 + SCALE;
const STEPS = 400 * SCALE;
const PROVIDERS = ['gmail', 'discord', 'dialpad', 'aircall', 'clicksend'];

const natsUrl = () => {
  const url = process.env.AUTHPIPE_TEST_NATS_URL;
  if (!url) throw new Error('AUTHPIPE_TEST_NATS_URL is not set: run through jest so that test/support/global-setup.ts starts nats-server');
  return url;
};
const uid = () => randomUUID().replace(/-/g, '').slice(0, 10);
const codec = JSONCodec<IntegrationEventMessage>();

/** mulberry32: a small seeded PRNG, so that a seed names one history and one delivery. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------------------------------------------
// A realistic history: tenants set up, users connecting across providers, refreshes, failures, probes, revocations,
// disconnects, reconnects, keys and integrations changing, some tenants erased (with a straggler event after).

type ConnectionState = 'new' | 'connected' | 'degraded' | 'revoked' | 'disconnected';
interface Connection {
  tenantId: string;
  provider: string;
  userId: string;
  connectionId: string;
  state: ConnectionState;
  credentialVersion: number;
  attempt: number;
}
interface Tenant {
  tenantId: string;
  erased: boolean;
  keys: string[];
  connections: Connection[];
}

async function appendHistory(store: EventStore, seed: number): Promise<void> {
  const random = prng(seed);
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)];
  const revisions = new Map<string, bigint>();
  let minute = 0;
  const append = async (streamId: string, event: AuthpipeEvent) => {
    // Events a few minutes apart, so hourly activity spans several hours.
    minute += 1 + Math.floor(random() * 4);
    const now = new Date(Date.UTC(2026, 10, 27, 8, minute));
    const created = createEvent(event, { correlationId: `req-${minute}`, producer: 'resilience', now });
    const expected = revisions.get(streamId);
    const result = await store.appendToStream(streamId, [created], { expectedRevision: expected ?? 'no_stream' });
    revisions.set(streamId, result.nextExpectedRevision);
  };

  const tenants: Tenant[] = [];
  for (let t = 0; t < TENANTS; t++) {
    const tenantId = `t${seed.toString(36)}_${t}`;
    const tenant: Tenant = { tenantId, erased: false, keys: [], connections: [] };
    tenants.push(tenant);
    await append(tenantStream(tenantId), { type: 'TenantCreated', data: { tenantId, name: `Tenant ${t}` } });
    const providers = PROVIDERS.filter(() => random() < 0.6);
    for (const provider of providers.length ? providers : ['gmail']) {
      await append(tenantStream(tenantId), {
        type: 'IntegrationRegistered',
        data: { tenantId, provider, clientId: `client-${provider}`, scopes: ['read'], vaultVersion: 1 },
      });
      for (let u = 0; u < 1 + Math.floor(random() * 3); u++) {
        const userId = `user${u}`;
        tenant.connections.push({ tenantId, provider, userId, connectionId: connectionIdFor(tenantId, provider, userId), state: 'new', credentialVersion: 0, attempt: 0 });
      }
    }
  }

  const step = async (tenant: Tenant) => {
    const { tenantId } = tenant;
    if (tenant.erased) {
      // In flight when the tenant was erased: a refresh fails (its secrets are gone), nothing else happens.
      const c = pick(tenant.connections.filter((x) => x.state !== 'new'));
      if (c) {
        await append(connectionStream(c.connectionId), {
          type: 'RefreshFailed',
          data: { connectionId: c.connectionId, tenantId, provider: c.provider, failure: 'unexpected', willRetry: false, attempt: ++c.attempt },
        });
      }
      return;
    }
    const roll = random();
    if (roll < 0.05) {
      // Key ids are random in production: unique across tenants.
      const keyId = `k${tenants.indexOf(tenant)}x${tenant.keys.length}x${seed.toString(36)}`.slice(0, 32).padEnd(8, '0');
      tenant.keys.push(keyId);
      await append(tenantStream(tenantId), { type: 'ApiKeyIssued', data: { tenantId, keyId, keyHash: 'ab'.repeat(32), label: 'backend' } });
      return;
    }
    if (roll < 0.07 && tenant.keys.length) {
      await append(tenantStream(tenantId), { type: 'ApiKeyRevoked', data: { tenantId, keyId: pick(tenant.keys) } });
      return;
    }
    if (roll < 0.085) {
      tenant.erased = true;
      await append(tenantStream(tenantId), { type: 'TenantErased', data: { tenantId } });
      return;
    }
    const c = pick(tenant.connections);
    const ids = { connectionId: c.connectionId, tenantId, provider: c.provider };
    const stream = connectionStream(c.connectionId);
    const expiresAt = new Date(Date.UTC(2026, 10, 27, 10, minute)).toISOString();
    const connect = async () => {
      if (random() < 0.15) {
        await append(stream, { type: 'ConnectFailed', data: { ...ids, userId: c.userId, reason: 'access_denied', providerError: 'access_denied' } });
        return;
      }
      c.credentialVersion++;
      c.state = 'connected';
      await append(stream, {
        type: 'Connected',
        data: { ...ids, userId: c.userId, scopes: ['read', `v${c.credentialVersion}`], expiresAt, refreshable: c.provider !== 'clicksend', credentialVersion: c.credentialVersion },
      });
    };
    const r = random();
    switch (c.state) {
      case 'new':
      case 'revoked':
      case 'disconnected':
        if (c.state === 'new' || r < 0.5) await connect();
        return;
      case 'connected':
        if (r < 0.4) {
          c.credentialVersion++;
          await append(stream, { type: 'Refreshed', data: { ...ids, expiresAt, credentialVersion: c.credentialVersion, rotated: random() < 0.5 } });
        } else if (r < 0.6) {
          await append(stream, { type: 'RefreshFailed', data: { ...ids, failure: 'transient', willRetry: true, attempt: ++c.attempt } });
        } else if (r < 0.75) {
          c.state = 'degraded';
          await append(stream, { type: 'Degraded', data: { ...ids, consecutiveFailures: 3, lastFailure: pick(['503', 'timeout', 'network_error']) } });
        } else if (r < 0.87) {
          c.state = 'revoked';
          await append(stream, { type: 'Revoked', data: { ...ids, reason: pick(['invalid_grant', 'probe_unauthorized', 'provider_revoked'] as const), detectedBy: 'refresher' } });
        } else {
          c.state = 'disconnected';
          await append(stream, { type: 'Disconnected', data: ids });
        }
        return;
      case 'degraded':
        if (r < 0.6) {
          c.state = 'connected';
          await append(stream, { type: 'Recovered', data: ids });
        } else if (r < 0.8) {
          await append(stream, { type: 'RefreshFailed', data: { ...ids, failure: 'transient', willRetry: true, attempt: ++c.attempt } });
        } else {
          c.state = 'revoked';
          await append(stream, { type: 'Revoked', data: { ...ids, reason: 'probe_unauthorized', detectedBy: 'health-monitor' } });
        }
        return;
    }
  };
  for (let i = 0; i < STEPS; i++) await step(pick(tenants));

  // Whatever the seed rolled, every event type occurs: one more tenant whose connection goes through each of them.
  const tenantId = `t${seed.toString(36)}_tour`;
  const connectionId = connectionIdFor(tenantId, 'gmail', 'tour');
  const ids = { connectionId, tenantId, provider: 'gmail' };
  const stream = connectionStream(connectionId);
  const expiresAt = new Date(Date.UTC(2026, 10, 27, 12)).toISOString();
  const connected = (credentialVersion: number): AuthpipeEvent => ({
    type: 'Connected',
    data: { ...ids, userId: 'tour', scopes: ['read'], expiresAt, refreshable: true, credentialVersion },
  });
  await append(tenantStream(tenantId), { type: 'TenantCreated', data: { tenantId, name: 'Tour' } });
  await append(tenantStream(tenantId), { type: 'IntegrationRegistered', data: { tenantId, provider: 'gmail', clientId: 'client-gmail', scopes: ['read'], vaultVersion: 1 } });
  for (const event of [
    connected(1),
    { type: 'Refreshed', data: { ...ids, expiresAt, credentialVersion: 2, rotated: false } },
    { type: 'RefreshFailed', data: { ...ids, failure: 'transient', willRetry: true, attempt: 1 } },
    { type: 'Degraded', data: { ...ids, consecutiveFailures: 3, lastFailure: 'timeout' } },
    { type: 'Recovered', data: ids },
    { type: 'Revoked', data: { ...ids, reason: 'invalid_grant', detectedBy: 'refresher' } },
    connected(3),
    { type: 'Disconnected', data: ids },
  ] as AuthpipeEvent[]) {
    await append(stream, event);
  }
  await append(tenantStream(tenantId), { type: 'TenantErased', data: { tenantId } });
}

// ---------------------------------------------------------------------------------------------------------------
// The chaotic delivery: the store's events, each twice, in a seeded random order. Reads and appends go to the store.

class ChaoticDelivery implements EventStore {
  constructor(
    private readonly store: EventStore,
    private readonly delivery: RecordedEvent[],
  ) {}

  appendToStream: EventStore['appendToStream'] = (...args) => this.store.appendToStream(...args);

  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]> {
    return this.store.readStream(streamId, options);
  }

  subscribeToAll(handler: (event: RecordedEvent) => Promise<void>, _options?: SubscribeOptions): EventSubscription {
    let stopping = false;
    let caughtUpResolve!: () => void;
    let closedResolve!: () => void;
    let closedReject!: (err: unknown) => void;
    const caughtUp = new Promise<void>((resolve) => (caughtUpResolve = resolve));
    const closed = new Promise<void>((resolve, reject) => ((closedResolve = resolve), (closedReject = reject)));
    closed.catch(() => undefined);
    const running = (async () => {
      for (const event of this.delivery) {
        if (stopping) return;
        await handler(event);
      }
      caughtUpResolve();
    })().catch((err: unknown) => closedReject(err));
    return {
      caughtUp,
      closed,
      async stop() {
        stopping = true;
        await running;
        closedResolve();
      },
    };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Every event of the store, in global order, through its own subscription. */
async function readAll(store: EventStore): Promise<RecordedEvent[]> {
  const events: RecordedEvent[] = [];
  const subscription = store.subscribeToAll(async (event) => void events.push(event));
  await subscription.caughtUp;
  await subscription.stop();
  return events;
}

function twiceShuffled(events: RecordedEvent[], seed: number): RecordedEvent[] {
  const random = prng(seed ^ 0x5eed);
  const copies = [...events, ...events];
  for (let i = copies.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copies[i], copies[j]] = [copies[j], copies[i]];
  }
  return copies;
}

/** Pairs delivered in the wrong order: how out of order the delivery is. */
function inversions(delivery: RecordedEvent[]): number {
  let count = 0;
  for (let i = 0; i < delivery.length; i++) for (let j = i + 1; j < delivery.length; j++) if (delivery[j].position < delivery[i].position) count++;
  return count;
}

/** A document with its keys sorted, as JSON: field order is an artifact of the update sequence, not of the state. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, canonical(v)]));
}

const projections = (): Projection[] => [new TenantsProjection(), new ConnectionsProjection(), new TenantActivityProjection()];
const collections = [...new Set(projections().flatMap((p) => [...p.collections]))];

async function readModels(store: InMemoryReadModelStore): Promise<Record<string, string[]>> {
  const result: Record<string, string[]> = {};
  for (const name of collections) {
    const documents: Document[] = await store.collection(name).find({}, { sort: { _id: 1 } });
    result[name] = documents.map((d) => JSON.stringify(canonical(d)));
  }
  return result;
}

describe('every event delivered twice and out of order', () => {
  let nats: NatsConnection;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    nats = await connect({ servers: natsUrl(), name: 'duplicate-delivery' });
  });
  afterAll(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
    await nats?.close();
  });

  async function integrationMessages(streamName: string): Promise<IntegrationEventMessage[]> {
    const jsm = await nats.jetstreamManager();
    const { state } = await jsm.streams.info(streamName);
    const messages: IntegrationEventMessage[] = [];
    for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
      messages.push(codec.decode((await jsm.streams.getMessage(streamName, { seq })).data));
    }
    return messages;
  }

  const byConnection = (messages: { eventId: string; connectionId?: string }[]) => {
    const result: Record<string, string[]> = {};
    for (const m of messages) (result[m.connectionId ?? '-'] ??= []).push(m.eventId);
    return result;
  };

  /** Project and relay one delivery of `store`; resolves with the read models and the integration messages. */
  async function consume(label: string, id: string, store: EventStore, last: bigint) {
    const readStore = new InMemoryReadModelStore();
    const projector = new Projector(label, store, readStore, projections());
    await projector.start();
    await projector.stop();
    const options: Partial<IntegrationRelayOptions> = {
      name: label,
      streamName: `DUP_INT_${label}_${id}`,
      subjectPrefix: `dup_test.${id}.${label}`,
      checkpointBucket: `dup_test_${id}_${label}`,
      // JetStream's own deduplication nearly off (its shortest window): no duplicate may come from the relay itself.
      duplicateWindowMs: 100,
    };
    const relay = new IntegrationRelay(nats, store, options);
    relay.start();
    try {
      await within(60_000, `the ${label} relay to catch up`, relay.caughtUp);
    } finally {
      await relay.stop();
    }
    cleanups.push(async () => {
      const jsm = await nats.jetstreamManager();
      for (const name of [options.streamName!, `KV_${options.checkpointBucket}`]) await jsm.streams.delete(name).catch(() => undefined);
    });
    expect({ label, relayedTo: relay.position }).toEqual({ label, relayedTo: last });
    expect({ label, projectedTo: projector.position }).toEqual({ label, projectedTo: last });
    return { readModels: await readModels(readStore), messages: await integrationMessages(options.streamName!), stats: projector.stats, relayStats: relay.stats! };
  }

  it('projects the same read models and publishes the same integration events as one clean delivery', async () => {
    const seeds: string[] = [];
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 31 - 1 }), async (seed) => {
        const id = uid();
        const eventStream = `DUP_EV_${id}`;
        const events = await JetStreamEventStore.create(nats, { streamName: eventStream, subjectPrefix: `dup_test.${id}.events` });
        cleanups.push(async () => (await nats.jetstreamManager()).streams.delete(eventStream).then(() => undefined));
        await appendHistory(events, seed);
        const history = await readAll(events);
        const last = history[history.length - 1].position;
        const delivery = twiceShuffled(history, seed);
        const types = new Set(history.map((e) => e.type));

        const clean = await consume('clean', id, events, last);
        const chaotic = await consume('chaotic', id, new ChaoticDelivery(events, delivery), last);

        // The history is what it should be, and the delivery really is chaotic.
        for (const type of ['Connected', 'Refreshed', 'RefreshFailed', 'Degraded', 'Recovered', 'Revoked', 'Disconnected', 'TenantErased']) {
          expect({ seed, type, present: types.has(type as RecordedEvent['type']) }).toEqual({ seed, type, present: true });
        }
        expect(delivery).toHaveLength(2 * history.length);
        expect(inversions(delivery)).toBeGreaterThan(history.length);

        // Read models: every collection, document for document.
        for (const name of collections) {
          expect({ seed, collection: name, documents: chaotic.readModels[name] }).toEqual({ seed, collection: name, documents: clean.readModels[name] });
        }
        expect(clean.readModels.connections.length).toBeGreaterThan(10);

        // Integration events: exactly the relayed events of the history, once each, in each connection's order.
        const relayed = history
          .filter((e) => (RELAYED_EVENT_TYPES as readonly string[]).includes(e.type))
          .map((e) => ({ eventId: e.eventId, connectionId: (e.data as { connectionId: string }).connectionId }));
        const ids = (messages: IntegrationEventMessage[]) => messages.map((m) => m.eventId);
        expect(new Set(ids(chaotic.messages)).size).toBe(chaotic.messages.length);
        expect([...ids(chaotic.messages)].sort()).toEqual([...ids(clean.messages)].sort());
        expect(byConnection(chaotic.messages)).toEqual(byConnection(relayed));
        expect(byConnection(clean.messages)).toEqual(byConnection(relayed));
        const body = new Map(clean.messages.map((m) => [m.eventId, m]));
        for (const message of chaotic.messages) expect(message).toEqual(body.get(message.eventId));

        // Every event carries its stream's previous revision (appended at an expected revision, as the apps append):
        // a clean in-order delivery never reads a stream to prove which event is next.
        expect({ seed, projectorReads: clean.stats.streamReads, relayReads: clean.relayStats.streamReads }).toEqual({ seed, projectorReads: 0, relayReads: 0 });

        seeds.push(
          `seed ${seed}: ${history.length} events, ${delivery.length} deliveries (${inversions(delivery)} pairs out of order), ` +
            `${relayed.length} relayed, ${clean.readModels.connections.length} connections; ` +
            `clean projector: ${JSON.stringify(clean.stats)}, relay: ${JSON.stringify(clean.relayStats)}; ` +
            `chaotic projector: ${JSON.stringify(chaotic.stats)}, relay: ${JSON.stringify(chaotic.relayStats)}`,
        );
      }),
      // A fixed seed by default, as in the fuzz suites: CI runs the same histories every time; RESILIENCE_SEED picks others.
      { numRuns: RUNS, seed: Number(process.env.RESILIENCE_SEED ?? 20261127) },
    );
    console.log(`duplicate and out-of-order delivery, ${seeds.length} seeds:\n${seeds.join('\n')}`);
  });
});
