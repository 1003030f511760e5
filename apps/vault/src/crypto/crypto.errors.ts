/*
 * The three ways reading a secret can fail for cryptographic reasons. Messages name what could not be read
 * (field, key version, tenant) and never carry key material or plaintext; `cause` keeps the underlying error.
 */

/**
 * The ciphertext, its nonce or tag, or its associated data does not authenticate: the record was altered,
 * moved to another tenant, owner or field, or sealed under another key. AES-GCM gives no finer diagnosis.
 */
export class DecryptFailedError extends Error {
  static readonly code = 'DECRYPT_FAILED';
  readonly code = DecryptFailedError.code;

  /** @param what names what failed, e.g. `access_token` or `data key v1`; never a value. */
  constructor(
    readonly what: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot decrypt ${what}: it was altered, moved to another record or field, or sealed under another key`, options);
    this.name = DecryptFailedError.name;
  }
}

/** A record names a master key or data key version that this vault does not hold (retired, or a misconfigured ring). */
export class UnknownKeyVersionError extends Error {
  static readonly code = 'UNKNOWN_KEY_VERSION';
  readonly code = UnknownKeyVersionError.code;

  constructor(
    readonly keyKind: 'master key' | 'data key',
    readonly version: string,
    known: readonly string[],
  ) {
    super(`unknown ${keyKind} version ${version} (known: ${known.length ? known.join(', ') : 'none'})`);
    this.name = UnknownKeyVersionError.name;
  }
}

/**
 * The tenant's data keys were destroyed (crypto-shredding): everything ever encrypted for it is unreadable by design.
 * `erasedAt` is unknown when the data key record is gone altogether while ciphertexts remain.
 */
export class TenantErasedError extends Error {
  static readonly code = 'TENANT_ERASED';
  readonly code = TenantErasedError.code;

  constructor(
    readonly tenantId: string,
    readonly erasedAt?: string,
  ) {
    super(`tenant ${tenantId} was erased${erasedAt ? ` at ${erasedAt}` : ''}: its data key is destroyed and its secrets are unreadable`);
    this.name = TenantErasedError.name;
  }
}
