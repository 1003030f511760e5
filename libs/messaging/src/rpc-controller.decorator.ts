import { applyDecorators, Controller, UseFilters, UseGuards, UsePipes } from '@nestjs/common';
import { MalformedRequestGuard } from './malformed-request.guard';
import { RpcErrorFilter } from './rpc-exception.filter';
import { RpcPayloadPipe } from './rpc-payload.pipe';

/**
 * A controller of NATS message handlers: messages that are not requests refused, payloads validated against their
 * contract classes, errors answered as `{ code, message }`. Declared on the controller rather than globally, so it holds in hybrid HTTP + NATS apps,
 * where Nest cannot register global pipes and filters for the NATS side.
 */
export const RpcController = (): ClassDecorator => applyDecorators(Controller(), UseFilters(new RpcErrorFilter()), UseGuards(new MalformedRequestGuard()), UsePipes(new RpcPayloadPipe()));
