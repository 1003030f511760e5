import type { EventStoreDBClient } from '@eventstore/db-client';
import { eventStoreDbHead, isDeliveredToSubscribers } from './head';

type EsdbRecord = { type: string; streamId: string; isJson: boolean; position: { commit: bigint; prepare: bigint } };
const at = (commit: number, type: string, streamId: string, isJson = true): { event: EsdbRecord } => ({
  event: { type, streamId, isJson, position: { commit: BigInt(commit), prepare: BigInt(commit) } },
});

/** A client whose $all, read backwards, is `newestFirst`; counts the records handed out. */
function clientReading(newestFirst: { event?: EsdbRecord }[]) {
  const read = { records: 0 };
  const client = {
    readAll: () =>
      (async function* () {
        for (const record of newestFirst) {
          read.records++;
          yield record;
        }
      })(),
  } as unknown as Pick<EventStoreDBClient, 'readAll'>;
  return { client, read };
}

describe('eventStoreDbHead', () => {
  it('is the newest event a subscription delivers, past the system events and foreign records after it', async () => {
    const { client, read } = clientReading([
      at(900, '$statsCollected', '$stats-127.0.0.1:2113'),
      at(800, '$>', '$ce-connection'),
      at(700, 'Something', 'not a stream of ours'),
      at(600, 'Connected', 'connection-abc', false),
      at(500, 'Connected', 'connection-abc'),
      at(400, 'Refreshed', 'connection-def'),
    ]);
    await expect(eventStoreDbHead(client).position()).resolves.toBe(500n);
    expect(read.records).toBe(5); // stops at the first one found
  });

  it('is 0 when the log holds no event of ours', async () => {
    await expect(eventStoreDbHead(clientReading([at(900, '$metadata', '$$$stats')]).client).position()).resolves.toBe(0n);
    await expect(eventStoreDbHead(clientReading([]).client).position()).resolves.toBe(0n);
  });

  it('reads at most 1,000 records back; past that, the newest position (reached once an event of ours follows)', async () => {
    const options: unknown[] = [];
    const stats = Array.from({ length: 1_000 }, (_, i) => at(5_000 - i, '$statsCollected', '$stats-127.0.0.1:2113'));
    const { client } = clientReading(stats);
    const counting = { readAll: (o: unknown) => (options.push(o), client.readAll(o as never)) } as unknown as Pick<EventStoreDBClient, 'readAll'>;
    await expect(eventStoreDbHead(counting).position()).resolves.toBe(5_000n);
    expect(options).toEqual([expect.objectContaining({ maxCount: 1_000 })]);
  });
});

describe('isDeliveredToSubscribers', () => {
  it('passes JSON events of Authpipe streams only', () => {
    expect(isDeliveredToSubscribers({ type: 'Connected', streamId: 'connection-abc', isJson: true })).toBe(true);
    expect(isDeliveredToSubscribers({ type: '$>', streamId: 'connection-abc', isJson: true })).toBe(false);
    expect(isDeliveredToSubscribers({ type: 'Connected', streamId: '$ce-connection', isJson: true })).toBe(false);
    expect(isDeliveredToSubscribers({ type: 'Connected', streamId: 'connection-abc', isJson: false })).toBe(false);
  });
});
