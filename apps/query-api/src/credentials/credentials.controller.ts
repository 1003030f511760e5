import { Controller, Get, Header, Param, Req, UseGuards } from '@nestjs/common';
import type { Request } from 'express';
import { PROVIDER_KEY_PATTERN, USER_ID_PATTERN } from '@authpipe/contracts';
import { correlationIdOf, Problems, Tenant, TenantAuthGuard, TenantPrincipal } from '@authpipe/http';
import { CredentialsService } from './credentials.service';

/** `GET /v1/credentials/:provider/:userId`: what the SDK's getCredential calls. Never cached by intermediaries. */
@Controller('v1/credentials')
@UseGuards(TenantAuthGuard)
export class CredentialsController {
  constructor(private readonly credentials: CredentialsService) {}

  @Get(':provider/:userId')
  @Header('Cache-Control', 'no-store')
  get(@Tenant() tenant: TenantPrincipal, @Param('provider') provider: string, @Param('userId') userId: string, @Req() req: Request) {
    const problems = [
      ...(PROVIDER_KEY_PATTERN.test(provider) ? [] : [{ field: 'provider', message: 'is not a provider key' }]),
      ...(USER_ID_PATTERN.test(userId) ? [] : [{ field: 'userId', message: 'must be 1-128 characters of A-Z a-z 0-9 . _ @ : + | = -' }]),
    ];
    if (problems.length) throw Problems.invalidRequest(problems);
    return this.credentials.get(tenant.tenantId, tenant.keyId, provider, userId, correlationIdOf(req));
  }
}
