import { createHash, createSecretKey, KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '@authpipe/config';
import { KEY_BYTES, NONCE_BYTES, open, seal, TAG_BYTES } from './aes-gcm';
import { DecryptFailedError, UnknownKeyVersionError } from './crypto.errors';
import { KeyEncryptionKeyProvider, WrappedKey } from './key-encryption-key.provider';

const VERSION = /^v[1-9][0-9]{0,8}$/;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;
const FORMAT = 'v<N>:<base64 of 32 bytes>[,v<N>:<base64>...], active first';

/** The settings the local ring is read from (a subset of VaultConfig). */
export interface MasterKeySettings {
  AUTHPIPE_MASTER_KEYS?: string;
  AUTHPIPE_MASTER_KEY_FILE?: string;
}

/**
 * Master keys held in process memory, read from `AUTHPIPE_MASTER_KEYS` or `AUTHPIPE_MASTER_KEY_FILE`
 * (`v2:<base64>,v1:<base64>`). The first version wraps new data keys; every listed version still unwraps, so a
 * master key is rotated by prepending a new one and dropping the old one after the rewrap (docs in apps/vault/README.md).
 * Keys are KeyObjects, which neither inspect nor serialise their bytes.
 */
export class LocalKeyRing implements KeyEncryptionKeyProvider {
  readonly activeVersion: string;
  readonly versions: readonly string[];

  private constructor(private readonly keys: ReadonlyMap<string, KeyObject>) {
    this.versions = [...keys.keys()];
    this.activeVersion = this.versions[0];
  }

  /** @throws ConfigError naming the variable (never echoing key material) when the ring is missing or malformed. */
  static fromSettings(settings: MasterKeySettings): LocalKeyRing {
    if (settings.AUTHPIPE_MASTER_KEYS !== undefined) return LocalKeyRing.parse(settings.AUTHPIPE_MASTER_KEYS, 'AUTHPIPE_MASTER_KEYS');
    const path = settings.AUTHPIPE_MASTER_KEY_FILE;
    if (path === undefined) throw new ConfigError([`AUTHPIPE_MASTER_KEYS or AUTHPIPE_MASTER_KEY_FILE must be set (${FORMAT})`]);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError([`AUTHPIPE_MASTER_KEY_FILE: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`]);
    }
    return LocalKeyRing.parse(text, 'AUTHPIPE_MASTER_KEY_FILE');
  }

  /**
   * Parse `v2:<base64>,v1:<base64>` (commas or newlines between entries). Every problem is reported at once,
   * by entry position and version only.
   */
  static parse(text: string, variable: string): LocalKeyRing {
    const entries = text.split(/[,\s]+/).filter(Boolean);
    const problems: string[] = [];
    const keys = new Map<string, KeyObject>();
    const versions = new Set<string>();
    const versionByFingerprint = new Map<string, string>();
    if (!entries.length) problems.push(`${variable}: holds no key (${FORMAT})`);
    entries.forEach((entry, index) => {
      const position = `entry ${index + 1}`;
      const colon = entry.indexOf(':');
      const version = colon > 0 ? entry.slice(0, colon) : '';
      const encoded = colon > 0 ? entry.slice(colon + 1) : '';
      if (!VERSION.test(version) || !encoded) return problems.push(`${variable}: ${position} must look like ${FORMAT}`);
      if (versions.has(version)) return problems.push(`${variable}: version ${version} appears more than once`);
      versions.add(version);
      if (!BASE64.test(encoded)) return problems.push(`${variable}: ${position} (${version}) is not base64`);
      const bytes = Buffer.from(encoded, 'base64');
      try {
        if (bytes.length !== KEY_BYTES) {
          return problems.push(`${variable}: ${position} (${version}) must be ${KEY_BYTES} bytes, found ${bytes.length}`);
        }
        const fingerprint = createHash('sha256').update(bytes).digest('hex');
        const twin = versionByFingerprint.get(fingerprint);
        if (twin) return problems.push(`${variable}: ${twin} and ${version} hold the same key`);
        versionByFingerprint.set(fingerprint, version);
        keys.set(version, createSecretKey(bytes));
      } finally {
        bytes.fill(0);
      }
    });
    if (problems.length) throw new ConfigError(problems);
    return new LocalKeyRing(keys);
  }

  async wrap(dataKey: Buffer, associatedData: Buffer): Promise<WrappedKey> {
    const sealed = seal(this.keys.get(this.activeVersion)!, dataKey, associatedData);
    return { kekVersion: this.activeVersion, wrappedKey: Buffer.concat([sealed.nonce, sealed.ciphertext, sealed.tag]) };
  }

  async unwrap(wrapped: WrappedKey, associatedData: Buffer): Promise<Buffer> {
    const key = this.keys.get(wrapped.kekVersion);
    if (!key) throw new UnknownKeyVersionError('master key', wrapped.kekVersion, this.versions);
    const blob = wrapped.wrappedKey;
    const dataKey =
      blob.length > NONCE_BYTES + TAG_BYTES
        ? open(
            key,
            { nonce: blob.subarray(0, NONCE_BYTES), ciphertext: blob.subarray(NONCE_BYTES, -TAG_BYTES), tag: blob.subarray(-TAG_BYTES) },
            associatedData,
          )
        : null;
    if (!dataKey) throw new DecryptFailedError(`data key wrapped by master key ${wrapped.kekVersion}`);
    return dataKey;
  }
}
