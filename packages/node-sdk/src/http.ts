import { AuthpipeError, AuthpipeFieldProblem, AuthpipeUnavailableError, errorForProblem, safeCause, scrub } from './errors';

export interface JsonRequest {
  method: 'GET' | 'POST' | 'DELETE';
  url: URL;
  authorization: string;
  body?: unknown;
  timeoutMs: number;
  fetch: typeof fetch;
  /** Texts that must never appear in an error (the API key). */
  secrets: readonly string[];
  /** What the request was for, in error messages: "getCredential gmail/user_123". */
  what: string;
  /** Sees the headers of a successful answer (the credential endpoint's Authpipe-Refresh). */
  onHeaders?: (headers: Headers) => void;
}

export const USER_AGENT = 'authpipe-node/0.1.0';

/** One JSON request; any failure becomes a typed AuthpipeError whose text carries no secret. */
export async function requestJson<T>(req: JsonRequest): Promise<T> {
  let res: Response;
  try {
    res = await req.fetch(req.url, {
      method: req.method,
      headers: {
        authorization: req.authorization,
        accept: 'application/json, application/problem+json',
        'user-agent': USER_AGENT,
        ...(req.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(req.body === undefined ? {} : { body: JSON.stringify(req.body) }),
      signal: AbortSignal.timeout(req.timeoutMs),
    });
  } catch (err) {
    const timedOut = (err as Error)?.name === 'TimeoutError';
    throw new AuthpipeUnavailableError(
      timedOut ? `${req.what}: Authpipe did not answer within ${req.timeoutMs} ms` : `${req.what}: Authpipe could not be reached (${networkCode(err)})`,
      { code: timedOut ? 'TIMEOUT' : 'NETWORK_ERROR', cause: safeCause(err, req.secrets) },
    );
  }
  const requestId = res.headers.get('x-request-id') ?? undefined;
  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    const timedOut = (err as Error)?.name === 'TimeoutError';
    throw new AuthpipeUnavailableError(`${req.what}: the answer was cut off${timedOut ? ` after ${req.timeoutMs} ms` : ''}`, {
      code: timedOut ? 'TIMEOUT' : 'NETWORK_ERROR',
      status: res.status,
      requestId,
      cause: safeCause(err, req.secrets),
    });
  }
  if (res.ok) {
    req.onHeaders?.(res.headers);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new AuthpipeUnavailableError(`${req.what}: Authpipe answered HTTP ${res.status} with a body that is not JSON`, { code: 'INVALID_RESPONSE', status: res.status, requestId });
    }
  }
  throw problemError(req, res, text, requestId);
}

function problemError(req: JsonRequest, res: Response, text: string, requestId: string | undefined): AuthpipeError {
  let problem: { code?: unknown; detail?: unknown; title?: unknown; errors?: unknown } = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object') problem = parsed as typeof problem;
  } catch {
    // not problem+json (a proxy's page): the status decides
  }
  const code = typeof problem.code === 'string' && /^[A-Z][A-Z0-9_]{1,63}$/.test(problem.code) ? problem.code : fallbackCode(res.status);
  const explanation = typeof problem.detail === 'string' ? problem.detail : typeof problem.title === 'string' ? problem.title : `HTTP ${res.status}`;
  const errors = Array.isArray(problem.errors)
    ? problem.errors
        .filter((e): e is AuthpipeFieldProblem => !!e && typeof e.field === 'string' && typeof e.message === 'string')
        .map((e) => ({ field: scrub(e.field, req.secrets), message: scrub(e.message, req.secrets) }))
    : undefined;
  const retryAfter = Number(res.headers.get('retry-after'));
  return errorForProblem(`${req.what}: ${code}: ${scrub(explanation, req.secrets)}`, {
    code,
    status: res.status,
    requestId,
    errors,
    ...(Number.isFinite(retryAfter) && retryAfter >= 0 && res.headers.has('retry-after') ? { retryAfterSeconds: retryAfter } : {}),
  });
}

function fallbackCode(status: number): string {
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 403) return 'FORBIDDEN';
  if (status === 404) return 'NOT_FOUND';
  if (status === 429) return 'RATE_LIMITED';
  if (status >= 500) return 'UNAVAILABLE';
  return 'HTTP_ERROR';
}

function networkCode(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown } })?.cause;
  return typeof cause?.code === 'string' ? cause.code : 'network error';
}
