import { createSecretKey, randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { INestMicroservice } from '@nestjs/common';
import { ClientProxyFactory, Transport } from '@nestjs/microservices';
import { connect } from 'nats';
import { firstValueFrom } from 'rxjs';
import { loadConfig, PlatformConfig } from '@authpipe/config';
import { connectionIdFor, healthSubject, StoreCredentialRequest } from '@authpipe/contracts';
import { createRpcClient } from '@authpipe/messaging';
import { decryptField, encryptField } from '../apps/vault/src/crypto/field-encryption';
import { LocalKeyRing } from '../apps/vault/src/crypto/local-key-ring';
import { DataKey, newTenantKeys, openDataKey } from '../apps/vault/src/crypto/tenant-data-keys';
import { vaultBucketNames } from '../apps/vault/src/storage/jetstream-kv-secret-store';
import { startVault } from '../apps/vault/src/start-vault';
import { VaultConfig } from '../apps/vault/src/vault.config';
import { knob, percentile } from './stats';

/*
 * Vault: (a) field encryption throughput (AES-256-GCM, 2 KB secrets, this process's one core), (b) request/reply
 * latency over NATS to an in-process vault on the run's nats-server (store and read of a credential; a read includes
 * the audit record and its JetStream ack). `npx jest -c jest.bench.config.js bench/vault`. Numbers are printed only;
 * BENCH_VAULT_SECONDS (default 3) sets the time per crypto measurement, BENCH_VAULT_REQUESTS (default 2000) the
 * number of sequential requests.
 */
const SECONDS = knob('BENCH_VAULT_SECONDS', 3);
const REQUESTS = knob('BENCH_VAULT_REQUESTS', 2000);
const fmt = (ms: number) => `${ms < 1 ? ms.toFixed(3) : ms.toFixed(2)} ms`;
const rate = (n: number) => `${Math.round(n).toLocaleString('en-US')}/s`;

/** Operations per second of wall time, and per second of this process's CPU time (robust on a busy machine). */
interface Throughput {
  wall: number;
  cpu: number;
}
const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

/** Run `op` repeatedly for `seconds` (after a short warm-up). */
function opsPerSecond(op: () => void, seconds = SECONDS): Throughput {
  const warmUntil = performance.now() + 200;
  while (performance.now() < warmUntil) op();
  let count = 0;
  const [started, startedCpu] = [performance.now(), cpuMs()];
  const until = started + seconds * 1000;
  while (performance.now() < until) {
    for (let i = 0; i < 100; i++) op();
    count += 100;
  }
  return { wall: (count * 1000) / (performance.now() - started), cpu: (count * 1000) / (cpuMs() - startedCpu) };
}

async function asyncOpsPerSecond(op: () => Promise<unknown>, seconds = SECONDS): Promise<Throughput> {
  let count = 0;
  const [started, startedCpu] = [performance.now(), cpuMs()];
  const until = started + seconds * 1000;
  while (performance.now() < until) {
    await op();
    count++;
  }
  return { wall: (count * 1000) / (performance.now() - started), cpu: (count * 1000) / (cpuMs() - startedCpu) };
}

function summary(label: string, timings: number[], wallMs: number): string {
  const sorted = [...timings].sort((a, b) => a - b);
  return (
    `${label}: ${timings.length} requests, p50 ${fmt(percentile(sorted, 50))}, p90 ${fmt(percentile(sorted, 90))}, ` +
    `p99 ${fmt(percentile(sorted, 99))}, max ${fmt(sorted[sorted.length - 1])}, ${rate((timings.length * 1000) / wallMs)}`
  );
}

test('field encryption throughput (2 KB secrets, one core)', async () => {
  const dataKey: DataKey = { tenantId: 'org_bench', version: 1, key: createSecretKey(randomBytes(32)) };
  const binding = { tenantId: 'org_bench', ownerId: 'con_AAAAAAAAAAAAAAAAAAAAAA', field: 'access_token' };
  const plaintext = randomBytes(1536).toString('base64'); // 2048 characters
  const sealed = encryptField(dataKey, plaintext, binding);
  if (decryptField(dataKey, sealed, binding) !== plaintext) throw new Error('round trip failed');

  const encrypt = opsPerSecond(() => encryptField(dataKey, plaintext, binding));
  const decrypt = opsPerSecond(() => decryptField(dataKey, sealed, binding));
  const both = opsPerSecond(() => decryptField(dataKey, encryptField(dataKey, plaintext, binding), binding));
  // Every request unwraps its tenant's data key under the master key (no cache): what that costs.
  const ring = LocalKeyRing.parse(`v1:${randomBytes(32).toString('base64')}`, 'AUTHPIPE_MASTER_KEYS');
  const record = await newTenantKeys('org_bench', ring, new Date());
  const unwrap = await asyncOpsPerSecond(() => openDataKey('org_bench', record, 1, ring));
  const mb = (ops: number) => ((ops * 2048) / 1024 / 1024).toFixed(0);
  const line = (label: string, t: Throughput, unit = '') =>
    `  ${label.padEnd(22)} ${rate(t.cpu)} per CPU-second${unit && ` (${mb(t.cpu)} MB/s)`}; ${rate(t.wall)} wall`;
  console.log(
    [
      `field encryption, 2 KB values, ${SECONDS} s each, one thread (load average ${loadavg()[0].toFixed(2)}):`,
      line('encryptField', encrypt, 'MB'),
      line('decryptField', decrypt, 'MB'),
      line('encrypt + decrypt', both),
      `${line('unwrap a data key', unwrap)} (openDataKey, local master key; once per request)`,
    ].join('\n'),
  );
});

test('vault request/reply latency over NATS (store and read of a credential)', async () => {
  const url = process.env.AUTHPIPE_TEST_NATS_URL!;
  const prefix = `vault_bench_${randomBytes(4).toString('hex')}`;
  const vault: INestMicroservice = await startVault(
    loadConfig(VaultConfig, {
      NATS_URL: url,
      AUTHPIPE_MASTER_KEYS: `v1:${randomBytes(32).toString('base64')}`,
      AUTHPIPE_VAULT_BUCKET_PREFIX: prefix,
      AUTHPIPE_LOG_LEVEL: 'warn',
      AUTHPIPE_SHUTDOWN_GRACE_MS: '0',
    }),
  );
  const health = ClientProxyFactory.create({ transport: Transport.NATS, options: { servers: [url] } });
  const client = createRpcClient(loadConfig(PlatformConfig, { NATS_URL: url }), 'bench');
  try {
    while (!(await firstValueFrom(health.send(healthSubject('vault'), {})).then(() => true, () => false))) await new Promise((r) => setTimeout(r, 20));
    const tenants = Array.from({ length: 20 }, (_, i) => `org_bench_${i}`);
    const request = (i: number): StoreCredentialRequest => {
      const tenantId = tenants[i % tenants.length];
      return {
        tenantId,
        connectionId: connectionIdFor(tenantId, 'gmail', `user-${i % 200}`),
        provider: 'gmail',
        credential: {
          type: 'oauth2',
          accessToken: `ya29.${randomBytes(96).toString('base64url')}`,
          refreshToken: `1//${randomBytes(64).toString('base64url')}`,
          tokenType: 'Bearer',
          expiresAt: '2030-01-01T00:00:00.000Z',
          scopes: ['https://www.googleapis.com/auth/gmail.readonly'],
        },
      };
    };
    const timed = async (work: () => Promise<unknown>) => {
      const started = performance.now();
      await work();
      return performance.now() - started;
    };
    const store = (i: number) => timed(() => client.request('vaultStoreCredential', request(i)));
    const read = (i: number) => {
      const { tenantId, connectionId } = request(i);
      return timed(() => client.request('vaultReadCredential', { tenantId, connectionId, caller: 'query-api' }));
    };
    // Warm-up: JIT, the tenants' data keys, the KV and audit streams.
    for (let i = 0; i < 200; i++) await store(i);
    for (let i = 0; i < 200; i++) await read(i);

    const sequential = async (label: string, op: (i: number) => Promise<number>) => {
      const timings: number[] = [];
      const started = performance.now();
      for (let i = 0; i < REQUESTS; i++) timings.push(await op(i));
      return summary(label, timings, performance.now() - started);
    };
    const concurrent = async (label: string, op: (i: number) => Promise<number>, workers: number, perWorker: number) => {
      const timings: number[] = [];
      const started = performance.now();
      await Promise.all(
        Array.from({ length: workers }, async (_, w) => {
          for (let i = 0; i < perWorker; i++) timings.push(await op(w * perWorker + i));
        }),
      );
      return summary(label, timings, performance.now() - started);
    };
    const lines = [
      `vault over NATS, in-process vault and client on one nats-server, log level warn (load average ${loadavg()[0].toFixed(2)}):`,
      await sequential(`  store, sequential          `, store),
      await sequential(`  read (audited), sequential `, read),
      await concurrent(`  store, 16 concurrent       `, store, 16, 125),
      await concurrent(`  read (audited), 16 concurr.`, read, 16, 125),
    ];
    console.log(lines.join('\n'));
  } finally {
    await client.close();
    await health.close();
    await vault.close();
    const nc = await connect({ servers: url });
    const names = vaultBucketNames(prefix);
    for (const bucket of [names.dataKeys, names.secrets]) await (await nc.jetstream().views.kv(bucket, { bindOnly: true })).destroy().catch(() => undefined);
    await nc.close();
  }
});
