import { randomUUID } from 'node:crypto';
import { connect, NatsConnection } from 'nats';
import { createEvent, NewEvent, RecordedEvent } from '@authpipe/contracts';
import { JetStreamEventStore } from '@authpipe/event-store';
import { JETSTREAM_HEAD_LOOKBACK, jetStreamHead } from '@authpipe/replay';

/*
 * The JetStream HistoryHead against the run's real nats-server: the position a subscription to all events reaches
 * once caught up, which is what query-api's read-your-writes waits for. Messages that are not events (published
 * straight to an event subject) are skipped by subscriptions, so a head that named one would be waited for in vain.
 */

const natsUrl = () => {
  const url = process.env.AUTHPIPE_TEST_NATS_URL;
  if (!url) throw new Error('AUTHPIPE_TEST_NATS_URL is not set: run through jest so that test/support/global-setup.ts starts nats-server');
  return url;
};
const uid = () => randomUUID().replace(/-/g, '').slice(0, 10);
const event = (): NewEvent =>
  createEvent({ type: 'TenantCreated', data: { tenantId: `t${uid()}`, name: 'Acme' } }, { correlationId: uid(), producer: 'head-test', now: new Date() });

describe('jetStreamHead', () => {
  let nats: NatsConnection;
  const streams: string[] = [];

  beforeAll(async () => {
    nats = await connect({ servers: natsUrl() });
  });

  afterAll(async () => {
    const jsm = await nats.jetstreamManager();
    for (const name of streams) await jsm.streams.delete(name).catch(() => undefined);
    await nats.close();
  });

  async function open() {
    const id = uid();
    const names = { streamName: `HEAD_TEST_${id}`, subjectPrefix: `head_test.${id}.events` };
    streams.push(names.streamName);
    const store = await JetStreamEventStore.create(nats, names);
    return { store, ...names, head: jetStreamHead(nats, names.streamName, names.subjectPrefix) };
  }

  /** The position of the last event a subscription from the start delivers once caught up. */
  async function subscriberReaches(store: JetStreamEventStore): Promise<bigint> {
    const seen: RecordedEvent[] = [];
    const subscription = store.subscribeToAll(async (e) => void seen.push(e));
    await subscription.caughtUp;
    await subscription.stop();
    return seen.length ? seen[seen.length - 1].position : 0n;
  }

  it('is 0 for an empty history, then the last event appended', async () => {
    const { store, head } = await open();
    await expect(head.position()).resolves.toBe(0n);
    await store.appendToStream(`tenant-t${uid()}`, [event()], { expectedRevision: 'no_stream' });
    const { position } = await store.appendToStream(`tenant-t${uid()}`, [event(), event()], { expectedRevision: 'no_stream' });
    await expect(head.position()).resolves.toBe(position);
    await expect(subscriberReaches(store)).resolves.toBe(position);
  });

  it('reads past trailing messages that are not events: the head is what a subscriber reaches', async () => {
    const { store, head, subjectPrefix } = await open();
    const id = `t${uid()}`;
    const { position } = await store.appendToStream(`tenant-${id}`, [event()], { expectedRevision: 'no_stream' });
    const js = nats.jetstream();
    await js.publish(`${subjectPrefix}.tenant.${id}`, new TextEncoder().encode('{"not":"an event"'));
    await js.publish(`${subjectPrefix}.tenant`, new TextEncoder().encode('{}'));
    const last = (await (await nats.jetstreamManager()).streams.info(`HEAD_TEST_${subjectPrefix.split('.')[1]}`)).state.last_seq;
    expect(BigInt(last)).toBe(position + 2n);
    await expect(head.position()).resolves.toBe(position);
    await expect(subscriberReaches(store)).resolves.toBe(position);
  });

  it(`answers the last sequence past ${JETSTREAM_HEAD_LOOKBACK} trailing messages that are not events (bounded work)`, async () => {
    const { store, head, subjectPrefix } = await open();
    const id = `t${uid()}`;
    await store.appendToStream(`tenant-${id}`, [event()], { expectedRevision: 'no_stream' });
    const js = nats.jetstream();
    let last = 0;
    for (let i = 0; i < JETSTREAM_HEAD_LOOKBACK; i++) last = (await js.publish(`${subjectPrefix}.tenant.${id}`, new TextEncoder().encode('garbage'))).seq;
    await expect(head.position()).resolves.toBe(BigInt(last));
  });
});
