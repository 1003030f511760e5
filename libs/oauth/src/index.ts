export * from './errors';
export * from './provider-oauth-client';
