import { randomUUID } from 'node:crypto';
import { createEvent, NewEvent, RecordedEvent } from '@authpipe/contracts';
import { EventStore, EventSubscription, WrongExpectedRevisionError } from '@authpipe/event-store';

/*
 * The one contract every EventStore adapter passes, with the same assertions for each (STYLE.md: emmett's
 * features.ts). The store may be shared with other tests, so every test writes to streams of its own and
 * looks only at those; a subscription from the start may see foreign events and must tolerate them.
 */

const uid = () => randomUUID().replace(/-/g, '').slice(0, 12);
const newStreamId = () => `tenant-t${uid()}`;

let counter = 0;
function tenantCreated(): NewEvent {
  counter += 1;
  return createEvent(
    { type: 'TenantCreated', data: { tenantId: `t${uid()}`, name: `Tenant ${counter}` } },
    { correlationId: `corr-${uid()}`, causationId: `cause-${uid()}`, producer: 'event-store-contract', now: new Date(Date.UTC(2024, 0, 1, 0, 0, counter)) },
  );
}
const events = (n: number) => Array.from({ length: n }, tenantCreated);
const ids = (list: { eventId: string }[]) => list.map((e) => e.eventId);
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(10);
  }
}

/** A subscription that records what it is handed, and checks the handler is never run twice at once. */
function record(store: EventStore, fromPosition?: bigint) {
  const seen: RecordedEvent[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const subscription: EventSubscription = store.subscribeToAll(
    async (event) => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((resolve) => setImmediate(resolve)); // give a second delivery the chance to overlap
      seen.push(event);
      inFlight -= 1;
    },
    fromPosition === undefined ? {} : { fromPosition },
  );
  return {
    subscription,
    seen,
    of: (streamId: string) => seen.filter((e) => e.streamId === streamId),
    get maxInFlight() {
      return maxInFlight;
    },
  };
}

function expectStrictlyIncreasing(values: bigint[]): void {
  for (let i = 1; i < values.length; i++) {
    if (!(values[i] > values[i - 1])) throw new Error(`not strictly increasing at ${i}: ${values[i - 1]} then ${values[i]}`);
  }
}

/**
 * Run the event store contract against one adapter. `factory` is called once for the suite; give a longer
 * `setupTimeoutMs` when it starts a server (a container image pull).
 */
export function eventStoreContract(
  name: string,
  factory: () => Promise<{ store: EventStore; cleanup(): Promise<void> }>,
  options: { setupTimeoutMs?: number } = {},
): void {
  describe(`EventStore contract: ${name}`, () => {
    let store: EventStore;
    let cleanup: (() => Promise<void>) | undefined;

    beforeAll(async () => {
      ({ store, cleanup } = await factory());
    }, options.setupTimeoutMs);

    afterAll(async () => {
      await cleanup?.();
    }, options.setupTimeoutMs);

    describe('appendToStream and readStream', () => {
      it("creates a stream with 'no_stream' and reads every field back, in order", async () => {
        const streamId = newStreamId();
        const written = events(3);
        const result = await store.appendToStream(streamId, written, { expectedRevision: 'no_stream' });

        const read = await store.readStream(streamId);
        expect(read.map(({ eventId, type, data, metadata, streamId: s }) => ({ eventId, type, data, metadata, streamId: s }))).toEqual(
          written.map((e) => ({ ...e, streamId })),
        );
        expectStrictlyIncreasing(read.map((e) => e.revision));
        expect(read[2].revision).toBe(result.nextExpectedRevision);
      });

      it('reads only the events after a revision (how a gap in a delivery is filled)', async () => {
        const streamId = newStreamId();
        await store.appendToStream(streamId, events(2), { expectedRevision: 'no_stream' });
        // Another stream's event in between: revisions of one stream need not be consecutive numbers.
        await store.appendToStream(newStreamId(), events(1), { expectedRevision: 'no_stream' });
        const all = [...(await store.readStream(streamId))];
        await store.appendToStream(streamId, events(2), { expectedRevision: all[1].revision });
        const read = await store.readStream(streamId);
        expect(read).toHaveLength(4);
        expect(await store.readStream(streamId, { after: read[0].revision })).toEqual(read.slice(1));
        expect(await store.readStream(streamId, { after: read[1].revision })).toEqual(read.slice(2));
        expect(await store.readStream(streamId, { after: read[3].revision })).toEqual([]);
        expect(await store.readStream(newStreamId(), { after: 5n })).toEqual([]);
      });

      it('records with each event the revision of the one before it in its stream (null for the first)', async () => {
        const streamId = newStreamId();
        const first = await store.appendToStream(streamId, events(2), { expectedRevision: 'no_stream' });
        await store.appendToStream(newStreamId(), events(1), { expectedRevision: 'no_stream' }); // another stream between
        await store.appendToStream(streamId, events(2), { expectedRevision: first.nextExpectedRevision });
        const read = await store.readStream(streamId);
        expect(read.map((e) => e.previousRevision)).toEqual([null, ...read.slice(0, -1).map((e) => e.revision)]);
        expect((await store.readStream(streamId, { after: read[1].revision })).map((e) => e.previousRevision)).toEqual([read[1].revision, read[2].revision]);

        const rec = record(store);
        await rec.subscription.caughtUp;
        await rec.subscription.stop();
        expect(rec.of(streamId).map((e) => e.previousRevision)).toEqual(read.map((e) => e.previousRevision));
      });

      it("records the previous revision after an 'any' append only if it is the right one (or not at all)", async () => {
        const streamId = newStreamId();
        await store.appendToStream(streamId, events(1), { expectedRevision: 'any' });
        await store.appendToStream(streamId, events(2), { expectedRevision: 'any' });
        const read = await store.readStream(streamId);
        read.forEach((e, i) => {
          if (e.previousRevision !== undefined) expect(e.previousRevision).toBe(i === 0 ? null : read[i - 1].revision);
        });
      });

      it('returns [] for a stream that does not exist', async () => {
        await expect(store.readStream(newStreamId())).resolves.toEqual([]);
      });

      it('appends at the revision returned by the last append and at the revision read from the stream', async () => {
        const streamId = newStreamId();
        const first = await store.appendToStream(streamId, events(1), { expectedRevision: 'no_stream' });
        const second = await store.appendToStream(streamId, events(2), { expectedRevision: first.nextExpectedRevision });
        expect(second.nextExpectedRevision > first.nextExpectedRevision).toBe(true);

        const read = await store.readStream(streamId);
        await store.appendToStream(streamId, events(1), { expectedRevision: read[read.length - 1].revision });
        expect(await store.readStream(streamId)).toHaveLength(4);
      });

      it('rejects a stale revision with WrongExpectedRevisionError and writes nothing', async () => {
        const streamId = newStreamId();
        const first = await store.appendToStream(streamId, events(1), { expectedRevision: 'no_stream' });
        await store.appendToStream(streamId, events(1), { expectedRevision: first.nextExpectedRevision });
        const before = await store.readStream(streamId);

        const stale = store.appendToStream(streamId, events(2), { expectedRevision: first.nextExpectedRevision });
        await expect(stale).rejects.toBeInstanceOf(WrongExpectedRevisionError);
        await expect(stale).rejects.toMatchObject({ code: 'WRONG_EXPECTED_REVISION', streamId });
        expect(await store.readStream(streamId)).toEqual(before);
      });

      it("rejects 'no_stream' when the stream exists, and writes nothing", async () => {
        const streamId = newStreamId();
        await store.appendToStream(streamId, events(1), { expectedRevision: 'no_stream' });
        await expect(store.appendToStream(streamId, events(1), { expectedRevision: 'no_stream' })).rejects.toBeInstanceOf(
          WrongExpectedRevisionError,
        );
        expect(await store.readStream(streamId)).toHaveLength(1);
      });

      it("appends with 'any' to a new and to an existing stream", async () => {
        const streamId = newStreamId();
        const written = events(3);
        await store.appendToStream(streamId, written.slice(0, 1), { expectedRevision: 'any' });
        const result = await store.appendToStream(streamId, written.slice(1), { expectedRevision: 'any' });
        const read = await store.readStream(streamId);
        expect(ids(read)).toEqual(ids(written));
        expect(read[2].revision).toBe(result.nextExpectedRevision);
      });

      it('lets exactly one of several concurrent appends at the same revision win', async () => {
        const streamId = newStreamId();
        const first = await store.appendToStream(streamId, events(1), { expectedRevision: 'no_stream' });
        const contenders = Array.from({ length: 5 }, () => events(2));

        const outcomes = await Promise.allSettled(
          contenders.map((batch) => store.appendToStream(streamId, batch, { expectedRevision: first.nextExpectedRevision })),
        );

        const winners = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [i] : []));
        expect(winners).toHaveLength(1);
        for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toBeInstanceOf(WrongExpectedRevisionError);
        expect(ids((await store.readStream(streamId)).slice(1))).toEqual(ids(contenders[winners[0]]));
      });

      it('stores a retried append (same eventIds, same expected revision) once and reports success', async () => {
        const streamId = newStreamId();
        const single = events(1);
        const first = await store.appendToStream(streamId, single, { expectedRevision: 'no_stream' });
        const batch = events(2);
        const second = await store.appendToStream(streamId, batch, { expectedRevision: first.nextExpectedRevision });

        const retriedFirst = await store.appendToStream(streamId, single, { expectedRevision: 'no_stream' });
        const retriedSecond = await store.appendToStream(streamId, batch, { expectedRevision: first.nextExpectedRevision });

        expect(retriedFirst.nextExpectedRevision).toBe(first.nextExpectedRevision);
        expect(retriedSecond.nextExpectedRevision).toBe(second.nextExpectedRevision);
        expect(ids(await store.readStream(streamId))).toEqual(ids([...single, ...batch]));
      });

      it('does not remember a rejected append: its eventId can be appended later at the right revision', async () => {
        const streamId = newStreamId();
        const first = await store.appendToStream(streamId, events(1), { expectedRevision: 'no_stream' });
        const retried = events(1);
        await expect(store.appendToStream(streamId, retried, { expectedRevision: 'no_stream' })).rejects.toBeInstanceOf(
          WrongExpectedRevisionError,
        );
        await store.appendToStream(streamId, retried, { expectedRevision: first.nextExpectedRevision });
        expect(ids(await store.readStream(streamId))[1]).toBe(retried[0].eventId);
      });

      it('never reports an append stored that was not: a new event reusing an earlier eventId is stored where it says, or refused', async () => {
        const streamId = newStreamId();
        const [earlier] = events(1);
        const first = await store.appendToStream(streamId, [earlier], { expectedRevision: 'no_stream' });
        const reusing = { ...tenantCreated(), eventId: earlier.eventId };
        const outcome = await store.appendToStream(streamId, [reusing], { expectedRevision: first.nextExpectedRevision }).catch((err: Error) => err);
        const read = await store.readStream(streamId);
        if (outcome instanceof Error) {
          expect(read).toHaveLength(1);
        } else {
          expect(read).toHaveLength(2);
          expect(read[1]).toMatchObject({ revision: outcome.nextExpectedRevision, data: reusing.data });
        }
      });

      it('gives positions that increase globally across streams', async () => {
        const a = newStreamId();
        const b = newStreamId();
        const [e1, e2, e3] = events(3);
        const r1 = await store.appendToStream(a, [e1], { expectedRevision: 'no_stream' });
        const r2 = await store.appendToStream(b, [e2], { expectedRevision: 'no_stream' });
        const r3 = await store.appendToStream(a, [e3], { expectedRevision: r1.nextExpectedRevision });
        expectStrictlyIncreasing([r1.position, r2.position, r3.position]);

        const read = [...(await store.readStream(a)), ...(await store.readStream(b))];
        const positionOf = (e: NewEvent) => read.find((r) => r.eventId === e.eventId)!.position;
        expectStrictlyIncreasing([positionOf(e1), positionOf(e2), positionOf(e3)]);
      });
    });

    describe('subscribeToAll', () => {
      it('delivers everything from the start in order, one at a time, then live events', async () => {
        const streamId = newStreamId();
        const before = events(3);
        const appended = await store.appendToStream(streamId, before, { expectedRevision: 'no_stream' });

        const rec = record(store);
        await rec.subscription.caughtUp;
        expect(ids(rec.of(streamId))).toEqual(ids(before)); // handled by the time caughtUp resolves

        const live = events(2);
        await store.appendToStream(streamId, live, { expectedRevision: appended.nextExpectedRevision });
        await waitFor('the live events', () => rec.of(streamId).length === 5);
        await rec.subscription.stop();

        expect(ids(rec.of(streamId))).toEqual(ids([...before, ...live]));
        expect(rec.of(streamId)[0]).toMatchObject({ ...before[0], streamId });
        expectStrictlyIncreasing(rec.seen.map((e) => e.position));
        expect(rec.maxInFlight).toBe(1);
      });

      it('delivers from a checkpoint only the events after it', async () => {
        const streamId = newStreamId();
        const [e1, e2, e3] = events(3);
        const r1 = await store.appendToStream(streamId, [e1], { expectedRevision: 'no_stream' });
        const r2 = await store.appendToStream(streamId, [e2], { expectedRevision: r1.nextExpectedRevision });

        // The checkpoint is what a subscriber keeps: the position of the last event it handled.
        const first = record(store);
        await first.subscription.caughtUp;
        await first.subscription.stop();
        const checkpoint = first.of(streamId)[0].position;

        const second = record(store, checkpoint);
        await second.subscription.caughtUp;
        expect(ids(second.of(streamId))).toEqual([e2.eventId]);

        await store.appendToStream(streamId, [e3], { expectedRevision: r2.nextExpectedRevision });
        await waitFor('the live event', () => second.of(streamId).length === 2);
        await second.subscription.stop();

        expect(ids(second.of(streamId))).toEqual([e2.eventId, e3.eventId]);
        expect(second.seen.every((e) => e.position > checkpoint)).toBe(true);
      });

      it('stop() waits for the running handler, then nothing more is delivered', async () => {
        const streamId = newStreamId();
        const handled: RecordedEvent[] = [];
        let release!: () => void;
        const gate = new Promise<void>((resolve) => (release = resolve));
        let entered = false;
        const subscription = store.subscribeToAll(async (event) => {
          if (event.streamId !== streamId) return;
          entered = true;
          await gate;
          handled.push(event);
        });
        await subscription.caughtUp;

        const r1 = await store.appendToStream(streamId, events(1), { expectedRevision: 'no_stream' });
        await waitFor('the handler to start', () => entered);
        let stopped = false;
        const stopping = subscription.stop().then(() => (stopped = true));
        await delay(50);
        expect(stopped).toBe(false);
        release();
        await stopping;
        expect(handled).toHaveLength(1);

        await store.appendToStream(streamId, events(1), { expectedRevision: r1.nextExpectedRevision });
        await delay(300);
        expect(handled).toHaveLength(1);
        await expect(subscription.closed).resolves.toBeUndefined();
      });

      it('closes with the error when the handler throws', async () => {
        const streamId = newStreamId();
        const boom = new Error('handler failed');
        const subscription = store.subscribeToAll(async (event) => {
          if (event.streamId === streamId) throw boom;
        });
        await subscription.caughtUp;
        await store.appendToStream(streamId, events(1), { expectedRevision: 'no_stream' });
        await expect(subscription.closed).rejects.toBe(boom);
        await subscription.stop();
      });
    });
  });
}
