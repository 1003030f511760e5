import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

const VALID = /^[A-Za-z0-9._:-]{1,100}$/;

/** Take the caller's X-Request-Id when well formed, else make one; echo it back and keep it on the request. */
export function correlationMiddleware(req: Request & { correlationId?: string }, res: Response, next: NextFunction): void {
  const given = req.header('x-request-id');
  req.correlationId = given && VALID.test(given) ? given : randomUUID();
  res.setHeader('X-Request-Id', req.correlationId);
  next();
}

export function correlationIdOf(req: Request): string {
  return (req as Request & { correlationId?: string }).correlationId ?? randomUUID();
}
