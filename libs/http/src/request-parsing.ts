import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { IncomingMessage, Server, ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

/** The largest request body any route takes (a connect session, an integration, an API-key form). */
export const BODY_LIMIT = '100kb';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A body whose bytes are not UTF-8: 400 INVALID_ENCODING (ProblemFilter), not a string with U+FFFD in it. */
export class InvalidBodyEncodingError extends Error {
  readonly status = 400;
  readonly expose = true;
  readonly type = 'encoding.invalid';
  constructor() {
    super('the request body is not valid UTF-8');
    this.name = InvalidBodyEncodingError.name;
  }
}

/** A JSON body declared in another charset than UTF-8: 415 (ProblemFilter). */
export class UnsupportedCharsetError extends Error {
  readonly status = 415;
  readonly expose = true;
  readonly type = 'charset.unsupported';
  constructor() {
    super('JSON must be UTF-8');
    this.name = UnsupportedCharsetError.name;
  }
}

const isUtf8Charset = (charset: string | undefined): boolean => !charset || /^utf-?8$/i.test(charset);

function requireUtf8(body: Buffer): void {
  try {
    utf8.decode(body);
  } catch {
    throw new InvalidBodyEncodingError();
  }
}

/**
 * body-parser's verify hooks see the raw bytes before they are decoded (decoding would hide bad ones). JSON is UTF-8
 * only (RFC 8259 section 8.1): body-parser would also decode UTF-7 and UTF-16, the first a known way to smuggle markup.
 * Forms may also be ISO-8859-1, which any byte sequence is.
 */
function verifyJson(_req: IncomingMessage, _res: ServerResponse, body: Buffer, charset: string | undefined): void {
  if (!isUtf8Charset(charset)) throw new UnsupportedCharsetError();
  requireUtf8(body);
}

function verifyForm(_req: IncomingMessage, _res: ServerResponse, body: Buffer, charset: string | undefined): void {
  if (isUtf8Charset(charset)) requireUtf8(body);
}

/**
 * What Node's HTTP parser refuses before any middleware runs (a malformed request line or header, a forbidden
 * Transfer-Encoding, headers over the size limit) is answered as problem+json too, instead of a bare status line.
 */
function answerUnparsableRequests(server: Server): void {
  server.on('clientError', (err: Error & { code?: string }, socket: Duplex & { _httpMessage?: { headersSent?: boolean } }) => {
    if (err.code === 'ECONNRESET' || !socket.writable || socket._httpMessage?.headersSent) return void socket.destroy();
    const [status, code, title] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'HEADERS_TOO_LARGE', 'Request header fields too large']
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'REQUEST_TIMEOUT', 'Request timeout']
          : [400, 'INVALID_REQUEST', 'The request is invalid'];
    const body = JSON.stringify({ type: `https://authpipe.dev/problems/${code.toLowerCase().replace(/_/g, '-')}`, title, status, code, detail: 'the request is not valid HTTP', instance: '/' });
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}

/**
 * Strict request parsing for an HTTP app; call before it listens. JSON and form bodies are parsed as Nest does by
 * default (same limit, extended forms, and Nest then skips its own parsers), except that JSON must be UTF-8 and bytes
 * that are not UTF-8 are refused instead of silently replaced; requests Node cannot parse get a problem too.
 */
export function useStrictRequestParsing(app: INestApplication): void {
  const express = app as NestExpressApplication;
  // Nest's typing omits `verify` (it uses it for rawBody, which these apps do not enable); body-parser takes it.
  express.useBodyParser('json', { limit: BODY_LIMIT, verify: verifyJson } as never);
  express.useBodyParser('urlencoded', { limit: BODY_LIMIT, extended: true, verify: verifyForm } as never);
  answerUnparsableRequests(app.getHttpServer() as Server);
}
