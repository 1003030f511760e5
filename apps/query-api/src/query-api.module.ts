import { DynamicModule, MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import type { EventStore } from '@authpipe/event-store';
import { API_KEY_AUTHENTICATOR, correlationMiddleware, RateLimitModule } from '@authpipe/http';
import { ConnectionsProjection, Projector, TenantActivityProjection, TenantsProjection } from '@authpipe/projections';
import { CLOCK, Clock, EVENT_STORE, EventWriter, healthController, OperationsModule, platformProviders, READ_MODELS } from '@authpipe/platform';
import { InMemoryReadModelStore, MongoDbReadModelStore, ReadModelStore } from '@authpipe/read-models';
import { ConnectionsController } from './connections/connections.controller';
import { EventStreamController } from './events-stream/event-stream.controller';
import { ProjectedEvents } from './events-stream/projected-events';
import { TenantEventStreams } from './events-stream/tenant-event-streams';
import { QueryApiRateLimitGuard } from './rate-limit/query-api-rate-limit.guard';
import { DisconnectService } from './connections/disconnect.service';
import { CredentialsController } from './credentials/credentials.controller';
import { CredentialsService } from './credentials/credentials.service';
import { IntegrationsController } from './integrations/integrations.controller';
import { OverviewController } from './overview/overview.controller';
import { ProjectionRunner } from './projection.runner';
import { ProjectionMetrics } from './operations/projection-metrics';
import { QueryApiReadiness } from './operations/query-api-readiness';
import { ProvidersController } from './providers/providers.controller';
import { QueryApiConfig } from './query-api.config';
import { EVENT_WRITER, PROJECTOR } from './query-api.tokens';
import { QueryRpcController } from './query.rpc-controller';
import { historyHeadProvider } from './read-your-writes/history-head.provider';
import { ProjectionLagFailpoint } from './read-your-writes/projection-lag.failpoint';
import { ReadYourWrites } from './read-your-writes/read-your-writes';
import { AuditController } from './audit/audit.controller';
import { JetStreamAuditLog } from './audit/jetstream-audit-log';
import { AdminConnectionsController } from './tenants/admin-connections.controller';
import { AdminController } from './tenants/admin.controller';
import { VaultAdminController } from './tenants/vault-admin.controller';
import { ReadModelApiKeyAuthenticator } from './tenants/read-model-api-key.authenticator';
import { TenantCommands } from './tenants/tenant-commands.service';
import { integrationRelayProviders } from './relay/integration-relay.runner';

@Module({})
export class QueryApiModule implements NestModule {
  static forConfig(config: QueryApiConfig): DynamicModule {
    return {
      module: QueryApiModule,
      imports: [OperationsModule.forApp('query-api', config), RateLimitModule.forRoot({ perMinute: config.RATE_LIMIT_PER_MINUTE, anonymousPerMinute: config.RATE_LIMIT_ANONYMOUS_PER_MINUTE })],
      controllers: [
        AdminController,
        AdminConnectionsController,
        VaultAdminController,
        AuditController,
        ProvidersController,
        IntegrationsController,
        ConnectionsController,
        CredentialsController,
        OverviewController,
        EventStreamController,
        QueryRpcController,
        healthController('query-api'),
      ],
      providers: [
        ...platformProviders(config, 'query-api'),
        {
          provide: READ_MODELS,
          // The in-memory store starts empty and is rebuilt by replaying the history at start.
          useFactory: (): Promise<ReadModelStore> | ReadModelStore =>
            config.AUTHPIPE_READ_MODELS === 'mongodb' ? MongoDbReadModelStore.connect(config.MONGODB_URL!, config.MONGODB_DB) : new InMemoryReadModelStore(),
        },
        {
          provide: PROJECTOR,
          inject: [EVENT_STORE, READ_MODELS, ProjectedEvents],
          // ProjectedEvents after the read models: it publishes an event once they reflect it; then the lag metrics.
          useFactory: (events: EventStore, store: ReadModelStore, projected: ProjectedEvents) => {
            const projector: Projector = new Projector('query-api', events, store, [
              new ProjectionLagFailpoint(),
              new TenantsProjection(),
              new ConnectionsProjection(),
              new TenantActivityProjection(),
              projected,
              new ProjectionMetrics('query-api', () => projector.position),
            ]);
            return projector;
          },
        },
        {
          provide: EVENT_WRITER,
          inject: [EVENT_STORE, CLOCK],
          useFactory: (events: EventStore, clock: Clock) => new EventWriter(events, 'query-api', clock),
        },
        ProjectedEvents,
        ProjectionRunner,
        historyHeadProvider(config),
        ReadYourWrites,
        TenantEventStreams,
        { provide: APP_GUARD, useClass: QueryApiRateLimitGuard },
        ReadModelApiKeyAuthenticator,
        { provide: API_KEY_AUTHENTICATOR, useExisting: ReadModelApiKeyAuthenticator },
        TenantCommands,
        CredentialsService,
        DisconnectService,
        JetStreamAuditLog,
        ...integrationRelayProviders(config),
        QueryApiReadiness,
      ],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(correlationMiddleware).forRoutes('*');
  }
}
