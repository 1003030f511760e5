import type { NatsConnection } from 'nats';

/**
 * What JetStream holds, stream by stream: the event store (AUTHPIPE_EVENTS), vault's KV buckets, the flow stores,
 * the audit and integration streams. Every write (a KV put, delete or purge included) moves a stream's last
 * sequence, so two equal snapshots mean nothing was written in between.
 */
export type StoreSnapshot = Record<string, { messages: number; lastSeq: number }>;

export async function snapshotStreams(nc: NatsConnection): Promise<StoreSnapshot> {
  const jsm = await nc.jetstreamManager();
  const snapshot: StoreSnapshot = {};
  for await (const stream of jsm.streams.list()) {
    snapshot[stream.config.name] = { messages: stream.state.messages, lastSeq: stream.state.last_seq };
  }
  return snapshot;
}

/** The streams whose content differs between two snapshots (a new stream counts). */
export function changedStreams(before: StoreSnapshot, after: StoreSnapshot): string[] {
  return Object.keys(after).filter((name) => before[name]?.lastSeq !== after[name].lastSeq || before[name]?.messages !== after[name].messages);
}
