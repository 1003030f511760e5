export * from './problem';
export * from './problem.filter';
export * from './validation';
export * from './api-key';
export * from './tenant-auth.guard';
export * from './correlation';
export * from './rate-limit';
export * from './openapi';
