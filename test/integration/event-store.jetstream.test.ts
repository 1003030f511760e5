import { randomUUID } from 'node:crypto';
import { connect, Events, NatsConnection, nanos, StorageType } from 'nats';
import { createEvent, NewEvent, RecordedEvent } from '@authpipe/contracts';
import { createEventStore, DuplicateEventIdError, JetStreamEventStore, SkippedMessage, WrongExpectedRevisionError } from '@authpipe/event-store';
import { startNatsServer } from '../support/nats-server';
import { eventStoreContract } from './event-store.contract';

/*
 * The JetStream adapter against the run's real nats-server. Other suites share that server, so every store here
 * gets a stream name and a subject prefix of its own (JetStream refuses two streams with overlapping subjects).
 */

const natsUrl = () => {
  const url = process.env.AUTHPIPE_TEST_NATS_URL;
  if (!url) throw new Error('AUTHPIPE_TEST_NATS_URL is not set: run through jest so that test/support/global-setup.ts starts nats-server');
  return url;
};
const uid = () => randomUUID().replace(/-/g, '').slice(0, 10);
const isolated = () => {
  const id = uid();
  return { streamName: `AUTHPIPE_EVENTS_TEST_${id}`, subjectPrefix: `authpipe_test.${id}.events` };
};
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const event = (): NewEvent =>
  createEvent(
    { type: 'TenantCreated', data: { tenantId: `t${uid()}`, name: 'Acme' } },
    { correlationId: uid(), producer: 'jetstream-test', now: new Date() },
  );

async function waitFor(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

eventStoreContract('NATS JetStream', async () => {
  const nats = await connect({ servers: natsUrl() });
  const names = isolated();
  const store = await createEventStore({ kind: 'jetstream', nats, ...names });
  return {
    store,
    async cleanup() {
      await store.close();
      await (await nats.jetstreamManager()).streams.delete(names.streamName);
      await nats.close();
    },
  };
});

describe('JetStream event store specifics', () => {
  let nats: NatsConnection;
  const streams: string[] = [];
  const open = async (options: Parameters<typeof JetStreamEventStore.create>[1] = {}) => {
    const names = isolated();
    streams.push(names.streamName);
    return JetStreamEventStore.create(nats, { ...names, ...options });
  };

  beforeAll(async () => {
    nats = await connect({ servers: natsUrl() });
  });

  afterAll(async () => {
    const jsm = await nats.jetstreamManager();
    for (const name of streams) await jsm.streams.delete(name).catch(() => undefined);
    await nats.close();
  });

  it('creates one file-backed, append-only stream with a duplicate window, and reuses it', async () => {
    const store = await open();
    const again = await JetStreamEventStore.create(nats, { streamName: store.streamName, subjectPrefix: store.subjects.prefix });
    const { config } = await (await nats.jetstreamManager()).streams.info(store.streamName);
    expect(config).toMatchObject({
      subjects: [`${store.subjects.prefix}.>`],
      storage: StorageType.File,
      duplicate_window: nanos(120_000),
      deny_delete: true,
      deny_purge: true,
    });
    await again.close();
    await store.close();
  });

  it('refuses an existing stream of that name that does not capture the event subjects', async () => {
    const store = await open();
    await expect(JetStreamEventStore.create(nats, { streamName: store.streamName, subjectPrefix: `other_${uid()}` })).rejects.toThrow(
      /does not capture/,
    );
  });

  it('puts each event stream on its own subject, the sequence being revision and position', async () => {
    const store = await open();
    const e = event();
    const result = await store.appendToStream('connection-con_abc-DEF', [e], { expectedRevision: 'no_stream' });
    const stored = await (await nats.jetstreamManager()).streams.getMessage(store.streamName, {
      last_by_subj: `${store.subjects.prefix}.connection.con_abc-DEF`,
    });
    expect(stored.header.get('Nats-Msg-Id')).toBe(e.eventId);
    expect(stored.header.get('Authpipe-Previous-Revision')).toBe('0');
    expect(BigInt(stored.seq)).toBe(result.position);
    expect(result.nextExpectedRevision).toBe(result.position);
    expect(stored.json()).toEqual({ eventId: e.eventId, type: e.type, data: e.data, metadata: e.metadata });
  });

  it("records no previous revision after an 'any' append: it was not checked", async () => {
    const store = await open();
    const streamId = `tenant-t${uid()}`;
    await store.appendToStream(streamId, [event()], { expectedRevision: 'no_stream' });
    await store.appendToStream(streamId, [event()], { expectedRevision: 'any' });
    const [first, second] = await store.readStream(streamId);
    expect(first.previousRevision).toBeNull();
    expect(second).not.toHaveProperty('previousRevision');
  });

  describe('messages on event subjects that are not events', () => {
    const garbage: { what: string; subject: (prefix: string, id: string) => string; data: Uint8Array; reason: SkippedMessage['reason'] }[] = [
      { what: 'not JSON', subject: (p, id) => `${p}.tenant.${id}`, data: new TextEncoder().encode('{"secret":"hunter2" oops'), reason: 'not_json' },
      { what: 'bad UTF-8', subject: (p, id) => `${p}.tenant.${id}`, data: new Uint8Array([0x7b, 0xc3, 0x28, 0xff, 0x7d]), reason: 'not_utf8' },
      { what: 'JSON of the wrong shape', subject: (p, id) => `${p}.tenant.${id}`, data: new TextEncoder().encode('{"type":"TenantCreated","data":[1]}'), reason: 'not_an_envelope' },
      { what: 'a subject that is no stream', subject: (p) => `${p}.tenant`, data: new TextEncoder().encode('{}'), reason: 'not_an_event_stream' },
    ];

    it('are skipped by reads and subscriptions and reported once each without their body; appends still land after them', async () => {
      const skipped: SkippedMessage[] = [];
      const store = await open({ onSkipped: (m) => skipped.push(m) });
      const prefix = store.subjects.prefix;
      const id = `t${uid()}`;
      const streamId = `tenant-${id}`;
      const js = nats.jetstream();
      const published: bigint[] = [];
      const publishGarbage = async () => {
        for (const g of garbage) published.push(BigInt((await js.publish(g.subject(prefix, id), g.data)).seq));
      };

      // Garbage before the stream's first event: 'no_stream' still holds (no event is there).
      await publishGarbage();
      const first = await store.appendToStream(streamId, [event()], { expectedRevision: 'no_stream' });
      // Garbage after an event: the stream is still at that event's revision.
      await publishGarbage();
      const second = await store.appendToStream(streamId, [event(), event()], { expectedRevision: first.nextExpectedRevision });
      await publishGarbage(); // last in the stream: a subscription must still catch up

      const read = await store.readStream(streamId);
      expect(read.map((e) => e.revision)).toEqual([first.nextExpectedRevision, second.nextExpectedRevision - 1n, second.nextExpectedRevision]);
      // The predecessor recorded is the last event, not the garbage in between: consumers need no read.
      expect(read.map((e) => e.previousRevision)).toEqual([null, read[0].revision, read[1].revision]);
      const seen: RecordedEvent[] = [];
      const subscription = store.subscribeToAll(async (e) => void seen.push(e));
      await subscription.caughtUp;
      await subscription.stop();
      await expect(subscription.closed).resolves.toBeUndefined();
      expect(seen.map((e) => e.eventId)).toEqual(read.map((e) => e.eventId));
      // Met by the appends' reads, the stream's read and the subscription: reported once each.
      const byPosition = [...skipped].sort((a, b) => Number(a.position - b.position));
      expect(byPosition.map((m) => m.position)).toEqual(published);
      expect(byPosition.map((m) => m.location)).toEqual(Array.from({ length: 3 }, () => garbage.map((g) => g.subject(prefix, id))).flat());
      expect(byPosition.map((m) => m.reason)).toEqual(Array.from({ length: 3 }, () => garbage.map((g) => g.reason)).flat());
      expect(JSON.stringify(skipped.map((m) => ({ ...m, position: String(m.position) })))).not.toMatch(/hunter2|oops/);

      // A stale revision is still a conflict, garbage or not.
      await expect(store.appendToStream(streamId, [event()], { expectedRevision: first.nextExpectedRevision })).rejects.toBeInstanceOf(
        WrongExpectedRevisionError,
      );
    });
  });

  it('resolves caughtUp at once on an empty stream', async () => {
    const store = await open();
    const subscription = store.subscribeToAll(async () => undefined);
    await subscription.caughtUp;
    await subscription.stop();
  });

  it('recognises a retry after the duplicate window by the eventIds already in the stream', async () => {
    const store = await open({ duplicateWindowMs: 200 });
    const streamId = `tenant-t${uid()}`;
    const first = [event()];
    const batch = [event(), event()];
    const r1 = await store.appendToStream(streamId, first, { expectedRevision: 'no_stream' });
    const r2 = await store.appendToStream(streamId, batch, { expectedRevision: r1.nextExpectedRevision });
    await store.appendToStream(streamId, [event()], { expectedRevision: r2.nextExpectedRevision });
    await delay(700); // JetStream has forgotten the msg ids by now

    await expect(store.appendToStream(streamId, first, { expectedRevision: 'no_stream' })).resolves.toEqual(r1);
    await expect(store.appendToStream(streamId, batch, { expectedRevision: r1.nextExpectedRevision })).resolves.toEqual(r2);
    // A new event at a stale revision is still a conflict, even next to a known one.
    await expect(store.appendToStream(streamId, [batch[0], event()], { expectedRevision: r1.nextExpectedRevision })).rejects.toBeInstanceOf(
      WrongExpectedRevisionError,
    );
    expect(await store.readStream(streamId)).toHaveLength(4);
  });

  describe('a publish JetStream drops as a duplicate (an eventId seen within the window)', () => {
    it('is success when the stored message is the same fact, even with other metadata (another writer appended it)', async () => {
      const store = await open();
      const streamId = `tenant-t${uid()}`;
      const fact = event();
      const stored = await store.appendToStream(streamId, [fact], { expectedRevision: 'no_stream' });
      const sameFact = { ...fact, metadata: { ...fact.metadata, correlationId: 'another-writer' } };
      await expect(store.appendToStream(streamId, [sameFact], { expectedRevision: 'no_stream' })).resolves.toEqual(stored);
      expect(await store.readStream(streamId)).toHaveLength(1);
    });

    it('is refused with DuplicateEventIdError, not a silent success, when an earlier, different event had the id', async () => {
      const store = await open();
      const streamId = `tenant-t${uid()}`;
      const earlier = event();
      const first = await store.appendToStream(streamId, [earlier], { expectedRevision: 'no_stream' });
      const reusing = { ...event(), eventId: earlier.eventId };
      // At the current revision: the expected-revision check would pass; only the id is a problem.
      const refused = store.appendToStream(streamId, [reusing], { expectedRevision: first.nextExpectedRevision });
      await expect(refused).rejects.toBeInstanceOf(DuplicateEventIdError);
      await expect(refused).rejects.toMatchObject({ code: 'DUPLICATE_EVENT_ID', eventId: earlier.eventId, storedAt: first.position });
      // The same event id in another stream of the store.
      const elsewhere = store.appendToStream(`tenant-t${uid()}`, [{ ...event(), eventId: earlier.eventId }], { expectedRevision: 'no_stream' });
      await expect(elsewhere).rejects.toBeInstanceOf(DuplicateEventIdError);
      // The very same event again, but after the caller had read it (its id is already in the history it decided on).
      const second = await store.appendToStream(streamId, [event()], { expectedRevision: first.nextExpectedRevision });
      await expect(store.appendToStream(streamId, [earlier], { expectedRevision: second.nextExpectedRevision })).rejects.toBeInstanceOf(DuplicateEventIdError);
      expect((await store.readStream(streamId)).map((e) => e.eventId)).toEqual([earlier.eventId, expect.any(String)]);
    });
  });

  it('completes a multi-event append that was cut short when it is retried', async () => {
    const store = await open();
    const streamId = `tenant-t${uid()}`;
    const [a, b] = [event(), event()];
    // What a dropped connection after the first publish leaves behind: only `a` is stored.
    const partial = await store.appendToStream(streamId, [a], { expectedRevision: 'no_stream' });
    const retried = await store.appendToStream(streamId, [a, b], { expectedRevision: 'no_stream' });
    expect(retried.nextExpectedRevision > partial.nextExpectedRevision).toBe(true);
    expect((await store.readStream(streamId)).map((e) => e.eventId)).toEqual([a.eventId, b.eventId]);
  });

  it('keeps delivering after nats-server restarts', async () => {
    const server = await startNatsServer();
    const own = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    try {
      const store = await JetStreamEventStore.create(own);
      const seen: RecordedEvent[] = [];
      const subscription = store.subscribeToAll(async (e) => void seen.push(e));
      await subscription.caughtUp;
      const streamId = `tenant-t${uid()}`;
      const r1 = await store.appendToStream(streamId, [event()], { expectedRevision: 'no_stream' });
      await waitFor('the first event', () => seen.length === 1);

      const reconnected = (async () => {
        for await (const status of own.status()) if (status.type === Events.Reconnect) return;
      })();
      await server.restart();
      await reconnected;

      await store.appendToStream(streamId, [event()], { expectedRevision: r1.nextExpectedRevision });
      await waitFor('the event appended after the restart', () => seen.length === 2);
      expect(seen.map((e) => e.position)).toEqual([1n, 2n]);
      await subscription.stop();
    } finally {
      await own.close();
      await server.stop();
    }
  });
});
