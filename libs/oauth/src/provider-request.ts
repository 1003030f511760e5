import * as oauth from 'oauth4webapi';
import { ProviderCallError } from './errors';

/**
 * The largest provider answer read. Token, revocation, probe and verify answers are a few kilobytes; anything much
 * larger is not one of them, and reading it whole would let a broken provider exhaust memory.
 */
export const MAX_PROVIDER_RESPONSE_BYTES = 256 * 1024;

/** A provider answer exceeded MAX_PROVIDER_RESPONSE_BYTES (by its Content-Length or while it was read). */
export class ProviderResponseTooLargeError extends Error {
  constructor(maxBytes: number) {
    super(`the provider's answer is larger than ${maxBytes} bytes`);
    this.name = ProviderResponseTooLargeError.name;
  }
}

/** Statuses whose Response cannot carry a body (the Fetch standard's "null body status"). */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/**
 * One call to a provider, bounded in time and in size: the timeout covers the whole exchange, the body included
 * (a provider that sends headers and then stalls is still cut off), and the body is read only up to `maxBytes`.
 * It remembers what happened (answered with which status, timed out, too large) so that any error thrown while
 * the answer is processed can be classified by `classifyFailure`.
 */
export class ProviderRequest {
  readonly signal: AbortSignal;
  /** The answer's status, once the provider answered. */
  status?: number;
  retryAfterSeconds?: number;
  tooLarge = false;

  constructor(
    readonly timeoutMs: number,
    private readonly maxBytes = MAX_PROVIDER_RESPONSE_BYTES,
  ) {
    this.signal = AbortSignal.timeout(timeoutMs);
  }

  get timedOut(): boolean {
    return this.signal.aborted && (this.signal.reason as Error | undefined)?.name === 'TimeoutError';
  }

  /** fetch with this request's bounds (also handed to oauth4webapi as its customFetch). */
  readonly fetch = async (input: string | URL, init: RequestInit = {}): Promise<Response> => {
    const response = await fetch(input, { ...init, signal: this.signal });
    this.status = response.status;
    this.retryAfterSeconds = parseRetryAfter(response.headers.get('retry-after'));
    const declared = Number(response.headers.get('content-length') ?? NaN);
    if (declared > this.maxBytes) {
      this.tooLarge = true;
      await response.body?.cancel().catch(() => undefined);
      throw new ProviderResponseTooLargeError(this.maxBytes);
    }
    if (!response.body || NULL_BODY_STATUSES.has(response.status)) return response;
    const limited = response.body.pipeThrough(this.byteLimit());
    return new Response(limited, { status: response.status, statusText: response.statusText, headers: response.headers });
  };

  /** Read the body as JSON within the bounds; undefined when it is not JSON (or empty, or too large). */
  async json(response: Response): Promise<unknown> {
    try {
      const text = await response.text();
      return text.trim() ? JSON.parse(text) : undefined;
    } catch {
      return undefined;
    }
  }

  private byteLimit(): TransformStream<Uint8Array, Uint8Array> {
    let seen = 0;
    return new TransformStream({
      transform: (chunk, controller) => {
        seen += chunk.byteLength;
        if (seen > this.maxBytes) {
          this.tooLarge = true;
          controller.error(new ProviderResponseTooLargeError(this.maxBytes));
          return;
        }
        controller.enqueue(chunk);
      },
    });
  }
}

export function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

const OAUTH_ERROR_CODE = /^[\x20-\x21\x23-\x5B\x5D-\x7E]{1,100}$/;

function causes(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = err; e !== undefined && e !== null && chain.length < 8; e = (e as { cause?: unknown }).cause) chain.push(e);
  return chain;
}

/** undici's own failures: "fetch failed" before an answer, "terminated" when the connection dropped mid-body. */
const isNetworkError = (err: unknown): boolean =>
  causes(err).some((e) => (e as Error | undefined)?.name === 'TypeError' && ['fetch failed', 'terminated'].includes((e as Error).message));

/**
 * Turn whatever a provider call threw into a classified ProviderCallError. Only a well-formed OAuth error response
 * (a 4xx with a JSON body naming `error`) can say invalid_grant or invalid_client; an answer we cannot read is
 * invalid_provider_response whatever it seems to contain, and a 5xx is provider_unavailable whatever its body.
 */
export function classifyFailure(err: unknown, request: ProviderRequest): ProviderCallError {
  if (err instanceof ProviderCallError) return err;
  const status = request.status;
  const retryAfterSeconds = request.retryAfterSeconds;
  if (request.timedOut) return new ProviderCallError('provider_timeout', { ...(status ? { status } : {}) }, { cause: request.signal.reason });
  if (request.tooLarge) return new ProviderCallError('invalid_provider_response', { status });
  if (err instanceof oauth.ResponseBodyError) {
    const oauthError = OAUTH_ERROR_CODE.test(err.error) ? err.error : undefined;
    const detail = { status: err.status, oauthError };
    if (err.error === 'invalid_grant') return new ProviderCallError('invalid_grant', detail);
    if (err.error === 'invalid_client' || err.error === 'unauthorized_client') return new ProviderCallError('invalid_client', detail);
    if (err.status === 429 || err.error === 'slow_down') return new ProviderCallError('provider_rate_limited', { ...detail, retryAfterSeconds });
    if (err.error === 'temporarily_unavailable' || err.error === 'server_error') return new ProviderCallError('provider_unavailable', { ...detail, retryAfterSeconds });
    return new ProviderCallError('provider_rejected', detail);
  }
  if (status === undefined) {
    // No answer: the connection failed (transient), or the request was never sent (refused URL, a bug: ours).
    if (isNetworkError(err)) return new ProviderCallError('provider_unavailable', {}, { cause: err });
    return new ProviderCallError('provider_request_failed');
  }
  if (status >= 500) return new ProviderCallError('provider_unavailable', { status, retryAfterSeconds });
  if (status === 429) return new ProviderCallError('provider_rate_limited', { status, retryAfterSeconds });
  // A 401 with a WWW-Authenticate challenge at the token endpoint is failed client authentication (RFC 6749 s5.2).
  if (err instanceof oauth.WWWAuthenticateChallengeError && status === 401) return new ProviderCallError('invalid_client', { status });
  if (isNetworkError(err)) return new ProviderCallError('provider_unavailable', { status });
  return new ProviderCallError('invalid_provider_response', { status });
}
