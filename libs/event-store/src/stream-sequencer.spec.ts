import fc from 'fast-check';
import type { RecordedEvent } from '@authpipe/contracts';
import type { ReadStreamOptions } from './event-store.port';
import { InMemoryStreamRevisions, StreamSequencer, StreamSequencerOptions } from './stream-sequencer';

/**
 * A history as a store holds it: events of several streams interleaved, `revision` and `position` both the global
 * sequence (JetStream's numbering, where one stream's revisions are not consecutive) or, with `consecutive`, each
 * stream counting 0, 1, 2... (EventStoreDB's). With `recorded`, each event carries its stream's previous revision, as
 * the store recorded it at append (true: every event; a function: the events it picks).
 */
function history(streamOfEach: number[], consecutive = false, recorded: boolean | ((index: number) => boolean) = false): RecordedEvent[] {
  const counts = new Map<number, number>();
  const previous = new Map<number, bigint>();
  return streamOfEach.map((stream, index) => {
    const revision = counts.get(stream) ?? 0;
    counts.set(stream, revision + 1);
    const own = consecutive ? BigInt(revision) : BigInt(index + 1);
    const before = previous.get(stream) ?? null;
    previous.set(stream, own);
    const record = typeof recorded === 'function' ? recorded(index) : recorded;
    return {
      ...(record ? { previousRevision: before } : {}),
      eventId: `e${index + 1}`,
      type: 'Disconnected',
      data: { connectionId: `c${stream}`, tenantId: 't', provider: 'p' },
      metadata: { correlationId: 'c', occurredAt: '2026-11-27T10:00:00.000Z', schemaVersion: 1, producer: 'spec' },
      streamId: `connection-c${stream}`,
      revision: own,
      position: BigInt(index + 1),
    } as RecordedEvent;
  });
}

/** The store's side of the sequencer: reads of one stream's tail, counted. */
function storeOf(events: readonly RecordedEvent[]) {
  const reads: { streamId: string; after?: bigint }[] = [];
  return {
    reads,
    async readStream(streamId: string, options: ReadStreamOptions = {}) {
      reads.push({ streamId, after: options.after });
      return events.filter((e) => e.streamId === streamId && (options.after === undefined || e.revision > options.after));
    },
  };
}

function byStream(events: RecordedEvent[]): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  for (const e of events) (result[e.streamId] ??= []).push(e.eventId);
  return result;
}

async function run(events: RecordedEvent[], delivery: RecordedEvent[], revisions = new InMemoryStreamRevisions(), options: StreamSequencerOptions = {}) {
  const store = storeOf(events);
  const handled: RecordedEvent[] = [];
  const sequencer = new StreamSequencer(store, revisions, async (e) => void handled.push(e), options);
  for (const e of delivery) await sequencer.deliver(e);
  return { handled, store, sequencer, revisions };
}

describe('StreamSequencer', () => {
  it('handles an in-order delivery in its order, once, reading each stream once to learn which revision follows which', async () => {
    const events = history([1, 1, 2, 1, 2]);
    const { handled, store, sequencer } = await run(events, [...events, ...events]);
    expect(handled).toEqual(events);
    // Revisions are global sequences here: the first event of a stream could have a predecessor, so the stream is
    // read; what the read showed proves the stream's later events next without another read.
    expect(store.reads).toEqual([
      { streamId: 'connection-c1', after: undefined },
      { streamId: 'connection-c2', after: undefined },
    ]);
    expect(sequencer.stats).toEqual({ delivered: 10, duplicates: 5, streamReads: 2, handled: 5 });
  });

  it('reads once for a live event it cannot prove next, and not at all for one whose revision follows the last', async () => {
    const events = history([1, 2, 1, 1]);
    const stored = events.slice(0, 1);
    const store = storeOf(stored); // the store as it grows: live events arrive after the first read
    const handled: string[] = [];
    const sequencer = new StreamSequencer(store, new InMemoryStreamRevisions(), async (e) => void handled.push(e.eventId));
    await sequencer.deliver(events[0]);
    stored.push(...events.slice(1));
    await sequencer.deliver(events[2]); // revision 3 after 1: revision 2 is another stream's, but only a read can tell
    await sequencer.deliver(events[3]); // revision 4 after 3: provably next
    expect(handled).toEqual(['e1', 'e3', 'e4']);
    expect(store.reads).toEqual([
      { streamId: 'connection-c1', after: undefined },
      { streamId: 'connection-c1', after: 1n },
    ]);
  });

  it('reads nothing for events that carry their previous revision: a history in order, then live events', async () => {
    const events = history([1, 1, 2, 1, 2, 3, 1], false, true);
    const stored = events.slice(0, 4);
    const store = storeOf(stored);
    const handled: string[] = [];
    const sequencer = new StreamSequencer(store, new InMemoryStreamRevisions(), async (e) => void handled.push(e.eventId));
    for (const e of events.slice(0, 4)) await sequencer.deliver(e);
    stored.push(...events.slice(4));
    for (const e of [...events.slice(4), ...events]) await sequencer.deliver(e);
    expect(handled).toEqual(events.map((e) => e.eventId));
    expect(store.reads).toEqual([]);
    expect(sequencer.stats).toEqual({ delivered: 14, duplicates: 7, streamReads: 0, handled: 7 });
  });

  it('reads when the previous revision an event carries is not the last handled one (a gap), or is unknown', async () => {
    // e1 and e3 carry theirs, e5 (appended with 'any') does not.
    const events = history([1, 2, 1, 2, 1], false, (index) => index !== 4);
    const stored = events.slice(0, 4);
    const store = storeOf(stored);
    const handled: string[] = [];
    const sequencer = new StreamSequencer(store, new InMemoryStreamRevisions(), async (e) => void handled.push(e.eventId));
    await sequencer.deliver(events[2]); // its predecessor (e1) was never handled: read
    await sequencer.deliver(events[0]); // a duplicate now
    stored.push(events[4]);
    await sequencer.deliver(events[4]); // live, predecessor unknown: read
    expect(handled).toEqual(['e1', 'e3', 'e5']);
    expect(store.reads).toEqual([
      { streamId: 'connection-c1', after: undefined },
      { streamId: 'connection-c1', after: 3n },
    ]);
  });

  it('with consecutive revisions (EventStoreDB) an in-order delivery reads nothing', async () => {
    const events = history([1, 2, 1, 1, 2], true);
    const { handled, store } = await run(events, events);
    expect(handled).toEqual(events);
    expect(store.reads).toEqual([]);
  });

  it('fills a gap from the store before the delivered event, and later deliveries of the filled events are duplicates', async () => {
    const events = history([1, 1, 1, 1], true);
    const { handled, store, sequencer } = await run(events, [events[0], events[3], events[1], events[2]]);
    expect(handled.map((e) => e.eventId)).toEqual(['e1', 'e2', 'e3', 'e4']);
    expect(store.reads).toEqual([{ streamId: 'connection-c1', after: 0n }]);
    expect(sequencer.stats).toMatchObject({ duplicates: 2, handled: 4 });
  });

  it('resumes from the saved revisions: after a restart a redelivery of handled events handles nothing', async () => {
    const events = history([1, 2, 1, 2, 1], true);
    const first = await run(events, events.slice(0, 3));
    const second = await run(events, events, first.revisions);
    expect(second.handled.map((e) => e.eventId)).toEqual(['e4', 'e5']);
  });

  it('hands the store a revision only when it is saved after the handler succeeded; a failed handler is retried on redelivery', async () => {
    const events = history([1, 1], true);
    const store = storeOf(events);
    const revisions = new InMemoryStreamRevisions();
    let fail = true;
    const handled: string[] = [];
    const sequencer = new StreamSequencer(store, revisions, async (e) => {
      if (e.eventId === 'e2' && fail) throw new Error('read model down');
      handled.push(e.eventId);
    });
    await sequencer.deliver(events[0]);
    await expect(sequencer.deliver(events[1])).rejects.toThrow('read model down');
    expect(revisions.revisions.get('connection-c1')).toBe(0n);
    fail = false;
    await sequencer.deliver(events[1]);
    expect(handled).toEqual(['e1', 'e2']);
  });

  it('serialises concurrent deliveries', async () => {
    const events = history([1, 1, 1], true);
    const store = storeOf(events);
    const handled: string[] = [];
    let running = 0;
    const sequencer = new StreamSequencer(store, new InMemoryStreamRevisions(), async (e) => {
      expect(++running).toBe(1);
      await new Promise((r) => setTimeout(r, 1));
      handled.push(e.eventId);
      running--;
    });
    await Promise.all([events[2], events[0], events[1], events[2]].map((e) => sequencer.deliver(e)));
    expect(handled).toEqual(['e1', 'e2', 'e3']);
  });

  it('forgets least recently used streams beyond its cache and reloads them from the revisions it saved', async () => {
    const events = history([1, 2, 3, 1, 2, 3], true);
    const store = storeOf(events);
    const revisions = new InMemoryStreamRevisions();
    const loads = jest.spyOn(revisions, 'load');
    const handled: string[] = [];
    const sequencer = new StreamSequencer(store, revisions, async (e) => void handled.push(e.eventId), { cachedStreams: 2 });
    for (const e of [...events, ...events]) await sequencer.deliver(e);
    expect(handled).toEqual(['e1', 'e2', 'e3', 'e4', 'e5', 'e6']);
    expect(loads.mock.calls.length).toBeGreaterThan(3);
  });

  describe('with a floor (the checkpoint the consumer resumed from)', () => {
    // Streams 1 and 2 have events on both sides of the floor (position 3), stream 3 only after it. Every event carries
    // its previous revision, so the first event after the floor of streams 1 and 2 is not provably next.
    const events = history([1, 2, 1, 2, 1, 3], false, true);
    const floor = 3n;
    const afterFloor = events.filter((e) => e.position > floor);

    it('treats the history up to the floor as handled in a stream with no stored revision: redeliveries and gap reads alike', async () => {
      const { handled, store, sequencer } = await run(events, [...afterFloor, ...events], new InMemoryStreamRevisions(), { floor });
      expect(handled.map((e) => e.eventId)).toEqual(['e4', 'e5', 'e6']);
      // Each of streams 1 and 2 read once (their whole stream: nothing says where to start), the events at or below
      // the floor dropped from it; stream 3's first event is provably next.
      expect(store.reads).toEqual([
        { streamId: 'connection-c2', after: undefined },
        { streamId: 'connection-c1', after: undefined },
      ]);
      expect(sequencer.stats).toEqual({ delivered: 9, duplicates: 6, streamReads: 2, handled: 3 });
    });

    it('without it, the same deployment would handle every stream\'s whole history again', async () => {
      const { handled } = await run(events, afterFloor);
      expect(handled.map((e) => e.eventId)).toEqual(['e2', 'e4', 'e1', 'e3', 'e5', 'e6']);
    });

    it('leaves a stream with a stored revision to that revision, also when it lies below the floor', async () => {
      const revisions = new InMemoryStreamRevisions();
      await revisions.save('connection-c1', 1n); // e3 (position 3) not reflected in this consumer's effects
      const { handled, store } = await run(events, afterFloor, revisions, { floor });
      expect(handled.map((e) => e.eventId)).toEqual(['e4', 'e3', 'e5', 'e6']);
      expect(store.reads).toContainEqual({ streamId: 'connection-c1', after: 1n });
    });

    it('any delivery of the events after the floor, with copies of any events in any order, handles exactly those, each stream in its order', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 40 }),
          fc.boolean(),
          fc.func(fc.boolean()),
          fc.nat(),
          fc.func(fc.boolean()),
          fc.func(fc.integer()),
          fc.array(fc.nat(), { maxLength: 40 }),
          async (streams, consecutive, recorded, floorAt, stored, rank, repeats) => {
            const events = history(streams, consecutive, (index) => recorded(index));
            const floor = BigInt(floorAt % (events.length + 1)); // 0: nothing handled yet
            const before = events.filter((e) => e.position <= floor);
            const after = events.filter((e) => e.position > floor);
            // Some streams kept their revision as of the floor, the others have none (an upgrade, a lost record).
            const revisions = new InMemoryStreamRevisions();
            for (const e of before) if (stored(e.streamId)) await revisions.save(e.streamId, e.revision);
            const copies = [...after, ...repeats.map((i) => events[i % events.length])];
            const delivery = copies
              .map((e, i) => ({ e, key: rank(i) }))
              .sort((a, b) => a.key - b.key)
              .map(({ e }) => e);
            const { handled } = await run(events, delivery, revisions, { floor });
            expect(byStream(handled)).toEqual(byStream(after));
            expect(handled).toHaveLength(after.length);
          },
        ),
        { numRuns: 200 },
      );
    });
  });

  it('any delivery that holds every event at least once, repeated and in any order, handles each stream exactly once in its order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 40 }),
        fc.boolean(),
        fc.func(fc.boolean()),
        fc.func(fc.integer()),
        fc.array(fc.nat(), { maxLength: 40 }),
        async (streams, consecutive, recorded, rank, repeats) => {
          // Some events carry their previous revision, some do not (appended with 'any', or before it was recorded).
          const events = history(streams, consecutive, (index) => recorded(index));
          const copies = [...events, ...repeats.map((i) => events[i % events.length])];
          const delivery = copies
            .map((e, i) => ({ e, key: rank(i) }))
            .sort((a, b) => a.key - b.key)
            .map(({ e }) => e);
          const { handled } = await run(events, delivery);
          expect(byStream(handled)).toEqual(byStream(events));
          expect(handled).toHaveLength(events.length);
        },
      ),
      { numRuns: 200 },
    );
  });
});
