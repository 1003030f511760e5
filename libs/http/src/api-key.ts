import { createHash, randomBytes } from 'node:crypto';

/**
 * Tenant API keys: `apk_<keyId>_<secret>`. The key id finds the record; only the SHA-256 of the whole key is
 * stored, so a leaked read model does not leak usable keys. 256 bits of randomness make a slow hash unnecessary.
 */
const API_KEY = /^apk_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

export interface ParsedApiKey {
  keyId: string;
  keyHash: string;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function parseApiKey(key: string): ParsedApiKey | null {
  const match = API_KEY.exec(key);
  return match ? { keyId: match[1], keyHash: hashApiKey(key) } : null;
}

export function generateApiKey(): { key: string; keyId: string; keyHash: string } {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const keyId = Array.from(randomBytes(12), (b) => alphabet[b % alphabet.length]).join('');
  const key = `apk_${keyId}_${randomBytes(32).toString('base64url')}`;
  return { key, keyId, keyHash: hashApiKey(key) };
}

/** The bearer token of an Authorization header, or null. */
export function bearerToken(header: string | undefined): string | null {
  const match = /^Bearer ([\x21-\x7E]+)$/.exec(header ?? '');
  return match ? match[1] : null;
}
