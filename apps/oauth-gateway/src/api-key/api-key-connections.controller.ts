import { Body, Controller, HttpCode, Post, Req, UseGuards } from '@nestjs/common';
import type { Request } from 'express';
import { IsOptional, IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { PROVIDER_KEY_PATTERN, USER_ID_PATTERN } from '@authpipe/contracts';
import { correlationIdOf, Problem, Tenant, TenantAuthGuard, TenantPrincipal } from '@authpipe/http';
import { ApiKeyConnectService, ApiKeyRejectedError, ProviderUnavailableError } from './api-key-connect.service';

export class ApiKeyConnectionBody {
  @Matches(PROVIDER_KEY_PATTERN, { message: 'must be a provider key such as clicksend' }) provider: string;
  @Matches(USER_ID_PATTERN, { message: 'must be 1-128 characters of A-Z a-z 0-9 . _ @ : + | = -' }) userId: string;
  @IsOptional() @IsString() @MinLength(1) @MaxLength(512) username?: string;
  @IsString() @MinLength(1) @MaxLength(4096) apiKey: string;
}

/** A tenant's backend connects an API-key provider for one of its users (the key never reaches a browser this way). */
@Controller('v1/api-key-connections')
@UseGuards(TenantAuthGuard)
export class ApiKeyConnectionsController {
  constructor(private readonly apiKeys: ApiKeyConnectService) {}

  @Post()
  @HttpCode(201)
  async create(@Tenant() tenant: TenantPrincipal, @Body() body: ApiKeyConnectionBody, @Req() req: Request) {
    try {
      return await this.apiKeys.connect({ ...body, tenantId: tenant.tenantId, correlationId: correlationIdOf(req) });
    } catch (err) {
      if (err instanceof ApiKeyRejectedError) throw new Problem(422, err.code, 'Credentials rejected', `${err.message}; nothing was stored`);
      if (err instanceof ProviderUnavailableError) {
        throw new Problem(err.httpStatus, err.code, 'Provider unavailable', `${err.message}; nothing was stored, try again`, undefined, { 'Retry-After': '5' });
      }
      throw err;
    }
  }
}
