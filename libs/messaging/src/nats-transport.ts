import { ClientProxyFactory, NatsOptions, Transport } from '@nestjs/microservices';
import type { PlatformConfig } from '@authpipe/config';
import { inboxPrefix } from './nats-connection';
import { RpcClient } from './rpc-client';
import { RpcRequestDeserializer } from './rpc-request.deserializer';

function servers(config: PlatformConfig): string[] {
  return config.NATS_URL.split(',');
}

function auth(config: PlatformConfig) {
  return config.NATS_USER ? { user: config.NATS_USER, pass: config.NATS_PASSWORD } : {};
}

/**
 * Options of the NATS listener of an app; replicas of one app share a queue group, so each request is served once.
 * It answers through the reply subjects of the requests it receives and sends none of its own, but its connection
 * gets the app's inbox prefix too (inboxPrefix): every connection of an app stays inside `_INBOX_<app>`.
 */
export function natsServerOptions(config: PlatformConfig, app: string): NatsOptions {
  return {
    transport: Transport.NATS,
    options: {
      servers: servers(config),
      ...auth(config),
      name: `${app}-server`,
      inboxPrefix: inboxPrefix(config, app),
      queue: app,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      // On shutdown: unsubscribe, give in-flight handlers this long to answer, then close.
      gracefulShutdown: true,
      gracePeriod: config.AUTHPIPE_SHUTDOWN_GRACE_MS,
      // Garbage on a subject is answered INVALID_REQUEST; Nest's default deserializer let it crash the app.
      deserializer: new RpcRequestDeserializer(),
    },
  };
}

/** The app's client for requests to other apps; replies come to its own inbox prefix (inboxPrefix). */
export function createRpcClient(config: PlatformConfig, app: string): RpcClient {
  const client = ClientProxyFactory.create({
    transport: Transport.NATS,
    options: {
      servers: servers(config),
      ...auth(config),
      name: `${app}-client`,
      inboxPrefix: inboxPrefix(config, app),
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
    },
  });
  return new RpcClient(client, config.AUTHPIPE_RPC_TIMEOUT_MS);
}
