import { createCipheriv, createDecipheriv, KeyObject, randomBytes } from 'node:crypto';

/** 96-bit nonces: the size GCM is specified for (NIST SP 800-38D §8.2.2); random per message. */
export const NONCE_BYTES = 12;
/** Full 128-bit tags only; a shorter tag would be accepted by Node unless the length is pinned. */
export const TAG_BYTES = 16;
export const KEY_BYTES = 32;

/** One AES-256-GCM message. */
export interface Sealed {
  nonce: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

/**
 * Encrypt with AES-256-GCM under a fresh random nonce. With one data key per tenant the number of messages per key
 * stays far below the 2^32 limit for random nonces (SP 800-38D §8.3).
 */
export function seal(key: KeyObject, plaintext: Buffer, associatedData: Buffer): Sealed {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(associatedData);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { nonce, ciphertext, tag: cipher.getAuthTag() };
}

/**
 * Decrypt and authenticate. Returns null when anything does not authenticate (ciphertext, nonce, tag, associated
 * data or key), so that callers raise their own error naming what failed.
 */
export function open(key: KeyObject, sealed: Sealed, associatedData: Buffer): Buffer | null {
  if (sealed.nonce.length !== NONCE_BYTES || sealed.tag.length !== TAG_BYTES) return null;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(associatedData);
    decipher.setAuthTag(sealed.tag);
    return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]);
  } catch {
    return null;
  }
}
