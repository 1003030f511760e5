import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { connect, NatsConnection } from 'nats';
import { connectionIdFor, connectionStream, integrationSubject, INTEGRATION_STREAM } from '@authpipe/contracts';
import { JetStreamEventStore } from '@authpipe/event-store';
import { browse, CookieJar } from '../support/oauth-server/browser-less';
import { eventually, setUpTenant } from '../support/test-platform';
import { APPS, CLIENT_ID, CLIENT_SECRET, isReady, LoadPlatform, PROVIDER, SCOPES, startLoadPlatform, TENANT } from './support/load-platform';

/*
 * Poison messages on the event stream: anyone allowed to publish to an event subject (`authpipe.events.>`; the
 * embedded platform's nats-server has no users) can put there a message that is not an event. Before the event store
 * skipped them, one such message ended the projections of query-api, refresher and health-monitor for good and kept
 * the integration relay restarting.
 *
 * Against the real platform: garbage (not JSON, not UTF-8, JSON of the wrong shape, an envelope without its metadata,
 * a subject that is no event stream, a message near NATS's size limit) is published straight to event subjects, on
 * the stream of an existing tenant and on the stream of a tenant not yet created. Then:
 * - a tenant created afterwards (on the subject that holds garbage) is listed, gets an API key and an integration; an
 *   API key for the existing tenant is issued (an append after garbage on its stream);
 * - a user of the new tenant connects and reads a credential (query-api's projection), the refresher refreshes it
 *   (its projection), the health monitor probes it (its projection), the relay publishes its integration events;
 * - nothing of the garbage reached a read model, an integration event or a log line (each body carries a marker);
 * - every consuming app counts the skipped messages in authpipe_event_store_skipped_messages_total, by reason.
 */

// This process reads the connection stream too: its own skip logs are not what is checked (the apps' are).
Logger.overrideLogger(false);

const uid = () => randomUUID().replace(/-/g, '').slice(0, 10);
const CONSUMERS = ['query-api', 'refresher', 'health-monitor'] as const;
const REASONS = ['not_json', 'not_utf8', 'not_an_envelope', 'not_an_event_stream'];

/** Sum of a counter's series on an app's /metrics, by the value of one label. */
async function counterByLabel(url: string, metric: string, label: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const sums: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`)) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    const key = new RegExp(`${label}="([^"]*)"`).exec(line)?.[1] ?? '';
    sums[key] = (sums[key] ?? 0) + value;
  }
  return sums;
}

describe('poison messages on the event stream', () => {
  let lp: LoadPlatform;
  let nc: NatsConnection;
  const marker = `poison${uid()}`;
  const tenantId = `org_after_${uid()}`;
  const userId = 'poison-user';
  const connectionId = connectionIdFor(tenantId, PROVIDER, userId);
  let apiKey: string;

  beforeAll(async () => {
    lp = await startLoadPlatform({ accessTokenTtlSeconds: 20, marginSeconds: 10 });
    nc = await connect({ servers: lp.platform.nats.url, name: 'resilience-poison' });
  }, 120_000);

  afterAll(async () => {
    await nc?.close();
    await lp?.stop();
  });

  it('skips messages that are not events: every projection and the relay keep running, nothing of them is kept', async () => {
    const text = (s: string) => new TextEncoder().encode(s);
    const huge = text(`${marker}${'{'.repeat(nc.info!.max_payload - 4_096)}`);
    const garbage: { subject: string; data: Uint8Array }[] = [
      { subject: `authpipe.events.tenant.${tenantId}`, data: text(`not json ${marker} {`) },
      { subject: `authpipe.events.tenant.${tenantId}`, data: new Uint8Array([0x7b, 0xff, 0xfe, ...text(marker), 0xc3, 0x28, 0x7d]) },
      // Shaped like an event that would erase the existing tenant, and one that would create the new one with the marker
      // as its name: neither is an event envelope.
      { subject: `authpipe.events.tenant.${TENANT}`, data: text(JSON.stringify({ type: 'TenantErased', data: { tenantId: TENANT }, note: marker })) },
      {
        subject: `authpipe.events.tenant.${tenantId}`,
        data: text(JSON.stringify({ eventId: randomUUID(), type: 'TenantCreated', data: { tenantId, name: marker }, metadata: { correlationId: marker } })),
      },
      { subject: 'authpipe.events.poison', data: text(JSON.stringify({ marker })) },
      { subject: `authpipe.events.connection.${connectionId}`, data: huge },
    ];
    const js = nc.jetstream();
    for (const g of garbage) await js.publish(g.subject, g.data);

    // A tenant created afterwards, on the subject that holds garbage; an append after garbage on an existing stream.
    apiKey = await setUpTenant(lp.platform, tenantId, { provider: PROVIDER, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, scopes: SCOPES });
    const admin = (path: string, init: RequestInit = {}) =>
      fetch(`${lp.platform.queryUrl}${path}`, { ...init, headers: { authorization: `Bearer ${lp.platform.adminToken}`, 'content-type': 'application/json' } });
    expect((await admin(`/v1/admin/tenants/${TENANT}/api-keys`, { method: 'POST', body: '{}' })).status).toBe(201);
    const listed = await eventually(async () => {
      const res = await admin(`/v1/admin/tenants/${tenantId}`);
      return res.status === 200 ? ((await res.json()) as { name: string; status: string }) : undefined;
    }, 30_000, 'the new tenant in the read model');
    expect(listed).toMatchObject({ name: tenantId, status: 'active' });
    expect(await (await admin(`/v1/admin/tenants/${TENANT}`)).json()).toMatchObject({ status: 'active' });

    // A user of the new tenant connects (its connection stream holds the huge message) and reads a credential.
    const session = await fetch(`${lp.platform.gatewayUrl}/v1/connect-sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ provider: PROVIDER, userId, scopes: SCOPES }),
    });
    expect(session.status).toBe(201);
    const flow = await browse(((await session.json()) as { connectUrl: string }).connectUrl, { jar: new CookieJar() });
    expect(flow.body).toMatch(/<h1>Connected<\/h1>/);
    const credential = await eventually(async () => {
      const res = await fetch(`${lp.platform.queryUrl}/v1/credentials/${PROVIDER}/${userId}`, { headers: { authorization: `Bearer ${apiKey}` } });
      return res.status === 200 ? ((await res.json()) as { accessToken?: string }) : undefined;
    }, 30_000, 'a credential for the user connected after the garbage');
    expect(credential.accessToken).toEqual(expect.any(String));

    // The refresher's projection saw the connection: it refreshes it (tokens of 20 s, refreshed 10 s before expiry).
    const store = await JetStreamEventStore.create(nc);
    const history = await eventually(async () => {
      const events = await store.readStream(connectionStream(connectionId));
      return events.some((e) => e.type === 'Refreshed') ? events : undefined;
    }, 45_000, 'the refresher to refresh the new connection');
    expect(history[0]).toMatchObject({ type: 'Connected', previousRevision: null });
    // The health monitor's projection saw it: it takes it up at its probe slot (and skips the probe: its short-lived
    // token is inside the refresh margin; a connection missing from its read model would be passed over in silence).
    await eventually(
      async () => (lp.platform.logs.some((line) => line.startsWith('[health-monitor]') && line.includes(`probe of ${connectionId}`)) ? true : undefined),
      30_000,
      'the health monitor to take up the new connection',
    );
    // The relay published the connection's events.
    const jsm = await nc.jetstreamManager();
    for (const type of ['Connected', 'Refreshed']) {
      const relayed = await eventually(
        () => jsm.streams.getMessage(INTEGRATION_STREAM, { last_by_subj: integrationSubject(tenantId, PROVIDER, type) }).catch(() => undefined),
        30_000,
        `the relay to publish ${type}`,
      );
      expect(relayed.json<{ connectionId: string }>()).toMatchObject({ connectionId });
    }

    // Nothing of the garbage was kept: read models, integration events, logs.
    const connections = (await (await fetch(`${lp.platform.queryUrl}/v1/connections`, { headers: { authorization: `Bearer ${apiKey}` } })).json()) as unknown;
    expect(JSON.stringify(connections)).toContain(connectionId);
    expect(JSON.stringify(connections)).not.toContain(marker);
    const { state } = await jsm.streams.info(INTEGRATION_STREAM);
    for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
      expect(new TextDecoder().decode((await jsm.streams.getMessage(INTEGRATION_STREAM, { seq })).data)).not.toContain(marker);
    }
    expect(lp.platform.logs.filter((line) => line.includes(marker))).toEqual([]);

    // Each consuming app skipped every kind of garbage, logged it by position and subject, and counted it.
    for (const app of CONSUMERS) {
      const skipped = await counterByLabel(lp.platform.operationsUrls[app], 'authpipe_event_store_skipped_messages_total', 'reason');
      for (const reason of REASONS) expect({ app, reason, counted: (skipped[reason] ?? 0) > 0 }).toEqual({ app, reason, counted: true });
      const logged = lp.platform.logs.filter((line) => line.startsWith(`[${app}]`) && line.includes('skipped a message that is not an event'));
      expect({ app, logged: logged.some((line) => line.includes(`on authpipe.events.tenant.${TENANT}`)) }).toEqual({ app, logged: true });
    }
    for (const app of APPS) expect({ app, ready: await isReady(lp.platform, app) }).toEqual({ app, ready: true });
    expect(lp.platform.logs.filter((line) => /relay .* stopped|projection subscription .* ended/.test(line))).toEqual([]);
  }, 180_000);
});
