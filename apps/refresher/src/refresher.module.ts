import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { DynamicModule, Module } from '@nestjs/common';
import type { NatsConnection } from 'nats';
import type { EventStore } from '@authpipe/event-store';
import { ConnectionsProjection, Projector } from '@authpipe/projections';
import { CLOCK, Clock, EVENT_STORE, EventWriter, healthController, NATS_CONNECTION, OperationsModule, platformProviders, PROVIDER_CATALOG } from '@authpipe/platform';
import type { ProviderCatalog } from '@authpipe/providers';
import { InMemoryReadModelStore, ReadModelStore } from '@authpipe/read-models';
import { InProcessRefreshLock } from './lock/in-process/in-process-refresh-lock';
import { JetStreamKvRefreshLock } from './lock/jetstream-kv/jetstream-kv-refresh-lock';
import type { RefreshLock } from './lock/refresh-lock.port';
import { RefresherOperations } from './operations/refresher-operations';
import { RefreshService } from './refresh/refresh.service';
import { RefresherConfig } from './refresher.config';
import { RefresherRpcController } from './refresher.rpc-controller';
import { EVENT_WRITER, PLAN_BOOK, REFRESH_LOCK, REFRESHER_PROJECTOR, REFRESHER_STORE } from './refresher.tokens';
import { RefreshPlanBook } from './schedule/refresh-plan-book';
import { RefreshPlanProjection } from './schedule/refresh-plan.projection';
import { RefreshScheduler } from './schedule/refresh.scheduler';

@Module({})
export class RefresherModule {
  static forConfig(config: RefresherConfig): DynamicModule {
    // One lock owner per process: a restarted replica is a new owner and waits out its predecessor's leases.
    const owner = `refresher@${hostname()}/${process.pid}/${randomBytes(4).toString('hex')}`;
    return {
      module: RefresherModule,
      imports: [OperationsModule.forApp('refresher', config)],
      controllers: [RefresherRpcController, healthController('refresher')],
      providers: [
        ...platformProviders(config, 'refresher'),
        { provide: EVENT_WRITER, inject: [EVENT_STORE, CLOCK], useFactory: (events: EventStore, clock: Clock) => new EventWriter(events, 'refresher', clock) },
        {
          provide: REFRESH_LOCK,
          inject: [NATS_CONNECTION],
          useFactory: (nats: NatsConnection): Promise<RefreshLock> | RefreshLock =>
            config.REFRESH_LOCK === 'in-process'
              ? new InProcessRefreshLock(owner, config.REFRESH_LOCK_LEASE_MS)
              : JetStreamKvRefreshLock.open(nats, {
                  bucket: config.REFRESH_LOCK_BUCKET,
                  replicas: config.REFRESH_LOCK_KV_REPLICAS,
                  leaseMs: config.REFRESH_LOCK_LEASE_MS,
                  owner,
                }),
        },
        {
          provide: PLAN_BOOK,
          inject: [PROVIDER_CATALOG],
          useFactory: (catalog: ProviderCatalog) =>
            new RefreshPlanBook((key) => {
              const refresh = catalog.has(key) ? catalog.get(key).oauth2?.refresh : undefined;
              return refresh?.supported ? { marginSeconds: refresh.marginSeconds, jitterSeconds: refresh.jitterSeconds } : null;
            }),
        },
        // Its own view of which connections exist and when they expire, rebuilt from the history at every start, and
        // the plan book kept from it.
        { provide: REFRESHER_STORE, useFactory: () => new InMemoryReadModelStore() },
        {
          provide: REFRESHER_PROJECTOR,
          inject: [EVENT_STORE, REFRESHER_STORE, PLAN_BOOK],
          useFactory: (events: EventStore, store: ReadModelStore, book: RefreshPlanBook) =>
            new Projector('refresher', events, store, [new ConnectionsProjection(), new RefreshPlanProjection(book)]),
        },
        RefreshService,
        RefreshScheduler,
        RefresherOperations,
      ],
    };
  }
}
