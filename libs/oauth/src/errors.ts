import type { ProviderFailureCode } from '@authpipe/contracts';

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

/** What a caller does about a failure: RFC 6749 s5.2 and PROVIDERS.md. */
export type ProviderFailureClass = 'invalid_grant' | 'invalid_client' | 'transient' | 'unexpected';

const CLASS_OF: Record<ProviderFailureCode, ProviderFailureClass> = {
  provider_timeout: 'transient',
  provider_unavailable: 'transient',
  provider_rate_limited: 'transient',
  invalid_grant: 'invalid_grant',
  invalid_client: 'invalid_client',
  invalid_provider_response: 'unexpected',
  provider_rejected: 'unexpected',
  provider_request_failed: 'unexpected',
};

export interface ProviderFailureDetail {
  /** The HTTP status, when the provider answered with one. */
  status?: number;
  /** The OAuth `error` of a well-formed error response (RFC 6749 s5.2), checked to be a plain code. */
  oauthError?: string;
  /** The provider's Retry-After, in seconds. */
  retryAfterSeconds?: number;
}

/**
 * A failed call to a provider (token, revocation, probe or verify endpoint), classified by a stable `code`
 * (PROVIDER_FAILURE_CODES in @authpipe/contracts). `failure` is what to do about it:
 * - invalid_grant: terminal for this grant (revoked, expired, reused); never retried;
 * - invalid_client: the tenant's OAuth app is misconfigured, not the user's connection;
 * - transient (provider_timeout, provider_unavailable, provider_rate_limited): retry with backoff, honouring
 *   `retryAfterSeconds`;
 * - unexpected (invalid_provider_response, provider_rejected, provider_request_failed): retrying at once would
 *   not fix it.
 * The message names the code and status only: the provider's body can hold tokens and never appears, nor is it kept
 * as `cause` (only network errors, which hold no body, are).
 */
export class ProviderCallError extends Error {
  constructor(
    readonly code: ProviderFailureCode,
    readonly detail: ProviderFailureDetail = {},
    options?: { cause?: unknown },
  ) {
    const oauthError = detail.oauthError && detail.oauthError !== code ? ` (${detail.oauthError})` : '';
    super(`provider call failed: ${code}${oauthError}${detail.status ? `, HTTP ${detail.status}` : ''}`, options);
    this.name = ProviderCallError.name;
  }

  get failure(): ProviderFailureClass {
    return CLASS_OF[this.code];
  }

  get retryable(): boolean {
    return this.failure === 'transient';
  }
}
