import { AckPolicy, connect, ConsumerMessages, DeliverPolicy, JSONCodec, NatsConnection } from 'nats';
import { INTEGRATION_STREAM, IntegrationEventMessage } from '@authpipe/contracts';
import { browse, CookieJar } from '../support/oauth-server/browser-less';
import { OAuthServerHandle, startOAuthServer } from '../support/oauth-server/spawn';
import { FakeClickSend, startFakeClickSend } from '../support/fake-clicksend';
import { eventually, gatewayUrlFor, reservePorts, startTestPlatform, TestPlatform } from '../support/test-platform';

/*
 * The health monitor and the integration stream, end to end: the five apps as processes, local providers, a short
 * probe interval, and a platform team's subscriber as a real durable JetStream consumer on the integration stream.
 * - a grant revoked at the provider -> Revoked within one probe interval, received once by the subscriber;
 * - transient 503s on the probe endpoint -> Degraded after PROBE_DEGRADED_AFTER in a row, Recovered when they stop;
 * - a ClickSend key revoked -> Revoked through the HTTP Basic probe;
 * - an Aircall permanent token is probed and stays healthy.
 */

const INTERVAL_S = 3;
const DEGRADED_AFTER = 3;
const SLACK_MS = 2_500;
const TENANT = 'org_health';
const codec = JSONCodec<IntegrationEventMessage>();

type Connection = { connectionId: string; userId: string; status: string; health: string; revocationReason?: string; expiresAt: string | null; refreshable: boolean };
type Received = { message: IntegrationEventMessage; subject: string; msgId?: string };

describe('health monitor: probes, revocations and the integration stream', () => {
  const servers = {} as Record<'gmail' | 'discord' | 'aircall', OAuthServerHandle>;
  const clientSecrets: Record<string, string> = {};
  const seenSecrets: string[] = [];
  let clicksend: FakeClickSend;
  let platform: TestPlatform;
  let apiKey: string;
  let nats: NatsConnection;
  const subscriptions: ConsumerMessages[] = [];

  const api = (base: string, path: string, init: RequestInit = {}) =>
    fetch(`${base}${path}`, { ...init, headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', ...(init.headers ?? {}) } });
  async function connection(provider: string, userId: string): Promise<Connection | undefined> {
    const res = await api(platform.queryUrl, `/v1/connections?provider=${provider}&userId=${userId}`);
    return ((await res.json()) as { items: Connection[] }).items[0];
  }
  const until = (provider: string, userId: string, what: string, test: (c: Connection) => boolean, timeoutMs: number) =>
    eventually(async () => {
      const c = await connection(provider, userId);
      return c && test(c) ? c : undefined;
    }, timeoutMs, `${provider}/${userId}: ${what}`);

  async function connectOAuth(provider: 'gmail' | 'discord' | 'aircall', userId: string): Promise<Connection> {
    const res = await api(platform.gatewayUrl, '/v1/connect-sessions', { method: 'POST', body: JSON.stringify({ provider, userId }) });
    expect(res.status).toBe(201);
    const { connectUrl } = (await res.json()) as { connectUrl: string };
    expect((await browse(connectUrl, { jar: new CookieJar() })).response.status).toBe(200);
    return until(provider, userId, 'connected', (c) => c.status === 'connected', 10_000);
  }

  async function accessToken(provider: string, userId: string): Promise<string> {
    const body = (await (await api(platform.queryUrl, `/v1/credentials/${provider}/${userId}`)).json()) as { accessToken: string };
    seenSecrets.push(body.accessToken);
    return body.accessToken;
  }

  /** What a platform team runs: a durable consumer on the integration stream, acking each message after handling it. */
  async function subscribe(durable: string, filter: string): Promise<Received[]> {
    const jsm = await nats.jetstreamManager();
    // query-api's relay creates the stream as it starts.
    await eventually(() => jsm.streams.info(INTEGRATION_STREAM).then(() => true), 10_000, 'the integration stream');
    await jsm.consumers.add(INTEGRATION_STREAM, { durable_name: durable, filter_subject: filter, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All });
    const messages = await (await nats.jetstream().consumers.get(INTEGRATION_STREAM, durable)).consume();
    subscriptions.push(messages);
    const received: Received[] = [];
    void (async () => {
      for await (const m of messages) {
        received.push({ message: codec.decode(m.data), subject: m.subject, msgId: m.headers?.get('Nats-Msg-Id') });
        m.ack();
      }
    })();
    return received;
  }
  const about = (received: Received[], connectionId: string, type?: string) =>
    received.filter((r) => r.message.connectionId === connectionId && (!type || r.message.type === type));

  let revocations: Received[];
  let discordEvents: Received[];
  let aircall: Connection;
  let aircallProbesAtConnect: number;

  beforeAll(async () => {
    const ports = await reservePorts();
    for (const [provider, profile] of [['gmail', 'google'], ['discord', 'discord'], ['aircall', 'aircall']] as const) {
      clientSecrets[provider] = `${provider}-secret-${Math.random().toString(36).slice(2)}`;
      seenSecrets.push(clientSecrets[provider]);
      servers[provider] = await startOAuthServer({
        profile,
        clients: [{ client_id: `${provider}-client`, client_secret: clientSecrets[provider], redirect_uris: [`${gatewayUrlFor(ports)}/v1/oauth/callback/${provider}`] }],
      });
    }
    clicksend = await startFakeClickSend({ accounts: { acme_sms: 'clicksend-key-health' } });
    seenSecrets.push('clicksend-key-health');
    const oauth2 = (s: OAuthServerHandle) => ({ authorizationUrl: s.authorizationEndpoint, tokenUrl: s.tokenEndpoint, revocationUrl: s.revocationEndpoint, issuer: s.issuer });
    platform = await startTestPlatform({
      ports,
      env: { PROBE_INTERVAL_SECONDS: String(INTERVAL_S), PROBE_DEGRADED_AFTER: String(DEGRADED_AFTER), PROVIDER_TIMEOUT_MS: '2000' },
      providers: {
        gmail: { oauth2: oauth2(servers.gmail), probe: { url: servers.gmail.probeEndpoint } },
        discord: { oauth2: oauth2(servers.discord), probe: { url: servers.discord.probeEndpoint } },
        aircall: { oauth2: { ...oauth2(servers.aircall), revocationUrl: undefined }, probe: { url: servers.aircall.probeEndpoint } },
        clicksend: { apiKey: { verifyUrl: clicksend.verifyUrl }, probe: { url: clicksend.verifyUrl } },
      },
    });
    const admin = (path: string, body: unknown) =>
      fetch(`${platform.queryUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${platform.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await admin('/v1/admin/tenants', { tenantId: TENANT, name: 'Health' })).status).toBe(201);
    apiKey = ((await (await admin(`/v1/admin/tenants/${TENANT}/api-keys`, {})).json()) as { apiKey: string }).apiKey;
    seenSecrets.push(apiKey);
    const scopes = { gmail: ['https://www.googleapis.com/auth/gmail.readonly'], discord: ['identify'], aircall: ['public_api'] };
    for (const provider of ['gmail', 'discord', 'aircall'] as const) {
      const body = { clientId: `${provider}-client`, clientSecret: clientSecrets[provider], scopes: scopes[provider] };
      const res = await api(platform.queryUrl, `/v1/integrations/${provider}`, { method: 'PUT', body: JSON.stringify(body) });
      expect(res.status).toBe(200);
    }

    nats = await connect({ servers: platform.nats.url, name: 'platform-team-subscriber' });
    revocations = await subscribe('acme-revocations', `authpipe.integration.${TENANT}.*.Revoked`);
    discordEvents = await subscribe('acme-discord', `authpipe.integration.${TENANT}.discord.>`);

    // Aircall is checked at the end, after it has had many probe intervals to go wrong.
    aircallProbesAtConnect = (await servers.aircall.stats()).probe_requests.ok;
    aircall = await connectOAuth('aircall', 'a1');
  });

  afterAll(async () => {
    for (const s of subscriptions) s.stop();
    await nats?.close();
    await platform?.stop();
    await Promise.all(Object.values(servers).map((s) => s.stop()));
    await clicksend?.stop();
  });

  it('finds a grant revoked at the provider within one probe interval and a subscriber receives Revoked', async () => {
    const gmail = await connectOAuth('gmail', 'g1');
    // Wait for the connection's first probe: from then on it is probed once per interval.
    await eventually(async () => ((await servers.gmail.stats()).probe_requests.ok > 0 ? true : undefined), INTERVAL_S * 1000 + SLACK_MS, 'the first gmail probe');
    await servers.gmail.revokeGrant({ access_token: await accessToken('gmail', 'g1') });

    const revoked = await until('gmail', 'g1', 'revoked', (c) => c.status === 'revoked', INTERVAL_S * 1000 + SLACK_MS);
    expect(revoked.revocationReason).toBe('probe_unauthorized');
    const received = await eventually(async () => about(revocations, gmail.connectionId)[0], 5_000, 'the Revoked message');
    expect(received.subject).toBe(`authpipe.integration.${TENANT}.gmail.Revoked`);
    expect(received.msgId).toBe(received.message.eventId);
    expect(received.message).toMatchObject({
      type: 'Revoked',
      tenantId: TENANT,
      provider: 'gmail',
      connectionId: gmail.connectionId,
      data: { reason: 'probe_unauthorized', detectedBy: 'health-monitor' },
    });
    // The credential endpoint says so too.
    const res = await api(platform.queryUrl, '/v1/credentials/gmail/g1');
    expect(res.status).toBe(409);
  });

  it(`degrades a connection after ${DEGRADED_AFTER} transient failures in a row and recovers it when they stop`, async () => {
    const discord = await connectOAuth('discord', 'd1');
    await eventually(async () => ((await servers.discord.stats()).probe_requests.ok > 0 ? true : undefined), INTERVAL_S * 1000 + SLACK_MS, 'the first discord probe');
    await servers.discord.faults({ probe: { status: 503, times: DEGRADED_AFTER } });

    const degraded = await until('discord', 'd1', 'degraded', (c) => c.health === 'degraded', (DEGRADED_AFTER + 1) * INTERVAL_S * 1000 + SLACK_MS);
    expect(degraded.status).toBe('connected');
    const recovered = await until('discord', 'd1', 'healthy again', (c) => c.health === 'healthy', 2 * INTERVAL_S * 1000 + SLACK_MS);
    expect(recovered.status).toBe('connected');
    expect((await servers.discord.stats()).faults_injected.probe).toBe(DEGRADED_AFTER);

    await eventually(async () => (about(discordEvents, discord.connectionId, 'Recovered').length ? true : undefined), 5_000, 'Recovered on the stream');
    expect(about(discordEvents, discord.connectionId).map((r) => r.message.type)).toEqual(['Connected', 'Degraded', 'Recovered']);
    expect(about(discordEvents, discord.connectionId, 'Degraded')[0].message.data).toMatchObject({ consecutiveFailures: DEGRADED_AFTER, lastFailure: '503' });
  });

  it('finds a revoked ClickSend key through the HTTP Basic probe', async () => {
    const res = await api(platform.gatewayUrl, '/v1/api-key-connections', {
      method: 'POST',
      body: JSON.stringify({ provider: 'clicksend', userId: 'c1', username: 'acme_sms', apiKey: 'clicksend-key-health' }),
    });
    expect(res.status).toBe(201);
    const key = await until('clicksend', 'c1', 'connected', (c) => c.status === 'connected', 10_000);
    const afterConnect = clicksend.requests();
    await eventually(async () => (clicksend.requests() > afterConnect ? true : undefined), INTERVAL_S * 1000 + SLACK_MS, 'the first clicksend probe');
    expect((await connection('clicksend', 'c1'))?.status).toBe('connected'); // the probe with the good key was fine
    clicksend.revoke('acme_sms');

    const revoked = await until('clicksend', 'c1', 'revoked', (c) => c.status === 'revoked', INTERVAL_S * 1000 + SLACK_MS);
    expect(revoked.revocationReason).toBe('probe_unauthorized');
    const received = await eventually(async () => about(revocations, key.connectionId)[0], 5_000, 'the Revoked message');
    expect(received.subject).toBe(`authpipe.integration.${TENANT}.clicksend.Revoked`);
  });

  it('probes an Aircall permanent token, which stays healthy', async () => {
    await eventually(
      async () => ((await servers.aircall.stats()).probe_requests.ok >= aircallProbesAtConnect + 2 ? true : undefined),
      3 * INTERVAL_S * 1000 + SLACK_MS,
      'two aircall probes',
    );
    const now = await connection('aircall', 'a1');
    expect(now).toMatchObject({ status: 'connected', health: 'healthy', expiresAt: null, refreshable: false });
    expect((await servers.aircall.stats()).probe_requests.unauthorized).toBe(0);
    expect(about(revocations, aircall.connectionId)).toEqual([]);
  });

  it('delivered every integration event exactly once (at least once, deduplicated by Nats-Msg-Id)', async () => {
    // By now every revocation has had several probe intervals to be (wrongly) published twice.
    const ids = revocations.map((r) => r.message.eventId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(revocations.map((r) => `${r.message.provider}/${r.message.type}`).sort()).toEqual(['clicksend/Revoked', 'gmail/Revoked']);
    const discordIds = discordEvents.map((r) => r.message.eventId);
    expect(new Set(discordIds).size).toBe(discordIds.length);
    // Every message the stream holds is one event: the relay's copies were all deduplicated.
    const info = await (await nats.jetstreamManager()).streams.info(INTEGRATION_STREAM);
    const all = await subscribe('audit-all', `authpipe.integration.${TENANT}.>`);
    await eventually(async () => (all.length >= info.state.messages ? true : undefined), 5_000, 'every message');
    const allIds = all.map((r) => r.message.eventId);
    expect(new Set(allIds).size).toBe(allIds.length);
  });

  it('wrote no token, API key or client secret to any log or integration event', async () => {
    const logs = platform.logs.join('\n');
    const events = JSON.stringify([...revocations, ...discordEvents]);
    for (const secret of seenSecrets) {
      expect(logs).not.toContain(secret);
      expect(events).not.toContain(secret);
    }
  });
});
