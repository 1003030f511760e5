import { randomBytes } from 'node:crypto';
import { INestMicroservice } from '@nestjs/common';
import { ClientProxy, ClientProxyFactory, Transport } from '@nestjs/microservices';
import { connect, KV, NatsConnection } from 'nats';
import { firstValueFrom } from 'rxjs';
import { loadConfig, PlatformConfig } from '@authpipe/config';
import { AUDIT_STREAM, AUDIT_SUBJECT_PREFIX, connectionIdFor, healthSubject, Rpc, RpcErrorCodes, StoreCredentialRequest } from '@authpipe/contracts';
import { createRpcClient, RpcClient, RpcError } from '@authpipe/messaging';
import { TenantKeys } from '../../apps/vault/src/crypto/tenant-data-keys';
import { kvKeys, vaultBucketNames } from '../../apps/vault/src/storage/jetstream-kv-secret-store';
import { CredentialRecord } from '../../apps/vault/src/storage/secret-store.port';
import { startVault } from '../../apps/vault/src/start-vault';
import { VaultConfig } from '../../apps/vault/src/vault.config';
import { vaultTestKit } from '../support/vault-test-kit';

/*
 * vault as a Nest microservice in this process, on the run's real nats-server, with buckets of its own prefix;
 * requests go through the same RpcClient the other apps use.
 */

const NATS_URL = process.env.AUTHPIPE_TEST_NATS_URL!;
const PREFIX = `vault_test_${randomBytes(4).toString('hex')}`;
const MASTER_V1 = randomBytes(32).toString('base64');
const MASTER_V2 = randomBytes(32).toString('base64');

/** Every plaintext sent to vault here (and the master keys): none may appear in a log line, a stored value or an error. */
const kit = vaultTestKit([MASTER_V1, MASTER_V2]);
const { plaintexts, errorMessages, secret, newTenant, failure, oauthCredential } = kit;
const untilAnswering = () => kit.untilAnswering(rawClient);


let vault: INestMicroservice;
let client: RpcClient;
let rawClient: ClientProxy;
let nats: NatsConnection;
let secretsKv: KV;
let dataKeysKv: KV;
let logs = '';
const writes: jest.SpyInstance[] = [];

const stopVault = (app: INestMicroservice): Promise<void> => app.close();

async function startVaultWith(masterKeys: string): Promise<INestMicroservice> {
  const config = loadConfig(VaultConfig, {
    NATS_URL,
    AUTHPIPE_MASTER_KEYS: masterKeys,
    AUTHPIPE_VAULT_BUCKET_PREFIX: PREFIX,
    AUTHPIPE_LOG_LEVEL: 'debug',
    // Nothing is in flight when a test stops a vault.
    AUTHPIPE_SHUTDOWN_GRACE_MS: '0',
  });
  const app = await startVault(config);
  await untilAnswering();
  return app;
}

async function rawRecord(key: string): Promise<string> {
  const entry = await secretsKv.get(key);
  return entry!.string();
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
  client = createRpcClient(loadConfig(PlatformConfig, { NATS_URL }), 'test');
  // Bypasses the client-side validation of RpcClient, to show vault validates on its own.
  rawClient = ClientProxyFactory.create({ transport: Transport.NATS, options: { servers: [NATS_URL] } });
  vault = await startVaultWith(`v1:${MASTER_V1}`);
  nats = await connect({ servers: NATS_URL });
  const names = vaultBucketNames(PREFIX);
  secretsKv = await nats.jetstream().views.kv(names.secrets, { bindOnly: true });
  dataKeysKv = await nats.jetstream().views.kv(names.dataKeys, { bindOnly: true });
});

afterAll(async () => {
  await client?.close();
  await rawClient?.close();
  if (vault) await stopVault(vault);
  await secretsKv?.destroy();
  await dataKeysKv?.destroy();
  await nats?.close();
  writes.forEach((spy) => spy.mockRestore());
});

describe('vault over NATS', () => {
  it('stores a credential and reads it back decrypted, versioned', async () => {
    const request = oauthCredential(newTenant());
    expect(await client.request('vaultStoreCredential', request)).toEqual({ version: 1 });
    const read = { tenantId: request.tenantId, connectionId: request.connectionId, caller: 'query-api' };
    expect(await client.request('vaultReadCredential', read)).toEqual({ version: 1, provider: 'gmail', credential: request.credential });

    const reconnect = oauthCredential(request.tenantId);
    expect(await client.request('vaultStoreCredential', reconnect)).toEqual({ version: 2 });
    expect(await client.request('vaultReadCredential', read)).toEqual({ version: 2, provider: 'gmail', credential: reconnect.credential });
  });

  it('stores an API key credential', async () => {
    const tenantId = newTenant();
    const request: StoreCredentialRequest = {
      tenantId,
      connectionId: connectionIdFor(tenantId, 'clicksend', 'user-1'),
      provider: 'clicksend',
      credential: { type: 'api_key', apiKey: secret('api-key'), username: 'ops@example.com' },
    };
    await client.request('vaultStoreCredential', request);
    const read = await client.request('vaultReadCredential', { tenantId, connectionId: request.connectionId, caller: 'query-api' });
    expect(read.credential).toEqual(request.credential);
  });

  it('honours expectedVersion: 0 creates, a stale version conflicts', async () => {
    const first = oauthCredential(newTenant(), 'user-1', { expectedVersion: 0 });
    expect(await client.request('vaultStoreCredential', first)).toEqual({ version: 1 });
    const again = await failure(client.request('vaultStoreCredential', { ...first, expectedVersion: 0 }));
    expect(again.code).toBe(RpcErrorCodes.Conflict);
    expect(again.message).toContain(first.connectionId);

    expect(await client.request('vaultStoreCredential', { ...first, expectedVersion: 1 })).toEqual({ version: 2 });
    const stale = await failure(client.request('vaultStoreCredential', { ...first, expectedVersion: 1 }));
    expect(stale.code).toBe(RpcErrorCodes.Conflict);
    expect(stale.message).toMatch(/is at version 2, not 1/);
  });

  it('lets exactly one of concurrent stores with the same expectedVersion win', async () => {
    const tenantId = newTenant();
    await client.request('vaultStoreCredential', oauthCredential(tenantId));
    const contenders = Array.from({ length: 8 }, () => oauthCredential(tenantId, 'user-1', { expectedVersion: 1 }));
    const outcomes = await Promise.allSettled(contenders.map((c) => client.request('vaultStoreCredential', c)));

    const won = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [i] : []));
    expect(won).toHaveLength(1);
    for (const o of outcomes) {
      if (o.status === 'rejected') expect((o.reason as RpcError).code).toBe(RpcErrorCodes.Conflict);
      else expect(o.value).toEqual({ version: 2 });
    }
    const read = await client.request('vaultReadCredential', { tenantId, connectionId: contenders[0].connectionId, caller: 'refresher' });
    expect(read).toMatchObject({ version: 2, credential: contenders[won[0]].credential });
  });

  it('lets exactly one of concurrent first stores (expectedVersion 0) win', async () => {
    const tenantId = newTenant();
    const contenders = Array.from({ length: 6 }, () => oauthCredential(tenantId, 'user-1', { expectedVersion: 0 }));
    const outcomes = await Promise.allSettled(contenders.map((c) => client.request('vaultStoreCredential', c)));
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
  });

  it('creates one data key when the first stores of a new tenant race', async () => {
    const tenantId = newTenant();
    const stores = Array.from({ length: 10 }, (_, i) => oauthCredential(tenantId, `user-${i}`));
    await Promise.all(stores.map((s) => client.request('vaultStoreCredential', s)));
    // A loser that kept its own data key would have written ciphertexts nobody can open.
    for (const s of stores) {
      const read = await client.request('vaultReadCredential', { tenantId, connectionId: s.connectionId, caller: 'query-api' });
      expect(read.credential).toEqual(s.credential);
    }
    const keys = (await dataKeysKv.get(kvKeys.tenantKeys(tenantId)))!.json<TenantKeys>();
    expect(keys).toMatchObject({ status: 'active', activeVersion: 1, keys: [{ version: 1, kekVersion: 'v1' }] });
  });

  it('stores and reads a tenant client secret, versioned per owner and field', async () => {
    const tenantId = newTenant();
    const value = secret('client-secret');
    const store = { tenantId, ownerId: 'integration-gmail', field: 'client_secret' as const, value };
    expect(await client.request('vaultStoreTenantSecret', store)).toEqual({ version: 1 });
    const read = { tenantId, ownerId: 'integration-gmail', field: 'client_secret' as const, caller: 'oauth-gateway' };
    expect(await client.request('vaultReadTenantSecret', read)).toEqual({ version: 1, value });

    const rotated = secret('client-secret');
    expect(await client.request('vaultStoreTenantSecret', { ...store, value: rotated })).toEqual({ version: 2 });
    expect(await client.request('vaultReadTenantSecret', read)).toEqual({ version: 2, value: rotated });
    const webhook = await failure(client.request('vaultReadTenantSecret', { ...read, field: 'webhook_secret' }));
    expect(webhook.code).toBe(RpcErrorCodes.NotFound);
  });

  it('answers NOT_FOUND for what was never stored', async () => {
    const tenantId = newTenant();
    const connectionId = connectionIdFor(tenantId, 'gmail', 'nobody');
    const credential = await failure(client.request('vaultReadCredential', { tenantId, connectionId, caller: 'query-api' }));
    expect(credential.code).toBe(RpcErrorCodes.NotFound);
    expect(credential.message).toContain(connectionId);
    const tenantSecret = await failure(
      client.request('vaultReadTenantSecret', { tenantId, ownerId: 'integration-gmail', field: 'client_secret', caller: 'oauth-gateway' }),
    );
    expect(tenantSecret.code).toBe(RpcErrorCodes.NotFound);
  });

  describe('validates requests itself, naming fields and never echoing values', () => {
    const send = (payload: object) =>
      firstValueFrom(rawClient.send(Rpc.vaultStoreCredential.subject, payload)).then(
        () => {
          throw new Error('expected an error reply');
        },
        (err: { code: string; message: string }) => err,
      );

    it('rejects a malformed tenantId', async () => {
      const err = await send({ ...oauthCredential('org_acme'), tenantId: 'Org Acme!' });
      expect(err.code).toBe(RpcErrorCodes.InvalidRequest);
      expect(err.message).toMatch(/tenantId/);
    });

    it('rejects an unknown field without echoing it', async () => {
      const leaked = secret('leaked');
      const err = await send({ ...oauthCredential('org_acme'), password: leaked });
      expect(err.code).toBe(RpcErrorCodes.InvalidRequest);
      expect(err.message).toMatch(/password/);
      expect(err.message).not.toContain(leaked);
    });

    it('rejects a malformed nested credential field', async () => {
      const request = oauthCredential('org_acme');
      const err = await send({ ...request, credential: { ...request.credential, accessToken: 42 } });
      expect(err.code).toBe(RpcErrorCodes.InvalidRequest);
      expect(err.message).toMatch(/credential\.accessToken/);
    });

    it('rejects an OAuth credential without an access token', async () => {
      const request = oauthCredential(newTenant());
      delete request.credential.accessToken;
      const err = await failure(client.request('vaultStoreCredential', request));
      expect(err.code).toBe(RpcErrorCodes.InvalidRequest);
      expect(err.message).toMatch(/credential\.accessToken is required/);
    });
  });

  describe('at rest', () => {
    it('keeps no plaintext in the KV buckets', async () => {
      const request = oauthCredential(newTenant());
      await client.request('vaultStoreCredential', request);
      const raw = await rawRecord(kvKeys.credential(request.tenantId, request.connectionId));
      const { accessToken, refreshToken } = request.credential as { accessToken: string; refreshToken: string };
      for (const plain of [accessToken, refreshToken]) {
        expect(raw).not.toContain(plain);
        expect(raw).not.toContain(Buffer.from(plain).toString('base64'));
      }
      const record = JSON.parse(raw) as CredentialRecord;
      expect(record).toMatchObject({ format: 1, version: 1, provider: 'gmail', type: 'oauth2', expiresAt: request.credential.expiresAt });
      expect(Object.keys(record.secrets).sort()).toEqual(['access_token', 'refresh_token']);
      expect(record.secrets.access_token).toEqual({ format: 1, dekVersion: 1, nonce: expect.any(String), ciphertext: expect.any(String), tag: expect.any(String) });

      const keys = (await dataKeysKv.get(kvKeys.tenantKeys(request.tenantId)))!.string();
      expect(keys).not.toContain(MASTER_V1);
    });

    it('answers DECRYPT_FAILED for a record with one flipped bit, naming connection and field, logging no secret', async () => {
      const request = oauthCredential(newTenant());
      await client.request('vaultStoreCredential', request);
      const key = kvKeys.credential(request.tenantId, request.connectionId);
      const record = JSON.parse(await rawRecord(key)) as CredentialRecord;
      const ciphertext = Buffer.from(record.secrets.access_token!.ciphertext, 'base64');
      ciphertext[0] ^= 0x01;
      record.secrets.access_token!.ciphertext = ciphertext.toString('base64');
      await secretsKv.put(key, JSON.stringify(record));

      const logsBefore = logs.length;
      const err = await failure(client.request('vaultReadCredential', { tenantId: request.tenantId, connectionId: request.connectionId, caller: 'query-api' }));
      expect(err.code).toBe(RpcErrorCodes.DecryptFailed);
      expect(err.message).toContain(request.connectionId);
      expect(err.message).toContain('access_token');
      const logged = logs.slice(logsBefore);
      expect(logged).toContain(request.connectionId);
      for (const plain of plaintexts) {
        expect(err.message).not.toContain(plain);
        expect(logged).not.toContain(plain);
      }
    });

    it("answers DECRYPT_FAILED when another connection's ciphertexts are moved into a record", async () => {
      const tenantId = newTenant();
      const [a, b] = [oauthCredential(tenantId, 'alice'), oauthCredential(tenantId, 'bob')];
      await client.request('vaultStoreCredential', a);
      await client.request('vaultStoreCredential', b);
      const [keyA, keyB] = [kvKeys.credential(tenantId, a.connectionId), kvKeys.credential(tenantId, b.connectionId)];
      const [recordA, recordB] = [JSON.parse(await rawRecord(keyA)), JSON.parse(await rawRecord(keyB))] as CredentialRecord[];
      await secretsKv.put(keyA, JSON.stringify({ ...recordA, secrets: recordB.secrets }));
      await secretsKv.put(keyB, JSON.stringify({ ...recordB, secrets: recordA.secrets }));
      for (const connectionId of [a.connectionId, b.connectionId]) {
        const err = await failure(client.request('vaultReadCredential', { tenantId, connectionId, caller: 'query-api' }));
        expect(err.code).toBe(RpcErrorCodes.DecryptFailed);
      }
    });

    it('answers DECRYPT_FAILED for a record that is not JSON, and a reconnect replaces it', async () => {
      const request = oauthCredential(newTenant());
      await client.request('vaultStoreCredential', request);
      await secretsKv.put(kvKeys.credential(request.tenantId, request.connectionId), '{"truncated');
      const read = { tenantId: request.tenantId, connectionId: request.connectionId, caller: 'query-api' };
      expect((await failure(client.request('vaultReadCredential', read))).code).toBe(RpcErrorCodes.DecryptFailed);

      const reconnect = oauthCredential(request.tenantId);
      const { version } = await client.request('vaultStoreCredential', reconnect);
      expect(version).toBeGreaterThan(1);
      expect(await client.request('vaultReadCredential', read)).toMatchObject({ version, credential: reconnect.credential });
    });

    it('answers TENANT_ERASED once the data key record is an erasure tombstone', async () => {
      const request = oauthCredential(newTenant());
      await client.request('vaultStoreCredential', request);
      const tombstone: TenantKeys = { format: 1, tenantId: request.tenantId, status: 'erased', erasedAt: '2026-02-01T00:00:00.000Z' };
      await dataKeysKv.put(kvKeys.tenantKeys(request.tenantId), JSON.stringify(tombstone));

      const read = await failure(client.request('vaultReadCredential', { tenantId: request.tenantId, connectionId: request.connectionId, caller: 'query-api' }));
      expect(read.code).toBe(RpcErrorCodes.TenantErased);
      const store = await failure(client.request('vaultStoreCredential', oauthCredential(request.tenantId)));
      expect(store.code).toBe(RpcErrorCodes.TenantErased);
    });
  });

  describe('master key rotation', () => {
    it('reads data keys wrapped by v1 after v2 becomes active, wraps new ones with v2, and names a dropped version', async () => {
      const before = oauthCredential(newTenant());
      await client.request('vaultStoreCredential', before);
      const read = { tenantId: before.tenantId, connectionId: before.connectionId, caller: 'query-api' };

      await stopVault(vault);
      vault = await startVaultWith(`v2:${MASTER_V2},v1:${MASTER_V1}`);
      expect((await client.request('vaultReadCredential', read)).credential).toEqual(before.credential);
      const after = oauthCredential(newTenant());
      await client.request('vaultStoreCredential', after);
      expect((await dataKeysKv.get(kvKeys.tenantKeys(after.tenantId)))!.json<TenantKeys>()).toMatchObject({ keys: [{ kekVersion: 'v2' }] });

      await stopVault(vault);
      vault = await startVaultWith(`v2:${MASTER_V2}`);
      const err = await failure(client.request('vaultReadCredential', read));
      expect(err.code).toBe(RpcErrorCodes.UnknownKeyVersion);
      expect(err.message).toContain('master key version v1');
      expect(err.message).toContain(before.connectionId);
    });
  });

  it('never wrote a secret or a master key to the logs, an error reply or an audit record', async () => {
    // Declared last, so it sees the logs of every request above, including the failing ones.
    expect(logs).toContain('under master key v2');
    expect(logs).toContain('cannot decrypt access_token');
    expect(errorMessages.length).toBeGreaterThan(5);
    // Every successful read above was audited; the records hold ids and versions only.
    const jsm = await nats.jetstreamManager();
    const stream = await jsm.streams.info(AUDIT_STREAM);
    const audits: string[] = [];
    for (let seq = stream.state.first_seq; seq <= stream.state.last_seq && stream.state.messages > 0; seq++) {
      const message = await jsm.streams.getMessage(AUDIT_STREAM, { seq }).catch(() => null);
      if (message?.subject.startsWith(`${AUDIT_SUBJECT_PREFIX}.`)) audits.push(new TextDecoder().decode(message.data));
    }
    expect(audits.length).toBeGreaterThan(10);
    for (const plain of plaintexts) {
      expect(logs).not.toContain(plain);
      for (const message of errorMessages) expect(message).not.toContain(plain);
      for (const audit of audits) expect(audit).not.toContain(plain);
    }
  });
});
