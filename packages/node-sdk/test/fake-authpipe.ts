import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for query-api and the gateway as the SDK sees them: the credential endpoint, the connections
 * API, connect sessions, and `GET /v1/events/stream` (server-sent events) that a test pushes events into.
 */

export const API_KEY = `apk_SDKTESTKEY00_${'k'.repeat(40)}abc`;

export type Answer = { status: number; body: unknown; headers?: Record<string, string>; delayMs?: number };
export type CredentialHandler = (provider: string, userId: string, request: number) => Answer | Promise<Answer>;

export interface FakeAuthpipe {
  url: string;
  /** Requests per path prefix: `credentials`, `connections`, `connect-sessions`, `stream`. */
  requests: Record<string, number>;
  /** Credential requests answered so far. */
  answered(): number;
  onCredential(handler: CredentialHandler): void;
  onConnections(handler: (query: URLSearchParams) => Answer): void;
  /** Bodies of POST /v1/connect-sessions. */
  sessions: unknown[];
  /** Last-Event-ID headers of each stream request ('' when none). */
  lastEventIds: string[];
  /** Answer stream requests with this status instead of a stream (null: stream). */
  streamStatus: number | null;
  openStreams(): number;
  emit(type: string, data: Record<string, unknown>, id?: string): void;
  /** Writes raw text to every open stream. */
  write(text: string): void;
  /** Ends every open stream (the client reconnects). */
  dropStreams(): void;
  waitForStreams(count: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

const problem = (status: number, code: string, detail: string): Answer => ({ status, body: { type: 'about:blank', title: code, status, code, detail } });
export const Problems = { problem };

export async function startFakeAuthpipe(): Promise<FakeAuthpipe> {
  const requests: Record<string, number> = { credentials: 0, connections: 0, 'connect-sessions': 0, stream: 0 };
  let answered = 0;
  let credentialHandler: CredentialHandler = () => problem(404, 'NOT_CONNECTED', 'not connected');
  let connectionsHandler: (query: URLSearchParams) => Answer = () => ({ status: 200, body: { items: [] } });
  const sessions: unknown[] = [];
  const lastEventIds: string[] = [];
  const streams = new Set<http.ServerResponse>();
  const state = { streamStatus: null as number | null };

  const send = async (res: http.ServerResponse, answer: Answer) => {
    if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
    const json = answer.status >= 400 ? 'application/problem+json' : 'application/json';
    res.writeHead(answer.status, { 'content-type': json, 'x-request-id': 'req-test-1', ...(answer.headers ?? {}) });
    res.end(JSON.stringify(answer.body));
  };

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.headers.authorization !== `Bearer ${API_KEY}`) return send(res, problem(401, 'UNAUTHORIZED', 'the API key is not valid or was revoked'));
    const parts = url.pathname.split('/').filter(Boolean);
    if (url.pathname === '/v1/events/stream') {
      requests.stream++;
      lastEventIds.push(String(req.headers['last-event-id'] ?? ''));
      if (state.streamStatus !== null) return send(res, problem(state.streamStatus, 'UNAVAILABLE', 'no stream'));
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
      res.write(': hello\n\n');
      streams.add(res);
      res.on('close', () => streams.delete(res));
      return;
    }
    if (parts[0] === 'v1' && parts[1] === 'credentials' && parts.length === 4 && req.method === 'GET') {
      const n = ++requests.credentials;
      const answer = await credentialHandler(decodeURIComponent(parts[2]), decodeURIComponent(parts[3]), n);
      await send(res, answer);
      answered++;
      return;
    }
    if (parts[0] === 'v1' && parts[1] === 'connections') {
      requests.connections++;
      if (req.method === 'DELETE') return send(res, { status: 200, body: { connectionId: parts[2], status: 'disconnected', providerRevocation: 'revoked' } });
      return send(res, connectionsHandler(url.searchParams));
    }
    if (url.pathname === '/v1/connect-sessions' && req.method === 'POST') {
      requests['connect-sessions']++;
      sessions.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      return send(res, { status: 201, body: { token: 'sess-token', connectUrl: 'http://127.0.0.1:1/v1/connect/start?session=sess-token', expiresAt: new Date(Date.now() + 600_000).toISOString() } });
    }
    return send(res, problem(404, 'NOT_FOUND', 'no such route'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    answered: () => answered,
    onCredential: (handler) => (credentialHandler = handler),
    onConnections: (handler) => (connectionsHandler = handler),
    sessions,
    lastEventIds,
    get streamStatus() {
      return state.streamStatus;
    },
    set streamStatus(value: number | null) {
      state.streamStatus = value;
    },
    openStreams: () => streams.size,
    emit(type, data, id) {
      for (const res of streams) res.write(`event: ${type}\n${id ? `id: ${id}\n` : ''}data: ${JSON.stringify(data)}\n\n`);
    },
    write(text) {
      for (const res of streams) res.write(text);
    },
    dropStreams() {
      for (const res of streams) res.destroy();
      streams.clear();
    },
    async waitForStreams(count, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (streams.size < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} open streams, have ${streams.size}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const res of streams) res.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
