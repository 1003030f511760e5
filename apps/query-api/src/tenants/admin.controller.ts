import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Req, UseGuards } from '@nestjs/common';
import { CONNECTIONS, TENANTS, TenantView } from '@authpipe/projections';
import { EVENT_STORE, READ_MODELS } from '@authpipe/platform';
import type { EventStore } from '@authpipe/event-store';
import { rawEvent } from './raw-event';
import type { ReadModelStore } from '@authpipe/read-models';
import { RPC_CLIENT, RpcClient, RpcError } from '@authpipe/messaging';
import type { Request } from 'express';
import { IsOptional, IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { RpcErrorCodes, TENANT_ID_PATTERN, tenantStream } from '@authpipe/contracts';
import { correlationIdOf, Problems } from '@authpipe/http';
import { AdminGuard } from './admin.guard';
import { TenantCommands } from './tenant-commands.service';

export class CreateTenantBody {
  @Matches(TENANT_ID_PATTERN, { message: 'must be 2-63 characters of a-z 0-9 _ -, starting with a letter or digit' }) tenantId: string;
  @IsString() @MinLength(1) @MaxLength(200) name: string;
}

export class IssueApiKeyBody {
  @IsOptional() @IsString() @MaxLength(100) label?: string;
}

/** Operator routes, behind the admin token. */
@Controller('v1/admin/tenants')
@UseGuards(AdminGuard)
export class AdminController {
  constructor(
    private readonly tenants: TenantCommands,
    @Inject(RPC_CLIENT) private readonly rpc: RpcClient,
    @Inject(READ_MODELS) private readonly store: ReadModelStore,
    @Inject(EVENT_STORE) private readonly events: EventStore,
  ) {}

  @Post()
  @HttpCode(201)
  create(@Body() body: CreateTenantBody, @Req() req: Request) {
    return this.tenants.createTenant(body.tenantId, body.name, correlationIdOf(req));
  }

  /** A tenant as the operator sees it: status and its connections counted by status. */
  @Get(':tenantId')
  async get(@Param('tenantId') tenantId: string) {
    this.checkTenantId(tenantId);
    const tenant = await this.store.collection<TenantView>(TENANTS).findOne({ _id: tenantId });
    if (!tenant) throw Problems.notFound('TENANT_NOT_FOUND', `no tenant ${tenantId}`);
    const connections: Record<string, number> = {};
    for (const status of ['connected', 'revoked', 'disconnected', 'erased']) {
      connections[status] = await this.store.collection(CONNECTIONS).countDocuments({ tenantId, status });
    }
    return { tenantId, name: tenant.name, status: tenant.status, createdAt: tenant.createdAt, ...(tenant.erasedAt ? { erasedAt: tenant.erasedAt } : {}), connections };
  }

  /** The raw event history of a tenant's own stream (tenant, API keys, integrations), oldest first. */
  @Get(':tenantId/events')
  async tenantEvents(@Param('tenantId') tenantId: string) {
    this.checkTenantId(tenantId);
    return { streamId: tenantStream(tenantId), events: (await this.events.readStream(tenantStream(tenantId))).map(rawEvent) };
  }

  /** Crypto-shred a tenant: its data keys are destroyed, its connections erased, its API keys revoked. */
  @Delete(':tenantId')
  erase(@Param('tenantId') tenantId: string, @Req() req: Request) {
    this.checkTenantId(tenantId);
    return this.tenants.eraseTenant(tenantId, correlationIdOf(req));
  }

  /** A new data key version for the tenant; older versions keep decrypting until the rewrap moves them. */
  @Post(':tenantId/rotate-key')
  @HttpCode(200)
  async rotateKey(@Param('tenantId') tenantId: string, @Req() req: Request) {
    this.checkTenantId(tenantId);
    if (!(await this.store.collection<TenantView>(TENANTS).findOne({ _id: tenantId }))) throw Problems.notFound('TENANT_NOT_FOUND', `no tenant ${tenantId}`);
    try {
      return await this.rpc.request('vaultRotateTenantKey', { tenantId, correlationId: correlationIdOf(req) });
    } catch (err) {
      // vault's typed refusals are the operator's mistake, not ours: a 409 that says why, not a 500.
      if (err instanceof RpcError && err.code === RpcErrorCodes.NotFound) throw Problems.conflict('NO_DATA_KEY', `tenant ${tenantId} has no data key yet: one is created when its first secret is stored`);
      if (err instanceof RpcError && err.code === RpcErrorCodes.TenantErased) throw Problems.conflict('TENANT_ERASED', `tenant ${tenantId} is erased`);
      throw err;
    }
  }

  @Post(':tenantId/api-keys')
  @HttpCode(201)
  issueKey(@Param('tenantId') tenantId: string, @Body() body: IssueApiKeyBody, @Req() req: Request) {
    this.checkTenantId(tenantId);
    return this.tenants.issueApiKey(tenantId, body.label ?? 'default', correlationIdOf(req));
  }

  private checkTenantId(tenantId: string): void {
    if (!TENANT_ID_PATTERN.test(tenantId)) throw Problems.invalidRequest([{ field: 'tenantId', message: 'is not a tenant id' }]);
  }
}
