import { existsSync, mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { startOAuthServer } from '../test/support/oauth-server/spawn';
import { eventually, gatewayUrlFor, reservePorts, setUpTenant, startTestPlatform, TestPlatform } from '../test/support/test-platform';
import { autocannon, AutocannonRequestStep, AutocannonResult } from './load/autocannon';
import { connectOnce, FLOW_STEPS, FlowOutcome, FlowUser, runBounded } from './load/connect-flow';
import { summariseCpuProfile } from './load/cpu-profile';
import { describeMachine } from './load/machine';
import { cpuBetween, cpuSnapshot, CpuUse } from './load/process-cpu';
import { knob, percentile } from './stats';

/*
 * Load run (issue 9): the five apps as processes on a real nats-server, a local Google-like oidc-provider, and load
 * from this process. `npm run bench -- bench/load.bench.ts` prints a markdown report for docs/benchmarks.md.
 *   1. connect flow: LOAD_USERS whole flows (session -> gateway start -> provider -> callback -> credential readable),
 *      LOAD_FLOW_CONCURRENCY in flight, over LOAD_TENANTS tenants; then checked against the connections list, each
 *      connection's history and the provider's count of code exchanges.
 *   2. credential endpoint, closed loop: autocannon, LOAD_CONNECTIONS connections for LOAD_DURATION_S, every request
 *      for the next of the connected users with its tenant's API key.
 *   3. credential endpoint, rate-limited: autocannon's overallRate at LOAD_RATES (default: 25/50/75/100% of what the
 *      closed loop served), LOAD_RATE_DURATION_S each.
 *   4. gateway alone: autocannon chaining POST /v1/connect-sessions and GET /v1/connect/start, LOAD_GATEWAY_DURATION_S.
 * CPU time of every process is read from /proc around each phase.
 */

const DURATION_S = knob('LOAD_DURATION_S', 20);
const CONNECTIONS = knob('LOAD_CONNECTIONS', 32);
const TENANTS = knob('LOAD_TENANTS', 4);
const USERS = knob('LOAD_USERS', 200);
const FLOW_CONCURRENCY = knob('LOAD_FLOW_CONCURRENCY', 8);
const RATE_DURATION_S = knob('LOAD_RATE_DURATION_S', 8);
const GATEWAY_DURATION_S = knob('LOAD_GATEWAY_DURATION_S', 10);
const RATES = process.env.LOAD_RATES?.split(',').map(Number);
if (RATES?.some((rate) => !Number.isInteger(rate) || rate <= 0)) throw new Error('LOAD_RATES must be positive whole requests per second, e.g. 100,200,400');
/** When set, every app profiles itself (bench/load/cpu-profile-preload.js) into this folder and the report ends with where their CPU went. */
const PROFILE_DIR = process.env.LOAD_CPU_PROFILE_DIR ? resolve(process.env.LOAD_CPU_PROFILE_DIR) : undefined;

const PROVIDER = 'gmail';
const GMAIL_READONLY = 'https://www.googleapis.com/auth/gmail.readonly';

const ms = (n: number) => (n >= 1000 ? `${(n / 1000).toFixed(2)} s` : `${n.toFixed(1)} ms`);
const table = (head: string[], rows: (string | number)[][]) =>
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
const byStatus = (r: AutocannonResult) =>
  Object.entries(r.statusCodeStats)
    .filter(([code]) => !code.startsWith('2'))
    .map(([code, { count }]) => `${count}× ${code}`)
    .join(', ') || 'none';
const ok2xx = (r: AutocannonResult) => Object.entries(r.statusCodeStats).reduce((n, [code, { count }]) => n + (code.startsWith('2') ? count : 0), 0);

test('load run: connect flow and credential endpoint with all five apps', async () => {
  const report: string[] = ['## Load run (issue 9) — report', '', ...describeMachine().map((line) => `- ${line}`), ''];
  const ports = await reservePorts();
  const google = await startOAuthServer({
    profile: 'google',
    clients: [{ client_id: 'load', client_secret: 'load-secret', redirect_uris: [`${gatewayUrlFor(ports)}/v1/oauth/callback/${PROVIDER}`] }],
  });
  let platform: TestPlatform | undefined;
  if (PROFILE_DIR) mkdirSync(PROFILE_DIR, { recursive: true });
  try {
    platform = await startTestPlatform({
      ports,
      // Rate limits lifted: at their defaults (600 a minute per tenant, 120 per address without a key) the run would
      // measure the limiter. Log level warn: per-request debug lines would be a large part of the cost.
      env: {
        AUTHPIPE_LOG_LEVEL: 'warn',
        RATE_LIMIT_PER_MINUTE: '1000000',
        RATE_LIMIT_ANONYMOUS_PER_MINUTE: '1000000',
        ...(PROFILE_DIR ? { NODE_OPTIONS: `--require ${resolve(__dirname, 'load/cpu-profile-preload.js')}`, LOAD_CPU_PROFILE_DIR: PROFILE_DIR } : {}),
      },
      providers: { gmail: { oauth2: { authorizationUrl: google.authorizationEndpoint, tokenUrl: google.tokenEndpoint, issuer: google.issuer }, probe: { url: google.probeEndpoint } } },
    });
    const { gatewayUrl, queryUrl } = platform;
    const pids: Record<string, number> = Object.fromEntries([...platform.children].map(([app, child]) => [app, child.pid!]));
    pids['nats-server'] = platform.nats.pid;
    const GENERATOR = 'load generator (this process: autocannon, flows)';
    const PROVIDER_PROCESS = 'oidc-provider (Google-like)';
    pids[PROVIDER_PROCESS] = google.pid;
    pids[GENERATOR] = process.pid;
    const cpuTables: string[] = [];
    const cpuCosts: string[][] = [];
    const profileSections: string[] = [];
    const apps = platform.children;
    let profiles = 0;
    /** Stops the phase's profile in the apps that did most of its work and summarises where their CPU went. */
    const profileOf = async (phase: string, n: number, processes: CpuUse[]): Promise<string[]> => {
      for (const child of apps.values()) child.kill('SIGUSR2');
      const total = processes.reduce((sum, p) => sum + p.cpuSeconds, 0);
      const lines = [`**${phase}**`, ''];
      for (const use of processes.filter((p) => apps.has(p.name) && p.cpuSeconds >= 0.15 * total)) {
        const file = join(PROFILE_DIR!, `CPU.${apps.get(use.name)!.pid}.${n}.cpuprofile`);
        await eventually(async () => existsSync(file) || undefined, 30_000, `the CPU profile of ${use.name}`);
        const summary = summariseCpuProfile(file);
        // Shares of the profile's samples, turned into CPU time with the phase's CPU time from /proc.
        const row = (x: { name: string; share: number }) => [x.name.replace(/\|/g, '\\|'), `${(100 * x.share).toFixed(0)}%`, `${(use.cpuSeconds * x.share).toFixed(2)} s`];
        lines.push(
          `${use.name}: ${use.cpuSeconds.toFixed(1)} CPU-s in the phase, ${summary.samples} samples`,
          '',
          table(['package', 'share', 'CPU (est.)'], summary.byPackage.map(row)),
          '',
          table(['function (self)', 'share', 'CPU (est.)'], summary.byFunction.map(row)),
          '',
        );
      }
      return lines;
    };
    /** Runs a phase and records each process's CPU over it; `units` counts the work done (requests, flows). */
    const measureCpu = async <T>(phase: string, run: () => Promise<T>, units: (result: T) => number, unit: string): Promise<T> => {
      const profiled = profiles++;
      if (PROFILE_DIR) for (const child of apps.values()) child.kill('SIGUSR2'); // start each app's profile
      const before = cpuSnapshot(pids);
      const result = await run();
      const { processes, others, wallSeconds } = cpuBetween(before, cpuSnapshot(pids));
      if (PROFILE_DIR) profileSections.push(...(await profileOf(phase, profiled, processes)));
      const sum = (list: { cpuSeconds: number }[]) => list.reduce((total, p) => total + (Number.isNaN(p.cpuSeconds) ? 0 : p.cpuSeconds), 0);
      const ours = sum(processes);
      const platformCpu = sum(processes.filter((p) => p.name !== GENERATOR && p.name !== PROVIDER_PROCESS));
      const done = units(result);
      cpuCosts.push([phase, `${done} ${unit}s`, `${((1000 * platformCpu) / done).toFixed(2)} ms`, `${((1000 * ours) / done).toFixed(2)} ms`, `${others.percentOfCore.toFixed(0)}%`]);
      cpuTables.push(
        `**${phase}** (${wallSeconds.toFixed(1)} s wall; CPU-s busy: this run ${ours.toFixed(1)}, other processes ${others.cpuSeconds.toFixed(1)}, of ${(wallSeconds * availableParallelism()).toFixed(1)} available)`,
        '',
        table(
          ['process', 'CPU-s', '% of one core', 'share of this run'],
          [...processes.map((p) => [p.name, p.cpuSeconds.toFixed(1), `${p.percentOfCore.toFixed(0)}%`, `${((100 * p.cpuSeconds) / ours).toFixed(0)}%`]), [others.name, others.cpuSeconds.toFixed(1), `${others.percentOfCore.toFixed(0)}%`, '—']],
        ),
        '',
      );
      return result;
    };

    // Tenants, and one connect per tenant first: its data key is created and wrapped on first use (not measured).
    const tenants: { tenantId: string; apiKey: string }[] = [];
    for (let t = 0; t < TENANTS; t++) {
      const tenantId = `load-${t}`;
      tenants.push({ tenantId, apiKey: await setUpTenant(platform, tenantId, { provider: PROVIDER, clientId: 'load', clientSecret: 'load-secret', scopes: [GMAIL_READONLY] }) });
    }
    const target = { gatewayUrl, queryUrl, provider: PROVIDER, readableTimeoutMs: 30_000 };
    for (const tenant of tenants) {
      const warm = await connectOnce(target, { ...tenant, userId: 'warm_up' });
      if (!warm.ok) throw new Error(`warm-up connect for ${tenant.tenantId} failed at ${warm.step}: ${warm.detail}`);
    }

    // 1. Connect flow.
    const users: FlowUser[] = Array.from({ length: USERS }, (_, i) => ({ ...tenants[i % TENANTS], userId: `user_${i}` }));
    const exchangesBefore = (await google.stats()).token_requests.authorization_code ?? 0;
    const flowStarted = performance.now();
    const outcomes: FlowOutcome[] = await measureCpu(`Connect flow: ${USERS} flows, ${FLOW_CONCURRENCY} in flight`, () =>
      runBounded(users, FLOW_CONCURRENCY, (user) => connectOnce(target, user)),
      (all) => all.filter((o) => o.ok).length,
      'connected flow',
    );
    const flowSeconds = (performance.now() - flowStarted) / 1000;
    const exchanges = ((await google.stats()).token_requests.authorization_code ?? 0) - exchangesBefore;
    const succeeded = outcomes.filter((o): o is Extract<FlowOutcome, { ok: true }> => o.ok);
    const failures = outcomes.filter((o): o is Extract<FlowOutcome, { ok: false }> => !o.ok);

    // The platform's own word on what connected: the connections list per tenant and each connection's history.
    let listed = 0;
    let connectedEvents = 0;
    const wrongHistories: string[] = [];
    for (const tenant of tenants) {
      const auth = { authorization: `Bearer ${tenant.apiKey}` };
      let cursor: string | undefined;
      do {
        const page = (await (
          await fetch(`${queryUrl}/v1/connections?status=connected&limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { headers: auth })
        ).json()) as { items: { connectionId: string; userId: string }[]; next?: string };
        for (const item of page.items.filter((c) => c.userId !== 'warm_up')) {
          listed++;
          const { timeline } = (await (await fetch(`${queryUrl}/v1/connections/${item.connectionId}`, { headers: auth })).json()) as { timeline: { type: string }[] };
          const connected = timeline.filter((e) => e.type === 'Connected').length;
          connectedEvents += connected;
          if (connected !== 1) wrongHistories.push(`${tenant.tenantId}/${item.userId}: ${connected} Connected`);
        }
        cursor = page.next;
      } while (cursor);
    }

    const flowTimes = succeeded.map((o) => o.totalMs).sort((a, b) => a - b);
    const stepRow = (label: string, values: number[]) => {
      const sorted = [...values].sort((a, b) => a - b);
      return [label, ms(percentile(sorted, 50)), ms(percentile(sorted, 90)), ms(percentile(sorted, 99)), ms(sorted[sorted.length - 1])];
    };
    const failuresByStep = Object.entries(
      failures.reduce<Record<string, number>>((acc, f) => ({ ...acc, [`${f.step}: ${f.detail}`]: (acc[`${f.step}: ${f.detail}`] ?? 0) + 1 }), {}),
    );
    report.push(
      `### Connect flow (bounded runner, ${FLOW_CONCURRENCY} flows in flight, ${TENANTS} tenants)`,
      '',
      table(
        ['flows', 'connected (runner)', 'listed connected', 'Connected events', 'code exchanges at provider', 'failed', 'wall', 'flows/s'],
        [[USERS, succeeded.length, listed, connectedEvents, exchanges, failures.length, `${flowSeconds.toFixed(1)} s`, (listed / flowSeconds).toFixed(1)]],
      ),
      '',
      table(['per flow (connected ones)', 'p50', 'p90', 'p99', 'max'], [
        stepRow('whole flow', flowTimes),
        ...FLOW_STEPS.map((step) => stepRow(step, succeeded.map((o) => o.steps[step]))),
      ]),
      '',
      failures.length ? `Failures: ${failuresByStep.map(([what, n]) => `${n}× ${what}`).join('; ')}` : 'No flow failed.',
      wrongHistories.length ? `Histories without exactly one Connected: ${wrongHistories.slice(0, 10).join('; ')}` : '',
      '',
    );
    // A flow counts only if the platform agrees: listed as connected, with exactly one Connected in its history.
    expect(wrongHistories).toEqual([]);
    expect(listed).toBe(succeeded.length);
    expect(exchanges).toBe(succeeded.length);

    // 2. + 3. Credential endpoint: each request for the next connected user, with that user's tenant API key.
    const readers = succeeded.map((o) => ({ path: `/v1/credentials/${PROVIDER}/${o.user.userId}`, authorization: `Bearer ${o.user.apiKey}`, userId: o.user.userId }));
    let turn = 0;
    let wrongBodies = 0;
    const credentialRequest: AutocannonRequestStep = {
      setupRequest: (request, context) => {
        const reader = readers[turn++ % readers.length];
        context.userId = reader.userId;
        return { ...request, path: reader.path, headers: { ...request.headers, authorization: reader.authorization } };
      },
      onResponse: (status, body, context) => {
        if (status !== 200) return;
        const credential = JSON.parse(body) as { userId?: string; accessToken?: string };
        if (credential.userId !== context.userId || !credential.accessToken) wrongBodies++;
      },
    };
    const credentials = (options: { connections: number; duration: number; overallRate?: number }) =>
      autocannon({ url: queryUrl, ...options, ...(options.overallRate ? { ignoreCoordinatedOmission: true } : {}), timeout: 10, requests: [credentialRequest] });

    await credentials({ connections: CONNECTIONS, duration: 2 }); // JIT warm-up, not reported
    const closed = await measureCpu(`Credential endpoint, closed loop: ${CONNECTIONS} connections, ${DURATION_S} s`, () =>
      credentials({ connections: CONNECTIONS, duration: DURATION_S }),
      ok2xx,
      'credential read',
    );
    const closedRate = ok2xx(closed) / closed.duration;
    const rates = RATES ?? [0.25, 0.5, 0.75, 1].map((f) => Math.max(10, Math.round((f * closedRate) / 10) * 10));
    const rateRuns: { rate: number; result: AutocannonResult }[] = [];
    for (const rate of rates) {
      const result = await measureCpu(`Credential endpoint at ${rate}/s offered, ${RATE_DURATION_S} s`, () =>
        credentials({ connections: CONNECTIONS, duration: RATE_DURATION_S, overallRate: rate }),
        ok2xx,
        'credential read',
      );
      rateRuns.push({ rate, result });
    }
    const latencyCells = (r: AutocannonResult) => [ms(r.latency.p50), ms(r.latency.p90), ms(r.latency.p99), ms(r.latency.max)];
    report.push(
      `### Credential endpoint (autocannon 9.0.0, ${readers.length} users across ${TENANTS} tenants, a different user and API key each request)`,
      '',
      table(
        ['load', 'connections', '2xx/s', 'p50', 'p90', 'p99', 'max', 'non-2xx', 'errors (timeouts)'],
        [
          [`closed loop, ${DURATION_S} s`, CONNECTIONS, closedRate.toFixed(0), ...latencyCells(closed), byStatus(closed), `${closed.errors} (${closed.timeouts})`],
          ...rateRuns.map(({ rate, result }) => [
            `${rate}/s offered, ${RATE_DURATION_S} s${ok2xx(result) / result.duration >= 0.95 * rate ? '' : ' — **not kept up**'}`,
            Math.min(CONNECTIONS, rate),
            (ok2xx(result) / result.duration).toFixed(0),
            ...latencyCells(result),
            byStatus(result),
            `${result.errors} (${result.timeouts})`,
          ]),
        ],
      ),
      '',
      `Credential bodies for the wrong user or without a token: ${wrongBodies}.`,
      '',
    );
    expect(wrongBodies).toBe(0);

    // 4. The gateway's share of a connect, alone: create a session, then start it (state, PKCE, 302 to the provider).
    let sessions = 0;
    const sessionMs: number[] = [];
    const startMs: number[] = [];
    const gatewayRun = autocannon({
      url: gatewayUrl,
      connections: CONNECTIONS,
      duration: GATEWAY_DURATION_S,
      timeout: 10,
      requests: [
        {
          method: 'POST',
          setupRequest: (request, context) => {
            const n = sessions++;
            const tenant = tenants[n % TENANTS];
            context.session = undefined;
            return {
              ...request,
              path: '/v1/connect-sessions',
              headers: { ...request.headers, authorization: `Bearer ${tenant.apiKey}`, 'content-type': 'application/json' },
              body: JSON.stringify({ provider: PROVIDER, userId: `gateway_${n}` }),
            };
          },
          onResponse: (status, body, context) => {
            if (status === 201) context.session = new URL((JSON.parse(body) as { connectUrl: string }).connectUrl).searchParams.get('session');
          },
        },
        {
          method: 'GET',
          setupRequest: (request, context) => (context.session ? { ...request, method: 'GET', path: `/v1/connect/start?session=${context.session}` } : null),
        },
      ],
    });
    gatewayRun.on('response', (_client, status, _bytes, time) => (status === 201 ? sessionMs : startMs).push(time));
    const gateway = await measureCpu(`Gateway: connect session + start, ${CONNECTIONS} connections, ${GATEWAY_DURATION_S} s`,
      () => gatewayRun,
      (r) => r.statusCodeStats['302']?.count ?? 0,
      'session + start',
    );
    sessionMs.sort((a, b) => a - b);
    startMs.sort((a, b) => a - b);
    const redirects = gateway.statusCodeStats['302']?.count ?? 0;
    report.push(
      `### Gateway alone (autocannon: POST /v1/connect-sessions then GET /v1/connect/start, ${CONNECTIONS} connections, ${GATEWAY_DURATION_S} s)`,
      '',
      table(
        ['request', 'count', 'per s', 'p50', 'p90', 'p99', 'max'],
        [
          ['create session (201)', sessionMs.length, (sessionMs.length / gateway.duration).toFixed(0), ...[50, 90, 99].map((p) => ms(percentile(sessionMs, p))), ms(sessionMs[sessionMs.length - 1] ?? 0)],
          ['start: 302 to the provider', startMs.length, (startMs.length / gateway.duration).toFixed(0), ...[50, 90, 99].map((p) => ms(percentile(startMs, p))), ms(startMs[startMs.length - 1] ?? 0)],
        ],
      ),
      '',
      `Other statuses: ${Object.entries(gateway.statusCodeStats).filter(([c]) => c !== '201' && c !== '302').map(([c, { count }]) => `${count}× ${c}`).join(', ') || 'none'}; errors ${gateway.errors} (timeouts ${gateway.timeouts}); 302s ${redirects}.`,
      '',
      '### CPU cost per unit of work (/proc utime + stime)',
      '',
      'Authpipe = the five apps and nats-server; the run adds the oidc-provider and the load generator.',
      '',
      table(['phase', 'done', 'Authpipe CPU per unit', 'whole run CPU per unit', 'other processes (% of one core)'], cpuCosts),
      '',
      '### CPU per process during each phase',
      '',
      ...cpuTables,
      ...(PROFILE_DIR ? [`### Where the busiest apps' CPU went (V8 CPU profile of each phase, self time as a share of samples; profiles in ${PROFILE_DIR})`, '', ...profileSections] : []),
    );
  } finally {
    await platform?.stop();
    await google.stop();
    process.stdout.write(`\n${report.join('\n')}\n`);
  }
});

