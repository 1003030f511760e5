import { connect } from 'nats';
import { connectionIdFor, connectionStream, createEvent } from '@authpipe/contracts';
import { JetStreamEventStore } from '@authpipe/event-store';
import { ConnectionsProjection, Projector, TenantActivityProjection, TenantsProjection } from '@authpipe/projections';
import { InMemoryReadModelStore } from '@authpipe/read-models';
import { knob, percentile } from './stats';

/*
 * Projection lag: from an append acknowledged by the event store to the event projected into the read models
 * (query-api's projections, in-memory store), at a steady 200 events/s over a real nats-server.
 * `npm run bench -- bench/projection-lag` ; BENCH_LAG_RATE (events/s, default 200), BENCH_LAG_SECONDS (default 20).
 */

test('projection lag at a steady append rate', async () => {
  const rate = knob('BENCH_LAG_RATE', 200);
  const seconds = knob('BENCH_LAG_SECONDS', 20);
  const nc = await connect({ servers: process.env.AUTHPIPE_TEST_NATS_URL });
  const suffix = Date.now().toString(36);
  const events = await JetStreamEventStore.create(nc, { streamName: `BENCH_LAG_${suffix}`, subjectPrefix: `bench_lag.${suffix}` });
  const store = new InMemoryReadModelStore();
  const projector = new Projector('bench', events, store, [new TenantsProjection(), new ConnectionsProjection(), new TenantActivityProjection()]);
  const appendedAt = new Map<bigint, number>();
  // Appended as the apps append (EventWriter): at the revision last written, never with 'any'.
  const revisions = new Map<string, bigint>();
  const lags: number[] = [];
  projector.onProjected((position) => {
    const at = appendedAt.get(position);
    if (at !== undefined) lags.push(performance.now() - at);
  });
  await projector.start();
  const total = rate * seconds;
  const started = performance.now();
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const userId = `u${i % 500}`;
    const connectionId = connectionIdFor('org_bench', 'gmail', userId);
    const event = createEvent(
      {
        type: 'Connected',
        data: { connectionId, tenantId: 'org_bench', provider: 'gmail', userId, scopes: ['s'], expiresAt: null, refreshable: true, credentialVersion: i + 1 },
      },
      { correlationId: `bench-${i}`, producer: 'bench', now: new Date() },
    );
    const streamId = connectionStream(connectionId);
    const t = performance.now();
    const { position, nextExpectedRevision } = await events.appendToStream(streamId, [event], { expectedRevision: revisions.get(streamId) ?? 'no_stream' });
    appendedAt.set(position, t);
    revisions.set(streamId, nextExpectedRevision);
  }
  const deadline = Date.now() + 10_000;
  while (lags.length < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const achieved = total / ((performance.now() - started) / 1000);
  lags.sort((a, b) => a - b);
  console.log(
    `projection lag over ${lags.length} events at ${achieved.toFixed(0)} events/s (target ${rate}): ` +
      `p50 ${percentile(lags, 50).toFixed(2)} ms, p90 ${percentile(lags, 90).toFixed(2)} ms, p99 ${percentile(lags, 99).toFixed(2)} ms, max ${lags[lags.length - 1].toFixed(2)} ms; ` +
      `stream reads by the sequencer: ${projector.stats.streamReads} for ${projector.stats.delivered} events`,
  );
  await projector.stop();
  await (await nc.jetstreamManager()).streams.delete(`BENCH_LAG_${suffix}`);
  await nc.close();
});
