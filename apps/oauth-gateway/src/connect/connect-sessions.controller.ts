import { Body, Controller, HttpCode, Post, Req, UseGuards } from '@nestjs/common';
import type { Request } from 'express';
import { ArrayMaxSize, IsArray, IsObject, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { PROVIDER_KEY_PATTERN, USER_ID_PATTERN } from '@authpipe/contracts';
import { correlationIdOf, Tenant, TenantAuthGuard, TenantPrincipal } from '@authpipe/http';
import { ConnectFlowService } from './connect-flow.service';

export class CreateConnectSessionBody {
  @Matches(PROVIDER_KEY_PATTERN, { message: 'must be a provider key such as gmail' }) provider: string;
  @Matches(USER_ID_PATTERN, { message: 'must be 1-128 characters of A-Z a-z 0-9 . _ @ : + | = -' }) userId: string;
  @IsOptional() @IsArray() @ArrayMaxSize(50) @IsString({ each: true }) @MaxLength(256, { each: true }) scopes?: string[];
  /** Provider-declared authorization parameters, e.g. Discord bot installs: { "permissions": "8", "guild_id": "..." }. */
  @IsOptional() @IsObject() params?: Record<string, string>;
  /** Origin of the page that opens the popup; the result is posted to it only. */
  @IsOptional() @Matches(/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/, { message: 'must be an origin such as https://app.example.com' }) returnOrigin?: string;
}

/** The tenant's backend asks for a connect session and hands only its token (or connectUrl) to its frontend. */
@Controller('v1/connect-sessions')
@UseGuards(TenantAuthGuard)
export class ConnectSessionsController {
  constructor(private readonly flow: ConnectFlowService) {}

  @Post()
  @HttpCode(201)
  create(@Tenant() tenant: TenantPrincipal, @Body() body: CreateConnectSessionBody, @Req() req: Request) {
    return this.flow.createSession({ ...body, tenantId: tenant.tenantId, correlationId: correlationIdOf(req) });
  }
}
