import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@authpipe/config';
import { connectionStream, CredentialSecret, NewEvent, RecordedEvent, RpcErrorCodes } from '@authpipe/contracts';
import type { AppendResult, EventStore, ExpectedRevision } from '@authpipe/event-store';
import { WrongExpectedRevisionError } from '@authpipe/event-store';
import { RpcClient, RpcError } from '@authpipe/messaging';
import { EventWriter, systemClock } from '@authpipe/platform';
import { ProviderCatalog } from '@authpipe/providers';
import { InProcessLockTable, InProcessRefreshLock } from '../lock/in-process/in-process-refresh-lock';
import type { RefreshLock } from '../lock/refresh-lock.port';
import { RefresherConfig } from '../refresher.config';
import { refreshedEventId } from './refresh-decisions';
import { RefreshService } from './refresh.service';

/*
 * One flight end to end inside this process: a local token endpoint (node:http), vault and query-api faked behind
 * the RpcClient, events in a memory event store, the in-process lock. Time is real but short (10 ms backoffs).
 */

const TENANT = 'org_a';
const ID = 'con_AAAAAAAAAAAAAAAAAAAAAA';

/** Stream-per-id event store with optimistic concurrency, enough for EventWriter. */
class MemoryEventStore implements EventStore {
  readonly streams = new Map<string, RecordedEvent[]>();
  private position = 0n;
  /** Appends that fail next (an event store that is gone, beyond EventWriter's retries). */
  failAppends = 0;
  async appendToStream(streamId: string, events: NewEvent[], options: { expectedRevision: ExpectedRevision }): Promise<AppendResult> {
    if (this.failAppends > 0 && this.failAppends--) throw new Error('the event store is gone');
    const stream = this.streams.get(streamId) ?? [];
    const current = stream.length ? stream[stream.length - 1].revision : 'no_stream';
    if (options.expectedRevision !== 'any' && options.expectedRevision !== current) throw new WrongExpectedRevisionError(streamId, String(options.expectedRevision));
    for (const e of events) stream.push({ ...e, streamId, revision: BigInt(stream.length), position: ++this.position } as RecordedEvent);
    this.streams.set(streamId, stream);
    return { nextExpectedRevision: BigInt(stream.length - 1), position: this.position };
  }
  async readStream(streamId: string): Promise<RecordedEvent[]> {
    return [...(this.streams.get(streamId) ?? [])];
  }
  subscribeToAll(): never {
    throw new Error('not used');
  }
  async close(): Promise<void> {}
}

/** vault (one credential, compare-and-set versions) and query-api (the integration) behind an RpcClient. */
class FakePlatform {
  credential: { version: number; credential: CredentialSecret } | null = null;
  stores: { expectedVersion?: number; refreshToken?: string }[] = [];
  /** The next store is written and its reply lost (vault died before answering). */
  loseStoreReply = false;
  async request(name: string, payload: Record<string, unknown>): Promise<unknown> {
    switch (name) {
      case 'vaultReadCredential':
        if (!this.credential) throw new RpcError(RpcErrorCodes.NotFound, 'none');
        return { version: this.credential.version, provider: 'discord', credential: { ...this.credential.credential } };
      case 'vaultStoreCredential': {
        const expected = payload.expectedVersion as number | undefined;
        this.stores.push({ expectedVersion: expected, refreshToken: (payload.credential as CredentialSecret).refreshToken });
        if (expected !== undefined && expected !== this.credential?.version) throw new RpcError(RpcErrorCodes.Conflict, 'stale');
        this.credential = { version: (this.credential?.version ?? 0) + 1, credential: payload.credential as CredentialSecret };
        if (this.loseStoreReply) {
          this.loseStoreReply = false;
          throw new RpcError(RpcErrorCodes.Timeout, 'no reply from vault');
        }
        return { version: this.credential.version };
      }
      case 'queryGetIntegration':
        return { tenantId: TENANT, provider: 'discord', clientId: 'client', scopes: ['identify'], vaultVersion: 1 };
      case 'vaultReadTenantSecret':
        return { version: 1, value: 'client-secret' };
      default:
        throw new Error(`unexpected ${name}`);
    }
  }
}

type Answer = { status: number; body: Record<string, unknown> };

describe('RefreshService', () => {
  let server: Server;
  let dir: string;
  let catalog: ProviderCatalog;
  /** What the token endpoint answers next (then: a rotated token). */
  let answers: (Answer | ((form: URLSearchParams) => Answer))[];
  let tokenCalls: URLSearchParams[];
  let platform: FakePlatform;
  let events: MemoryEventStore;
  let table: InProcessLockTable;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c) => (raw += c));
      req.on('end', () => {
        const form = new URLSearchParams(raw);
        tokenCalls.push(form);
        const next = answers.shift() ?? { status: 200, body: { access_token: `at-${tokenCalls.length}`, token_type: 'Bearer', expires_in: 3600, refresh_token: `rt-${tokenCalls.length}` } };
        const answer = typeof next === 'function' ? next(form) : next;
        setTimeout(() => res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body)), 20);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    dir = mkdtempSync(join(tmpdir(), 'refresher-spec-'));
    const overlay = join(dir, 'providers.json');
    writeFileSync(overlay, JSON.stringify({ discord: { oauth2: { tokenUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token` } } }));
    catalog = ProviderCatalog.load(overlay);
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    answers = [];
    tokenCalls = [];
    platform = new FakePlatform();
    platform.credential = { version: 1, credential: { type: 'oauth2', accessToken: 'at-0', refreshToken: 'rt-0', expiresAt: new Date(Date.now() + 60_000).toISOString() } };
    events = new MemoryEventStore();
    table = new InProcessLockTable();
  });

  const config = loadConfig(RefresherConfig, {
    REFRESH_BACKOFF_BASE_MS: '10',
    REFRESH_BACKOFF_MAX_MS: '40',
    REFRESH_MAX_ATTEMPTS: '3',
    REFRESH_LOCK_POLL_MS: '10',
    REFRESH_ON_DEMAND_WAIT_MS: '3000',
    REFRESH_FAILURE_COOLDOWN_SECONDS: '1',
  });
  const replica = (owner: string, lock: RefreshLock = new InProcessRefreshLock(owner, config.REFRESH_LOCK_LEASE_MS, table)) =>
    new RefreshService(config, catalog, platform as unknown as RpcClient, new EventWriter(events, 'refresher', systemClock), lock, systemClock);
  const history = () => (events.streams.get(connectionStream(ID)) ?? []).map((e) => ({ type: e.type, ...e.data }));
  const refreshOnDemand = (service: RefreshService) => service.refreshOnDemand(TENANT, ID, 'corr');

  it('stores the rotated refresh token first (compare-and-set on the version refreshed), then appends Refreshed', async () => {
    const reply = await refreshOnDemand(replica('a'));
    expect(reply).toMatchObject({ outcome: 'refreshed', credentialVersion: 2 });
    expect(tokenCalls.map((f) => f.get('refresh_token'))).toEqual(['rt-0']);
    expect(platform.stores).toEqual([{ expectedVersion: 1, refreshToken: 'rt-1' }]);
    expect(history()).toEqual([expect.objectContaining({ type: 'Refreshed', credentialVersion: 2, rotated: true })]);
  });

  it('keeps the old refresh token when the provider sends none', async () => {
    answers = [{ status: 200, body: { access_token: 'at-new', token_type: 'Bearer', expires_in: 3600 } }];
    await refreshOnDemand(replica('a'));
    expect(platform.credential!.credential).toMatchObject({ accessToken: 'at-new', refreshToken: 'rt-0' });
    expect(history()).toEqual([expect.objectContaining({ type: 'Refreshed', rotated: false })]);
  });

  it('does nothing on demand outside the margin, or when scheduled for a version vault has already replaced', async () => {
    platform.credential!.credential.expiresAt = new Date(Date.now() + 7_200_000).toISOString();
    expect(await refreshOnDemand(replica('a'))).toMatchObject({ outcome: 'fresh', credentialVersion: 1 });
    platform.credential!.version = 5;
    expect(await replica('a').refreshScheduled({ tenantId: TENANT, connectionId: ID, credentialVersion: 4 })).toMatchObject({ outcome: 'fresh', credentialVersion: 5 });
    expect(tokenCalls).toHaveLength(0);
  });

  it('retries transient failures with backoff and reports each failed attempt', async () => {
    answers = [
      { status: 503, body: { error: 'temporarily_unavailable' } },
      { status: 502, body: { error: 'server_error' } },
    ];
    expect(await refreshOnDemand(replica('a'))).toMatchObject({ outcome: 'refreshed' });
    expect(tokenCalls).toHaveLength(3);
    expect(history()).toEqual([
      expect.objectContaining({ type: 'RefreshFailed', failure: 'transient', code: 'provider_unavailable', willRetry: true, attempt: 1 }),
      expect.objectContaining({ type: 'RefreshFailed', failure: 'transient', code: 'provider_unavailable', willRetry: true, attempt: 2 }),
      expect.objectContaining({ type: 'Refreshed' }),
    ]);
  });

  it('gives up after the last attempt: PROVIDER_UNAVAILABLE (retryable), and the last RefreshFailed says no retry', async () => {
    answers = [503, 503, 503].map((status) => ({ status, body: { error: 'server_error' } }));
    await expect(refreshOnDemand(replica('a'))).rejects.toMatchObject({ code: RpcErrorCodes.ProviderUnavailable, retryable: true });
    expect(tokenCalls).toHaveLength(3);
    expect(history().map((e) => [e.type, (e as { willRetry?: boolean }).willRetry])).toEqual([
      ['RefreshFailed', true],
      ['RefreshFailed', true],
      ['RefreshFailed', false],
    ]);
  });

  it('takes invalid_grant after another worker rotated the token as a race, not a revocation', async () => {
    answers = [
      () => {
        // Another worker stored a newer credential while this request was on its way.
        platform.credential = { version: 2, credential: { ...platform.credential!.credential, refreshToken: 'rt-other' } };
        return { status: 400, body: { error: 'invalid_grant' } };
      },
    ];
    expect(await refreshOnDemand(replica('a'))).toMatchObject({ outcome: 'fresh', credentialVersion: 2 });
    expect(history()).toEqual([]);
    expect(tokenCalls).toHaveLength(1);
  });

  it('revokes on invalid_grant when nothing else changed the credential, without retrying', async () => {
    answers = [{ status: 400, body: { error: 'invalid_grant' } }];
    await expect(refreshOnDemand(replica('a'))).rejects.toMatchObject({ code: RpcErrorCodes.Revoked });
    expect(tokenCalls).toHaveLength(1);
    expect(history()).toEqual([expect.objectContaining({ type: 'Revoked', reason: 'invalid_grant', detectedBy: 'refresher' })]);
  });

  it('does not retry invalid_client, and says it once across flights', async () => {
    answers = [401, 401].map((status) => ({ status, body: { error: 'invalid_client' } }));
    const service = replica('a');
    await expect(refreshOnDemand(service)).rejects.toMatchObject({ code: RpcErrorCodes.ProviderError });
    await expect(refreshOnDemand(service)).rejects.toMatchObject({ code: RpcErrorCodes.ProviderError });
    expect(tokenCalls).toHaveLength(2);
    expect(history()).toEqual([expect.objectContaining({ type: 'RefreshFailed', failure: 'invalid_client', willRetry: false, attempt: 1 })]);
  });

  it('makes concurrent requests on two replicas share one refresh: the second waits for the first and finds it done', async () => {
    answers = [(form) => ({ status: 200, body: { access_token: 'at-shared', token_type: 'Bearer', expires_in: 30, refresh_token: `${form.get('refresh_token')}-next` } })];
    // 30 s tokens inside a 3600 s margin: only the version tells the waiter that the holder already refreshed.
    const [a, b] = [replica('a'), replica('b')];
    const first = refreshOnDemand(a);
    await new Promise((r) => setTimeout(r, 5));
    const [one, two] = await Promise.all([first, refreshOnDemand(b), refreshOnDemand(a)]);
    expect(tokenCalls).toHaveLength(1);
    expect(one).toMatchObject({ outcome: 'refreshed', credentialVersion: 2 });
    expect(two).toMatchObject({ outcome: 'fresh', credentialVersion: 2 });
  });

  it('tells a scheduled flight that another replica holds the lock, without waiting', async () => {
    const other = new InProcessRefreshLock('b', 30_000, table);
    await other.tryAcquire(ID, Date.now());
    const result = await replica('a').refreshScheduled({ tenantId: TENANT, connectionId: ID, credentialVersion: 1 });
    expect(result).toMatchObject({ outcome: 'busy', holder: 'b' });
    expect(tokenCalls).toHaveLength(0);
  });

  it('stops before the provider call when its lease was superseded (it stalled past its lease)', async () => {
    const lock = new InProcessRefreshLock('a', 30_000, table);
    const stale: RefreshLock = {
      owner: 'a',
      // A lease that has already run out: the holder must renew before calling the provider, and loses.
      tryAcquire: async (id, now) => {
        const r = await lock.tryAcquire(id, now);
        return r.acquired ? { ...r, lease: { ...r.lease, expiresAt: now - 1 } } : r;
      },
      renew: async () => null,
      writeIntent: async () => null,
      release: (lease) => lock.release(lease),
      close: async () => undefined,
    };
    const result = await replica('a', stale).refreshScheduled({ tenantId: TENANT, connectionId: ID, credentialVersion: 1 });
    expect(result).toEqual({ outcome: 'lost_lock' });
    expect(tokenCalls).toHaveLength(0);
    expect(platform.stores).toHaveLength(0);
  });

  describe('the dual write (vault, then the event store) when the second write is lost', () => {
    const storedEvents = () => events.streams.get(connectionStream(ID)) ?? [];

    it('records a stored credential whose Refreshed was not appended at the next flight: once, same id, no provider call', async () => {
      events.failAppends = 1;
      await expect(refreshOnDemand(replica('a'))).rejects.toThrow('the event store is gone');
      expect(platform.credential!.version).toBe(2);
      expect(history()).toEqual([]);
      // The note survives the release: the key is free, and carries what was stored.
      expect(table.keys.get(ID)).toMatchObject({ record: null, intent: { version: 2, expiresAt: platform.credential!.credential.expiresAt, rotated: true } });

      const result = await replica('b').refreshScheduled({ tenantId: TENANT, connectionId: ID, credentialVersion: 1 });
      expect(result).toMatchObject({ outcome: 'fresh', credentialVersion: 2 });
      expect(history()).toEqual([expect.objectContaining({ type: 'Refreshed', credentialVersion: 2, rotated: true, expiresAt: platform.credential!.credential.expiresAt })]);
      // The same id the refresh itself would have appended it with (no Connected in this history: no life to name).
      expect(storedEvents()[0].eventId).toBe(refreshedEventId(ID, undefined, 2));
      expect(tokenCalls).toHaveLength(1);
      expect(table.keys.get(ID)?.intent).toBeUndefined();

      await replica('c').refreshScheduled({ tenantId: TENANT, connectionId: ID, credentialVersion: 1 });
      expect(history()).toHaveLength(1);
    });

    it('records it when vault stored the credential but its reply was lost (the refresher saw an error)', async () => {
      platform.loseStoreReply = true;
      await expect(refreshOnDemand(replica('a'))).rejects.toMatchObject({ code: RpcErrorCodes.Timeout });
      expect(platform.credential!.version).toBe(2);
      // The retry finds vault ahead: not "another worker's result" to take silently, but this refresh's to record.
      expect(await replica('a').refreshScheduled({ tenantId: TENANT, connectionId: ID, credentialVersion: 1 })).toMatchObject({ outcome: 'fresh', credentialVersion: 2 });
      expect(history()).toEqual([expect.objectContaining({ type: 'Refreshed', credentialVersion: 2 })]);
      expect(tokenCalls).toHaveLength(1);
    });

    it('never takes a reconnect for a refresh: vault ahead of the history without a note records nothing', async () => {
      platform.credential = { version: 2, credential: { ...platform.credential!.credential, expiresAt: new Date(Date.now() + 3_600_000).toISOString() } };
      expect(await replica('a').refreshScheduled({ tenantId: TENANT, connectionId: ID, credentialVersion: 1 })).toMatchObject({ outcome: 'fresh', credentialVersion: 2 });
      expect(history()).toEqual([]);
    });

    it('drops a note vault contradicts, keeps one vault is behind, and its own note replaces it', async () => {
      const at = Date.now();
      table.write(ID, null, { version: 2, expiresAt: new Date(at + 5_000).toISOString(), rotated: true, at });
      // Vault is still at 1: the noted store never landed. The flight refreshes as usual, and records its own store.
      expect(await refreshOnDemand(replica('a'))).toMatchObject({ outcome: 'refreshed', credentialVersion: 2 });
      expect(history()).toEqual([expect.objectContaining({ type: 'Refreshed', credentialVersion: 2, expiresAt: platform.credential!.credential.expiresAt })]);
      expect(table.keys.get(ID)?.intent).toBeUndefined();
      // A note of version 3 with another expiry than vault's version 3 (a reconnect won): dropped, nothing recorded.
      platform.credential = { version: 3, credential: { ...platform.credential!.credential, expiresAt: new Date(at + 7_200_000).toISOString() } };
      table.write(ID, null, { version: 3, expiresAt: new Date(at + 60_000).toISOString(), rotated: true, at });
      expect(await refreshOnDemand(replica('a'))).toMatchObject({ outcome: 'fresh', credentialVersion: 3 });
      expect(history()).toHaveLength(1);
      expect(table.keys.get(ID)?.intent).toBeUndefined();
    });
  });

  it('reports how every flight ended, for the scheduler', async () => {
    const service = replica('a');
    const reports: unknown[] = [];
    service.onFlightEnded((r) => reports.push(r));
    await refreshOnDemand(service);
    platform.credential = null;
    await expect(refreshOnDemand(service)).rejects.toMatchObject({ code: RpcErrorCodes.NotFound });
    expect(reports).toEqual([
      expect.objectContaining({ connectionId: ID, outcome: 'refreshed', credentialVersion: 2 }),
      expect.objectContaining({ connectionId: ID, outcome: 'gone' }),
    ]);
  });
});
