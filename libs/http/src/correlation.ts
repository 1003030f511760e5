import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

const VALID = /^[A-Za-z0-9._:-]{1,100}$/;

type WithCorrelation = Request & { correlationId?: string };

/**
 * The correlation id of a request, decided once: the caller's X-Request-Id when well formed, else a new one; kept
 * on the request and echoed back. It then travels in every RPC request and event the request causes.
 */
export function assignCorrelationId(req: Request, res: Response): string {
  const request = req as WithCorrelation;
  if (!request.correlationId) {
    const given = req.header('x-request-id');
    request.correlationId = given && VALID.test(given) ? given : randomUUID();
    res.setHeader('X-Request-Id', request.correlationId);
  }
  return request.correlationId;
}

/** Middleware form of assignCorrelationId (the platform's HTTP middleware assigns it first when it runs). */
export function correlationMiddleware(req: Request, res: Response, next: NextFunction): void {
  assignCorrelationId(req, res);
  next();
}

export function correlationIdOf(req: Request): string {
  return (req as WithCorrelation).correlationId ?? randomUUID();
}
