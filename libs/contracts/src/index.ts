export * from './ids';
export * from './events/streams';
export * from './events/lifecycle-events';
export * from './events/event-envelope';
export * from './messages';
export * from './audit';
export * from './integration-events';
