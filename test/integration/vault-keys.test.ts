import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { INestMicroservice } from '@nestjs/common';
import { ClientProxy, ClientProxyFactory, Transport } from '@nestjs/microservices';
import { connect, KV, NatsConnection } from 'nats';
import { firstValueFrom } from 'rxjs';
import { loadConfig, PlatformConfig } from '@authpipe/config';
import { connectionIdFor, CredentialSecret, healthSubject, RewrapStatusReply, RpcErrorCodes, StoreCredentialRequest } from '@authpipe/contracts';
import { createRpcClient, RpcClient, RpcError } from '@authpipe/messaging';
import { NATS_CONNECTION } from '@authpipe/platform';
import { DecryptFailedError } from '../../apps/vault/src/crypto/crypto.errors';
import { decryptField, EncryptedField } from '../../apps/vault/src/crypto/field-encryption';
import { LocalKeyRing } from '../../apps/vault/src/crypto/local-key-ring';
import { ActiveTenantKeys, openDataKey, TenantKeys } from '../../apps/vault/src/crypto/tenant-data-keys';
import { RewrapCheckpoint } from '../../apps/vault/src/rewrap/rewrap-progress';
import { kvKeys, parseSecretKey, vaultBucketNames } from '../../apps/vault/src/storage/jetstream-kv-secret-store';
import { CredentialRecord, TenantSecretRecord } from '../../apps/vault/src/storage/secret-store.port';
import { startVault } from '../../apps/vault/src/start-vault';
import { VaultConfig } from '../../apps/vault/src/vault.config';
import { NatsServerHandle, startNatsServer } from '../support/nats-server';
import { vaultTestKit } from '../support/vault-test-kit';

/*
 * Key management in vault (rotation, master key rewrap, crash and resume, rotation under load, crypto-shredding):
 * vault as Nest microservices in this process, on a real nats-server. This file starts its own nats-server: vault's
 * subjects and queue group are fixed, so vaults of two test files on one server would answer each other's requests
 * when jest runs the files in parallel. Each describe has its own bucket prefix, and stops its vaults before the next.
 */

const V1 = randomBytes(32).toString('base64');
const V2 = randomBytes(32).toString('base64');
const RING_V1 = `v1:${V1}`;
const RING_V2_V1 = `v2:${V2},v1:${V1}`;
const RING_V2 = `v2:${V2}`;

/** Every plaintext sent to vault here (and the master keys): none may appear in a log line, a stored value or an error. */
const kit = vaultTestKit([V1, V2]);
const { plaintexts, errorMessages, secret, newTenant, failure, oauthCredential } = kit;
const untilAnswering = () => kit.untilAnswering(rawClient);

const newPrefix = () => `vault_keys_${randomBytes(4).toString('hex')}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let server: NatsServerHandle;
let nats: NatsConnection;
let client: RpcClient;
let rawClient: ClientProxy;
const running = new Set<INestMicroservice>();
let logs = '';
const writes: jest.SpyInstance[] = [];

async function startVaultWith(prefix: string, masterKeys: string, env: Record<string, string> = {}): Promise<INestMicroservice> {
  const app = await startVault(
    loadConfig(VaultConfig, {
      NATS_URL: server.url,
      AUTHPIPE_MASTER_KEYS: masterKeys,
      AUTHPIPE_VAULT_BUCKET_PREFIX: prefix,
      AUTHPIPE_LOG_LEVEL: 'debug',
      // Nothing is in flight when a test stops a vault.
      AUTHPIPE_SHUTDOWN_GRACE_MS: '0',
      ...env,
    }),
  );
  running.add(app);
  await untilAnswering();
  return app;
}

async function stopVault(app: INestMicroservice): Promise<void> {
  running.delete(app);
  await app.close();
}

async function until<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

const readCredential = (r: { tenantId: string; connectionId: string }) => client.request('vaultReadCredential', { tenantId: r.tenantId, connectionId: r.connectionId, caller: 'query-api' });

async function rewrapUntilDone(): Promise<RewrapStatusReply> {
  await client.request('vaultStartRewrap', {});
  return until('the rewrap to finish', async () => {
    const status = await client.request('vaultRewrapStatus', {});
    if (status.state === 'failed') throw new Error(`rewrap failed: ${status.error}`);
    return status.state === 'done' && status;
  });
}

// ---- the raw KV buckets, read the way an attacker with a copy of them would ------------------------------------

interface Buckets {
  dataKeys: KV;
  secrets: KV;
}
async function buckets(prefix: string): Promise<Buckets> {
  const names = vaultBucketNames(prefix);
  const js = nats.jetstream();
  return { dataKeys: await js.views.kv(names.dataKeys, { bindOnly: true }), secrets: await js.views.kv(names.secrets, { bindOnly: true }) };
}

async function keysOf(kv: KV, filter = '>'): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of await kv.keys(filter)) keys.push(key);
  return keys.sort();
}

/** Every tenant's data key record, by tenant id (job records left out). */
async function rawDataKeys(b: Buckets): Promise<Map<string, TenantKeys>> {
  const records = new Map<string, TenantKeys>();
  for (const key of await keysOf(b.dataKeys)) if (!key.startsWith('_')) records.set(key, (await b.dataKeys.get(key))!.json<TenantKeys>());
  return records;
}

interface RawSecret {
  key: string;
  tenantId: string;
  ownerId: string;
  /** field name -> ciphertext */
  fields: Record<string, EncryptedField>;
  version: number;
  revision: number;
}
async function rawSecrets(b: Buckets): Promise<RawSecret[]> {
  const result: RawSecret[] = [];
  for (const key of await keysOf(b.secrets)) {
    const ref = parseSecretKey(key)!;
    const entry = (await b.secrets.get(key))!;
    if (ref.kind === 'credential') {
      const record = entry.json<CredentialRecord>();
      result.push({ key, tenantId: ref.tenantId, ownerId: ref.connectionId, fields: record.secrets as Record<string, EncryptedField>, version: record.version, revision: entry.revision });
    } else {
      const record = entry.json<TenantSecretRecord>();
      result.push({ key, tenantId: ref.tenantId, ownerId: ref.ownerId, fields: { [ref.field]: record.secret }, version: record.version, revision: entry.revision });
    }
  }
  return result;
}

/** Every data key wrapped by the active master key, every secret under its tenant's active data key. */
async function expectAllCurrent(b: Buckets, masterKeyVersion: string): Promise<void> {
  const dataKeys = await rawDataKeys(b);
  for (const [tenantId, record] of dataKeys) {
    if (record.status !== 'active') continue;
    expect({ tenantId, kek: [...new Set(record.keys.map((k) => k.kekVersion))] }).toEqual({ tenantId, kek: [masterKeyVersion] });
  }
  for (const s of await rawSecrets(b)) {
    const keys = dataKeys.get(s.tenantId);
    if (keys?.status !== 'active') continue;
    const versions = Object.values(s.fields).map((f) => f.dekVersion);
    expect({ key: s.key, versions }).toEqual({ key: s.key, versions: versions.map(() => keys.activeVersion) });
  }
}

beforeAll(async () => {
  // Everything Nest logs goes through process.stdout/stderr: keep it, to check that no secret is ever in it.
  for (const stream of [process.stdout, process.stderr]) {
    writes.push(
      jest.spyOn(stream, 'write').mockImplementation((chunk: unknown) => {
        logs += String(chunk);
        return true;
      }),
    );
  }
  server = await startNatsServer();
  nats = await connect({ servers: server.url });
  client = createRpcClient(loadConfig(PlatformConfig, { NATS_URL: server.url }), 'test');
  rawClient = ClientProxyFactory.create({ transport: Transport.NATS, options: { servers: [server.url] } });
});

afterAll(async () => {
  for (const app of running) await app.close().catch(() => undefined);
  await client?.close();
  await rawClient?.close();
  await nats?.close();
  await server?.stop();
  writes.forEach((spy) => spy.mockRestore());
});

afterEach(async () => {
  // Each test leaves no vault behind: the next one may use other buckets.
  for (const app of [...running]) await stopVault(app);
});

describe('tenant data key rotation', () => {
  it('makes a new version active for new writes; old ciphertexts keep decrypting; the record holds both', async () => {
    const prefix = newPrefix();
    await startVaultWith(prefix, RING_V1);
    const b = await buckets(prefix);
    const tenantId = newTenant();
    const before = oauthCredential(tenantId, 'alice');
    await client.request('vaultStoreCredential', before);
    const clientSecret = secret('client-secret');
    await client.request('vaultStoreTenantSecret', { tenantId, ownerId: 'integration-gmail', field: 'client_secret', value: clientSecret });

    expect(await client.request('vaultRotateTenantKey', { tenantId })).toEqual({ tenantId, activeVersion: 2 });

    // Old ciphertexts name data key v1 and still decrypt.
    const rawBefore = (await b.secrets.get(kvKeys.credential(tenantId, before.connectionId)))!.json<CredentialRecord>();
    expect(rawBefore.secrets.access_token!.dekVersion).toBe(1);
    expect(await readCredential(before)).toEqual({ version: 1, provider: 'gmail', credential: before.credential });
    expect(await client.request('vaultReadTenantSecret', { tenantId, ownerId: 'integration-gmail', field: 'client_secret', caller: 'oauth-gateway' })).toEqual({
      version: 1,
      value: clientSecret,
    });

    // New writes use v2: a new connection, and a new version of the old one.
    const after = oauthCredential(tenantId, 'bob');
    await client.request('vaultStoreCredential', after);
    const restored = oauthCredential(tenantId, 'alice');
    expect(await client.request('vaultStoreCredential', { ...restored, expectedVersion: 1 })).toEqual({ version: 2 });
    for (const r of [after, restored]) {
      const raw = (await b.secrets.get(kvKeys.credential(tenantId, r.connectionId)))!.json<CredentialRecord>();
      expect(Object.values(raw.secrets).map((f) => f!.dekVersion)).toEqual([2, 2]);
      expect((await readCredential(r)).credential).toEqual(r.credential);
    }

    const record = (await b.dataKeys.get(kvKeys.tenantKeys(tenantId)))!.json<ActiveTenantKeys>();
    expect(record).toMatchObject({ status: 'active', activeVersion: 2 });
    expect(record.keys.map((k) => [k.version, k.kekVersion])).toEqual([
      [1, 'v1'],
      [2, 'v1'],
    ]);
  });

  it('never loses a version when rotations race: each succeeds with its own version', async () => {
    const prefix = newPrefix();
    // Two replicas, so that the rotations also race across processes' worth of state.
    await startVaultWith(prefix, RING_V1);
    await startVaultWith(prefix, RING_V1);
    const b = await buckets(prefix);
    const tenantId = newTenant();
    const stored = oauthCredential(tenantId);
    await client.request('vaultStoreCredential', stored);

    const replies = await Promise.all(Array.from({ length: 8 }, () => client.request('vaultRotateTenantKey', { tenantId })));
    expect(replies.map((r) => r.activeVersion).sort((x, y) => x - y)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    const record = (await b.dataKeys.get(kvKeys.tenantKeys(tenantId)))!.json<ActiveTenantKeys>();
    expect(record.activeVersion).toBe(9);
    expect(record.keys.map((k) => k.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect((await readCredential(stored)).credential).toEqual(stored.credential);
  });

  it('answers NOT_FOUND for a tenant without a data key, TENANT_ERASED for an erased one', async () => {
    await startVaultWith(newPrefix(), RING_V1);
    const missing = await failure(client.request('vaultRotateTenantKey', { tenantId: newTenant() }));
    expect(missing.code).toBe(RpcErrorCodes.NotFound);
    expect(missing.message).toMatch(/has no data key yet/);

    const tenantId = newTenant();
    await client.request('vaultStoreCredential', oauthCredential(tenantId));
    await client.request('vaultEraseTenant', { tenantId });
    expect((await failure(client.request('vaultRotateTenantKey', { tenantId }))).code).toBe(RpcErrorCodes.TenantErased);
  });
});

describe('master key rotation and the rewrap', () => {
  it('moves every data key to the active master key and every secret to its tenant data key; then v2 alone reads all', async () => {
    const prefix = newPrefix();
    let vault = await startVaultWith(prefix, RING_V1);
    const raw = await buckets(prefix);

    // Three tenants with two credentials and a client secret each; the first one's data key rotated halfway.
    const tenants = [newTenant(), newTenant(), newTenant()];
    const credentials: StoreCredentialRequest[] = [];
    const clientSecrets = new Map<string, string>();
    for (const tenantId of tenants) {
      for (const user of ['alice', 'bob']) {
        const c = oauthCredential(tenantId, user);
        await client.request('vaultStoreCredential', c);
        credentials.push(c);
      }
      const value = secret('client-secret');
      await client.request('vaultStoreTenantSecret', { tenantId, ownerId: 'integration-gmail', field: 'client_secret', value });
      clientSecrets.set(tenantId, value);
    }
    expect(await client.request('vaultRotateTenantKey', { tenantId: tenants[0] })).toMatchObject({ activeVersion: 2 });
    const late = oauthCredential(tenants[0], 'carol');
    await client.request('vaultStoreCredential', late);
    credentials.push(late);
    // An erased tenant: its tombstone is skipped.
    const erased = newTenant();
    await client.request('vaultStoreCredential', oauthCredential(erased));
    await client.request('vaultEraseTenant', { tenantId: erased });
    const versionsBefore = new Map((await rawSecrets(raw)).map((s) => [s.key, s.version]));

    await stopVault(vault);
    vault = await startVaultWith(prefix, RING_V2_V1);
    expect(await client.request('vaultRewrapStatus', {})).toEqual({ state: 'idle', masterKeyVersion: 'v2', processed: 0, total: 0, rewrapped: 0, failed: 0 });
    for (const c of credentials) expect((await readCredential(c)).credential).toEqual(c.credential);

    const status = await rewrapUntilDone();
    // 4 data key records (3 rewrapped, the tombstone skipped) and 10 secret records (tenant 0's three under data key v1).
    expect(status).toEqual({
      state: 'done',
      masterKeyVersion: 'v2',
      startedAt: expect.any(String),
      finishedAt: expect.any(String),
      processed: 14,
      total: 14,
      rewrapped: 6,
      failed: 0,
    });
    await expectAllCurrent(raw, 'v2');
    // Logical versions kept: the rewrap changed how records are encrypted, not what they are.
    for (const s of await rawSecrets(raw)) expect({ key: s.key, version: s.version }).toEqual({ key: s.key, version: versionsBefore.get(s.key) });
    expect(logs).toMatch(/rewrap done \(job [0-9a-f-]+\): 14\/14 records/);

    // Again: everything is current, nothing is rewritten.
    const again = await rewrapUntilDone();
    expect(again).toMatchObject({ processed: 14, total: 14, rewrapped: 0, failed: 0 });

    // The proof that nothing is left under v1: a vault without it reads everything.
    await stopVault(vault);
    await startVaultWith(prefix, RING_V2);
    for (const c of credentials) expect((await readCredential(c)).credential).toEqual(c.credential);
    for (const [tenantId, value] of clientSecrets) {
      expect(await client.request('vaultReadTenantSecret', { tenantId, ownerId: 'integration-gmail', field: 'client_secret', caller: 'oauth-gateway' })).toMatchObject({ value });
    }
  });

  it('resumes after a crash and after a shutdown from its checkpoint, counting every record once, rewriting none twice', async () => {
    const prefix = newPrefix();
    let vault = await startVaultWith(prefix, RING_V1);
    const raw = await buckets(prefix);
    const credentials: StoreCredentialRequest[] = [];
    const tenants = [newTenant(), newTenant(), newTenant(), newTenant()];
    for (const tenantId of tenants) {
      for (const user of ['u1', 'u2', 'u3', 'u4', 'u5']) {
        const c = oauthCredential(tenantId, user);
        await client.request('vaultStoreCredential', c);
        credentials.push(c);
      }
      await client.request('vaultRotateTenantKey', { tenantId });
    }
    const total = tenants.length + credentials.length; // 24, every one of them needs moving
    await stopVault(vault);

    // Small batches with a pause, so that the job can be interrupted halfway.
    const slow = { AUTHPIPE_VAULT_REWRAP_BATCH_SIZE: '2', AUTHPIPE_VAULT_REWRAP_BATCH_DELAY_MS: '60', AUTHPIPE_VAULT_REWRAP_LOCK_TTL_MS: '1000' };
    const checkpoint = async () => (await raw.dataKeys.get('_job.rewrap.checkpoint'))!.json<RewrapCheckpoint>();

    // 1. A crash: the replica's connection is gone mid-job, it never saves nor frees the lock.
    vault = await startVaultWith(prefix, RING_V2_V1, slow);
    expect(await client.request('vaultStartRewrap', {})).toMatchObject({ state: 'running', masterKeyVersion: 'v2' });
    await until('6 records', async () => (await client.request('vaultRewrapStatus', {})).processed >= 6);
    await vault.get<NatsConnection>(NATS_CONNECTION).close();
    await stopVault(vault);
    const crashed = await checkpoint();
    expect(crashed).toMatchObject({ state: 'running', masterKeyVersion: 'v2', total });
    expect(crashed.processed).toBeGreaterThanOrEqual(4);
    expect(crashed.processed).toBeLessThan(total);

    // 2. The next vault takes the job over once the crashed replica's lock expires, and continues after its last key.
    const logsBefore = logs.length;
    vault = await startVaultWith(prefix, RING_V2_V1, slow);
    await until('the job to be resumed', async () => (await checkpoint()).processed > crashed.processed + 4);
    expect(logs.slice(logsBefore)).toContain(`rewrap resumed (job ${crashed.jobId}): master key v2, ${crashed.processed}/${total} records done`);

    // 3. A shutdown (rolling restart): the job saves its checkpoint and frees the lock; the next vault resumes at once.
    await stopVault(vault);
    const paused = await checkpoint();
    expect(paused).toMatchObject({ state: 'running', jobId: crashed.jobId });
    expect(logs).toContain('rewrap paused by shutdown at');
    vault = await startVaultWith(prefix, RING_V2_V1, slow);
    // A second start while it runs answers the running job, it does not start another.
    expect(await client.request('vaultStartRewrap', {})).toMatchObject({ state: 'running', startedAt: crashed.startedAt });
    const status = await until('the rewrap to finish', async () => {
      const s = await client.request('vaultRewrapStatus', {});
      return s.state === 'done' && s;
    });

    expect(status).toMatchObject({ state: 'done', startedAt: crashed.startedAt, processed: total, total, failed: 0 });
    // A record rewritten after the last checkpoint before the crash is found current when the job resumes.
    expect(status.rewrapped).toBeLessThanOrEqual(total);
    expect(status.rewrapped).toBeGreaterThanOrEqual(total - 2);
    expect((await checkpoint()).jobId).toBe(crashed.jobId);
    await expectAllCurrent(raw, 'v2');
    // No record was rewritten twice: its history holds the store and at most one rewrap.
    for (const c of credentials) {
      const history: number[] = [];
      for await (const e of await raw.secrets.history({ key: kvKeys.credential(c.tenantId, c.connectionId) })) history.push(e.revision);
      expect({ key: c.connectionId, revisions: history.length }).toEqual({ key: c.connectionId, revisions: 2 });
    }
    await stopVault(vault);
    await startVaultWith(prefix, RING_V2);
    for (const c of credentials) expect((await readCredential(c)).credential).toEqual(c.credential);
  });
});

describe('rotation under load', () => {
  it('rotates tenant keys and rewraps while 4 workers write and read: no request fails, every read is the last write', async () => {
    const prefix = newPrefix();
    const tenants = [newTenant(), newTenant()];
    interface Slot {
      tenantId: string;
      connectionId: string;
      last: CredentialSecret;
      version: number;
    }
    interface SecretSlot {
      tenantId: string;
      ownerId: string;
      last: string;
      version: number;
    }
    const fresh = (): CredentialSecret => ({ type: 'oauth2', accessToken: secret('access'), refreshToken: secret('refresh'), tokenType: 'Bearer' });
    const slots: Slot[][] = [];
    const secretSlots: SecretSlot[] = [];

    // Everything written under master key v1 first: 4 workers with 6 connections and a client secret each.
    let vault = await startVaultWith(prefix, RING_V1);
    for (let w = 0; w < 4; w++) {
      slots.push([]);
      const tenantId = tenants[w % 2];
      for (let i = 0; i < 6; i++) {
        const credential = fresh();
        const connectionId = connectionIdFor(tenantId, 'gmail', `w${w}-${i}`);
        await client.request('vaultStoreCredential', { tenantId, connectionId, provider: 'gmail', credential, expectedVersion: 0 });
        slots[w].push({ tenantId, connectionId, last: credential, version: 1 });
      }
      const value = secret('client-secret');
      await client.request('vaultStoreTenantSecret', { tenantId, ownerId: `integration-w${w}`, field: 'client_secret', value });
      secretSlots.push({ tenantId, ownerId: `integration-w${w}`, last: value, version: 1 });
    }
    await stopVault(vault);

    // Two replicas with v2 active serve the load; the rewrap runs on one of them.
    const paced = { AUTHPIPE_VAULT_REWRAP_BATCH_SIZE: '1' };
    await startVaultWith(prefix, RING_V2_V1, paced);
    await startVaultWith(prefix, RING_V2_V1, paced);
    const logsBefore = logs.length;

    const failures: string[] = [];
    let requests = 0;
    let stop = false;
    const record = (what: string, err: unknown) => failures.push(`${what}: ${err instanceof RpcError ? `${err.code} ${err.message}` : String(err)}`);

    /** One connection per turn (each is rewritten every few turns, so the rewrap meets records the workers hold). */
    async function worker(w: number): Promise<void> {
      for (let turn = 0; !stop; turn++) {
        const slot = slots[w][turn % slots[w].length];
        const credential = fresh();
        try {
          // expectedVersion: a rewrap re-encrypting the record in place must not make this a conflict.
          const { version } = await client.request('vaultStoreCredential', {
            tenantId: slot.tenantId,
            connectionId: slot.connectionId,
            provider: 'gmail',
            credential,
            expectedVersion: slot.version,
          });
          if (version !== slot.version + 1) failures.push(`store of ${slot.connectionId}: version ${version} after ${slot.version}`);
          Object.assign(slot, { version, last: credential });
          const read = await client.request('vaultReadCredential', { tenantId: slot.tenantId, connectionId: slot.connectionId, caller: 'refresher' });
          if (read.version !== slot.version || !isDeepStrictEqual(read.credential, slot.last)) failures.push(`read of ${slot.connectionId}: not the last write`);
          requests += 2;
        } catch (err) {
          record(`credential ${slot.connectionId}`, err);
        }
        if (turn % slots[w].length !== 0) continue;
        const s = secretSlots[w];
        try {
          const value = secret('client-secret');
          const { version } = await client.request('vaultStoreTenantSecret', { tenantId: s.tenantId, ownerId: s.ownerId, field: 'client_secret', value });
          Object.assign(s, { version, last: value });
          const read = await client.request('vaultReadTenantSecret', { tenantId: s.tenantId, ownerId: s.ownerId, field: 'client_secret', caller: 'oauth-gateway' });
          if (read.version !== s.version || read.value !== s.last) failures.push(`read of ${s.ownerId}: not the last write`);
          requests += 2;
        } catch (err) {
          record(`secret ${s.ownerId}`, err);
        }
      }
    }

    const runs: RewrapStatusReply[] = [];
    let rotations = 0;
    async function operator(): Promise<void> {
      while (!stop) {
        await sleep(50);
        for (const tenantId of tenants) {
          await client.request('vaultRotateTenantKey', { tenantId });
          rotations++;
        }
        runs.push(await rewrapUntilDone());
      }
    }

    const load = [0, 1, 2, 3].map(worker);
    const admin = operator().catch((err) => record('operator', err));
    await sleep(2_000);
    stop = true;
    await Promise.all([...load, admin]);

    expect(failures).toEqual([]);
    expect(requests).toBeGreaterThan(100);
    expect(rotations).toBeGreaterThanOrEqual(4);
    // The runs did move records while the workers wrote them.
    expect(runs.reduce((sum, r) => sum + r.rewrapped, 0)).toBeGreaterThan(0);
    for (const r of runs) expect(r).toMatchObject({ state: 'done', failed: 0 });
    // Writers and the rewrap do meet on records here (debug lines "changed while being rewrapped/stored"), a few
    // times per run; how often is up to the scheduler, so it is not asserted. vault.service.spec.ts pins the race.
    void logsBefore;

    // Once the writers are quiet, one more run leaves everything current; then v2 alone reads every last write.
    await rewrapUntilDone();
    await expectAllCurrent(await buckets(prefix), 'v2');
    for (const app of [...running]) await stopVault(app);
    vault = await startVaultWith(prefix, RING_V2);
    for (const slot of slots.flat()) {
      expect(await client.request('vaultReadCredential', { tenantId: slot.tenantId, connectionId: slot.connectionId, caller: 'query-api' })).toEqual({
        version: slot.version,
        provider: 'gmail',
        credential: slot.last,
      });
    }
    for (const s of secretSlots) {
      expect(await client.request('vaultReadTenantSecret', { tenantId: s.tenantId, ownerId: s.ownerId, field: 'client_secret', caller: 'oauth-gateway' })).toEqual({
        version: s.version,
        value: s.last,
      });
    }
  });
});

describe('crypto-shredding', () => {
  it("makes every ciphertext of the tenant unreadable, in vault and in a copy of the buckets; other tenants are untouched", async () => {
    const prefix = newPrefix();
    await startVaultWith(prefix, RING_V1);
    const raw = await buckets(prefix);
    const [a, b] = [newTenant(), newTenant()];
    const stored = new Map<string, StoreCredentialRequest[]>();
    for (const tenantId of [a, b]) {
      stored.set(tenantId, [oauthCredential(tenantId, 'alice'), oauthCredential(tenantId, 'bob')]);
      await client.request('vaultStoreCredential', stored.get(tenantId)![0]);
      await client.request('vaultRotateTenantKey', { tenantId }); // two data key versions in use
      await client.request('vaultStoreCredential', stored.get(tenantId)![1]);
      await client.request('vaultStoreTenantSecret', { tenantId, ownerId: 'integration-gmail', field: 'client_secret', value: secret('client-secret') });
    }
    // What an attacker (or a backup) may hold of tenant A: its ciphertext records and its wrapped data keys.
    const copyOfA = (await rawSecrets(raw)).filter((s) => s.tenantId === a);
    expect(copyOfA).toHaveLength(3);
    const keysOfA = (await raw.dataKeys.get(a))!.json<ActiveTenantKeys>();

    const erased = await client.request('vaultEraseTenant', { tenantId: a });
    expect(erased).toEqual({ tenantId: a, erasedAt: expect.any(String) });
    // Idempotent: the first erasure time.
    expect(await client.request('vaultEraseTenant', { tenantId: a })).toEqual(erased);

    // Through vault: everything of A answers TENANT_ERASED, reads and writes alike.
    const [alice, bob] = stored.get(a)!;
    for (const c of [alice, bob, oauthCredential(a, 'never-stored')]) {
      const err = await failure(readCredential(c));
      expect(err.code).toBe(RpcErrorCodes.TenantErased);
      expect(err.message).toContain(`tenant ${a} was erased at ${erased.erasedAt}`);
    }
    const secretRead = await failure(client.request('vaultReadTenantSecret', { tenantId: a, ownerId: 'integration-gmail', field: 'client_secret', caller: 'oauth-gateway' }));
    expect(secretRead.code).toBe(RpcErrorCodes.TenantErased);
    expect((await failure(client.request('vaultStoreCredential', oauthCredential(a, 'carol')))).code).toBe(RpcErrorCodes.TenantErased);

    // In the buckets: A's data key record is a tombstone with no older revision, its secret records are purged.
    const tombstone = await raw.dataKeys.get(a);
    expect(tombstone!.json()).toEqual({ format: 1, tenantId: a, status: 'erased', erasedAt: erased.erasedAt });
    const history: string[] = [];
    for await (const e of await raw.dataKeys.history({ key: a })) history.push(e.string());
    expect(history).toHaveLength(1);
    expect(await keysOf(raw.secrets, `credential.${a}.*`)).toEqual([]);
    expect(await keysOf(raw.secrets, `secret.${a}.*.*`)).toEqual([]);
    // No message left in the data key stream carries any of A's wrapped keys.
    const stream = await (await nats.jetstreamManager()).streams.info(`KV_${vaultBucketNames(prefix).dataKeys}`);
    for (let seq = stream.state.first_seq; seq <= stream.state.last_seq; seq++) {
      const message = await (await nats.jetstreamManager()).streams.getMessage(stream.config.name, { seq }).catch(() => null);
      const text = message ? new TextDecoder().decode(message.data) : '';
      for (const k of keysOfA.keys) expect(text).not.toContain(k.wrappedKey);
    }

    // With the master keys, every data key left in the bucket opens: none opens anything of A.
    const ring = LocalKeyRing.parse(RING_V1, 'AUTHPIPE_MASTER_KEYS');
    const remaining = await rawDataKeys(raw);
    const opened = [];
    for (const [tenantId, record] of remaining) {
      if (record.status !== 'active') continue;
      for (const k of record.keys) opened.push(await openDataKey(tenantId, record, k.version, ring));
    }
    expect(opened.length).toBeGreaterThanOrEqual(2);
    let attempts = 0;
    for (const s of copyOfA) {
      for (const [field, encrypted] of Object.entries(s.fields)) {
        for (const key of opened) {
          attempts++;
          // Claim the version the ciphertext names, so that AES-GCM itself decides.
          expect(() => decryptField({ ...key, version: encrypted.dekVersion }, encrypted, { tenantId: a, ownerId: s.ownerId, field })).toThrow(DecryptFailedError);
        }
      }
    }
    expect(attempts).toBeGreaterThanOrEqual(5 * opened.length);
    // A copy of A's wrapped data keys taken before the erasure still needs master key v1: once v1 is rotated out
    // and destroyed, that copy opens nothing either.
    await expect(openDataKey(a, keysOfA, 1, LocalKeyRing.parse(RING_V2, 'AUTHPIPE_MASTER_KEYS'))).rejects.toThrow(/unknown master key version v1/);

    // Tenant B is untouched.
    for (const c of stored.get(b)!) expect((await readCredential(c)).credential).toEqual(c.credential);
  });

  it('erases a tenant that never stored anything: later stores are refused', async () => {
    await startVaultWith(newPrefix(), RING_V1);
    const tenantId = newTenant();
    expect(await client.request('vaultEraseTenant', { tenantId })).toMatchObject({ tenantId });
    expect((await failure(client.request('vaultStoreCredential', oauthCredential(tenantId)))).code).toBe(RpcErrorCodes.TenantErased);
    expect((await failure(client.request('vaultStoreTenantSecret', { tenantId, ownerId: 'integration-gmail', field: 'client_secret', value: secret('s') }))).code).toBe(
      RpcErrorCodes.TenantErased,
    );
  });
});

it('never wrote a secret or a master key to the logs or to an error', () => {
  // Declared last, so it sees the logs of everything above.
  expect(logs).toContain('rotated the data key of tenant');
  expect(logs).toContain('erased tenant');
  expect(errorMessages.length).toBeGreaterThan(5);
  for (const plain of plaintexts) {
    expect(logs).not.toContain(plain);
    for (const message of errorMessages) expect(message).not.toContain(plain);
  }
});
