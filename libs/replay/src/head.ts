import { BACKWARDS, END, EventStoreDBClient } from '@eventstore/db-client';
import type { JetStreamManager, NatsConnection } from 'nats';
import { isValidStreamId } from '@authpipe/contracts';
import { DEFAULT_SUBJECT_PREFIX, isStoredEvent } from '@authpipe/event-store';

/**
 * Where the history ends right now. The EventStore port has no such query (a projector never needs one), so the
 * replay asks the engine: it is what turns "events handled" into a percentage and a time left. query-api asks it
 * too, before it answers "not found": its projector has caught up once its position reaches the head.
 */
export interface HistoryHead {
  /**
   * Global position of the newest event a subscription to all events delivers now; 0n when there is none. A
   * projector that has handled it has handled every event appended before the call.
   */
  position(): Promise<bigint>;
  /** True when positions are consecutive integers (JetStream sequences): then a position difference counts events. */
  readonly contiguous: boolean;
}

/** JetStream API error: no message at that sequence. */
const JS_NO_MESSAGE_FOUND = 10037;

/** How many messages a JetStream head reads back past trailing messages that are not events, at most. */
export const JETSTREAM_HEAD_LOOKBACK = 100;

/**
 * JetStream: the sequence of the stream's last event. Usually its last message; but anyone allowed to publish on an
 * event subject can put a message there that is not an event, which subscriptions skip (a projector never reaches
 * its sequence), so trailing ones are read past, up to JETSTREAM_HEAD_LOOKBACK messages (beyond that the last
 * sequence is answered: a reader waiting for it waits in vain, for its bounded time).
 */
export function jetStreamHead(nats: NatsConnection, streamName: string, subjectPrefix: string = DEFAULT_SUBJECT_PREFIX): HistoryHead {
  let manager: Promise<JetStreamManager> | undefined;
  return {
    contiguous: true,
    async position() {
      // One manager for the head's life: making one costs a round trip (the JetStream API check).
      manager ??= nats.jetstreamManager().catch((err: unknown) => {
        manager = undefined;
        throw err;
      });
      const jsm = await manager;
      const { first_seq: first, last_seq: last } = (await jsm.streams.info(streamName)).state;
      const oldest = Math.max(first, 1);
      const from = Math.max(oldest, last - JETSTREAM_HEAD_LOOKBACK + 1);
      for (let seq = last; seq >= from; seq--) {
        const message = await jsm.streams.getMessage(streamName, { seq }).catch((err: { api_error?: { err_code?: number } }) => {
          if (err.api_error?.err_code === JS_NO_MESSAGE_FOUND) return undefined;
          throw err;
        });
        if (message && isStoredEvent({ subject: message.subject, seq: message.seq, data: message.data, headers: message.header }, subjectPrefix)) {
          return BigInt(seq);
        }
      }
      return from > oldest ? BigInt(last) : 0n;
    },
  };
}

/** How many of $all's newest records the EventStoreDB head reads past, at most, to find an event of ours. */
const EVENTSTOREDB_HEAD_LOOKBACK = 1_000;

/** The records of $all that EventStoreDbEventStore's subscription passes to its handler (events of ours). */
type AllRecord = { type: string; streamId: string; isJson: boolean; position?: { commit: bigint } };

/**
 * Whether a subscription to all events delivers this record: the subscription filters out system events (types
 * starting with `$`, link events included) on the server and anything that is not a JSON event of an Authpipe
 * stream in the client (eventstoredb-subscription.ts, isOurEvent), so a projector never reaches their positions.
 */
export function isDeliveredToSubscribers(record: AllRecord): boolean {
  return !record.type.startsWith('$') && record.isJson && isValidStreamId(record.streamId);
}

/**
 * EventStoreDB: the commit position of the newest event of ours in $all. Positions are byte offsets in the
 * transaction log, so progress is a share of the log, not a count of events. The log's very last records are often
 * system events (statistics every few seconds, projections' bookkeeping) that no subscription of ours receives: they
 * are read past, newest first, so that "caught up with the head" is a position a projector can actually reach.
 */
export function eventStoreDbHead(client: Pick<EventStoreDBClient, 'readAll'>): HistoryHead {
  return {
    contiguous: false,
    async position() {
      // Streamed backwards and left as soon as one is found: the read is as long as the run of system events, and
      // bounded: when the last thousand records are none of ours, the newest position, which a projector reaches only
      // once an event of ours follows (a miss then waits and answers 503, as on JetStream).
      let newest: bigint | undefined;
      let read = 0;
      for await (const resolved of client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: EVENTSTOREDB_HEAD_LOOKBACK })) {
        read++;
        const record = resolved.event;
        if (!record?.position) continue;
        newest ??= record.position.commit;
        if (isDeliveredToSubscribers(record)) return record.position.commit;
      }
      // The whole log read and none of ours: nothing to catch up with.
      return read < EVENTSTOREDB_HEAD_LOOKBACK ? 0n : (newest ?? 0n);
    },
  };
}
