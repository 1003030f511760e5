import { KV, NatsConnection } from 'nats';
import { TENANT_ID_PATTERN } from '@authpipe/contracts';
import { CIPHERTEXT_FORMAT } from '../crypto/field-encryption';
import { TENANT_KEYS_FORMAT, TenantKeys } from '../crypto/tenant-data-keys';
import {
  ConcurrencyError,
  CorruptRecordError,
  CredentialRecord,
  Revisioned,
  SECRET_RECORD_FORMAT,
  SecretRecordRef,
  SecretStore,
  TenantSecretRecord,
} from './secret-store.port';
import { JobRecordName, JobStateStore } from './job-state.port';

/** JetStream API error: the subject's last sequence is not the expected one (compare-and-set lost). */
const WRONG_LAST_SEQUENCE = 10071;

export interface JetStreamKvSecretStoreOptions {
  /** Bucket names start with it, so tests (and several installations) can share one nats-server. */
  bucketPrefix: string;
  /** JetStream replicas of both buckets (1 on one server, 3 in a cluster). Applies when a bucket is created. */
  replicas: number;
}

/** The two KV buckets of a vault installation. */
export function vaultBucketNames(bucketPrefix: string): { dataKeys: string; secrets: string } {
  return { dataKeys: `${bucketPrefix}_data_keys`, secrets: `${bucketPrefix}_secrets` };
}

/**
 * KV keys; dots separate tokens so a job can list `credential.<tenantId>.*`. Job records live in the data key bucket
 * under `_job.`: no tenant id starts with `_` or holds a dot, so they never meet a tenant's key record.
 */
export const kvKeys = {
  tenantKeys: (tenantId: string) => tenantId,
  credential: (tenantId: string, connectionId: string) => `credential.${tenantId}.${connectionId}`,
  tenantSecret: (tenantId: string, ownerId: string, field: string) => `secret.${tenantId}.${ownerId}.${field}`,
  job: (name: JobRecordName) => `_job.${name}`,
};

/** A secret bucket key back to the record it names; null for anything else. */
export function parseSecretKey(key: string): SecretRecordRef | null {
  const parts = key.split('.');
  if (parts[0] === 'credential' && parts.length === 3) return { kind: 'credential', key, tenantId: parts[1], connectionId: parts[2] };
  if (parts[0] === 'secret' && parts.length === 4) return { kind: 'tenant_secret', key, tenantId: parts[1], ownerId: parts[2], field: parts[3] };
  return null;
}

const encoder = new TextEncoder();
const encode = (value: unknown): Uint8Array => encoder.encode(JSON.stringify(value));

function isWrongLastSequence(err: unknown): boolean {
  return (err as { api_error?: { err_code?: number } } | null)?.api_error?.err_code === WRONG_LAST_SEQUENCE;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isEncryptedField = (v: unknown): boolean => isObject(v) && v.format === CIPHERTEXT_FORMAT && Number.isInteger(v.dekVersion);

/**
 * The embedded, durable SecretStore: NATS JetStream KV (file storage), already required for the bus.
 * - `<prefix>_data_keys`, key `<tenantId>`: wrapped tenant data keys. History 1, so that replacing the record with
 *   an erasure tombstone leaves no older revision holding the wrapped key (crypto-shredding).
 * - `<prefix>_secrets`, keys `credential.<tenantId>.<connectionId>` and `secret.<tenantId>.<ownerId>.<field>`:
 *   ciphertext records as JSON. History 5: the previous versions stay recoverable, and unreadable once shredded.
 * Reads are not served by direct get (allow_direct off): on a cluster a follower could return a stale credential,
 * e.g. a refresh token the provider has already rotated away.
 */
export class JetStreamKvSecretStore implements SecretStore {
  private constructor(
    private readonly dataKeys: KV,
    private readonly secrets: KV,
  ) {}

  /** Create the buckets if absent, or bind to them. */
  static async open(nats: NatsConnection, options: JetStreamKvSecretStoreOptions): Promise<JetStreamKvSecretStore> {
    const names = vaultBucketNames(options.bucketPrefix);
    const js = nats.jetstream();
    const common = { replicas: options.replicas, allow_direct: false };
    const dataKeys = await js.views.kv(names.dataKeys, { ...common, history: 1, description: 'authpipe vault: wrapped tenant data keys' });
    const secrets = await js.views.kv(names.secrets, { ...common, history: 5, description: 'authpipe vault: encrypted secrets' });
    return new JetStreamKvSecretStore(dataKeys, secrets);
  }

  async readTenantKeys(tenantId: string): Promise<Revisioned<TenantKeys> | null> {
    return this.read(this.dataKeys, kvKeys.tenantKeys(tenantId), (v): v is TenantKeys =>
      isObject(v) &&
      v.format === TENANT_KEYS_FORMAT &&
      v.tenantId === tenantId &&
      ((v.status === 'active' && Array.isArray(v.keys)) || (v.status === 'erased' && typeof v.erasedAt === 'string')),
    );
  }

  async createTenantKeys(keys: TenantKeys): Promise<boolean> {
    try {
      await this.dataKeys.create(kvKeys.tenantKeys(keys.tenantId), encode(keys));
      return true;
    } catch (err) {
      if (isWrongLastSequence(err)) return false;
      throw err;
    }
  }

  async writeTenantKeys(keys: TenantKeys, expectedRevision: number): Promise<number> {
    return this.write(this.dataKeys, kvKeys.tenantKeys(keys.tenantId), keys, expectedRevision);
  }

  async listTenantIds(): Promise<string[]> {
    return (await listKeys(this.dataKeys)).filter((key) => TENANT_ID_PATTERN.test(key)).sort();
  }

  async listSecretRecords(tenantId?: string): Promise<SecretRecordRef[]> {
    // nats-server 2.9 takes one filter subject per consumer: one listing per record kind.
    const filters = tenantId === undefined ? ['>'] : [`credential.${tenantId}.*`, `secret.${tenantId}.*.*`];
    const keys = (await Promise.all(filters.map((f) => listKeys(this.secrets, f)))).flat();
    return keys
      .map(parseSecretKey)
      .filter((ref): ref is SecretRecordRef => ref !== null)
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** The job records (rewrap checkpoint and lock), kept beside the data keys. */
  jobState(): JobStateStore {
    return {
      read: (name) => this.read(this.dataKeys, kvKeys.job(name), (v): v is unknown => isObject(v)),
      write: (name, value, expectedRevision) => this.write(this.dataKeys, kvKeys.job(name), value, expectedRevision),
    };
  }

  async readCredential(tenantId: string, connectionId: string): Promise<Revisioned<CredentialRecord> | null> {
    return this.read(this.secrets, kvKeys.credential(tenantId, connectionId), (v): v is CredentialRecord =>
      isObject(v) &&
      v.format === SECRET_RECORD_FORMAT &&
      v.tenantId === tenantId &&
      v.connectionId === connectionId &&
      Number.isInteger(v.version) &&
      isObject(v.secrets) &&
      Object.values(v.secrets).every(isEncryptedField),
    );
  }

  async writeCredential(record: CredentialRecord, expectedRevision: number): Promise<number> {
    return this.write(this.secrets, kvKeys.credential(record.tenantId, record.connectionId), record, expectedRevision);
  }

  eraseCredential(tenantId: string, connectionId: string): Promise<boolean> {
    return this.purge(kvKeys.credential(tenantId, connectionId));
  }

  eraseTenantSecret(tenantId: string, ownerId: string, field: string): Promise<boolean> {
    return this.purge(kvKeys.tenantSecret(tenantId, ownerId, field));
  }

  /** Purge removes the value and every older revision from the bucket's history. */
  private async purge(key: string): Promise<boolean> {
    const entry = await this.secrets.get(key);
    if (!entry || entry.operation !== 'PUT') return false;
    await this.secrets.purge(key);
    return true;
  }

  async readTenantSecret(tenantId: string, ownerId: string, field: string): Promise<Revisioned<TenantSecretRecord> | null> {
    return this.read(this.secrets, kvKeys.tenantSecret(tenantId, ownerId, field), (v): v is TenantSecretRecord =>
      isObject(v) &&
      v.format === SECRET_RECORD_FORMAT &&
      v.tenantId === tenantId &&
      v.ownerId === ownerId &&
      v.field === field &&
      Number.isInteger(v.version) &&
      isEncryptedField(v.secret),
    );
  }

  async writeTenantSecret(record: TenantSecretRecord, expectedRevision: number): Promise<number> {
    return this.write(this.secrets, kvKeys.tenantSecret(record.tenantId, record.ownerId, record.field), record, expectedRevision);
  }

  private async read<T>(kv: KV, key: string, isValid: (value: unknown) => value is T): Promise<Revisioned<T> | null> {
    const entry = await kv.get(key);
    if (!entry || entry.operation !== 'PUT') return null;
    let value: unknown;
    try {
      value = entry.json();
    } catch {
      // No cause: V8's JSON errors quote the input, which may hold a secret.
      throw new CorruptRecordError(key, entry.revision);
    }
    if (!isValid(value)) throw new CorruptRecordError(key, entry.revision);
    return { record: value, revision: entry.revision };
  }

  /** Revision 0 maps to KV create (absent, deleted or purged); any other to KV update, compare-and-set on the revision. */
  private async write(kv: KV, key: string, record: unknown, expectedRevision: number): Promise<number> {
    try {
      return expectedRevision === 0 ? await kv.create(key, encode(record)) : await kv.update(key, encode(record), expectedRevision);
    } catch (err) {
      if (isWrongLastSequence(err)) throw new ConcurrencyError(`${key} is no longer at revision ${expectedRevision}`, { cause: err });
      throw err;
    }
  }
}

/** The keys of a bucket holding a value (deleted and purged ones left out), read through an ordered consumer. */
async function listKeys(kv: KV, filter = '>'): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of await kv.keys(filter)) keys.push(key);
  return keys;
}
