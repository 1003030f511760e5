import * as http from 'node:http';
import * as https from 'node:https';
import { AuthpipeError, AuthpipeUnauthorizedError, AuthpipeUnavailableError, safeCause } from './errors';
import { SseMessage, SseParser } from './sse-parser';
import type { EventStreamStatus } from './types';

export interface EventStreamClientOptions {
  url: URL;
  /** The Authorization header value, read at each attempt (the key stays in its owner's private field). */
  authorization: () => string;
  /** For scrubbing error texts. */
  secrets: () => readonly string[];
  initialDelayMs: number;
  maxDelayMs: number;
  /** Reconnect when nothing (not even a heartbeat comment) arrived for this long; 0 never. */
  idleTimeoutMs: number;
  onMessage: (message: SseMessage) => void;
  onStatus: (status: EventStreamStatus, error?: AuthpipeError) => void;
  random?: () => number;
}

/** A connection that stayed open this long resets the backoff. */
const STABLE_MS = 5_000;

/**
 * A small server-sent events client on node:http: reconnects with exponential backoff and jitter, resumes with
 * `Last-Event-ID`, honours the server's `retry:` field, and keeps neither its socket nor its timers referenced,
 * so an open stream never keeps a process alive.
 */
export class EventStreamClient {
  status: EventStreamStatus = 'idle';
  private request?: http.ClientRequest;
  private timer?: NodeJS.Timeout;
  private attempt = 0;
  private baseDelayMs: number;
  /** When the current connection opened; undefined while not open. */
  private openedAt?: number;
  private everOpened = false;
  private settleFirst!: () => void;
  private readonly firstSettled = new Promise<void>((resolve) => (this.settleFirst = resolve));
  private readonly parser: SseParser;

  constructor(private readonly options: EventStreamClientOptions) {
    this.baseDelayMs = options.initialDelayMs;
    this.parser = new SseParser(options.onMessage, (ms) => (this.baseDelayMs = ms));
  }

  /** Opens the stream once; later calls do nothing. */
  start(): void {
    if (this.status !== 'idle') return;
    this.connect();
  }

  /** Resolves when the first attempt opened or failed, or after `timeoutMs`. */
  async firstAttempt(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.firstSettled, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }

  close(): void {
    if (this.status === 'closed') return;
    clearTimeout(this.timer);
    this.request?.destroy();
    this.request = undefined;
    this.setStatus('closed');
    this.settleFirst();
  }

  private connect(): void {
    this.setStatus(this.everOpened || this.attempt > 0 ? 'reconnecting' : 'connecting');
    const headers: Record<string, string> = {
      accept: 'text/event-stream',
      'cache-control': 'no-cache',
      authorization: this.options.authorization(),
    };
    if (this.parser.lastEventId) headers['last-event-id'] = this.parser.lastEventId;
    const transport = this.options.url.protocol === 'https:' ? https : http;
    const request = transport.request(this.options.url, { method: 'GET', headers, agent: false });
    this.request = request;
    let failed = false;
    const fail = (error: AuthpipeError, delayMs?: number) => {
      if (failed || this.request !== request) return;
      failed = true;
      request.destroy();
      this.request = undefined;
      this.parser.reset();
      this.scheduleReconnect(error, delayMs);
    };
    request.on('socket', (socket) => {
      socket.unref();
      socket.setKeepAlive(true, 30_000);
    });
    request.on('error', (err) => fail(new AuthpipeUnavailableError('the event stream could not connect', { code: 'NETWORK_ERROR', cause: safeCause(err, this.options.secrets()) })));
    request.on('response', (res) => {
      const status = res.statusCode ?? 0;
      const type = String(res.headers['content-type'] ?? '');
      if (status !== 200 || !type.startsWith('text/event-stream')) {
        res.resume();
        if (status === 401 || status === 403) {
          return fail(new AuthpipeUnauthorizedError(`the event stream refused the API key (HTTP ${status})`, { code: status === 401 ? 'UNAUTHORIZED' : 'FORBIDDEN', status }), this.options.maxDelayMs);
        }
        if (status === 404) {
          return fail(new AuthpipeUnavailableError('this Authpipe has no event stream (HTTP 404)', { code: 'NOT_FOUND', status }), this.options.maxDelayMs);
        }
        return fail(new AuthpipeUnavailableError(`the event stream answered HTTP ${status}${status === 200 ? ` with ${type || 'no content type'}` : ''}`, { code: 'UNAVAILABLE', status }));
      }
      this.openedAt = Date.now();
      this.everOpened = true;
      this.setStatus('open');
      this.settleFirst();
      if (this.options.idleTimeoutMs > 0) {
        // A half-open connection (a peer gone without a FIN) is silent: the server's heartbeats tell it apart.
        request.setTimeout(this.options.idleTimeoutMs, () =>
          fail(new AuthpipeUnavailableError(`the event stream was silent for ${this.options.idleTimeoutMs} ms`, { code: 'STREAM_IDLE' })),
        );
      }
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => this.parser.push(chunk));
      res.on('end', () => fail(new AuthpipeUnavailableError('the event stream ended', { code: 'STREAM_ENDED' })));
      res.on('error', (err) => fail(new AuthpipeUnavailableError('the event stream broke', { code: 'NETWORK_ERROR', cause: safeCause(err, this.options.secrets()) })));
    });
    request.end();
  }

  private scheduleReconnect(error: AuthpipeError, fixedDelayMs?: number): void {
    if (this.status === 'closed') return;
    if (this.openedAt !== undefined && Date.now() - this.openedAt >= STABLE_MS) this.attempt = 0;
    this.openedAt = undefined;
    const exponential = Math.min(this.options.maxDelayMs, this.baseDelayMs * 2 ** this.attempt);
    const delay = fixedDelayMs ?? exponential / 2 + ((this.options.random ?? Math.random)() * exponential) / 2;
    this.attempt = Math.min(this.attempt + 1, 30);
    this.setStatus('reconnecting', error);
    this.settleFirst();
    this.timer = setTimeout(() => this.connect(), delay);
    this.timer.unref();
  }

  private setStatus(status: EventStreamStatus, error?: AuthpipeError): void {
    if (this.status === status && !error) return;
    this.status = status;
    this.options.onStatus(status, error);
  }
}
