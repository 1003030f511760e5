/** A data key sealed by a master key (key-encryption key), with the master key version that can open it. */
export interface WrappedKey {
  kekVersion: string;
  /** Opaque to callers: the local ring stores nonce | ciphertext | tag, a KMS its own blob. */
  wrappedKey: Buffer;
}

/**
 * The master key ring behind envelope encryption. Only data keys pass through it, so a KMS (AWS KMS Encrypt with
 * an encryption context, GCP KMS with additional authenticated data, Vault transit) can implement it without
 * ever seeing a secret. Methods are async for that reason.
 */
export interface KeyEncryptionKeyProvider {
  /** The version new data keys are wrapped with. A background rewrap moves older wraps to it. */
  readonly activeVersion: string;
  /** Every version that can unwrap, active first. */
  readonly versions: readonly string[];
  /** Wrap under the active version, binding `associatedData` (tenant, data key version). */
  wrap(dataKey: Buffer, associatedData: Buffer): Promise<WrappedKey>;
  /**
   * @throws UnknownKeyVersionError when the ring does not hold `wrapped.kekVersion`
   * @throws DecryptFailedError when the wrapped key or associated data does not authenticate
   */
  unwrap(wrapped: WrappedKey, associatedData: Buffer): Promise<Buffer>;
}
