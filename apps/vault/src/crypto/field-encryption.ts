import { open, seal } from './aes-gcm';
import { DecryptFailedError } from './crypto.errors';
import { DataKey } from './tenant-data-keys';

/** Format of an encrypted field; bump it (and keep reading the old one) when the layout or associated data changes. */
export const CIPHERTEXT_FORMAT = 1;

/** One encrypted secret value as stored: everything needed to decrypt it except the key. */
export interface EncryptedField {
  format: number;
  /** The tenant data key version that sealed it. */
  dekVersion: number;
  /** base64, 96 bits */
  nonce: string;
  /** base64 */
  ciphertext: string;
  /** base64, 128 bits */
  tag: string;
}

/**
 * Where a ciphertext belongs. Authenticated as associated data, so a ciphertext copied to another tenant, owner
 * (connection, integration) or field does not decrypt.
 */
export interface FieldBinding {
  tenantId: string;
  /** A connection id (`con_...`) or another owner of tenant secrets (`integration-gmail`). */
  ownerId: string;
  /** `access_token`, `refresh_token`, `api_key`, `client_secret`, ... */
  field: string;
}

/** JSON array encoding: unambiguous whatever characters ids may contain later. */
function associatedData(binding: FieldBinding): Buffer {
  return Buffer.from(JSON.stringify(['authpipe-vault', 'field', CIPHERTEXT_FORMAT, binding.tenantId, binding.ownerId, binding.field]));
}

/** Encrypt one secret value under the tenant's data key, bound to its place. */
export function encryptField(dataKey: DataKey, plaintext: string, binding: FieldBinding): EncryptedField {
  const sealed = seal(dataKey.key, Buffer.from(plaintext, 'utf8'), associatedData(binding));
  return {
    format: CIPHERTEXT_FORMAT,
    dekVersion: dataKey.version,
    nonce: sealed.nonce.toString('base64'),
    ciphertext: sealed.ciphertext.toString('base64'),
    tag: sealed.tag.toString('base64'),
  };
}

/**
 * Decrypt one value. `binding` must come from the request (which record and field is being read), never from the
 * stored record, otherwise a moved ciphertext would carry its own binding along.
 * @throws DecryptFailedError naming the field, never its value
 */
export function decryptField(dataKey: DataKey, encrypted: EncryptedField, binding: FieldBinding): string {
  if (encrypted.dekVersion !== dataKey.version) {
    throw new Error(`data key v${dataKey.version} given for a field sealed with v${encrypted.dekVersion}`);
  }
  const plaintext =
    encrypted.format === CIPHERTEXT_FORMAT
      ? open(
          dataKey.key,
          { nonce: base64(encrypted.nonce), ciphertext: base64(encrypted.ciphertext), tag: base64(encrypted.tag) },
          associatedData(binding),
        )
      : null;
  if (!plaintext) throw new DecryptFailedError(binding.field);
  return plaintext.toString('utf8');
}

/**
 * Move one value to another data key version of its tenant (the rewrap after a data key rotation): decrypt under
 * `from`, encrypt under `to`, same binding, fresh nonce. The plaintext exists only inside this call.
 * @throws DecryptFailedError naming the field
 */
export function reencryptField(from: DataKey, to: DataKey, encrypted: EncryptedField, binding: FieldBinding): EncryptedField {
  return encryptField(to, decryptField(from, encrypted, binding), binding);
}

/** Strict decoding: Node skips invalid characters silently, which would hide tampering in the text form. */
function base64(text: unknown): Buffer {
  if (typeof text !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return Buffer.alloc(0);
  return Buffer.from(text, 'base64');
}
