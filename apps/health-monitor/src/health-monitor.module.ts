import { DynamicModule, Module } from '@nestjs/common';
import type { EventStore } from '@authpipe/event-store';
import { ConnectionsProjection, Projector } from '@authpipe/projections';
import { CLOCK, Clock, EVENT_STORE, EventWriter, healthController, OperationsModule, platformProviders } from '@authpipe/platform';
import { InMemoryReadModelStore, ReadModelStore } from '@authpipe/read-models';
import { HealthMonitorConfig } from './health-monitor.config';
import { EVENT_WRITER, MONITOR_PROJECTOR, MONITOR_STORE } from './health-monitor.tokens';
import { ProbeMetrics } from './operations/probe-metrics';
import { ProbeScheduler } from './probe/probe.scheduler';

@Module({})
export class HealthMonitorModule {
  static forConfig(config: HealthMonitorConfig): DynamicModule {
    return {
      module: HealthMonitorModule,
      imports: [OperationsModule.forApp('health-monitor', config)],
      controllers: [healthController('health-monitor')],
      providers: [
        ...platformProviders(config, 'health-monitor'),
        { provide: EVENT_WRITER, inject: [EVENT_STORE, CLOCK], useFactory: (events: EventStore, clock: Clock) => new EventWriter(events, 'health-monitor', clock) },
        // Its own small view of which connections exist, rebuilt from the history at every start.
        { provide: MONITOR_STORE, useFactory: () => new InMemoryReadModelStore() },
        {
          provide: MONITOR_PROJECTOR,
          inject: [EVENT_STORE, MONITOR_STORE],
          useFactory: (events: EventStore, store: ReadModelStore) => new Projector('health-monitor', events, store, [new ConnectionsProjection()]),
        },
        ProbeScheduler,
        ProbeMetrics,
      ],
    };
  }
}
