import { Controller, Delete, Get, HttpCode, Inject, Param, Query, Req, UseGuards } from '@nestjs/common';
import type { Request } from 'express';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { CONNECTION_ID_PATTERN, connectionStream, PROVIDER_KEY_PATTERN, USER_ID_PATTERN } from '@authpipe/contracts';
import type { EventStore } from '@authpipe/event-store';
import { correlationIdOf, Problem, Problems, Tenant, TenantAuthGuard, TenantPrincipal } from '@authpipe/http';
import { CONNECTIONS, ConnectionView } from '@authpipe/projections';
import { EVENT_STORE, READ_MODELS } from '@authpipe/platform';
import type { Filter, ReadModelStore } from '@authpipe/read-models';
import { ReadYourWrites } from '../read-your-writes/read-your-writes';
import { DisconnectService } from './disconnect.service';
import { afterCursor, encodeCursor, InvalidCursorError, pageSize, SORTS, SortKey, sortSpec } from './keyset-page';

export class ListConnectionsQuery {
  @IsOptional() @Matches(PROVIDER_KEY_PATTERN) provider?: string;
  @IsOptional() @Matches(USER_ID_PATTERN) userId?: string;
  @IsOptional() @IsIn(['connected', 'revoked', 'disconnected', 'erased']) status?: string;
  @IsOptional() @IsIn(['healthy', 'degraded']) health?: string;
  @IsOptional() @IsIn(SORTS) sort?: SortKey;
  /** Oversized pages are clamped to 100. */
  @IsOptional() @Type(() => Number) @IsInt() limit?: number;
  @IsOptional() @IsString() @MaxLength(600) cursor?: string;
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
  firstConnectedAt: c.firstConnectedAt ?? c.connectedAt,
  ...(c.lastRefreshedAt ? { lastRefreshedAt: c.lastRefreshedAt } : {}),
  ...(c.lastRefreshFailure ? { lastRefreshFailure: c.lastRefreshFailure } : {}),
  ...(c.revokedAt ? { revokedAt: c.revokedAt, revocationReason: c.revocationReason } : {}),
  ...(c.degradedAt ? { degradedAt: c.degradedAt } : {}),
  updatedAt: c.updatedAt,
});

/** Ids the timeline repeats on every line are left out; events carry no secrets. */
const timelineEntry = (e: { eventId: string; type: string; data: object; metadata: { occurredAt: string; producer: string } }) => {
  const { connectionId: _c, tenantId: _t, provider: _p, userId: _u, ...facts } = e.data as Record<string, unknown>;
  return { eventId: e.eventId, type: e.type, at: e.metadata.occurredAt, by: e.metadata.producer, data: facts };
};

@Controller('v1/connections')
@UseGuards(TenantAuthGuard)
export class ConnectionsController {
  constructor(
    @Inject(READ_MODELS) private readonly store: ReadModelStore,
    @Inject(EVENT_STORE) private readonly events: EventStore,
    private readonly disconnects: DisconnectService,
    private readonly readYourWrites: ReadYourWrites,
  ) {}

  /**
   * Filters are validated values, never raw query objects, so no MongoDB operator can be smuggled in. Pages are
   * keyset pages over an immutable sort key: stable while events arrive.
   */
  @Get()
  async list(@Tenant() tenant: TenantPrincipal, @Query() query: ListConnectionsQuery) {
    const sort = query.sort ?? '-firstConnectedAt';
    const limit = pageSize(query.limit);
    const filter: Filter = { tenantId: tenant.tenantId };
    for (const key of ['provider', 'userId', 'status', 'health'] as const) if (query[key]) filter[key] = query[key];
    let page: Filter = filter;
    if (query.cursor) {
      try {
        page = { $and: [filter, afterCursor(sort, query.cursor)] };
      } catch (err) {
        if (err instanceof InvalidCursorError) throw new Problem(400, err.code, 'Invalid cursor', `${err.message}; start again without a cursor`);
        throw err;
      }
    }
    const items = await this.store.collection<ConnectionView>(CONNECTIONS).find(page, { sort: sortSpec(sort), limit: limit + 1 });
    const more = items.length > limit;
    const shown = items.slice(0, limit);
    return { items: shown.map(connectionView), ...(more ? { next: encodeCursor(sort, shown[shown.length - 1]) } : {}) };
  }

  /** One connection with its timeline: every lifecycle event of its stream, oldest first. */
  @Get(':connectionId')
  async get(@Tenant() tenant: TenantPrincipal, @Param('connectionId') connectionId: string) {
    const found = await this.find(tenant, connectionId);
    const history = await this.events.readStream(connectionStream(connectionId));
    return { ...connectionView(found), timeline: history.map(timelineEntry) };
  }

  /** Disconnect: revoke at the provider where it can be revoked, append Disconnected, erase the secrets. */
  @Delete(':connectionId')
  @HttpCode(200)
  async disconnect(@Tenant() tenant: TenantPrincipal, @Param('connectionId') connectionId: string, @Req() req: Request) {
    const found = await this.find(tenant, connectionId);
    return this.disconnects.disconnect(found, correlationIdOf(req));
  }

  /** The connection, or 404 once the read models have caught up with the history (it may just have connected). */
  private async find(tenant: TenantPrincipal, connectionId: string): Promise<ConnectionView> {
    const found = CONNECTION_ID_PATTERN.test(connectionId)
      ? await this.readYourWrites.find(() => this.store.collection<ConnectionView>(CONNECTIONS).findOne({ _id: connectionId, tenantId: tenant.tenantId }))
      : null;
    if (!found) throw Problems.notFound('CONNECTION_NOT_FOUND', 'no such connection for this tenant');
    return found;
  }
}
