import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A tiny stand-in for ClickSend's account endpoint (API-key "connect" verification), loopback only.
 *
 *   GET /v3/account with HTTP Basic `username:api_key`
 *     known pair -> 200 {"http_code":200,"response_code":"SUCCESS","data":{"user_id":1,"username":…,"balance":"12.50"}}
 *     otherwise  -> 401 {"http_code":401,"response_code":"INVALID_CREDENTIALS"}
 *
 * Anything else is 404 (405 for another method on /v3/account). `setStatus(code)` forces that status for the
 * following requests until `setStatus(null)`; `setFault(spec)` injects a slow, garbage or huge answer instead.
 */

/** How the following requests are answered instead, until `setFault(null)`. */
export interface FakeClickSendFault {
  /** Wait this long first (alone: a slow but otherwise normal answer). */
  delayMs?: number;
  /** Answer with this status (default 200 when a body is given). */
  status?: number;
  /** Raw body, sent as is: an HTML page, truncated JSON, an empty string. */
  body?: string;
  /** Default application/json. */
  contentType?: string;
  /** A huge body: this many bytes (`body` first, then padding), streamed without Content-Length. */
  bodyBytes?: number;
}

export interface FakeClickSendOptions {
  /** username -> API key. */
  accounts?: Record<string, string>;
  /** Default 0 (a free port). Always bound to 127.0.0.1. */
  port?: number;
}

export interface FakeClickSend {
  /** Base URL, e.g. http://127.0.0.1:PORT (no trailing slash). */
  url: string;
  /** `${url}/v3/account` */
  verifyUrl: string;
  /** Requests received so far (every path and method, forced-status ones included). */
  requests(): number;
  /** Answer every following request with this status (e.g. 503) until set back to null. */
  setStatus(code: number | null): void;
  /** Answer every following request with this fault until set back to null. */
  setFault(fault: FakeClickSendFault | null): void;
  /** Forget this account: its credentials get 401 from now on. */
  revoke(username: string): void;
  stop(): Promise<void>;
}

const RESPONSE_CODES: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'INVALID_CREDENTIALS',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  429: 'TOO_MANY_REQUESTS',
  500: 'INTERNAL_SERVER_ERROR',
  502: 'BAD_GATEWAY',
  503: 'SERVICE_UNAVAILABLE',
  504: 'GATEWAY_TIMEOUT',
};

function send(res: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(payload);
}

function sendHuge(res: http.ServerResponse, status: number, bytes: number, prefix: string, contentType = 'application/json'): void {
  res.writeHead(status, { 'content-type': contentType });
  const chunk = Buffer.alloc(64 * 1024, 'x');
  let left = bytes - Buffer.byteLength(prefix);
  if (prefix) res.write(prefix);
  res.on('close', () => (left = 0));
  const pump = (): void => {
    while (left > 0 && !res.destroyed) {
      const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
      left -= piece.length;
      if (!res.write(piece)) return void res.once('drain', pump);
    }
    res.end();
  };
  pump();
}

function basicCredentials(header: string | undefined): { username: string; apiKey: string } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { username: decoded.slice(0, colon), apiKey: decoded.slice(colon + 1) };
}

export async function startFakeClickSend(options: FakeClickSendOptions = {}): Promise<FakeClickSend> {
  const accounts = new Map(Object.entries(options.accounts ?? {}));
  let requestCount = 0;
  let forcedStatus: number | null = null;
  let fault: FakeClickSendFault | null = null;

  const server = http.createServer(async (req, res) => {
    requestCount += 1;
    // Drain any request body; nothing here reads one.
    req.resume();
    if (fault) {
      const { delayMs, status, body, contentType, bodyBytes } = fault;
      if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (res.destroyed) return;
      if (bodyBytes !== undefined) return sendHuge(res, status ?? 200, bodyBytes, body ?? '', contentType);
      if (body !== undefined || status !== undefined) {
        const payload = body ?? '';
        res.writeHead(status ?? 200, { 'content-type': contentType ?? 'application/json', 'content-length': Buffer.byteLength(payload) });
        res.end(payload);
        return;
      }
    }
    if (forcedStatus !== null) {
      send(res, forcedStatus, {
        http_code: forcedStatus,
        response_code: RESPONSE_CODES[forcedStatus] ?? (forcedStatus >= 500 ? 'INTERNAL_SERVER_ERROR' : 'ERROR'),
      });
      return;
    }
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname.replace(/\/+$/, '');
    if (path !== '/v3/account') {
      send(res, 404, { http_code: 404, response_code: 'NOT_FOUND' });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, { http_code: 405, response_code: 'METHOD_NOT_ALLOWED' }, { allow: 'GET' });
      return;
    }
    const credentials = basicCredentials(req.headers.authorization);
    if (!credentials || accounts.get(credentials.username) !== credentials.apiKey) {
      send(res, 401, { http_code: 401, response_code: 'INVALID_CREDENTIALS' });
      return;
    }
    send(res, 200, {
      http_code: 200,
      response_code: 'SUCCESS',
      data: { user_id: 1, username: credentials.username, balance: '12.50' },
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  let stopping: Promise<void> | undefined;
  return {
    url,
    verifyUrl: `${url}/v3/account`,
    requests: () => requestCount,
    setStatus: (code) => {
      if (code !== null && !(Number.isInteger(code) && code >= 200 && code <= 599)) {
        throw new Error(`setStatus: not an HTTP status: ${code}`);
      }
      forcedStatus = code;
    },
    setFault: (spec) => {
      fault = spec ? { ...spec } : null;
    },
    revoke: (username) => {
      accounts.delete(username);
    },
    stop: () =>
      (stopping ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}
