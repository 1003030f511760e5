/** A request passed the contract but not vault's rules (an OAuth credential without an access token, ...). */
export class InvalidCredentialError extends Error {
  static readonly code = 'INVALID_CREDENTIAL';
  readonly code = InvalidCredentialError.code;
  constructor(message: string) {
    super(message);
    this.name = InvalidCredentialError.name;
  }
}

/** A key operation names a tenant that has no data key yet (nothing was ever stored for it). */
export class NoDataKeyError extends Error {
  static readonly code = 'NO_DATA_KEY';
  readonly code = NoDataKeyError.code;
  constructor(readonly tenantId: string) {
    super(`tenant ${tenantId} has no data key yet (one is created on its first store)`);
    this.name = NoDataKeyError.name;
  }
}
