import { RpcController } from '@authpipe/messaging';
import { Type } from '@nestjs/common';
import { MessagePattern } from '@nestjs/microservices';
import { healthSubject, HealthReply } from '@authpipe/contracts';

/** A controller answering `authpipe.<app>.health`, so scripts and probes can see the app is up on NATS. */
export function healthController(app: string): Type<unknown> {
  const startedAt = Date.now();
  @RpcController()
  class NatsHealthController {
    @MessagePattern(healthSubject(app))
    health(): HealthReply {
      return { app, status: 'ok', uptimeSeconds: Math.round((Date.now() - startedAt) / 1000) };
    }
  }
  return NatsHealthController;
}
