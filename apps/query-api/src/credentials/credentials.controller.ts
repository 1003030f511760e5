import { Controller, Get, Header, Param, Req, Res, UseGuards } from '@nestjs/common';
import type { Request, Response } from 'express';
import { PROVIDER_KEY_PATTERN, USER_ID_PATTERN } from '@authpipe/contracts';
import { correlationIdOf, Problems, Tenant, TenantAuthGuard, TenantPrincipal } from '@authpipe/http';
import { CredentialResponse, CredentialsService } from './credentials.service';

/**
 * Says that the token served is the current one, still valid, because its refresh failed: an RFC 8941 item, e.g.
 * `failed; code=PROVIDER_TIMEOUT`. Absent when nothing failed.
 */
export const REFRESH_HEADER = 'Authpipe-Refresh';

/** `GET /v1/credentials/:provider/:userId`: what the SDK's getCredential calls. Never cached by intermediaries. */
@Controller('v1/credentials')
@UseGuards(TenantAuthGuard)
export class CredentialsController {
  constructor(private readonly credentials: CredentialsService) {}

  @Get(':provider/:userId')
  @Header('Cache-Control', 'no-store')
  async get(
    @Tenant() tenant: TenantPrincipal,
    @Param('provider') provider: string,
    @Param('userId') userId: string,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<CredentialResponse> {
    const problems = [
      ...(PROVIDER_KEY_PATTERN.test(provider) ? [] : [{ field: 'provider', message: 'is not a provider key' }]),
      ...(USER_ID_PATTERN.test(userId) ? [] : [{ field: 'userId', message: 'must be 1-128 characters of A-Z a-z 0-9 . _ @ : + | = -' }]),
    ];
    if (problems.length) throw Problems.invalidRequest(problems);
    const answer = await this.credentials.get(tenant.tenantId, tenant.keyId, provider, userId, correlationIdOf(req));
    if (answer.refreshFailed) res.setHeader(REFRESH_HEADER, `failed; code=${answer.refreshFailed}`);
    return answer.credential;
  }
}
