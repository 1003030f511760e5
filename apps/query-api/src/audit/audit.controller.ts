import { Controller, Get, Query, UseGuards } from '@nestjs/common';
import { Type } from 'class-transformer';
import { IsInt, IsISO8601, IsOptional, Matches, Max, Min } from 'class-validator';
import { CONNECTION_ID_PATTERN } from '@authpipe/contracts';
import { Tenant, TenantAuthGuard, TenantPrincipal } from '@authpipe/http';
import { JetStreamAuditLog } from './jetstream-audit-log';

export class AuditQuery {
  @IsOptional() @Matches(CONNECTION_ID_PATTERN) connectionId?: string;
  /** Cursor: the `next` of the previous page. */
  @IsOptional() @Matches(/^\d{1,15}$/, { message: 'must be the next cursor of a previous page' }) after?: string;
  @IsOptional() @IsISO8601() since?: string;
  /** Oversized pages are clamped to 500. */
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(100_000) limit?: number;
}

/** Every read of the tenant's secrets (which connection, which caller, when), oldest first, page by page. */
@Controller('v1/audit/reads')
@UseGuards(TenantAuthGuard)
export class AuditController {
  constructor(private readonly audit: JetStreamAuditLog) {}

  @Get()
  list(@Tenant() tenant: TenantPrincipal, @Query() query: AuditQuery) {
    return this.audit.list(tenant.tenantId, {
      ...(query.after ? { after: Number(query.after) } : {}),
      ...(query.since ? { since: new Date(query.since) } : {}),
      ...(query.connectionId ? { connectionId: query.connectionId } : {}),
      limit: Math.min(query.limit ?? 100, 500),
    });
  }
}
