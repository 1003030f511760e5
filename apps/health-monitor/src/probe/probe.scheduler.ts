import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { AuthpipeEvent, connectionStream, ReadCredentialReply, RecordedEvent } from '@authpipe/contracts';
import { RPC_CLIENT, RpcClient } from '@authpipe/messaging';
import { CONNECTIONS, ConnectionView, Projector } from '@authpipe/projections';
import { CLOCK, Clock, CONFIG, EventWriter, PROVIDER_CATALOG } from '@authpipe/platform';
import { ProviderCatalog } from '@authpipe/providers';
import type { ReadModelStore } from '@authpipe/read-models';
import {
  ConnectionRef,
  countFailures,
  decideExpired,
  decideOnProbe,
  HealthSettings,
  planProbe,
  ProbeResult,
  stateFromHistory,
  stateFromView,
} from '../health/health-decisions';
import { HealthMonitorConfig } from '../health-monitor.config';
import { EVENT_WRITER, MONITOR_PROJECTOR, MONITOR_STORE } from '../health-monitor.tokens';
import { KeyedConcurrencyLimiter } from './concurrency-limiter';
import { classifyProbe, failureOf, ProbeAnswer, ProbeOutcome } from './probe-outcome';
import { nextProbeAt } from './probe-schedule';
import { callProbe } from './provider-probe';

/** How often the list of active connections is re-read to arm new connections and drop ended ones (at most). */
const RECONCILE_EVERY_MS = 30_000;
/** A token expiring sooner than this is not probed: it could expire in flight and its 401 look like a revocation. */
const EXPIRY_SKEW_MS = 60_000;

/** One probe sent to a provider: what it answered, how it was classified, how long it took. */
export interface ProbeReport {
  provider: string;
  answer: ProbeAnswer;
  outcome: ProbeOutcome;
  durationMs: number;
}

/**
 * Probes every active connection once per interval, each at its own stable slot (probe-schedule.ts), with at most
 * PROBE_CONCURRENCY_PER_PROVIDER probes running against one provider. What a probe means is decided by the pure
 * functions in health/health-decisions.ts; this class only does the I/O around them.
 *
 * Consecutive transient failures are counted in memory per connection: a restart starts counting again, so after
 * a restart Degraded comes at the earliest PROBE_DEGRADED_AFTER probes later. Whether a connection is degraded is
 * not in memory: it comes from the history, so Degraded is never appended twice and Recovered survives restarts.
 */
@Injectable()
export class ProbeScheduler implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(ProbeScheduler.name);
  private readonly intervalMs: number;
  private readonly settings: HealthSettings;
  private readonly limiter: KeyedConcurrencyLimiter;
  /** The next probe of each active connection. */
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Transient failures in a row per connection (in memory only). */
  private readonly failures = new Map<string, number>();
  /** Probes queued or running, so that a slow provider never gets a second probe of one connection at once. */
  private readonly inFlight = new Map<string, Promise<void>>();
  private reconcileTimer?: NodeJS.Timeout;
  private stopping = false;
  private readonly probeListeners: ((report: ProbeReport) => void)[] = [];

  constructor(
    @Inject(CONFIG) private readonly config: HealthMonitorConfig,
    @Inject(PROVIDER_CATALOG) private readonly catalog: ProviderCatalog,
    @Inject(RPC_CLIENT) private readonly rpc: RpcClient,
    @Inject(EVENT_WRITER) private readonly events: EventWriter,
    @Inject(MONITOR_PROJECTOR) private readonly projector: Projector,
    @Inject(MONITOR_STORE) private readonly store: ReadModelStore,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {
    this.intervalMs = config.PROBE_INTERVAL_SECONDS * 1000;
    this.limiter = new KeyedConcurrencyLimiter(config.PROBE_CONCURRENCY_PER_PROVIDER);
    this.settings = {
      degradedAfter: config.PROBE_DEGRADED_AFTER,
      refreshGraceMs: config.PROBE_EXPIRED_REFRESH_GRACE_SECONDS * 1000,
      expirySkewMs: EXPIRY_SKEW_MS,
    };
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.projector.start();
    await this.reconcile();
    this.reconcileTimer = setInterval(
      () => void this.reconcile().catch((err: Error) => this.logger.error(`reading the active connections failed: ${err.message}`)),
      Math.min(this.intervalMs, RECONCILE_EVERY_MS),
    );
    this.logger.log(
      `probing every ${this.config.PROBE_INTERVAL_SECONDS} s, at most ${this.config.PROBE_CONCURRENCY_PER_PROVIDER} at once per provider, ` +
        `degraded after ${this.config.PROBE_DEGRADED_AFTER} transient failures in a row`,
    );
  }

  /** Hear every probe sent (metrics). */
  onProbed(listener: (report: ProbeReport) => void): void {
    this.probeListeners.push(listener);
  }

  /** Arm a timer for every active connection that has none; drop the timers of connections no longer active. */
  private async reconcile(): Promise<void> {
    if (this.stopping) return;
    const active = new Set((await this.store.collection<ConnectionView>(CONNECTIONS).find({ status: 'connected' })).map((c) => c._id));
    for (const id of active) if (!this.timers.has(id)) this.arm(id, Date.now());
    for (const [id, timer] of this.timers) {
      if (active.has(id)) continue;
      clearTimeout(timer);
      this.timers.delete(id);
      this.failures.delete(id);
    }
  }

  private arm(connectionId: string, afterMs: number): void {
    const slot = nextProbeAt(connectionId, this.intervalMs, afterMs);
    this.timers.set(connectionId, setTimeout(() => this.fire(connectionId, slot), Math.max(0, slot - Date.now())));
  }

  private fire(connectionId: string, slot: number): void {
    if (this.stopping) return;
    this.arm(connectionId, slot); // the next slot, exactly one interval later
    if (this.inFlight.has(connectionId)) {
      this.logger.debug(`probe of ${connectionId} still queued or running: slot skipped`);
      return;
    }
    const run = this.probeNow(connectionId)
      .catch((err: Error & { code?: string }) => this.logger.warn(`probe of ${connectionId} could not run: ${err.code ?? err.name}`))
      .finally(() => this.inFlight.delete(connectionId));
    this.inFlight.set(connectionId, run);
  }

  /** Probe one connection now (if it is still connected), within its provider's concurrency limit. */
  private async probeNow(connectionId: string): Promise<void> {
    const view = await this.activeConnection(connectionId);
    if (!view) return;
    await this.limiter.run(view.provider, () => this.probe(connectionId));
  }

  private activeConnection(connectionId: string): Promise<ConnectionView | null> {
    return this.store.collection<ConnectionView>(CONNECTIONS).findOne({ _id: connectionId, status: 'connected' });
  }

  private async probe(connectionId: string): Promise<void> {
    if (this.stopping) return;
    // Read again: the connection may have changed while the probe waited for a slot.
    const view = await this.activeConnection(connectionId);
    if (!view) return;
    const provider = this.catalog.get(view.provider);
    const connection: ConnectionRef = { connectionId, tenantId: view.tenantId, provider: provider.key };
    const refresh = provider.oauth2?.refresh;
    const marginMs = refresh?.supported ? refresh.marginSeconds * 1000 : 0;
    const correlationId = `probe-${connectionId}-${Date.now()}`;

    let plan = planProbe(stateFromView(view), marginMs, this.clock.now(), this.settings);
    let read: ReadCredentialReply | undefined;
    if (plan.action === 'probe') {
      read = await this.readCredential(connection, correlationId);
      // Vault has the newest expiry; the read model may not have projected the latest Refreshed yet.
      const expiresAt = read.credential.expiresAt === undefined ? view.expiresAt : read.credential.expiresAt;
      plan = planProbe({ ...stateFromView(view), expiresAt }, marginMs, this.clock.now(), this.settings);
    }
    if (plan.action === 'skip') {
      this.logger.debug(`probe of ${connectionId} skipped: ${plan.reason === 'refresher' ? 'inside its refresh margin (the refresher refreshes it)' : 'token about to expire'}`);
      return;
    }
    if (plan.action === 'revoke_expired') {
      this.failures.delete(connectionId);
      await this.append(connection, (history) => decideExpired(stateFromHistory(history), connection, marginMs, this.clock.now(), this.settings), correlationId);
      return;
    }

    const sentAt = performance.now();
    const answer = await callProbe(provider.probe, read!.credential, this.config.PROVIDER_TIMEOUT_MS);
    const outcome = classifyProbe(answer, provider.probe.revokedStatuses);
    for (const listener of this.probeListeners) listener({ provider: provider.key, answer, outcome, durationMs: performance.now() - sentAt });
    if (outcome === 'revoked') {
      // A refresh or reconnect during the probe may have replaced the token we sent: a race, not a revocation.
      const again = await this.readCredential(connection, correlationId);
      if (again.version !== read!.version) {
        this.logger.log(`probe of ${connectionId} got ${answer} but its credential changed meanwhile: probing again at its next slot`);
        return;
      }
    }
    const failuresInARow = countFailures(this.failures.get(connectionId) ?? 0, outcome);
    if (failuresInARow) this.failures.set(connectionId, failuresInARow);
    else this.failures.delete(connectionId);
    if (outcome === 'transient') this.logger.warn(`probe of ${connectionId} (${provider.key}) failed transiently: ${answer} (${failuresInARow} in a row)`);

    const result: ProbeResult = { outcome, failuresInARow, ...(outcome === 'transient' ? { failure: failureOf(answer) } : {}) };
    // The read model is a cheap first check; the history decides whenever something may be appended.
    if (!decideOnProbe(stateFromView(view), connection, result, this.settings).length) return;
    await this.append(connection, (history) => decideOnProbe(stateFromHistory(history), connection, result, this.settings), correlationId);
  }

  private readCredential(connection: ConnectionRef, correlationId: string): Promise<ReadCredentialReply> {
    return this.rpc.request('vaultReadCredential', { tenantId: connection.tenantId, connectionId: connection.connectionId, caller: 'health-monitor', correlationId });
  }

  private async append(connection: ConnectionRef, decide: (history: RecordedEvent[]) => AuthpipeEvent[], correlationId: string): Promise<void> {
    const { events } = await this.events.decideAndAppend(connectionStream(connection.connectionId), decide, { correlationId });
    for (const event of events) {
      const { connectionId, provider } = connection;
      switch (event.type) {
        case 'Revoked':
          this.logger.log(`connection ${connectionId} (${provider}) is revoked: ${event.data.reason}`);
          break;
        case 'Degraded':
          this.logger.warn(`connection ${connectionId} (${provider}) is degraded: ${event.data.consecutiveFailures} failed probes in a row, last ${event.data.lastFailure}`);
          break;
        case 'Recovered':
          this.logger.log(`connection ${connectionId} (${provider}) recovered`);
          break;
      }
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    // Let running probes finish (queued ones return at once), within the shutdown grace period.
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inFlight.values()]),
      new Promise((resolve) => (grace = setTimeout(resolve, this.config.AUTHPIPE_SHUTDOWN_GRACE_MS))),
    ]);
    clearTimeout(grace);
    await this.projector.stop();
  }
}
