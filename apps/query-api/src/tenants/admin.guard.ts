import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import { bearerToken, Problems } from '@authpipe/http';
import { CONFIG } from '@authpipe/platform';
import { QueryApiConfig } from '../query-api.config';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Admits the operator's admin token only; compared in constant time. */
@Injectable()
export class AdminGuard implements CanActivate {
  private readonly expected: Buffer;

  constructor(@Inject(CONFIG) config: QueryApiConfig) {
    this.expected = digest(config.AUTHPIPE_ADMIN_TOKEN);
  }

  canActivate(context: ExecutionContext): boolean {
    const token = bearerToken(context.switchToHttp().getRequest<Request>().headers.authorization);
    if (!token || !timingSafeEqual(digest(token), this.expected)) {
      throw Problems.unauthorized('the operator admin token is required: Authorization: Bearer <AUTHPIPE_ADMIN_TOKEN>');
    }
    return true;
  }
}
