import { DynamicModule, Module } from '@nestjs/common';
import type { EventStore } from '@authpipe/event-store';
import { CLOCK, Clock, EVENT_STORE, EventWriter, healthController, platformProviders } from '@authpipe/platform';
import { RefreshService } from './refresh/refresh.service';
import { RefresherConfig } from './refresher.config';
import { RefresherRpcController } from './refresher.rpc-controller';
import { EVENT_WRITER } from './refresher.tokens';

@Module({})
export class RefresherModule {
  static forConfig(config: RefresherConfig): DynamicModule {
    return {
      module: RefresherModule,
      controllers: [RefresherRpcController, healthController('refresher')],
      providers: [
        ...platformProviders(config, 'refresher'),
        { provide: EVENT_WRITER, inject: [EVENT_STORE, CLOCK], useFactory: (events: EventStore, clock: Clock) => new EventWriter(events, 'refresher', clock) },
        RefreshService,
      ],
    };
  }
}
