import { createSecretKey, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { DecryptFailedError } from './crypto.errors';
import { decryptField, EncryptedField, encryptField, FieldBinding } from './field-encryption';
import { DataKey } from './tenant-data-keys';

const dataKey = (version = 1): DataKey => ({ tenantId: 'org_acme', version, key: createSecretKey(randomBytes(32)) });
const access = (ownerId = 'con_AAAAAAAAAAAAAAAAAAAAAA'): FieldBinding => ({ tenantId: 'org_acme', ownerId, field: 'access_token' });
const TOKEN = 'fake-access-token-for-tests-plaintext-Ω'; // not a real token; non-ASCII on purpose

/** Flip one bit of a base64 property. */
function flipBit(encrypted: EncryptedField, property: 'nonce' | 'ciphertext' | 'tag', bit = 0): EncryptedField {
  const bytes = Buffer.from(encrypted[property], 'base64');
  bytes[bit >> 3] ^= 1 << (bit & 7);
  return { ...encrypted, [property]: bytes.toString('base64') };
}

describe('field encryption (AES-256-GCM under the tenant data key)', () => {
  it('round-trips a value and records format, data key version, 96-bit nonce and 128-bit tag', () => {
    const key = dataKey(3);
    const encrypted = encryptField(key, TOKEN, access());
    expect(encrypted).toMatchObject({ format: 1, dekVersion: 3 });
    expect(Buffer.from(encrypted.nonce, 'base64')).toHaveLength(12);
    expect(Buffer.from(encrypted.tag, 'base64')).toHaveLength(16);
    expect(JSON.stringify(encrypted)).not.toContain(TOKEN);
    expect(decryptField(key, encrypted, access())).toBe(TOKEN);
  });

  it('round-trips an empty value', () => {
    const key = dataKey();
    expect(decryptField(key, encryptField(key, '', access()), access())).toBe('');
  });

  it('uses a fresh nonce for every encryption', () => {
    const key = dataKey();
    const a = encryptField(key, TOKEN, access());
    const b = encryptField(key, TOKEN, access());
    expect(a.nonce).not.toBe(b.nonce);
    expect(a.ciphertext).not.toBe(b.ciphertext);
  });

  it.each(['ciphertext', 'nonce', 'tag'] as const)('rejects one flipped bit of the %s', (property) => {
    const key = dataKey();
    const encrypted = encryptField(key, TOKEN, access());
    for (const bit of [0, 7, 8 * Buffer.from(encrypted[property], 'base64').length - 1]) {
      expect(() => decryptField(key, flipBit(encrypted, property, bit), access())).toThrow(DecryptFailedError);
    }
  });

  it('rejects a truncated tag, a non-base64 value and an unknown format', () => {
    const key = dataKey();
    const encrypted = encryptField(key, TOKEN, access());
    const shortTag = { ...encrypted, tag: Buffer.from(encrypted.tag, 'base64').subarray(0, 12).toString('base64') };
    expect(() => decryptField(key, shortTag, access())).toThrow(DecryptFailedError);
    expect(() => decryptField(key, { ...encrypted, ciphertext: `!${encrypted.ciphertext}` }, access())).toThrow(DecryptFailedError);
    expect(() => decryptField(key, { ...encrypted, format: 2 }, access())).toThrow(DecryptFailedError);
  });

  it("fails both ways when two connections' ciphertexts are swapped", () => {
    const key = dataKey();
    const one = access('con_AAAAAAAAAAAAAAAAAAAAAA');
    const two = access('con_BBBBBBBBBBBBBBBBBBBBBB');
    const forOne = encryptField(key, 'token-one', one);
    const forTwo = encryptField(key, 'token-two', two);
    expect(() => decryptField(key, forTwo, one)).toThrow(DecryptFailedError);
    expect(() => decryptField(key, forOne, two)).toThrow(DecryptFailedError);
  });

  it('fails when a value is moved to another field of the same connection', () => {
    const key = dataKey();
    const encrypted = encryptField(key, TOKEN, access());
    expect(() => decryptField(key, encrypted, { ...access(), field: 'refresh_token' })).toThrow(DecryptFailedError);
  });

  it("fails under another tenant's binding or data key", () => {
    const key = dataKey();
    const encrypted = encryptField(key, TOKEN, access());
    expect(() => decryptField(key, encrypted, { ...access(), tenantId: 'org_other' })).toThrow(DecryptFailedError);
    expect(() => decryptField(dataKey(), encrypted, access())).toThrow(DecryptFailedError);
  });

  it('names the field in the error, never the value or the key', () => {
    const raw = randomBytes(32);
    const key: DataKey = { tenantId: 'org_acme', version: 1, key: createSecretKey(raw) };
    const encrypted = encryptField(key, TOKEN, access());
    let error: unknown;
    try {
      decryptField(key, flipBit(encrypted, 'tag'), access());
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(DecryptFailedError);
    expect((error as DecryptFailedError).code).toBe('DECRYPT_FAILED');
    const everything = `${inspect(error, { depth: 10 })} ${JSON.stringify(error)} ${inspect(key, { depth: 10 })} ${JSON.stringify(key)}`;
    expect(everything).toContain('access_token');
    for (const secret of [TOKEN, raw.toString('base64'), raw.toString('hex')]) expect(everything).not.toContain(secret);
  });
});
