export * from './errors';
export * from './provider-oauth-client';
export * from './provider-request';
export * from './provider-resource';
