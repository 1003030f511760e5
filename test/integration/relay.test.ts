import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { connect, JSONCodec, NatsConnection, StoredMsg, Subscription } from 'nats';
import { AuthpipeEvent, connectionIdFor, connectionStream, createEvent, IntegrationEventMessage, NewEvent, tenantStream } from '@authpipe/contracts';
import { JetStreamEventStore } from '@authpipe/event-store';
import { IntegrationRelay, IntegrationRelayOptions } from '../../apps/query-api/src/relay/integration-relay';

/*
 * The relay from the event store to the integration stream, over a real JetStream event store on the run's
 * nats-server. Other suites share that server, so each test has its own event stream, integration stream, subject
 * prefix and checkpoint bucket. A plain NATS subscription on the integration subjects sees every publish attempt
 * (JetStream publishes are NATS messages), duplicates included: that is how "published again" is observed, while
 * the stream itself shows what was stored.
 */

Logger.overrideLogger(false);

const natsUrl = () => {
  const url = process.env.AUTHPIPE_TEST_NATS_URL;
  if (!url) throw new Error('AUTHPIPE_TEST_NATS_URL is not set: run through jest so that test/support/global-setup.ts starts nats-server');
  return url;
};
const uid = () => randomUUID().replace(/-/g, '').slice(0, 10);
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const codec = JSONCodec<IntegrationEventMessage>();

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

const tenantId = 'org_relay';
const con = (provider: string, userId: string) => connectionIdFor(tenantId, provider, userId);
let minute = 0;
function planned(event: AuthpipeEvent): { streamId: string; event: NewEvent } {
  const streamId = 'connectionId' in event.data ? connectionStream(event.data.connectionId) : tenantStream(event.data.tenantId);
  return { streamId, event: createEvent(event, { correlationId: `req-${++minute}`, producer: 'relay-test', now: new Date(Date.UTC(2026, 5, 1, 10, minute % 60)) }) };
}
const tenantCreated = () => planned({ type: 'TenantCreated', data: { tenantId, name: 'Relay' } });
const integrationRegistered = () =>
  planned({ type: 'IntegrationRegistered', data: { tenantId, provider: 'gmail', clientId: 'client', scopes: ['openid'], vaultVersion: 1 } });
const connected = (provider: string, userId: string) =>
  planned({
    type: 'Connected',
    data: { connectionId: con(provider, userId), tenantId, provider, userId, scopes: ['openid'], expiresAt: null, refreshable: false, credentialVersion: 1 },
  });
const degraded = (provider: string, userId: string) =>
  planned({ type: 'Degraded', data: { connectionId: con(provider, userId), tenantId, provider, consecutiveFailures: 3, lastFailure: '503' } });
const recovered = (provider: string, userId: string) => planned({ type: 'Recovered', data: { connectionId: con(provider, userId), tenantId, provider } });
const revoked = (provider: string, userId: string) =>
  planned({ type: 'Revoked', data: { connectionId: con(provider, userId), tenantId, provider, reason: 'probe_unauthorized', detectedBy: 'health-monitor' } });

describe('IntegrationRelay over JetStream', () => {
  let nats: NatsConnection;
  let events: JetStreamEventStore;
  let options: Partial<IntegrationRelayOptions> & { streamName: string; subjectPrefix: string; checkpointBucket: string };
  let eventStream: string;
  let raw: { subject: string; msgId: string | undefined }[];
  let tap: Subscription;
  const relays: IntegrationRelay[] = [];

  const newRelay = () => {
    const relay = new IntegrationRelay(nats, events, { ...options, retryMinMs: 50, retryMaxMs: 200 });
    relays.push(relay);
    return relay;
  };
  async function append(...plan: { streamId: string; event: NewEvent }[]): Promise<bigint> {
    let last = 0n;
    for (const { streamId, event } of plan) last = (await events.appendToStream(streamId, [event], { expectedRevision: 'any' })).position;
    return last;
  }
  const relayedUpTo = (relay: IntegrationRelay, position: bigint) => waitFor(`the relay to reach position ${position}`, () => (relay.position ?? 0n) >= position);
  async function stored(): Promise<StoredMsg[]> {
    const jsm = await nats.jetstreamManager();
    const { state } = await jsm.streams.info(options.streamName);
    const messages: StoredMsg[] = [];
    for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) messages.push(await jsm.streams.getMessage(options.streamName, { seq }));
    return messages;
  }
  const checkpointKv = async () => (await nats.jetstream().views.kv(options.checkpointBucket)).get('integration-events');

  beforeAll(async () => {
    nats = await connect({ servers: natsUrl(), name: 'relay-test' });
  });
  afterAll(async () => {
    await nats?.close();
  });

  beforeEach(async () => {
    const id = uid();
    eventStream = `RELAY_EV_${id}`;
    events = await JetStreamEventStore.create(nats, { streamName: eventStream, subjectPrefix: `relay_test.${id}.events` });
    options = { streamName: `RELAY_INT_${id}`, subjectPrefix: `relay_test.${id}.integration`, checkpointBucket: `relay_test_${id}` };
    raw = [];
    tap = nats.subscribe(`${options.subjectPrefix}.>`, {
      callback: (_err, msg) => raw.push({ subject: msg.subject, msgId: msg.headers?.get('Nats-Msg-Id') }),
    });
  });

  afterEach(async () => {
    await Promise.all(relays.splice(0).map((r) => r.stop()));
    tap.unsubscribe();
    await events.close();
    const jsm = await nats.jetstreamManager();
    for (const stream of [eventStream, options.streamName, `KV_${options.checkpointBucket}`]) await jsm.streams.delete(stream).catch(() => undefined);
  });

  it('publishes each relayed event once, on its tenant/provider/type subject, with Nats-Msg-Id = eventId; tenant administration stays internal', async () => {
    const history = [tenantCreated(), integrationRegistered(), connected('gmail', 'u1'), connected('discord', 'u2'), degraded('discord', 'u2')];
    await append(...history);
    const relay = newRelay();
    relay.start();
    await relay.caughtUp;
    const live = [recovered('discord', 'u2'), revoked('gmail', 'u1'), planned({ type: 'ApiKeyRevoked', data: { tenantId, keyId: 'abcdefgh' } })];
    const last = await append(...live);
    await relayedUpTo(relay, last);

    const relayed = [...history, ...live].filter((p) => !['TenantCreated', 'IntegrationRegistered', 'ApiKeyRevoked'].includes(p.event.type));
    const messages = await stored();
    expect(messages.map((m) => m.subject)).toEqual([
      `${options.subjectPrefix}.org_relay.gmail.Connected`,
      `${options.subjectPrefix}.org_relay.discord.Connected`,
      `${options.subjectPrefix}.org_relay.discord.Degraded`,
      `${options.subjectPrefix}.org_relay.discord.Recovered`,
      `${options.subjectPrefix}.org_relay.gmail.Revoked`,
    ]);
    expect(messages.map((m) => m.header?.get('Nats-Msg-Id'))).toEqual(relayed.map((p) => p.event.eventId));
    const revokedMessage = codec.decode(messages[4].data);
    expect(revokedMessage).toEqual({
      eventId: live[1].event.eventId,
      type: 'Revoked',
      occurredAt: live[1].event.metadata.occurredAt,
      tenantId,
      provider: 'gmail',
      connectionId: con('gmail', 'u1'),
      data: live[1].event.data,
    });
    // Published once each: no attempt beyond one per relayed event.
    expect(raw.map((r) => r.msgId)).toEqual(relayed.map((p) => p.event.eventId));
    // The checkpoint is durable, in KV.
    expect((await checkpointKv())?.string()).toBe(String(last));
  });

  it('resumes from its checkpoint after a restart without publishing anything again', async () => {
    const first = await append(connected('gmail', 'a'), degraded('gmail', 'a'), recovered('gmail', 'a'));
    const relay = newRelay();
    relay.start();
    await relayedUpTo(relay, first);
    await relay.stop();
    expect(raw).toHaveLength(3);

    // While no relay runs, more happens; a new relay (a restarted query-api) publishes only that.
    const more = [revoked('gmail', 'a'), tenantCreated(), connected('discord', 'b')];
    const last = await append(...more);
    const restarted = newRelay();
    restarted.start();
    await relayedUpTo(restarted, last);
    await delay(200);
    expect(raw.slice(3).map((r) => r.msgId)).toEqual([more[0].event.eventId, more[2].event.eventId]);
    expect(await stored()).toHaveLength(5);
  });

  it('a lost checkpoint republishes nothing (the per-stream revisions know every event); a crash before those publishes again, stored once', async () => {
    const plan = [connected('gmail', 'c'), degraded('gmail', 'c'), recovered('gmail', 'c'), revoked('gmail', 'c')];
    const last = await append(...plan);
    const relay = newRelay();
    relay.start();
    await relayedUpTo(relay, last);
    await relay.stop();
    expect(await stored()).toHaveLength(4);
    const kv = await nats.jetstream().views.kv(options.checkpointBucket);
    expect((await kv.get(`integration-events.${plan[0].streamId}`))?.string()).toBe(String(last));

    // The global checkpoint lost: the subscription starts over, every event is recognised as relayed already.
    await kv.delete('integration-events');
    const resumed = newRelay();
    resumed.start();
    await relayedUpTo(resumed, last);
    await resumed.stop();
    expect(raw).toHaveLength(4);

    // The crash: every publish was acknowledged but neither the stream's revision nor the checkpoint moved.
    await kv.delete('integration-events');
    await kv.delete(`integration-events.${plan[0].streamId}`);
    const again = newRelay();
    again.start();
    await relayedUpTo(again, last);
    expect(raw.map((r) => r.msgId)).toEqual([...plan, ...plan].map((p) => p.event.eventId)); // published twice ...
    const messages = await stored();
    expect(messages.map((m) => m.header?.get('Nats-Msg-Id'))).toEqual(plan.map((p) => p.event.eventId)); // ... stored once
    expect((await checkpointKv())?.string()).toBe(String(last));
  });

  it('a checkpoint without per-stream revisions (a relay from before they were kept, or lost keys) republishes nothing it had published', async () => {
    const published = [connected('gmail', 'f'), degraded('gmail', 'f'), connected('discord', 'f')];
    const first = await append(...published);
    const relay = newRelay();
    relay.start();
    await relayedUpTo(relay, first);
    await relay.stop();
    expect(raw).toHaveLength(3);
    const kv = await nats.jetstream().views.kv(options.checkpointBucket);
    for (const streamId of new Set(published.map((p) => p.streamId))) await kv.delete(`integration-events.${streamId}`);
    expect((await checkpointKv())?.string()).toBe(String(first));

    // Live events of both old streams (their predecessors are not "next" to a stream with no revision) and of a new one.
    const more = [recovered('gmail', 'f'), revoked('discord', 'f'), connected('gmail', 'g')];
    const last = await append(...more);
    const restarted = newRelay();
    restarted.start();
    await relayedUpTo(restarted, last);
    await delay(200);
    // Not even an attempt that JetStream's duplicate window would drop: after the window it would be stored again.
    expect(raw.slice(3).map((r) => r.msgId)).toEqual(more.map((p) => p.event.eventId));
    expect((await stored()).map((m) => m.header?.get('Nats-Msg-Id'))).toEqual([...published, ...more].map((p) => p.event.eventId));
    expect(restarted.stats).toMatchObject({ handled: 3, duplicates: 0 });
  });

  it('a crash after some events republishes only what the stream revision had not recorded', async () => {
    const plan = [connected('gmail', 'd'), degraded('gmail', 'd'), recovered('gmail', 'd')];
    const positions: bigint[] = [];
    for (const p of plan) positions.push(await append(p));
    const relay = newRelay();
    relay.start();
    await relayedUpTo(relay, positions[2]);
    await relay.stop();
    // Recorded up to the first event only (on JetStream an event's revision is its position): the second and third
    // are published again, in order.
    const kv = await nats.jetstream().views.kv(options.checkpointBucket);
    await kv.put('integration-events', String(positions[0]));
    await kv.put(`integration-events.${plan[0].streamId}`, String(positions[0]));
    const again = newRelay();
    again.start();
    await relayedUpTo(again, positions[2]);
    expect(raw.slice(3).map((r) => r.msgId)).toEqual([plan[1].event.eventId, plan[2].event.eventId]);
    expect(await stored()).toHaveLength(3);
  });

  it('keeps going after a failure: the integration stream deleted under it is recreated and nothing is lost', async () => {
    const relay = newRelay();
    relay.start();
    const first = await append(connected('gmail', 'e'));
    await relayedUpTo(relay, first);
    // Without the tap, a publish to the missing stream fails at once (no responders) instead of timing out.
    tap.unsubscribe();
    await (await nats.jetstreamManager()).streams.delete(options.streamName);
    const next = revoked('gmail', 'e');
    const last = await append(next);
    await relayedUpTo(relay, last);
    const messages = await stored();
    expect(messages.map((m) => m.header?.get('Nats-Msg-Id'))).toEqual([next.event.eventId]);
  });
});
