import { Logger } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { assignCorrelationId } from '@authpipe/http';
import { runWithCorrelationId } from '../logging/request-context';
import { httpRequestDuration, secondsSince } from './metrics';

/** The route template a request matched (`/v1/credentials/:provider/:userId`), never its raw path (ids, secrets). */
function routeOf(req: Request): string {
  const route = (req as Request & { route?: { path?: unknown } }).route;
  return typeof route?.path === 'string' ? `${req.baseUrl ?? ''}${route.path}` : 'unmatched';
}

/**
 * First middleware of an HTTP app: gives the request its correlation id (X-Request-Id) and runs the rest of it with
 * that id in the log context; when the response is done, records its latency by route and status and writes one
 * access log line (method, route template, status, time; no path, query or header values).
 */
export function httpObservability(): (req: Request, res: Response, next: NextFunction) => void {
  const logger = new Logger('Http');
  const duration = httpRequestDuration();
  return (req, res, next) => {
    const correlationId = assignCorrelationId(req, res);
    const started = process.hrtime.bigint();
    res.once('close', () => {
      const seconds = secondsSince(started);
      const route = routeOf(req);
      // A response closed before it finished: the client went away (nginx's 499).
      const status = res.writableFinished ? res.statusCode : 499;
      duration.observe({ method: req.method, route, status: String(status) }, seconds);
      runWithCorrelationId(correlationId, () => {
        const line = `${req.method} ${route} ${status} in ${Math.round(seconds * 1000)} ms`;
        if (status >= 500) logger.warn(line);
        else logger.log(line);
      });
    });
    runWithCorrelationId(correlationId, next);
  };
}
