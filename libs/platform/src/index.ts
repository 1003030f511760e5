export * from './tokens';
export * from './health.controller';
export * from './bootstrap';
export * from './event-writer';
export * from './platform.providers';
