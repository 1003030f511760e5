import { createHash, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { InjectThrottlerOptions, InjectThrottlerStorage, ThrottlerModuleOptions, ThrottlerStorage } from '@nestjs/throttler';
import type { Request } from 'express';
import { API_KEY_AUTHENTICATOR, ApiKeyAuthenticator, bearerToken, RATE_LIMIT_SETTINGS, RateLimitGuard, RateLimitSettings } from '@authpipe/http';
import { CONFIG } from '@authpipe/platform';
import { QueryApiConfig } from '../query-api.config';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * query-api's limits know one more principal: the operator's admin token has its own budget (the tenant limit), so
 * the CLI polling a rewrap is not counted with anonymous traffic. AdminGuard still decides who may call /v1/admin.
 */
@Injectable()
export class QueryApiRateLimitGuard extends RateLimitGuard {
  private readonly adminToken: Buffer;

  constructor(
    @InjectThrottlerOptions() options: ThrottlerModuleOptions,
    @InjectThrottlerStorage() storage: ThrottlerStorage,
    reflector: Reflector,
    @Inject(RATE_LIMIT_SETTINGS) settings: RateLimitSettings,
    @Inject(API_KEY_AUTHENTICATOR) authenticator: ApiKeyAuthenticator,
    @Inject(CONFIG) config: QueryApiConfig,
  ) {
    super(options, storage, reflector, settings, authenticator);
    this.adminToken = digest(config.AUTHPIPE_ADMIN_TOKEN);
  }

  protected override async principalOf(req: Request): Promise<string | null> {
    const token = bearerToken(req.headers.authorization);
    if (token && timingSafeEqual(digest(token), this.adminToken)) return 'operator';
    return super.principalOf(req);
  }
}
