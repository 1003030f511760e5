import { Inject, Injectable } from '@nestjs/common';
import { tenantStream } from '@authpipe/contracts';
import { generateApiKey, Problems } from '@authpipe/http';
import { RPC_CLIENT, RpcClient } from '@authpipe/messaging';
import { EventWriter } from '@authpipe/platform';
import { ProjectionRunner } from '../projection.runner';
import { EVENT_WRITER } from '../query-api.tokens';
import { createTenant, eraseTenant, issueApiKey, TenantRuleError } from './tenant-decisions';

/** Operator commands on tenants. Each waits until its event is projected, so the caller can use the result at once. */
@Injectable()
export class TenantCommands {
  constructor(
    @Inject(EVENT_WRITER) private readonly events: EventWriter,
    @Inject(RPC_CLIENT) private readonly rpc: RpcClient,
    private readonly projections: ProjectionRunner,
  ) {}

  async createTenant(tenantId: string, name: string, correlationId: string): Promise<{ tenantId: string; name: string }> {
    const { position } = await this.run(() => this.events.decideAndAppend(tenantStream(tenantId), (h) => createTenant(h, tenantId, name), { correlationId }));
    await this.projections.waitFor(position);
    return { tenantId, name };
  }

  /** The key is returned once and never stored: only its hash goes into the event. */
  async issueApiKey(tenantId: string, label: string, correlationId: string): Promise<{ keyId: string; apiKey: string; label: string }> {
    const { key, keyId, keyHash } = generateApiKey();
    const { position } = await this.run(() =>
      this.events.decideAndAppend(tenantStream(tenantId), (h) => issueApiKey(h, tenantId, { keyId, keyHash, label }), { correlationId }),
    );
    await this.projections.waitFor(position);
    return { keyId, apiKey: key, label };
  }

  /**
   * Crypto-shredding: vault destroys the tenant's data keys first (from then on nothing of the tenant decrypts,
   * wherever it is kept), then TenantErased marks its connections erased and revokes its API keys. Both steps are
   * idempotent, so a failed call is simply repeated.
   */
  async eraseTenant(tenantId: string, correlationId: string): Promise<{ tenantId: string; erasedAt: string }> {
    await this.run(async () => {
      const history = await this.events.readStream(tenantStream(tenantId));
      if (!history.some((e) => e.type === 'TenantCreated')) throw new TenantRuleError('TENANT_NOT_FOUND', `no tenant ${tenantId}`);
    });
    const { erasedAt } = await this.rpc.request('vaultEraseTenant', { tenantId, correlationId }, { timeoutMs: 30_000 });
    const { position } = await this.run(() => this.events.decideAndAppend(tenantStream(tenantId), (h) => eraseTenant(h, tenantId), { correlationId }));
    await this.projections.waitFor(position);
    return { tenantId, erasedAt };
  }

  private async run<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (err) {
      if (err instanceof TenantRuleError) {
        throw err.code === 'TENANT_EXISTS' ? Problems.conflict(err.code, err.message) : Problems.notFound(err.code, err.message);
      }
      throw err;
    }
  }
}

