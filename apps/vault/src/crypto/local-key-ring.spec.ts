import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { ConfigError } from '@authpipe/config';
import { DecryptFailedError, UnknownKeyVersionError } from './crypto.errors';
import { LocalKeyRing } from './local-key-ring';

const key = (bytes = 32) => randomBytes(bytes).toString('base64');
const AAD = Buffer.from('tenant org_acme, data key v1');

/** The ConfigError a bad ring raises. */
function configError(settings: { AUTHPIPE_MASTER_KEYS?: string; AUTHPIPE_MASTER_KEY_FILE?: string }): ConfigError {
  try {
    LocalKeyRing.fromSettings(settings);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('LocalKeyRing', () => {
  it('makes the first version active and keeps all versions', () => {
    const ring = LocalKeyRing.fromSettings({ AUTHPIPE_MASTER_KEYS: `v2:${key()},v1:${key()}` });
    expect(ring.activeVersion).toBe('v2');
    expect(ring.versions).toEqual(['v2', 'v1']);
  });

  it('wraps under the active version and unwraps with the same associated data only', async () => {
    const ring = LocalKeyRing.parse(`v1:${key()}`, 'AUTHPIPE_MASTER_KEYS');
    const dataKey = randomBytes(32);
    const wrapped = await ring.wrap(dataKey, AAD);
    expect(wrapped.kekVersion).toBe('v1');
    expect(wrapped.wrappedKey.includes(dataKey)).toBe(false);
    expect(await ring.unwrap(wrapped, AAD)).toEqual(dataKey);
    await expect(ring.unwrap(wrapped, Buffer.from('tenant org_other, data key v1'))).rejects.toBeInstanceOf(DecryptFailedError);
  });

  it('rejects one flipped bit anywhere in the wrapped key (nonce, ciphertext, tag) and a truncated one', async () => {
    const ring = LocalKeyRing.parse(`v1:${key()}`, 'AUTHPIPE_MASTER_KEYS');
    const wrapped = await ring.wrap(randomBytes(32), AAD);
    for (const bit of [0, 12 * 8 + 3, wrapped.wrappedKey.length * 8 - 1]) {
      const tampered = Buffer.from(wrapped.wrappedKey);
      tampered[bit >> 3] ^= 1 << (bit & 7);
      await expect(ring.unwrap({ ...wrapped, wrappedKey: tampered }, AAD)).rejects.toBeInstanceOf(DecryptFailedError);
    }
    await expect(ring.unwrap({ ...wrapped, wrappedKey: wrapped.wrappedKey.subarray(0, 20) }, AAD)).rejects.toBeInstanceOf(DecryptFailedError);
  });

  it('still unwraps keys wrapped by an older version after a new one is made active', async () => {
    const v1 = key();
    const before = LocalKeyRing.parse(`v1:${v1}`, 'AUTHPIPE_MASTER_KEYS');
    const dataKey = randomBytes(32);
    const wrappedByV1 = await before.wrap(dataKey, AAD);
    const after = LocalKeyRing.parse(`v2:${key()},v1:${v1}`, 'AUTHPIPE_MASTER_KEYS');
    expect(await after.unwrap(wrappedByV1, AAD)).toEqual(dataKey);
    expect((await after.wrap(dataKey, AAD)).kekVersion).toBe('v2');
  });

  it('reports an unknown master key version as UnknownKeyVersionError', async () => {
    const v1 = LocalKeyRing.parse(`v1:${key()}`, 'AUTHPIPE_MASTER_KEYS');
    const wrapped = await v1.wrap(randomBytes(32), AAD);
    const other = LocalKeyRing.parse(`v2:${key()}`, 'AUTHPIPE_MASTER_KEYS');
    const error = await other.unwrap(wrapped, AAD).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(UnknownKeyVersionError);
    expect((error as Error).message).toBe('unknown master key version v1 (known: v2)');
  });

  it('does not show key material when inspected or serialised', () => {
    const material = key();
    const ring = LocalKeyRing.parse(`v1:${material}`, 'AUTHPIPE_MASTER_KEYS');
    const raw = Buffer.from(material, 'base64');
    const shown = `${inspect(ring, { depth: 10, showHidden: true })} ${JSON.stringify(ring)}`;
    for (const form of [material, raw.toString('hex')]) expect(shown).not.toContain(form);
  });

  describe('rejects a bad ring naming the variable, never the key material', () => {
    it.each([
      ['a key of the wrong length', () => `v2:${key(16)}`, /AUTHPIPE_MASTER_KEYS: entry 1 \(v2\) must be 32 bytes, found 16/],
      ['a duplicate version', () => `v1:${key()},v1:${key()}`, /AUTHPIPE_MASTER_KEYS: version v1 appears more than once/],
      ['the same key under two versions', () => { const k = key(); return `v2:${k},v1:${k}`; }, /v2 and v1 hold the same key/],
      ['an empty ring', () => ' , ', /AUTHPIPE_MASTER_KEYS: holds no key/],
      ['an entry without a version', () => key(), /AUTHPIPE_MASTER_KEYS: entry 1 must look like v<N>:<base64/],
      ['a malformed version', () => `2:${key()}`, /AUTHPIPE_MASTER_KEYS: entry 1 must look like/],
      ['an entry that is not base64', () => `v1:${key().slice(0, 20)}!!${key().slice(0, 22)}`, /AUTHPIPE_MASTER_KEYS: entry 1 \(v1\) is not base64/],
    ])('%s', (_case, ring, expected) => {
      const value = ring();
      const error = configError({ AUTHPIPE_MASTER_KEYS: value });
      expect(error.message).toMatch(expected);
      for (const part of value.split(/[,:]/).filter((p) => p.length > 8)) expect(error.message).not.toContain(part);
    });

    it('reports every problem at once', () => {
      const error = configError({ AUTHPIPE_MASTER_KEYS: `v2:${key(31)},v2:${key()},v1:abc` });
      expect(error.problems).toEqual([
        'AUTHPIPE_MASTER_KEYS: entry 1 (v2) must be 32 bytes, found 31',
        'AUTHPIPE_MASTER_KEYS: version v2 appears more than once',
        'AUTHPIPE_MASTER_KEYS: entry 3 (v1) must be 32 bytes, found 2',
      ]);
    });

    it('when neither variable is set', () => {
      expect(configError({}).message).toMatch(/AUTHPIPE_MASTER_KEYS or AUTHPIPE_MASTER_KEY_FILE must be set/);
    });
  });

  describe('AUTHPIPE_MASTER_KEY_FILE', () => {
    let dir: string;
    beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'vault-keys-'))));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('reads the same format, one entry per line', () => {
      const file = join(dir, 'ring');
      writeFileSync(file, `v2:${key()}\nv1:${key()}\n`, { mode: 0o600 });
      expect(LocalKeyRing.fromSettings({ AUTHPIPE_MASTER_KEY_FILE: file }).versions).toEqual(['v2', 'v1']);
    });

    it('names the file variable when the content is wrong', () => {
      const file = join(dir, 'short');
      const material = key(24);
      writeFileSync(file, `v1:${material}`);
      const error = configError({ AUTHPIPE_MASTER_KEY_FILE: file });
      expect(error.message).toMatch(/AUTHPIPE_MASTER_KEY_FILE: entry 1 \(v1\) must be 32 bytes, found 24/);
      expect(error.message).not.toContain(material);
    });

    it('names the file variable when the file cannot be read', () => {
      expect(configError({ AUTHPIPE_MASTER_KEY_FILE: join(dir, 'missing') }).message).toMatch(/AUTHPIPE_MASTER_KEY_FILE: cannot read .*missing \(ENOENT\)/);
    });
  });
});
