import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { connectionStream } from '@authpipe/contracts';
import { RPC_CLIENT, RpcClient } from '@authpipe/messaging';
import { CONNECTIONS, ConnectionView, Projector } from '@authpipe/projections';
import { CONFIG, EventWriter, PROVIDER_CATALOG } from '@authpipe/platform';
import { ProviderCatalog } from '@authpipe/providers';
import type { ReadModelStore } from '@authpipe/read-models';
import { HealthMonitorConfig } from '../health-monitor.config';
import { EVENT_WRITER, MONITOR_PROJECTOR, MONITOR_STORE } from '../health-monitor.tokens';
import { classifyProbe, probeOffsetMs } from './probe-outcome';

/**
 * Probes every connected connection once per interval at a stable offset, so probes spread over the interval.
 * A probe answered with one of the provider's revoked statuses appends Revoked. The monitor keeps its own view of
 * which connections are active by projecting the lifecycle events.
 */
@Injectable()
export class ProbeScheduler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ProbeScheduler.name);
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private tick?: NodeJS.Timeout;

  constructor(
    @Inject(CONFIG) private readonly config: HealthMonitorConfig,
    @Inject(PROVIDER_CATALOG) private readonly catalog: ProviderCatalog,
    @Inject(RPC_CLIENT) private readonly rpc: RpcClient,
    @Inject(EVENT_WRITER) private readonly events: EventWriter,
    @Inject(MONITOR_PROJECTOR) private readonly projector: Projector,
    @Inject(MONITOR_STORE) private readonly store: ReadModelStore,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.projector.start();
    const intervalMs = this.config.PROBE_INTERVAL_SECONDS * 1000;
    // Every interval, schedule each active connection at its own offset inside the next interval.
    const plan = () => void this.planInterval(intervalMs).catch((err: Error) => this.logger.error(`planning probes failed: ${err.message}`));
    plan();
    this.tick = setInterval(plan, intervalMs);
  }

  private async planInterval(intervalMs: number): Promise<void> {
    const active = await this.store.collection<ConnectionView>(CONNECTIONS).find({ status: 'connected' });
    for (const connection of active) {
      clearTimeout(this.timers.get(connection._id));
      const timer = setTimeout(() => {
        this.timers.delete(connection._id);
        void this.probe(connection._id).catch((err: Error & { code?: string }) =>
          this.logger.warn(`probe of ${connection._id} could not run: ${err.code ?? err.name}`),
        );
      }, probeOffsetMs(connection._id, intervalMs));
      this.timers.set(connection._id, timer);
    }
  }

  /** Probe one connection now (if it is still connected). */
  async probe(connectionId: string): Promise<void> {
    const connection = await this.store.collection<ConnectionView>(CONNECTIONS).findOne({ _id: connectionId, status: 'connected' });
    if (!connection) return;
    const provider = this.catalog.get(connection.provider);
    const correlationId = `probe-${connectionId}-${Date.now()}`;
    const { credential } = await this.rpc.request('vaultReadCredential', { tenantId: connection.tenantId, connectionId, caller: 'health-monitor', correlationId });
    const authorization = credential.apiKey
      ? `Basic ${Buffer.from(`${credential.username ?? ''}:${credential.apiKey}`).toString('base64')}`
      : `Bearer ${credential.accessToken}`;
    let status: number | 'network_error';
    try {
      const response = await fetch(provider.probe.url, {
        method: provider.probe.method,
        headers: { authorization, accept: 'application/json' },
        signal: AbortSignal.timeout(this.config.PROBE_TIMEOUT_MS),
      });
      status = response.status;
      await response.body?.cancel();
    } catch {
      status = 'network_error';
    }
    const outcome = classifyProbe(status, provider.probe.revokedStatuses);
    if (outcome === 'revoked') {
      await this.events.decideAndAppend(
        connectionStream(connectionId),
        (history) => {
          const last = history[history.length - 1];
          // Only a connection whose latest lifecycle fact is still "connected" can be revoked by a probe.
          if (last && (last.type === 'Revoked' || last.type === 'Disconnected')) return [];
          return [{ type: 'Revoked', data: { connectionId, tenantId: connection.tenantId, provider: provider.key, reason: 'probe_unauthorized', detectedBy: 'health-monitor' } }];
        },
        { correlationId },
      );
      this.logger.log(`connection ${connectionId} (${provider.key}) is revoked at the provider`);
    } else if (outcome === 'transient') {
      this.logger.warn(`probe of ${connectionId} (${provider.key}) failed transiently: ${status}`);
    }
  }

  onApplicationShutdown(): void {
    if (this.tick) clearInterval(this.tick);
    for (const timer of this.timers.values()) clearTimeout(timer);
    void this.projector.stop();
  }
}
