import { Controller, Get, Inject, Query, UseGuards } from '@nestjs/common';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { Tenant, TenantAuthGuard, TenantPrincipal } from '@authpipe/http';
import { CONNECTIONS, hourOf, TENANT_ACTIVITY, TenantActivityView } from '@authpipe/projections';
import { CLOCK, Clock, PROVIDER_CATALOG, READ_MODELS } from '@authpipe/platform';
import { ProviderCatalog } from '@authpipe/providers';
import type { ReadModelStore } from '@authpipe/read-models';

export class OverviewQuery {
  /** How many hours of activity, ending now (default 24, at most 720). */
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(720) hours?: number;
}

const STATUSES = ['connected', 'revoked', 'disconnected', 'erased'] as const;

/** The tenant at a glance: connections by provider and status, and refresh and probe outcomes hour by hour. */
@Controller('v1/overview')
@UseGuards(TenantAuthGuard)
export class OverviewController {
  constructor(
    @Inject(READ_MODELS) private readonly store: ReadModelStore,
    @Inject(PROVIDER_CATALOG) private readonly catalog: ProviderCatalog,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  @Get()
  async overview(@Tenant() tenant: TenantPrincipal, @Query() query: OverviewQuery) {
    const connections = this.store.collection(CONNECTIONS);
    const byProvider: Record<string, Record<string, number>> = {};
    for (const provider of this.catalog.list()) {
      const counts: Record<string, number> = {};
      for (const status of STATUSES) counts[status] = await connections.countDocuments({ tenantId: tenant.tenantId, provider: provider.key, status });
      counts.degraded = await connections.countDocuments({ tenantId: tenant.tenantId, provider: provider.key, status: 'connected', health: 'degraded' });
      if (Object.values(counts).some((n) => n > 0)) byProvider[provider.key] = counts;
    }
    const since = new Date(this.clock.now().getTime() - (query.hours ?? 24) * 3_600_000).toISOString();
    const activity = await this.store
      .collection<TenantActivityView>(TENANT_ACTIVITY)
      .find({ tenantId: tenant.tenantId, hour: { $gte: hourOf(since) } }, { sort: { hour: 1 } });
    return {
      connections: byProvider,
      activity: activity.map(({ _id: _i, tenantId: _t, revisions: _r, ...hour }) => hour),
    };
  }
}
