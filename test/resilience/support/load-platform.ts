import { writeFileSync } from 'node:fs';
import { connect, JSONCodec, NatsConnection } from 'nats';
import { connectionIdFor, Rpc, RecordedEvent } from '@authpipe/contracts';
import { JetStreamEventStore } from '@authpipe/event-store';
import { OAuthServerHandle, startOAuthServer } from '../../support/oauth-server/spawn';
import { eventually, gatewayUrlFor, reservePorts, setUpTenant, startTestPlatform, TestPlatform } from '../../support/test-platform';
import type { Outcome, SteadyLoadTarget } from './steady-load';

/*
 * The platform the process-fault suites run their steady load against: the five apps on a real nats-server, a
 * Google-like oidc-provider (no refresh-token rotation) with access tokens of tens of seconds, refreshed at half their
 * life (the refresher never refreshes earlier), so every connection is refreshed every few seconds; a health monitor
 * probing every few seconds too.
 * Plus the checks both suites make on the history, the read models, vault and the provider after a fault.
 */

export const TENANT = 'org_faults';
export const PROVIDER = 'gmail';
export const SCOPES = ['https://www.googleapis.com/auth/gmail.readonly'];
export const CLIENT_ID = 'faults-client';
export const CLIENT_SECRET = 'faults-secret-resilience';

/** Longer runs for a reviewer: RESILIENCE_SCALE=3 triples users and load durations. */
export const SCALE = Math.max(1, Number(process.env.RESILIENCE_SCALE ?? 1) || 1);

export const APPS = ['vault', 'query-api', 'oauth-gateway', 'refresher', 'health-monitor'] as const;

export interface LoadPlatform {
  platform: TestPlatform;
  provider: OAuthServerHandle;
  apiKey: string;
  target: SteadyLoadTarget;
  /** The platform's environment (to restart an app with the same). */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export const PLATFORM_ENV = {
  AUTHPIPE_RPC_TIMEOUT_MS: '3000',
  PROVIDER_TIMEOUT_MS: '2000',
  REFRESH_LOCK_LEASE_MS: '5000',
  REFRESH_SCAN_INTERVAL_MS: '250',
  REFRESH_ON_DEMAND_WAIT_MS: '8000',
  PROBE_INTERVAL_SECONDS: '5',
  RATE_LIMIT_ANONYMOUS_PER_MINUTE: '1000000',
  RATE_LIMIT_PER_MINUTE: '1000000',
};

export async function startLoadPlatform(options: { accessTokenTtlSeconds?: number; marginSeconds?: number; env?: Record<string, string> } = {}): Promise<LoadPlatform> {
  const env = { ...PLATFORM_ENV, ...options.env };
  const ports = await reservePorts();
  const provider = await startOAuthServer({
    profile: 'google',
    accessTokenTtlSeconds: options.accessTokenTtlSeconds ?? 15,
    clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [`${gatewayUrlFor(ports)}/v1/oauth/callback/${PROVIDER}`] }],
  });
  const providers = {
    [PROVIDER]: {
      oauth2: {
        authorizationUrl: provider.authorizationEndpoint,
        tokenUrl: provider.tokenEndpoint,
        revocationUrl: provider.revocationEndpoint,
        issuer: provider.issuer,
        refresh: { marginSeconds: options.marginSeconds ?? 10, jitterSeconds: 1 },
      },
      probe: { url: provider.probeEndpoint },
    },
  };
  let platform: TestPlatform;
  try {
    platform = await startTestPlatform({ ports, providers, env });
  } catch (err) {
    await provider.stop();
    throw err;
  }
  const apiKey = await setUpTenant(platform, TENANT, { provider: PROVIDER, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, scopes: SCOPES });
  return {
    platform,
    provider,
    apiKey,
    target: { gatewayUrl: platform.gatewayUrl, queryUrl: platform.queryUrl, apiKey, provider: PROVIDER, scopes: SCOPES },
    env,
    async stop() {
      // For a failure's post-mortem: RESILIENCE_LOGS=<file> keeps every app's log lines.
      if (process.env.RESILIENCE_LOGS) writeFileSync(process.env.RESILIENCE_LOGS, platform.logs.join('\n'));
      await platform.stop();
      await provider.stop();
    },
  };
}

/** GET /health/ready of an app: true when it answers 200. */
export async function isReady(platform: TestPlatform, app: string): Promise<boolean> {
  try {
    const res = await fetch(`${platform.operationsUrls[app]}/health/ready`, { signal: AbortSignal.timeout(5_000) });
    await res.body?.cancel();
    return res.status === 200;
  } catch {
    return false;
  }
}

/** Every event of the history, read from JetStream on a connection of the test's own. */
export async function readHistory(natsUrl: string): Promise<RecordedEvent[]> {
  const nats = await connect({ servers: natsUrl, name: 'resilience-history' });
  try {
    const store = await JetStreamEventStore.create(nats);
    const events: RecordedEvent[] = [];
    const subscription = store.subscribeToAll(async (event) => {
      events.push(event);
    });
    await subscription.caughtUp;
    await subscription.stop();
    return events;
  } finally {
    await nats.close();
  }
}

const codec = JSONCodec<unknown>();

/** The version and expiry of the credential vault holds now (never its secrets), asked over NATS as query-api would. */
export async function vaultCredentialOf(nats: NatsConnection, connectionId: string): Promise<{ version: number; expiresAt: string | null } | null> {
  const subject = Rpc.vaultReadCredential.subject;
  const data = { tenantId: TENANT, connectionId, caller: 'resilience-test' };
  const reply = codec.decode((await nats.request(subject, codec.encode({ pattern: subject, data, id: `v-${connectionId}` }), { timeout: 5_000 })).data) as {
    response?: { version: number; credential: { expiresAt?: string | null } };
    err?: { code: string };
  };
  if (reply.err?.code === 'NOT_FOUND') return null;
  if (!reply.response) throw new Error(`vault read of ${connectionId}: ${JSON.stringify(reply.err)}`);
  return { version: reply.response.version, expiresAt: reply.response.credential.expiresAt ?? null };
}

/** The credential version vault holds now. */
export async function vaultVersionOf(nats: NatsConnection, connectionId: string): Promise<number | null> {
  return (await vaultCredentialOf(nats, connectionId))?.version ?? null;
}

type ConnectionEvent = RecordedEvent & { data: { connectionId: string; credentialVersion?: number; expiresAt?: string | null } };

const connectionEvents = (history: RecordedEvent[]) =>
  history.filter((e) => e.streamId.startsWith('connection-')) as ConnectionEvent[];

/** What the read model of a connection must be, folded from its history the way the projection means it. */
export function foldConnection(events: ConnectionEvent[]): Record<string, unknown> {
  const state: Record<string, unknown> = {};
  for (const e of events) {
    const at = e.metadata.occurredAt;
    switch (e.type) {
      case 'Connected':
        Object.assign(state, { status: 'connected', expiresAt: e.data.expiresAt ?? null, connectedAt: at, health: 'healthy', revokedAt: undefined, lastRefreshFailure: undefined });
        break;
      case 'Refreshed':
        Object.assign(state, { expiresAt: e.data.expiresAt ?? null, lastRefreshedAt: at, lastRefreshFailure: undefined });
        break;
      case 'RefreshFailed':
        state.lastRefreshFailure = at;
        break;
      case 'Revoked':
        Object.assign(state, { status: (e.data as { reason?: string }).reason === 'erased' ? 'erased' : 'revoked', revokedAt: at });
        break;
      case 'Degraded':
        state.health = 'degraded';
        break;
      case 'Recovered':
        state.health = 'healthy';
        break;
      case 'Disconnected':
        state.status = 'disconnected';
        break;
    }
    state.updatedAt = at;
  }
  return state;
}

export interface HistoryFindings {
  events: number;
  connectionStreams: number;
  connected: number;
  refreshed: number;
  refreshFailed: number;
  revoked: number;
  problems: string[];
}

/**
 * The history against what the load was told: eventIds unique; exactly one Connected per connect flow the user was
 * told succeeded, never two for one flow; per connection, credential versions in Connected and Refreshed increase by
 * one with no gap (a gap is a credential vault stored whose event is missing) up to the version vault holds now, and
 * each credential was replaced before it expired (the refresher kept up through the fault).
 */
export async function checkHistory(history: RecordedEvent[], outcomes: readonly Outcome[], nats: NatsConnection): Promise<HistoryFindings> {
  const problems: string[] = [];
  const ids = new Set<string>();
  for (const e of history) {
    if (ids.has(e.eventId)) problems.push(`event ${e.eventId} (${e.type}) stored twice`);
    ids.add(e.eventId);
  }
  const events = connectionEvents(history);
  const connectedByFlow = new Map<string, number>();
  for (const e of events.filter((e) => e.type === 'Connected')) connectedByFlow.set(e.metadata.correlationId, (connectedByFlow.get(e.metadata.correlationId) ?? 0) + 1);
  for (const [flow, n] of connectedByFlow) if (n > 1) problems.push(`flow ${flow} has ${n} Connected events`);
  for (const o of outcomes.filter((o) => o.kind === 'connect' && o.outcome === 'ok')) {
    if (!connectedByFlow.has(o.flowId!)) problems.push(`connect of ${o.userId} (${o.flowId}) was told it succeeded but has no Connected event`);
  }

  const streams = new Map<string, ConnectionEvent[]>();
  for (const e of events) streams.set(e.data.connectionId, [...(streams.get(e.data.connectionId) ?? []), e]);
  for (const [connectionId, stream] of streams) {
    const versions = stream.filter((e) => e.type === 'Connected' || e.type === 'Refreshed').map((e) => e.data.credentialVersion!);
    for (let i = 1; i < versions.length; i++) {
      if (versions[i] !== versions[i - 1] + 1) problems.push(`${connectionId}: credential version ${versions[i - 1]} is followed by ${versions[i]} in its history`);
    }
    // The refresher kept every token valid: each credential was replaced before the previous one expired.
    const credentials = stream.filter((e) => e.type === 'Connected' || e.type === 'Refreshed');
    for (let i = 1; i < credentials.length; i++) {
      const expiredAt = credentials[i - 1].data.expiresAt;
      const lateMs = expiredAt ? Date.parse(credentials[i].metadata.occurredAt) - Date.parse(expiredAt) : 0;
      if (lateMs > 0) problems.push(`${connectionId}: its token expired at ${expiredAt} and was replaced only ${lateMs} ms later`);
    }
    const revoked = stream.some((e) => e.type === 'Revoked' || e.type === 'Disconnected');
    const held = await vaultVersionOf(nats, connectionId);
    if (!revoked && held !== versions.at(-1)) problems.push(`${connectionId}: vault holds version ${held}, its history ends at ${versions.at(-1)}`);
  }
  const count = (type: string) => events.filter((e) => e.type === type).length;
  return {
    events: history.length,
    connectionStreams: streams.size,
    connected: count('Connected'),
    refreshed: count('Refreshed'),
    refreshFailed: count('RefreshFailed'),
    revoked: count('Revoked'),
    problems,
  };
}

/** The read models (list and detail) against the fold of each connection's history. */
export async function checkReadModels(target: SteadyLoadTarget, history: RecordedEvent[]): Promise<string[]> {
  const api = async (path: string) => {
    const res = await fetch(`${target.queryUrl}${path}`, { headers: { authorization: `Bearer ${target.apiKey}` }, signal: AbortSignal.timeout(10_000) });
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<Record<string, unknown>>;
  };
  const listed = new Map<string, Record<string, unknown>>();
  for (let cursor: string | undefined, first = true; first || cursor; first = false) {
    const page = (await api(`/v1/connections?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)) as { items: Record<string, unknown>[]; next?: string };
    for (const item of page.items) listed.set(item.connectionId as string, item);
    cursor = page.next;
  }
  const problems: string[] = [];
  const streams = new Map<string, ConnectionEvent[]>();
  for (const e of connectionEvents(history)) streams.set(e.data.connectionId, [...(streams.get(e.data.connectionId) ?? []), e]);
  const fields = ['status', 'expiresAt', 'connectedAt', 'health', 'lastRefreshedAt', 'revokedAt', 'updatedAt'] as const;
  for (const [connectionId, stream] of streams) {
    if (!stream.some((e) => e.type === 'Connected')) continue; // only failed attempts: no read model
    const expected = foldConnection(stream);
    const detail = await api(`/v1/connections/${connectionId}`);
    for (const [where, view] of [['list', listed.get(connectionId)], ['detail', detail]] as const) {
      if (!view) {
        problems.push(`${connectionId} missing from the ${where}`);
        continue;
      }
      for (const field of fields) {
        const actual = field === 'revokedAt' || field === 'lastRefreshedAt' ? view[field] : view[field];
        if (actual !== expected[field]) problems.push(`${connectionId} ${where}.${field} = ${String(actual)}, its history says ${String(expected[field])}`);
      }
      const failure = (view.lastRefreshFailure as { at?: string } | undefined)?.at;
      if (failure !== expected.lastRefreshFailure) problems.push(`${connectionId} ${where}.lastRefreshFailure.at = ${failure}, its history says ${String(expected.lastRefreshFailure)}`);
    }
    const timeline = (detail.timeline as { eventId: string }[]).map((t) => t.eventId);
    if (timeline.join() !== stream.map((e) => e.eventId).join()) problems.push(`${connectionId}: the detail's timeline differs from its stream`);
  }
  if (listed.size !== [...streams.values()].filter((s) => s.some((e) => e.type === 'Connected')).length) {
    problems.push(`the list has ${listed.size} connections, the history ${streams.size}`);
  }
  return problems;
}

/** Poll until the read models agree with the history (projections catch up), then return what still differs. */
export async function readModelsAgree(target: SteadyLoadTarget, natsUrl: string, timeoutMs = 30_000): Promise<{ history: RecordedEvent[]; problems: string[] }> {
  let last: { history: RecordedEvent[]; problems: string[] } = { history: [], problems: ['never checked'] };
  await eventually(
    async () => {
      const history = await readHistory(natsUrl);
      last = { history, problems: await checkReadModels(target, history) };
      return last.problems.length ? undefined : true;
    },
    timeoutMs,
    'the read models to agree with the history',
  ).catch(() => undefined);
  return last;
}

/**
 * Every connection still connected: its credential is readable through the credential endpoint and its token is
 * accepted by the provider.
 */
export async function checkCredentialsLive(target: SteadyLoadTarget, provider: OAuthServerHandle, history: RecordedEvent[]): Promise<{ checked: number; problems: string[] }> {
  const live = new Map<string, string>();
  for (const e of connectionEvents(history)) {
    if (e.type === 'Connected') live.set(e.data.connectionId, (e.data as unknown as { userId: string }).userId);
    if (e.type === 'Revoked' || e.type === 'Disconnected') live.delete(e.data.connectionId);
  }
  const problems: string[] = [];
  for (const userId of live.values()) {
    const res = await fetch(`${target.queryUrl}/v1/credentials/${PROVIDER}/${encodeURIComponent(userId)}`, {
      headers: { authorization: `Bearer ${target.apiKey}` },
      signal: AbortSignal.timeout(30_000),
    });
    const body = (await res.json()) as { accessToken?: string; code?: string };
    if (res.status !== 200 || !body.accessToken) {
      problems.push(`credential of ${userId}: ${res.status} ${body.code}`);
      continue;
    }
    const probe = await fetch(provider.probeEndpoint, { headers: { authorization: `Bearer ${body.accessToken}` } });
    if (probe.status !== 200) problems.push(`the provider refuses the token of ${userId}: ${probe.status}`);
  }
  return { checked: live.size, problems };
}

/** Refresh locks still held (a lease not released and not yet expired) in the refresher's KV bucket. */
export async function heldRefreshLocks(nats: NatsConnection, now = Date.now()): Promise<string[]> {
  const kv = await nats.jetstream().views.kv('authpipe_refresh_locks');
  const held: string[] = [];
  for await (const key of await kv.keys()) {
    const entry = await kv.get(key);
    if (!entry || entry.operation !== 'PUT') continue;
    const record = codec.decode(entry.value) as { owner?: string; expiresAt?: number };
    if ((record.expiresAt ?? 0) > now) held.push(`${key} held by ${record.owner} until ${new Date(record.expiresAt ?? 0).toISOString()}`);
  }
  return held;
}

/** How many refresh grants the provider answered with a token (refresh_token requests minus failures). */
export async function refreshesIssued(provider: OAuthServerHandle): Promise<{ requests: number; issued: number; codeExchanges: number }> {
  const stats = await provider.stats();
  const codeExchanges = stats.token_requests.authorization_code ?? 0;
  const ok = stats.token_responses['200'] ?? 0;
  return { requests: stats.token_requests.refresh_token ?? 0, issued: ok - codeExchanges, codeExchanges };
}

export const connectionOf = (userId: string) => connectionIdFor(TENANT, PROVIDER, userId);
