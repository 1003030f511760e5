export * from './read-model-store.port';
export * from './errors';
export { InMemoryReadModelStore } from './in-memory/in-memory-read-model-store';
export { MongoDbReadModelStore } from './mongodb/mongodb-read-model-store';
