import { Controller, Get, Inject, Param, Query, UseGuards } from '@nestjs/common';
import { IsIn, IsOptional, Matches } from 'class-validator';
import { CONNECTION_ID_PATTERN, PROVIDER_KEY_PATTERN, USER_ID_PATTERN } from '@authpipe/contracts';
import { Problems, Tenant, TenantAuthGuard, TenantPrincipal } from '@authpipe/http';
import { CONNECTIONS, ConnectionView } from '@authpipe/projections';
import { READ_MODELS } from '@authpipe/platform';
import type { ReadModelStore } from '@authpipe/read-models';

export class ListConnectionsQuery {
  @IsOptional() @Matches(PROVIDER_KEY_PATTERN) provider?: string;
  @IsOptional() @Matches(USER_ID_PATTERN) userId?: string;
  @IsOptional() @IsIn(['connected', 'revoked', 'disconnected', 'erased']) status?: string;
}

/** The public shape of a connection: facts only, internal bookkeeping left out. */
export const connectionView = (c: ConnectionView) => ({
  connectionId: c._id,
  provider: c.provider,
  userId: c.userId,
  status: c.status,
  health: c.health ?? 'healthy',
  scopes: c.scopes,
  expiresAt: c.expiresAt,
  refreshable: c.refreshable,
  metadata: c.metadata ?? {},
  connectedAt: c.connectedAt,
  ...(c.lastRefreshedAt ? { lastRefreshedAt: c.lastRefreshedAt } : {}),
  ...(c.revokedAt ? { revokedAt: c.revokedAt, revocationReason: c.revocationReason } : {}),
  updatedAt: c.updatedAt,
});

@Controller('v1/connections')
@UseGuards(TenantAuthGuard)
export class ConnectionsController {
  constructor(@Inject(READ_MODELS) private readonly store: ReadModelStore) {}

  /** Filters are validated values, never raw query objects, so no MongoDB operator can be smuggled in. */
  @Get()
  async list(@Tenant() tenant: TenantPrincipal, @Query() query: ListConnectionsQuery) {
    const filter = { tenantId: tenant.tenantId, ...query };
    const items = await this.store.collection<ConnectionView>(CONNECTIONS).find(filter, { sort: { connectedAt: -1, _id: 1 }, limit: 100 });
    return { items: items.map(connectionView) };
  }

  @Get(':connectionId')
  async get(@Tenant() tenant: TenantPrincipal, @Param('connectionId') connectionId: string) {
    const found = CONNECTION_ID_PATTERN.test(connectionId)
      ? await this.store.collection<ConnectionView>(CONNECTIONS).findOne({ _id: connectionId, tenantId: tenant.tenantId })
      : null;
    if (!found) throw Problems.notFound('CONNECTION_NOT_FOUND', 'no such connection for this tenant');
    return connectionView(found);
  }
}
