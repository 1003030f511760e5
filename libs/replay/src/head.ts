import { BACKWARDS, END, EventStoreDBClient } from '@eventstore/db-client';
import type { NatsConnection } from 'nats';

/**
 * Where the history ends right now. The EventStore port has no such query (a projector never needs one), so the
 * replay asks the engine: it is what turns "events handled" into a percentage and a time left.
 */
export interface HistoryHead {
  /** Global position of the newest event now; 0n when there is none. */
  position(): Promise<bigint>;
  /** True when positions are consecutive integers (JetStream sequences): then a position difference counts events. */
  readonly contiguous: boolean;
}

/** JetStream: the stream's last sequence. Every message of the event stream is an event (no deletes, no purges). */
export function jetStreamHead(nats: NatsConnection, streamName: string): HistoryHead {
  return {
    contiguous: true,
    async position() {
      const jsm = await nats.jetstreamManager();
      return BigInt((await jsm.streams.info(streamName)).state.last_seq);
    },
  };
}

/**
 * EventStoreDB: the commit position of the last record in $all. Positions are byte offsets in the transaction log,
 * so progress is a share of the log, not a count of events; the last record may be a system event, which the
 * replay never receives (it reports 100 % when its subscription says it caught up).
 */
export function eventStoreDbHead(client: EventStoreDBClient): HistoryHead {
  return {
    contiguous: false,
    async position() {
      for await (const resolved of client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 })) {
        return resolved.event?.position?.commit ?? 0n;
      }
      return 0n;
    },
  };
}
