import { DynamicModule, MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import type { NatsConnection } from 'nats';
import type { EventStore } from '@authpipe/event-store';
import { API_KEY_AUTHENTICATOR, correlationMiddleware, RateLimitGuard, RateLimitModule } from '@authpipe/http';
import { RPC_CLIENT, RpcClient } from '@authpipe/messaging';
import { CLOCK, Clock, EVENT_STORE, EventWriter, healthController, NATS_CONNECTION, OperationsModule, platformProviders } from '@authpipe/platform';
import { ApiKeyConnectionsController } from './api-key/api-key-connections.controller';
import { ApiKeyConnectService } from './api-key/api-key-connect.service';
import { ConnectFlowController } from './connect/connect-flow.controller';
import { ConnectFlowService } from './connect/connect-flow.service';
import { ConnectSessionsController } from './connect/connect-sessions.controller';
import { JetStreamKvFlowStore } from './flow-store/jetstream-kv-flow-store';
import { GatewayConfig } from './gateway.config';
import { EVENT_WRITER, FLOW_STORE } from './gateway.tokens';
import { RpcApiKeyAuthenticator } from './rpc-api-key.authenticator';

@Module({})
export class GatewayModule implements NestModule {
  static forConfig(config: GatewayConfig): DynamicModule {
    return {
      module: GatewayModule,
      imports: [OperationsModule.forApp('oauth-gateway', config), RateLimitModule.forRoot({ perMinute: config.RATE_LIMIT_PER_MINUTE, anonymousPerMinute: config.RATE_LIMIT_ANONYMOUS_PER_MINUTE })],
      controllers: [ConnectSessionsController, ConnectFlowController, ApiKeyConnectionsController, healthController('oauth-gateway')],
      providers: [
        ...platformProviders(config, 'oauth-gateway'),
        {
          provide: FLOW_STORE,
          inject: [NATS_CONNECTION],
          useFactory: (nats: NatsConnection) =>
            JetStreamKvFlowStore.open(nats, { sessions: config.CONNECT_SESSION_TTL_SECONDS, requests: config.OAUTH_STATE_TTL_SECONDS }),
        },
        {
          provide: EVENT_WRITER,
          inject: [EVENT_STORE, CLOCK],
          useFactory: (events: EventStore, clock: Clock) => new EventWriter(events, 'oauth-gateway', clock),
        },
        { provide: API_KEY_AUTHENTICATOR, inject: [RPC_CLIENT], useFactory: (rpc: RpcClient) => new RpcApiKeyAuthenticator(rpc) },
        ConnectFlowService,
        ApiKeyConnectService,
        { provide: APP_GUARD, useClass: RateLimitGuard },
      ],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(correlationMiddleware).forRoutes('*');
  }
}
