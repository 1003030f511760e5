import { Controller, Get, Res, UseGuards } from '@nestjs/common';
import type { Response } from 'express';
import { Tenant, TenantAuthGuard, TenantPrincipal } from '@authpipe/http';
import { TenantEventStreams } from './tenant-event-streams';

/** `GET /v1/events/stream`: the tenant's lifecycle events, live, as server-sent events. */
@Controller('v1/events')
@UseGuards(TenantAuthGuard)
export class EventStreamController {
  constructor(private readonly streams: TenantEventStreams) {}

  @Get('stream')
  stream(@Tenant() tenant: TenantPrincipal, @Res() res: Response): void {
    this.streams.open(tenant.tenantId, res);
  }
}
