/*
 * Typed errors. Every message is built from the server's problem `code` and `detail` (which by contract carry no
 * secret) and scrubbed once more: no error ever contains the API key, a bearer token or a credential.
 */

/** The field-level problems of an INVALID_REQUEST answer. */
export interface AuthpipeFieldProblem {
  field: string;
  message: string;
}

export interface AuthpipeErrorDetails {
  /** The server's stable code (`NOT_CONNECTED`, `CONNECTION_REVOKED`...) or the SDK's own (`NETWORK_ERROR`, `TIMEOUT`). */
  code: string;
  /** HTTP status, when the server answered. */
  status?: number;
  /** The server's `X-Request-Id`, to quote when asking for support. */
  requestId?: string;
  /** Seconds the server asked to wait before retrying (`Retry-After`). */
  retryAfterSeconds?: number;
  errors?: AuthpipeFieldProblem[];
  cause?: unknown;
}

/** Base class: `code` is stable and machine-readable; `retryable` says whether trying again later can help. */
export class AuthpipeError extends Error {
  readonly code: string;
  declare readonly status?: number;
  declare readonly requestId?: string;
  readonly retryable: boolean = false;

  constructor(message: string, details: AuthpipeErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.code = details.code;
    if (details.status !== undefined) this.status = details.status;
    if (details.requestId !== undefined) this.requestId = details.requestId;
  }
}

/** The user has not connected this provider (or disconnected it): send them through a connect session. */
export class AuthpipeNotConnectedError extends AuthpipeError {}

/**
 * The connection was revoked (`CONNECTION_REVOKED`: at the provider, found by a refresh or a probe) or erased
 * (`CONNECTION_ERASED`): the user must connect again.
 */
export class AuthpipeRevokedError extends AuthpipeError {}

/**
 * The API key is missing, wrong or revoked (`UNAUTHORIZED`), not allowed (`FORBIDDEN`), or belongs to another
 * tenant than the one asked for (`TENANT_MISMATCH`, detected by the SDK).
 */
export class AuthpipeUnauthorizedError extends AuthpipeError {}

/** Authpipe could not answer now (`UNAVAILABLE`, any 5xx, `NETWORK_ERROR`, `TIMEOUT`): retry later. */
export class AuthpipeUnavailableError extends AuthpipeError {
  override readonly retryable = true;
  declare readonly retryAfterSeconds?: number;

  constructor(message: string, details: AuthpipeErrorDetails) {
    super(message, details);
    if (details.retryAfterSeconds !== undefined) this.retryAfterSeconds = details.retryAfterSeconds;
  }
}

/** Any other refusal: `INVALID_REQUEST` (see `errors`), `UNKNOWN_PROVIDER`, `SCOPE_NOT_ALLOWED`, `INTEGRATION_NOT_FOUND`... */
export class AuthpipeRequestError extends AuthpipeError {
  declare readonly errors?: AuthpipeFieldProblem[];

  constructor(message: string, details: AuthpipeErrorDetails) {
    super(message, details);
    if (details.errors?.length) this.errors = details.errors;
  }
}

const REVOKED_CODES = new Set(['CONNECTION_REVOKED', 'CONNECTION_ERASED']);
const UNAUTHORIZED_CODES = new Set(['UNAUTHORIZED', 'FORBIDDEN']);

/** The error class for a problem+json answer. */
export function errorForProblem(message: string, details: AuthpipeErrorDetails & { status: number }): AuthpipeError {
  const { code, status } = details;
  if (code === 'NOT_CONNECTED') return new AuthpipeNotConnectedError(message, details);
  if (REVOKED_CODES.has(code)) return new AuthpipeRevokedError(message, details);
  if (UNAUTHORIZED_CODES.has(code) || status === 401 || status === 403) return new AuthpipeUnauthorizedError(message, details);
  if (code === 'UNAVAILABLE' || status >= 500 || status === 429) return new AuthpipeUnavailableError(message, details);
  return new AuthpipeRequestError(message, details);
}

const API_KEY = /apk_[A-Za-z0-9]{6,}_[A-Za-z0-9_-]{10,}/g;
const BEARER = /\b(Bearer|Basic)\s+[\x21-\x7E]+/gi;

/** Removes the API key and anything shaped like a credential from a text that will end up in an error. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret.length >= 8) out = out.split(secret).join('[redacted]');
  return out.replace(API_KEY, '[redacted]').replace(BEARER, '$1 [redacted]').slice(0, 500);
}

/** A network error's cause reduced to its name, code and scrubbed message: undici causes can be large objects. */
export function safeCause(err: unknown, secrets: readonly string[]): Error {
  const source = err instanceof Error ? ((err as { cause?: unknown }).cause ?? err) : err;
  const e = source instanceof Error ? source : new Error(String(source));
  const copy = new Error(scrub(e.message, secrets));
  copy.name = e.name;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string') (copy as Error & { code?: string }).code = code;
  copy.stack = `${copy.name}: ${copy.message}`;
  return copy;
}
