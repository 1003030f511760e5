import { ClientProxyFactory, NatsOptions, Transport } from '@nestjs/microservices';
import type { PlatformConfig } from '@authpipe/config';
import { RpcClient } from './rpc-client';

function servers(config: PlatformConfig): string[] {
  return config.NATS_URL.split(',');
}

function auth(config: PlatformConfig) {
  return config.NATS_USER ? { user: config.NATS_USER, pass: config.NATS_PASSWORD } : {};
}

/** Options of the NATS listener of an app; replicas of one app share a queue group, so each request is served once. */
export function natsServerOptions(config: PlatformConfig, app: string): NatsOptions {
  return {
    transport: Transport.NATS,
    options: {
      servers: servers(config),
      ...auth(config),
      name: `${app}-server`,
      queue: app,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      // On shutdown: unsubscribe, give in-flight handlers this long to answer, then close.
      gracefulShutdown: true,
      gracePeriod: config.AUTHPIPE_SHUTDOWN_GRACE_MS,
    },
  };
}

export function createRpcClient(config: PlatformConfig, app: string): RpcClient {
  const client = ClientProxyFactory.create({
    transport: Transport.NATS,
    options: { servers: servers(config), ...auth(config), name: `${app}-client`, maxReconnectAttempts: -1, reconnectTimeWait: 500 },
  });
  return new RpcClient(client, config.AUTHPIPE_RPC_TIMEOUT_MS);
}
