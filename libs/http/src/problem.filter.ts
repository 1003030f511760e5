import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { RpcError } from '@authpipe/messaging';
import { Problem } from './problem';

/** Nest's own HTTP errors (404 route, 413 body, malformed JSON...) as problems with stable codes. */
function fromHttpException(err: HttpException): Problem {
  const status = err.getStatus();
  const code: Record<number, string> = {
    400: 'INVALID_REQUEST',
    401: 'UNAUTHORIZED',
    403: 'FORBIDDEN',
    404: 'NOT_FOUND',
    405: 'METHOD_NOT_ALLOWED',
    413: 'PAYLOAD_TOO_LARGE',
    415: 'UNSUPPORTED_MEDIA_TYPE',
    429: 'RATE_LIMITED',
  };
  // Nest's messages for these are generic ("Cannot GET /x", "Unexpected token..."): keep only the kind.
  const detail = status === 404 ? 'no such route' : status === 400 ? 'the request body could not be parsed' : undefined;
  return new Problem(status, code[status] ?? (status >= 500 ? 'INTERNAL' : 'HTTP_ERROR'), err.message.split('\n')[0].slice(0, 100), detail);
}

/** Every HTTP error leaves as application/problem+json; unknown errors are a bare 500 with no internals. */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly logger = new Logger('Http');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = http.getRequest<Request>();
    const res = http.getResponse<Response>();
    let problem: Problem;
    if (exception instanceof Problem) problem = exception;
    else if (exception instanceof RpcError && exception.retryable) problem = new Problem(503, 'UNAVAILABLE', 'Temporarily unavailable', 'a dependency did not answer; retry shortly', undefined, { 'Retry-After': '1' });
    else if (exception instanceof HttpException) problem = fromHttpException(exception);
    else {
      const name = exception instanceof Error ? exception.name : typeof exception;
      this.logger.error(`unhandled ${name} on ${req.method} ${req.path}`, exception instanceof Error ? exception.stack?.split('\n').slice(0, 4).join(' | ') : undefined);
      problem = new Problem(500, 'INTERNAL', 'Internal error', 'something went wrong on our side');
    }
    for (const [name, value] of Object.entries(problem.headers)) res.setHeader(name, value);
    res.status(problem.statusCode).type('application/problem+json').send(JSON.stringify(problem.body(req.path)));
  }
}
