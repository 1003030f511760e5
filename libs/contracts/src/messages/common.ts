import { IsOptional, Matches } from 'class-validator';

/** Every request between apps carries the correlation id of the work that caused it. */
export abstract class RpcRequest {
  @IsOptional() @Matches(/^[A-Za-z0-9._:-]{1,100}$/) correlationId?: string;
}

/**
 * Stable error codes carried by NATS replies (`{ code, message }`), never a stack trace or a secret.
 * Retryable ones say the request may succeed later unchanged.
 */
export const RpcErrorCodes = {
  InvalidRequest: 'INVALID_REQUEST',
  NotFound: 'NOT_FOUND',
  Conflict: 'CONFLICT',
  Unauthorized: 'UNAUTHORIZED',
  Unavailable: 'UNAVAILABLE',
  Timeout: 'TIMEOUT',
  Internal: 'INTERNAL',
  DecryptFailed: 'DECRYPT_FAILED',
  UnknownKeyVersion: 'UNKNOWN_KEY_VERSION',
  TenantErased: 'TENANT_ERASED',
  Revoked: 'REVOKED',
  /** The provider refused or could not be used (invalid_client, another OAuth error): retrying unchanged will not help. */
  ProviderError: 'PROVIDER_ERROR',
  /** The provider did not answer within PROVIDER_TIMEOUT_MS. */
  ProviderTimeout: 'PROVIDER_TIMEOUT',
  /** The provider answered 5xx or 429, or could not be reached. */
  ProviderUnavailable: 'PROVIDER_UNAVAILABLE',
  /** The provider's answer was not a valid protocol response (HTML, truncated, wrong shape, empty, too large). */
  InvalidProviderResponse: 'INVALID_PROVIDER_RESPONSE',
} as const;
export type RpcErrorCode = (typeof RpcErrorCodes)[keyof typeof RpcErrorCodes];

export const RETRYABLE_RPC_ERRORS: ReadonlySet<string> = new Set([
  RpcErrorCodes.Unavailable,
  RpcErrorCodes.Timeout,
  RpcErrorCodes.ProviderTimeout,
  RpcErrorCodes.ProviderUnavailable,
]);

export class HealthRequest extends RpcRequest {}
export interface HealthReply {
  app: string;
  status: 'ok';
  uptimeSeconds: number;
}
