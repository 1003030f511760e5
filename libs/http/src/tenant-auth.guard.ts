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

/** Admits requests carrying a valid tenant API key (`Authorization: Bearer apk_...`); everything else is a 401. */
@Injectable()
export class TenantAuthGuard implements CanActivate {
  constructor(@Inject(API_KEY_AUTHENTICATOR) private readonly authenticator: ApiKeyAuthenticator) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<Request & { tenant?: TenantPrincipal }>();
    const token = bearerToken(req.headers.authorization);
    if (!token) throw Problems.unauthorized();
    const parsed = parseApiKey(token);
    const principal = parsed ? await this.authenticator.authenticate(parsed) : null;
    if (!principal) throw Problems.unauthorized('the API key is not valid or was revoked');
    req.tenant = principal;
    return true;
  }
}

/** The authenticated tenant of a request guarded by TenantAuthGuard. */
export const Tenant = createParamDecorator((_data: unknown, context: ExecutionContext): TenantPrincipal => {
  return context.switchToHttp().getRequest<Request & { tenant: TenantPrincipal }>().tenant;
});
