import fc from 'fast-check';
import { connect, NatsConnection, NatsError } from 'nats';
import { healthSubject, Rpc, RpcErrorCodes } from '@authpipe/contracts';
import { startTestPlatform, reservePorts, TestPlatform } from '../support/test-platform';
import { FUZZ_SEED, runs } from './support/fuzz-inputs';
import { NatsCase, natsCases, malformedMessages } from './support/fuzz-nats-cases';
import { changedStreams, snapshotStreams, StoreSnapshot } from './support/fuzz-store-snapshot';

/*
 * Bad messages on every request/reply subject of the contract registry (and every app's health subject), sent as the
 * apps themselves send requests (the test platform's nats-server has no users; in a deployment these subjects are
 * open only to the apps, deploy/compose/nats.conf). Each request must get a typed error reply `{ code, message }`
 * with a stable code other than INTERNAL, promptly: never silence (a crashed or hung handler), never a stack trace.
 * Then messages published without a reply subject. Afterwards every app is up and JetStream is unchanged.
 * Replay a failure with FUZZ_SEED=<seed>; RESILIENCE_SCALE multiplies the cases.
 */

const BASE_RUNS = 100;
const REPLY_TIMEOUT_MS = 10_000;
const TYPED_CODES = new Set<string>(Object.values(RpcErrorCodes).filter((code) => code !== RpcErrorCodes.Internal));
const APPS = ['vault', 'query-api', 'oauth-gateway', 'refresher', 'health-monitor'];

describe('fuzzed NATS requests', () => {
  let platform: TestPlatform;
  let nc: NatsConnection;
  let before: StoreSnapshot;
  const counts: Record<string, { requests: number; codes: Record<string, number> }> = {};
  const subjects: { subject: string; request?: new () => object }[] = [
    ...Object.values(Rpc).map((rpc) => ({ subject: rpc.subject, request: rpc.request as new () => object })),
    ...APPS.map((app) => ({ subject: healthSubject(app) })),
  ];

  beforeAll(async () => {
    platform = await startTestPlatform({ ports: await reservePorts(), providers: {} });
    nc = await connect({ servers: platform.nats.url });
    before = await snapshotStreams(nc);
  });

  afterAll(async () => {
    // eslint-disable-next-line no-console
    console.log(`fuzzed NATS (seed ${FUZZ_SEED}): ${Object.values(counts).reduce((n, c) => n + c.requests, 0)} requests\n${Object.entries(counts).map(([s, c]) => `  ${s}: ${c.requests} -> ${JSON.stringify(c.codes)}`).join('\n')}`);
    await nc?.close();
    await platform?.stop();
  });

  const appsDown = () => [...platform.children.entries()].filter(([, child]) => child.exitCode !== null || child.signalCode !== null).map(([name]) => name);

  async function ask(subject: string, c: NatsCase): Promise<void> {
    const seen = (counts[subject] ??= { requests: 0, codes: {} });
    seen.requests++;
    let reply;
    try {
      reply = await nc.request(subject, c.bytes, { timeout: REPLY_TIMEOUT_MS });
    } catch (err) {
      seen.codes['(no reply)'] = (seen.codes['(no reply)'] ?? 0) + 1;
      throw new Error(`no reply on ${subject} (${err instanceof NatsError ? err.code : (err as Error).message}) to ${String((c as unknown as Record<symbol, () => string>)[fc.toStringMethod]?.() ?? c.fault)}`);
    }
    let body: { err?: { code?: unknown; message?: unknown }; response?: unknown };
    try {
      body = JSON.parse(new TextDecoder().decode(reply.data));
    } catch {
      throw new Error(`a reply on ${subject} that is not JSON: ${Buffer.from(reply.data).toString('latin1').slice(0, 200)}`);
    }
    const code = String(body.err?.code ?? '(no error)');
    seen.codes[code] = (seen.codes[code] ?? 0) + 1;
    if (!body.err) throw new Error(`${subject} accepted a bad message (${c.fault}): ${JSON.stringify(body).slice(0, 200)}`);
    if (!TYPED_CODES.has(code)) throw new Error(`${subject} answered ${code} to ${c.fault}: ${JSON.stringify(body.err).slice(0, 200)}`);
    if (typeof body.err.message !== 'string' || /\n\s+at /.test(body.err.message)) throw new Error(`${subject}: an error message that is missing or a stack trace`);
  }

  it('answers every bad request on every subject with a typed error, and no app goes down', async () => {
    expect(subjects.length).toBeGreaterThan(15);
    const failures: string[] = [];
    for (const { subject, request } of subjects) {
      await fc
        .assert(
          fc.asyncProperty(natsCases(subject, request), (c) => ask(subject, c)),
          { seed: FUZZ_SEED, numRuns: runs(BASE_RUNS), endOnFailure: process.env.FUZZ_SHRINK !== '1' },
        )
        .catch((err: Error) => failures.push(`${subject}: ${err.message.split('\n').slice(0, 3).join(' ')}\n${(err.cause as Error | undefined)?.message ?? ''}`));
      if (appsDown().length) failures.push(`${subject}: apps down after it: ${appsDown().join(', ')}`);
    }
    expect(failures).toEqual([]);
  });

  it('survives bad messages published without a reply subject', async () => {
    const cases = fc.tuple(fc.constantFrom(...subjects), fc.constant(null)).chain(([s]) => natsCases(s.subject, s.request).map((c) => ({ subject: s.subject, c })));
    for (const { subject, c } of fc.sample(cases, { seed: FUZZ_SEED, numRuns: runs(BASE_RUNS * 2) })) nc.publish(subject, c.bytes);
    await nc.flush();
    // Then every app still answers its health subject: the bad messages were dropped, not fatal.
    for (const app of APPS) {
      const reply = await nc.request(healthSubject(app), new TextEncoder().encode(JSON.stringify({ pattern: healthSubject(app), data: {}, id: `h-${app}` })), { timeout: REPLY_TIMEOUT_MS });
      expect(JSON.parse(new TextDecoder().decode(reply.data)).response).toMatchObject({ app, status: 'ok' });
    }
  });

  it('wrote nothing and no app went down or logged an unhandled error', async () => {
    expect(changedStreams(before, await snapshotStreams(nc))).toEqual([]);
    expect(appsDown()).toEqual([]);
    for (const [app, url] of Object.entries(platform.operationsUrls)) {
      expect({ app, status: (await fetch(`${url}/health/live`)).status }).toEqual({ app, status: 200 });
    }
    expect(platform.logs.filter((line) => /unhandled|Unhandled|uncaught/i.test(line)).slice(0, 5)).toEqual([]);
  });
});
