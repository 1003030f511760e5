import { ExecutionContext, INestApplication, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { InjectThrottlerOptions, InjectThrottlerStorage, ThrottlerGuard, ThrottlerLimitDetail, ThrottlerModuleOptions, ThrottlerRequest, ThrottlerStorage } from '@nestjs/throttler';
import type { Request } from 'express';
import { Problem } from '../problem';
import { API_KEY_AUTHENTICATOR, ApiKeyAuthenticator, tenantOfRequest } from '../tenant-auth.guard';

/** Requests per minute: for each authenticated principal (a tenant), and for each client IP of anonymous requests. */
export interface RateLimitSettings {
  perMinute: number;
  anonymousPerMinute: number;
}
export const RATE_LIMIT_SETTINGS = Symbol('RATE_LIMIT_SETTINGS');

const principals = new WeakMap<Request, Promise<string | null>>();

/**
 * Per-tenant rate limits over a sliding one-minute window, in this replica's memory (n replicas admit up to n times
 * the limit; a shared store can replace ThrottlerModule's storage later). A request with a valid tenant API key
 * counts against its tenant, whatever route it calls; any other request counts against its client IP under the
 * stricter anonymous limit, so invalid keys and the public and browser routes cannot be used to flood.
 * Over the limit: 429 problem+json RATE_LIMITED with Retry-After (seconds until the oldest counted request leaves
 * the window).
 */
@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  constructor(
    @InjectThrottlerOptions() options: ThrottlerModuleOptions,
    @InjectThrottlerStorage() storage: ThrottlerStorage,
    reflector: Reflector,
    @Inject(RATE_LIMIT_SETTINGS) protected readonly settings: RateLimitSettings,
    @Inject(API_KEY_AUTHENTICATOR) protected readonly authenticator: ApiKeyAuthenticator,
  ) {
    super(options, storage, reflector);
  }

  /** The principal a request counts against (`tenant:<id>`), or null for an anonymous request. Apps may add principals. */
  protected async principalOf(req: Request): Promise<string | null> {
    const tenant = await tenantOfRequest(req, this.authenticator);
    return tenant ? `tenant:${tenant.tenantId}` : null;
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    // NATS handlers of the same app are not rate limited here.
    if (context.getType() !== 'http') return true;
    return super.canActivate(context);
  }

  protected override async handleRequest(request: ThrottlerRequest): Promise<boolean> {
    const principal = await this.principal(this.getRequestResponse(request.context).req as Request);
    return super.handleRequest({ ...request, limit: principal ? this.settings.perMinute : this.settings.anonymousPerMinute });
  }

  protected override async getTracker(req: Record<string, unknown>): Promise<string> {
    return (await this.principal(req as unknown as Request)) ?? `ip:${await super.getTracker(req)}`;
  }

  /** One budget per principal across all routes (the default key is per route). */
  protected override generateKey(_context: ExecutionContext, tracker: string, throttler: string): string {
    return `${throttler}:${tracker}`;
  }

  protected override async throwThrottlingException(_context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    const retryAfter = Math.max(1, detail.timeToBlockExpire);
    const who = detail.tracker.startsWith('ip:') ? 'from this address without an API key' : 'for this tenant';
    throw new Problem(429, 'RATE_LIMITED', 'Too many requests', `more than ${detail.limit} requests per minute ${who}; retry in ${retryAfter} s`, undefined, {
      'Retry-After': String(retryAfter),
    });
  }

  private principal(req: Request): Promise<string | null> {
    let found = principals.get(req);
    if (!found) principals.set(req, (found = this.principalOf(req)));
    return found;
  }
}

/**
 * Behind `hops` reverse proxies, take the client IP from X-Forwarded-For (the address the nearest untrusted hop
 * saw); with none, the socket's address. Without it, every client behind a proxy shares one anonymous budget.
 */
export function trustProxies(app: INestApplication, hops: number): void {
  if (hops > 0) (app.getHttpAdapter().getInstance() as { set(name: string, value: unknown): void }).set('trust proxy', hops);
}
