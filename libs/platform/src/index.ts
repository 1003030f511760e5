export * from './tokens';
export * from './health.controller';
export * from './bootstrap';
