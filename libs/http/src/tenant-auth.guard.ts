import { CanActivate, createParamDecorator, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { bearerToken, parseApiKey, ParsedApiKey } from './api-key';
import { Problems } from './problem';

/** Resolves a parsed API key to its tenant, or null. query-api reads its read model; other apps ask it over NATS. */
export interface ApiKeyAuthenticator {
  authenticate(key: ParsedApiKey): Promise<{ tenantId: string; keyId: string } | null>;
}
export const API_KEY_AUTHENTICATOR = Symbol('API_KEY_AUTHENTICATOR');

export interface TenantPrincipal {
  tenantId: string;
  keyId: string;
}

const resolved = new WeakMap<Request, Promise<TenantPrincipal | null>>();

/**
 * The tenant of a request's bearer API key, or null when it carries none or an invalid one. Looked up once per
 * request: the rate limiter (which runs first) and TenantAuthGuard share the answer.
 */
export function tenantOfRequest(req: Request, authenticator: ApiKeyAuthenticator): Promise<TenantPrincipal | null> {
  let principal = resolved.get(req);
  if (!principal) {
    const parsed = parseApiKey(bearerToken(req.headers.authorization) ?? '');
    principal = parsed ? authenticator.authenticate(parsed) : Promise.resolve(null);
    resolved.set(req, principal);
  }
  return principal;
}

/** Admits requests carrying a valid tenant API key (`Authorization: Bearer apk_...`); everything else is a 401. */
@Injectable()
export class TenantAuthGuard implements CanActivate {
  constructor(@Inject(API_KEY_AUTHENTICATOR) private readonly authenticator: ApiKeyAuthenticator) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<Request & { tenant?: TenantPrincipal }>();
    if (!bearerToken(req.headers.authorization)) throw Problems.unauthorized();
    const principal = await tenantOfRequest(req, this.authenticator);
    if (!principal) throw Problems.unauthorized('the API key is not valid or was revoked');
    req.tenant = principal;
    return true;
  }
}

/** The authenticated tenant of a request guarded by TenantAuthGuard. */
export const Tenant = createParamDecorator((_data: unknown, context: ExecutionContext): TenantPrincipal => {
  return context.switchToHttp().getRequest<Request & { tenant: TenantPrincipal }>().tenant;
});
