/**
 * What went wrong at an authorization callback, as the connect flow reports it (never the provider's free text,
 * which could echo input).
 */
export class CallbackError extends Error {
  readonly code = 'OAUTH_CALLBACK_ERROR';
  constructor(
    readonly reason: 'access_denied' | 'provider_error' | 'issuer_mismatch' | 'invalid_state',
    readonly providerError?: string,
    options?: { cause?: unknown },
  ) {
    super(`authorization callback failed: ${reason}${providerError ? ` (${providerError})` : ''}`, options);
    this.name = CallbackError.name;
  }
}

/**
 * A failed token endpoint call, classified as RFC 6749 s5.2 and PROVIDERS.md say:
 * - invalid_grant: terminal for this grant (revoked, expired, reused); never retried;
 * - invalid_client: the tenant's OAuth app is misconfigured, not the user's connection;
 * - transient: 5xx, 429 or network; retry with backoff, honouring `retryAfterSeconds`;
 * - unexpected: anything else (a malformed answer): not retried blindly.
 */
export class TokenEndpointError extends Error {
  readonly code = 'TOKEN_ENDPOINT_ERROR';
  constructor(
    readonly failure: 'invalid_grant' | 'invalid_client' | 'transient' | 'unexpected',
    readonly detail: { status?: number; oauthError?: string; retryAfterSeconds?: number },
    options?: { cause?: unknown },
  ) {
    super(`token endpoint failed: ${failure}${detail.oauthError ? ` (${detail.oauthError})` : ''}${detail.status ? `, HTTP ${detail.status}` : ''}`, options);
    this.name = TokenEndpointError.name;
  }

  get retryable(): boolean {
    return this.failure === 'transient';
  }
}
