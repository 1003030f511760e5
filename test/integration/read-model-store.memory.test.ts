import { InMemoryReadModelStore } from '@authpipe/read-models';
import { readModelStoreContract } from './read-model-store.contract';

readModelStoreContract('InMemoryReadModelStore', async () => {
  const store = new InMemoryReadModelStore();
  return { store, cleanup: () => store.close() };
});
