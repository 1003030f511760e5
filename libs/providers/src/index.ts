export * from './provider.schema';
export * from './provider-catalog';
export * from './refresh-policy';
