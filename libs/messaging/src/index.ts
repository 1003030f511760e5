export * from './rpc-error';
export * from './validate-payload';
export * from './rpc-client';
export * from './rpc-exception.filter';
export * from './rpc-payload.pipe';
export * from './nats-transport';
export * from './nats-connection';
export * from './rpc-controller.decorator';
