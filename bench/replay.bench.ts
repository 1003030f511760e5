import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { connect, NatsConnection } from 'nats';
import { AuthpipeEvent, connectionIdFor, connectionStream, createEvent, NewEvent, tenantStream } from '@authpipe/contracts';
import { ExpectedRevision, JetStreamEventStore } from '@authpipe/event-store';
import { formatDuration, jetStreamHead } from '@authpipe/replay';
import { knob } from './stats';

/*
 * Replay rate: a history of BENCH_REPLAY_EVENTS events (default 1,000,000) in a JetStream stream of its own, rebuilt
 * into an empty in-memory read-model store by `rebuildReadModels` (what `npm run replay -- rebuild` runs), then
 * projected by the Projector (what query-api runs at every start over its in-memory read models).
 *
 * The history is appended through the adapter as the apps append (each event at its stream's last revision, so it
 * records its predecessor), many streams in flight at once, each stream's events one after the other. Time budgets
 * keep a run bounded: generation stops after BENCH_REPLAY_GENERATE_S (default 180 s), the rebuild after
 * BENCH_REPLAY_REPLAY_S (default 180 s; aborted through its signal), the projector after BENCH_REPLAY_PROJECTOR_S
 * (default 60 s). Whatever stopped early is reported as such, with the rate measured so far and the time the whole
 * history would take at that rate (an extrapolation, and said to be one).
 *
 * Shape (BENCH_REPLAY_TENANTS, default 100; BENCH_REPLAY_CONNECTIONS, default 10,000): each tenant created with an API
 * key and an integration, every connection connected, then refreshes round-robin, one in 50 a RefreshFailed, one in
 * 500 a Revoked followed by a reconnect: a history dominated by hourly refreshes, as a live platform's is.
 */

Logger.overrideLogger(false);
jest.setTimeout(3_600_000);

const EVENTS = knob('BENCH_REPLAY_EVENTS', 1_000_000);
const TENANTS = knob('BENCH_REPLAY_TENANTS', 100);
const CONNECTIONS = knob('BENCH_REPLAY_CONNECTIONS', 10_000);
const GENERATE_S = knob('BENCH_REPLAY_GENERATE_S', 180);
const REPLAY_S = knob('BENCH_REPLAY_REPLAY_S', 180);
const PROJECTOR_S = knob('BENCH_REPLAY_PROJECTOR_S', 60);
const IN_FLIGHT = 2_000;

/** createEvent validates (class-validator) every event; that is not what is measured, so each type is validated once. */
function eventFactory() {
  const now = new Date(Date.UTC(2026, 0, 1)).toISOString();
  const templates = new Map<string, NewEvent>();
  return (event: AuthpipeEvent): NewEvent => {
    let template = templates.get(event.type);
    if (!template) {
      template = createEvent(event, { correlationId: 'bench', producer: 'replay-bench', now: new Date(now) });
      templates.set(event.type, template);
    }
    return { ...template, eventId: randomUUID(), data: event.data } as NewEvent;
  };
}

function* historyOf(total: number): Generator<{ streamId: string; event: NewEvent }> {
  const make = eventFactory();
  const expiresAt = new Date(Date.UTC(2026, 0, 1, 1)).toISOString();
  const scopes = ['https://www.googleapis.com/auth/gmail.readonly'];
  const tenant = (i: number) => `t${String(i).padStart(4, '0')}`;
  const user = (i: number) => `user${i}`;
  const ids = Array.from({ length: CONNECTIONS }, (_, i) => connectionIdFor(tenant(i % TENANTS), 'gmail', user(i)));
  const connection = (i: number) => ({ tenantId: tenant(i % TENANTS), connectionId: ids[i], provider: 'gmail' });
  const versions = new Array<number>(CONNECTIONS).fill(0);
  const connected = (i: number) => ({
    streamId: connectionStream(ids[i]),
    event: make({ type: 'Connected', data: { ...connection(i), userId: user(i), scopes, expiresAt, refreshable: true, credentialVersion: ++versions[i] } }),
  });
  let n = 0;
  for (let t = 0; t < TENANTS; t++) {
    const tenantId = tenant(t);
    const stream = tenantStream(tenantId);
    const setup: AuthpipeEvent[] = [
      { type: 'TenantCreated', data: { tenantId, name: `Tenant ${t}` } },
      { type: 'ApiKeyIssued', data: { tenantId, keyId: `key${String(t).padStart(8, '0')}`, keyHash: 'a'.repeat(64), label: 'backend' } },
      { type: 'IntegrationRegistered', data: { tenantId, provider: 'gmail', clientId: `client-${t}`, scopes, vaultVersion: 1 } },
    ];
    for (const event of setup) {
      if (n++ >= total) return;
      yield { streamId: stream, event: make(event) };
    }
  }
  for (let i = 0; i < CONNECTIONS; i++) {
    if (n++ >= total) return;
    yield connected(i);
  }
  for (let k = 0; ; k++) {
    const i = k % CONNECTIONS;
    const stream = connectionStream(ids[i]);
    if (k % 500 === 499) {
      if (n++ >= total) return;
      yield { streamId: stream, event: make({ type: 'Revoked', data: { ...connection(i), reason: 'invalid_grant', detectedBy: 'refresher' } }) };
      if (n++ >= total) return;
      yield connected(i);
    } else if (k % 50 === 49) {
      if (n++ >= total) return;
      yield { streamId: stream, event: make({ type: 'RefreshFailed', data: { ...connection(i), failure: 'transient', willRetry: true, attempt: 1 } }) };
    } else {
      if (n++ >= total) return;
      yield { streamId: stream, event: make({ type: 'Refreshed', data: { ...connection(i), expiresAt, credentialVersion: ++versions[i], rotated: false } }) };
    }
  }
}


interface Measurement {
  done: boolean;
  events: number;
  seconds: number;
  rate: number;
  samples: string[];
  /** Rate over the last 30 s or so of samples: the store's steady state, once every document exists. */
  recentRate: number;
  heapMiB: number;
  swap?: string;
}

/** Runs in the child process: the rebuild or the projector over the bench stream, reporting JSON lines on stdout. */
const CHILD = `
const { connect } = require('nats');
const dist = (lib) => require(require('node:path').join(process.cwd(), 'dist/libs', lib, 'src'));
const { JetStreamEventStore } = dist('event-store');
const { InMemoryReadModelStore } = dist('read-models');
const { Projector, TenantsProjection, ConnectionsProjection } = dist('projections');
const { rebuildReadModels, jetStreamHead } = dist('replay');
const { Logger } = require('@nestjs/common');
Logger.overrideLogger(false);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
(async () => {
  const { BENCH_NATS: url, BENCH_STREAM: streamName, BENCH_PREFIX: subjectPrefix, BENCH_WHAT: what } = process.env;
  const budgetMs = Number(process.env.BENCH_BUDGET_S) * 1000;
  const nats = await connect({ servers: url });
  const events = await JetStreamEventStore.create(nats, { streamName, subjectPrefix });
  const store = new InMemoryReadModelStore();
  const projections = [new TenantsProjection(), new ConnectionsProjection()];
  const started = Date.now();
  if (what === 'rebuild') {
    const budget = new AbortController();
    const timer = setTimeout(() => budget.abort(new Error('budget')), budgetMs);
    let last = { events: 0, elapsedMs: 0 };
    let lastPrinted = 0;
    const result = await rebuildReadModels({
      events, store, projections, head: jetStreamHead(nats, streamName, subjectPrefix), signal: budget.signal, progressIntervalMs: 1000,
      onProgress: (p) => {
        if (p.phase !== 'replaying') return;
        last = p;
        if (p.elapsedMs - lastPrinted >= 10000 || p.fraction === 1) {
          lastPrinted = p.elapsedMs;
          out({ sample: { s: p.elapsedMs / 1000, events: p.events, rate: p.eventsPerSecond, left: p.secondsLeft ?? 0 } });
        }
      },
    }).catch((err) => { if (err.message !== 'budget') throw err; });
    clearTimeout(timer);
    const heapMiB = Math.round(process.memoryUsage().heapUsed / 2 ** 20);
    if (result) out({ done: true, events: result.events, seconds: result.durationMs / 1000, rate: result.eventsPerSecond, heapMiB, swap: result.collections.map((c) => c.swap).join(', ') });
    else out({ done: false, events: last.events, seconds: last.elapsedMs / 1000, rate: last.events / (last.elapsedMs / 1000), heapMiB });
  } else {
    const projector = new Projector('query-api', events, store, projections);
    let lastPrinted = 0;
    let count = 0;
    projector.onProjected(() => {
      count++;
      const elapsedMs = Date.now() - started;
      if (elapsedMs - lastPrinted >= 10000) {
        lastPrinted = elapsedMs;
        out({ sample: { s: elapsedMs / 1000, events: count, rate: count / (elapsedMs / 1000), left: 0 } });
      }
    });
    const timer = setTimeout(() => void projector.stop(), budgetMs);
    const done = await projector.start().then(() => true, () => false);
    clearTimeout(timer);
    const seconds = (Date.now() - started) / 1000;
    await projector.stop();
    out({ done, events: Number(projector.position), seconds, rate: Number(projector.position) / seconds, heapMiB: Math.round(process.memoryUsage().heapUsed / 2 ** 20) });
  }
  await events.close();
  await nats.close();
})().catch((err) => { console.error(err); process.exit(1); });
`;

async function measure(what: 'rebuild' | 'projector', streamName: string, prefix: string, budgetS: number): Promise<Measurement> {
  const child = spawn(process.execPath, ['-e', CHILD], {
    cwd: join(__dirname, '..'),
    env: { ...process.env, BENCH_NATS: process.env.AUTHPIPE_TEST_NATS_URL, BENCH_STREAM: streamName, BENCH_PREFIX: prefix, BENCH_WHAT: what, BENCH_BUDGET_S: String(budgetS) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const samples: string[] = [];
  const points: { s: number; events: number }[] = [{ s: 0, events: 0 }];
  let final: Omit<Measurement, 'samples' | 'recentRate'> | undefined;
  let buffered = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const message = JSON.parse(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
      if (message.sample) {
        const { s, events, rate, left } = message.sample;
        points.push({ s, events });
        samples.push(`${s.toFixed(0).padStart(6)} s ${Math.round(events).toLocaleString('en-US').padStart(10)} events ${Math.round(rate).toLocaleString('en-US').padStart(7)} ev/s  ~${formatDuration(left)} left`);
      } else final = message;
    }
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0 || !final) throw new Error(`the ${what} measurement failed (exit ${code}); is dist/ built (npm run build)?`);
  // The last 30 s or more (samples come every 10 s), ending at the last sample: a shorter stretch is noise.
  const last = points[points.length - 1];
  const before = [...points].reverse().find((p) => p.s <= last.s - 30) ?? points[0];
  const recentRate = last.s > before.s ? (last.events - before.events) / (last.s - before.s) : final.rate;
  return { ...final, samples, recentRate };
}

describe('replay rate', () => {
  let nats: NatsConnection;
  let streamName: string;

  beforeAll(async () => {
    nats = await connect({ servers: process.env.AUTHPIPE_TEST_NATS_URL! });
  });
  afterAll(async () => {
    if (streamName) await (await nats.jetstreamManager()).streams.delete(streamName).catch(() => undefined);
    await nats?.close();
  });

  it(`rebuilds ${EVENTS.toLocaleString('en-US')} events into the in-memory store`, async () => {
    const id = randomUUID().slice(0, 8);
    streamName = `REPLAY_BENCH_${id}`;
    const prefix = `replay_bench.${id}.events`;
    const events = await JetStreamEventStore.create(nats, { streamName, subjectPrefix: prefix });
    const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

    // Generate: appends IN_FLIGHT at a time, each at the revision its stream's previous append returned.
    const generateStarted = Date.now();
    let written = 0;
    let stoppedEarly = false;
    const inFlight = new Set<Promise<void>>();
    const lastAppend = new Map<string, Promise<ExpectedRevision>>();
    for (const { streamId, event } of historyOf(EVENTS)) {
      if (Date.now() - generateStarted > GENERATE_S * 1000) {
        stoppedEarly = true;
        break;
      }
      const appended = (lastAppend.get(streamId) ?? Promise.resolve<ExpectedRevision>('no_stream')).then(
        async (expectedRevision) => (await events.appendToStream(streamId, [event], { expectedRevision })).nextExpectedRevision,
      );
      lastAppend.set(streamId, appended);
      const published: Promise<void> = appended.then(() => {
        inFlight.delete(published);
      });
      inFlight.add(published);
      written++;
      if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    const generateS = (Date.now() - generateStarted) / 1000;
    const head = jetStreamHead(nats, streamName, prefix);
    expect(Number(await head.position())).toBe(written);
    console.log(
      `generated ${fmt(written)} events in ${generateS.toFixed(1)} s (${fmt(written / generateS)}/s)` +
        (stoppedEarly ? ` — STOPPED after ${GENERATE_S} s, before the ${fmt(EVENTS)} asked for` : ''),
    );

    // Measure in a plain Node.js process on the compiled libs (dist/, built by `npm run bench`), as the replay CLI and
    // query-api run: inside jest's module sandbox the same code measured several times slower here.
    const rebuild = await measure('rebuild', streamName, prefix, REPLAY_S);
    const projector = await measure('projector', streamName, prefix, PROJECTOR_S);

    const line = (m: Measurement, what: string, budget: number) =>
      m.done
        ? `${what}: all ${fmt(m.events)} events in ${m.seconds.toFixed(1)} s, ${fmt(m.rate)} events/s`
        : `${what}: STOPPED after ${budget} s at ${fmt(m.events)} of ${fmt(written)} events, ${fmt(m.rate)} events/s on average, ` +
          `${fmt(m.recentRate)} events/s over the last 30 s; at that last rate the remaining ${fmt(written - m.events)} events would take ` +
          `~${formatDuration((written - m.events) / m.recentRate)} more (extrapolated)`;
    console.log(
      [
        `replay into the in-memory store; history: ${fmt(written)} events, ${TENANTS} tenants, ${fmt(CONNECTIONS)} connections`,
        ...rebuild.samples,
        line(rebuild, 'rebuildReadModels', REPLAY_S) + (rebuild.swap ? ` (swap: ${rebuild.swap})` : ''),
        `  heap used at the end: ${rebuild.heapMiB} MiB`,
        ...projector.samples.map((sample) => sample.replace(/ +~.*$/, '')),
        line(projector, "Projector.start (query-api's start-up path)", PROJECTOR_S),
      ].join('\n'),
    );
    const replayed = rebuild.events;
    expect(replayed).toBeGreaterThan(0);
    await events.close();
  });
});
