import type { NewEvent, RecordedEvent } from '@authpipe/contracts';
import { EventStore, EventStoreUnavailableError, ExpectedRevision } from '@authpipe/event-store';
import { EventWriter } from './event-writer';
import { systemClock } from './tokens';

/** A store whose appends fail `failures` times as unavailable; the first failure happens after storing (a lost ack). */
function flakyStore(failures: number) {
  const appended: { events: NewEvent[]; expectedRevision: ExpectedRevision }[] = [];
  const stored = new Map<string, NewEvent>();
  const store = {
    readStream: async () => [] as RecordedEvent[],
    appendToStream: async (_stream: string, events: NewEvent[], options: { expectedRevision: ExpectedRevision }) => {
      appended.push({ events, expectedRevision: options.expectedRevision });
      for (const e of events) stored.set(e.eventId, e); // deduplicated by eventId, as both adapters do
      if (appended.length <= failures) throw new EventStoreUnavailableError('no ack');
      return { nextExpectedRevision: 1n, position: 1n };
    },
  } as unknown as EventStore;
  return { store, appended, stored };
}

const revokeKey = () => [{ type: 'ApiKeyRevoked', data: { tenantId: 'acme', keyId: 'key12345' } }] as never;

describe('EventWriter under a short event store outage', () => {
  it('retries the very same events (same eventIds, same expected revision), so a lost ack stores nothing twice', async () => {
    const { store, appended, stored } = flakyStore(2);
    const { events } = await new EventWriter(store, 'test', systemClock).decideAndAppend('tenant-acme', revokeKey, { correlationId: 'c1' });
    expect(appended).toHaveLength(3);
    expect(new Set(appended.map((a) => a.events[0].eventId)).size).toBe(1);
    expect(appended.every((a) => a.expectedRevision === 'no_stream')).toBe(true);
    expect(stored.size).toBe(1);
    expect(events[0].eventId).toBe(appended[0].events[0].eventId);
  });

  it('gives up with the store error once the outage outlasts its patience', async () => {
    const { store } = flakyStore(Number.MAX_SAFE_INTEGER);
    const writer = new EventWriter(store, 'test', systemClock, 300);
    await expect(writer.decideAndAppend('tenant-acme', revokeKey, { correlationId: 'c1' })).rejects.toBeInstanceOf(EventStoreUnavailableError);
  });
});
