/** A request passed the contract but not vault's rules (an OAuth credential without an access token, ...). */
export class InvalidCredentialError extends Error {
  static readonly code = 'INVALID_CREDENTIAL';
  readonly code = InvalidCredentialError.code;
  constructor(message: string) {
    super(message);
    this.name = InvalidCredentialError.name;
  }
}
