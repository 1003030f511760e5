import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { isTransientFailure, RpcError } from '@authpipe/messaging';
import { Problem } from './problem';

const KNOWN: Record<number, [code: string, title: string, detail?: string]> = {
  // Nest turns body-parser's SyntaxError and the router's URIError (a path that is not percent-encoded UTF-8) into this.
  400: ['INVALID_REQUEST', 'The request is invalid', 'the request body or path could not be parsed'],
  401: ['UNAUTHORIZED', 'Authentication required'],
  403: ['FORBIDDEN', 'Not allowed'],
  404: ['NOT_FOUND', 'Not found', 'no such route'],
  405: ['METHOD_NOT_ALLOWED', 'Method not allowed'],
  413: ['PAYLOAD_TOO_LARGE', 'Request body too large'],
  415: ['UNSUPPORTED_MEDIA_TYPE', 'Unsupported media type', 'send application/json'],
  429: ['RATE_LIMITED', 'Too many requests'],
};

/**
 * What Express's body parsers and router throw at a bad request (http-errors style: a 4xx `status`, a `type`):
 * the body is too large, in an unknown charset or encoding, not UTF-8, not valid gzip.
 */
const CLIENT_ERRORS: Record<string, [status: number, code: string, title: string, detail: string]> = {
  'entity.parse.failed': [400, 'INVALID_REQUEST', 'The request is invalid', 'the request body could not be parsed'],
  'entity.too.large': [413, 'PAYLOAD_TOO_LARGE', 'Request body too large', 'the request body is larger than the limit'],
  'parameters.too.many': [413, 'PAYLOAD_TOO_LARGE', 'Request body too large', 'the form has too many fields'],
  'charset.unsupported': [415, 'UNSUPPORTED_MEDIA_TYPE', 'Unsupported media type', 'send the body in UTF-8'],
  'encoding.unsupported': [415, 'UNSUPPORTED_MEDIA_TYPE', 'Unsupported media type', 'unsupported Content-Encoding'],
  'encoding.invalid': [400, 'INVALID_ENCODING', 'The request is invalid', 'the request body is not valid UTF-8'],
};

function fromClientError(err: unknown): Problem | undefined {
  if (!(err instanceof Error)) return undefined;
  const { status, type } = err as { status?: unknown; type?: unknown };
  if (typeof status !== 'number' || status < 400 || status > 499) return undefined;
  const known = typeof type === 'string' ? CLIENT_ERRORS[type] : undefined;
  if (known) return new Problem(...known);
  // Decompression failures and the like: a message may quote the request, so only the status is kept.
  const [code, title, detail] = KNOWN[status] ?? ['INVALID_REQUEST', 'The request is invalid', 'the request could not be read'];
  return new Problem(status, code, title, detail);
}

/**
 * Nest's and Express's own HTTP errors (unknown route, malformed JSON, body too large...) as problems with stable
 * codes and fixed texts: their messages can quote the request (a JSON parse error quotes the body).
 */
function fromHttpException(err: HttpException): Problem {
  const status = err.getStatus();
  const [code, title, detail] = KNOWN[status] ?? (status >= 500 ? ['INTERNAL', 'Internal error'] : ['HTTP_ERROR', 'Request failed']);
  return new Problem(status, code, title, detail);
}

/** Every HTTP error leaves as application/problem+json; unknown errors are a bare 500 with no internals. */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly logger = new Logger('Http');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = http.getRequest<Request>();
    const res = http.getResponse<Response>();
    let problem: Problem | undefined;
    if (exception instanceof Problem) problem = exception;
    else if ((exception instanceof RpcError && exception.retryable) || isTransientFailure(exception)) {
      // Another app, NATS or a store did not answer (a restart, an outage): the client should retry shortly.
      problem = new Problem(503, 'UNAVAILABLE', 'Temporarily unavailable', 'a dependency did not answer; retry shortly', undefined, { 'Retry-After': '1' });
    }
    else if (exception instanceof HttpException) problem = fromHttpException(exception);
    else problem = fromClientError(exception);
    if (!problem) {
      const name = exception instanceof Error ? exception.name : typeof exception;
      this.logger.error(`unhandled ${name} on ${req.method} ${req.path}`, exception instanceof Error ? exception.stack?.split('\n').slice(0, 4).join(' | ') : undefined);
      problem = new Problem(500, 'INTERNAL', 'Internal error', 'something went wrong on our side');
    }
    for (const [name, value] of Object.entries(problem.headers)) res.setHeader(name, value);
    res.status(problem.statusCode).type('application/problem+json').send(JSON.stringify(problem.body(req.path)));
  }
}
