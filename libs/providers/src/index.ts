export * from './provider.schema';
export * from './provider-catalog';
