import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Put, Req, UseGuards } from '@nestjs/common';
import type { Request } from 'express';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsString, MaxLength, MinLength } from 'class-validator';
import { tenantStream } from '@authpipe/contracts';
import { correlationIdOf, Problem, Problems, Tenant, TenantAuthGuard, TenantPrincipal } from '@authpipe/http';
import { RPC_CLIENT, RpcClient } from '@authpipe/messaging';
import { INTEGRATIONS, IntegrationView } from '@authpipe/projections';
import { EventWriter, PROVIDER_CATALOG, READ_MODELS } from '@authpipe/platform';
import { ProviderCatalog } from '@authpipe/providers';
import type { ReadModelStore } from '@authpipe/read-models';
import { ProjectionRunner } from '../projection.runner';
import { EVENT_WRITER } from '../query-api.tokens';
import { registerIntegration, removeIntegration, TenantRuleError } from '../tenants/tenant-decisions';

export class RegisterIntegrationBody {
  @IsString() @MinLength(1) @MaxLength(512) clientId: string;
  /** Kept by vault, encrypted; never returned by any endpoint. */
  @IsString() @MinLength(1) @MaxLength(4096) clientSecret: string;
  /** The scopes connect sessions may request. */
  @IsArray() @ArrayMinSize(1) @ArrayMaxSize(100) @IsString({ each: true }) @MaxLength(256, { each: true }) scopes: string[];
}

const view = (i: IntegrationView) => ({ provider: i.provider, clientId: i.clientId, scopes: i.scopes, updatedAt: i.updatedAt });

/** A tenant's own OAuth apps, one per provider. */
@Controller('v1/integrations')
@UseGuards(TenantAuthGuard)
export class IntegrationsController {
  constructor(
    @Inject(PROVIDER_CATALOG) private readonly catalog: ProviderCatalog,
    @Inject(RPC_CLIENT) private readonly rpc: RpcClient,
    @Inject(EVENT_WRITER) private readonly events: EventWriter,
    @Inject(READ_MODELS) private readonly store: ReadModelStore,
    private readonly projections: ProjectionRunner,
  ) {}

  @Get()
  async list(@Tenant() tenant: TenantPrincipal) {
    const items = await this.store.collection<IntegrationView>(INTEGRATIONS).find({ tenantId: tenant.tenantId, status: 'active' }, { sort: { provider: 1 } });
    return { items: items.map(view) };
  }

  /** Remove the tenant's OAuth app for a provider: the event first (no new connect sessions), then the secret is erased. */
  @Delete(':provider')
  @HttpCode(204)
  async remove(@Tenant() tenant: TenantPrincipal, @Param('provider') providerKey: string, @Req() req: Request): Promise<void> {
    if (!this.catalog.has(providerKey)) throw Problems.unknownProvider(providerKey);
    const correlationId = correlationIdOf(req);
    let position: bigint | undefined;
    try {
      ({ position } = await this.events.decideAndAppend(tenantStream(tenant.tenantId), (h) => removeIntegration(h, tenant.tenantId, providerKey), { correlationId }));
    } catch (err) {
      if (err instanceof TenantRuleError) throw Problems.notFound(err.code, err.message);
      throw err;
    }
    await this.rpc.request('vaultEraseTenantSecret', { tenantId: tenant.tenantId, ownerId: `integration-${providerKey}`, field: 'client_secret', correlationId });
    await this.projections.waitFor(position);
  }

  /** Register or replace the tenant's OAuth app for a provider: the secret goes to vault first, then the event. */
  @Put(':provider')
  async register(@Tenant() tenant: TenantPrincipal, @Param('provider') providerKey: string, @Body() body: RegisterIntegrationBody, @Req() req: Request) {
    if (!this.catalog.has(providerKey)) throw Problems.unknownProvider(providerKey);
    const provider = this.catalog.get(providerKey);
    if (!provider.oauth2) throw new Problem(400, 'UNSUPPORTED_AUTH_MODEL', 'Not an OAuth provider', `${provider.key} uses API keys; it needs no OAuth app`);
    const known = new Set(provider.oauth2.scopes.map((s) => s.name));
    const unknown = body.scopes.filter((s) => !known.has(s));
    if (unknown.length) {
      throw Problems.invalidRequest(unknown.map((s) => ({ field: 'scopes', message: `"${s.slice(0, 100)}" is not a ${provider.key} scope; GET /v1/providers/${provider.key} lists them` })));
    }
    const correlationId = correlationIdOf(req);
    const stored = await this.rpc.request('vaultStoreTenantSecret', {
      tenantId: tenant.tenantId,
      ownerId: `integration-${provider.key}`,
      field: 'client_secret',
      value: body.clientSecret,
      correlationId,
    });
    const integration = { tenantId: tenant.tenantId, provider: provider.key, clientId: body.clientId, scopes: [...new Set(body.scopes)], vaultVersion: stored.version };
    const { position } = await this.events.decideAndAppend(tenantStream(tenant.tenantId), (h) => registerIntegration(h, integration), { correlationId });
    await this.projections.waitFor(position);
    return { provider: integration.provider, clientId: integration.clientId, scopes: integration.scopes };
  }
}
