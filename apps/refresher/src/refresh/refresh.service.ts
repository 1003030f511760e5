import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { connectionStream, ProviderFailureCode, ReadCredentialReply, RefreshConnectionReply, RpcErrorCodes } from '@authpipe/contracts';
import { isTransientFailure, RPC_CLIENT, RpcClient, RpcError } from '@authpipe/messaging';
import { ProviderCallError, ProviderOAuthClient, TokenSet } from '@authpipe/oauth';
import { CLOCK, Clock, CommandContext, CONFIG, EventWriter, failpoint, PROVIDER_CATALOG } from '@authpipe/platform';
import { ProviderCatalog } from '@authpipe/providers';
import type { RefreshLease, RefreshLock, StoreIntent } from '../lock/refresh-lock.port';
import { mustRenew, nextLook } from '../lock/lock-decisions';
import { RefresherConfig } from '../refresher.config';
import { EVENT_WRITER, REFRESH_LOCK } from '../refresher.tokens';
import { decideReconciliation, decideRefreshed, decideRefreshFailed, decideRevoked, RefreshTrigger, shouldRefresh } from './refresh-decisions';
import { decideAfterFailure, RefreshFailureClass, RetryPolicy } from './retry-policy';

/** How a flight ended. */
export type FlightResult =
  /** A new credential is stored (and Refreshed appended). */
  | { outcome: 'refreshed'; credentialVersion: number; expiresAt: string | null }
  /** Nothing to do: not due, or another worker refreshed it (a race is not a revocation). */
  | { outcome: 'fresh'; credentialVersion: number; expiresAt: string | null }
  /** Another worker holds the lock (a scheduled flight does not wait; an on-demand one waited in vain). */
  | { outcome: 'busy'; holder: string; until: number }
  /** Superseded while holding the lock (this process stalled past its lease): stopped before calling the provider. */
  | { outcome: 'lost_lock' }
  | { outcome: 'revoked' }
  /** No credential any more (disconnected, erased). */
  | { outcome: 'gone' }
  /** The flight gave up; `resumeAfterMs` is the provider's Retry-After when it asked for a pause. */
  | { outcome: 'failed'; failure: RefreshFailureClass; code: ProviderFailureCode; resumeAfterMs?: number };

/** What the scheduler (and the metrics) hear about every flight of this process, scheduled or on demand. */
export type FlightReport = { connectionId: string; tenantId: string; provider?: string; trigger: RefreshTrigger['kind']; durationMs: number } & (
  | FlightResult
  | { outcome: 'error'; retryable: boolean }
);

/** An attempt failed and the flight will try again; the retry is expected to end by `retryEndsBy` (epoch ms). */
type AttemptFailedListener = (code: ProviderFailureCode, retryEndsBy: number) => void;

type Flight = {
  trigger: RefreshTrigger;
  result: Promise<FlightResult>;
  /** The last failed attempt's classification, while the flight goes on retrying. */
  lastFailure?: ProviderFailureCode;
  attemptFailed: AttemptFailedListener[];
};

/** The typed NATS error an on-demand request gets for a provider failure: retryable for the transient ones. */
export function rpcErrorForProviderFailure(code: ProviderFailureCode, connectionId: string): RpcError {
  const message = `refresh of ${connectionId} failed: ${code}`;
  switch (code) {
    case 'provider_timeout':
      return new RpcError(RpcErrorCodes.ProviderTimeout, message);
    case 'provider_unavailable':
    case 'provider_rate_limited':
      return new RpcError(RpcErrorCodes.ProviderUnavailable, message);
    case 'invalid_provider_response':
      return new RpcError(RpcErrorCodes.InvalidProviderResponse, message);
    default:
      return new RpcError(RpcErrorCodes.ProviderError, message);
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Refreshes connections, one flight per connection at a time across every replica (the RefreshLock):
 * 1. take the lock (a scheduled flight skips a connection someone else holds; an on-demand one waits for the
 *    holder and then finds the credential fresh);
 * 2. read the credential under the lock; record the Refreshed a previous refresh may have left unrecorded (the note
 *    in the lock record); decide whether it still needs refreshing;
 * 3. call the token endpoint, renewing the lease first, retrying transient failures with backoff;
 * 4. note in the lock record what is about to be stored, then store the new credential (with the old refresh token
 *    when the provider sent none) compare-and-set on the version refreshed, before anything else: the second fence
 *    after the lock;
 * 5. append Refreshed (its eventId derived from connection, life and version), RefreshFailed or Revoked; drop the note.
 *
 * The store in vault and the append are two writes. A worker that dies between them (or loses vault's reply) leaves
 * its note in the lock record, and the next holder of the lock appends the missing Refreshed from it (step 2), with
 * the same eventId, so the history records every stored credential version exactly once.
 */
@Injectable()
export class RefreshService {
  private readonly logger = new Logger(RefreshService.name);
  private readonly inFlight = new Map<string, Flight>();
  private readonly listeners: ((report: FlightReport) => void)[] = [];
  private readonly retryPolicy: RetryPolicy;
  /** One attempt: the provider call, then the store. */
  private readonly attemptBudgetMs: number;

  constructor(
    @Inject(CONFIG) private readonly config: RefresherConfig,
    @Inject(PROVIDER_CATALOG) private readonly catalog: ProviderCatalog,
    @Inject(RPC_CLIENT) private readonly rpc: RpcClient,
    @Inject(EVENT_WRITER) private readonly events: EventWriter,
    @Inject(REFRESH_LOCK) private readonly lock: RefreshLock,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {
    this.attemptBudgetMs = config.PROVIDER_TIMEOUT_MS + config.AUTHPIPE_RPC_TIMEOUT_MS;
    this.retryPolicy = { maxAttempts: config.REFRESH_MAX_ATTEMPTS, baseDelayMs: config.REFRESH_BACKOFF_BASE_MS, maxDelayMs: config.REFRESH_BACKOFF_MAX_MS };
  }

  /** Hear how every flight ends (the scheduler moves its plans by it). */
  onFlightEnded(listener: (report: FlightReport) => void): void {
    this.listeners.push(listener);
  }

  isInFlight(connectionId: string): boolean {
    return this.inFlight.has(connectionId);
  }

  /** Flights of this process not yet ended. */
  get flightsInProgress(): number {
    return this.inFlight.size;
  }

  /** Resolves once no flight of this process is running (shutdown waits for them to store their result). */
  async whenIdle(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight.values()].map((flight) => flight.result));
  }

  /**
   * A read found the credential inside its margin. Joins a flight of this process, or starts one that waits for
   * another replica's; answers within REFRESH_ON_DEMAND_WAIT_MS, while the flight goes on retrying if it must:
   * as soon as a failed attempt's retry is not expected to end before then (it would take as long as the failed
   * attempt: a timed-out one, the full PROVIDER_TIMEOUT_MS), with that failure's code (PROVIDER_TIMEOUT,
   * PROVIDER_UNAVAILABLE: retryable), else at the deadline (the last failure's code, or UNAVAILABLE).
   */
  async refreshOnDemand(tenantId: string, connectionId: string, correlationId: string): Promise<RefreshConnectionReply> {
    const deadline = this.clock.now().getTime() + this.config.REFRESH_ON_DEMAND_WAIT_MS;
    const joined = this.inFlight.get(connectionId);
    let flight = joined;
    let result = joined ? await this.within(this.orHopeless(joined, deadline), deadline) : undefined;
    // A scheduled flight does not wait for another replica's lock; an on-demand request does.
    const skipped = result && joined?.trigger.kind === 'scheduled' && (result.outcome === 'busy' || result.outcome === 'lost_lock');
    if (!joined || skipped) {
      const running = this.inFlight.get(connectionId);
      flight = running && running !== joined ? running : this.start(tenantId, connectionId, { kind: 'on_demand' }, correlationId, deadline);
      result = await this.within(this.orHopeless(flight, deadline), deadline);
    }
    if (!result) {
      if (flight?.lastFailure) throw rpcErrorForProviderFailure(flight.lastFailure, connectionId);
      throw new RpcError(RpcErrorCodes.Unavailable, `the refresh of ${connectionId} is still in progress`);
    }
    switch (result.outcome) {
      case 'refreshed':
      case 'fresh':
        return { outcome: result.outcome, credentialVersion: result.credentialVersion, expiresAt: result.expiresAt };
      case 'revoked':
        throw new RpcError(RpcErrorCodes.Revoked, `the provider rejected the refresh token of ${connectionId} (invalid_grant)`);
      case 'gone':
        throw new RpcError(RpcErrorCodes.NotFound, `no credential is stored for ${connectionId}`);
      case 'failed':
        throw rpcErrorForProviderFailure(result.code, connectionId);
      case 'busy':
      case 'lost_lock':
        throw new RpcError(RpcErrorCodes.Unavailable, `another worker is refreshing ${connectionId}`);
    }
  }

  /** The scheduler found a connection due for the credential version it planned for. */
  refreshScheduled(plan: { tenantId: string; connectionId: string; credentialVersion: number }): Promise<FlightResult> {
    const running = this.inFlight.get(plan.connectionId);
    if (running) return running.result;
    const correlationId = `refresh-${randomUUID()}`;
    return this.start(plan.tenantId, plan.connectionId, { kind: 'scheduled', plannedVersion: plan.credentialVersion }, correlationId, 0).result;
  }

  /**
   * The flight's result, or a `failed` one as soon as an attempt failed whose retry could not end before `deadline`
   * (the caller then answers with that failure rather than wait in vain; the flight goes on).
   */
  private orHopeless(flight: Flight, deadline: number): Promise<FlightResult> {
    const hopeless = new Promise<FlightResult>((resolve) =>
      flight.attemptFailed.push((code, retryEndsBy) => {
        if (retryEndsBy > deadline) resolve({ outcome: 'failed', failure: 'transient', code });
      }),
    );
    return Promise.race([flight.result, hopeless]);
  }

  private start(tenantId: string, connectionId: string, trigger: RefreshTrigger, correlationId: string, waitUntil: number): Flight {
    const startedAt = performance.now();
    const flight: Flight = { trigger, result: Promise.resolve({ outcome: 'lost_lock' }), attemptFailed: [] };
    const result = this.fly(tenantId, connectionId, trigger, correlationId, waitUntil, flight);
    flight.result = result;
    this.inFlight.set(connectionId, flight);
    const ended = () => ({ connectionId, tenantId, trigger: trigger.kind, durationMs: performance.now() - startedAt });
    result.then(
      (r) => this.report({ ...ended(), ...r }),
      // A nats-server restart or an event store outage is temporary too: retry soon, not after the cooldown.
      (err: unknown) => this.report({ ...ended(), outcome: 'error', retryable: (err instanceof RpcError && err.retryable) || isTransientFailure(err) }),
    );
    void result.catch(() => undefined).finally(() => {
      if (this.inFlight.get(connectionId) === flight) this.inFlight.delete(connectionId);
    });
    return flight;
  }

  private report(report: FlightReport): void {
    for (const listener of this.listeners) {
      try {
        listener(report);
      } catch (err) {
        this.logger.error(`a flight listener failed: ${(err as Error).message}`);
      }
    }
  }

  private async within<T>(promise: Promise<T>, deadline: number): Promise<T | undefined> {
    const left = deadline - this.clock.now().getTime();
    if (left <= 0) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), left)));
    try {
      return await Promise.race([promise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async fly(tenantId: string, connectionId: string, trigger: RefreshTrigger, correlationId: string, waitUntil: number, flight: Flight): Promise<FlightResult> {
    let decidedBy = trigger;
    const acquired = await this.acquire(connectionId, waitUntil, async () => {
      // Someone else is refreshing: remember what vault holds now, so that after the wait a newer version is
      // recognised as that worker's result rather than refreshed again.
      const seen = await this.read(tenantId, connectionId, correlationId);
      if (seen && trigger.kind === 'on_demand') decidedBy = { kind: 'on_demand', seenVersion: seen.version };
    });
    if (!('token' in acquired)) return acquired;
    const held = { lease: acquired };
    try {
      return await this.refreshHolding(held, tenantId, connectionId, decidedBy, correlationId, flight);
    } finally {
      // Always released, whatever the provider did (slow, 5xx, garbage): a later refresh finds the lock free. If this
      // process dies first, the lease runs out after REFRESH_LOCK_LEASE_MS.
      await this.lock.release(held.lease).catch((err: Error) => this.logger.warn(`releasing the lock of ${connectionId} failed: ${err.message}`));
    }
  }

  /**
   * Take the lock, polling until `waitUntil` while another worker holds it (0 = do not wait). `onContended` runs
   * once, before the first wait.
   */
  private async acquire(
    connectionId: string,
    waitUntil: number,
    onContended: () => Promise<void>,
  ): Promise<RefreshLease | Extract<FlightResult, { outcome: 'busy' }>> {
    for (let waits = 0; ; waits++) {
      const now = this.clock.now().getTime();
      const attempt = await this.lock.tryAcquire(connectionId, now);
      if (attempt.acquired) {
        if (attempt.superseded) this.logger.warn(`took over the refresh lock of ${connectionId} from ${attempt.superseded}, whose lease ran out`);
        return attempt.lease;
      }
      const pause = nextLook(this.clock.now().getTime(), waitUntil, this.config.REFRESH_LOCK_POLL_MS, Math.random());
      if (pause === null) return { outcome: 'busy', holder: attempt.holder, until: attempt.until };
      if (waits === 0) await onContended();
      await sleep(pause);
    }
  }

  private async refreshHolding(
    held: { lease: RefreshLease },
    tenantId: string,
    connectionId: string,
    trigger: RefreshTrigger,
    correlationId: string,
    flight: Flight,
  ): Promise<FlightResult> {
    const current = await this.read(tenantId, connectionId, correlationId);
    if (!current) {
      held.lease = { ...held.lease, intent: undefined }; // disconnected or erased: nothing left to record
      return { outcome: 'gone' };
    }
    const connection = { connectionId, tenantId, provider: current.provider };
    const stream = connectionStream(connectionId);
    const context = { correlationId };
    await this.reconcile(held, current, connection, stream, context);
    const provider = this.catalog.get(current.provider);
    const fresh = (c: ReadCredentialReply): FlightResult => ({ outcome: 'fresh', credentialVersion: c.version, expiresAt: c.credential.expiresAt ?? null });
    if (!shouldRefresh(trigger, current, provider.oauth2?.refresh, this.clock.now())) return fresh(current);
    const refreshToken = current.credential.refreshToken!;

    const integration = await this.rpc.request('queryGetIntegration', { tenantId, provider: provider.key, correlationId });
    const secret = await this.rpc.request('vaultReadTenantSecret', {
      tenantId,
      ownerId: `integration-${provider.key}`,
      field: 'client_secret',
      caller: 'refresher',
      correlationId,
    });
    const client = new ProviderOAuthClient(provider, integration.clientId, this.config.PROVIDER_TIMEOUT_MS);

    let tokens: TokenSet;
    for (let attempt = 1; ; attempt++) {
      if (mustRenew(held.lease.expiresAt, this.clock.now().getTime(), this.attemptBudgetMs)) {
        const renewed = await this.lock.renew(held.lease, this.clock.now().getTime());
        if (!renewed) return { outcome: 'lost_lock' };
        held.lease = renewed;
      }
      const attemptStartedAt = this.clock.now().getTime();
      try {
        tokens = await client.refresh(refreshToken, secret.value, this.clock.now());
        break;
      } catch (err) {
        if (!(err instanceof ProviderCallError)) throw err;
        const decision = decideAfterFailure(
          { failure: err.failure, code: err.code, retryAfterSeconds: err.detail.retryAfterSeconds },
          attempt,
          this.retryPolicy,
          Math.random(),
        );
        if (decision.kind === 'check_for_race') {
          const again = await this.read(tenantId, connectionId, correlationId);
          if (!again) return { outcome: 'gone' };
          if (again.version !== current.version) return fresh(again);
          await this.events.decideAndAppend(stream, (history) => decideRevoked(history, connection), context);
          this.logger.warn(`connection ${connectionId} (${provider.key}): the provider refused its refresh token (invalid_grant): revoked`);
          return { outcome: 'revoked' };
        }
        await this.events.decideAndAppend(stream, (history) => decideRefreshFailed(history, connection, decision.report), context);
        if (decision.kind === 'give_up') {
          this.logger.warn(`refresh of ${connectionId} (${provider.key}) failed: ${err.failure} (${err.code}) at attempt ${attempt}; giving up for now`);
          return { outcome: 'failed', failure: err.failure, code: err.code, ...(decision.resumeAfterMs !== undefined ? { resumeAfterMs: decision.resumeAfterMs } : {}) };
        }
        this.logger.warn(`refresh of ${connectionId} (${provider.key}) failed: ${err.failure} (${err.code}) at attempt ${attempt}; retrying in ${decision.delayMs} ms`);
        flight.lastFailure = err.code;
        // The next attempt is expected to take as long as this one did (a timeout again: the full bound).
        const now = this.clock.now().getTime();
        const retryEndsBy = now + decision.delayMs + (now - attemptStartedAt);
        for (const listener of flight.attemptFailed) listener(err.code, retryEndsBy);
        // Keep the lock through the pause, so no other replica starts over at attempt 1 meanwhile.
        const extended = await this.lock.renew(held.lease, this.clock.now().getTime(), decision.delayMs);
        if (!extended) return { outcome: 'lost_lock' };
        held.lease = extended;
        await sleep(decision.delayMs);
      }
    }

    const rotated = Boolean(tokens.refreshToken && tokens.refreshToken !== refreshToken);
    const expiresAt = tokens.expiresAt?.toISOString() ?? null;
    await this.noteIntent(held, { version: current.version + 1, expiresAt, rotated, at: this.clock.now().getTime() }, connectionId);
    let stored;
    try {
      stored = await this.rpc.request('vaultStoreCredential', {
        tenantId,
        connectionId,
        provider: provider.key,
        credential: {
          ...current.credential,
          accessToken: tokens.accessToken,
          // Rotation-safe: a provider that sends no new refresh token keeps the old one valid.
          refreshToken: tokens.refreshToken ?? refreshToken,
          tokenType: tokens.tokenType,
          expiresAt,
          ...(tokens.grantedScopes ? { scopes: tokens.grantedScopes } : {}),
        },
        expectedVersion: current.version,
        correlationId,
      });
    } catch (err) {
      if (err instanceof RpcError && err.code === RpcErrorCodes.Conflict) {
        // A newer credential got there first (a reconnect): ours is dropped, theirs stays, and the note is moot.
        held.lease = { ...held.lease, intent: undefined };
        this.logger.warn(`connection ${connectionId}: the credential changed during the refresh; keeping the newer one`);
        const again = await this.read(tenantId, connectionId, correlationId);
        return again ? fresh(again) : { outcome: 'gone' };
      }
      // Anything else (vault timed out, went away) may have stored it all the same: the note stays for the next holder.
      throw err;
    }
    await failpoint('refresh.after-vault-store');
    const at = new Date(held.lease.intent?.at ?? this.clock.now().getTime());
    await this.events.decideAndAppend(stream, (history) => decideRefreshed(history, connection, { expiresAt, credentialVersion: stored.version, rotated }, at), context);
    held.lease = { ...held.lease, intent: undefined };
    this.logger.debug(`refreshed ${connectionId} (${provider.key}) to version ${stored.version} (${trigger.kind})`);
    return { outcome: 'refreshed', credentialVersion: stored.version, expiresAt };
  }

  /**
   * The lock record carries a note of a refresh that stored (or was storing) a credential: record its Refreshed if
   * vault holds that very credential and the history lacks it (decideReconciliation, decideRefreshed), then drop the
   * note; keep it while vault is behind it. Runs under the lock, before anything else is decided.
   */
  private async reconcile(
    held: { lease: RefreshLease },
    current: ReadCredentialReply,
    connection: { connectionId: string; tenantId: string; provider: string },
    stream: string,
    context: CommandContext,
  ): Promise<void> {
    const intent = held.lease.intent;
    if (!intent) return;
    const verdict = decideReconciliation(intent, { version: current.version, expiresAt: current.credential.expiresAt ?? null });
    if (verdict === 'keep') return;
    if (verdict === 'record') {
      const result = { expiresAt: intent.expiresAt, credentialVersion: intent.version, rotated: intent.rotated };
      const { events } = await this.events.decideAndAppend(stream, (history) => decideRefreshed(history, connection, result, new Date(intent.at)), context);
      if (events.length) {
        this.logger.warn(
          `connection ${connection.connectionId}: recorded the Refreshed of credential version ${intent.version}, which a refresh stored without recording it (its worker died or lost vault's reply)`,
        );
      }
    }
    held.lease = { ...held.lease, intent: undefined };
  }

  /**
   * Note in the lock record what is about to be stored, before the store (and renew the lease with it). If the note
   * cannot be written (the lease was superseded, or the lock store failed) the store still goes ahead: the provider
   * has already answered, a rotating provider has already invalidated the old refresh token, and vault's
   * compare-and-set on the version still fences the write. Only the repair of a crash right after it is lost then.
   */
  private async noteIntent(held: { lease: RefreshLease }, intent: StoreIntent, connectionId: string): Promise<void> {
    try {
      const noted = await this.lock.writeIntent(held.lease, intent, intent.at);
      if (noted) {
        held.lease = noted;
        return;
      }
      this.logger.warn(`connection ${connectionId}: the refresh lock was taken over before the store; storing without a note`);
    } catch (err) {
      this.logger.warn(`connection ${connectionId}: noting the store in the refresh lock failed (${(err as Error).name}); storing without a note`);
    }
    held.lease = { ...held.lease, intent: undefined };
  }

  private async read(tenantId: string, connectionId: string, correlationId: string): Promise<ReadCredentialReply | null> {
    try {
      return await this.rpc.request('vaultReadCredential', { tenantId, connectionId, caller: 'refresher', correlationId });
    } catch (err) {
      if (err instanceof RpcError && (err.code === RpcErrorCodes.NotFound || err.code === RpcErrorCodes.TenantErased)) return null;
      throw err;
    }
  }
}
