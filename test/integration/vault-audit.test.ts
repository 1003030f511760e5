import { randomBytes } from 'node:crypto';
import { INestMicroservice } from '@nestjs/common';
import { ClientProxy, ClientProxyFactory, Transport } from '@nestjs/microservices';
import { connect, DiscardPolicy, JetStreamManager, NatsConnection, StorageType } from 'nats';
import { firstValueFrom } from 'rxjs';
import { loadConfig, PlatformConfig } from '@authpipe/config';
import { AUDIT_STREAM, auditSubject, connectionIdFor, healthSubject, RpcErrorCodes, SecretReadAudit, StoreCredentialRequest } from '@authpipe/contracts';
import { createRpcClient, RpcClient, RpcError } from '@authpipe/messaging';
import { startVault } from '../../apps/vault/src/start-vault';
import { VaultConfig } from '../../apps/vault/src/vault.config';
import { NatsServerHandle, startNatsServer } from '../support/nats-server';
import { vaultTestKit } from '../support/vault-test-kit';

/*
 * The audit of reads: every credential and tenant secret read is published to JetStream (stream AUTHPIPE_AUDIT,
 * subject per tenant) and acked before vault answers; without the ack the read fails. This file starts its own
 * nats-server: it deletes and reconfigures the audit stream, which other suites on the shared server write to.
 */

const MASTER = randomBytes(32).toString('base64');

/** Every plaintext sent to vault here (and the master keys): none may appear in a log line, a stored value or an error. */
const kit = vaultTestKit([MASTER]);
const { plaintexts, errorMessages, secret, newTenant, failure, oauthCredential } = kit;
const untilAnswering = () => kit.untilAnswering(rawClient);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let server: NatsServerHandle;
let nats: NatsConnection;
let jsm: JetStreamManager;
let client: RpcClient;
let rawClient: ClientProxy;
let vault: INestMicroservice;
let logs = '';
const writes: jest.SpyInstance[] = [];

/** Every audit record in the stream, with its subject, in order. */
async function auditRecords(): Promise<Array<{ subject: string; text: string; record: SecretReadAudit }>> {
  const info = await jsm.streams.info(AUDIT_STREAM);
  const result = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const message = await jsm.streams.getMessage(AUDIT_STREAM, { seq }).catch(() => null);
    if (!message) continue;
    const text = new TextDecoder().decode(message.data);
    result.push({ subject: message.subject, text, record: JSON.parse(text) as SecretReadAudit });
  }
  return result;
}

beforeAll(async () => {
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
  jsm = await nats.jetstreamManager();
  client = createRpcClient(loadConfig(PlatformConfig, { NATS_URL: server.url }), 'test');
  rawClient = ClientProxyFactory.create({ transport: Transport.NATS, options: { servers: [server.url] } });
  vault = await startVault(
    loadConfig(VaultConfig, {
      NATS_URL: server.url,
      AUTHPIPE_MASTER_KEYS: `v1:${MASTER}`,
      AUTHPIPE_VAULT_BUCKET_PREFIX: 'vault_audit',
      AUTHPIPE_AUDIT_MAX_AGE_DAYS: '30',
      AUTHPIPE_AUDIT_ACK_TIMEOUT_MS: '500',
      AUTHPIPE_LOG_LEVEL: 'debug',
      AUTHPIPE_SHUTDOWN_GRACE_MS: '0',
    }),
  );
  for (let attempt = 0; !(await firstValueFrom(rawClient.send(healthSubject('vault'), {})).then(() => true, () => false)); attempt++) {
    if (attempt === 100) throw new Error('vault did not answer on NATS');
    await sleep(20);
  }
});

afterAll(async () => {
  await vault?.close();
  await client?.close();
  await rawClient?.close();
  await nats?.close();
  await server?.stop();
  writes.forEach((spy) => spy.mockRestore());
});

describe('the audit of reads', () => {
  it('is a file-backed stream with one subject per tenant, created by vault with the configured max age', async () => {
    const info = await jsm.streams.info(AUDIT_STREAM);
    expect(info.config).toMatchObject({ subjects: ['authpipe.audit.reads.>'], storage: StorageType.File, max_age: 30 * 24 * 3600 * 1e9 });
  });

  it('publishes one record per successful read, on the tenant subject, with ids, version, caller and correlation id', async () => {
    const [tenantId, other] = [newTenant(), newTenant()];
    const credential = oauthCredential(tenantId);
    await client.request('vaultStoreCredential', credential);
    await client.request('vaultStoreCredential', { ...credential, credential: { ...credential.credential, accessToken: secret('access') } });
    await client.request('vaultStoreTenantSecret', { tenantId, ownerId: 'integration-gmail', field: 'client_secret', value: secret('client-secret') });
    await client.request('vaultStoreCredential', oauthCredential(other));
    const before = (await auditRecords()).length;

    await client.request('vaultReadCredential', { tenantId, connectionId: credential.connectionId, caller: 'query-api:key_abc', correlationId: 'req-123' });
    await client.request('vaultReadTenantSecret', { tenantId, ownerId: 'integration-gmail', field: 'client_secret', caller: 'oauth-gateway', correlationId: 'req-124' });
    await client.request('vaultReadCredential', { tenantId: other, connectionId: oauthCredential(other).connectionId, caller: 'refresher' });
    // Reads that hand out nothing are not audited.
    expect((await failure(client.request('vaultReadCredential', { tenantId, connectionId: connectionIdFor(tenantId, 'gmail', 'nobody'), caller: 'query-api' }))).code).toBe(
      RpcErrorCodes.NotFound,
    );

    const records = (await auditRecords()).slice(before);
    expect(records.map((r) => [r.subject, r.record])).toEqual([
      [
        auditSubject(tenantId),
        { at: expect.any(String), tenantId, kind: 'credential', connectionId: credential.connectionId, version: 2, caller: 'query-api:key_abc', correlationId: 'req-123' },
      ],
      [
        auditSubject(tenantId),
        { at: expect.any(String), tenantId, kind: 'tenant_secret', ownerId: 'integration-gmail', field: 'client_secret', version: 1, caller: 'oauth-gateway', correlationId: 'req-124' },
      ],
      [auditSubject(other), { at: expect.any(String), tenantId: other, kind: 'credential', connectionId: oauthCredential(other).connectionId, version: 1, caller: 'refresher' }],
    ]);
    expect(Date.parse(records[0].record.at)).not.toBeNaN();
  });

  it('refuses a read whose record cannot be written (stream deleted), keeps storing, and re-creates the stream', async () => {
    const credential = oauthCredential(newTenant());
    await client.request('vaultStoreCredential', credential);
    const read = { tenantId: credential.tenantId, connectionId: credential.connectionId, caller: 'query-api' };
    await jsm.streams.delete(AUDIT_STREAM);

    const refused = await failure(client.request('vaultReadCredential', read));
    expect(refused.code).toBe(RpcErrorCodes.Unavailable);
    expect(refused.message).toMatch(new RegExp(`${credential.connectionId}.*the audit of reads cannot be written \\(no stream captures ${auditSubject(credential.tenantId)}\\)`));
    expect(logs).toMatch(/read refused: the audit record could not be written/);
    // Writing needs no audit.
    expect(await client.request('vaultStoreCredential', { ...credential, credential: { ...credential.credential, accessToken: secret('access') } })).toEqual({ version: 2 });

    // The failed publish made vault create the stream again; reads are served (and audited) once it exists.
    const reply = await (async () => {
      for (let attempt = 0; attempt < 100; attempt++) {
        const outcome = await client.request('vaultReadCredential', read).catch((err: RpcError) => err);
        if (!(outcome instanceof RpcError)) return outcome;
        expect(outcome.code).toBe(RpcErrorCodes.Unavailable);
        await sleep(20);
      }
      throw new Error('vault did not re-create the audit stream');
    })();
    expect(reply.version).toBe(2);
    expect((await auditRecords()).map((r) => r.record)).toEqual([expect.objectContaining({ connectionId: credential.connectionId, version: 2 })]);
  });

  it('refuses a read the stream rejects (full, discarding new records)', async () => {
    const credential = oauthCredential(newTenant());
    await client.request('vaultStoreCredential', credential);
    const read = { tenantId: credential.tenantId, connectionId: credential.connectionId, caller: 'query-api' };
    const info = await jsm.streams.info(AUDIT_STREAM);
    await jsm.streams.update(AUDIT_STREAM, { ...info.config, max_msgs: Math.max(1, info.state.messages), discard: DiscardPolicy.New });
    await client.request('vaultReadCredential', read).catch(() => undefined); // fills it if it was empty

    const refused = await failure(client.request('vaultReadCredential', read));
    expect(refused.code).toBe(RpcErrorCodes.Unavailable);
    expect(refused.message).toMatch(/stream AUTHPIPE_AUDIT refused the record: maximum messages exceeded/);

    await jsm.streams.update(AUDIT_STREAM, { ...info.config });
    expect((await client.request('vaultReadCredential', read)).credential).toEqual(credential.credential);
  });

  it('never carries a secret: not in audit records, logs or errors', async () => {
    const records = await auditRecords();
    expect(records.length).toBeGreaterThan(0);
    expect(errorMessages.length).toBeGreaterThanOrEqual(3);
    for (const plain of plaintexts) {
      for (const r of records) expect(r.text).not.toContain(plain);
      for (const message of errorMessages) expect(message).not.toContain(plain);
      expect(logs).not.toContain(plain);
    }
  });
});
