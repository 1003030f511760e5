import type { ConnectionView } from '@authpipe/projections';
import { refreshDueAt } from './refresh-schedule';

/** One connection's next scheduled refresh. Times are epoch milliseconds. */
export interface RefreshPlan {
  connectionId: string;
  tenantId: string;
  provider: string;
  /** The credential version the plan was made for: a newer one in vault means someone already refreshed. */
  credentialVersion: number;
  expiresAt: number;
  dueAt: number;
  /** Not before this time: after a flight that failed for good, or while another worker holds the lock. */
  deferredUntil?: number;
}

/** The provider's refresh timing from the catalog, or null when the provider does not refresh. */
export type TimingOf = (provider: string) => { marginSeconds: number; jitterSeconds: number } | null;

type PlannableView = Pick<
  ConnectionView,
  '_id' | 'tenantId' | 'provider' | 'status' | 'refreshable' | 'expiresAt' | 'credentialVersion' | 'connectedAt' | 'lastRefreshedAt'
>;

const integrationKey = (tenantId: string, provider: string) => `${tenantId}/${provider}`;

/**
 * The refresher's schedule: one plan per refreshable, connected connection. Fed by the connections view (a plan is
 * made when a credential version is first seen, so one expiry keeps one jitter draw) and by what flights learn from
 * vault before the events come back. Finding due plans is a scan: cheap next to a refresh even at 10,000 plans.
 */
export class RefreshPlanBook {
  private readonly plans = new Map<string, RefreshPlan>();
  /** tenant/provider -> until: the tenant's OAuth app was refused (invalid_client); wait for it to be fixed. */
  private readonly blockedIntegrations = new Map<string, number>();

  constructor(
    private readonly timingOf: TimingOf,
    private readonly random: () => number = Math.random,
  ) {}

  get size(): number {
    return this.plans.size;
  }

  get(connectionId: string): RefreshPlan | undefined {
    return this.plans.get(connectionId);
  }

  /** Plan, re-plan (a newer credential version) or drop a connection as the view now shows it. */
  upsert(view: PlannableView): void {
    const timing = this.timingOf(view.provider);
    if (view.status !== 'connected' || !view.refreshable || !view.expiresAt || !timing) {
      this.plans.delete(view._id);
      return;
    }
    const current = this.plans.get(view._id);
    if (current && current.credentialVersion >= view.credentialVersion) return;
    const issuedAt = Math.max(Date.parse(view.connectedAt), view.lastRefreshedAt ? Date.parse(view.lastRefreshedAt) : 0);
    this.plan(view._id, view.tenantId, view.provider, view.credentialVersion, Date.parse(view.expiresAt), issuedAt);
  }

  /**
   * A newer credential of a planned connection: Refreshed (issued at the event's time), or what a flight read or
   * stored in vault before the event came back (issued now). A connection that is not planned (revoked, not
   * refreshable) stays unplanned.
   */
  refreshed(connectionId: string, credential: { version: number; expiresAt: string | null | undefined }, issuedAt: number): void {
    const current = this.plans.get(connectionId);
    if (!current || credential.version <= current.credentialVersion) return;
    if (!credential.expiresAt) {
      this.plans.delete(connectionId);
      return;
    }
    this.plan(connectionId, current.tenantId, current.provider, credential.version, Date.parse(credential.expiresAt), issuedAt);
  }

  defer(connectionId: string, until: number): void {
    const current = this.plans.get(connectionId);
    if (current) current.deferredUntil = until;
  }

  remove(connectionId: string): void {
    this.plans.delete(connectionId);
  }

  removeTenant(tenantId: string): void {
    for (const [id, plan] of this.plans) if (plan.tenantId === tenantId) this.plans.delete(id);
  }

  blockIntegration(tenantId: string, provider: string, until: number): void {
    this.blockedIntegrations.set(integrationKey(tenantId, provider), until);
  }

  /** The tenant registered its OAuth app again: its connections may refresh at once. */
  unblockIntegration(tenantId: string, provider: string): void {
    this.blockedIntegrations.delete(integrationKey(tenantId, provider));
  }

  /** Plans due at `now`, the earliest expiry first, at most `limit`, leaving out those `skip` names (in flight). */
  due(now: number, limit: number, skip: (connectionId: string) => boolean): RefreshPlan[] {
    if (limit <= 0) return [];
    const due: RefreshPlan[] = [];
    for (const plan of this.plans.values()) {
      if (plan.dueAt > now || (plan.deferredUntil ?? 0) > now || skip(plan.connectionId)) continue;
      const blockedUntil = this.blockedIntegrations.get(integrationKey(plan.tenantId, plan.provider));
      if (blockedUntil !== undefined && blockedUntil > now) continue;
      due.push(plan);
    }
    due.sort((a, b) => a.expiresAt - b.expiresAt);
    return due.slice(0, limit);
  }

  private plan(connectionId: string, tenantId: string, provider: string, credentialVersion: number, expiresAt: number, issuedAt: number): void {
    const timing = this.timingOf(provider);
    if (!timing) return;
    const dueAt = refreshDueAt({ expiresAt, issuedAt, ...timing }, this.random());
    this.plans.set(connectionId, { connectionId, tenantId, provider, credentialVersion, expiresAt, dueAt });
  }
}
